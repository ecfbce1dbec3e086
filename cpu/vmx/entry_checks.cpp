// The VM-entry checks: VMX controls and host-state area, then the guest-state area (Intel SDM
// Vol. 3C 27.2 "Checks on VMX controls and host-state area", 27.3.1 "Checks on the guest
// state area"; 26.2/26.3.1 in older editions). vm_entry.cpp runs them in that order.
//
// Every check the SDM lists is made, in its section order, except those of features hvsim
// neither implements nor advertises: their controls are must-be-0 in the capability MSRs
// (vmx_ops.cpp), so the allowed-settings check already fails the entry with error 7.
// Those are: APIC-access and x2APIC virtualization, APIC-register virtualization,
// virtual-interrupt delivery, posted interrupts, tertiary controls, VM functions, VMCS
// shadowing, PML, EPT-violation #VE, sub-page permissions, mode-based execute control, TSC
// scaling, Intel PT, CET, PKS, IA32_PERF_GLOBAL_CTRL, IA32_BNDCFGS, SMM and the dual-monitor
// treatment.
//
// Controls (VMfailValid 7), 27.2.1:
//  - pin-based, primary and (if activated) secondary processor-based, VM-exit and VM-entry
//    controls against the true capability MSRs;
//  - CR3-target count <= 4; I/O- and MSR-bitmap addresses 4 KiB aligned within MAXPHYADDR;
//  - "use TPR shadow": virtual-APIC address (same rule), TPR threshold bits 31:4 = 0 and
//    bits 3:0 <= VTPR[7:4];
//  - virtual NMIs need NMI exiting; NMI-window exiting needs virtual NMIs;
//  - VPID != 0 with "enable VPID"; the EPTP with "enable EPT" (ept.cpp ept_controls_ok);
//    "unrestricted guest" needs "enable EPT";
//  - "save VMX-preemption-timer value" needs the timer; MSR-store/load lists (address
//    16-byte aligned, first and last byte within MAXPHYADDR);
//  - event injection: type not 1, vector 2 for NMI, <= 31 for hardware exceptions, 0 for
//    "other event"; deliver-error-code iff (unrestricted guest 0 or guest CR0.PE 1) and a
//    hardware exception with an error code (8, 10-14, 17, 21); bits 30:12 zero; error code
//    bits 31:16 zero; instruction length 1-15 for software events.
// Host state (VMfailValid 8), 27.2.2-27.2.4: CR0/CR4 fixed bits (CR0 bits 63:32 zero), CR3
// within MAXPHYADDR, SYSENTER ESP/EIP canonical, PAT and EFER when loaded (EFER.LMA and LME
// = host address-space size), selector RPL and TI 0, CS and TR not null (SS too without a
// 64-bit host), FS/GS/TR/GDTR/IDTR bases canonical, address-space size against EFER.LMA
// now, and CR4.PAE/RIP canonical (64-bit host) or CR4.PCIDE 0/RIP bits 63:32 zero.
// Guest state (exit reason 33 | 1 << 31, qualification 0 unless noted), 27.3.1:
//  - 27.3.1.1: CR0/CR4 fixed bits (PE, PG relaxed for an unrestricted guest; PG needs PE),
//    IA-32e mode guest vs. CR0.PG and CR4.PAE, CR4.PCIDE 0 outside IA-32e mode, CR3 width;
//    with "load debug controls" DEBUGCTL (LBR and BTF only) and DR7 bits 63:32; SYSENTER
//    ESP/EIP canonical; PAT and EFER (reserved bits, LMA, LME with CR0.PG) when loaded;
//  - 27.3.1.2 segment registers: TR and usable LDTR selector TI 0; SS.RPL = CS.RPL (not
//    virtual-8086, not unrestricted); virtual-8086 guests: base = selector << 4, limit
//    0xFFFF, access rights 0xF3 for CS, SS, DS, ES, FS, GS; otherwise the type, S, DPL, P,
//    reserved bits, G/limit and D/B rules of CS, SS (DPL rules even if unusable), DS, ES,
//    FS, GS; TR and LDTR type/S/P/reserved/G; bases canonical (TR, FS, GS, usable LDTR) or
//    bits 63:32 zero (CS, usable SS, DS, ES);
//  - 27.3.1.3: GDTR/IDTR bases canonical, limits bits 31:16 zero;
//  - 27.3.1.4: RIP (bits 63:32 zero unless 64-bit code, else canonical); RFLAGS reserved
//    bits, VM 0 in IA-32e mode or with CR0.PE 0, IF 1 when injecting an external interrupt;
//  - 27.3.1.5: activity state 0-3 (active, HLT, shutdown, wait-for-SIPI: IA32_VMX_MISC
//    8:6), HLT needs SS.DPL 0, an inactive state needs no STI or MOV-SS blocking and admits
//    only the injections it would not block (HLT: external interrupt, NMI, #DB, #MC, MTF;
//    shutdown: NMI, #MC; wait-for-SIPI: none); interruptibility (reserved bits, STI and
//    MOV SS not both, STI needs IF, injection of external interrupts and NMIs, SMI blocking
//    0 outside SMM, NMI blocking with virtual NMIs, enclave interruption 0 without SGX);
//    pending debug exceptions (reserved bits, RTM bit 16 0 without RTM, BS vs. TF/BTF when
//    blocking or in HLT); VMCS link pointer if not ~0: 4 KiB aligned within MAXPHYADDR,
//    revision identifier and shadow indicator 0 at the address (qualification 4);
//  - 27.3.1.6: PAE PDPTEs outside IA-32e mode, from the VMCS with EPT (qualification 0) or
//    from memory at CR3 without it (qualification 2).
// Processor-specific choices: the SDM lets a processor fail an NMI injection under STI
// blocking (qualification 3); hvsim does not. Canonical checks use the linear-address width
// of the CR4 being loaded (the host's or the guest's CR4.LA57). hvsim also treats an unusable
// CS as invalid.
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

