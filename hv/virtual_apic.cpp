// A virtual processor's local APIC: the processor's LAPIC model on the VP's own APIC base,
// latches and clock (see virtual_apic.h).
#include "hv/virtual_apic.h"

#include "cpu/lapic/spec/regs.h"

namespace hvsim::hv {

VirtualApic::VirtualApic(cpu::Cpu& pcpu, cpu::ApicBus* bus, uint32_t index, uint64_t cpu_hz,
                         uint64_t apic_hz)
    : pcpu_(pcpu),
      // Power-on IA32_APIC_BASE (SDM 10.4.4): the default base, enabled, BSP flag on VP 0.
      apic_base_(0xFEE00000 | cpu::lapic::kBaseEnable | (index == 0 ? cpu::lapic::kBaseBsp : 0)) {
  lapic_ = std::make_unique<cpu::Lapic>(*this, bus, cpu::LapicParams{index, cpu_hz, apic_hz});
}

VirtualApic::~VirtualApic() = default;

}  // namespace hvsim::hv
