// Hyper-V Top Level Functional Specification (TLFS) constants: synthetic CPUID leaves
// 0x40000000-0x4000000A, synthetic MSRs and their layouts, the x64 hypercall ABI (input value,
// result value, status codes, call codes), SynIC message and event-flags pages, the
// reference TSC page and the timer-expired message. Header-only, no behaviour.
//
// Every number comes from the project's dossier `shared/spec/hyperv-interfaces.md` (cited below
// as "dossier §n"), which in turn cites TLFS/*.md (MicrosoftDocs/Virtualization-Documentation),
// Linux include/hyperv/hvgdk_mini.h and OpenVMM vm/hv1. Names follow the TLFS / Linux spelling.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvsim::hv::spec {

// ---------------------------------------------------------------------------------------------
// 1. CPUID (dossier §1; TLFS/feature-discovery.md)
// ---------------------------------------------------------------------------------------------

/// Hypervisor CPUID leaves (dossier §1 table).
namespace cpuid_leaf {
constexpr uint32_t kVendorAndMaxFunctions = 0x40000000;  ///< EAX max leaf, EBX:ECX:EDX vendor
constexpr uint32_t kInterface = 0x40000001;              ///< EAX "Hv#1"
constexpr uint32_t kVersion = 0x40000002;                ///< build, major.minor, service pack
constexpr uint32_t kFeatures = 0x40000003;  ///< EAX/EBX privilege mask, ECX misc, EDX features
constexpr uint32_t kEnlightenmentInfo = 0x40000004;      ///< EAX recommendations, EBX spin retries
constexpr uint32_t kImplementationLimits = 0x40000005;   ///< max VPs, LPs, interrupt vectors
constexpr uint32_t kHardwareFeatures = 0x40000006;       ///< hardware features in use
constexpr uint32_t kCpuManagementFeatures = 0x40000007;  ///< root only
constexpr uint32_t kSvmFeatures = 0x40000008;            ///< (not described by the dossier)
constexpr uint32_t kNestedHypervisorFeatures = 0x40000009;
constexpr uint32_t kNestedOptimizations = 0x4000000A;
constexpr uint32_t kIsolationConfiguration = 0x4000000C;
/// Linux accepts a max leaf in [0x40000005, 0x4000FFFF] (dossier §1, L: mshyperv.c).
constexpr uint32_t kMinMaxLeafForLinux = 0x40000005;
constexpr uint32_t kMaxMaxLeafForLinux = 0x4000FFFF;
}  // namespace cpuid_leaf

/// "Microsoft Hv" in EBX, ECX, EDX of leaf 0x40000000 (dossier §1).
constexpr uint32_t kVendorEbx = 0x7263694D;  ///< "Micr"
constexpr uint32_t kVendorEcx = 0x666F736F;  ///< "osof"
constexpr uint32_t kVendorEdx = 0x76482074;  ///< "t Hv"
/// "Hv#1" in EAX of leaf 0x40000001 (dossier §1).
constexpr uint32_t kInterfaceHv1 = 0x31237648;

/// Partition privilege mask, low half = CPUID 0x40000003.EAX (dossier §1.1). As a 64-bit
/// HV_PARTITION_PRIVILEGE_MASK these are bits 0-31.
namespace privilege {
constexpr uint64_t kAccessVpRunTimeReg = 1ull << 0;
constexpr uint64_t kAccessPartitionReferenceCounter = 1ull << 1;
constexpr uint64_t kAccessSynicRegs = 1ull << 2;
constexpr uint64_t kAccessSyntheticTimerRegs = 1ull << 3;
constexpr uint64_t kAccessIntrCtrlRegs = 1ull << 4;
constexpr uint64_t kAccessHypercallMsrs = 1ull << 5;  ///< required by Linux
constexpr uint64_t kAccessVpIndex = 1ull << 6;        ///< required by Linux
constexpr uint64_t kAccessResetReg = 1ull << 7;
constexpr uint64_t kAccessStatsReg = 1ull << 8;
constexpr uint64_t kAccessPartitionReferenceTsc = 1ull << 9;
constexpr uint64_t kAccessGuestIdleReg = 1ull << 10;
constexpr uint64_t kAccessFrequencyRegs = 1ull << 11;
constexpr uint64_t kAccessDebugRegs = 1ull << 12;
constexpr uint64_t kAccessReenlightenmentControls = 1ull << 13;
constexpr uint64_t kAccessTscInvariantControls = 1ull << 15;
// High half = CPUID 0x40000003.EBX (dossier §1.2); bit n of EBX is bit 32+n of the mask.
constexpr uint64_t kCreatePartitions = 1ull << 32;
constexpr uint64_t kAccessPartitionId = 1ull << 33;
constexpr uint64_t kAccessMemoryPool = 1ull << 34;
constexpr uint64_t kAdjustMessageBuffers = 1ull << 35;
constexpr uint64_t kPostMessages = 1ull << 36;  ///< needed for VMBus
constexpr uint64_t kSignalEvents = 1ull << 37;  ///< needed for VMBus
constexpr uint64_t kCreatePort = 1ull << 38;
constexpr uint64_t kConnectPort = 1ull << 39;
constexpr uint64_t kAccessStats = 1ull << 40;
constexpr uint64_t kDebugging = 1ull << 43;
/// Linux: set means "running as the root partition" (unless Isolation); never for a child.
constexpr uint64_t kCpuManagement = 1ull << 44;
constexpr uint64_t kEnableExtendedHypercalls = 1ull << 52;
constexpr uint64_t kIsolation = 1ull << 54;
}  // namespace privilege