bool page_address_ok(uint64_t a) {
  return (a & 0xFFF) == 0 && !(a & kPhysMask);
}

/// An MSR list of `count` 16-byte entries at `addr` (SDM 27.2.1.2, 27.2.1.3).
bool msr_list_ok(uint64_t addr, uint64_t count) {
  if (count == 0) return true;
  uint64_t last = addr + count * kMsrEntryBytes - 1;
  return (addr & 0xF) == 0 && !(addr & kPhysMask) && !(last & kPhysMask);
}

/// Access-rights bits that must be 0 (11:8 and 31:17).
constexpr uint32_t kArReserved = 0xFFFE0F00;
/// Access rights of every segment register of a virtual-8086 guest (SDM 27.3.1.2).
constexpr uint32_t kArVirtual8086 = 0xF3;

/// Limit and granularity agree (SDM 27.3.1.2).
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

bool limit_granularity_ok(uint32_t limit, uint32_t ar) {
  bool g = ar & cpu::spec::kAttrG;
  if ((limit & 0xFFF) != 0xFFF && g) return false;
  if ((limit >> 20) && !g) return false;
  return true;
}

unsigned dpl(uint32_t ar) {
  return (ar >> 5) & 3;
}

/// What the segment-register checks depend on besides the fields themselves.
struct SegmentContext {
  bool ia32e, unrestricted, pe, la57;
};

/// 27.3.1.2 for a virtual-8086 guest: CS, SS, DS, ES, FS, GS as real-mode segments.
bool v8086_segments_ok(const Vmcs& v) {
  for (int k = 0; k < kNumSegs; ++k) {
    const GuestSegmentSlots& g = kGuestSegmentSlots[k];
    uint64_t sel = v.v[g.selector];
    if (v.v[g.base] != (sel << 4) || v.v[g.limit] != 0xFFFF ||
        v.v[g.access_rights] != kArVirtual8086)
      return false;
  }
  return true;
}

