// VMX operation: IA32_FEATURE_CONTROL and the capability MSRs, VMXON, VMXOFF, VMCLEAR,
// VMPTRLD, VMPTRST, VMREAD, VMWRITE and VMCALL in root operation; the VMCS region in memory;
// checkpoints of the VMX state (Intel SDM Vol. 3C ch. 24 "Introduction to VMX operation",
// 25.11 "Software use of the VMCS", 31 "VMX instruction reference"; Appendix A).
#include <string>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/state.h"
#include "cpu/cpu_impl.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/spec/ept.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;

const char* to_string(VmStatus s) {
  switch (s) {
    case VmStatus::kSucceed: return "VMsucceed";
    case VmStatus::kFailInvalid: return "VMfailInvalid";
    case VmStatus::kFailValid: return "VMfailValid";
    case VmStatus::kFault: return "fault";
  }
  return "?";
}

namespace {
constexpr uint64_t kInvalidPointer = ~0ull;
/// CR0 bits fixed to 1 in VMX operation (PE, NE, PG) and CR4.VMXE (SDM A.7, A.8).
constexpr uint64_t kCr0Fixed0 = kCr0PE | kCr0NE | kCr0PG;
/// The same for an unrestricted guest (SDM 25.6.2 note): PE and PG may be 0.
constexpr uint64_t kCr0Fixed0UnrestrictedGuest = kCr0NE;
constexpr uint64_t kCr4Fixed0 = kCr4VMXE;
/// Every CR4 bit the processor implements (cpu/exec_system.cpp write_cr) may be 1.
constexpr uint64_t kCr4Fixed1 = (1u << 2) | (1u << 3) | kCr4PSE | kCr4PAE | (1u << 6) | kCr4PGE |
                                (1u << 8) | kCr4OSFXSR | kCr4OSXMMEXCPT | kCr4LA57 | kCr4VMXE |
                                kCr4FSGSBASE | kCr4PCIDE | kCr4OSXSAVE | kCr4SMEP | kCr4SMAP;

/// allowed-0 settings in bits 31:0, allowed-1 settings in bits 63:32 (SDM A.3).
constexpr uint64_t ctls(uint32_t must_be_1, uint32_t may_be_1) {
  return (uint64_t{may_be_1 | must_be_1} << 32) | must_be_1;
}

// The controls hvsim implements (allowed-1 settings beyond the default1 bits).
constexpr uint32_t kPinImplemented = pin::kExternalInterruptExiting | pin::kNmiExiting |
                                     pin::kVirtualNmis | pin::kActivateVmxPreemptionTimer;
constexpr uint32_t kProcImplemented =
    proc::kInterruptWindowExiting | proc::kUseTscOffsetting | proc::kHltExiting |
    proc::kInvlpgExiting | proc::kMwaitExiting | proc::kRdpmcExiting | proc::kRdtscExiting |
    proc::kCr3LoadExiting | proc::kCr3StoreExiting | proc::kCr8LoadExiting |
    proc::kCr8StoreExiting | proc::kUseTprShadow | proc::kNmiWindowExiting | proc::kMovDrExiting |
    proc::kUnconditionalIoExiting | proc::kUseIoBitmaps | proc::kMonitorTrapFlag |
    proc::kUseMsrBitmaps | proc::kMonitorExiting | proc::kPauseExiting |
    proc::kActivateSecondaryControls;
constexpr uint32_t kProc2Implemented =
    proc2::kEnableEpt | proc2::kDescriptorTableExiting | proc2::kEnableRdtscp | proc2::kEnableVpid |
    proc2::kUnrestrictedGuest | proc2::kWbinvdExiting | proc2::kEnableInvpcid;
/// EPT and VPID capabilities (SDM A.10): 4- and 5-level walks, UC and WB, 2 MiB and 1 GiB
/// pages, A/D flags, INVEPT and INVVPID with every type. No execute-only translations.
constexpr uint64_t kEptVpidCap =
    ept_cap::kWalkLength4 | ept_cap::kWalkLength5 | ept_cap::kUncacheable | ept_cap::kWriteBack |
    ept_cap::kPde2M | ept_cap::kPdpte1G | ept_cap::kInvept | ept_cap::kAccessedDirty |
    ept_cap::kInveptSingleContext | ept_cap::kInveptAllContext | ept_cap::kInvvpid |
    ept_cap::kInvvpidIndividualAddress | ept_cap::kInvvpidSingleContext |
    ept_cap::kInvvpidAllContext | ept_cap::kInvvpidSingleContextRetainingGlobals;
constexpr uint32_t kExitImplemented =
    exit_ctl::kSaveDebugControls | exit_ctl::kHostAddressSpaceSize |
    exit_ctl::kAcknowledgeInterruptOnExit | exit_ctl::kSaveIa32Pat | exit_ctl::kLoadIa32Pat |
    exit_ctl::kSaveIa32Efer | exit_ctl::kLoadIa32Efer | exit_ctl::kSaveVmxPreemptionTimerValue;
constexpr uint32_t kEntryImplemented = entry_ctl::kLoadDebugControls | entry_ctl::kIa32eModeGuest |
                                       entry_ctl::kLoadIa32Pat | entry_ctl::kLoadIa32Efer;
}  // namespace

