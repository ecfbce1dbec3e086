// VM exits: recording the exit information, saving the guest state, the VM-exit MSR-store
// and MSR-load lists, loading the host state, VMX aborts (Intel SDM Vol. 3C ch. 28
// "VM exits": 28.2 "Recording VM-exit information", 28.3 "Saving guest state", 28.4
// "Saving MSRs", 28.5 "Loading host state", 28.6 "Loading MSRs", 28.7 "VMX aborts").
#include "core/trace.h"
#include "cpu/cpu_impl.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;
using F = VmcsField;

void Vmx::save_guest_state() {
  Vmcs& v = vmcs_;
  ArchState& s = c_.s_;
  c_.materialize_flags();
  auto exit_c = static_cast<uint32_t>(v.get(F::PRIMARY_VM_EXIT_CONTROLS));
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  v.set(F::GUEST_CR0, s.cr0);
  v.set(F::GUEST_CR3, s.cr3);
  v.set(F::GUEST_CR4, s.cr4);
  if (exit_c & exit_ctl::kSaveDebugControls) v.set(F::GUEST_DR7, s.dr[7]);
  v.set(F::GUEST_RSP, s.gpr[kRsp]);
  v.set(F::GUEST_RIP, s.rip);
  v.set(F::GUEST_RFLAGS, s.rflags);
  for (int k = 0; k < 8; ++k) {
    const GuestSegmentSlots& g = kGuestSegmentSlots[k];
    const SegReg& r = k < kNumSegs ? s.seg[k] : k == 6 ? s.ldtr : s.tr;
    v.v[g.selector] = r.selector;
    v.v[g.base] = r.base;
    v.v[g.limit] = r.limit;
    v.v[g.access_rights] = r.attr & 0x1F0FF;
  }
  v.set(F::GUEST_GDTR_BASE, s.gdtr.base);
  v.set(F::GUEST_GDTR_LIMIT, s.gdtr.limit);
  v.set(F::GUEST_IDTR_BASE, s.idtr.base);
  v.set(F::GUEST_IDTR_LIMIT, s.idtr.limit);
  v.set(F::GUEST_IA32_SYSENTER_CS, s.sysenter_cs);
  v.set(F::GUEST_IA32_SYSENTER_ESP, s.sysenter_esp);
  v.set(F::GUEST_IA32_SYSENTER_EIP, s.sysenter_eip);
  if (exit_c & exit_ctl::kSaveIa32Pat) v.set(F::GUEST_IA32_PAT, s.pat);
  if (exit_c & exit_ctl::kSaveIa32Efer) v.set(F::GUEST_IA32_EFER, s.efer);
  // IA32_VMX_MISC bit 5: the "IA-32e mode guest" entry control follows EFER.LMA.
  uint64_t entry_c = v.get(F::VM_ENTRY_CONTROLS) & ~uint64_t{entry_ctl::kIa32eModeGuest};
  if (s.efer & kEferLMA) entry_c |= entry_ctl::kIa32eModeGuest;
  v.set(F::VM_ENTRY_CONTROLS, entry_c);
  v.set(F::GUEST_ACTIVITY_STATE, activity_state());  // activity.cpp
  uint64_t intr = s.interruptibility & (kBlockingBySti | kBlockingByMovSs);
  if (c_.irq_.nmi_blocked) intr |= kBlockingByNmi;
  v.set(F::GUEST_INTERRUPTIBILITY_STATE, intr);
  if (pin_c & pin::kVirtualNmis) c_.irq_.nmi_blocked = host_nmi_blocked_;
  v.set(F::GUEST_PENDING_DEBUG_EXCEPTIONS, s.pending_dbg);
  ept_save_pdptes();  // with EPT and PAE paging (ept.cpp)
  if (exit_c & exit_ctl::kSaveVmxPreemptionTimerValue) {
    unsigned x = caps::kPreemptionTimerRate;
    uint64_t left = timer_deadline_ > c_.cycles_ ? (timer_deadline_ >> x) - (c_.cycles_ >> x) : 0;
    v.set(F::VMX_PREEMPTION_TIMER_VALUE, left);
  }
}

bool Vmx::store_msr_list(uint64_t addr, uint32_t count) {
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t lo = c_.phys_read(addr + k * kMsrEntryBytes, 8);
    auto msr = static_cast<uint32_t>(lo);
    uint64_t val;
    if ((lo >> 32) || (msr >> 8) == 0x8 || msr == 0x9B || !c_.read_msr(msr, &val)) {
      abort(2);  // VMX-abort indicator 2: failure saving guest MSRs
      return false;
    }
    c_.phys_write(addr + k * kMsrEntryBytes + 8, 8, val);
  }
  return true;
}

