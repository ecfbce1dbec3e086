// VM entries: checks on the VMX controls and the host-state area, checks on the guest-state
// area, guest-state loading, the VM-entry MSR-load list and event injection (Intel SDM
// Vol. 3C ch. 27 "VM entries": 27.2 "Checks on VMX controls and host-state area", 27.3
// "Checking and loading guest state", 27.4 "Loading MSRs", 27.6 "Event injection", 27.8
// "VM-entry failures during or after loading guest state").
//
// Checked (each failure gives the SDM's result):
//  - controls (error 7): pin-based, primary and secondary processor-based, VM-exit and
//    VM-entry controls against the true capability MSRs; CR3-target count <= 4; I/O- and
//    MSR-bitmap addresses (4 KiB aligned, within MAXPHYADDR); with "use TPR shadow" the
//    virtual-APIC address (same rules) and TPR threshold (bits 31:4 zero, bits 3:0 not
//    above VTPR[7:4]); NMI exiting / virtual NMIs /
//    NMI-window exiting consistency; "save VMX-preemption-timer value" needs the timer;
//    MSR-list addresses (16-byte aligned, whole list within MAXPHYADDR); the VM-entry
//    interruption-information field (type, vector, error-code bit, reserved bits, error
//    code bits 31:16, instruction length 1-15 for software events).
//  - host state (error 8): CR0/CR4 fixed bits, CR3 width, SYSENTER ESP/EIP canonical, PAT
//    and EFER when loaded, selector RPL/TI, CS/TR (and SS without 64-bit host) not null,
//    FS/GS/TR/GDTR/IDTR bases canonical, host address-space size against the current mode
//    and CR4.PAE/PCIDE, RIP.
//  - guest state (exit reason 33 | 0x80000000): CR0/CR4 fixed bits, IA-32e mode guest vs.
//    CR0.PG/CR4.PAE/PCIDE, CR3 width, DR7 and DEBUGCTL, SYSENTER ESP/EIP, PAT, EFER (LMA,
//    LME), every segment register's selector, base, limit and access rights (SDM
//    27.3.1.2), GDTR/IDTR, RIP, RFLAGS, activity state (active, HLT, shutdown, wait-for-SIPI,
//    with the injections each allows), interruptibility
//    state, pending debug exceptions (reserved bits and BS), VMCS link pointer (must be
//    ~0: qualification 4), PAE PDPTEs (qualification 2).
//  - VMLAUNCH/VMRESUME launch states (errors 4, 5, 6), blocking by MOV SS (error 26).
// Unrestricted guest (27.3.1.1, 27.3.1.2): CR0.PE/PG may be 0 (not PG without PE), SS/CS
// RPLs and data-segment DPL/RPL are not compared, CS may be type 3 (DPL 0), SS.DPL is 0 with
// such a CS or CR0.PE = 0; RFLAGS.VM is 0 with CR0.PE = 0.
// Not checked: anything of features hvsim does not implement (APIC-access and x2APIC
// virtualization, virtual-interrupt delivery, posted interrupts, shadow VMCS, SMM, PT, CET,
// PKS).
#include "cpu/cpu_impl.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;
using F = VmcsField;

