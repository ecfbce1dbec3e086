// Instruction-boundary events (Intel SDM Vol. 3A 6.9 "Priority among concurrent exceptions
// and interrupts"): the single place where work between two instructions happens. Also
// INIT/SIPI (SDM 9.1.1, 9.4.4), NMI blocking (6.7.1), interrupt shadows (6.8.3) and HLT
// wake-up (Vol. 2 "HLT").
#include <algorithm>
#include <iterator>

#include "core/trace.h"
#include "cpu/cpu_impl.h"
#include "cpu/timing.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

void CpuImpl::service_attention() {
  // Sources of boundary work in priority order (SDM Table 6-2). Each source raises
  // attention_ again if it needs the next boundary too.
  attention_ = false;
  // Timer expiry and interrupt messages due by now move into the LAPIC and irq_.
  lapic_->poll();

  // INIT (priority 3 in SDM Table 6-2, above NMI and INTR). In VMX operation it never
  // resets the processor: blocked in root operation, a VM exit in non-root operation.
  if (irq_.init_pending && !init_blocked()) {
    irq_.init_pending = false;
    if (vmx_non_root_) [[unlikely]] {
      // Why settle first: the exit saves the previous instruction's debug traps as pending
      // debug exceptions instead of delivering them (SDM Vol. 3C 28.3.4).
      s_ = settled_state();
      dbg_.armed = false;
      vmx_->signal_exit(vmx::ExitReason::INIT_SIGNAL, 0);
      return;
    }
    init_processor();
  }
  if (vmx_non_root_ && (run_state_ == RunState::kWaitForSipi || run_state_ == RunState::kShutdown))
      [[unlikely]] {
    vmx_->inactive_boundary();  // a guest's shutdown or wait-for-SIPI activity state
    return;
  }
  if (run_state_ == RunState::kWaitForSipi || run_state_ == RunState::kShutdown) {
    if (irq_.sipi_vector >= 0 && run_state_ == RunState::kWaitForSipi) {
      uint8_t v = static_cast<uint8_t>(irq_.sipi_vector);
      irq_.sipi_vector = -1;
      start_up(v);
    }
    // NMI and INTR are held while waiting for SIPI.
    return;
  }
  irq_.sipi_vector = -1;  // start-up IPIs are ignored outside wait-for-SIPI

  // 4: traps of the previous instruction (single-step, data and I/O breakpoints).
  debug_traps();
  if (vmx_non_root_ && vmx_->boundary()) [[unlikely]]
    return;  // MTF, timer, windows, NMI, INTR

  // 5-6: NMI, then maskable interrupts, both held for one boundary after STI (with IF
  // clear before) and after MOV SS / POP SS (SDM 6.8.3).
  bool shadow = s_.interruptibility & (spec::kBlockBySti | spec::kBlockByMovSs);
  if (irq_.nmi_pending && !irq_.nmi_blocked && !shadow) {
    irq_.nmi_pending = false;
    irq_.nmi_blocked = true;
    deliver_external(static_cast<uint8_t>(spec::Vector::kNMI), true);
  } else if ((s_.rflags & kFlagIF) && !shadow && lapic_->intr_pending()) {
    int v = lapic_->acknowledge();
    if (v >= 0) deliver_external(static_cast<uint8_t>(v), false);
  }
  // Stay attentive while something is pending but blocked (shadow, NMI blocking): the
  // boundary where it unblocks must see it. A maskable interrupt held by IF=0 waits for
  // the instruction that sets IF (interrupts_may_open), not for every boundary.
  // A blocked INIT waits for the end of VMX root operation (VMXOFF, VM entry raise it).
  if (irq_.nmi_pending || (irq_.init_pending && !init_blocked()) ||
      ((s_.rflags & kFlagIF) && lapic_->intr_pending()))
    attention_ = true;

  // 7: instruction breakpoints of the next instruction; arms single-step for it. It ends
  // MOV SS blocking, so it stays last; the STI shadow ends here too.
  debug_before_insn();
  s_.interruptibility &= ~spec::kBlockBySti;
}

