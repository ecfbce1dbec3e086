// MC146818 real-time clock and CMOS RAM layout (Motorola MC146818A data sheet: address map,
// registers A-D; PC/AT CMOS conventions for the memory-size bytes).
#pragma once

#include <cstdint>

namespace hvsim::rtc_cmos {

/// I/O ports: index (bit 7 = NMI disable) and data.
enum class Port : uint16_t { kIndex = 0x70, kData = 0x71 };

/// CMOS addresses.
enum class Reg : uint8_t {
  kSeconds = 0x00,
  kSecondsAlarm = 0x01,
  kMinutes = 0x02,
  kMinutesAlarm = 0x03,
  kHours = 0x04,
  kHoursAlarm = 0x05,
  kDayOfWeek = 0x06,
  kDayOfMonth = 0x07,
  kMonth = 0x08,
  kYear = 0x09,
  kA = 0x0A,
  kB = 0x0B,
  kC = 0x0C,
  kD = 0x0D,
  kBaseMemLo = 0x15,  ///< base memory in KiB (640)
  kBaseMemHi = 0x16,
  kExtMemLo = 0x17,  ///< memory above 1 MiB in KiB (max 0xFFFF); copy at 0x30/0x31
  kExtMemHi = 0x18,
  kChecksumHi = 0x2E,  ///< sum of 0x10-0x2D
  kChecksumLo = 0x2F,
  kExtMem2Lo = 0x30,
  kExtMem2Hi = 0x31,
  kCentury = 0x32,
  kHighMemLo = 0x34,  ///< memory from 16 MiB to 4 GiB in 64 KiB units
  kHighMemHi = 0x35,
  kAbove4gLo = 0x5B,  ///< memory above 4 GiB in 64 KiB units (3 bytes)
  kAbove4gMid = 0x5C,
  kAbove4gHi = 0x5D,
  kCpuCountMinus1 = 0x5F,
};

inline const char* to_string(Reg r) {
  switch (r) {
    case Reg::kSeconds: return "seconds";
    case Reg::kSecondsAlarm: return "seconds_alarm";
    case Reg::kMinutes: return "minutes";
    case Reg::kMinutesAlarm: return "minutes_alarm";
    case Reg::kHours: return "hours";
    case Reg::kHoursAlarm: return "hours_alarm";
    case Reg::kDayOfWeek: return "day_of_week";
    case Reg::kDayOfMonth: return "day_of_month";
    case Reg::kMonth: return "month";
    case Reg::kYear: return "year";
    case Reg::kA: return "A";
    case Reg::kB: return "B";
    case Reg::kC: return "C";
    case Reg::kD: return "D";
    default: return "ram";
  }
}

// Register A.
constexpr uint8_t kAUip = 0x80, kARateMask = 0x0F;
// Register B.
constexpr uint8_t kBSet = 0x80, kBPie = 0x40, kBAie = 0x20, kBUie = 0x10, kBSqwe = 0x08,
                  kBBinary = 0x04, kB24h = 0x02, kBDse = 0x01;
// Register C.
constexpr uint8_t kCIrqf = 0x80, kCPf = 0x40, kCAf = 0x20, kCUf = 0x10;
// Register D.
constexpr uint8_t kDVrt = 0x80;

/// The time base: 32.768 kHz.
constexpr uint64_t kBaseHz = 32768;
/// UIP is set this long before each update (data sheet: 244 us).
constexpr uint64_t kUipPicos = 244'000'000;

}  // namespace hvsim::rtc_cmos