Vmx::Vmx(CpuImpl& c) : c_(c) {}

void Vmx::power_on_reset() {
  leave_operation();
  feature_control_ = 0;
  vmxon_ptr_ = 0;
}

void Vmx::leave_operation() {
  on_ = false;
  non_root_ = false;
  c_.vmx_non_root_ = false;
  current_ = kInvalidPointer;
  vmcs_ = Vmcs{};
  c_.vmx_ept_ = false;
  timer_deadline_ = ~0ull;
  c_.vmx_timer_deadline_ = ~0ull;
  mtf_ = 0;
  // Why: an INIT blocked in VMX root operation is delivered at the next boundary.
  c_.attention_ = true;
}

// ---- MSRs ----

uint64_t Vmx::capability(VmxMsr m) {
  switch (m) {
    case VmxMsr::IA32_VMX_BASIC:
      return caps::kRevisionId | (uint64_t{region::kSize} << kBasicRegionSizeShift) |
             (kMemoryTypeWriteBack << kBasicMemoryTypeShift) | kBasicInsOutsInfo |
             kBasicTrueControls;
    case VmxMsr::IA32_VMX_PINBASED_CTLS:
    case VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS: return ctls(pin::kDefault1, kPinImplemented);
    case VmxMsr::IA32_VMX_PROCBASED_CTLS: return ctls(proc::kDefault1, kProcImplemented);
    case VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS: return ctls(proc::kTrueDefault1, kProcImplemented);
    case VmxMsr::IA32_VMX_EXIT_CTLS: return ctls(exit_ctl::kDefault1, kExitImplemented);
    case VmxMsr::IA32_VMX_TRUE_EXIT_CTLS: return ctls(exit_ctl::kTrueDefault1, kExitImplemented);
    case VmxMsr::IA32_VMX_ENTRY_CTLS: return ctls(entry_ctl::kDefault1, kEntryImplemented);
    case VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS: return ctls(entry_ctl::kTrueDefault1, kEntryImplemented);
    case VmxMsr::IA32_VMX_MISC:
      return caps::kPreemptionTimerRate | kMiscStoresLma | kMiscActivityHlt |
             kMiscActivityShutdown | kMiscActivityWaitForSipi |
             (uint64_t{caps::kCr3TargetCount} << kMiscCr3TargetsShift);
    case VmxMsr::IA32_VMX_CR0_FIXED0: return kCr0Fixed0;
    case VmxMsr::IA32_VMX_CR0_FIXED1: return 0xFFFFFFFF;
    case VmxMsr::IA32_VMX_CR4_FIXED0: return kCr4Fixed0;
    case VmxMsr::IA32_VMX_CR4_FIXED1: return kCr4Fixed1;
    case VmxMsr::IA32_VMX_VMCS_ENUM: return uint64_t{kHighestIndex} << 1;
    case VmxMsr::IA32_VMX_PROCBASED_CTLS2: return ctls(0, kProc2Implemented);
    case VmxMsr::IA32_VMX_EPT_VPID_CAP: return kEptVpidCap;
    default: return 0;
  }
}