void Vmx::load_host_state() {
  const Vmcs& v = vmcs_;
  ArchState& s = c_.s_;
  auto exit_c = static_cast<uint32_t>(v.get(F::PRIMARY_VM_EXIT_CONTROLS));
  bool host64 = exit_c & exit_ctl::kHostAddressSpaceSize;
  s.cr0 = v.get(F::HOST_CR0) | kCr0ET;
  s.cr3 = v.get(F::HOST_CR3);
  uint64_t cr4 = v.get(F::HOST_CR4);
  if (host64)
    cr4 |= kCr4PAE;
  else
    cr4 &= ~kCr4PCIDE;
  s.cr4 = cr4;
  s.dr[7] = 0x400;
  s.sysenter_cs = v.get(F::HOST_IA32_SYSENTER_CS);
  s.sysenter_esp = v.get(F::HOST_IA32_SYSENTER_ESP);
  s.sysenter_eip = v.get(F::HOST_IA32_SYSENTER_EIP);
  if (exit_c & exit_ctl::kLoadIa32Efer) {
    s.efer = v.get(F::HOST_IA32_EFER);
  } else {
    s.efer &= ~(kEferLMA | kEferLME);
    if (host64) s.efer |= kEferLMA | kEferLME;
  }
  if (exit_c & exit_ctl::kLoadIa32Pat) s.pat = v.get(F::HOST_IA32_PAT);
  using cpu::spec::kAttrDB;
  using cpu::spec::kAttrG;
  using cpu::spec::kAttrL;
  using cpu::spec::kAttrUnusable;
  uint32_t cs_ar = 0x9B | kAttrG | (host64 ? kAttrL : kAttrDB);
  s.seg[kCs] = SegReg{static_cast<uint16_t>(v.get(F::HOST_CS_SELECTOR)), 0, 0xFFFFFFFF, cs_ar};
  auto data = [&](unsigned k, F sel, uint64_t base) {
    auto x = static_cast<uint16_t>(v.get(sel));
    uint32_t ar = 0x93 | kAttrDB | kAttrG | (x == 0 ? kAttrUnusable : 0);
    s.seg[k] = SegReg{x, base, 0xFFFFFFFF, ar};
  };
  data(kSs, F::HOST_SS_SELECTOR, 0);
  data(kDs, F::HOST_DS_SELECTOR, 0);
  data(kEs, F::HOST_ES_SELECTOR, 0);
  data(kFs, F::HOST_FS_SELECTOR, v.get(F::HOST_FS_BASE));
  data(kGs, F::HOST_GS_SELECTOR, v.get(F::HOST_GS_BASE));
  s.tr =
      SegReg{static_cast<uint16_t>(v.get(F::HOST_TR_SELECTOR)), v.get(F::HOST_TR_BASE), 0x67, 0x8B};
  s.ldtr = SegReg{0, 0, 0, kAttrUnusable};
  s.gdtr = TableReg{v.get(F::HOST_GDTR_BASE), 0xFFFF};
  s.idtr = TableReg{v.get(F::HOST_IDTR_BASE), 0xFFFF};
  s.gpr[kRsp] = v.get(F::HOST_RSP);
  s.rip = v.get(F::HOST_RIP);
  c_.lf_op_ = LazyOp::kNone;
  s.rflags = 2;
  s.interruptibility = 0;
  s.pending_dbg = 0;
  if (!host64 && (s.cr0 & kCr0PG) && (s.cr4 & kCr4PAE)) c_.load_pdptes(s.cr3 & 0xFFFFFFE0, s.pdpte);
  c_.run_state_ = RunState::kRunning;
  timer_deadline_ = ~0ull;
  c_.vmx_timer_deadline_ = ~0ull;
  mtf_ = 0;
  c_.tlb_switch_context(kTlbRootContext);  // keeps (VPID) or flushes (no VPID) the guest's
  c_.update_mode();
  c_.dbg_ = CpuImpl::DebugArm{};
  c_.debug_update();
  c_.next_rip_ = s.rip;
  // The block ends here (mode, RIP and TLB context changed). Boundary work is needed only
  // for what the host has pending (debug state: debug_update above raised attention_).
  c_.end_block_ = true;
  if (c_.irq_.nmi_pending || c_.irq_.init_pending || c_.irq_.sipi_vector >= 0 ||
      c_.lapic_->intr_pending())
    c_.attention_ = true;
  c_.cycles_ += c_.timing_.vm_exit;
  // VM-exit MSR-load list (SDM 28.6); a failure is a VMX abort.
  uint32_t count = static_cast<uint32_t>(v.get(F::VM_EXIT_MSR_LOAD_COUNT));
  uint64_t addr = v.get(F::VM_EXIT_MSR_LOAD_ADDRESS);
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t lo = c_.phys_read(addr + k * kMsrEntryBytes, 8);
    uint64_t data = c_.phys_read(addr + k * kMsrEntryBytes + 8, 8);
    auto msr = static_cast<uint32_t>(lo);
    if ((lo >> 32) || (msr >> 8) == 0x8 || msr == 0xC0000100 || msr == 0xC0000101 || msr == 0x9B ||
        msr == 0x9E || !c_.write_msr(msr, data)) {
      abort(4);  // VMX-abort indicator 4: failure loading host MSRs
      return;
    }
  }
}

