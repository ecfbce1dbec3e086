// Layouts of VMCS fields: interruption information, interruptibility and activity state,
// exit qualifications, VM-exit instruction information, MSR-list entries (Intel SDM
// Vol. 3C 25.4.2, 25.8.3, 25.9, 28.2.1 "Basic VM-exit information", Tables 28-1 to 28-14).
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

// ---- Interruption-information fields (VM-entry 25.8.3, VM-exit 25.9.2, IDT-vectoring
// 25.9.3): bits 7:0 vector, 10:8 type, 11 error code valid, 12 NMI unblocking due to IRET
// (exit fields), 31 valid.
enum class InterruptionType : uint8_t {
  kExternalInterrupt = 0,
  kReserved = 1,
  kNmi = 2,
  kHardwareException = 3,
  kSoftwareInterrupt = 4,
  kPrivilegedSoftwareException = 5,
  kSoftwareException = 6,
  kOtherEvent = 7,
};
inline const char* to_string(InterruptionType t) {
  switch (t) {
    case InterruptionType::kExternalInterrupt: return "external interrupt";
    case InterruptionType::kReserved: return "reserved";
    case InterruptionType::kNmi: return "NMI";
    case InterruptionType::kHardwareException: return "hardware exception";
    case InterruptionType::kSoftwareInterrupt: return "software interrupt";
    case InterruptionType::kPrivilegedSoftwareException: return "privileged software exception";
    case InterruptionType::kSoftwareException: return "software exception";
    case InterruptionType::kOtherEvent: return "other event";
  }
  return "?";
}
constexpr uint32_t kIntrInfoVectorMask = 0xFF;
constexpr unsigned kIntrInfoTypeShift = 8;
constexpr uint32_t kIntrInfoTypeMask = 7u << 8;
constexpr uint32_t kIntrInfoErrorCodeValid = 1u << 11;
constexpr uint32_t kIntrInfoNmiUnblockingDueToIret = 1u << 12;
/// Bits 30:12 of the VM-entry interruption-information field are reserved.
constexpr uint32_t kIntrInfoEntryReserved = 0x7FFFF000;
constexpr uint32_t kIntrInfoValid = 1u << 31;
constexpr uint32_t make_intr_info(uint8_t vector, InterruptionType type, bool error_code) {
  return kIntrInfoValid | vector | (static_cast<uint32_t>(type) << kIntrInfoTypeShift) |
         (error_code ? kIntrInfoErrorCodeValid : 0);
}

// ---- Guest interruptibility state (SDM Table 25-3).
constexpr uint32_t kBlockingBySti = 1u << 0;
constexpr uint32_t kBlockingByMovSs = 1u << 1;
constexpr uint32_t kBlockingBySmi = 1u << 2;
constexpr uint32_t kBlockingByNmi = 1u << 3;
constexpr uint32_t kEnclaveInterruption = 1u << 4;
constexpr uint32_t kInterruptibilityReserved = 0xFFFFFFE0;

// ---- Guest activity state (SDM 25.4.2).
enum class ActivityState : uint32_t { kActive = 0, kHlt = 1, kShutdown = 2, kWaitForSipi = 3 };

// ---- Exit qualification for control-register accesses (SDM Table 28-3).
enum class CrAccessType : uint8_t { kMovToCr = 0, kMovFromCr = 1, kClts = 2, kLmsw = 3 };
constexpr uint64_t cr_access_qualification(unsigned cr, CrAccessType type, unsigned gpr,
                                           bool lmsw_memory = false, uint16_t lmsw_data = 0) {
  return (cr & 0xF) | (static_cast<uint64_t>(type) << 4) | (lmsw_memory ? 1u << 6 : 0) |
         (uint64_t{gpr & 0xF} << 8) | (uint64_t{lmsw_data} << 16);
}

// ---- Exit qualification for MOV DR (SDM Table 28-4): bits 2:0 DR, bit 4 direction
// (0 = MOV to DR), bits 11:8 GPR.
constexpr uint64_t mov_dr_qualification(unsigned dr, bool from_dr, unsigned gpr) {
  return (dr & 7) | (from_dr ? 1u << 4 : 0) | (uint64_t{gpr & 0xF} << 8);
}

// ---- Exit qualification for I/O instructions (SDM Table 28-5): bits 2:0 size - 1,
// bit 3 direction (1 = IN), bit 4 string, bit 5 REP, bit 6 operand encoding (1 = immediate),
// bits 31:16 port.
constexpr uint64_t io_qualification(unsigned size, bool in, bool string, bool rep, bool imm,
                                    uint16_t port) {
  return ((size - 1) & 7) | (in ? 1u << 3 : 0) | (string ? 1u << 4 : 0) | (rep ? 1u << 5 : 0) |
         (imm ? 1u << 6 : 0) | (uint64_t{port} << 16);
}

// ---- Exit qualification of VM-entry failures (SDM 27.8): 2 loading the PDPTEs, 3 an NMI
// injected into a guest with blocking by STI (processor-specific; hvsim does not fail it),
// 4 an invalid VMCS link pointer.
enum class EntryFailureQualification : uint64_t {
  kDefault = 0,
  kPdpteLoading = 2,
  kNmiInjectionWithStiBlocking = 3,
  kInvalidVmcsLinkPointer = 4,
};

// ---- VM-exit instruction information for VMX instructions (SDM Table 28-13):
// bits 1:0 scaling, 6:3 reg1, 9:7 address size, 10 mem/reg (1 = register), 17:15 segment,
// 21:18 index, 22 index invalid, 26:23 base, 27 base invalid, 31:28 reg2.
constexpr unsigned kInsnInfoScalingShift = 0, kInsnInfoReg1Shift = 3, kInsnInfoAddrSizeShift = 7,
                   kInsnInfoSegShift = 15, kInsnInfoIndexShift = 18, kInsnInfoBaseShift = 23,
                   kInsnInfoReg2Shift = 28;
constexpr uint32_t kInsnInfoRegister = 1u << 10, kInsnInfoIndexInvalid = 1u << 22,
                   kInsnInfoBaseInvalid = 1u << 27;

// ---- VM-entry/exit MSR-list entry (SDM Table 25-16): 16 bytes: bits 31:0 MSR index,
// 63:32 reserved, 127:64 data.
constexpr unsigned kMsrEntryBytes = 16;

}  // namespace hvsim::cpu::vmx::spec
