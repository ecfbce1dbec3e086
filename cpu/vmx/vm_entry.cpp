// VM entries: guest-state loading, the VM-entry MSR-load list, event injection and entry
// failures (Intel SDM Vol. 3C ch. 27 "VM entries": 27.3.2 "Loading guest state", 27.4
// "Loading MSRs", 27.6 "Event injection", 27.8 "VM-entry failures during or after loading
// guest state"). The checks of 27.2 and 27.3.1 are in entry_checks.cpp (its header comment
// lists every check); vm_entry() runs them in the SDM's order: launch state (errors 4, 5,
// 6) and MOV-SS blocking (error 26), controls (error 7), host state (error 8), then guest
// state (exit reason 33) and the MSR-load list (exit reason 34, qualification = the
// 1-based index of the failing entry).
//
// Virtual-8086 guests (RFLAGS.VM = 1) are loaded like any other: the segment fields hold
// real-mode style bases, 0xFFFF limits and access rights 0xF3 (checked), and update_mode()
// makes CPL 3 with 16-bit code (cpu/cpu.cpp).
#include "cpu/cpu_impl.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;
using F = VmcsField;

void Vmx::load_guest_state() {
  const Vmcs& v = vmcs_;
  ArchState& s = c_.s_;
  auto entry_c = static_cast<uint32_t>(v.get(F::VM_ENTRY_CONTROLS));
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  bool ia32e = entry_c & entry_ctl::kIa32eModeGuest;
  s.cr0 = v.get(F::GUEST_CR0) | kCr0ET;
  s.cr3 = v.get(F::GUEST_CR3);
  s.cr4 = v.get(F::GUEST_CR4);
  if (entry_c & entry_ctl::kLoadDebugControls) s.dr[7] = v.get(F::GUEST_DR7) | 0x400;
  s.sysenter_cs = v.get(F::GUEST_IA32_SYSENTER_CS);
  s.sysenter_esp = v.get(F::GUEST_IA32_SYSENTER_ESP);
  s.sysenter_eip = v.get(F::GUEST_IA32_SYSENTER_EIP);
  if (entry_c & entry_ctl::kLoadIa32Pat) s.pat = v.get(F::GUEST_IA32_PAT);
  if (entry_c & entry_ctl::kLoadIa32Efer) {
    s.efer = v.get(F::GUEST_IA32_EFER);
  } else {
    s.efer = (s.efer & ~kEferLMA) | (ia32e ? kEferLMA : 0);
    if (s.cr0 & kCr0PG) s.efer = (s.efer & ~kEferLME) | (ia32e ? kEferLME : 0);
  }
  for (int k = 0; k < 8; ++k) {
    const GuestSegmentSlots& g = kGuestSegmentSlots[k];
    SegReg& r = k < kNumSegs ? s.seg[k] : k == 6 ? s.ldtr : s.tr;
    r.selector = static_cast<uint16_t>(v.v[g.selector]);
    r.base = v.v[g.base];
    r.limit = static_cast<uint32_t>(v.v[g.limit]);
    r.attr = static_cast<uint32_t>(v.v[g.access_rights]);
  }
  s.gdtr = TableReg{v.get(F::GUEST_GDTR_BASE), static_cast<uint16_t>(v.get(F::GUEST_GDTR_LIMIT))};
  s.idtr = TableReg{v.get(F::GUEST_IDTR_BASE), static_cast<uint16_t>(v.get(F::GUEST_IDTR_LIMIT))};
  s.gpr[kRsp] = v.get(F::GUEST_RSP);
  s.rip = v.get(F::GUEST_RIP);
  c_.lf_op_ = LazyOp::kNone;
  s.rflags = v.get(F::GUEST_RFLAGS);
  uint64_t intr = v.get(F::GUEST_INTERRUPTIBILITY_STATE);
  s.interruptibility = intr & (kBlockingBySti | kBlockingByMovSs);
  if (pin_c & pin::kVirtualNmis) {
    host_nmi_blocked_ = c_.irq_.nmi_blocked;
    c_.irq_.nmi_blocked = intr & kBlockingByNmi;  // virtual-NMI blocking while in the guest
  } else {
    c_.irq_.nmi_blocked = intr & kBlockingByNmi;
  }
  s.pending_dbg = v.get(F::GUEST_PENDING_DEBUG_EXCEPTIONS);
  ept_enter();  // EPTP and VPID (ept.cpp); with EPT the PDPTEs come from the VMCS
  if (!ia32e && (s.cr0 & kCr0PG) && (s.cr4 & kCr4PAE)) {
    if (c_.vmx_ept_)
      ept_load_pdptes(true);
    else
      c_.load_pdptes(s.cr3 & 0xFFFFFFE0, s.pdpte);
  }
  enter_activity_state(v.get(F::GUEST_ACTIVITY_STATE));  // activity.cpp
  // Without VPID the entry invalidates VPID 0's mappings; with it the guest's context
  // (VPID, EP4TA) becomes the running one, root's stays cached (SDM 29.4.3.3; cpu/tlb_context.cpp).
  c_.tlb_switch_context(vpid_ ? tlb_context_key(vpid_, c_.vmx_ept_, eptp_) : kTlbUntaggedContext);
  c_.update_mode();
  c_.dbg_ = CpuImpl::DebugArm{};
  c_.debug_update();
}

