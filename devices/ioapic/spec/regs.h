// I/O APIC registers (Intel 82093AA I/O Advanced Programmable Interrupt Controller data
// sheet, section 3: IOREGSEL/IOWIN, IOAPICID, IOAPICVER, IOAPICARB, IOREDTBL).
#pragma once

#include <cstdint>

namespace hvsim::ioapic {

/// Memory-mapped registers, offsets from the IOAPIC base (0xFEC00000).
enum class Mmio : uint32_t {
  kIoRegSel = 0x00,  ///< register select (8 bits)
  kIoWin = 0x10,     ///< data window of the selected register (32 bits)
};

/// Indirect registers selected through IOREGSEL.
enum class Reg : uint32_t {
  kId = 0x00,           ///< IOAPICID: bits 27:24
  kVersion = 0x01,      ///< IOAPICVER: version 7:0, maximum redirection entry 23:16
  kArbitration = 0x02,  ///< IOAPICARB: bits 27:24
  kRedirFirst = 0x10,   ///< IOREDTBL[n]: low dword at 0x10 + 2n, high dword at 0x11 + 2n
};

inline const char* to_string(Reg r) {
  switch (r) {
    case Reg::kId: return "IOAPICID";
    case Reg::kVersion: return "IOAPICVER";
    case Reg::kArbitration: return "IOAPICARB";
    case Reg::kRedirFirst: return "IOREDTBL";
  }
  return "reserved";
}

constexpr unsigned kPins = 24;
constexpr uint32_t kVersion = 0x11;

// Redirection entry bits (data sheet 3.2.4).
constexpr uint64_t kRedVector = 0xFF, kRedDestLogical = 1u << 11, kRedDeliveryStatus = 1u << 12,
                   kRedActiveLow = 1u << 13, kRedRemoteIrr = 1u << 14, kRedLevel = 1u << 15,
                   kRedMasked = 1u << 16;
constexpr unsigned kRedDeliveryShift = 8, kRedDestShift = 56;
/// Bits software can write: everything except delivery status and remote IRR.
constexpr uint64_t kRedWritable = 0xFF00000000000000ull | 0x1AFFFull;

}  // namespace hvsim::ioapic
