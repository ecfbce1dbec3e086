// VMX capability MSRs and IA32_FEATURE_CONTROL (Intel SDM Vol. 3C Appendix A "VMX capability
// reporting facility"; Vol. 4 Table 2-2; Vol. 3C 24.7 "Enabling and entering VMX operation").
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

/// The VMX MSRs (names as in SDM Vol. 4 Table 2-2).
enum class VmxMsr : uint32_t {
  IA32_FEATURE_CONTROL = 0x3A,
  IA32_VMX_BASIC = 0x480,
  IA32_VMX_PINBASED_CTLS = 0x481,
  IA32_VMX_PROCBASED_CTLS = 0x482,
  IA32_VMX_EXIT_CTLS = 0x483,
  IA32_VMX_ENTRY_CTLS = 0x484,
  IA32_VMX_MISC = 0x485,
  IA32_VMX_CR0_FIXED0 = 0x486,
  IA32_VMX_CR0_FIXED1 = 0x487,
  IA32_VMX_CR4_FIXED0 = 0x488,
  IA32_VMX_CR4_FIXED1 = 0x489,
  IA32_VMX_VMCS_ENUM = 0x48A,
  IA32_VMX_PROCBASED_CTLS2 = 0x48B,
  IA32_VMX_EPT_VPID_CAP = 0x48C,
  IA32_VMX_TRUE_PINBASED_CTLS = 0x48D,
  IA32_VMX_TRUE_PROCBASED_CTLS = 0x48E,
  IA32_VMX_TRUE_EXIT_CTLS = 0x48F,
  IA32_VMX_TRUE_ENTRY_CTLS = 0x490,
  IA32_VMX_VMFUNC = 0x491,
};

inline const char* to_string(VmxMsr m) {
  switch (m) {
    case VmxMsr::IA32_FEATURE_CONTROL: return "IA32_FEATURE_CONTROL";
    case VmxMsr::IA32_VMX_BASIC: return "IA32_VMX_BASIC";
    case VmxMsr::IA32_VMX_PINBASED_CTLS: return "IA32_VMX_PINBASED_CTLS";
    case VmxMsr::IA32_VMX_PROCBASED_CTLS: return "IA32_VMX_PROCBASED_CTLS";
    case VmxMsr::IA32_VMX_EXIT_CTLS: return "IA32_VMX_EXIT_CTLS";
    case VmxMsr::IA32_VMX_ENTRY_CTLS: return "IA32_VMX_ENTRY_CTLS";
    case VmxMsr::IA32_VMX_MISC: return "IA32_VMX_MISC";
    case VmxMsr::IA32_VMX_CR0_FIXED0: return "IA32_VMX_CR0_FIXED0";
    case VmxMsr::IA32_VMX_CR0_FIXED1: return "IA32_VMX_CR0_FIXED1";
    case VmxMsr::IA32_VMX_CR4_FIXED0: return "IA32_VMX_CR4_FIXED0";
    case VmxMsr::IA32_VMX_CR4_FIXED1: return "IA32_VMX_CR4_FIXED1";
    case VmxMsr::IA32_VMX_VMCS_ENUM: return "IA32_VMX_VMCS_ENUM";
    case VmxMsr::IA32_VMX_PROCBASED_CTLS2: return "IA32_VMX_PROCBASED_CTLS2";
    case VmxMsr::IA32_VMX_EPT_VPID_CAP: return "IA32_VMX_EPT_VPID_CAP";
    case VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS: return "IA32_VMX_TRUE_PINBASED_CTLS";
    case VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS: return "IA32_VMX_TRUE_PROCBASED_CTLS";
    case VmxMsr::IA32_VMX_TRUE_EXIT_CTLS: return "IA32_VMX_TRUE_EXIT_CTLS";
    case VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS: return "IA32_VMX_TRUE_ENTRY_CTLS";
    case VmxMsr::IA32_VMX_VMFUNC: return "IA32_VMX_VMFUNC";
  }
  return "unknown VMX MSR";
}

// IA32_FEATURE_CONTROL (SDM 24.7): lock, VMX inside SMX, VMX outside SMX.
constexpr uint64_t kFeatureControlLock = 1u << 0;
constexpr uint64_t kFeatureControlVmxInSmx = 1u << 1;
constexpr uint64_t kFeatureControlVmxOutsideSmx = 1u << 2;

// IA32_VMX_BASIC (SDM A.1).
/// Bits 30:0: VMCS revision identifier.
constexpr uint64_t kBasicRevisionMask = 0x7FFFFFFF;
/// Bits 44:32: bytes software should allocate for the VMXON region and any VMCS region.
constexpr unsigned kBasicRegionSizeShift = 32;
/// Bit 48: 1 = VMXON/VMCS/bitmap addresses limited to 32 bits.
constexpr uint64_t kBasicAddresses32 = 1ull << 48;
/// Bit 49: dual-monitor treatment of SMIs and SMM supported.
constexpr uint64_t kBasicDualMonitor = 1ull << 49;
/// Bits 53:50: memory type of VMCS accesses (6 = write-back).
constexpr unsigned kBasicMemoryTypeShift = 50;
constexpr uint64_t kMemoryTypeWriteBack = 6;
/// Bit 54: VM exits for INS/OUTS report instruction information.
constexpr uint64_t kBasicInsOutsInfo = 1ull << 54;
/// Bit 55: the IA32_VMX_TRUE_*_CTLS MSRs exist (default1 controls may be 0).
constexpr uint64_t kBasicTrueControls = 1ull << 55;
/// Bit 56: hardware exceptions may be injected with or without an error code.
constexpr uint64_t kBasicNoErrorCodeRequirement = 1ull << 56;

// IA32_VMX_MISC (SDM A.6).
/// Bits 4:0: the VMX-preemption timer counts down by 1 each time TSC bit X changes.
constexpr uint64_t kMiscPreemptionTimerRateMask = 0x1F;
/// Bit 5: VM exits store EFER.LMA into the "IA-32e mode guest" VM-entry control.
constexpr uint64_t kMiscStoresLma = 1u << 5;
/// Bits 8:6: activity states supported: HLT (6), shutdown (7), wait-for-SIPI (8).
constexpr uint64_t kMiscActivityHlt = 1u << 6;
constexpr uint64_t kMiscActivityShutdown = 1u << 7;
constexpr uint64_t kMiscActivityWaitForSipi = 1u << 8;
/// Bits 24:16: number of CR3-target values.
constexpr unsigned kMiscCr3TargetsShift = 16;
/// Bits 27:25: recommended maximum MSR-list entries is 512 * (N + 1).
constexpr unsigned kMiscMsrListShift = 25;
/// Bit 29: VMWRITE may write the VM-exit information fields.
constexpr uint64_t kMiscVmwriteExitInfo = 1u << 29;
/// Bit 30: software interrupts/exceptions may be injected with instruction length 0.
constexpr uint64_t kMiscInjectLengthZero = 1u << 30;

}  // namespace hvsim::cpu::vmx::spec
