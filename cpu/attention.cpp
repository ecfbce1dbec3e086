// Instruction-boundary events (Intel SDM Vol. 3A 6.9 "Priority among concurrent exceptions
// and interrupts"): the single place where work between two instructions happens.
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

void CpuImpl::service_attention() {
  // Sources of boundary work register here in priority order (SDM Table 6-2): debug traps
  // of the previous instruction, NMI, maskable interrupts. Nothing in the first cut raises
  // attention_, so this only acknowledges it.
  attention_ = false;
}

}  // namespace hvsim::cpu
