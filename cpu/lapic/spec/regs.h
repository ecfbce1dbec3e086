// Local APIC register layout (Intel SDM Vol. 3A ch. 10 "Advanced Programmable Interrupt
// Controller": Table 10-1 xAPIC register map, Table 10-6 x2APIC MSRs, Figures 10-8, 10-12,
// 10-19 LVT, ICR and SVR layouts).
#pragma once

#include <cstdint>

namespace hvsim::cpu::lapic {

/// xAPIC MMIO offsets within the 4 KiB APIC page. The x2APIC MSR of a register is
/// 0x800 + offset / 16 (SDM 10.12.1.2).
enum class Reg : uint32_t {
  kId = 0x020,
  kVersion = 0x030,
  kTpr = 0x080,
  kApr = 0x090,
  kPpr = 0x0A0,
  kEoi = 0x0B0,
  kRrd = 0x0C0,
  kLdr = 0x0D0,
  kDfr = 0x0E0,
  kSvr = 0x0F0,
  kIsr0 = 0x100,  ///< ISR bits 0-31; eight registers to 0x170
  kTmr0 = 0x180,  ///< TMR, to 0x1F0
  kIrr0 = 0x200,  ///< IRR, to 0x270
  kEsr = 0x280,
  kLvtCmci = 0x2F0,
  kIcrLow = 0x300,
  kIcrHigh = 0x310,
  kLvtTimer = 0x320,
  kLvtThermal = 0x330,
  kLvtPerf = 0x340,
  kLvtLint0 = 0x350,
  kLvtLint1 = 0x360,
  kLvtError = 0x370,
  kTimerInitial = 0x380,
  kTimerCurrent = 0x390,
  kTimerDivide = 0x3E0,
  kSelfIpi = 0x3F0,  ///< x2APIC only (MSR 0x83F)
};

inline const char* to_string(Reg r) {
  switch (r) {
    case Reg::kId: return "ID";
    case Reg::kVersion: return "VERSION";
    case Reg::kTpr: return "TPR";
    case Reg::kApr: return "APR";
    case Reg::kPpr: return "PPR";
    case Reg::kEoi: return "EOI";
    case Reg::kRrd: return "RRD";
    case Reg::kLdr: return "LDR";
    case Reg::kDfr: return "DFR";
    case Reg::kSvr: return "SVR";
    case Reg::kIsr0: return "ISR";
    case Reg::kTmr0: return "TMR";
    case Reg::kIrr0: return "IRR";
    case Reg::kEsr: return "ESR";
    case Reg::kLvtCmci: return "LVT_CMCI";
    case Reg::kIcrLow: return "ICR_LOW";
    case Reg::kIcrHigh: return "ICR_HIGH";
    case Reg::kLvtTimer: return "LVT_TIMER";
    case Reg::kLvtThermal: return "LVT_THERMAL";
    case Reg::kLvtPerf: return "LVT_PERF";
    case Reg::kLvtLint0: return "LVT_LINT0";
    case Reg::kLvtLint1: return "LVT_LINT1";
    case Reg::kLvtError: return "LVT_ERROR";
    case Reg::kTimerInitial: return "TIMER_INITIAL_COUNT";
    case Reg::kTimerCurrent: return "TIMER_CURRENT_COUNT";
    case Reg::kTimerDivide: return "TIMER_DIVIDE_CONFIG";
    case Reg::kSelfIpi: return "SELF_IPI";
  }
  return "reserved";
}

/// First and last x2APIC MSR (SDM Table 10-6).
constexpr uint32_t kX2ApicMsrFirst = 0x800, kX2ApicMsrLast = 0x8FF;
/// IA32_TSC_DEADLINE (SDM 10.5.4.1).
constexpr uint32_t kMsrTscDeadline = 0x6E0;

/// Version register: version 0x14 (integrated APIC), max LVT entry 5 (timer, thermal,
/// perf, LINT0, LINT1, error; no CMCI), no EOI-broadcast suppression.
constexpr uint32_t kVersionValue = 0x00050014;

// IA32_APIC_BASE bits (SDM Figure 10-5, 10.12.1).
constexpr uint64_t kBaseBsp = 1u << 8, kBaseExtd = 1u << 10, kBaseEnable = 1u << 11;
constexpr uint64_t kDefaultBase = 0xFEE00000;

// SVR (Figure 10-23).
constexpr uint32_t kSvrEnable = 1u << 8, kSvrFocusDisable = 1u << 9;

// LVT entry bits (Figure 10-8).
constexpr uint32_t kLvtVector = 0xFF, kLvtPending = 1u << 12, kLvtLevelLow = 1u << 13,
                   kLvtRemoteIrr = 1u << 14, kLvtLevel = 1u << 15, kLvtMasked = 1u << 16;
constexpr uint32_t kLvtTimerModeShift = 17, kLvtTimerModeMask = 3u << 17;

/// LVT timer modes (bits 18:17).
enum class TimerMode : uint8_t { kOneShot = 0, kPeriodic = 1, kTscDeadline = 2 };

inline const char* to_string(TimerMode m) {
  switch (m) {
    case TimerMode::kOneShot: return "one-shot";
    case TimerMode::kPeriodic: return "periodic";
    case TimerMode::kTscDeadline: return "tsc-deadline";
  }
  return "reserved";
}

/// Delivery modes of LVT entries, ICR and IOAPIC redirection entries (bits 10:8).
enum class DeliveryMode : uint8_t {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kStartUp = 6,
  kExtInt = 7,
};

inline const char* to_string(DeliveryMode m) {
  switch (m) {
    case DeliveryMode::kFixed: return "fixed";
    case DeliveryMode::kLowestPriority: return "lowest-priority";
    case DeliveryMode::kSmi: return "SMI";
    case DeliveryMode::kNmi: return "NMI";
    case DeliveryMode::kInit: return "INIT";
    case DeliveryMode::kStartUp: return "start-up";
    case DeliveryMode::kExtInt: return "ExtINT";
  }
  return "reserved";
}

// ICR low bits (Figure 10-12).
constexpr uint32_t kIcrDestLogical = 1u << 11, kIcrPending = 1u << 12, kIcrAssert = 1u << 14,
                   kIcrLevel = 1u << 15, kIcrShorthandShift = 18;
/// Writable bits of ICR low: vector, delivery mode, destination mode, level, trigger, shorthand.
constexpr uint32_t kIcrLowWritable = 0x000CCFFF;

/// ICR destination shorthand (bits 19:18).
enum class Shorthand : uint8_t {
  kNone = 0,
  kSelf = 1,
  kAllIncludingSelf = 2,
  kAllExcludingSelf = 3
};

inline const char* to_string(Shorthand s) {
  switch (s) {
    case Shorthand::kNone: return "none";
    case Shorthand::kSelf: return "self";
    case Shorthand::kAllIncludingSelf: return "all-including-self";
    case Shorthand::kAllExcludingSelf: return "all-excluding-self";
  }
  return "?";
}

// ESR bits (Figure 10-9).
constexpr uint32_t kEsrSendIllegalVector = 1u << 5, kEsrReceiveIllegalVector = 1u << 6,
                   kEsrIllegalRegister = 1u << 7;

/// DFR models (Figure 10-14): flat (all ones) or cluster (bits 31:28 = 0).
constexpr uint32_t kDfrFlat = 0xFFFFFFFF, kDfrCluster = 0x0FFFFFFF;

}  // namespace hvsim::cpu::lapic