/// 27.3.1.2 for CS, SS, DS, ES, FS, GS outside virtual-8086 mode.
bool protected_segments_ok(const Vmcs& v, const SegmentContext& c) {
  using cpu::spec::kAttrDB;
  using cpu::spec::kAttrL;
  using cpu::spec::kAttrP;
  using cpu::spec::kAttrS;
  using cpu::spec::kAttrUnusable;
  auto sel = [&](F f) { return static_cast<unsigned>(v.get(f)); };
  auto ar = [&](F f) { return static_cast<uint32_t>(v.get(f)); };
  auto lim = [&](F f) { return static_cast<uint32_t>(v.get(f)); };
  if (!c.unrestricted && (sel(F::GUEST_SS_SELECTOR) & 3) != (sel(F::GUEST_CS_SELECTOR) & 3))
    return false;
  // CS
  uint32_t cs = ar(F::GUEST_CS_ACCESS_RIGHTS), ss = ar(F::GUEST_SS_ACCESS_RIGHTS);
  unsigned cs_type = cs & 15;
  if (cs & kAttrUnusable) return false;
  bool cs_data = c.unrestricted && cs_type == 3;  // read/write accessed data: DPL 0
  if (cs_type != 9 && cs_type != 11 && cs_type != 13 && cs_type != 15 && !cs_data) return false;
  if (!(cs & kAttrS) || !(cs & kAttrP) || (cs & kArReserved)) return false;
  if (cs_data && dpl(cs) != 0) return false;
  if ((cs_type == 9 || cs_type == 11) && dpl(cs) != dpl(ss)) return false;
  if (cs_type >= 13 && dpl(cs) > dpl(ss)) return false;
  if (!limit_granularity_ok(lim(F::GUEST_CS_LIMIT), cs)) return false;
  if (c.ia32e && (cs & kAttrL) && (cs & kAttrDB)) return false;
  // SS. Why: the SDM's DPL rules for SS apply even when SS is unusable (SS.DPL is the CPL).
  if (!c.unrestricted && dpl(ss) != (sel(F::GUEST_SS_SELECTOR) & 3u)) return false;
  if ((cs_data || !c.pe) && dpl(ss) != 0) return false;
  if (!(ss & kAttrUnusable)) {
    unsigned t = ss & 15;
    if ((t != 3 && t != 7) || !(ss & kAttrS) || !(ss & kAttrP) || (ss & kArReserved)) return false;
    if (!limit_granularity_ok(lim(F::GUEST_SS_LIMIT), ss)) return false;
  }
  // DS, ES, FS, GS
  for (int k : {kDs, kEs, kFs, kGs}) {
    const GuestSegmentSlots& g = kGuestSegmentSlots[k];
    auto x = static_cast<uint32_t>(v.v[g.access_rights]);
    if (x & kAttrUnusable) continue;
    unsigned t = x & 15;
    if (!(t & 1) || ((t & 8) && !(t & 2))) return false;
    if (!(x & kAttrS) || !(x & kAttrP) || (x & kArReserved)) return false;
    if (!c.unrestricted && t <= 11 && dpl(x) < (v.v[g.selector] & 3u)) return false;
    if (!limit_granularity_ok(static_cast<uint32_t>(v.v[g.limit]), x)) return false;
  }
  return true;
}

/// 27.3.1.2: selectors of TR/LDTR, bases, and the TR and LDTR access rights.
bool system_segments_and_bases_ok(const Vmcs& v, const SegmentContext& c) {
  using cpu::spec::kAttrP;
  using cpu::spec::kAttrS;
  using cpu::spec::kAttrUnusable;
  auto ar = [&](F f) { return static_cast<uint32_t>(v.get(f)); };
  auto lim = [&](F f) { return static_cast<uint32_t>(v.get(f)); };
  uint32_t ldtr = ar(F::GUEST_LDTR_ACCESS_RIGHTS);
  bool ldtr_usable = !(ldtr & kAttrUnusable);
  if (v.get(F::GUEST_TR_SELECTOR) & 4) return false;
  if (ldtr_usable && (v.get(F::GUEST_LDTR_SELECTOR) & 4)) return false;
  for (F base : {F::GUEST_TR_BASE, F::GUEST_FS_BASE, F::GUEST_GS_BASE})
    if (!canonical(v.get(base), c.la57)) return false;
  if (ldtr_usable && !canonical(v.get(F::GUEST_LDTR_BASE), c.la57)) return false;
  if (v.get(F::GUEST_CS_BASE) >> 32) return false;
  for (int k : {kSs, kDs, kEs}) {
    const GuestSegmentSlots& g = kGuestSegmentSlots[k];
    if (!(v.v[g.access_rights] & kAttrUnusable) && (v.v[g.base] >> 32)) return false;
  }
  // TR
  uint32_t tr = ar(F::GUEST_TR_ACCESS_RIGHTS);
  unsigned tr_type = tr & 15;
  if (tr & kAttrUnusable) return false;
  if (!(tr_type == 11 || (!c.ia32e && tr_type == 3))) return false;
  if ((tr & kAttrS) || !(tr & kAttrP) || (tr & kArReserved)) return false;
  if (!limit_granularity_ok(lim(F::GUEST_TR_LIMIT), tr)) return false;
  // LDTR
  if (ldtr_usable) {
    if ((ldtr & 15) != 2 || (ldtr & kAttrS) || !(ldtr & kAttrP) || (ldtr & kArReserved))
      return false;
    if (!limit_granularity_ok(lim(F::GUEST_LDTR_LIMIT), ldtr)) return false;
  }
  return true;
}

}  // namespace