bool Vmx::read_msr(uint32_t msr, uint64_t* v) const {
  auto m = static_cast<VmxMsr>(msr);
  if (m == VmxMsr::IA32_FEATURE_CONTROL) {
    *v = feature_control_;
    return true;
  }
  // IA32_VMX_VMFUNC exists only with "enable VM functions" (not implemented): #GP.
  if (m == VmxMsr::IA32_VMX_VMFUNC) return false;
  *v = capability(m);
  return true;
}

bool Vmx::write_msr(uint32_t msr, uint64_t v) {
  // The capability MSRs are read-only; IA32_FEATURE_CONTROL is writable until locked.
  // Only the lock and "enable VMX outside SMX" bits exist (no SMX, no SGX, no LMCE).
  if (static_cast<VmxMsr>(msr) != VmxMsr::IA32_FEATURE_CONTROL) return false;
  if (feature_control_ & kFeatureControlLock) return false;
  if (v & ~(kFeatureControlLock | kFeatureControlVmxOutsideSmx)) return false;
  feature_control_ = v;
  return true;
}

bool Vmx::cr_write_allowed(unsigned cr, uint64_t v) const {
  // SDM 25.3 / A.7: an unrestricted guest may clear CR0.PE and CR0.PG.
  if (cr == 0) {
    uint64_t fixed0 =
        c_.vmx_non_root_ && unrestricted_guest() ? kCr0Fixed0UnrestrictedGuest : kCr0Fixed0;
    return (v & fixed0) == fixed0;
  }
  if (cr == 4) return (v & kCr4Fixed0) == kCr4Fixed0 && !(v & ~kCr4Fixed1);
  return true;
}