bool Vmx::load_msr_list(uint64_t addr, uint32_t count, uint32_t* index) {
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t lo = c_.phys_read(addr + k * kMsrEntryBytes, 8);
    uint64_t data = c_.phys_read(addr + k * kMsrEntryBytes + 8, 8);
    auto msr = static_cast<uint32_t>(lo);
    bool bad = (lo >> 32) || (msr >> 8) == 0x8 || msr == 0xC0000100 || msr == 0xC0000101 ||
               msr == 0x9B || msr == 0x9E || !c_.write_msr(msr, data);
    if (bad) {
      *index = k + 1;
      return false;
    }
  }
  return true;
}

void Vmx::entry_failure(ExitReason r, uint64_t qualification) {
  ExitInfo e;
  e.reason = static_cast<uint32_t>(r) | kExitReasonEntryFailure;
  e.qualification = qualification;
  last_exit_ = e;
  ++exits_;
  if (static_cast<unsigned>(r) < std::size(exits_by_reason_))
    ++exits_by_reason_[static_cast<unsigned>(r)];
  vmcs_.set(F::EXIT_REASON, e.reason);
  vmcs_.set(F::EXIT_QUALIFICATION, qualification);
  vmcs_.set(F::VM_EXIT_INTERRUPTION_INFORMATION, 0);
  vmcs_.set(F::IDT_VECTORING_INFORMATION_FIELD, 0);
  non_root_ = false;
  c_.vmx_non_root_ = false;
  if (api_running_) api_stop_ = true;
  load_host_state();
}

