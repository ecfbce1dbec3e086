// Unit tests of the synthetic timers (TLFS timers.md; dossier §5.3) on a SynIC model: one-shot
// and periodic expiry at exact reference times, AutoEnable and COUNT = 0, lazy and non-lazy
// handling of missed periods, direct mode, the TimerExpired message field by field, the
// SINT0 rule and a masked SINT, and the MSR validity rules.
#include "hv/synthetic_timers.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/hash.h"
#include "core/phys_mem.h"
#include "hv/synic.h"

namespace hvsim::hv {
namespace {

namespace sc = spec::stimer_config;
constexpr uint64_t kSim = 0x1000, kSief = 0x2000;
constexpr uint32_t kScontrol = 0x40000080, kSimp = 0x40000083, kEom = 0x40000084;

uint32_t config_msr(unsigned n) {
  return spec::stimer_config_msr(n);
}
uint32_t count_msr(unsigned n) {
  return spec::stimer_count_msr(n);
}
uint64_t sintx(unsigned x) {
  return uint64_t{x} << sc::kSintxShift;
}

class TimersTest : public ::testing::Test {
 public:
  TimersTest()
      : synic_(mem_, kSim, kSief,
               SynicHooks{[this](uint8_t v, bool) { sint_irqs_.push_back(v); },
                          [this] { return now_; }},
               false),
        timers_(
            synic_, [this](uint8_t v) { direct_irqs_.push_back(v); }, true) {
    EXPECT_TRUE(synic_.write_msr(kSimp, 0x9000 | 1));
    EXPECT_TRUE(synic_.write_msr(kScontrol, 1));
    EXPECT_TRUE(synic_.write_msr(spec::sint_msr(2), 0xF3));
  }
  bool wr(uint32_t msr, uint64_t v) { return timers_.write_msr(msr, v, now_); }
  uint64_t rd(uint32_t msr) {
    uint64_t v = 0;
    EXPECT_TRUE(timers_.read_msr(msr, &v));
    return v;
  }
  /// Advances reference time to t and polls, as the hypervisor does at VM exits.
  void at(uint64_t t) {
    now_ = t;
    timers_.poll(t);
  }
  spec::HvMessage slot(unsigned sint) {
    spec::HvMessage m;
    mem_.read(kSim + sint * 256, &m, sizeof m);
    return m;
  }
  spec::HvTimerMessagePayload payload(unsigned sint) {
    spec::HvMessage m = slot(sint);
    spec::HvTimerMessagePayload p;
    std::memcpy(&p, m.payload, sizeof p);
    return p;
  }
  /// The guest consumes slot x and writes EOM.
  void consume(unsigned sint) {
    mem_.store<uint32_t>(kSim + sint * 256, 0);
    ASSERT_TRUE(synic_.write_msr(kEom, 0));
  }

  PhysicalMemory mem_{0x10000};
  uint64_t now_ = 1000;
  std::vector<uint8_t> sint_irqs_, direct_irqs_;
  Synic synic_;
  SyntheticTimers timers_;
};

TEST_F(TimersTest, ResetStateAndValidity) {
  for (unsigned n = 0; n < 4; ++n) {
    EXPECT_EQ(rd(config_msr(n)), 0u);
    EXPECT_EQ(rd(count_msr(n)), 0u);
  }
  EXPECT_EQ(timers_.next_expiry(), SyntheticTimers::kNever);
  EXPECT_FALSE(wr(config_msr(0), 1ull << 13));                                   // 15:13 RsvdZ
  EXPECT_FALSE(wr(config_msr(0), 1ull << 20));                                   // 63:20 RsvdZ
  EXPECT_FALSE(wr(config_msr(0), sc::kDirectMode | sc::kEnable | (5ull << 4)));  // vector < 16
  EXPECT_TRUE(wr(config_msr(0), sc::kDirectMode | (5ull << 4)));                 // not enabled
  EXPECT_FALSE(SyntheticTimers::is_timer_msr(0x400000B8));
  uint64_t v;
  EXPECT_FALSE(timers_.read_msr(0x400000B8, &v));
  // Direct mode needs the feature.
  SyntheticTimers plain(synic_, nullptr, false);
  EXPECT_FALSE(plain.write_msr(config_msr(1), sc::kDirectMode | (0x40ull << 4), 0));
}

TEST_F(TimersTest, OneShotFiresAtItsAbsoluteTimeWithExactMessage) {
  ASSERT_TRUE(wr(count_msr(1), 5000));
  ASSERT_TRUE(wr(config_msr(1), sc::kEnable | sintx(2)));
  EXPECT_EQ(timers_.next_expiry(), 5000u);
  at(4999);
  EXPECT_EQ(slot(2).header.message_type, 0u);  // never early
  at(5003);
  spec::HvMessage m = slot(2);
  EXPECT_EQ(m.header.message_type, 0x80000010u);
  EXPECT_EQ(m.header.payload_size, 24u);
  EXPECT_EQ(m.header.message_flags, 0u);
  EXPECT_EQ(m.header.sender, 0u);
  spec::HvTimerMessagePayload p = payload(2);
  EXPECT_EQ(p.timer_index, 1u);
  EXPECT_EQ(p.reserved, 0u);
  EXPECT_EQ(p.expiration_time, 5000u);
  EXPECT_EQ(p.delivery_time, 5003u);
  EXPECT_EQ(sint_irqs_, std::vector<uint8_t>{0xF3});
  // A one-shot timer disables itself.
  EXPECT_EQ(rd(config_msr(1)) & sc::kEnable, 0u);
  EXPECT_EQ(timers_.next_expiry(), SyntheticTimers::kNever);
  EXPECT_EQ(timers_.expirations(1), 1u);
}

TEST_F(TimersTest, OneShotInThePastExpiresAtTheNextPoll) {
  ASSERT_TRUE(wr(count_msr(0), 10));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable | sintx(2)));
  EXPECT_EQ(timers_.next_expiry(), 10u);
  at(now_);
  EXPECT_EQ(payload(2).expiration_time, 10u);
  EXPECT_EQ(payload(2).delivery_time, 1000u);
}

