// Simulated time: integer picoseconds, and clocks that convert cycle counts without drift.
#pragma once

#include <cstdint>
#include <limits>

namespace hvsim {

/// Simulated time in picoseconds since machine reset. 2^64 ps is about 213 days.
using SimTime = uint64_t;

constexpr SimTime kPicosPerNano = 1000;
constexpr SimTime kPicosPerMicro = 1000 * kPicosPerNano;
constexpr SimTime kPicosPerMilli = 1000 * kPicosPerMicro;
constexpr SimTime kPicosPerSecond = 1000 * kPicosPerMilli;
/// "Never": the time of an empty event queue.
constexpr SimTime kNever = std::numeric_limits<SimTime>::max();

/// A clock of a fixed frequency. Conversions are computed from absolute counts with
/// 128-bit arithmetic, so no rounding error accumulates however long the run.
class Clock {
 public:
  /// hz: ticks per simulated second (must be nonzero).
  explicit constexpr Clock(uint64_t hz) : hz_(hz) {}
  constexpr uint64_t hz() const { return hz_; }
  /// The time at which tick number `ticks` happens (rounded down to a picosecond).
  constexpr SimTime time_of(uint64_t ticks) const {
    return static_cast<SimTime>((static_cast<unsigned __int128>(ticks) * kPicosPerSecond) / hz_);
  }
  /// The number of whole ticks elapsed by time `t`.
  constexpr uint64_t ticks_at(SimTime t) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(t) * hz_) / kPicosPerSecond);
  }

 private:
  uint64_t hz_;
};

}  // namespace hvsim
