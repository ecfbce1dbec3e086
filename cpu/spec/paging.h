// Paging-structure entry bits (Intel SDM Vol. 3A 4.3-4.5, Tables 4-4 to 4-20).
#pragma once

#include <cstdint>

namespace hvsim::cpu::spec {

constexpr uint64_t kPteP = 1ull << 0, kPteRW = 1ull << 1, kPteUS = 1ull << 2, kPtePWT = 1ull << 3,
                   kPtePCD = 1ull << 4, kPteA = 1ull << 5, kPteD = 1ull << 6, kPtePS = 1ull << 7,
                   kPteG = 1ull << 8, kPteXD = 1ull << 63;

/// Physical-address width the processor reports (CPUID 0x80000008) and enforces.
constexpr unsigned kMaxPhysAddrBits = 40;
/// Linear-address width of 4-level paging.
constexpr unsigned kLinearAddrBits = 48;
/// Linear-address width of 5-level paging (CR4.LA57, SDM 4.5); CPUID reports this one.
constexpr unsigned kLinearAddrBits57 = 57;
/// Address bits of an entry's frame: 51:12 limited to MAXPHYADDR.
constexpr uint64_t kPteAddrMask = ((1ull << kMaxPhysAddrBits) - 1) & ~0xFFFull;
/// Bits 51:MAXPHYADDR, reserved in every PAE/4-level entry.
constexpr uint64_t kPteHighReserved = ((1ull << 52) - 1) & ~((1ull << kMaxPhysAddrBits) - 1);

/// Bits 62:52 of PAE PDEs and PTEs: reserved with PAE paging (SDM Tables 4-9 to 4-11, "62:M
/// Reserved"), ignored with 4- and 5-level paging.
constexpr uint64_t kPtePaeHighReserved = ((1ull << 63) - 1) & ~((1ull << 52) - 1);

/// PAE PDPTE bits that must be 0 (SDM Table 4-8): 2:1, 8:5 and 63:MAXPHYADDR.
constexpr uint64_t kPdpteReserved = 0x1E6ull | ~((1ull << kMaxPhysAddrBits) - 1);
/// 32-bit paging, 4 MiB page: PDE bits 20:13 hold physical-address bits 39:32 (PSE-36);
/// those at or above MAXPHYADDR and bit 21 are reserved (SDM Table 4-4).
constexpr uint64_t kPde4MReserved =
    ((1ull << 22) - 1) & ~((1ull << (13 + kMaxPhysAddrBits - 32)) - 1);

/// CR3 with CR4.PCIDE = 1 (SDM 4.10.1): bits 11:0 are the PCID, bit 63 asks MOV to CR3 not
/// to invalidate that PCID's translations.
constexpr uint64_t kCr3PcidMask = 0xFFF, kCr3NoFlush = 1ull << 63;

/// INVPCID types (SDM Vol. 2 "INVPCID").
enum class InvpcidType : uint8_t {
  kIndividualAddress = 0,
  kSingleContext = 1,
  kAllContextsWithGlobal = 2,
  kAllContexts = 3,
};

inline const char* to_string(InvpcidType t) {
  switch (t) {
    case InvpcidType::kIndividualAddress: return "individual-address";
    case InvpcidType::kSingleContext: return "single-context";
    case InvpcidType::kAllContextsWithGlobal: return "all-contexts-including-global";
    case InvpcidType::kAllContexts: return "all-contexts";
  }
  return "?";
}

/// Paging mode in force (SDM 4.1.1).
enum class PagingMode : uint8_t { kNone, k32Bit, kPae, k4Level, k5Level };

inline const char* to_string(PagingMode m) {
  switch (m) {
    case PagingMode::kNone: return "none";
    case PagingMode::k32Bit: return "32-bit";
    case PagingMode::kPae: return "PAE";
    case PagingMode::k4Level: return "4-level";
    case PagingMode::k5Level: return "5-level";
  }
  return "?";
}

}  // namespace hvsim::cpu::spec
