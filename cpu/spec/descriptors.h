// Segment descriptors, gates, selectors and the 64-bit TSS (Intel SDM Vol. 3A 3.4-3.5,
// 5.8, 6.11, 6.14, 7.7).
#pragma once

#include <cstdint>

namespace hvsim::cpu::spec {

/// System-descriptor and gate types (S = 0), SDM Table 3-2.
enum class SystemType : uint8_t {
  kTss16Available = 1,
  kLdt = 2,
  kTss16Busy = 3,
  kCallGate16 = 4,
  kTaskGate = 5,
  kInterruptGate16 = 6,
  kTrapGate16 = 7,
  kTssAvailable = 9,  ///< 32-bit TSS, or 64-bit TSS in long mode
  kTssBusy = 11,
  kCallGate = 12,
  kInterruptGate = 14,
  kTrapGate = 15,
};

inline const char* to_string(SystemType t) {
  switch (t) {
    case SystemType::kTss16Available: return "16-bit TSS (available)";
    case SystemType::kLdt: return "LDT";
    case SystemType::kTss16Busy: return "16-bit TSS (busy)";
    case SystemType::kCallGate16: return "16-bit call gate";
    case SystemType::kTaskGate: return "task gate";
    case SystemType::kInterruptGate16: return "16-bit interrupt gate";
    case SystemType::kTrapGate16: return "16-bit trap gate";
    case SystemType::kTssAvailable: return "TSS (available)";
    case SystemType::kTssBusy: return "TSS (busy)";
    case SystemType::kCallGate: return "call gate";
    case SystemType::kInterruptGate: return "interrupt gate";
    case SystemType::kTrapGate: return "trap gate";
  }
  return "reserved";
}

// Code/data type bits (S = 1), SDM Table 3-1.
constexpr uint32_t kTypeAccessed = 1, kTypeWritable = 2, kTypeReadable = 2, kTypeExpandDown = 4,
                   kTypeConforming = 4, kTypeCode = 8;

// Access-rights layout used by SegReg::attr (VMX layout, SDM 24.4.1).
constexpr uint32_t kAttrS = 1u << 4, kAttrP = 1u << 7, kAttrL = 1u << 13, kAttrDB = 1u << 14,
                   kAttrG = 1u << 15, kAttrUnusable = 1u << 16;
constexpr uint32_t attr_type(uint32_t attr) {
  return attr & 15;
}
constexpr uint32_t attr_dpl(uint32_t attr) {
  return (attr >> 5) & 3;
}

/// A legacy 8-byte descriptor split into its fields.
struct Descriptor {
  uint64_t raw = 0;
  uint64_t base() const { return ((raw >> 16) & 0xFFFFFF) | (((raw >> 56) & 0xFF) << 24); }
  uint32_t raw_limit() const {
    return static_cast<uint32_t>((raw & 0xFFFF) | (((raw >> 48) & 0xF) << 16));
  }
  /// Byte-granular limit (scaled by G).
  uint32_t limit() const {
    uint32_t l = raw_limit();
    return granular() ? (l << 12) | 0xFFF : l;
  }
  /// VMX-layout access rights: bits 15:8 of the high dword -> 7:0, bits 23:20 -> 15:12.
  uint32_t attr() const { return static_cast<uint32_t>((raw >> 40) & 0xF0FF); }
  uint32_t type() const { return (raw >> 40) & 15; }
  bool s() const { return (raw >> 44) & 1; }
  uint32_t dpl() const { return (raw >> 45) & 3; }
  bool present() const { return (raw >> 47) & 1; }
  bool l() const { return (raw >> 53) & 1; }
  bool db() const { return (raw >> 54) & 1; }
  bool granular() const { return (raw >> 55) & 1; }
  bool is_code() const { return s() && (type() & kTypeCode); }
};

/// Gate descriptor fields (interrupt/trap/call gates; 16 bytes in long mode).
struct Gate {
  uint64_t lo = 0, hi = 0;
  uint64_t offset() const {
    return (lo & 0xFFFF) | (((lo >> 48) & 0xFFFF) << 16) | ((hi & 0xFFFFFFFF) << 32);
  }
  uint16_t selector() const { return static_cast<uint16_t>(lo >> 16); }
  uint32_t ist() const { return (lo >> 32) & 7; }
  uint32_t type() const { return (lo >> 40) & 15; }
  uint32_t dpl() const { return (lo >> 45) & 3; }
  bool present() const { return (lo >> 47) & 1; }
};

// Selector fields.
constexpr uint32_t selector_rpl(uint16_t s) {
  return s & 3;
}
constexpr bool selector_ti(uint16_t s) {
  return (s >> 2) & 1;
}
constexpr uint32_t selector_index(uint16_t s) {
  return s >> 3;
}

// 64-bit TSS offsets (SDM Figure 7-11).
constexpr uint32_t kTss64Rsp0 = 4, kTss64Ist1 = 0x24, kTss64IoMapBase = 0x66;
// 32-bit TSS offsets (SDM Figure 7-2).
constexpr uint32_t kTss32Esp0 = 4, kTss32Ss0 = 8;

}  // namespace hvsim::cpu::spec
