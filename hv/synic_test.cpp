// Unit tests of the SynIC model (TLFS inter-partition-communication.md; dossier §4): MSR
// validity rules, message slots with queueing, MessagePending and EOM redelivery, event
// flags with edge-only raising, and the conditions under which a SINT is raised. Interrupts
// are recorded through the raise hook; the pages live in a small simulated memory.
#include "hv/synic.h"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "core/hash.h"
#include "core/phys_mem.h"

namespace hvsim::hv {
namespace {

using spec::HvStatus;
constexpr uint64_t kSim = 0x1000, kSief = 0x2000;
constexpr uint32_t kScontrol = 0x40000080, kSversion = 0x40000081, kSiefp = 0x40000082,
                   kSimp = 0x40000083, kEom = 0x40000084, kSirbp = 0x40000085;

class SynicTest : public ::testing::Test {
 public:
  SynicTest()
      : synic_(mem_, kSim, kSief,
               SynicHooks{[this](uint8_t v, bool a) { raised_.emplace_back(v, a); },
                          [this] { return now_; }},
               true) {}
  /// SynIC, SIM and SIEF pages on (at arbitrary guest GPFNs) and SINTx unmasked on `vector`.
  void enable(unsigned sint, uint8_t vector, bool auto_eoi = false) {
    ASSERT_TRUE(synic_.write_msr(kSimp, 0x5000 | 1));
    ASSERT_TRUE(synic_.write_msr(kSiefp, 0x6000 | 1));
    ASSERT_TRUE(synic_.write_msr(kScontrol, 1));
    ASSERT_TRUE(
        synic_.write_msr(spec::sint_msr(sint), vector | (auto_eoi ? spec::sint::kAutoEoi : 0)));
  }
  static spec::HvMessage message(uint32_t type, uint8_t tag) {
    spec::HvMessage m{};
    m.header.message_type = type;
    m.header.payload_size = 16;
    m.header.sender = 0x1234;
    m.payload[0] = tag;
    return m;
  }
  spec::HvMessage slot(unsigned sint) {
    spec::HvMessage m;
    mem_.read(kSim + sint * 256, &m, sizeof m);
    return m;
  }
  /// The guest consumes slot x: MessageType back to None.
  void free_slot(unsigned sint) { mem_.store<uint32_t>(kSim + sint * 256, 0); }