/// CPUID 0x40000003.ECX (dossier §1.3 last paragraph; L: hvgdk_mini.h). Root only.
namespace misc_feature {
constexpr uint32_t kVpDispatchInterruptInjection = 1u << 9;
constexpr uint32_t kGhcbRootMapping = 1u << 10;
}  // namespace misc_feature

/// CPUID 0x40000003.EDX feature flags (dossier §1.3).
namespace feature {
constexpr uint32_t kMwaitAvailable = 1u << 0;  ///< deprecated
constexpr uint32_t kGuestDebugging = 1u << 1;
constexpr uint32_t kPerformanceMonitor = 1u << 2;
constexpr uint32_t kCpuDynamicPartitioningEvents = 1u << 3;
constexpr uint32_t kHypercallXmmInput = 1u << 4;
constexpr uint32_t kGuestIdleState = 1u << 5;
constexpr uint32_t kHypervisorSleepState = 1u << 6;
constexpr uint32_t kNumaDistanceQuery = 1u << 7;
constexpr uint32_t kFrequencyMsrsAvailable = 1u << 8;
constexpr uint32_t kSyntheticMachineCheck = 1u << 9;
constexpr uint32_t kGuestCrashMsrsAvailable = 1u << 10;
constexpr uint32_t kDebugMsrs = 1u << 11;
constexpr uint32_t kNpiep = 1u << 12;
constexpr uint32_t kDisableHypervisorAvailable = 1u << 13;
constexpr uint32_t kExtGvaRangesFlush = 1u << 14;
constexpr uint32_t kHypercallXmmOutput = 1u << 15;
constexpr uint32_t kSintPollingMode = 1u << 17;
constexpr uint32_t kHypercallMsrLock = 1u << 18;
constexpr uint32_t kDirectSyntheticTimers = 1u << 19;
constexpr uint32_t kRegisterPatForVsm = 1u << 20;
constexpr uint32_t kRegisterBndcfgsForVsm = 1u << 21;
constexpr uint32_t kSyntheticTimeUnhaltedTimer = 1u << 23;
constexpr uint32_t kIntelLbr = 1u << 26;
}  // namespace feature

/// CPUID 0x40000004.EAX implementation recommendations (dossier §1.4).
namespace recommend {
constexpr uint32_t kAddressSpaceSwitchHypercall = 1u << 0;
constexpr uint32_t kLocalTlbFlushHypercall = 1u << 1;
constexpr uint32_t kRemoteTlbFlushHypercall = 1u << 2;
constexpr uint32_t kApicAccessMsrs = 1u << 3;  ///< EOI/ICR/TPR through synthetic MSRs
constexpr uint32_t kResetMsr = 1u << 4;
constexpr uint32_t kRelaxedTiming = 1u << 5;
constexpr uint32_t kDmaRemapping = 1u << 6;
constexpr uint32_t kInterruptRemapping = 1u << 7;
constexpr uint32_t kX2apicMsrs = 1u << 8;
constexpr uint32_t kDeprecateAutoEoi = 1u << 9;  ///< Linux then EOIs SINT interrupts itself
constexpr uint32_t kSyntheticClusterIpi = 1u << 10;
constexpr uint32_t kExProcessorMasks = 1u << 11;
constexpr uint32_t kNested = 1u << 12;  ///< Linux switches to nested SynIC MSRs; never set
constexpr uint32_t kIntForMbecSyscalls = 1u << 13;
constexpr uint32_t kEnlightenedVmcs = 1u << 14;
constexpr uint32_t kSyncedTimeline = 1u << 15;
constexpr uint32_t kDirectLocalFlushEntire = 1u << 17;
constexpr uint32_t kNoNonArchitecturalCoreSharing = 1u << 18;
constexpr uint32_t kMmioHypercalls = 1u << 21;
}  // namespace recommend

/// CPUID 0x40000004.EBX value meaning "never notify about long spin waits" (dossier §1).
constexpr uint32_t kSpinlockRetriesNever = 0xFFFFFFFF;
/// CPUID 0x40000004.ECX[6:0]: implemented physical address bits (dossier §1).
constexpr uint32_t kPhysicalAddressBitsMask = 0x7F;

/// CPUID 0x40000006.EAX hardware features in use (dossier §1 table).
namespace hardware_feature {
constexpr uint32_t kApicOverlayAssist = 1u << 0;
constexpr uint32_t kMsrBitmaps = 1u << 1;
constexpr uint32_t kArchitecturalPerformanceCounters = 1u << 2;
constexpr uint32_t kSecondLevelAddressTranslation = 1u << 3;
constexpr uint32_t kDmaRemapping = 1u << 4;
constexpr uint32_t kInterruptRemapping = 1u << 5;
constexpr uint32_t kMemoryPatrolScrubber = 1u << 6;
constexpr uint32_t kDmaProtection = 1u << 7;
constexpr uint32_t kHpetRequested = 1u << 8;
constexpr uint32_t kSyntheticTimersVolatile = 1u << 9;
}  // namespace hardware_feature

