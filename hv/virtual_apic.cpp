// A virtual processor's local APIC: the processor's LAPIC model on the VP's own APIC base,
// latches and clock (see virtual_apic.h).
#include "hv/virtual_apic.h"

#include "core/error.h"
#include "core/state.h"
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

void VirtualApic::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  w.u64("apic_base", apic_base_);
  w.u64("wake", wake_);
  w.boolean("attention", attention_);
  w.boolean("waiting_for_sipi", waiting_for_sipi_);
  w.end_section();
  lapic_->save(w, section + ".lapic");  // with the latches of irq_ (CoreInterruptState)
}

void VirtualApic::restore(StateReader& r, const std::string& section) {
  if (uint32_t v = r.begin_section(section); v != 1)
    throw InputError("checkpoint section " + section + ": unsupported version " +
                     std::to_string(v));
  uint64_t base = r.u64("apic_base");
  uint64_t wake = r.u64("wake");
  bool attention = r.boolean("attention");
  bool sipi = r.boolean("waiting_for_sipi");
  r.end_section();
  if (base & 0xFFF & ~(cpu::lapic::kBaseEnable | cpu::lapic::kBaseBsp | cpu::lapic::kBaseExtd))
    throw InputError("checkpoint section " + section + ": bad apic_base");
  apic_base_ = base;
  waiting_for_sipi_ = sipi;
  lapic_->restore(r, section + ".lapic");
  // After the register model, which recomputes its wake-up and raises attention: the saved
  // values are what the run saw.
  wake_ = wake;
  attention_ = attention;
}

}  // namespace hvsim::hv
