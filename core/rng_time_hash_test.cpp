// Tests of the seeded RNG, drift-free clocks and the state hasher.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/hash.h"
#include "core/rng.h"
#include "core/time.h"

namespace hvsim {
namespace {

TEST(Rng, SameSeedSameSequence) {
  Rng a(1234), b(1234), c(1235);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, ReseedAndStateRoundTrip) {
  Rng a(7);
  uint64_t first = a.next();
  a.reseed(7);
  EXPECT_EQ(a.next(), first);
  Rng b(99);
  b.set_state(a.state());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(Rng, BelowStaysInBounds) {
  Rng r(5);
  uint64_t seen_max = 0;
  for (int i = 0; i < 10000; ++i) {
    uint64_t v = r.below(10);
    ASSERT_LT(v, 10u);
    seen_max = std::max(seen_max, v);
  }
  EXPECT_EQ(seen_max, 9u);
  EXPECT_EQ(r.below(1), 0u);
}

// floor(ticks * 10^12 / hz) computed without 128-bit products: ticks = q*hz + rem.
SimTime reference_time_of(uint64_t ticks, uint64_t hz) {
  uint64_t q = ticks / hz, rem = ticks % hz;
  // rem < hz; split 10^12 = 10^6 * 10^6 to keep rem * 10^6 in range for hz < 1.8e13.
  uint64_t part = rem * 1'000'000;  // < hz * 10^6
  uint64_t hi = part / hz, lo = part % hz;
  return q * kPicosPerSecond + hi * 1'000'000 + lo * 1'000'000 / hz;
}

TEST(Clock, NoDriftAtHugeCounts) {
  for (uint64_t hz : {3'000'000'000ull, 3'000'000'000ull / 7, 1'193'182ull, 14'318'180ull,
                      3'579'545ull, 1'000'000'007ull}) {
    Clock c(hz);
    for (uint64_t ticks : {uint64_t{0}, uint64_t{1}, uint64_t{7}, (uint64_t{1} << 40) + 12345,
                           uint64_t{123'456'789'012'345}, hz * 86'400 + 3}) {
      if (ticks / hz >= 18'000'000) continue;  // past 2^64 ps (about 213 days)
      SimTime t = c.time_of(ticks);
      EXPECT_EQ(t, reference_time_of(ticks, hz)) << hz << " Hz, " << ticks << " ticks";
      // ticks_at inverts time_of: tick n has happened a picosecond later, not before.
      EXPECT_GE(c.ticks_at(t + 1), ticks);
      if (t > 0) {
        EXPECT_LT(c.ticks_at(t - 1), ticks);
      }
    }
  }
  // 3 GHz / 7: one tick is 2333.33.. ps; 7 ticks are exactly 16333 ps, a billion ticks
  // exactly 2333333333333 ps; a per-tick rounded sum would be off by millions.
  Clock c(3'000'000'000ull / 7);
  EXPECT_EQ(Clock(3'000'000'000ull).time_of(3'000'000'000ull * 3600), 3600 * kPicosPerSecond);
  EXPECT_EQ(c.hz(), 428'571'428u);
  EXPECT_EQ(c.time_of(428'571'428ull * 1000), 1000 * kPicosPerSecond);
}

TEST(Hasher, DependsOnBytesAndLength) {
  auto digest = [](std::string_view s) {
    Hasher h;
    h.bytes(s.data(), s.size());
    return h.digest();
  };
  EXPECT_EQ(digest("abc"), digest("abc"));
  EXPECT_NE(digest("abc"), digest("abd"));
  EXPECT_NE(digest(std::string_view("a", 1)), digest(std::string_view("a\0", 2)));
  EXPECT_NE(digest(""), Hasher().digest());
  Hasher x, y;
  x.str("ab");
  x.str("c");
  y.str("a");
  y.str("bc");
  EXPECT_NE(x.digest(), y.digest());
}

}  // namespace
}  // namespace hvsim
