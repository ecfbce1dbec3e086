// EPT formats: the EPT pointer, EPT paging-structure entries, EPT-violation exit
// qualification, IA32_VMX_EPT_VPID_CAP, INVEPT/INVVPID types (Intel SDM Vol. 3C 25.6.11
// "Extended-page-table pointer", 29.3.2 "EPT translation mechanism" Tables 29-1 to 29-7,
// 29.3.3 "EPT-induced VM exits", 28.2.1 Table 28-7 "Exit qualification for EPT violations",
// Appendix A.10 "VPID and EPT capabilities"; Vol. 2 "INVEPT", "INVVPID").
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

/// EPT memory types (EPTP bits 2:0, leaf entries bits 5:3; SDM 29.3.7).
enum class EptMemoryType : uint8_t { kUncacheable = 0, kWriteBack = 6 };

// EPT pointer (SDM 25.6.11, Table 25-9).
constexpr uint64_t kEptpMemoryTypeMask = 7;
constexpr unsigned kEptpWalkLengthShift = 3;  ///< bits 5:3: page-walk length - 1
constexpr uint64_t kEptpWalkLengthMask = 7ull << kEptpWalkLengthShift;
constexpr uint64_t kEptpAccessedDirty = 1ull << 6;  ///< enable A/D flags for EPT
constexpr uint64_t kEptpSupervisorShadowStack = 1ull << 7;
constexpr uint64_t kEptpReserved11_8 = 0xF00;

// EPT paging-structure entries (SDM Tables 29-1 to 29-6).
constexpr uint64_t kEptRead = 1ull << 0, kEptWrite = 1ull << 1, kEptExecute = 1ull << 2;
constexpr uint64_t kEptRwx = 7;
constexpr unsigned kEptMemoryTypeShift = 3;  ///< leaf bits 5:3
constexpr uint64_t kEptIgnorePat = 1ull << 6;
constexpr uint64_t kEptLargePage = 1ull << 7;  ///< PDPTE/PDE: maps a 1 GiB / 2 MiB page
constexpr uint64_t kEptAccessed = 1ull << 8, kEptDirty = 1ull << 9;
constexpr uint64_t kEptUserExecute = 1ull << 10;  ///< mode-based execute control only
/// Non-leaf PML5E/PML4E: bits 7:3 reserved; non-leaf PDPTE/PDE: bits 6:3 (bit 7 = 0).
constexpr uint64_t kEptPml4Reserved = 0xF8, kEptDirReserved = 0x78;
/// Leaf 1 GiB / 2 MiB page: address bits 29:12 / 20:12 reserved.
constexpr uint64_t kEpt1GReserved = 0x3FFFF000, kEpt2MReserved = 0x1FF000;

/// A memory type that is reserved in a leaf entry (2, 3, 7: EPT misconfiguration).
constexpr bool ept_memory_type_reserved(unsigned t) {
  return t == 2 || t == 3 || t == 7;
}

// Exit qualification for EPT violations (SDM Table 28-7).
namespace ept_qual {
constexpr uint64_t kRead = 1ull << 0;         ///< data read
constexpr uint64_t kWrite = 1ull << 1;        ///< data write
constexpr uint64_t kFetch = 1ull << 2;        ///< instruction fetch
constexpr unsigned kAllowedShift = 3;         ///< bits 5:3: AND of bits 2:0 of the entries used
constexpr uint64_t kLinearValid = 1ull << 7;  ///< guest linear-address field valid
constexpr uint64_t kFinalTranslation = 1ull << 8;  ///< access to the translation (vs. walk)
constexpr uint64_t kNmiUnblocking = 1ull << 12;    ///< NMI unblocking due to IRET
}  // namespace ept_qual

// IA32_VMX_EPT_VPID_CAP (SDM A.10).
namespace ept_cap {
constexpr uint64_t kExecuteOnly = 1ull << 0;
constexpr uint64_t kWalkLength4 = 1ull << 6;
constexpr uint64_t kWalkLength5 = 1ull << 7;
constexpr uint64_t kUncacheable = 1ull << 8;
constexpr uint64_t kWriteBack = 1ull << 14;
constexpr uint64_t kPde2M = 1ull << 16;
constexpr uint64_t kPdpte1G = 1ull << 17;
constexpr uint64_t kInvept = 1ull << 20;
constexpr uint64_t kAccessedDirty = 1ull << 21;
constexpr uint64_t kAdvancedExitInfo = 1ull << 22;
constexpr uint64_t kInveptSingleContext = 1ull << 25;
constexpr uint64_t kInveptAllContext = 1ull << 26;
constexpr uint64_t kInvvpid = 1ull << 32;
constexpr uint64_t kInvvpidIndividualAddress = 1ull << 40;
constexpr uint64_t kInvvpidSingleContext = 1ull << 41;
constexpr uint64_t kInvvpidAllContext = 1ull << 42;
constexpr uint64_t kInvvpidSingleContextRetainingGlobals = 1ull << 43;
}  // namespace ept_cap

/// INVEPT types (SDM Vol. 2 "INVEPT").
enum class InveptType : uint8_t { kSingleContext = 1, kAllContext = 2 };
/// INVVPID types (SDM Vol. 2 "INVVPID").
enum class InvvpidType : uint8_t {
  kIndividualAddress = 0,
  kSingleContext = 1,
  kAllContext = 2,
  kSingleContextRetainingGlobals = 3,
};

inline const char* to_string(InveptType t) {
  switch (t) {
    case InveptType::kSingleContext: return "single-context";
    case InveptType::kAllContext: return "all-context";
  }
  return "?";
}
inline const char* to_string(InvvpidType t) {
  switch (t) {
    case InvvpidType::kIndividualAddress: return "individual-address";
    case InvvpidType::kSingleContext: return "single-context";
    case InvvpidType::kAllContext: return "all-context";
    case InvvpidType::kSingleContextRetainingGlobals: return "single-context-retaining-globals";
  }
  return "?";
}

}  // namespace hvsim::cpu::vmx::spec
