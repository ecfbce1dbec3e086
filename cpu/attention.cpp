// Instruction-boundary events (Intel SDM Vol. 3A 6.9 "Priority among concurrent exceptions
// and interrupts"): the single place where work between two instructions happens.
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

void CpuImpl::service_attention() {
  // Sources of boundary work in priority order (SDM Table 6-2). Each source raises
  // attention_ again if it needs the next boundary too.
  attention_ = false;
  // 4: traps of the previous instruction (single-step, data and I/O breakpoints).
  debug_traps();
  // 5-6: NMI, maskable interrupts (not yet).
  // 7: instruction breakpoints of the next instruction; arms single-step for it. Also
  // ends MOV SS blocking, so it stays last.
  debug_before_insn();
}

}  // namespace hvsim::cpu
