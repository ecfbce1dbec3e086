// Basic VM-exit reasons (Intel SDM Vol. 3C Appendix C "VMX basic exit reasons") and the
// layout of the exit-reason field (SDM 25.9.1, Table 25-18).
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

#define HVSIM_EXIT_REASONS(X)                 \
  X(EXCEPTION_OR_NMI, 0)                      \
  X(EXTERNAL_INTERRUPT, 1)                    \
  X(TRIPLE_FAULT, 2)                          \
  X(INIT_SIGNAL, 3)                           \
  X(START_UP_IPI, 4)                          \
  X(IO_SMI, 5)                                \
  X(OTHER_SMI, 6)                             \
  X(INTERRUPT_WINDOW, 7)                      \
  X(NMI_WINDOW, 8)                            \
  X(TASK_SWITCH, 9)                           \
  X(CPUID, 10)                                \
  X(GETSEC, 11)                               \
  X(HLT, 12)                                  \
  X(INVD, 13)                                 \
  X(INVLPG, 14)                               \
  X(RDPMC, 15)                                \
  X(RDTSC, 16)                                \
  X(RSM, 17)                                  \
  X(VMCALL, 18)                               \
  X(VMCLEAR, 19)                              \
  X(VMLAUNCH, 20)                             \
  X(VMPTRLD, 21)                              \
  X(VMPTRST, 22)                              \
  X(VMREAD, 23)                               \
  X(VMRESUME, 24)                             \
  X(VMWRITE, 25)                              \
  X(VMXOFF, 26)                               \
  X(VMXON, 27)                                \
  X(CONTROL_REGISTER_ACCESSES, 28)            \
  X(MOV_DR, 29)                               \
  X(IO_INSTRUCTION, 30)                       \
  X(RDMSR, 31)                                \
  X(WRMSR, 32)                                \
  X(VM_ENTRY_FAILURE_INVALID_GUEST_STATE, 33) \
  X(VM_ENTRY_FAILURE_MSR_LOADING, 34)         \
  X(MWAIT, 36)                                \
  X(MONITOR_TRAP_FLAG, 37)                    \
  X(MONITOR, 39)                              \
  X(PAUSE, 40)                                \
  X(VM_ENTRY_FAILURE_MACHINE_CHECK_EVENT, 41) \
  X(TPR_BELOW_THRESHOLD, 43)                  \
  X(APIC_ACCESS, 44)                          \
  X(VIRTUALIZED_EOI, 45)                      \
  X(ACCESS_TO_GDTR_OR_IDTR, 46)               \
  X(ACCESS_TO_LDTR_OR_TR, 47)                 \
  X(EPT_VIOLATION, 48)                        \
  X(EPT_MISCONFIGURATION, 49)                 \
  X(INVEPT, 50)                               \
  X(RDTSCP, 51)                               \
  X(VMX_PREEMPTION_TIMER_EXPIRED, 52)         \
  X(INVVPID, 53)                              \
  X(WBINVD_OR_WBNOINVD, 54)                   \
  X(XSETBV, 55)                               \
  X(APIC_WRITE, 56)                           \
  X(RDRAND, 57)                               \
  X(INVPCID, 58)                              \
  X(VMFUNC, 59)                               \
  X(ENCLS, 60)                                \
  X(RDSEED, 61)                               \
  X(PAGE_MODIFICATION_LOG_FULL, 62)           \
  X(XSAVES, 63)                               \
  X(XRSTORS, 64)

/// Basic exit reason: bits 15:0 of the exit-reason field.
enum class ExitReason : uint16_t {
#define HVSIM_X(name, n) name = n,
  HVSIM_EXIT_REASONS(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(ExitReason r) {
  switch (r) {
#define HVSIM_X(name, n) \
  case ExitReason::name: return #name;
    HVSIM_EXIT_REASONS(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown exit reason";
}

// Exit-reason field (SDM Table 25-18).
/// Bit 27: pending MTF VM exit (SMM only); bit 28: VM exit from VMX root operation (SMM);
/// bit 29: "enclave mode"; bit 31: VM-entry failure.
constexpr uint32_t kExitReasonEntryFailure = 1u << 31;

}  // namespace hvsim::cpu::vmx::spec
