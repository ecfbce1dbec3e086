// Scheduling of virtual processors on a physical CPU. Each VP stays on the physical CPU it
// was placed on (create_partition); the VPs of one physical CPU take turns round-robin. A
// turn lasts HypervisorParams::vp_time_slice while another VP there can run (the
// VMX-preemption timer ends it: prepare_entry arms it for the turn's end too) and ends early
// when the VP halts (HLT yields) or its partition crashes. Every decision depends only on
// simulated state: the same run schedules the same way.
//
// A VP switch is what a hypervisor does on real hardware: the outgoing VP's registers that
// the VMCS does not hold are saved (GPRs, CR2, DR0-3/DR6, the x87/SSE state and XCR0, the
// SYSCALL and KERNEL_GS_BASE MSRs, TSC_AUX), VMPTRLD makes the incoming VP's VMCS current,
// and its registers are loaded (SDM Vol. 3C 25.4 lists what the VMCS holds; 24.11.2 VMPTRLD).
#include <algorithm>

#include "core/error.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {

namespace {

void save_registers(const cpu::ArchState& s, GuestRegisters& g) {
  std::copy(std::begin(s.gpr), std::end(s.gpr), g.gpr);
  g.cr2 = s.cr2;
  std::copy(s.dr, s.dr + 4, g.dr);
  g.dr6 = s.dr[6];
  g.star = s.star, g.lstar = s.lstar, g.cstar = s.cstar, g.sfmask = s.sfmask;
  g.kernel_gs_base = s.kernel_gs_base, g.tsc_aux = s.tsc_aux;
  g.fpu = s.fpu;
}

void load_registers(const GuestRegisters& g, cpu::ArchState& s) {
  std::copy(std::begin(g.gpr), std::end(g.gpr), s.gpr);
  s.cr2 = g.cr2;
  std::copy(g.dr, g.dr + 4, s.dr);
  s.dr[6] = g.dr6;
  s.star = g.star, s.lstar = g.lstar, s.cstar = g.cstar, s.sfmask = g.sfmask;
  s.kernel_gs_base = g.kernel_gs_base, s.tsc_aux = g.tsc_aux;
  s.fpu = g.fpu;
}

}  // namespace

bool Hypervisor::runnable(Pcpu& pc, Partition& p, VirtualProcessor& vp) {
  if (p.crashed) return false;
  vp_events_due(p, vp);
  init_sipi(pc, p, vp);
  if (vp.waiting_for_sipi) return false;
  if (!vp.halted) return true;
  // HLT ends with an NMI, or with an interrupt when IF was set at the HLT (the shadow of a
  // STI before it ended when the HLT exited).
  const cpu::CoreInterruptState& q = vp.apic->core();
  if (q.nmi_pending || (vp.halted_with_if && vp.apic->lapic().intr_pending())) {
    vp.halted = false;
    ++vp.wakeups;
    return true;
  }
  return false;
}

VirtualProcessor* Hypervisor::schedule(Pcpu& pc) {
  size_t n = pc.runq.size();
  if (n == 0) return nullptr;
  uint64_t now = pc.cpu->cycles();
  if (pc.current != Pcpu::kNone && now < pc.slice_end) {
    // The common case, after most exits: the current VP simply goes on.
    Pcpu::Slot& slot = pc.runq[pc.current];
    VirtualProcessor& vp = slot.partition->vps[slot.vp];
    if (!slot.partition->crashed && !vp.halted && !vp.waiting_for_sipi &&
        !vp.apic->core().init_pending && !vp.pending_state)
      return &vp;
  }
  // The current VP goes on until its turn ends; then the others come first, it last.
  size_t start = 0;
  if (pc.current != Pcpu::kNone) start = now < pc.slice_end ? pc.current : pc.current + 1;
  for (size_t i = 0; i < n; ++i) {
    size_t k = (start + i) % n;
    Pcpu::Slot& slot = pc.runq[k];
    VirtualProcessor& vp = slot.partition->vps[slot.vp];
    if (!runnable(pc, *slot.partition, vp)) continue;
    if (k != pc.current || now >= pc.slice_end) {
      // A new turn; it has an end only while another VP here may want the processor.
      pc.slice_end = n > 1 ? now + slice_cycles_ : ~0ull;
      ++vp.turns;
    }
    switch_to(pc, k);
    return &vp;
  }
  return nullptr;
}

void Hypervisor::switch_to(Pcpu& pc, size_t k) {
  cpu::ArchState& s = pc.cpu->state();
  Pcpu::Slot& in = pc.runq[k];
  VirtualProcessor& vp = in.partition->vps[in.vp];
  if (k != pc.current) {
    if (pc.current != Pcpu::kNone) {
      Pcpu::Slot& out = pc.runq[pc.current];
      save_registers(s, out.partition->vps[out.vp].regs);
    }
    if (!vp.vmcs_ready) {
      build_vmcs(*in.partition, vp);  // VMCLEAR + VMPTRLD: current now
      vp.vmcs_ready = true;
    } else if (!pc.api->vmptrld(vp.vmcs).ok()) {
      throw InternalError("hypervisor: VMPTRLD of a VP's VMCS failed");
    }
    load_registers(vp.regs, s);
    pc.cpu->state_changed();
    pc.current = k;
    ++pc.switches;
  }
  if (vp.pending_state) {
    apply_state(pc, vp, *vp.pending_state);
    vp.pending_state.reset();
  }
}

void Hypervisor::idle(Pcpu& pc, uint64_t target) {
  cpu::Cpu& c = *pc.cpu;
  cpu::Lapic& host = c.lapic();
  uint64_t until = std::min(target, host.wake_cycle());
  for (const Pcpu::Slot& slot : pc.runq)
    if (!slot.partition->crashed)
      until = std::min(until, vp_next_event(slot.partition->vps[slot.vp]));
  // The physical CPU halts in its host context with interrupts off; its LAPIC still
  // accepts messages, which the loop below takes as the host's interrupt handler would.
  // At least one cycle passes, so a wake-up that is due but wakes no one cannot spin.
  until = std::max(until, c.cycles() + 1);
  c.set_run_state(cpu::RunState::kHalted);
  c.advance(Clock(tsc_hz_).time_of(until));
  host.poll();
  while (host.intr_pending()) {
    int v = host.acknowledge();
    if (v < 0) break;
    host_interrupt(pc, static_cast<uint8_t>(v));
  }
}

}  // namespace hvsim::hv
