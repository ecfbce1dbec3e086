// Model-specific register numbers (Intel SDM Vol. 4, ch. 2 "Architectural MSRs").
#pragma once

#include <cstdint>

namespace hvsim::cpu::spec {

/// The MSRs the processor implements. Names as in SDM Vol. 4 Table 2-2.
enum class Msr : uint32_t {
  IA32_TIME_STAMP_COUNTER = 0x10,
  IA32_APIC_BASE = 0x1B,
  IA32_FEATURE_CONTROL = 0x3A,
  IA32_MTRRCAP = 0xFE,
  IA32_SYSENTER_CS = 0x174,
  IA32_SYSENTER_ESP = 0x175,
  IA32_SYSENTER_EIP = 0x176,
  IA32_MISC_ENABLE = 0x1A0,
  IA32_PAT = 0x277,
  IA32_MTRR_DEF_TYPE = 0x2FF,
  IA32_EFER = 0xC0000080,
  IA32_STAR = 0xC0000081,
  IA32_LSTAR = 0xC0000082,
  IA32_CSTAR = 0xC0000083,
  IA32_FMASK = 0xC0000084,
  IA32_FS_BASE = 0xC0000100,
  IA32_GS_BASE = 0xC0000101,
  IA32_KERNEL_GS_BASE = 0xC0000102,
  IA32_TSC_AUX = 0xC0000103,
};

inline const char* to_string(Msr m) {
  switch (m) {
    case Msr::IA32_TIME_STAMP_COUNTER: return "IA32_TIME_STAMP_COUNTER";
    case Msr::IA32_APIC_BASE: return "IA32_APIC_BASE";
    case Msr::IA32_FEATURE_CONTROL: return "IA32_FEATURE_CONTROL";
    case Msr::IA32_MTRRCAP: return "IA32_MTRRCAP";
    case Msr::IA32_SYSENTER_CS: return "IA32_SYSENTER_CS";
    case Msr::IA32_SYSENTER_ESP: return "IA32_SYSENTER_ESP";
    case Msr::IA32_SYSENTER_EIP: return "IA32_SYSENTER_EIP";
    case Msr::IA32_MISC_ENABLE: return "IA32_MISC_ENABLE";
    case Msr::IA32_PAT: return "IA32_PAT";
    case Msr::IA32_MTRR_DEF_TYPE: return "IA32_MTRR_DEF_TYPE";
    case Msr::IA32_EFER: return "IA32_EFER";
    case Msr::IA32_STAR: return "IA32_STAR";
    case Msr::IA32_LSTAR: return "IA32_LSTAR";
    case Msr::IA32_CSTAR: return "IA32_CSTAR";
    case Msr::IA32_FMASK: return "IA32_FMASK";
    case Msr::IA32_FS_BASE: return "IA32_FS_BASE";
    case Msr::IA32_GS_BASE: return "IA32_GS_BASE";
    case Msr::IA32_KERNEL_GS_BASE: return "IA32_KERNEL_GS_BASE";
    case Msr::IA32_TSC_AUX: return "IA32_TSC_AUX";
  }
  return "unknown MSR";
}

}  // namespace hvsim::cpu::spec