void Vmx::inject_event() {
  Vmcs& v = vmcs_;
  auto info = static_cast<uint32_t>(v.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
  if (!(info & kIntrInfoValid)) return;
  auto type = static_cast<InterruptionType>((info >> kIntrInfoTypeShift) & 7);
  auto vec = static_cast<uint8_t>(info & kIntrInfoVectorMask);
  if (type == InterruptionType::kOtherEvent) {  // a pending MTF VM exit
    mtf_ = 3;
    return;
  }
  bool has_error = info & kIntrInfoErrorCodeValid;
  auto error = static_cast<uint32_t>(v.get(F::VM_ENTRY_EXCEPTION_ERROR_CODE));
  bool soft =
      type == InterruptionType::kSoftwareInterrupt || type == InterruptionType::kSoftwareException;
  bool after_insn = soft || type == InterruptionType::kPrivilegedSoftwareException;
  uint64_t ret = c_.s_.rip;
  if (after_insn) ret += v.get(F::VM_ENTRY_INSTRUCTION_LENGTH);
  if (type == InterruptionType::kNmi) c_.irq_.nmi_blocked = true;
  // A vectoring VM entry leaves the processor active whatever the activity-state field
  // says (SDM 27.7.2): the handler runs.
  c_.run_state_ = RunState::kRunning;
  if (mtf_) mtf_ = 3;  // an MTF VM exit is pending after injecting a vectored event
  // An exit while the injected event is delivered reports it as IDT-vectoring
  // information, with VM-entry instruction length for software events (SDM 27.6.1.1).
  begin_delivery(info & ~kIntrInfoEntryReserved, has_error ? error : 0,
                 after_insn ? static_cast<uint32_t>(v.get(F::VM_ENTRY_INSTRUCTION_LENGTH)) : 0);
  try {
    c_.deliver(vec, has_error, error, soft, ret);
  } catch (const Fault& f) {
    // A fault while delivering the injected event: the exception bitmap sees it first
    // (an exit reports the injected event), then the #DF rules apply with the injected
    // event as the first exception (SDM 27.6.1.2, Vol. 3A 6.15 Table 6-5).
    c_.next_rip_ = c_.s_.rip;
    bool hardware = type == InterruptionType::kHardwareException;
    c_.handle_fault(f, hardware ? vec : -1);
  }
  end_delivery();
}

VmResult Vmx::vm_entry(bool launch) {
  check_instruction();
  if (current_ == ~0ull) return fail_invalid();
  if (c_.s_.interruptibility & kBlockingByMovSs)
    return fail_valid(VmInstructionError::VM_ENTRY_WITH_EVENTS_BLOCKED_BY_MOV_SS);
  if (launch && vmcs_.launched) return fail_valid(VmInstructionError::VMLAUNCH_WITH_NON_CLEAR_VMCS);
  if (!launch && stale_launch_) return fail_valid(VmInstructionError::VMRESUME_AFTER_VMXOFF);
  if (!launch && !vmcs_.launched)
    return fail_valid(VmInstructionError::VMRESUME_WITH_NON_LAUNCHED_VMCS);
  // Why the checks of the controls and host-state area may be skipped: they read nothing but
  // control and host-state fields and the current IA-32e mode, unless the TPR shadow (VTPR
  // in memory) or an event to inject (GUEST_CR0.PE) is involved. Vmcs::checked says they
  // passed and no such field changed since; the result would be the same.
  if (!vmcs_.checked || checked_long_mode_ != c_.long_mode_) {
    VmInstructionError e = check_controls();
    if (e != VmInstructionError{}) return fail_valid(e);
    e = check_host_state();
    if (e != VmInstructionError{}) return fail_valid(e);
    auto proc_c =
        static_cast<uint32_t>(vmcs_.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
    auto info = static_cast<uint32_t>(vmcs_.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
    vmcs_.checked = !(proc_c & proc::kUseTprShadow) && !(info & kIntrInfoValid);
    checked_long_mode_ = c_.long_mode_;
  }
  c_.materialize_flags();
  c_.cycles_ += c_.timing_.vm_entry;
  ++entries_;
  uint64_t qual;
  if (!check_guest_state(&qual)) {
    entry_failure(ExitReason::VM_ENTRY_FAILURE_INVALID_GUEST_STATE, qual);
    return succeed();
  }
  // Why: the interruptibility and NMI state of the host are replaced by the guest's.
  bool host_nmi = c_.irq_.nmi_blocked;
  load_guest_state();
  uint32_t bad_index;
  if (!load_msr_list(vmcs_.get(F::VM_ENTRY_MSR_LOAD_ADDRESS),
                     static_cast<uint32_t>(vmcs_.get(F::VM_ENTRY_MSR_LOAD_COUNT)), &bad_index)) {
    c_.irq_.nmi_blocked = host_nmi;
    entry_failure(ExitReason::VM_ENTRY_FAILURE_MSR_LOADING, bad_index);
    return succeed();
  }
  vmcs_.launched = true;
  non_root_ = true;
  c_.vmx_non_root_ = true;
  auto pin_c = static_cast<uint32_t>(vmcs_.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  auto proc_c = static_cast<uint32_t>(vmcs_.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  if (pin_c & pin::kActivateVmxPreemptionTimer) {
    uint64_t value = vmcs_.get(F::VMX_PREEMPTION_TIMER_VALUE);
    unsigned x = caps::kPreemptionTimerRate;
    timer_deadline_ = ((c_.cycles_ >> x) + value) << x;
    if (value == 0) timer_deadline_ = c_.cycles_;
    c_.vmx_timer_deadline_ = timer_deadline_;
    if (timer_deadline_ < c_.wake_deadline_) c_.wake_deadline_ = timer_deadline_;
  }
  mtf_ = (proc_c & proc::kMonitorTrapFlag) ? 1 : 0;
  auto info = static_cast<uint32_t>(vmcs_.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
  inject_event();
  c_.next_rip_ = c_.s_.rip;
  // The block ends here (mode, RIP and TLB context changed). Boundary work is needed for
  // what non-root operation watches at boundaries (Vmx::boundary: MTF, the preemption
  // timer, the windows, pending NMIs and interrupts), for an injected event, for an
  // inactive activity state and for INIT/SIPI; debug state and interrupt shadows raised
  // attention_ in debug_update (load_guest_state).
  c_.end_block_ = true;
  if (mtf_ || timer_deadline_ != ~0ull || (info & kIntrInfoValid) ||
      (proc_c & (proc::kInterruptWindowExiting | proc::kNmiWindowExiting)) ||
      c_.run_state_ != RunState::kRunning || c_.irq_.nmi_pending || c_.irq_.init_pending ||
      c_.irq_.sipi_vector >= 0 || c_.lapic_->intr_pending())
    c_.attention_ = true;
  return succeed();
}

}  // namespace hvsim::cpu::vmx