void Vmx::abort(uint32_t indicator) {
  if (current_ != ~0ull) c_.phys_write(current_ + region::kAbort, 4, indicator);
  non_root_ = false;
  c_.vmx_non_root_ = false;
  c_.shutdown(0, "VMX abort " + std::to_string(indicator));
}

void Vmx::vm_exit(const ExitInfo& info) {
  Vmcs& v = vmcs_;
  ExitInfo e = info;
  if (vectoring_) {  // the exit happened during event delivery (SDM 28.2.4)
    e.idt_vectoring_info = vectoring_;
    e.idt_vectoring_error = (vectoring_ & kIntrInfoErrorCodeValid) ? vectoring_error_ : 0;
    if (vectoring_length_) e.instruction_length = vectoring_length_;
    vectoring_ = 0;
  }
  last_exit_ = e;
  c_.iret_unblocked_nmi_ = ~0ull;  // reported (or not) by now
  ++exits_;
  unsigned basic = e.reason & 0xFFFF;
  if (basic < std::size(exits_by_reason_)) ++exits_by_reason_[basic];
  if (c_.env_.tracer->enabled())
    c_.trace(
        "vm_exit",
        {{"reason", to_string(e.basic())}, {"qualification", e.qualification}, {"rip", c_.s_.rip}});
  save_guest_state();
  v.set(F::EXIT_REASON, e.reason);
  v.set(F::EXIT_QUALIFICATION, e.qualification);
  v.set(F::GUEST_LINEAR_ADDRESS, e.guest_linear_address);
  v.set(F::VM_EXIT_INTERRUPTION_INFORMATION, e.interruption_info);
  v.set(F::VM_EXIT_INTERRUPTION_ERROR_CODE, e.interruption_error);
  v.set(F::IDT_VECTORING_INFORMATION_FIELD, e.idt_vectoring_info);
  v.set(F::IDT_VECTORING_ERROR_CODE, e.idt_vectoring_error);
  v.set(F::VM_EXIT_INSTRUCTION_LENGTH, e.instruction_length);
  v.set(F::VM_EXIT_INSTRUCTION_INFORMATION, e.instruction_info);
  // Every VM exit clears the valid bit of the VM-entry interruption-information field.
  v.set(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD,
        v.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD) & ~uint64_t{kIntrInfoValid});
  bool stored = store_msr_list(v.get(F::VM_EXIT_MSR_STORE_ADDRESS),
                               static_cast<uint32_t>(v.get(F::VM_EXIT_MSR_STORE_COUNT)));
  non_root_ = false;
  c_.vmx_non_root_ = false;
  if (api_running_) api_stop_ = true;
  // Why not test the run state: a guest in the shutdown activity state exits from it.
  if (!stored) return;  // a VMX abort while storing MSRs
  load_host_state();
}

void Vmx::exit_for_instruction(const Insn& i, ExitReason r, uint64_t qualification,
                               uint32_t insn_info, uint64_t linear) {
  ExitInfo e;
  e.reason = static_cast<uint32_t>(r);
  e.qualification = qualification;
  e.instruction_length = i.length;
  e.instruction_info = insn_info;
  e.guest_linear_address = linear;
  vm_exit(e);
}

}  // namespace hvsim::cpu::vmx