TEST_F(TimersTest, PeriodicKeepsItsGrid) {
  ASSERT_TRUE(wr(count_msr(0), 100));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable | sc::kPeriodic | sintx(2)));  // at 1000
  EXPECT_EQ(timers_.next_expiry(), 1100u);
  at(1100);
  EXPECT_EQ(payload(2).expiration_time, 1100u);
  EXPECT_EQ(timers_.next_expiry(), 1200u);
  consume(2);
  at(1250);  // late by 50: next boundary stays 1300
  EXPECT_EQ(payload(2).expiration_time, 1200u);
  EXPECT_EQ(payload(2).delivery_time, 1250u);
  EXPECT_EQ(timers_.next_expiry(), 1300u);
  EXPECT_EQ(rd(config_msr(0)) & sc::kEnable, sc::kEnable);  // periodic stays enabled
  consume(2);
  EXPECT_EQ(timers_.expirations(0), 2u);
  EXPECT_EQ(timers_.missed(0), 0u);
  EXPECT_EQ(sint_irqs_.size(), 2u);
}

TEST_F(TimersTest, MissedPeriodsNonLazySignalTheEarliestAndSkipTheRest) {
  ASSERT_TRUE(wr(count_msr(0), 100));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable | sc::kPeriodic | sintx(2)));
  at(1430);  // boundaries 1100, 1200, 1300, 1400 all passed
  EXPECT_EQ(payload(2).expiration_time, 1100u);
  EXPECT_EQ(payload(2).delivery_time, 1430u);
  EXPECT_EQ(timers_.missed(0), 3u);
  EXPECT_EQ(timers_.expirations(0), 1u);
  EXPECT_EQ(timers_.next_expiry(), 1500u);
}

TEST_F(TimersTest, MissedPeriodsLazySignalsTheLatest) {
  ASSERT_TRUE(wr(count_msr(0), 100));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable | sc::kPeriodic | sc::kLazy | sintx(2)));
  at(1430);
  EXPECT_EQ(payload(2).expiration_time, 1400u);
  EXPECT_EQ(timers_.missed(0), 3u);
  EXPECT_EQ(timers_.next_expiry(), 1500u);
}

TEST_F(TimersTest, UndeliveredMessageMakesTheNextExpiryMissed) {
  ASSERT_TRUE(wr(count_msr(0), 100));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable | sc::kPeriodic | sintx(2)));
  at(1100);
  at(1200);  // the guest has not consumed the first message yet
  // The first message sits in the slot; the second waits in the timer's buffer.
  EXPECT_EQ(payload(2).expiration_time, 1100u);
  EXPECT_TRUE(synic_.timer_message_pending(0));
  EXPECT_EQ(slot(2).header.message_flags, spec::message_header::kMessagePending);
  at(1300);  // buffer still busy: this one is skipped
  EXPECT_EQ(timers_.missed(0), 1u);
  now_ = 1310;
  consume(2);  // EOM: the 1200 message, delivered at 1310
  EXPECT_EQ(payload(2).expiration_time, 1200u);
  EXPECT_EQ(payload(2).delivery_time, 1310u);
}