namespace {

constexpr uint64_t kPhysMask = ~((1ull << cpu::spec::kMaxPhysAddrBits) - 1);

bool canonical(uint64_t v, bool la57) {
  unsigned s = la57 ? 64 - 57 : 64 - 48;
  return static_cast<uint64_t>(static_cast<int64_t>(v << s) >> s) == v;
}

bool controls_ok(uint32_t v, uint64_t cap) {
  uint32_t must1 = static_cast<uint32_t>(cap), may1 = static_cast<uint32_t>(cap >> 32);
  return (v & must1) == must1 && (v & ~may1) == 0;
}

bool pat_valid(uint64_t pat) {
  for (int k = 0; k < 8; ++k) {
    uint64_t t = (pat >> (8 * k)) & 0xFF;
    if (t == 2 || t == 3 || t > 7) return false;
  }
  return true;
}

bool error_code_exception(unsigned v) {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/// Access-rights bits that must be 0 (11:8 and 31:17).
constexpr uint32_t kArReserved = 0xFFFE0F00;

/// Limit and granularity agree (SDM 27.3.1.2).
bool limit_granularity_ok(uint32_t limit, uint32_t ar) {
  bool g = ar & cpu::spec::kAttrG;
  if ((limit & 0xFFF) != 0xFFF && g) return false;
  if ((limit >> 20) && !g) return false;
  return true;
}

/// The activity-state checks (SDM 27.3.1.5): a state IA32_VMX_MISC bits 8:6 report, HLT
/// only with SS.DPL 0, an inactive state only without blocking by STI or MOV SS, and an
/// injected event (`info`, 0 = none) only if that state would not block it.
bool activity_state_ok(uint64_t activity, unsigned ss_dpl, uint64_t intr, uint32_t info) {
  if (activity > static_cast<uint64_t>(ActivityState::kWaitForSipi)) return false;
  auto state = static_cast<ActivityState>(activity);
  if (state == ActivityState::kActive) return true;
  if (state == ActivityState::kHlt && ss_dpl != 0) return false;
  if (intr & (kBlockingBySti | kBlockingByMovSs)) return false;
  if (!(info & kIntrInfoValid)) return true;
  auto type = static_cast<InterruptionType>((info >> kIntrInfoTypeShift) & 7);
  unsigned vec = info & kIntrInfoVectorMask;
  bool nmi = type == InterruptionType::kNmi;
  bool machine_check = type == InterruptionType::kHardwareException && vec == 18;
  switch (state) {
    case ActivityState::kHlt:
      return nmi || machine_check || type == InterruptionType::kExternalInterrupt ||
             (type == InterruptionType::kHardwareException && vec == 1) ||
             (type == InterruptionType::kOtherEvent && vec == 0);
    case ActivityState::kShutdown: return nmi || machine_check;
    default: return false;  // wait-for-SIPI: no event may be injected
  }
}

}  // namespace

VmInstructionError Vmx::check_controls() const {
  constexpr auto kBad = VmInstructionError::VM_ENTRY_WITH_INVALID_CONTROL_FIELDS;
  const Vmcs& v = vmcs_;
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  auto proc_c = static_cast<uint32_t>(v.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  auto exit_c = static_cast<uint32_t>(v.get(F::PRIMARY_VM_EXIT_CONTROLS));
  auto entry_c = static_cast<uint32_t>(v.get(F::VM_ENTRY_CONTROLS));
  if (!controls_ok(pin_c, capability(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS)) ||
      !controls_ok(proc_c, capability(VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS)) ||
      !controls_ok(exit_c, capability(VmxMsr::IA32_VMX_TRUE_EXIT_CTLS)) ||
      !controls_ok(entry_c, capability(VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS)))
    return kBad;
  if (proc_c & proc::kActivateSecondaryControls) {
    auto p2 = static_cast<uint32_t>(v.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
    if (!controls_ok(p2, capability(VmxMsr::IA32_VMX_PROCBASED_CTLS2))) return kBad;
    // SDM 27.2.1.1: "unrestricted guest" requires "enable EPT".
    if ((p2 & proc2::kUnrestrictedGuest) && !(p2 & proc2::kEnableEpt)) return kBad;
  }
  if (v.get(F::CR3_TARGET_COUNT) > caps::kCr3TargetCount) return kBad;
  if (!ept_controls_ok()) return kBad;  // EPTP and VPID (ept.cpp)
  auto page_ok = [](uint64_t a) { return (a & 0xFFF) == 0 && !(a & kPhysMask); };
  if ((proc_c & proc::kUseIoBitmaps) &&
      (!page_ok(v.get(F::ADDRESS_OF_IO_BITMAP_A)) || !page_ok(v.get(F::ADDRESS_OF_IO_BITMAP_B))))
    return kBad;
  if ((proc_c & proc::kUseMsrBitmaps) && !page_ok(v.get(F::ADDRESS_OF_MSR_BITMAPS))) return kBad;
  if (proc_c & proc::kUseTprShadow) {
    // SDM 27.2.1.1: the virtual-APIC address is 4 KiB aligned within MAXPHYADDR; without
    // virtual-interrupt delivery TPR-threshold bits 31:4 are 0, and without APIC-access
    // virtualization bits 3:0 are not above VTPR bits 7:4.
    uint64_t va = v.get(F::VIRTUAL_APIC_ADDRESS);
    uint64_t threshold = v.get(F::TPR_THRESHOLD);
    if (!page_ok(va) || (threshold >> 4)) return kBad;
    if (threshold > (c_.phys_read(va + kVtprOffset, 1) >> 4)) return kBad;
  }
  if (!(pin_c & pin::kNmiExiting) && (pin_c & pin::kVirtualNmis)) return kBad;
  if (!(pin_c & pin::kVirtualNmis) && (proc_c & proc::kNmiWindowExiting)) return kBad;
  if (!(pin_c & pin::kActivateVmxPreemptionTimer) &&
      (exit_c & exit_ctl::kSaveVmxPreemptionTimerValue))
    return kBad;
  auto list_ok = [](uint64_t addr, uint64_t count) {
    if (count == 0) return true;
    return (addr & 0xF) == 0 && !((addr + count * kMsrEntryBytes - 1) & kPhysMask);
  };
  if (!list_ok(v.get(F::VM_EXIT_MSR_STORE_ADDRESS), v.get(F::VM_EXIT_MSR_STORE_COUNT)) ||
      !list_ok(v.get(F::VM_EXIT_MSR_LOAD_ADDRESS), v.get(F::VM_EXIT_MSR_LOAD_COUNT)) ||
      !list_ok(v.get(F::VM_ENTRY_MSR_LOAD_ADDRESS), v.get(F::VM_ENTRY_MSR_LOAD_COUNT)))
    return kBad;
  // Event injection (SDM 27.2.1.3).
  auto info = static_cast<uint32_t>(v.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
  if (info & kIntrInfoValid) {
    auto type = static_cast<InterruptionType>((info >> kIntrInfoTypeShift) & 7);
    unsigned vec = info & kIntrInfoVectorMask;
    if (type == InterruptionType::kReserved) return kBad;
    if (type == InterruptionType::kNmi && vec != 2) return kBad;
    if (type == InterruptionType::kHardwareException && vec > 31) return kBad;
    if (type == InterruptionType::kOtherEvent && vec != 0) return kBad;
    bool pe = v.get(F::GUEST_CR0) & kCr0PE;
    bool want_error =
        pe && type == InterruptionType::kHardwareException && error_code_exception(vec);
    if (static_cast<bool>(info & kIntrInfoErrorCodeValid) != want_error) return kBad;
    if (info & kIntrInfoEntryReserved) return kBad;
    if ((info & kIntrInfoErrorCodeValid) && (v.get(F::VM_ENTRY_EXCEPTION_ERROR_CODE) >> 16))
      return kBad;
    if (type == InterruptionType::kSoftwareInterrupt ||
        type == InterruptionType::kPrivilegedSoftwareException ||
        type == InterruptionType::kSoftwareException) {
      uint64_t len = v.get(F::VM_ENTRY_INSTRUCTION_LENGTH);
      if (len == 0 || len > 15) return kBad;
    }
  }
  return VmInstructionError{};
}

VmInstructionError Vmx::check_host_state() const {
  constexpr auto kBad = VmInstructionError::VM_ENTRY_WITH_INVALID_HOST_STATE_FIELDS;
  const Vmcs& v = vmcs_;
  auto exit_c = static_cast<uint32_t>(v.get(F::PRIMARY_VM_EXIT_CONTROLS));
  auto entry_c = static_cast<uint32_t>(v.get(F::VM_ENTRY_CONTROLS));
  uint64_t cr0 = v.get(F::HOST_CR0), cr4 = v.get(F::HOST_CR4);
  bool la57 = cr4 & kCr4LA57;
  bool host64 = exit_c & exit_ctl::kHostAddressSpaceSize;
  if (!cr_write_allowed(0, cr0) || (cr0 >> 32) || !cr_write_allowed(4, cr4)) return kBad;
  if (v.get(F::HOST_CR3) & kPhysMask) return kBad;
  if (!canonical(v.get(F::HOST_IA32_SYSENTER_ESP), la57) ||
      !canonical(v.get(F::HOST_IA32_SYSENTER_EIP), la57))
    return kBad;
  if ((exit_c & exit_ctl::kLoadIa32Pat) && !pat_valid(v.get(F::HOST_IA32_PAT))) return kBad;
  if (exit_c & exit_ctl::kLoadIa32Efer) {
    uint64_t efer = v.get(F::HOST_IA32_EFER);
    if (efer & ~(kEferSCE | kEferLME | kEferLMA | kEferNXE)) return kBad;
    if (static_cast<bool>(efer & kEferLMA) != host64 ||
        static_cast<bool>(efer & kEferLME) != host64)
      return kBad;
  }
  for (F sel : {F::HOST_ES_SELECTOR, F::HOST_CS_SELECTOR, F::HOST_SS_SELECTOR, F::HOST_DS_SELECTOR,
                F::HOST_FS_SELECTOR, F::HOST_GS_SELECTOR, F::HOST_TR_SELECTOR})
    if (v.get(sel) & 7) return kBad;
  if (v.get(F::HOST_CS_SELECTOR) == 0 || v.get(F::HOST_TR_SELECTOR) == 0) return kBad;
  if (!host64 && v.get(F::HOST_SS_SELECTOR) == 0) return kBad;
  for (F base :
       {F::HOST_FS_BASE, F::HOST_GS_BASE, F::HOST_TR_BASE, F::HOST_GDTR_BASE, F::HOST_IDTR_BASE})
    if (!canonical(v.get(base), la57)) return kBad;
  if (c_.long_mode_) {
    if (!host64) return kBad;
  } else if (host64 || (entry_c & entry_ctl::kIa32eModeGuest)) {
    return kBad;
  }
  uint64_t rip = v.get(F::HOST_RIP);
  if (host64) {
    if (!(cr4 & kCr4PAE) || !canonical(rip, la57)) return kBad;
  } else if ((cr4 & kCr4PCIDE) || (rip >> 32)) {
    return kBad;
  }
  return VmInstructionError{};
}

bool Vmx::check_guest_state(uint64_t* qualification) const {
  const Vmcs& v = vmcs_;
  *qualification = static_cast<uint64_t>(EntryFailureQualification::kDefault);
  auto entry_c = static_cast<uint32_t>(v.get(F::VM_ENTRY_CONTROLS));
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  bool ia32e = entry_c & entry_ctl::kIa32eModeGuest;
  uint64_t cr0 = v.get(F::GUEST_CR0), cr4 = v.get(F::GUEST_CR4);
  bool la57 = cr4 & kCr4LA57;
  // 27.3.1.1 control registers, debug registers and MSRs
  // An unrestricted guest may have CR0.PE = 0 and CR0.PG = 0, but not PG without PE.
  bool unrestricted = unrestricted_guest();
  uint64_t cr0_fixed0 = unrestricted ? kCr0NE : kCr0PE | kCr0NE | kCr0PG;
  if ((cr0 & cr0_fixed0) != cr0_fixed0 || (cr0 >> 32) || !cr_write_allowed(4, cr4)) return false;
  if ((cr0 & kCr0PG) && !(cr0 & kCr0PE)) return false;
  bool pe = cr0 & kCr0PE;
  if (ia32e && (!(cr0 & kCr0PG) || !(cr4 & kCr4PAE))) return false;
  if (!ia32e && (cr4 & kCr4PCIDE)) return false;
  if (v.get(F::GUEST_CR3) & kPhysMask) return false;
  if (entry_c & entry_ctl::kLoadDebugControls) {
    if (v.get(F::GUEST_IA32_DEBUGCTL) & ~3ull) return false;  // LBR and BTF only
    if (v.get(F::GUEST_DR7) >> 32) return false;
  }
  if (!canonical(v.get(F::GUEST_IA32_SYSENTER_ESP), la57) ||
      !canonical(v.get(F::GUEST_IA32_SYSENTER_EIP), la57))
    return false;
  if ((entry_c & entry_ctl::kLoadIa32Pat) && !pat_valid(v.get(F::GUEST_IA32_PAT))) return false;
  if (entry_c & entry_ctl::kLoadIa32Efer) {
    uint64_t efer = v.get(F::GUEST_IA32_EFER);
    if (efer & ~(kEferSCE | kEferLME | kEferLMA | kEferNXE)) return false;
    if (static_cast<bool>(efer & kEferLMA) != ia32e) return false;
    if ((cr0 & kCr0PG) && static_cast<bool>(efer & kEferLME) != ia32e) return false;
  }
  // 27.3.1.2 segment registers (not virtual-8086; relaxed for an unrestricted guest)
  using cpu::spec::kAttrDB;
  using cpu::spec::kAttrL;
  using cpu::spec::kAttrP;
  using cpu::spec::kAttrS;
  using cpu::spec::kAttrUnusable;
  auto sel = [&](F f) { return static_cast<uint16_t>(v.get(f)); };
  auto ar = [&](F f) { return static_cast<uint32_t>(v.get(f)); };
  auto lim = [&](F f) { return static_cast<uint32_t>(v.get(f)); };
  auto dpl = [](uint32_t a) { return (a >> 5) & 3; };
  if (sel(F::GUEST_TR_SELECTOR) & 4) return false;
  uint32_t ldtr_ar = ar(F::GUEST_LDTR_ACCESS_RIGHTS);
  if (!(ldtr_ar & kAttrUnusable) && (sel(F::GUEST_LDTR_SELECTOR) & 4)) return false;
  if (!unrestricted && (sel(F::GUEST_SS_SELECTOR) & 3) != (sel(F::GUEST_CS_SELECTOR) & 3))
    return false;
  for (F base : {F::GUEST_TR_BASE, F::GUEST_FS_BASE, F::GUEST_GS_BASE})
    if (!canonical(v.get(base), la57)) return false;
  if (!(ldtr_ar & kAttrUnusable) && !canonical(v.get(F::GUEST_LDTR_BASE), la57)) return false;
  if (v.get(F::GUEST_CS_BASE) >> 32) return false;
  for (auto [b, a] : {std::pair{F::GUEST_SS_BASE, F::GUEST_SS_ACCESS_RIGHTS},
                      std::pair{F::GUEST_DS_BASE, F::GUEST_DS_ACCESS_RIGHTS},
                      std::pair{F::GUEST_ES_BASE, F::GUEST_ES_ACCESS_RIGHTS}})
    if (!(ar(a) & kAttrUnusable) && (v.get(b) >> 32)) return false;
  // CS
  uint32_t cs = ar(F::GUEST_CS_ACCESS_RIGHTS), ss = ar(F::GUEST_SS_ACCESS_RIGHTS);
  unsigned cs_type = cs & 15;
  if (cs & kAttrUnusable) return false;
  bool cs_data = unrestricted && cs_type == 3;  // read/write accessed data: DPL 0
  if (cs_type != 9 && cs_type != 11 && cs_type != 13 && cs_type != 15 && !cs_data) return false;
  if (!(cs & kAttrS) || !(cs & kAttrP) || (cs & kArReserved)) return false;
  if (cs_data && dpl(cs) != 0) return false;
  if ((cs_type == 9 || cs_type == 11) && dpl(cs) != dpl(ss)) return false;
  if (cs_type >= 13 && dpl(cs) > dpl(ss)) return false;
  if (!limit_granularity_ok(lim(F::GUEST_CS_LIMIT), cs)) return false;
  if (ia32e && (cs & kAttrL) && (cs & kAttrDB)) return false;
  // SS
  if (!(ss & kAttrUnusable)) {
    unsigned t = ss & 15;
    if ((t != 3 && t != 7) || !(ss & kAttrS) || !(ss & kAttrP) || (ss & kArReserved)) return false;
    if (!unrestricted && dpl(ss) != (sel(F::GUEST_SS_SELECTOR) & 3u)) return false;
    if ((cs_data || !pe) && dpl(ss) != 0) return false;
    if (!limit_granularity_ok(lim(F::GUEST_SS_LIMIT), ss)) return false;
  }
  // DS, ES, FS, GS
  for (auto [s, a, l] :
       {std::tuple{F::GUEST_DS_SELECTOR, F::GUEST_DS_ACCESS_RIGHTS, F::GUEST_DS_LIMIT},
        std::tuple{F::GUEST_ES_SELECTOR, F::GUEST_ES_ACCESS_RIGHTS, F::GUEST_ES_LIMIT},
        std::tuple{F::GUEST_FS_SELECTOR, F::GUEST_FS_ACCESS_RIGHTS, F::GUEST_FS_LIMIT},
        std::tuple{F::GUEST_GS_SELECTOR, F::GUEST_GS_ACCESS_RIGHTS, F::GUEST_GS_LIMIT}}) {
    uint32_t x = ar(a);
    if (x & kAttrUnusable) continue;
    unsigned t = x & 15;
    if (!(t & 1) || ((t & 8) && !(t & 2))) return false;
    if (!(x & kAttrS) || !(x & kAttrP) || (x & kArReserved)) return false;
    if (!unrestricted && t <= 11 && dpl(x) < (sel(s) & 3u)) return false;
    if (!limit_granularity_ok(lim(l), x)) return false;
  }
  // TR
  uint32_t tr = ar(F::GUEST_TR_ACCESS_RIGHTS);
  unsigned tr_type = tr & 15;
  if (tr & kAttrUnusable) return false;
  if (!(tr_type == 11 || (!ia32e && tr_type == 3))) return false;
  if ((tr & kAttrS) || !(tr & kAttrP) || (tr & kArReserved)) return false;
  if (!limit_granularity_ok(lim(F::GUEST_TR_LIMIT), tr)) return false;
  // LDTR
  if (!(ldtr_ar & kAttrUnusable)) {
    if ((ldtr_ar & 15) != 2 || (ldtr_ar & kAttrS) || !(ldtr_ar & kAttrP) || (ldtr_ar & kArReserved))
      return false;
    if (!limit_granularity_ok(lim(F::GUEST_LDTR_LIMIT), ldtr_ar)) return false;
  }
  // 27.3.1.3 descriptor-table registers
  if (!canonical(v.get(F::GUEST_GDTR_BASE), la57) || !canonical(v.get(F::GUEST_IDTR_BASE), la57))
    return false;
  if ((v.get(F::GUEST_GDTR_LIMIT) >> 16) || (v.get(F::GUEST_IDTR_LIMIT) >> 16)) return false;
  // 27.3.1.4 RIP and RFLAGS
  uint64_t rip = v.get(F::GUEST_RIP);
  if (!ia32e || !(cs & kAttrL)) {
    if (rip >> 32) return false;
  } else if (!canonical(rip, la57)) {
    return false;
  }
  uint64_t rflags = v.get(F::GUEST_RFLAGS);
  constexpr uint64_t kRflagsReserved = ~((1ull << 22) - 1) | (1u << 15) | (1u << 5) | (1u << 3);
  if ((rflags & kRflagsReserved) || !(rflags & 2)) return false;
  if ((ia32e || !pe) && (rflags & kFlagVM)) return false;
  auto info = static_cast<uint32_t>(v.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
  bool inject = info & kIntrInfoValid;
  auto itype = static_cast<InterruptionType>((info >> kIntrInfoTypeShift) & 7);
  if (inject && itype == InterruptionType::kExternalInterrupt && !(rflags & kFlagIF)) return false;
  // 27.3.1.5 non-register state
  uint64_t activity = v.get(F::GUEST_ACTIVITY_STATE);
  if (!activity_state_ok(activity, dpl(ss), v.get(F::GUEST_INTERRUPTIBILITY_STATE),
                         inject ? info : 0))
    return false;
  uint64_t intr = v.get(F::GUEST_INTERRUPTIBILITY_STATE);
  if (intr & kInterruptibilityReserved) return false;
  if ((intr & kBlockingBySti) && (intr & kBlockingByMovSs)) return false;
  if (!(rflags & kFlagIF) && (intr & kBlockingBySti)) return false;
  if (inject && itype == InterruptionType::kExternalInterrupt &&
      (intr & (kBlockingBySti | kBlockingByMovSs)))
    return false;
  if (inject && itype == InterruptionType::kNmi && (intr & kBlockingByMovSs)) return false;
  if (intr & (kBlockingBySmi | kEnclaveInterruption)) return false;
  if (inject && itype == InterruptionType::kNmi && (pin_c & pin::kVirtualNmis) &&
      (intr & kBlockingByNmi))
    return false;
  uint64_t pdbg = v.get(F::GUEST_PENDING_DEBUG_EXCEPTIONS);
  constexpr uint64_t kPdbgAllowed = 0xF | (1u << 12) | (1u << 14);
  if (pdbg & ~kPdbgAllowed) return false;
  if ((intr & (kBlockingBySti | kBlockingByMovSs)) ||
      activity == static_cast<uint64_t>(ActivityState::kHlt)) {
    bool tf = rflags & kFlagTF;
    bool btf = (entry_c & entry_ctl::kLoadDebugControls) && (v.get(F::GUEST_IA32_DEBUGCTL) & 2);
    bool bs = pdbg & (1u << 14);
    if (tf && !btf && !bs) return false;
    if ((!tf || btf) && bs) return false;
  }
  if (v.get(F::VMCS_LINK_POINTER) != ~0ull) {
    *qualification = static_cast<uint64_t>(EntryFailureQualification::kInvalidVmcsLinkPointer);
    return false;
  }
  // 27.3.1.6 PDPTEs (PAE paging outside IA-32e mode)
  if (!ia32e && (cr0 & kCr0PG) && (cr4 & kCr4PAE) && ept_enabled()) {
    if (!ept_load_pdptes(false)) return false;  // the VMCS fields
  } else if (!ia32e && (cr0 & kCr0PG) && (cr4 & kCr4PAE)) {
    uint64_t pdpte[4];
    if (!c_.load_pdptes(v.get(F::GUEST_CR3) & 0xFFFFFFE0, pdpte)) {
      *qualification = static_cast<uint64_t>(EntryFailureQualification::kPdpteLoading);
      return false;
    }
  }
  return true;
}

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
  auto seg = [&](SegReg& r, F sel, F base, F limit, F ar) {
    r.selector = static_cast<uint16_t>(v.get(sel));
    r.base = v.get(base);
    r.limit = static_cast<uint32_t>(v.get(limit));
    r.attr = static_cast<uint32_t>(v.get(ar));
  };
  for (int k = 0; k < 8; ++k) {
    const GuestSegmentFields& g = kGuestSegmentFields[k];
    seg(k < kNumSegs ? s.seg[k]
        : k == 6     ? s.ldtr
                     : s.tr,
        g.selector, g.base, g.limit, g.access_rights);
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
  // (VPID, EP4TA) comes back and root's is parked (SDM 29.4.3.3; cpu/tlb_context.cpp).
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
  VmInstructionError e = check_controls();
  if (e != VmInstructionError{}) return fail_valid(e);
  e = check_host_state();
  if (e != VmInstructionError{}) return fail_valid(e);
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
  c_.attention_ = true;
  inject_event();
  c_.next_rip_ = c_.s_.rip;
  return succeed();
}

}  // namespace hvsim::cpu::vmx
