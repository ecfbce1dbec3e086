// Paging-structure entry bits (Intel SDM Vol. 3A 4.3-4.5, Tables 4-4 to 4-20).
#pragma once

#include <cstdint>

namespace hvsim::cpu::spec {

constexpr uint64_t kPteP = 1ull << 0, kPteRW = 1ull << 1, kPteUS = 1ull << 2, kPtePWT = 1ull << 3,
                   kPtePCD = 1ull << 4, kPteA = 1ull << 5, kPteD = 1ull << 6, kPtePS = 1ull << 7,
                   kPteG = 1ull << 8, kPteXD = 1ull << 63;

/// Physical-address width the processor reports (CPUID 0x80000008) and enforces.
constexpr unsigned kMaxPhysAddrBits = 40;
/// Linear-address width (4-level paging).
constexpr unsigned kLinearAddrBits = 48;
/// Address bits of an entry's frame: 51:12 limited to MAXPHYADDR.
constexpr uint64_t kPteAddrMask = ((1ull << kMaxPhysAddrBits) - 1) & ~0xFFFull;
/// Bits 51:MAXPHYADDR, reserved in every PAE/4-level entry.
constexpr uint64_t kPteHighReserved = ((1ull << 52) - 1) & ~((1ull << kMaxPhysAddrBits) - 1);

/// Paging mode in force (SDM 4.1.1).
enum class PagingMode : uint8_t { kNone, k32Bit, kPae, k4Level };

inline const char* to_string(PagingMode m) {
  switch (m) {
    case PagingMode::kNone: return "none";
    case PagingMode::k32Bit: return "32-bit";
    case PagingMode::kPae: return "PAE";
    case PagingMode::k4Level: return "4-level";
  }
  return "?";
}

}  // namespace hvsim::cpu::spec