/// CPUID 0x40000007.EAX CPU-management features, root only (dossier §1 table).
namespace cpu_management {
constexpr uint32_t kStartLogicalProcessor = 1u << 0;
constexpr uint32_t kCreateRootVirtualProcessor = 1u << 1;
constexpr uint32_t kPerformanceCounterSync = 1u << 2;
constexpr uint32_t kReservedIdentityBit = 1u << 31;
}  // namespace cpu_management

/// CPUID 0x4000000A.EAX nested virtualization features (dossier §1 table).
namespace nested_optimization {
constexpr uint32_t kEnlightenedVmcsVersionLowMask = 0xFF;     ///< bits 7:0
constexpr uint32_t kEnlightenedVmcsVersionHighMask = 0xFF00;  ///< bits 15:8
constexpr uint32_t kDirectVirtualFlush = 1u << 17;
constexpr uint32_t kFlushGuestPhysicalAddress = 1u << 18;
constexpr uint32_t kEnlightenedMsrBitmap = 1u << 19;
constexpr uint32_t kCombinedVirtualizationExceptions = 1u << 20;
}  // namespace nested_optimization

// ---------------------------------------------------------------------------------------------
// 2. Synthetic MSRs (dossier §2; L: include/hyperv/hvgdk_mini.h)
// ---------------------------------------------------------------------------------------------

#define HVSIM_HV_SYNTHETIC_MSRS(X)                  \
  X(HV_X64_MSR_GUEST_OS_ID, 0x40000000)             \
  X(HV_X64_MSR_HYPERCALL, 0x40000001)               \
  X(HV_X64_MSR_VP_INDEX, 0x40000002)                \
  X(HV_X64_MSR_RESET, 0x40000003)                   \
  X(HV_X64_MSR_VP_RUNTIME, 0x40000010)              \
  X(HV_X64_MSR_TIME_REF_COUNT, 0x40000020)          \
  X(HV_X64_MSR_REFERENCE_TSC, 0x40000021)           \
  X(HV_X64_MSR_TSC_FREQUENCY, 0x40000022)           \
  X(HV_X64_MSR_APIC_FREQUENCY, 0x40000023)          \
  X(HV_X64_MSR_EOI, 0x40000070)                     \
  X(HV_X64_MSR_ICR, 0x40000071)                     \
  X(HV_X64_MSR_TPR, 0x40000072)                     \
  X(HV_X64_MSR_VP_ASSIST_PAGE, 0x40000073)          \
  X(HV_X64_MSR_SCONTROL, 0x40000080)                \
  X(HV_X64_MSR_SVERSION, 0x40000081)                \
  X(HV_X64_MSR_SIEFP, 0x40000082)                   \
  X(HV_X64_MSR_SIMP, 0x40000083)                    \
  X(HV_X64_MSR_EOM, 0x40000084)                     \
  X(HV_X64_MSR_SIRBP, 0x40000085)                   \
  X(HV_X64_MSR_SINT0, 0x40000090)                   \
  X(HV_X64_MSR_SINT1, 0x40000091)                   \
  X(HV_X64_MSR_SINT2, 0x40000092)                   \
  X(HV_X64_MSR_SINT3, 0x40000093)                   \
  X(HV_X64_MSR_SINT4, 0x40000094)                   \
  X(HV_X64_MSR_SINT5, 0x40000095)                   \
  X(HV_X64_MSR_SINT6, 0x40000096)                   \
  X(HV_X64_MSR_SINT7, 0x40000097)                   \
  X(HV_X64_MSR_SINT8, 0x40000098)                   \
  X(HV_X64_MSR_SINT9, 0x40000099)                   \
  X(HV_X64_MSR_SINT10, 0x4000009A)                  \
  X(HV_X64_MSR_SINT11, 0x4000009B)                  \
  X(HV_X64_MSR_SINT12, 0x4000009C)                  \
  X(HV_X64_MSR_SINT13, 0x4000009D)                  \
  X(HV_X64_MSR_SINT14, 0x4000009E)                  \
  X(HV_X64_MSR_SINT15, 0x4000009F)                  \
  X(HV_X64_MSR_STIMER0_CONFIG, 0x400000B0)          \
  X(HV_X64_MSR_STIMER0_COUNT, 0x400000B1)           \
  X(HV_X64_MSR_STIMER1_CONFIG, 0x400000B2)          \
  X(HV_X64_MSR_STIMER1_COUNT, 0x400000B3)           \
  X(HV_X64_MSR_STIMER2_CONFIG, 0x400000B4)          \
  X(HV_X64_MSR_STIMER2_COUNT, 0x400000B5)           \
  X(HV_X64_MSR_STIMER3_CONFIG, 0x400000B6)          \
  X(HV_X64_MSR_STIMER3_COUNT, 0x400000B7)           \
  X(HV_X64_MSR_GUEST_IDLE, 0x400000F0)              \
  X(HV_X64_MSR_CRASH_P0, 0x40000100)                \
  X(HV_X64_MSR_CRASH_P1, 0x40000101)                \
  X(HV_X64_MSR_CRASH_P2, 0x40000102)                \
  X(HV_X64_MSR_CRASH_P3, 0x40000103)                \
  X(HV_X64_MSR_CRASH_P4, 0x40000104)                \
  X(HV_X64_MSR_CRASH_CTL, 0x40000105)               \
  X(HV_X64_MSR_REENLIGHTENMENT_CONTROL, 0x40000106) \
  X(HV_X64_MSR_TSC_EMULATION_CONTROL, 0x40000107)   \
  X(HV_X64_MSR_TSC_EMULATION_STATUS, 0x40000108)    \
  X(HV_X64_MSR_TSC_INVARIANT_CONTROL, 0x40000118)

