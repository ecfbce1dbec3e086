// Exception and interrupt vectors and their classes (Intel SDM Vol. 3A 6.3, 6.15, Table 6-5).
#pragma once

#include <cstdint>

namespace hvsim::cpu::spec {

/// Architectural exception vectors 0-31 (SDM Table 6-1).
enum class Vector : uint8_t {
  kDE = 0,   ///< divide error
  kDB = 1,   ///< debug
  kNMI = 2,  ///< non-maskable interrupt
  kBP = 3,   ///< breakpoint (INT3)
  kOF = 4,   ///< overflow (INTO)
  kBR = 5,   ///< BOUND range exceeded
  kUD = 6,   ///< invalid opcode
  kNM = 7,   ///< device not available
  kDF = 8,   ///< double fault
  kTS = 10,  ///< invalid TSS
  kNP = 11,  ///< segment not present
  kSS = 12,  ///< stack-segment fault
  kGP = 13,  ///< general protection
  kPF = 14,  ///< page fault
  kMF = 16,  ///< x87 floating-point error
  kAC = 17,  ///< alignment check
  kMC = 18,  ///< machine check
  kXM = 19,  ///< SIMD floating-point
  kVE = 20,  ///< virtualization exception
  kCP = 21,  ///< control protection
};

/// "#PF" style mnemonic of a vector; "int<n>" for the others.
inline const char* to_string(Vector v) {
  switch (v) {
    case Vector::kDE: return "#DE";
    case Vector::kDB: return "#DB";
    case Vector::kNMI: return "NMI";
    case Vector::kBP: return "#BP";
    case Vector::kOF: return "#OF";
    case Vector::kBR: return "#BR";
    case Vector::kUD: return "#UD";
    case Vector::kNM: return "#NM";
    case Vector::kDF: return "#DF";
    case Vector::kTS: return "#TS";
    case Vector::kNP: return "#NP";
    case Vector::kSS: return "#SS";
    case Vector::kGP: return "#GP";
    case Vector::kPF: return "#PF";
    case Vector::kMF: return "#MF";
    case Vector::kAC: return "#AC";
    case Vector::kMC: return "#MC";
    case Vector::kXM: return "#XM";
    case Vector::kVE: return "#VE";
    case Vector::kCP: return "#CP";
  }
  return "int";
}

/// True for the exceptions that push an error code (SDM Table 6-1).
constexpr bool has_error_code(uint8_t v) {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/// Double-fault classes (SDM Table 6-4).
enum class FaultClass : uint8_t { kBenign, kContributory, kPageFault, kDoubleFault };

constexpr FaultClass fault_class(uint8_t v) {
  if (v == 0 || (v >= 10 && v <= 13)) return FaultClass::kContributory;
  if (v == 14) return FaultClass::kPageFault;
  if (v == 8) return FaultClass::kDoubleFault;
  return FaultClass::kBenign;
}

// Page-fault error code bits (SDM 4.7).
constexpr uint32_t kPfP = 1u << 0, kPfW = 1u << 1, kPfU = 1u << 2, kPfRsvd = 1u << 3,
                   kPfI = 1u << 4;
// Selector error code bits (SDM 6.13).
constexpr uint32_t kErrExt = 1u << 0, kErrIdt = 1u << 1, kErrTi = 1u << 2;

}  // namespace hvsim::cpu::spec
