// The local APIC of a virtual processor (Intel SDM Vol. 3A ch. 10; dossier §4.6: SynIC
// interrupts arrive "through the virtual LAPIC"). The register model is the processor's own
// (cpu::Lapic); this class is the virtual processor it belongs to: its IA32_APIC_BASE, its
// NMI/INIT/SIPI latches, and its clock, which is the cycle count of the physical CPU the VP
// runs on (VPs stay on their physical CPU, so a VP's deadlines never cross clocks).
//
// The hypervisor emulates every access: xAPIC MMIO at the APIC base (EPT violations, through
// the instruction emulator), x2APIC MSRs and IA32_TSC_DEADLINE (MSR-bitmap exits), CR8
// (CR8-load/store exiting) and the Hyper-V APIC MSRs (EOI, ICR, TPR at 0x40000070-72). It
// injects what intr_pending() offers at VM entry (hv/interrupts.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cpu/cpu.h"
#include "cpu/lapic/lapic.h"

namespace hvsim {
class StateWriter;
class StateReader;
}  // namespace hvsim

namespace hvsim::cpu {
class ApicBus;
}

namespace hvsim::hv {

class VirtualApic final : public cpu::LapicCore {
 public:
  /// `bus` connects the LAPICs of one partition's VPs; `index` is the VP index (its APIC
  /// id; VP 0 is the bootstrap processor); `cpu_hz` the physical CPU's clock, `apic_hz`
  /// the timer's input clock.
  VirtualApic(cpu::Cpu& pcpu, cpu::ApicBus* bus, uint32_t index, uint64_t cpu_hz, uint64_t apic_hz);
  ~VirtualApic() override;

  cpu::Lapic& lapic() { return *lapic_; }
  const cpu::Lapic& lapic() const { return *lapic_; }
  cpu::CoreInterruptState& core() { return irq_; }
  /// True once something changed that the next VM entry must look at (cleared by the
  /// hypervisor when it has).
  bool attention() const { return attention_; }
  void clear_attention() { attention_ = false; }
  /// The cycle at which the LAPIC next has work (timer expiry, queued message); ~0 if none.
  uint64_t wake_cycle() const { return wake_; }
  void set_waiting_for_sipi(bool w) { waiting_for_sipi_ = w; }
  /// Checkpoints (docs/hv.md "Checkpoints"): IA32_APIC_BASE, the wake cycle, the latches in
  /// `section`, the register model in `section`.lapic. Restore throws InputError naming it.
  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

  // cpu::LapicCore
  uint64_t cycles() const override { return pcpu_.cycles(); }
  uint64_t tsc() const override { return pcpu_.cycles() + pcpu_.state().tsc_offset; }
  SimTime now() const override { return pcpu_.local_time(); }
  uint64_t first_cycle_at(SimTime at) const override { return pcpu_.cycle_at(at); }
  uint64_t& apic_base() override { return apic_base_; }
  void tpr_written(uint32_t) override {}
  cpu::CoreInterruptState& irq() override { return irq_; }
  bool waiting_for_sipi() const override { return waiting_for_sipi_; }
  void wake_changed(uint64_t cycle) override { wake_ = cycle; }
  void raise_attention() override { attention_ = true; }

 private:
  cpu::Cpu& pcpu_;
  uint64_t apic_base_;
  cpu::CoreInterruptState irq_;
  uint64_t wake_ = ~0ull;
  bool attention_ = false;
  bool waiting_for_sipi_ = false;
  std::unique_ptr<cpu::Lapic> lapic_;
};

}  // namespace hvsim::hv