/// Synthetic MSR numbers (dossier §2 table). Nested SynIC MSRs 0x4000108x are not listed:
/// they are used only when 0x40000004.EAX bit 12 is set, which hvsim never does.
enum class SyntheticMsr : uint32_t {
#define HVSIM_X(name, n) name = n,
  HVSIM_HV_SYNTHETIC_MSRS(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(SyntheticMsr m) {
  switch (m) {
#define HVSIM_X(name, n) \
  case SyntheticMsr::name: return #name;
    HVSIM_HV_SYNTHETIC_MSRS(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown synthetic MSR";
}

/// SINTx MSR number (x = 0..15) and STIMERn CONFIG/COUNT MSR numbers (n = 0..3).
constexpr uint32_t sint_msr(unsigned x) {
  return 0x40000090 + x;
}
constexpr uint32_t stimer_config_msr(unsigned n) {
  return 0x400000B0 + 2 * n;
}
constexpr uint32_t stimer_count_msr(unsigned n) {
  return 0x400000B1 + 2 * n;
}
constexpr unsigned kSintCount = 16;
constexpr unsigned kStimerCount = 4;

/// GUEST_OS_ID open-source layout (dossier §2): [63] open source, [62:56] OS type (Linux = 1),
/// [55:48] OS id, [47:16] kernel version, [15:0] build.
namespace guest_os_id {
constexpr uint64_t kOpenSource = 1ull << 63;
constexpr unsigned kOsTypeShift = 56;
constexpr uint64_t kOsTypeMask = 0x7Full << kOsTypeShift;
constexpr uint64_t kOsTypeLinux = 1;
constexpr unsigned kOsIdShift = 48;
constexpr unsigned kKernelVersionShift = 16;
}  // namespace guest_os_id

/// The layout shared by HYPERCALL, REFERENCE_TSC, VP_ASSIST_PAGE, SIEFP and SIMP (dossier §2):
/// [0] enable, [11:1] RsvdP (HYPERCALL: [1] locked, [11:2] RsvdP), [63:12] GPFN.
namespace overlay_msr {
constexpr uint64_t kEnable = 1ull << 0;
constexpr unsigned kGpfnShift = 12;
constexpr uint64_t kGpfnMask = ~0xFFFull;
constexpr uint64_t kReservedMask = 0xFFEull;  ///< bits 11:1
}  // namespace overlay_msr

/// HV_X64_MSR_HYPERCALL (dossier §2): [0] enable, [1] locked, [11:2] RsvdP, [63:12] GPFN.
namespace hypercall_msr {
constexpr uint64_t kEnable = 1ull << 0;
constexpr uint64_t kLocked = 1ull << 1;       ///< once set, only a partition reset clears it
constexpr uint64_t kReservedMask = 0xFFCull;  ///< bits 11:2
constexpr unsigned kGpfnShift = 12;
constexpr uint64_t kGpfnMask = ~0xFFFull;
}  // namespace hypercall_msr

/// HV_X64_MSR_REFERENCE_TSC (dossier §2): [0] enable, [11:1] RsvdP, [63:12] GPFN.
namespace reference_tsc_msr {
constexpr uint64_t kEnable = 1ull << 0;
constexpr uint64_t kReservedMask = 0xFFEull;
constexpr unsigned kGpfnShift = 12;
constexpr uint64_t kGpfnMask = ~0xFFFull;
}  // namespace reference_tsc_msr

/// VP assist page (dossier §2, VP_ASSIST_PAGE): offset 0 is the 32-bit apic_assist word.
constexpr uint32_t kApicAssistNoEoiRequired = 1u << 0;

/// HV_X64_MSR_SCONTROL (dossier §2): [0] enable SynIC.
constexpr uint64_t kScontrolEnable = 1ull << 0;
/// HV_X64_MSR_SVERSION value Linux expects (HV_SYNIC_VERSION_1, dossier §2).
constexpr uint64_t kSynicVersion1 = 1;

/// SINTx register (dossier §4.3).
namespace sint {
constexpr uint64_t kVectorMask = 0xFF;  ///< bits 7:0, valid 16-255
constexpr uint64_t kMasked = 1ull << 16;
constexpr uint64_t kAutoEoi = 1ull << 17;
constexpr uint64_t kPolling = 1ull << 18;  ///< only if 0x40000003.EDX bit 17
constexpr uint64_t kAsIntercept = 1ull << 19;
constexpr uint64_t kProxy = 1ull << 20;
constexpr uint64_t kResetValue = kMasked;  ///< 0x10000
constexpr unsigned kMinVector = 16;
/// Statically assigned SINTs (L: hvgdk_mini.h).
constexpr unsigned kInterceptSint = 0, kIommuFaultSint = 1, kVmbusMessageSint = 2;
}  // namespace sint

/// STIMERn_CONFIG (dossier §5.3). STIMERn_COUNT is in 100 ns units.
namespace stimer_config {
constexpr uint64_t kEnable = 1ull << 0;
constexpr uint64_t kPeriodic = 1ull << 1;
constexpr uint64_t kLazy = 1ull << 2;
constexpr uint64_t kAutoEnable = 1ull << 3;  ///< writing a non-zero COUNT sets Enable
constexpr unsigned kApicVectorShift = 4;
constexpr uint64_t kApicVectorMask = 0xFFull << kApicVectorShift;  ///< bits 11:4, direct mode
constexpr uint64_t kDirectMode = 1ull << 12;                       ///< needs 0x40000003.EDX bit 19
constexpr uint64_t kReserved15_13 = 0x7ull << 13;                  ///< RsvdZ
constexpr unsigned kSintxShift = 16;
constexpr uint64_t kSintxMask = 0xFull << kSintxShift;  ///< bits 19:16, message mode
constexpr uint64_t kReserved63_20 = ~0xFFFFFull;        ///< RsvdZ
}  // namespace stimer_config

/// HV_X64_MSR_CRASH_CTL (dossier §2).
namespace crash_ctl {
constexpr uint64_t kCrashNotify = 1ull << 63;
constexpr uint64_t kCrashMessage = 1ull << 62;  ///< P3/P4 = GPA/length (<= 4096)
}  // namespace crash_ctl

/// HV_X64_MSR_REENLIGHTENMENT_CONTROL (dossier §2): [7:0] vector, [16] enabled, [63:32] VP.
namespace reenlightenment_control {
constexpr uint64_t kVectorMask = 0xFF;
constexpr uint64_t kEnabled = 1ull << 16;
constexpr unsigned kTargetVpShift = 32;
}  // namespace reenlightenment_control

// ---------------------------------------------------------------------------------------------
// 3. Hypercall ABI, x64 (dossier §3; TLFS/hypercall-interface.md)
// ---------------------------------------------------------------------------------------------

/// Hypercall page contents (dossier §3.1): VMCALL; RET (Intel) or VMMCALL; RET (AMD).
constexpr uint8_t kHypercallPageVmcall[4] = {0x0F, 0x01, 0xC1, 0xC3};
constexpr uint8_t kHypercallPageVmmcall[4] = {0x0F, 0x01, 0xD9, 0xC3};

/// Hypercall input value, RCX (dossier §3.3).
namespace hypercall_input {
constexpr uint64_t kCallCodeMask = 0xFFFF;  ///< bits 15:0
constexpr uint64_t kFast = 1ull << 16;      ///< register-based calling convention
constexpr unsigned kVariableHeaderShift = 17;
constexpr uint64_t kVariableHeaderMask = 0x3FFull << kVariableHeaderShift;  ///< 26:17, qwords
constexpr uint64_t kReserved30_27 = 0xFull << 27;                           ///< RsvdZ
/// Bit 31: "nested" in Linux (HV_HYPERCALL_NESTED, a call aimed at the L0 hypervisor); the
/// TLFS table marks bits 31:27 RsvdZ.
constexpr uint64_t kNested = 1ull << 31;
constexpr unsigned kRepCountShift = 32;
constexpr uint64_t kRepCountMask = 0xFFFull << kRepCountShift;  ///< 43:32
constexpr uint64_t kReserved47_44 = 0xFull << 44;               ///< RsvdZ
constexpr unsigned kRepStartShift = 48;
constexpr uint64_t kRepStartMask = 0xFFFull << kRepStartShift;  ///< 59:48
constexpr uint64_t kReserved63_60 = 0xFull << 60;               ///< RsvdZ
constexpr uint64_t kReservedMask = kReserved30_27 | kReserved47_44 | kReserved63_60;
constexpr uint32_t kMaxRepCount = 0xFFF;
}  // namespace hypercall_input

/// Hypercall result value, RAX (dossier §3.4).
namespace hypercall_result {
constexpr uint64_t kStatusMask = 0xFFFF;  ///< bits 15:0
constexpr unsigned kRepsCompletedShift = 32;
constexpr uint64_t kRepsCompletedMask = 0xFFFull << kRepsCompletedShift;  ///< 43:32, absolute
}  // namespace hypercall_result

/// Input and output blocks of memory-based calls: 8-byte aligned, must not cross a page
/// (dossier §3.2; TLFS "Alignment Requirements"). Pages on the wire are always 4 KiB.
constexpr uint64_t kHypercallBlockAlignment = 8;
constexpr uint64_t kHvPageSize = 4096;
/// Register-based input: RDX and R8, 16 bytes (dossier §3.2); with XMM fast input
/// (0x40000003.EDX bit 4) also XMM0-XMM5, 112 bytes in total.
constexpr size_t kFastInputBytes = 16;
constexpr size_t kXmmFastInputBytes = 112;

#define HVSIM_HV_STATUSES(X)                           \
  X(HV_STATUS_SUCCESS, 0x0000)                         \
  X(HV_STATUS_INVALID_HYPERCALL_CODE, 0x0002)          \
  X(HV_STATUS_INVALID_HYPERCALL_INPUT, 0x0003)         \
  X(HV_STATUS_INVALID_ALIGNMENT, 0x0004)               \
  X(HV_STATUS_INVALID_PARAMETER, 0x0005)               \
  X(HV_STATUS_ACCESS_DENIED, 0x0006)                   \
  X(HV_STATUS_INVALID_PARTITION_STATE, 0x0007)         \
  X(HV_STATUS_OPERATION_DENIED, 0x0008)                \
  X(HV_STATUS_UNKNOWN_PROPERTY, 0x0009)                \
  X(HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE, 0x000A)     \
  X(HV_STATUS_INSUFFICIENT_MEMORY, 0x000B)             \
  X(HV_STATUS_INVALID_PARTITION_ID, 0x000D)            \
  X(HV_STATUS_INVALID_VP_INDEX, 0x000E)                \
  X(HV_STATUS_NOT_FOUND, 0x0010)                       \
  X(HV_STATUS_INVALID_PORT_ID, 0x0011)                 \
  X(HV_STATUS_INVALID_CONNECTION_ID, 0x0012)           \
  X(HV_STATUS_INSUFFICIENT_BUFFERS, 0x0013)            \
  X(HV_STATUS_NOT_ACKNOWLEDGED, 0x0014)                \
  X(HV_STATUS_INVALID_VP_STATE, 0x0015)                \
  X(HV_STATUS_ACKNOWLEDGED, 0x0016)                    \
  X(HV_STATUS_INVALID_SAVE_RESTORE_STATE, 0x0017)      \
  X(HV_STATUS_INVALID_SYNIC_STATE, 0x0018)             \
  X(HV_STATUS_OBJECT_IN_USE, 0x0019)                   \
  X(HV_STATUS_NO_RESOURCES, 0x001D)                    \
  X(HV_STATUS_FEATURE_UNAVAILABLE, 0x001E)             \
  X(HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED, 0x0020) \
  X(HV_STATUS_INVALID_LP_INDEX, 0x0041)                \
  X(HV_STATUS_INVALID_REGISTER_VALUE, 0x0050)          \
  X(HV_STATUS_OPERATION_FAILED, 0x0071)                \
  X(HV_STATUS_TIME_OUT, 0x0078)                        \
  X(HV_STATUS_CALL_PENDING, 0x0079)                    \
  X(HV_STATUS_VTL_ALREADY_ENABLED, 0x0086)

/// HV_STATUS, the 16-bit result of every hypercall (dossier §3.5; 0x16-0x19 and 0x1E from the
/// dossier's note on INVALID_SYNIC_STATE).
enum class HvStatus : uint16_t {
#define HVSIM_X(name, n) name = n,
  HVSIM_HV_STATUSES(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(HvStatus s) {
  switch (s) {
#define HVSIM_X(name, n) \
  case HvStatus::name: return #name;
    HVSIM_HV_STATUSES(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown HV_STATUS";
}

#define HVSIM_HV_CALL_CODES(X)                \
  X(HvCallFlushVirtualAddressSpace, 0x0002)   \
  X(HvCallFlushVirtualAddressList, 0x0003)    \
  X(HvCallNotifyLongSpinWait, 0x0008)         \
  X(HvCallSendSyntheticClusterIpi, 0x000B)    \
  X(HvCallFlushVirtualAddressSpaceEx, 0x0013) \
  X(HvCallFlushVirtualAddressListEx, 0x0014)  \
  X(HvCallSendSyntheticClusterIpiEx, 0x0015)  \
  X(HvCallCreatePartition, 0x0040)            \
  X(HvCallInitializePartition, 0x0041)        \
  X(HvCallFinalizePartition, 0x0042)          \
  X(HvCallDeletePartition, 0x0043)            \
  X(HvCallGetPartitionProperty, 0x0044)       \
  X(HvCallSetPartitionProperty, 0x0045)       \
  X(HvCallGetPartitionId, 0x0046)             \
  X(HvCallDepositMemory, 0x0048)              \
  X(HvCallWithdrawMemory, 0x0049)             \
  X(HvCallMapGpaPages, 0x004B)                \
  X(HvCallUnmapGpaPages, 0x004C)              \
  X(HvCallInstallIntercept, 0x004D)           \
  X(HvCallCreateVp, 0x004E)                   \
  X(HvCallDeleteVp, 0x004F)                   \
  X(HvCallGetVpRegisters, 0x0050)             \
  X(HvCallSetVpRegisters, 0x0051)             \
  X(HvCallPostMessage, 0x005C)                \
  X(HvCallSignalEvent, 0x005D)                \
  X(HvCallRetargetDeviceInterrupt, 0x007E)    \
  X(HvCallAssertVirtualInterrupt, 0x0094)     \
  X(HvCallCreatePort, 0x0095)                 \
  X(HvCallConnectPort, 0x0096)                \
  X(HvCallStartVirtualProcessor, 0x0099)      \
  X(HvCallGetVpIndexFromApicId, 0x009A)       \
  X(HvCallSignalEventDirect, 0x00C0)          \
  X(HvCallPostMessageDirect, 0x00C1)          \
  X(HvCallDispatchVp, 0x00C2)                 \
  X(HvExtCallQueryCapabilities, 0x8001)

/// Hypercall call codes: the guest calls of dossier §3.6 and the root calls of §3.7.
enum class HvCallCode : uint16_t {
#define HVSIM_X(name, n) name = n,
  HVSIM_HV_CALL_CODES(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(HvCallCode c) {
  switch (c) {
#define HVSIM_X(name, n) \
  case HvCallCode::name: return #name;
    HVSIM_HV_CALL_CODES(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown hypercall code";
}

/// HvFlushVirtualAddressSpace/List flags (dossier §3.6).
namespace flush_flags {
constexpr uint64_t kAllProcessors = 1ull << 0;
constexpr uint64_t kAllVirtualAddressSpaces = 1ull << 1;
constexpr uint64_t kNonGlobalMappingsOnly = 1ull << 2;
constexpr uint64_t kUseExtendedRangeFormat = 1ull << 3;
}  // namespace flush_flags

/// HV_VP_SET formats (dossier §3.6): u64 format, u64 valid_bank_mask, one u64 per bank.
constexpr uint64_t kHvVpSetSparse4k = 0, kHvVpSetAll = 1;

/// HvPostMessage input (dossier §3.6): 0:4 ConnectionId, 4:4 RsvdZ, 8:4 MessageType (non-zero,
/// bit 31 clear), 12:4 PayloadSize (<= 240), 16:240 payload.
namespace post_message_input {
constexpr size_t kConnectionIdOffset = 0, kMessageTypeOffset = 8, kPayloadSizeOffset = 12;
constexpr size_t kPayloadOffset = 16;
constexpr size_t kSize = 256;
}  // namespace post_message_input

/// HvSignalEvent input (dossier §3.6): 0:4 ConnectionId, 4:2 FlagNumber, 6:2 RsvdZ. As a fast
/// call RDX carries it: ConnectionId in bits 31:0, FlagNumber in 47:32, RsvdZ 63:48.
namespace signal_event_input {
constexpr size_t kSize = 8;
constexpr unsigned kFlagNumberShift = 32;
constexpr uint64_t kFlagNumberMask = 0xFFFFull << kFlagNumberShift;
constexpr uint64_t kReservedMask = 0xFFFFull << 48;
}  // namespace signal_event_input

/// The partition id meaning "the caller's own partition" (dossier §3.6, RetargetDeviceInterrupt).
constexpr uint64_t kHvPartitionIdSelf = 0xFFFFFFFFFFFFFFFF;

// ---------------------------------------------------------------------------------------------
// 4. SynIC (dossier §4; TLFS/inter-partition-communication.md)
// ---------------------------------------------------------------------------------------------

/// HV_MESSAGE: 256 bytes; 16 of them fill the SIM page, slot n belonging to SINTn (dossier §4.1).
constexpr size_t kHvMessageSize = 256;
constexpr size_t kHvMessageHeaderSize = 16;
constexpr size_t kHvMessagePayloadSize = 240;  ///< 30 qwords
constexpr size_t kHvMessagePayloadQwords = 30;

/// HV_MESSAGE_HEADER field offsets (dossier §4.1).
namespace message_header {
constexpr size_t kMessageTypeOffset = 0;   ///< u32, 0 = slot empty
constexpr size_t kPayloadSizeOffset = 4;   ///< u8, bytes <= 240
constexpr size_t kMessageFlagsOffset = 5;  ///< u8
constexpr size_t kSenderOffset = 8;        ///< u64, or PortId in bits 23:0
constexpr size_t kPayloadOffset = 16;
constexpr uint8_t kMessagePending = 1u << 0;  ///< MessageFlags bit 0
constexpr uint32_t kPortIdMask = 0xFFFFFF;    ///< ports and connections have 24-bit ids
}  // namespace message_header

/// The header as laid out in guest memory (little-endian, packed; dossier §4.1).
struct HvMessageHeader {
  uint32_t message_type;
  uint8_t payload_size;
  uint8_t message_flags;
  uint16_t reserved;
  uint64_t sender;
};
static_assert(sizeof(HvMessageHeader) == kHvMessageHeaderSize);
static_assert(offsetof(HvMessageHeader, message_flags) == message_header::kMessageFlagsOffset);
static_assert(offsetof(HvMessageHeader, sender) == message_header::kSenderOffset);

/// A whole message slot.
struct HvMessage {
  HvMessageHeader header;
  uint64_t payload[kHvMessagePayloadQwords];
};
static_assert(sizeof(HvMessage) == kHvMessageSize);

#define HVSIM_HV_MESSAGE_TYPES(X)                        \
  X(HvMessageTypeNone, 0x00000000)                       \
  X(HvMessageTypeUnmappedGpa, 0x80000000)                \
  X(HvMessageTypeGpaIntercept, 0x80000001)               \
  X(HvMessageTimerExpired, 0x80000010)                   \
  X(HvMessageTypeInvalidVpRegisterValue, 0x80000020)     \
  X(HvMessageTypeUnrecoverableException, 0x80000021)     \
  X(HvMessageTypeUnsupportedFeature, 0x80000022)         \
  X(HvMessageTypeOpaqueIntercept, 0x8000003F)            \
  X(HvMessageTypeEventLogBufferComplete, 0x80000040)     \
  X(HvMessageTypeHypercallIntercept, 0x80000050)         \
  X(HvMessageTypeSynicEventIntercept, 0x80000060)        \
  X(HvMessageTypeSynicSintIntercept, 0x80000061)         \
  X(HvMessageTypeSynicSintDeliverable, 0x80000062)       \
  X(HvMessageTypeAsyncCallCompletion, 0x80000070)        \
  X(HvMessageTypeSchedulerVpSignalBitset, 0x80000100)    \
  X(HvMessageTypeSchedulerVpSignalPair, 0x80000101)      \
  X(HvMessageTypeX64IoPortIntercept, 0x80010000)         \
  X(HvMessageTypeX64MsrIntercept, 0x80010001)            \
  X(HvMessageTypeX64CpuidIntercept, 0x80010002)          \
  X(HvMessageTypeX64ExceptionIntercept, 0x80010003)      \
  X(HvMessageTypeX64ApicEoi, 0x80010004)                 \
  X(HvMessageTypeX64LegacyFpError, 0x80010005)           \
  X(HvMessageTypeX64IommuPrq, 0x80010006)                \
  X(HvMessageTypeX64Halt, 0x80010007)                    \
  X(HvMessageTypeX64InterruptionDeliverable, 0x80010008) \
  X(HvMessageTypeX64SipiIntercept, 0x80010009)

/// HV_MESSAGE_TYPE (dossier §4.2). Hypervisor-generated types have bit 31 set; guest-posted
/// ones must be non-zero with bit 31 clear (VMBus uses 1 both ways).
enum class HvMessageType : uint32_t {
#define HVSIM_X(name, n) name = n,
  HVSIM_HV_MESSAGE_TYPES(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(HvMessageType t) {
  switch (t) {
#define HVSIM_X(name, n) \
  case HvMessageType::name: return #name;
    HVSIM_HV_MESSAGE_TYPES(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown message type";
}

constexpr uint32_t kHvMessageTypeHypervisorMask = 0x80000000;  ///< bit 31
constexpr uint32_t kVmbusMessageType = 1;                      ///< dossier §4.2

/// HV_TIMER_MESSAGE_PAYLOAD (dossier §4.2): 24 bytes at the start of the payload.
struct HvTimerMessagePayload {
  uint32_t timer_index;
  uint32_t reserved;
  uint64_t expiration_time;  ///< reference time (100 ns) at which the timer expired
  uint64_t delivery_time;    ///< reference time at which the message was delivered
};
static_assert(sizeof(HvTimerMessagePayload) == 24);
static_assert(offsetof(HvTimerMessagePayload, expiration_time) == 8);
static_assert(offsetof(HvTimerMessagePayload, delivery_time) == 16);

/// SIEF page (dossier §4.4): 16 bitmaps of 256 bytes (2048 flags), bitmap n for SINTn.
constexpr size_t kEventFlagsBytesPerSint = 256;
constexpr size_t kEventFlagsPerSint = 2048;
/// Guest message buffers per message port (dossier §4.7).
constexpr unsigned kMessageBuffersPerPort = 16;

// ---------------------------------------------------------------------------------------------
// 5. Time (dossier §5; TLFS/timers.md)
// ---------------------------------------------------------------------------------------------

/// The partition reference counter and the synthetic timers count in 100 ns units: 10 MHz.
constexpr uint64_t kReferenceCounterHz = 10'000'000;

/// Reference TSC page (dossier §5.2), an overlay at REFERENCE_TSC.GPFN:
/// ReferenceTime = ((VirtualTSC * TscScale) >> 64) + TscOffset, a full 128-bit product.
struct HvReferenceTscPage {
  uint32_t tsc_sequence;  ///< 0 = invalid: the guest falls back to TIME_REF_COUNT
  uint32_t reserved1;
  uint64_t tsc_scale;  ///< unsigned 64.64 fixed-point multiplier
  int64_t tsc_offset;  ///< signed
  // 4072 reserved bytes follow.
};
static_assert(sizeof(HvReferenceTscPage) == 24);
static_assert(offsetof(HvReferenceTscPage, tsc_scale) == 8);
static_assert(offsetof(HvReferenceTscPage, tsc_offset) == 16);
/// TscSequence values never to publish as valid: 0 (invalid) and 0xFFFFFFFF (the "invalid"
/// value of kernels up to about 4.4; dossier §5.2).
constexpr uint32_t kTscSequenceInvalid = 0;
constexpr uint32_t kTscSequenceLegacyInvalid = 0xFFFFFFFF;

}  // namespace hvsim::hv::spec
