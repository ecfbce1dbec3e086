// VMX control bits (Intel SDM Vol. 3C 25.6 "VM-execution control fields", 25.7 "VM-exit
// control fields", 25.8 "VM-entry control fields"; Tables 25-5 to 25-15), and the
// default1 classes of Appendix A.3-A.5.
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

/// Pin-based VM-execution controls (SDM Table 25-5).
namespace pin {
constexpr uint32_t kExternalInterruptExiting = 1u << 0;
constexpr uint32_t kNmiExiting = 1u << 3;
constexpr uint32_t kVirtualNmis = 1u << 5;
constexpr uint32_t kActivateVmxPreemptionTimer = 1u << 6;
constexpr uint32_t kProcessPostedInterrupts = 1u << 7;
/// Bits 1, 2 and 4 are default1 (SDM A.3.1).
constexpr uint32_t kDefault1 = 0x00000016;
}  // namespace pin

/// Primary processor-based VM-execution controls (SDM Table 25-6).
namespace proc {
constexpr uint32_t kInterruptWindowExiting = 1u << 2;
constexpr uint32_t kUseTscOffsetting = 1u << 3;
constexpr uint32_t kHltExiting = 1u << 7;
constexpr uint32_t kInvlpgExiting = 1u << 9;
constexpr uint32_t kMwaitExiting = 1u << 10;
constexpr uint32_t kRdpmcExiting = 1u << 11;
constexpr uint32_t kRdtscExiting = 1u << 12;
constexpr uint32_t kCr3LoadExiting = 1u << 15;
constexpr uint32_t kCr3StoreExiting = 1u << 16;
constexpr uint32_t kActivateTertiaryControls = 1u << 17;
constexpr uint32_t kCr8LoadExiting = 1u << 19;
constexpr uint32_t kCr8StoreExiting = 1u << 20;
constexpr uint32_t kUseTprShadow = 1u << 21;
constexpr uint32_t kNmiWindowExiting = 1u << 22;
constexpr uint32_t kMovDrExiting = 1u << 23;
constexpr uint32_t kUnconditionalIoExiting = 1u << 24;
constexpr uint32_t kUseIoBitmaps = 1u << 25;
constexpr uint32_t kMonitorTrapFlag = 1u << 27;
constexpr uint32_t kUseMsrBitmaps = 1u << 28;
constexpr uint32_t kMonitorExiting = 1u << 29;
constexpr uint32_t kPauseExiting = 1u << 30;
constexpr uint32_t kActivateSecondaryControls = 1u << 31;
/// Bits 1, 4-6, 8, 13-16 and 26 are default1 (SDM A.3.2); with the true controls
/// (IA32_VMX_TRUE_PROCBASED_CTLS) bits 15 and 16 (CR3-load/store exiting) may be 0.
constexpr uint32_t kDefault1 = 0x0401E172;
constexpr uint32_t kTrueDefault1 = 0x04006172;
}  // namespace proc

/// Secondary processor-based VM-execution controls (SDM Table 25-7).
namespace proc2 {
constexpr uint32_t kVirtualizeApicAccesses = 1u << 0;
constexpr uint32_t kEnableEpt = 1u << 1;
constexpr uint32_t kDescriptorTableExiting = 1u << 2;
constexpr uint32_t kEnableRdtscp = 1u << 3;
constexpr uint32_t kVirtualizeX2apicMode = 1u << 4;
constexpr uint32_t kEnableVpid = 1u << 5;
constexpr uint32_t kWbinvdExiting = 1u << 6;
constexpr uint32_t kUnrestrictedGuest = 1u << 7;
constexpr uint32_t kApicRegisterVirtualization = 1u << 8;
constexpr uint32_t kVirtualInterruptDelivery = 1u << 9;
constexpr uint32_t kPauseLoopExiting = 1u << 10;
constexpr uint32_t kRdrandExiting = 1u << 11;
constexpr uint32_t kEnableInvpcid = 1u << 12;
constexpr uint32_t kEnableVmFunctions = 1u << 13;
constexpr uint32_t kVmcsShadowing = 1u << 14;
constexpr uint32_t kRdseedExiting = 1u << 16;
constexpr uint32_t kEptViolationVe = 1u << 18;
constexpr uint32_t kEnableXsavesXrstors = 1u << 20;
constexpr uint32_t kUseTscScaling = 1u << 25;
}  // namespace proc2

/// Primary VM-exit controls (SDM Table 25-13).
namespace exit_ctl {
constexpr uint32_t kSaveDebugControls = 1u << 2;
constexpr uint32_t kHostAddressSpaceSize = 1u << 9;
constexpr uint32_t kLoadIa32PerfGlobalCtrl = 1u << 12;
constexpr uint32_t kAcknowledgeInterruptOnExit = 1u << 15;
constexpr uint32_t kSaveIa32Pat = 1u << 18;
constexpr uint32_t kLoadIa32Pat = 1u << 19;
constexpr uint32_t kSaveIa32Efer = 1u << 20;
constexpr uint32_t kLoadIa32Efer = 1u << 21;
constexpr uint32_t kSaveVmxPreemptionTimerValue = 1u << 22;
/// Bits 0-8, 10, 11, 13, 14, 16 and 17 are default1 (SDM A.4); with the true controls
/// bit 2 (save debug controls) may be 0.
constexpr uint32_t kDefault1 = 0x00036DFF;
constexpr uint32_t kTrueDefault1 = 0x00036DFB;
}  // namespace exit_ctl

/// VM-entry controls (SDM Table 25-15).
namespace entry_ctl {
constexpr uint32_t kLoadDebugControls = 1u << 2;
constexpr uint32_t kIa32eModeGuest = 1u << 9;
constexpr uint32_t kEntryToSmm = 1u << 10;
constexpr uint32_t kDeactivateDualMonitorTreatment = 1u << 11;
constexpr uint32_t kLoadIa32PerfGlobalCtrl = 1u << 13;
constexpr uint32_t kLoadIa32Pat = 1u << 14;
constexpr uint32_t kLoadIa32Efer = 1u << 15;
/// Bits 0-8 and 12 are default1 (SDM A.5); with the true controls bit 2 may be 0.
constexpr uint32_t kDefault1 = 0x000011FF;
constexpr uint32_t kTrueDefault1 = 0x000011FB;
}  // namespace entry_ctl

}  // namespace hvsim::cpu::vmx::spec