bool Vmx::unrestricted_guest() const {
  using F = VmcsField;
  auto proc_c = static_cast<uint32_t>(vmcs_.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  if (!(proc_c & proc::kActivateSecondaryControls)) return false;
  auto p2 = static_cast<uint32_t>(vmcs_.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  return p2 & proc2::kUnrestrictedGuest;
}

// ---- results ----

VmResult Vmx::fail_valid(VmInstructionError e) {
  if (current_ == kInvalidPointer) return fail_invalid();
  vmcs_.set(VmcsField::VM_INSTRUCTION_ERROR, static_cast<uint32_t>(e));
  return {VmStatus::kFailValid, e, 0};
}

// ---- instruction checks ----

void Vmx::check_mode() const {
  if (!c_.protected_ || (c_.s_.rflags & kFlagVM) || (c_.long_mode_ && !c_.long64_)) raise_ud();
}

void Vmx::check_instruction() const {
  check_mode();
  // Why non_root_: guest instructions exit before getting here; a C++ caller (vmx_api.h)
  // using the operations while its guest is still running gets #UD, never a nested entry.
  if (!on_ || non_root_) raise_ud();
  if (c_.cpl_ != 0) raise_gp(0);
}

bool Vmx::valid_region_address(uint64_t pa) const {
  return (pa & 0xFFF) == 0 && (pa >> cpu::spec::kMaxPhysAddrBits) == 0;
}

// ---- the VMCS region ----

void Vmx::write_back_current() {
  if (current_ == kInvalidPointer) return;
  for (unsigned k = 0; k < kNumFields; ++k)
    c_.phys_write(current_ + region::kFields + 8 * k, 8, vmcs_.v[k]);
  c_.phys_write(current_ + region::kLaunchState, 4, vmcs_.launched ? 1 : 0);
}

void Vmx::load_region(uint64_t pa) {
  for (unsigned k = 0; k < kNumFields; ++k) {
    uint32_t enc = static_cast<uint32_t>(kSupportedFields[k]);
    vmcs_.v[k] = Vmcs::truncate(enc, c_.phys_read(pa + region::kFields + 8 * k, 8));
  }
  vmcs_.checked = false;
  uint32_t ls = static_cast<uint32_t>(c_.phys_read(pa + region::kLaunchState, 4));
  vmcs_.launched = ls != 0;
  stale_launch_ = ls == 2;
}

// ---- the instructions ----

bool Vmx::check_vmxon() const {
  // SDM Vol. 2 "VMXON" operation, in order (the non-root VM exit is the caller's).
  if (!(c_.s_.cr4 & kCr4VMXE) || non_root_) raise_ud();
  check_mode();
  if (on_) {
    if (c_.cpl_ != 0) raise_gp(0);
    return false;
  }
  if (c_.cpl_ != 0 || !cr_write_allowed(0, c_.s_.cr0) || !cr_write_allowed(4, c_.s_.cr4) ||
      !(feature_control_ & kFeatureControlLock) ||
      !(feature_control_ & kFeatureControlVmxOutsideSmx))
    raise_gp(0);
  return true;
}

VmResult Vmx::vmxon(uint64_t pa) {
  if (!check_vmxon()) return fail_valid(VmInstructionError::VMXON_IN_VMX_ROOT_OPERATION);
  if (!valid_region_address(pa)) return fail_invalid();
  uint32_t rev = static_cast<uint32_t>(c_.phys_read(pa, 4));
  if (rev != caps::kRevisionId) return fail_invalid();  // also rejects bit 31 set
  on_ = true;
  vmxon_ptr_ = pa;
  current_ = kInvalidPointer;
  return succeed();
}

VmResult Vmx::vmxoff() {
  check_instruction();
  // Why: keep the current VMCS's data in its region, marked so that a VMRESUME after a
  // later VMXON + VMPTRLD fails with error 6 as the SDM says.
  if (current_ != kInvalidPointer) {
    write_back_current();
    if (vmcs_.launched) c_.phys_write(current_ + region::kLaunchState, 4, 2);
  }
  leave_operation();
  return succeed();
}

VmResult Vmx::vmclear(uint64_t pa) {
  check_instruction();
  if (!valid_region_address(pa))
    return fail_valid(VmInstructionError::VMCLEAR_WITH_INVALID_PHYSICAL_ADDRESS);
  if (pa == vmxon_ptr_) return fail_valid(VmInstructionError::VMCLEAR_WITH_VMXON_POINTER);
  if (pa == current_) {
    vmcs_.launched = false;
    write_back_current();
    current_ = kInvalidPointer;
  } else {
    c_.phys_write(pa + region::kLaunchState, 4, 0);
  }
  return succeed();
}

VmResult Vmx::vmptrld(uint64_t pa) {
  check_instruction();
  if (!valid_region_address(pa))
    return fail_valid(VmInstructionError::VMPTRLD_WITH_INVALID_PHYSICAL_ADDRESS);
  if (pa == vmxon_ptr_) return fail_valid(VmInstructionError::VMPTRLD_WITH_VMXON_POINTER);
  uint32_t rev = static_cast<uint32_t>(c_.phys_read(pa, 4));
  if (rev != caps::kRevisionId)
    return fail_valid(VmInstructionError::VMPTRLD_WITH_INCORRECT_VMCS_REVISION_IDENTIFIER);
  if (pa != current_) {
    write_back_current();
    current_ = pa;
    load_region(pa);
  }
  return succeed();
}

uint64_t Vmx::vmptrst() {
  check_instruction();
  return current_;
}

VmResult Vmx::vmread(uint64_t encoding, uint64_t* value) {
  check_instruction();
  return vmread_field(encoding, value);
}

VmResult Vmx::vmread_field(uint64_t encoding, uint64_t* value) {
  if (current_ == kInvalidPointer) return fail_invalid();
  unsigned s = slot_of(encoding);
  if (s == kNoSlot)
    return fail_valid(VmInstructionError::VMREAD_VMWRITE_UNSUPPORTED_VMCS_COMPONENT);
  uint64_t v = vmcs_.v[s];
  *value = (encoding & kEncodingHigh) ? v >> 32 : v;
  return succeed();
}

VmResult Vmx::vmwrite(uint64_t encoding, uint64_t value) {
  check_instruction();
  return vmwrite_field(encoding, value);
}

VmResult Vmx::vmwrite_field(uint64_t encoding, uint64_t value) {
  if (current_ == kInvalidPointer) return fail_invalid();
  unsigned s = slot_of(encoding);
  if (s == kNoSlot)
    return fail_valid(VmInstructionError::VMREAD_VMWRITE_UNSUPPORTED_VMCS_COMPONENT);
  uint32_t e = static_cast<uint32_t>(encoding);
  if (encoding_type(e) == FieldType::kExitInformation)
    return fail_valid(VmInstructionError::VMWRITE_TO_READ_ONLY_VMCS_COMPONENT);
  if (Vmcs::affects_checks(e)) vmcs_.checked = false;
  uint64_t& f = vmcs_.v[s];
  if (e & kEncodingHigh)
    f = (f & 0xFFFFFFFF) | (value << 32);
  else
    f = Vmcs::truncate(e, value);
  return succeed();
}

VmResult Vmx::vmcall_root() {
  check_instruction();
  // No dual-monitor treatment of SMIs: VMCALL in root operation always fails.
  return fail_valid(VmInstructionError::VMCALL_IN_VMX_ROOT_OPERATION);
}

// ---- checkpoints, hash, inspect ----

void Vmx::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 3);  // 2: EPT/VPID fields, 3: TPR-shadow fields
  w.u64("feature_control", feature_control_);
  w.boolean("on", on_);
  w.boolean("non_root", non_root_);
  w.u64("vmxon_ptr", vmxon_ptr_);
  w.u64("current", current_);
  w.bytes("vmcs", vmcs_.v.data(), sizeof(uint64_t) * kNumFields);
  w.boolean("launched", vmcs_.launched);
  w.boolean("stale_launch", stale_launch_);
  w.u64("timer_deadline", timer_deadline_);
  w.u8("mtf", mtf_);
  w.u64("mtf_insns", mtf_insns_);
  w.boolean("host_nmi_blocked", host_nmi_blocked_);
  w.u64("exits", exits_);
  w.u64("entries", entries_);
  w.end_section();
}