TEST_F(TimersTest, AutoEnableAndCountZero) {
  ASSERT_TRUE(wr(config_msr(2), sc::kAutoEnable | sintx(2)));
  EXPECT_EQ(timers_.next_expiry(), SyntheticTimers::kNever);
  ASSERT_TRUE(wr(count_msr(2), 3000));  // Linux's set_next_event
  EXPECT_EQ(rd(config_msr(2)) & sc::kEnable, sc::kEnable);
  EXPECT_EQ(timers_.next_expiry(), 3000u);
  ASSERT_TRUE(wr(count_msr(2), 0));  // zero stops it whatever AutoEnable says
  EXPECT_EQ(rd(config_msr(2)) & sc::kEnable, 0u);
  EXPECT_EQ(timers_.next_expiry(), SyntheticTimers::kNever);
  ASSERT_TRUE(wr(count_msr(2), 2000));
  at(2000);
  EXPECT_EQ(payload(2).timer_index, 2u);
  // After the one-shot expiry, a new count enables it again.
  consume(2);
  ASSERT_TRUE(wr(count_msr(2), 2500));
  EXPECT_EQ(timers_.next_expiry(), 2500u);
  // Without AutoEnable, writing COUNT does not enable.
  ASSERT_TRUE(wr(config_msr(3), sintx(2)));
  ASSERT_TRUE(wr(count_msr(3), 2200));
  EXPECT_EQ(rd(config_msr(3)) & sc::kEnable, 0u);
  EXPECT_EQ(timers_.next_expiry(), 2500u);
}

TEST_F(TimersTest, DirectModeAssertsTheVectorWithoutAMessage) {
  ASSERT_TRUE(
      wr(config_msr(0), sc::kDirectMode | (0xEDull << sc::kApicVectorShift) | sc::kAutoEnable));
  ASSERT_TRUE(wr(count_msr(0), 1500));
  at(1500);
  EXPECT_EQ(direct_irqs_, std::vector<uint8_t>{0xED});
  EXPECT_TRUE(sint_irqs_.empty());
  EXPECT_EQ(slot(0).header.message_type, 0u);
  EXPECT_EQ(slot(2).header.message_type, 0u);
  // Direct mode may use SINTx 0 (no message).
  EXPECT_EQ(timers_.expirations(0), 1u);
}

TEST_F(TimersTest, Sint0DisablesAndMaskedSintLosesOnlyTheInterrupt) {
  ASSERT_TRUE(wr(count_msr(0), 2000));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable));  // message mode, SINTx 0: disabled at once
  EXPECT_EQ(rd(config_msr(0)) & sc::kEnable, 0u);
  EXPECT_EQ(timers_.next_expiry(), SyntheticTimers::kNever);
  // SINT3 is masked (reset value): the message arrives, the interrupt does not.
  ASSERT_TRUE(wr(config_msr(1), sc::kEnable | sintx(3)));
  ASSERT_TRUE(wr(count_msr(1), 2000));
  at(2000);
  EXPECT_EQ(slot(3).header.message_type, 0x80000010u);
  EXPECT_TRUE(sint_irqs_.empty());
}

TEST_F(TimersTest, MessageWaitsWhileTheSimPageIsOff) {
  ASSERT_TRUE(synic_.write_msr(kSimp, 0x9000));
  ASSERT_TRUE(wr(count_msr(0), 1200));
  ASSERT_TRUE(wr(config_msr(0), sc::kEnable | sintx(2)));
  at(1200);
  EXPECT_EQ(slot(2).header.message_type, 0u);
  EXPECT_TRUE(synic_.timer_message_pending(0));
  now_ = 1300;
  ASSERT_TRUE(synic_.write_msr(kSimp, 0x9000 | 1));
  EXPECT_EQ(payload(2).expiration_time, 1200u);
  EXPECT_EQ(payload(2).delivery_time, 1300u);
}

TEST_F(TimersTest, SeveralTimersFireInIndexOrder) {
  ASSERT_TRUE(wr(config_msr(3), sc::kAutoEnable | sintx(2)));
  ASSERT_TRUE(wr(count_msr(3), 1100));
  ASSERT_TRUE(wr(config_msr(1), sc::kAutoEnable | sintx(2)));
  ASSERT_TRUE(wr(count_msr(1), 1200));
  EXPECT_EQ(timers_.next_expiry(), 1100u);
  at(1300);
  EXPECT_EQ(payload(2).timer_index, 1u);  // timer 1 polled first, in the slot
  consume(2);
  EXPECT_EQ(payload(2).timer_index, 3u);
}

TEST_F(TimersTest, SameHistorySameState) {
  auto run = [] {
    PhysicalMemory mem(0x10000);
    uint64_t now = 0;
    Synic s(mem, kSim, kSief, SynicHooks{nullptr, [&] { return now; }}, false);
    SyntheticTimers t(s, nullptr, true);
    s.write_msr(kSimp, 0x9000 | 1);
    s.write_msr(kScontrol, 1);
    t.write_msr(count_msr(0), 70, now);
    t.write_msr(config_msr(0), sc::kEnable | sc::kPeriodic | sintx(4), now);
    for (now = 0; now < 1000; now += 33) {
      t.poll(now);
      if (now % 99 == 0) mem.store<uint32_t>(kSim + 4 * 256, 0), s.write_msr(kEom, 0);
    }
    Hasher h;
    t.hash_into(h);
    s.hash_into(h);
    mem.hash_into(h);
    return h.digest();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace hvsim::hv
