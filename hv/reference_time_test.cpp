// Tests of the reference counter and the reference TSC page (dossier §5.1-5.2): the page
// gives exactly TIME_REF_COUNT for every TSC value, never goes backwards, and stays within
// [E, E + 2] of the ideal counter E = floor((tsc - tsc0) * 10^7 / f).
#include "hv/reference_time.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/rng.h"

namespace hvsim::hv {
namespace {

using u128 = unsigned __int128;

// Independent of the implementation: the formula of dossier §5.2 written out.
uint64_t guest_reads(const spec::HvReferenceTscPage& page, uint64_t tsc) {
  return static_cast<uint64_t>((static_cast<u128>(tsc) * page.tsc_scale) >> 64) +
         static_cast<uint64_t>(page.tsc_offset);
}

const std::vector<uint64_t> kFrequencies = {
    10'000'001,    1'000'000'000, 2'500'000'000, 3'000'000'000,   2'893'437'123,
    3'999'999'997, 4'294'967'296, 19'200'000,    123'456'789'012, 0xFFFFFFFFFFFFFFFF,
};
const std::vector<uint64_t> kCreationTscs = {0, 1, 12'345'678'901, 0x7FFFFFFFFFFFFFFF,
                                             0xFFFFFFFF00000000};

TEST(ReferenceTime, ScaleIsTheRoundedUpQuotient) {
  // ceil(10^7 * 2^64 / f), computed independently (Python integers).
  EXPECT_EQ(ReferenceTime(2'500'000'000, 0).tsc_scale(), 73786976294838207ull);
  EXPECT_EQ(ReferenceTime(3'000'000'000, 0).tsc_scale(), 61489146912365173ull);
  EXPECT_EQ(ReferenceTime(1'000'000'000, 0).tsc_scale(), 184467440737095517ull);
  EXPECT_EQ(ReferenceTime(10'000'001, 0).tsc_scale(), 18446742229035328713ull);
}

TEST(ReferenceTime, ZeroAtCreationAndWholeSecondsExact) {
  ReferenceTime rt(3'000'000'000, 0);
  EXPECT_EQ(rt.counter_at_tsc(0), 0u);
  EXPECT_EQ(rt.counter_at_tsc(3'000'000'000), 10'000'000u);
  EXPECT_EQ(rt.counter_at_tsc(2'999'999'999), 9'999'999u);
  EXPECT_EQ(rt.counter_at_tsc(300), 1u);
  EXPECT_EQ(rt.counter_at_tsc(299), 0u);
  // One simulated hour from picoseconds: 3,600 s = 36,000,000,000 ticks of 100 ns.
  EXPECT_EQ(rt.counter_at_time(3600 * kPicosPerSecond), 36'000'000'000u);
  for (uint64_t tsc0 : kCreationTscs) {
    ReferenceTime late(2'500'000'000, tsc0);
    EXPECT_EQ(late.counter_at_tsc(tsc0), 0u) << tsc0;
    if (tsc0 > 0) {
      EXPECT_EQ(late.counter_at_tsc(tsc0 - 1), 0u) << "before creation reads 0";
    }
  }
}

TEST(ReferenceTime, PageEqualsCounterForEveryTsc) {
  Rng rng(42);
  for (uint64_t f : kFrequencies) {
    for (uint64_t tsc0 : kCreationTscs) {
      ReferenceTime rt(f, tsc0);
      ASSERT_TRUE(rt.tsc_page_available());
      spec::HvReferenceTscPage page = rt.tsc_page(7);
      ASSERT_EQ(page.tsc_sequence, 7u);
      std::vector<uint64_t> tscs = {tsc0, tsc0 + 1, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE};
      for (uint64_t i = 0; i < 2000; ++i) tscs.push_back(tsc0 + i);
      for (int i = 0; i < 20000; ++i) tscs.push_back(tsc0 + rng.below(~tsc0));  // up to 2^64-2
      for (uint64_t tsc : tscs) {
        if (tsc < tsc0) continue;
        uint64_t counter = rt.counter_at_tsc(tsc);
        ASSERT_EQ(guest_reads(page, tsc), counter) << "f=" << f << " tsc0=" << tsc0;
        ASSERT_EQ(ReferenceTime::page_time(page, tsc), counter);
        uint64_t ideal = ideal_reference_counter(f, tsc0, tsc);
        ASSERT_GE(counter, ideal) << "f=" << f << " tsc0=" << tsc0 << " tsc=" << tsc;
        ASSERT_LE(counter - ideal, 2u) << "f=" << f << " tsc0=" << tsc0 << " tsc=" << tsc;
      }
    }
  }
}

TEST(ReferenceTime, NeverGoesBackwards) {
  Rng rng(7);
  for (uint64_t f : kFrequencies) {
    for (uint64_t tsc0 : kCreationTscs) {
      ReferenceTime rt(f, tsc0);
      spec::HvReferenceTscPage page = rt.tsc_page(1);
      uint64_t tsc = tsc0, last = 0;
      // Steps from 1 cycle to about 2^40 cycles, until the TSC would wrap.
      for (int i = 0; i < 50000; ++i) {
        uint64_t step = 1 + rng.below(uint64_t{1} << rng.below(41));
        if (tsc > ~step) break;
        tsc += step;
        uint64_t now = guest_reads(page, tsc);
        ASSERT_GE(now, last) << "f=" << f << " tsc0=" << tsc0 << " tsc=" << tsc;
        last = now;
      }
    }
  }
}

TEST(ReferenceTime, NoDriftOverTheWholeTscRange) {
  // At the last TSC value of a 64-bit counter the error is still within the bound: the
  // counter is computed from the absolute TSC, never accumulated.
  for (uint64_t f : kFrequencies) {
    ReferenceTime rt(f, 0);
    uint64_t tsc = 0xFFFFFFFFFFFFFFFF;
    uint64_t ideal = ideal_reference_counter(f, 0, tsc);
    EXPECT_LE(rt.counter_at_tsc(tsc) - ideal, 1u) << f;
    EXPECT_GE(rt.counter_at_tsc(tsc), ideal) << f;
  }
  // 3 GHz for 100 simulated days, in picoseconds: exactly 86,400,000,000,000 ticks.
  ReferenceTime rt(3'000'000'000, 0);
  EXPECT_EQ(rt.counter_at_time(100ull * 86400 * kPicosPerSecond), 86'400'000'000'000u);
}

TEST(ReferenceTime, SlowTscHasNoPageButAnExactCounter) {
  for (uint64_t f : {uint64_t{1}, uint64_t{32768}, uint64_t{10'000'000}}) {
    ReferenceTime rt(f, 100);
    EXPECT_FALSE(rt.tsc_page_available()) << f;
    spec::HvReferenceTscPage page = rt.tsc_page(5);
    EXPECT_EQ(page.tsc_sequence, spec::kTscSequenceInvalid);
    EXPECT_EQ(page.tsc_scale, 0u);
    EXPECT_EQ(rt.counter_at_tsc(100 + f), 10'000'000u) << f;  // one second
    EXPECT_EQ(rt.counter_at_tsc(100 + 3 * f + 1),
              static_cast<uint64_t>((static_cast<u128>(3 * f + 1) * 10'000'000) / f));
  }
  ReferenceTime one_hz(1, 0);
  EXPECT_EQ(one_hz.counter_at_tsc(0xFFFFFFFFFFFFFFFF), 0xFFFFFFFFFFFFFFFF) << "saturates";
}

TEST(ReferenceTime, OffsetIsSignedTwosComplement) {
  ReferenceTime rt(2'500'000'000, 12'345'678'901);
  // floor(12,345,678,901 * ceil(2^64 / 250) / 2^64) = 49,382,715.
  EXPECT_EQ(rt.tsc_offset(), -49'382'715);
  ReferenceTime zero(2'500'000'000, 0);
  EXPECT_EQ(zero.tsc_offset(), 0);
}

TEST(ReferenceTime, TscAtCounterIsTheFirstTscReachingIt) {
  for (uint64_t hz : {uint64_t{2'000'000'000}, uint64_t{3'000'000'007}, uint64_t{10'000'001},
                      uint64_t{1'000'000}}) {
    for (uint64_t tsc0 : {uint64_t{0}, uint64_t{123'456'789}}) {
      ReferenceTime rt(hz, tsc0);
      for (uint64_t c : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{999}, uint64_t{26'603},
                         uint64_t{10'000'000}, uint64_t{1} << 40}) {
        uint64_t t = rt.tsc_at_counter(c);
        ASSERT_GE(rt.counter_at_tsc(t), c) << hz << " " << tsc0 << " " << c;
        if (t > tsc0) ASSERT_LT(rt.counter_at_tsc(t - 1), c) << hz << " " << tsc0 << " " << c;
      }
    }
  }
  // A counter the TSC never reaches.
  ReferenceTime fast(4'000'000'000, 0);
  EXPECT_EQ(fast.tsc_at_counter(UINT64_MAX), UINT64_MAX);
}

TEST(ReferenceTime, SequenceSkipsInvalidValues) {
  EXPECT_EQ(next_tsc_sequence(0), 1u);
  EXPECT_EQ(next_tsc_sequence(5), 6u);
  EXPECT_EQ(next_tsc_sequence(0xFFFFFFFD), 0xFFFFFFFEu);
  EXPECT_EQ(next_tsc_sequence(0xFFFFFFFE), 1u);
  EXPECT_EQ(next_tsc_sequence(0xFFFFFFFF), 1u);
}

TEST(ReferenceTime, PageLayout) {
  // Dossier §5.2: sequence at 0, scale at 8, offset at 16.
  EXPECT_EQ(offsetof(spec::HvReferenceTscPage, tsc_sequence), 0u);
  EXPECT_EQ(offsetof(spec::HvReferenceTscPage, tsc_scale), 8u);
  EXPECT_EQ(offsetof(spec::HvReferenceTscPage, tsc_offset), 16u);
}

}  // namespace
}  // namespace hvsim::hv