  PhysicalMemory mem_{0x10000};
  std::vector<std::pair<uint8_t, bool>> raised_;
  uint64_t now_ = 0;
  Synic synic_;
};

TEST_F(SynicTest, ResetValuesAndReadOnlyRegisters) {
  uint64_t v = 99;
  ASSERT_TRUE(synic_.read_msr(kScontrol, &v));
  EXPECT_EQ(v, 0u);
  ASSERT_TRUE(synic_.read_msr(kSversion, &v));
  EXPECT_EQ(v, 1u);
  EXPECT_FALSE(synic_.write_msr(kSversion, 1));
  for (unsigned x = 0; x < 16; ++x) {
    ASSERT_TRUE(synic_.read_msr(spec::sint_msr(x), &v));
    EXPECT_EQ(v, 0x10000u) << x;
  }
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  ASSERT_TRUE(synic_.read_msr(kEom, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_FALSE(synic_.read_msr(kSirbp, &v));
  EXPECT_FALSE(Synic::is_synic_msr(kSirbp));
  EXPECT_TRUE(Synic::is_synic_msr(kEom));
  EXPECT_TRUE(Synic::is_synic_msr(spec::sint_msr(15)));
  EXPECT_FALSE(Synic::is_synic_msr(spec::sint_msr(16)));
}

TEST_F(SynicTest, ReservedBitsAndVectorsFault) {
  EXPECT_FALSE(synic_.write_msr(kScontrol, 2));
  EXPECT_FALSE(synic_.write_msr(kSimp, 0x5000 | 1 | 0x10));
  EXPECT_FALSE(synic_.write_msr(kSiefp, 0x5000 | 0x800));
  EXPECT_EQ(synic_.simp(), 0u);
  uint32_t sint2 = spec::sint_msr(2);
  EXPECT_FALSE(synic_.write_msr(sint2, 0xF3 | 0x100));         // 15:8 reserved
  EXPECT_FALSE(synic_.write_msr(sint2, 0xF3 | (1ull << 19)));  // AsIntercept: not offered
  EXPECT_FALSE(synic_.write_msr(sint2, 0xF3 | (1ull << 20)));  // Proxy: not offered
  EXPECT_FALSE(synic_.write_msr(sint2, 0xF3 | (1ull << 40)));
  for (uint64_t vec : {0, 1, 15}) {
    EXPECT_FALSE(synic_.write_msr(sint2, vec)) << vec;                         // unmasked
    EXPECT_FALSE(synic_.write_msr(sint2, vec | spec::sint::kPolling)) << vec;  // polled
    EXPECT_TRUE(synic_.write_msr(sint2, vec | spec::sint::kMasked)) << vec;    // masked: fine
  }
  EXPECT_TRUE(synic_.write_msr(sint2, 16));
  EXPECT_TRUE(synic_.write_msr(sint2, 0xFF | spec::sint::kAutoEoi));
  EXPECT_EQ(synic_.sint(2), 0xFF | spec::sint::kAutoEoi);
  // Without the polling feature the Polling bit faults.
  PhysicalMemory mem(0x10000);
  Synic plain(mem, kSim, kSief, SynicHooks{}, false);
  EXPECT_FALSE(plain.write_msr(sint2, 0x30 | spec::sint::kPolling));
  EXPECT_TRUE(plain.write_msr(sint2, 0x30));
}

TEST_F(SynicTest, MessageGoesToItsSlotAndRaisesTheSint) {
  enable(3, 0x40, true);
  now_ = 77;
  ASSERT_EQ(synic_.post_message(3, message(5, 0xAB), 1), HvStatus::HV_STATUS_SUCCESS);
  spec::HvMessage m = slot(3);
  EXPECT_EQ(m.header.message_type, 5u);
  EXPECT_EQ(m.header.payload_size, 16u);
  EXPECT_EQ(m.header.message_flags, 0u);
  EXPECT_EQ(m.header.sender, 0x1234u);
  EXPECT_EQ(m.payload[0], 0xABu);
  ASSERT_EQ(raised_.size(), 1u);
  EXPECT_EQ(raised_[0], std::make_pair(uint8_t{0x40}, true));
  EXPECT_EQ(slot(2).header.message_type, 0u);  // other slots untouched
}

TEST_F(SynicTest, BusySlotQueuesSetsPendingAndEomRedelivers) {
  enable(2, 0xF3);
  ASSERT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(synic_.post_message(2, message(1, 2), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(synic_.post_message(2, message(1, 3), 1), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(raised_.size(), 1u);
  EXPECT_EQ(slot(2).payload[0], 1u);
  EXPECT_EQ(slot(2).header.message_flags, spec::message_header::kMessagePending);
  EXPECT_EQ(synic_.pending(2), 2u);
  // EOM with the slot still busy delivers nothing.
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  EXPECT_EQ(slot(2).payload[0], 1u);
  EXPECT_EQ(raised_.size(), 1u);
  // The guest frees the slot and writes EOM: the next message, still flagged pending.
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  EXPECT_EQ(slot(2).payload[0], 2u);
  EXPECT_EQ(slot(2).header.message_flags, spec::message_header::kMessagePending);
  EXPECT_EQ(raised_.size(), 2u);
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  EXPECT_EQ(slot(2).payload[0], 3u);
  EXPECT_EQ(slot(2).header.message_flags, 0u);  // the last one
  EXPECT_EQ(synic_.pending(2), 0u);
  // Empty queues: EOM is a no-op.
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  EXPECT_EQ(slot(2).header.message_type, 0u);
  EXPECT_EQ(raised_.size(), 3u);
  EXPECT_EQ(synic_.messages_delivered(), 3u);
}

TEST_F(SynicTest, ApicEoiAlsoRedelivers) {
  enable(2, 0xF3);
  ASSERT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(synic_.post_message(2, message(1, 2), 1), HvStatus::HV_STATUS_SUCCESS);
  free_slot(2);
  synic_.apic_eoi();
  EXPECT_EQ(slot(2).payload[0], 2u);
  EXPECT_EQ(raised_.size(), 2u);
}

TEST_F(SynicTest, FreedSlotIsRefilledWhenTheNextMessageIsQueued) {
  enable(4, 0x50);
  ASSERT_EQ(synic_.post_message(4, message(1, 1), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(synic_.post_message(4, message(1, 2), 1), HvStatus::HV_STATUS_SUCCESS);
  free_slot(4);  // consumed without EOM
  ASSERT_EQ(synic_.post_message(4, message(1, 3), 1), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(slot(4).payload[0], 2u);  // order kept: the queued one first
  EXPECT_EQ(synic_.pending(4), 1u);
}

TEST_F(SynicTest, SixteenBuffersPerPool) {
  enable(2, 0xF3);
  for (int k = 0; k < 17; ++k)
    ASSERT_EQ(synic_.post_message(2, message(1, k), 7), HvStatus::HV_STATUS_SUCCESS) << k;
  // One is in the slot, 16 wait: the pool is exhausted, another pool is not.
  EXPECT_EQ(synic_.post_message(2, message(1, 99), 7), HvStatus::HV_STATUS_INSUFFICIENT_BUFFERS);
  EXPECT_EQ(synic_.post_message(2, message(1, 99), 8), HvStatus::HV_STATUS_SUCCESS);
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  EXPECT_EQ(synic_.post_message(2, message(1, 100), 7), HvStatus::HV_STATUS_SUCCESS);
}

TEST_F(SynicTest, MessagesNeedSynicAndSimPage) {
  EXPECT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  ASSERT_TRUE(synic_.write_msr(kSimp, 0x5000 | 1));
  EXPECT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  ASSERT_TRUE(synic_.write_msr(kScontrol, 1));
  ASSERT_TRUE(synic_.write_msr(kSimp, 0x5000));
  EXPECT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_EQ(synic_.post_message(16, message(1, 1), 1), HvStatus::HV_STATUS_INVALID_PARAMETER);
}

TEST_F(SynicTest, MaskedOrPolledSintGetsTheMessageButNoInterrupt) {
  enable(2, 0xF3);
  ASSERT_TRUE(synic_.write_msr(spec::sint_msr(2), 0xF3 | spec::sint::kMasked));
  ASSERT_TRUE(synic_.write_msr(spec::sint_msr(5), 0x60 | spec::sint::kPolling));
  ASSERT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(synic_.post_message(5, message(1, 2), 1), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(slot(2).payload[0], 1u);
  EXPECT_EQ(slot(5).payload[0], 2u);
  EXPECT_TRUE(raised_.empty());
  // Unmasked later: the next delivery interrupts.
  ASSERT_TRUE(synic_.write_msr(spec::sint_msr(2), 0xF3));
  ASSERT_EQ(synic_.post_message(2, message(1, 3), 1), HvStatus::HV_STATUS_SUCCESS);
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  ASSERT_EQ(raised_.size(), 1u);
  EXPECT_EQ(raised_[0].first, 0xF3);
}

TEST_F(SynicTest, QueuedMessagesWaitForTheSimPage) {
  enable(2, 0xF3);
  ASSERT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(synic_.post_message(2, message(1, 2), 1), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_TRUE(synic_.write_msr(kSimp, 0x5000));  // SIM page off: nothing moves
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  EXPECT_EQ(slot(2).header.message_type, 0u);
  ASSERT_TRUE(synic_.write_msr(kSimp, 0x5000 | 1));  // back on: delivered
  EXPECT_EQ(slot(2).payload[0], 2u);
  EXPECT_EQ(raised_.size(), 2u);
}

TEST_F(SynicTest, EventFlagsRaiseOnlyOnAClearToSetEdge) {
  enable(2, 0xF3);
  ASSERT_EQ(synic_.signal_event(2, 9), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(mem_.load<uint8_t>(kSief + 2 * 256 + 1), 0x02);
  ASSERT_EQ(raised_.size(), 1u);
  ASSERT_EQ(synic_.signal_event(2, 9), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(raised_.size(), 1u);  // already set: no new interrupt
  ASSERT_EQ(synic_.signal_event(2, 2047), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(mem_.load<uint8_t>(kSief + 2 * 256 + 255), 0x80);
  EXPECT_EQ(raised_.size(), 2u);
  mem_.store<uint8_t>(kSief + 2 * 256 + 1, 0);  // the guest clears flag 9
  ASSERT_EQ(synic_.signal_event(2, 9), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(raised_.size(), 3u);
  EXPECT_EQ(synic_.signal_event(2, 2048), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(synic_.signal_event(16, 0), HvStatus::HV_STATUS_INVALID_PARAMETER);
  // Other SINTs' bitmaps untouched.
  for (uint64_t a = kSief; a < kSief + 4096; ++a) {
    if (a < kSief + 512 || a >= kSief + 768) {
      ASSERT_EQ(mem_.load<uint8_t>(a), 0) << a;
    }
  }
}

TEST_F(SynicTest, EventsNeedSiefPageAndUnmaskedSint) {
  EXPECT_EQ(synic_.signal_event(2, 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  enable(2, 0xF3);
  ASSERT_TRUE(synic_.write_msr(kSiefp, 0x6000));
  EXPECT_EQ(synic_.signal_event(2, 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  ASSERT_TRUE(synic_.write_msr(kSiefp, 0x6000 | 1));
  EXPECT_EQ(synic_.signal_event(3, 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);  // masked
  EXPECT_EQ(mem_.load<uint8_t>(kSief + 3 * 256), 0);
  ASSERT_TRUE(synic_.write_msr(kScontrol, 0));
  EXPECT_EQ(synic_.signal_event(2, 1), HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_TRUE(raised_.empty());
}

TEST_F(SynicTest, TimerMessagesUseTheirOwnBufferAndCarryDeliveryTime) {
  enable(2, 0xF3);
  // The slot is busy with a posted message: the timer message waits, flagged pending.
  ASSERT_EQ(synic_.post_message(2, message(1, 1), 1), HvStatus::HV_STATUS_SUCCESS);
  now_ = 1000;
  ASSERT_TRUE(synic_.post_timer_message(3, 2, 900));
  EXPECT_FALSE(synic_.post_timer_message(3, 2, 950));  // its one buffer is taken
  EXPECT_TRUE(synic_.timer_message_pending(3));
  EXPECT_EQ(slot(2).header.message_flags, spec::message_header::kMessagePending);
  now_ = 1234;
  free_slot(2);
  ASSERT_TRUE(synic_.write_msr(kEom, 0));
  spec::HvMessage m = slot(2);
  EXPECT_EQ(m.header.message_type, 0x80000010u);
  EXPECT_EQ(m.header.payload_size, 24u);
  spec::HvTimerMessagePayload p;
  std::memcpy(&p, m.payload, sizeof p);
  EXPECT_EQ(p.timer_index, 3u);
  EXPECT_EQ(p.expiration_time, 900u);
  EXPECT_EQ(p.delivery_time, 1234u);
  EXPECT_FALSE(synic_.timer_message_pending(3));
}

TEST_F(SynicTest, SameHistorySameState) {
  auto run = [](Synic& s, PhysicalMemory& m) {
    EXPECT_TRUE(s.write_msr(kSimp, 0x5000 | 1));
    EXPECT_TRUE(s.write_msr(kScontrol, 1));
    EXPECT_TRUE(s.write_msr(spec::sint_msr(2), 0xF3));
    for (int k = 0; k < 5; ++k) {
      spec::HvMessage msg{};
      msg.header.message_type = 1;
      msg.payload[0] = k;
      s.post_message(2, msg, 1);
    }
    m.store<uint32_t>(kSim + 512, 0);
    s.write_msr(kEom, 0);
    Hasher h;
    s.hash_into(h);
    m.hash_into(h);
    return h.digest();
  };
  PhysicalMemory m1(0x10000), m2(0x10000);
  Synic a(m1, kSim, kSief, SynicHooks{}, false), b(m2, kSim, kSief, SynicHooks{}, false);
  EXPECT_EQ(run(a, m1), run(b, m2));
}

}  // namespace
}  // namespace hvsim::hv