void CpuImpl::deliver_external(uint8_t vector, bool nmi) {
  ++irq_.by_vector[vector];
  if (nmi) ++irq_.nmis;
  cycles_ += timing_.interrupt;
  if (run_state_ == RunState::kHalted) cycles_ += timing_.hlt_wake;
  if (env_.tracer->enabled())
    trace(nmi ? "nmi" : "interrupt", {{"vector", uint64_t{vector}}, {"rip", s_.rip}});
  if (vmx_non_root_) [[unlikely]]  // an exit during delivery reports the event (SDM 28.2.4)
    vmx_->begin_delivery(
        vmx::spec::make_intr_info(vector,
                                  nmi ? vmx::spec::InterruptionType::kNmi
                                      : vmx::spec::InterruptionType::kExternalInterrupt,
                                  false),
        0, 0);
  try {
    deliver(vector, false, 0, false, s_.rip);
  } catch (const Fault& f) {
    // A fault while delivering an external event is delivered on its own (the event is
    // benign for #DF purposes, SDM Table 6-5), with the event's return address.
    handle_fault(f);
  }
  if (vmx_non_root_) [[unlikely]]
    vmx_->end_delivery();
  if (run_state_ == RunState::kHalted && !shutdown_) run_state_ = RunState::kRunning;
}

void CpuImpl::init_processor() {
  ++irq_.inits;
  if (env_.tracer->enabled()) trace("init", {{"rip", s_.rip}});
  ArchState kept = s_;
  uint64_t cycles = cycles_, instructions = instructions_;
  CoreInterruptState q = irq_;
  reset();
  lapic_->init_reset();
  // Kept across INIT (SDM Table 9-1 and 10.4.7.3): MSRs such as APIC base, PAT, the TSC;
  // the local APIC keeps its id; the counters go on.
  s_.apic_base = kept.apic_base;
  s_.pat = kept.pat;
  s_.misc_enable = kept.misc_enable;
  s_.tsc_offset = kept.tsc_offset;
  s_.tsc_aux = kept.tsc_aux;
  s_.star = kept.star;
  s_.lstar = kept.lstar;
  s_.cstar = kept.cstar;
  s_.sfmask = kept.sfmask;
  s_.kernel_gs_base = kept.kernel_gs_base;
  s_.sysenter_cs = kept.sysenter_cs;
  s_.sysenter_esp = kept.sysenter_esp;
  s_.sysenter_eip = kept.sysenter_eip;
  cycles_ = cycles;
  instructions_ = instructions;
  std::copy(std::begin(q.by_vector), std::end(q.by_vector), std::begin(irq_.by_vector));
  irq_.nmis = q.nmis;
  irq_.extints = q.extints;
  irq_.inits = q.inits;
  irq_.sipis = q.sipis;
  // Only the BSP restarts at the reset vector; application processors wait for SIPI.
  run_state_ = (s_.apic_base & lapic::kBaseBsp) ? RunState::kRunning : RunState::kWaitForSipi;
  update_mode();
}

bool CpuImpl::init_blocked() const {
  return vmx_->in_operation() && (!vmx_non_root_ || run_state_ == RunState::kWaitForSipi);
}

void CpuImpl::start_up(uint8_t vector) {
  ++irq_.sipis;
  s_.seg[kCs] = SegReg{static_cast<uint16_t>(vector << 8), uint64_t{vector} << 12, 0xFFFF, 0x9B};
  s_.rip = 0;
  run_state_ = RunState::kRunning;
  update_mode();
  if (env_.tracer->enabled()) trace("sipi", {{"vector", uint64_t{vector}}});
}

bool CpuImpl::idle_until(uint64_t target) {
  for (;;) {
    if (attention_) {
      service_attention();
      if (run_state_ == RunState::kRunning) return true;
    }
    // Why: a processor halted with IF=0 (or waiting for SIPI) can only be woken by a
    // message (NMI, INIT, SIPI); timer expiries meanwhile coalesce at the next poll.
    bool maskable_wakes =
        run_state_ == RunState::kHalted && ((s_.rflags & kFlagIF) || vmx_non_root_);
    uint64_t wake = maskable_wakes ? wake_deadline_ : lapic_->message_cycle();
    // A guest in the shutdown activity state also wakes for its VMX-preemption timer
    // (SDM Vol. 3C 26.7.4); one waiting for SIPI does not.
    if (vmx_non_root_ && run_state_ == RunState::kShutdown)
      wake = std::min(wake, vmx_timer_deadline_);
    if (wake >= target) break;
    if (wake > cycles_) cycles_ = wake;
    attention_ = true;
    // Why: lapic_->poll() inside service_attention consumes the due timer expiry or message,
    // so wake_deadline_ moves forward and this loop ends.
  }
  if (cycles_ < target) cycles_ = target;
  return false;
}

}  // namespace hvsim::cpu
