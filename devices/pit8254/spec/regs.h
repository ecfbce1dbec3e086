// 8254 programmable interval timer registers (Intel 82C54 data sheet: control word format,
// read-back command, status byte; port 0x61 from the PC/AT system board).
#pragma once

#include <cstdint>

namespace hvsim::pit8254 {

/// I/O ports.
enum class Port : uint16_t {
  kCounter0 = 0x40,
  kCounter1 = 0x41,
  kCounter2 = 0x42,
  kControl = 0x43,
  kSystemControlB = 0x61,  ///< bit 0 gate 2, bit 1 speaker, bit 4 refresh, bit 5 OUT2
};

/// Counter modes (control word bits 3:1; 6 and 7 alias 2 and 3).
enum class Mode : uint8_t {
  kInterruptOnTerminalCount = 0,
  kHardwareOneShot = 1,
  kRateGenerator = 2,
  kSquareWave = 3,
  kSoftwareStrobe = 4,
  kHardwareStrobe = 5,
};

inline const char* to_string(Mode m) {
  switch (m) {
    case Mode::kInterruptOnTerminalCount: return "interrupt-on-terminal-count";
    case Mode::kHardwareOneShot: return "hardware-one-shot";
    case Mode::kRateGenerator: return "rate-generator";
    case Mode::kSquareWave: return "square-wave";
    case Mode::kSoftwareStrobe: return "software-strobe";
    case Mode::kHardwareStrobe: return "hardware-strobe";
  }
  return "?";
}

/// Read/write access (control word bits 5:4).
enum class Access : uint8_t { kLatch = 0, kLsb = 1, kMsb = 2, kLsbMsb = 3 };

/// Input clock of every counter, Hz.
constexpr uint64_t kClockHz = 1'193'182;

// Port 0x61 bits.
constexpr uint8_t kGate2 = 1u << 0, kSpeaker = 1u << 1, kRefresh = 1u << 4, kOut2 = 1u << 5;

}  // namespace hvsim::pit8254