VmInstructionError Vmx::check_controls() const {
  constexpr auto kBad = VmInstructionError::VM_ENTRY_WITH_INVALID_CONTROL_FIELDS;
  const Vmcs& v = vmcs_;
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  auto proc_c = static_cast<uint32_t>(v.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  auto exit_c = static_cast<uint32_t>(v.get(F::PRIMARY_VM_EXIT_CONTROLS));
  auto entry_c = static_cast<uint32_t>(v.get(F::VM_ENTRY_CONTROLS));
  // 27.2.1.1 VM-execution controls
  if (!controls_ok(pin_c, capability(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS)) ||
      !controls_ok(proc_c, capability(VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS)) ||
      !controls_ok(exit_c, capability(VmxMsr::IA32_VMX_TRUE_EXIT_CTLS)) ||
      !controls_ok(entry_c, capability(VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS)))
    return kBad;
  bool unrestricted = false;
  if (proc_c & proc::kActivateSecondaryControls) {
    auto p2 = static_cast<uint32_t>(v.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
    if (!controls_ok(p2, capability(VmxMsr::IA32_VMX_PROCBASED_CTLS2))) return kBad;
    // SDM 27.2.1.1: "unrestricted guest" requires "enable EPT".
    if ((p2 & proc2::kUnrestrictedGuest) && !(p2 & proc2::kEnableEpt)) return kBad;
    unrestricted = p2 & proc2::kUnrestrictedGuest;
  }
  if (v.get(F::CR3_TARGET_COUNT) > caps::kCr3TargetCount) return kBad;
  if ((proc_c & proc::kUseIoBitmaps) && (!page_address_ok(v.get(F::ADDRESS_OF_IO_BITMAP_A)) ||
                                         !page_address_ok(v.get(F::ADDRESS_OF_IO_BITMAP_B))))
    return kBad;
  if ((proc_c & proc::kUseMsrBitmaps) && !page_address_ok(v.get(F::ADDRESS_OF_MSR_BITMAPS)))
    return kBad;
  if (proc_c & proc::kUseTprShadow) {
    // Without virtual-interrupt delivery TPR-threshold bits 31:4 are 0, and without
    // APIC-access virtualization bits 3:0 are not above VTPR bits 7:4 (a memory read, made
    // only with the TPR shadow).
    uint64_t va = v.get(F::VIRTUAL_APIC_ADDRESS);
    uint64_t threshold = v.get(F::TPR_THRESHOLD);
    if (!page_address_ok(va) || (threshold >> 4)) return kBad;
    if (threshold > (c_.phys_read(va + kVtprOffset, 1) >> 4)) return kBad;
  }
  if (!(pin_c & pin::kNmiExiting) && (pin_c & pin::kVirtualNmis)) return kBad;
  if (!(pin_c & pin::kVirtualNmis) && (proc_c & proc::kNmiWindowExiting)) return kBad;
  if (!ept_controls_ok()) return kBad;  // VPID and EPTP (ept.cpp)
  // 27.2.1.2 VM-exit controls
  if (!(pin_c & pin::kActivateVmxPreemptionTimer) &&
      (exit_c & exit_ctl::kSaveVmxPreemptionTimerValue))
    return kBad;
  if (!msr_list_ok(v.get(F::VM_EXIT_MSR_STORE_ADDRESS), v.get(F::VM_EXIT_MSR_STORE_COUNT)) ||
      !msr_list_ok(v.get(F::VM_EXIT_MSR_LOAD_ADDRESS), v.get(F::VM_EXIT_MSR_LOAD_COUNT)))
    return kBad;
  // 27.2.1.3 VM-entry controls: event injection, then the MSR-load list.
  auto info = static_cast<uint32_t>(v.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
  if (info & kIntrInfoValid) {
    auto type = static_cast<InterruptionType>((info >> kIntrInfoTypeShift) & 7);
    unsigned vec = info & kIntrInfoVectorMask;
    if (type == InterruptionType::kReserved) return kBad;
    if (type == InterruptionType::kNmi && vec != 2) return kBad;
    if (type == InterruptionType::kHardwareException && vec > 31) return kBad;
    if (type == InterruptionType::kOtherEvent && vec != 0) return kBad;
    // Why: "unrestricted guest" 0 counts as protected mode here even with CR0.PE = 0 (that
    // guest state fails later, but this check is on the controls and comes first).
    bool prot = !unrestricted || (v.get(F::GUEST_CR0) & kCr0PE);
    bool want_error =
        prot && type == InterruptionType::kHardwareException && error_code_exception(vec);
    if (static_cast<bool>(info & kIntrInfoErrorCodeValid) != want_error) return kBad;
    if (info & kIntrInfoEntryReserved) return kBad;
    if ((info & kIntrInfoErrorCodeValid) && (v.get(F::VM_ENTRY_EXCEPTION_ERROR_CODE) >> 16))
      return kBad;
    if (type == InterruptionType::kSoftwareInterrupt ||
        type == InterruptionType::kPrivilegedSoftwareException ||
        type == InterruptionType::kSoftwareException) {
      uint64_t len = v.get(F::VM_ENTRY_INSTRUCTION_LENGTH);
      if (len == 0 || len > 15) return kBad;  // IA32_VMX_MISC bit 30 (length 0) is 0
    }
  }
  if (!msr_list_ok(v.get(F::VM_ENTRY_MSR_LOAD_ADDRESS), v.get(F::VM_ENTRY_MSR_LOAD_COUNT)))
    return kBad;
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
  // 27.2.2 host control registers and MSRs
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
  // 27.2.3 host segment and descriptor-table registers
  for (F sel : {F::HOST_ES_SELECTOR, F::HOST_CS_SELECTOR, F::HOST_SS_SELECTOR, F::HOST_DS_SELECTOR,
                F::HOST_FS_SELECTOR, F::HOST_GS_SELECTOR, F::HOST_TR_SELECTOR})
    if (v.get(sel) & 7) return kBad;
  if (v.get(F::HOST_CS_SELECTOR) == 0 || v.get(F::HOST_TR_SELECTOR) == 0) return kBad;
  if (!host64 && v.get(F::HOST_SS_SELECTOR) == 0) return kBad;
  for (F base :
       {F::HOST_FS_BASE, F::HOST_GS_BASE, F::HOST_TR_BASE, F::HOST_GDTR_BASE, F::HOST_IDTR_BASE})
    if (!canonical(v.get(base), la57)) return kBad;
  // 27.2.4 address-space size
  if (c_.long_mode_) {
    if (!host64) return kBad;
  } else if (host64 || (entry_c & entry_ctl::kIa32eModeGuest)) {
    return kBad;
  }
  uint64_t rip = v.get(F::HOST_RIP);
  if (host64) {
    if (!(cr4 & kCr4PAE) || !canonical(rip, la57)) return kBad;
  } else if ((entry_c & entry_ctl::kIa32eModeGuest) || (cr4 & kCr4PCIDE) || (rip >> 32)) {
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
  // 27.3.1.2 segment registers: the guest "will be virtual-8086" if RFLAGS.VM is 1 (an
  // RFLAGS.VM that is not allowed fails below, 27.3.1.4).
  uint64_t rflags = v.get(F::GUEST_RFLAGS);
  bool v8086 = rflags & kFlagVM;
  SegmentContext seg_ctx{ia32e, unrestricted, pe, la57};
  // Why the memo: between two VM exits a guest rarely changes a segment register, and these
  // checks are most of the guest-state checks' cost.
  std::array<uint64_t, 32> seg_fields;
  for (unsigned k = 0; k < 8; ++k) {
    const GuestSegmentSlots& g = kGuestSegmentSlots[k];
    seg_fields[4 * k] = v.v[g.selector];
    seg_fields[4 * k + 1] = v.v[g.base];
    seg_fields[4 * k + 2] = v.v[g.limit];
    seg_fields[4 * k + 3] = v.v[g.access_rights];
  }
  auto mode = static_cast<uint8_t>(ia32e | unrestricted << 1 | pe << 2 | la57 << 3 | v8086 << 4);
  SegmentCheckMemo& memo = segment_memo_;
  if (!memo.valid || memo.mode != mode || memo.fields != seg_fields) {
    if (!system_segments_and_bases_ok(v, seg_ctx)) return false;
    if (v8086 ? !v8086_segments_ok(v) : !protected_segments_ok(v, seg_ctx)) return false;
    memo = SegmentCheckMemo{true, mode, seg_fields};
  }
  // 27.3.1.3 descriptor-table registers
  if (!canonical(v.get(F::GUEST_GDTR_BASE), la57) || !canonical(v.get(F::GUEST_IDTR_BASE), la57))
    return false;
  if ((v.get(F::GUEST_GDTR_LIMIT) >> 16) || (v.get(F::GUEST_IDTR_LIMIT) >> 16)) return false;
  // 27.3.1.4 RIP and RFLAGS
  uint64_t rip = v.get(F::GUEST_RIP);
  uint32_t cs = static_cast<uint32_t>(v.get(F::GUEST_CS_ACCESS_RIGHTS));
  if (!ia32e || !(cs & cpu::spec::kAttrL)) {
    if (rip >> 32) return false;
  } else if (!canonical(rip, la57)) {
    return false;
  }
  constexpr uint64_t kRflagsReserved = ~((1ull << 22) - 1) | (1u << 15) | (1u << 5) | (1u << 3);
  if ((rflags & kRflagsReserved) || !(rflags & 2)) return false;
  if ((ia32e || !pe) && v8086) return false;
  auto info = static_cast<uint32_t>(v.get(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD));
  bool inject = info & kIntrInfoValid;
  auto itype = static_cast<InterruptionType>((info >> kIntrInfoTypeShift) & 7);
  if (inject && itype == InterruptionType::kExternalInterrupt && !(rflags & kFlagIF)) return false;
  // 27.3.1.5 non-register state: activity state
  uint64_t activity = v.get(F::GUEST_ACTIVITY_STATE);
  uint64_t intr = v.get(F::GUEST_INTERRUPTIBILITY_STATE);
  if (!activity_state_ok(activity, dpl(static_cast<uint32_t>(v.get(F::GUEST_SS_ACCESS_RIGHTS))),
                         intr, inject ? info : 0))
    return false;
  // interruptibility state
  if (intr & kInterruptibilityReserved) return false;
  if ((intr & kBlockingBySti) && (intr & kBlockingByMovSs)) return false;
  if (!(rflags & kFlagIF) && (intr & kBlockingBySti)) return false;
  if (inject && itype == InterruptionType::kExternalInterrupt &&
      (intr & (kBlockingBySti | kBlockingByMovSs)))
    return false;
  if (inject && itype == InterruptionType::kNmi && (intr & kBlockingByMovSs)) return false;
  if (intr & (kBlockingBySmi | kEnclaveInterruption)) return false;  // not in SMM; no SGX
  if (inject && itype == InterruptionType::kNmi && (pin_c & pin::kVirtualNmis) &&
      (intr & kBlockingByNmi))
    return false;
  // pending debug exceptions: B3-B0, enabled breakpoint (12), BS (14); bit 16 (RTM) needs
  // RTM, which hvsim lacks.
  uint64_t pdbg = v.get(F::GUEST_PENDING_DEBUG_EXCEPTIONS);
  constexpr uint64_t kPdbgAllowed = 0xF | (1u << 12) | (1u << 14);
  if (pdbg & ~kPdbgAllowed) return false;
  if ((intr & (kBlockingBySti | kBlockingByMovSs)) ||
      activity == static_cast<uint64_t>(ActivityState::kHlt)) {
    // Why: the SDM names the BTF bit of the IA32_DEBUGCTL field, whether or not "load
    // debug controls" loads it.
    bool tf = rflags & kFlagTF;
    bool btf = v.get(F::GUEST_IA32_DEBUGCTL) & 2;
    bool bs = pdbg & (1u << 14);
    if (tf && !btf && !bs) return false;
    if ((!tf || btf) && bs) return false;
  }
  // VMCS link pointer: ~0, or an ordinary VMCS region of our revision (no VMCS shadowing).
  uint64_t link = v.get(F::VMCS_LINK_POINTER);
  if (link != ~0ull) {
    *qualification = static_cast<uint64_t>(EntryFailureQualification::kInvalidVmcsLinkPointer);
    if (!page_address_ok(link)) return false;
    if (c_.phys_read(link, 4) != caps::kRevisionId) return false;  // bit 31 (shadow) = 0
    *qualification = static_cast<uint64_t>(EntryFailureQualification::kDefault);
  }
  // 27.3.1.6 PDPTEs (PAE paging outside IA-32e mode)
  if (!ia32e && (cr0 & kCr0PG) && (cr4 & kCr4PAE)) {
    if (ept_enabled()) return ept_load_pdptes(false);  // the VMCS fields
    uint64_t pdpte[4];
    if (!c_.load_pdptes(v.get(F::GUEST_CR3) & 0xFFFFFFE0, pdpte)) {
      *qualification = static_cast<uint64_t>(EntryFailureQualification::kPdpteLoading);
      return false;
    }
  }
  return true;
}

}  // namespace hvsim::cpu::vmx
