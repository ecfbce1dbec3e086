// Debug registers DR6 and DR7 (Intel SDM Vol. 3B 17.2 "Debug registers", Figure 17-1).
#pragma once

#include <cstdint>

namespace hvsim::cpu::spec {

// DR6 (SDM 17.2.3). Bits 0-3 report breakpoint conditions; the others are status.
constexpr uint64_t kDr6B0 = 1u << 0, kDr6Bd = 1u << 13, kDr6Bs = 1u << 14, kDr6Bt = 1u << 15;
/// Bits software can change; the rest read as 1 (bit 16 too: no RTM) or 0 (63:32).
constexpr uint64_t kDr6Writable = 0xF | kDr6Bd | kDr6Bs | kDr6Bt;
constexpr uint64_t kDr6Fixed1 = 0xFFFF0FF0;

// DR7 (SDM 17.2.4).
constexpr uint64_t kDr7EnableMask = 0xFF;  ///< L0 G0 L1 G1 L2 G2 L3 G3
constexpr uint64_t kDr7Gd = 1u << 13;
/// Bits that read as 0 (12, 14, 15) and as 1 (10).
constexpr uint64_t kDr7Zero = 0xD000, kDr7Fixed1 = 0x400;

/// DR7 R/Wn field: what a breakpoint watches.
enum class BreakCondition : uint8_t {
  kExecute = 0,    ///< instruction fetch (fault-class #DB)
  kWrite = 1,      ///< data writes
  kIo = 2,         ///< I/O port accesses, only with CR4.DE = 1 (else undefined: ignored)
  kReadWrite = 3,  ///< data reads and writes, not fetches
};

inline const char* to_string(BreakCondition c) {
  switch (c) {
    case BreakCondition::kExecute: return "execute";
    case BreakCondition::kWrite: return "write";
    case BreakCondition::kIo: return "io";
    case BreakCondition::kReadWrite: return "read-write";
  }
  return "?";
}

/// True if breakpoint n (0-3) is enabled (Ln or Gn).
constexpr bool dr7_enabled(uint64_t dr7, unsigned n) {
  return (dr7 >> (2 * n)) & 3;
}
constexpr BreakCondition dr7_condition(uint64_t dr7, unsigned n) {
  return static_cast<BreakCondition>((dr7 >> (16 + 4 * n)) & 3);
}
/// Breakpoint length in bytes from LENn: 00 = 1, 01 = 2, 10 = 8, 11 = 4.
constexpr unsigned dr7_length(uint64_t dr7, unsigned n) {
  constexpr unsigned kLen[4] = {1, 2, 8, 4};
  return kLen[(dr7 >> (18 + 4 * n)) & 3];
}

// Interruptibility state (the VMX guest-state field's layout, SDM 25.4.2).
constexpr uint64_t kBlockBySti = 1u << 0, kBlockByMovSs = 1u << 1;

}  // namespace hvsim::cpu::spec