void Vmx::restore(StateReader& r, const std::string& section) {
  uint32_t version = r.begin_section(section);
  if (version < 1 || version > 3)
    throw InputError("checkpoint section " + section + ": unsupported version " +
                     std::to_string(version));
  feature_control_ = r.u64("feature_control");
  on_ = r.boolean("on");
  non_root_ = r.boolean("non_root");
  vmxon_ptr_ = r.u64("vmxon_ptr");
  current_ = r.u64("current");
  vmcs_ = Vmcs{};
  // Version 1 predates the EPT/VPID fields, version 2 the TPR-shadow fields (both appended
  // at the end of the slot list).
  unsigned fields = version == 1 ? kNumFieldsV1 : version == 2 ? kNumFieldsV2 : kNumFields;
  r.bytes_into("vmcs", vmcs_.v.data(), sizeof(uint64_t) * fields);
  vmcs_.launched = r.boolean("launched");
  stale_launch_ = r.boolean("stale_launch");
  timer_deadline_ = r.u64("timer_deadline");
  mtf_ = r.u8("mtf");
  mtf_insns_ = r.u64("mtf_insns");
  host_nmi_blocked_ = r.boolean("host_nmi_blocked");
  exits_ = r.u64("exits");
  entries_ = r.u64("entries");
  r.end_section();
  if (non_root_ && !on_)
    throw InputError("checkpoint section " + section + ": non-root without VMX operation");
  c_.vmx_non_root_ = non_root_;
  if (non_root_) ept_enter();  // EPTP, VPID and CpuImpl::vmx_ept_ from the VMCS
  c_.vmx_timer_deadline_ = timer_deadline_;
  if (timer_deadline_ < c_.wake_deadline_) c_.wake_deadline_ = timer_deadline_;
}

void Vmx::hash_into(Hasher& h) const {
  if (!feature_control_ && !on_) return;
  h.u64(feature_control_);
  h.u64(on_ | (non_root_ << 1) | (vmcs_.launched << 2) | (stale_launch_ << 3));
  h.u64(vmxon_ptr_);
  h.u64(current_);
  h.bytes(vmcs_.v.data(), sizeof(uint64_t) * kNumFields);
  h.u64(timer_deadline_);
  h.u64(mtf_);
  h.u64(mtf_insns_);
  h.u64(host_nmi_blocked_);
}

void Vmx::inspect(InspectNode& n) const {
  n.value("operation", !on_ ? "off" : non_root_ ? "non-root" : "root");
  n.counter("entries", entries_);
  n.counter("exits", exits_);
  InspectNode& by = n.child("exits_by_reason");
  for (unsigned r = 0; r < std::size(exits_by_reason_); ++r)
    if (exits_by_reason_[r]) by.counter(to_string(static_cast<ExitReason>(r)), exits_by_reason_[r]);
  ept_inspect(n);
}

}  // namespace hvsim::cpu::vmx
