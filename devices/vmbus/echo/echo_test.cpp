// The echo VSP (docs/vmbus.md "Echo VSP") through a real Server and a fake transport, with
// the guest's end of each ring played by the guest kit's C ring (kit/vmbus_ring.c), and the
// per-channel ring stats of the inspect tree (devices/vmbus/channel_stats.cpp): completions
// echo transaction id and payload, batches commit once, a full inbound ring waits for the
// guest's signal without losing a packet, a malformed ring fails the channel until it is
// reopened, and the stats read the control pages without changing them or throwing.
#include "devices/vmbus/echo/echo_world_test.h"

namespace hvsim::vmbus {
namespace {

using namespace echo_testing;

class EchoTest : public ::testing::Test, public EchoWorld {};

TEST_F(EchoTest, AnswersACompletionWithTheSameTransactionAndPayload) {
  gpadl(4, 4);
  open(4, 4);
  ASSERT_EQ(request(6, 40), 0);
  ASSERT_TRUE(vmbus_ring_commit_write(&out));
  signal_host();
  ASSERT_TRUE(completion(6, 40));
  EXPECT_EQ(vmbus_ring_read(&in, buf, sizeof buf, &pk), VMBUS_RING_EMPTY);
  EXPECT_EQ(echo->requests(), 1u);
  EXPECT_EQ(echo->replies(), 1u);
  EXPECT_EQ(echo->bytes(), 40u);  // the payload as read: 40 bytes, a multiple of 8
  EXPECT_EQ(t.signals, 1u);       // the inbound ring was empty
}

TEST_F(EchoTest, IgnoresPacketsThatAskForNoCompletion) {
  gpadl(4, 4);
  open(4, 4);
  ASSERT_EQ(request(0, 16, 0), 0);       // no completion requested
  ASSERT_EQ(request(1, 16, 0, 0xB), 0);  // a completion from the guest
  ASSERT_EQ(request(2, 16), 0);
  vmbus_ring_commit_write(&out);
  signal_host();
  EXPECT_TRUE(completion(2, 16));
  EXPECT_EQ(vmbus_ring_read(&in, buf, sizeof buf, &pk), VMBUS_RING_EMPTY);
  EXPECT_EQ(echo->requests(), 1u);
  InspectNode n;
  echo->inspect(n);
  EXPECT_EQ(counter(n, "ignored_by_reason", "no completion requested"), 1u);
  EXPECT_EQ(counter(n, "ignored_by_reason", "packet type"), 1u);
}

TEST_F(EchoTest, DrainsInBatchesWithOneSignal) {
  gpadl(8, 8);
  open(8, 8);
  const uint32_t n = 100;  // 100 * 88 bytes in each ring: fits
  for (uint32_t k = 0; k < n; ++k) ASSERT_EQ(request(k, 64), 0);
  vmbus_ring_commit_write(&out);
  signal_host();
  EXPECT_EQ(echo->replies(), n);
  InspectNode i;
  echo->inspect(i);
  EXPECT_EQ(counter(i, "", "batches"), 2u);  // 64 + 36
  EXPECT_EQ(t.signals, 1u);                  // only the first commit found the ring empty
  for (uint32_t k = 0; k < n; ++k) ASSERT_TRUE(completion(k, 64)) << k;
}

TEST_F(EchoTest, FullInboundRingWaitsForTheGuestWithoutLosingPackets) {
  gpadl(8, 2);
  open(8, 2);  // inbound: 4 KiB of data, three 1024-byte completions
  const uint32_t n = 20, size = 1000;
  for (uint32_t k = 0; k < n; ++k) ASSERT_EQ(request(k, size), 0);
  vmbus_ring_commit_write(&out);
  signal_host();
  EXPECT_EQ(echo->replies(), 3u);
  EXPECT_TRUE(echo->waiting());
  uint32_t pending;
  std::memcpy(&pending, ring_base() + 8 * 4096 + spec::kPendingSendSzOffset, 4);
  EXPECT_EQ(pending, 1024u);
  uint32_t got = 0, rounds = 0;
  while (got < n && rounds++ < 100) {
    while (completion(got, size)) ++got;
    if (vmbus_ring_commit_read(&in)) signal_host();  // pending_send_sz satisfied
  }
  EXPECT_EQ(got, n);
  EXPECT_EQ(echo->replies(), n);
  EXPECT_EQ(echo->requests(), n);
  EXPECT_FALSE(echo->waiting());
  EXPECT_EQ(echo->state(), EchoChannel::State::kOpen);
  InspectNode i;
  s.inspect(i);
  EXPECT_GT(counter(i, "channels/1/inbound/host_writer", "full"), 0u);
  EXPECT_EQ(counter(i, "channels/1/inbound/host_writer", "packets"), n);
  EXPECT_EQ(counter(i, "channels/1/outbound/host_reader", "packets"), n);
  EXPECT_EQ(counter(i, "channels/1/outbound", "bytes_in_use"), 0u);
  EXPECT_EQ(counter(i, "channels/1/inbound", "bytes_in_use"), 0u);
  EXPECT_EQ(counter(i, "channels/1/inbound", "pending_send_sz"), 0u);
}

TEST_F(EchoTest, MalformedRingFailsTheChannelUntilReopened) {
  gpadl(4, 4);
  open(4, 4);
  ASSERT_EQ(request(0, 32), 0);
  vmbus_ring_commit_write(&out);
  uint32_t bad = 12;  // unaligned write_index
  std::memcpy(ring_base() + spec::kWriteIndexOffset, &bad, 4);
  signal_host();
  EXPECT_EQ(echo->state(), EchoChannel::State::kFailed);
  EXPECT_EQ(echo->failures(), 1u);
  InspectNode n;
  echo->inspect(n);
  EXPECT_EQ(counter(n, "failures_by_reason", to_string(RingError::kWriteIndexUnaligned)), 1u);
  signal_host();  // a failed channel does nothing
  EXPECT_EQ(echo->replies(), 0u);
  EXPECT_EQ(echo->failures(), 1u);
  close();
  EXPECT_EQ(echo->state(), EchoChannel::State::kClosed);
  open(4, 4);
  EXPECT_EQ(echo->state(), EchoChannel::State::kOpen);
  ASSERT_EQ(request(5, 24), 0);
  vmbus_ring_commit_write(&out);
  signal_host();
  EXPECT_TRUE(completion(5, 24));
  EXPECT_EQ(echo->replies(), 1u);
  EXPECT_EQ(echo->failures(), 1u);
}

TEST_F(EchoTest, ACompletionThatCanNeverFitFailsTheChannel) {
  gpadl(4, 2);
  open(4, 2);  // inbound: 4 KiB of data
  ASSERT_EQ(request(0, 4088), 0);
  vmbus_ring_commit_write(&out);
  signal_host();
  EXPECT_EQ(echo->state(), EchoChannel::State::kFailed);
  EXPECT_EQ(echo->replies(), 0u);
  EXPECT_EQ(echo->failures(), 1u);
}

TEST_F(EchoTest, RequestsWrittenBeforeTheOpenAreAnswered) {
  gpadl(4, 4);
  ASSERT_EQ(vmbus_ring_init(&out, ring_base(), 4 * 4096), 0);
  ASSERT_EQ(vmbus_ring_init(&in, ring_base() + 4 * 4096, 4 * 4096), 0);
  ASSERT_EQ(request(0, 8), 0);
  vmbus_ring_commit_write(&out);
  open(4, 4, 1, true);
  EXPECT_EQ(echo->replies(), 1u);
  EXPECT_TRUE(completion(0, 8));
}

TEST(EchoDeterminism, SameRunTwiceGivesTheSameInspectTree) {
  auto run = [] {
    EchoWorld w;
    w.gpadl(8, 2);
    w.open(8, 2);
    for (uint32_t k = 0; k < 12; ++k) EXPECT_EQ(w.request(k, 500 + k), 0);
    vmbus_ring_commit_write(&w.out);
    w.signal_host();
    uint32_t got = 0, rounds = 0;
    while (got < 12 && rounds++ < 50) {
      while (w.completion(got, 500 + got)) ++got;
      if (vmbus_ring_commit_read(&w.in)) w.signal_host();
    }
    EXPECT_EQ(got, 12u);
    return w.inspect_json() + " signals " + std::to_string(w.t.signals);
  };
  std::string first = run(), second = run();
  EXPECT_EQ(first, second);
  EXPECT_NE(first.find("\"replies\":12"), std::string::npos) << first;
}

// ---- per-channel ring stats (channel_stats.cpp) ----

class ChannelStatsTest : public EchoTest {
 protected:
  /// A second channel (relid 2) that no VSP drives, opened by the guest.
  uint32_t bare() {
    OfferParams o;
    o.interface_type = parse_guid("11111111-2222-3333-4444-555555555555");
    o.name = "bare";
    uint32_t relid = s.add_offer(o);
    gpadl(4, 4, relid);
    open(4, 4, relid);
    return relid;
  }
};

TEST_F(ChannelStatsTest, OccupancyOfARingNobodyReads) {
  uint32_t relid = bare();
  ASSERT_EQ(relid, 2u);
  ASSERT_EQ(request(0, 100), 0);
  ASSERT_EQ(request(1, 8), 0);
  vmbus_ring_commit_write(&out);
  signal_host(relid);
  std::vector<uint8_t> before(t.mem);
  InspectNode n;
  s.inspect(n);
  EXPECT_EQ(t.mem, before);  // inspect never writes the rings
  std::string c = "channels/2/outbound";
  uint32_t wire = (16 + 104 + 8) + (16 + 8 + 8);
  EXPECT_EQ(counter(n, c, "data_size"), 3 * 4096u);
  EXPECT_EQ(counter(n, c, "write_index"), wire);
  EXPECT_EQ(counter(n, c, "read_index"), 0u);
  EXPECT_EQ(counter(n, c, "bytes_in_use"), wire);
  EXPECT_EQ(text(n, c, "control"), "ok");
  EXPECT_EQ(counter(n, c + "/host_reader", "packets"), 0u);  // no VSP
  EXPECT_EQ(counter(n, "channels/2/inbound", "bytes_in_use"), 0u);
  EXPECT_EQ(counter(n, "channels/2", "guest_signals"), 1u);
}

TEST_F(ChannelStatsTest, OccupancyAcrossTheWrap) {
  uint32_t relid = bare();
  uint32_t data = 3 * 4096;
  uint8_t* ctl = ring_base(relid);
  uint32_t w = 64, r = data - 128;
  std::memcpy(ctl + spec::kWriteIndexOffset, &w, 4);
  std::memcpy(ctl + spec::kReadIndexOffset, &r, 4);
  InspectNode n;
  s.inspect(n);
  EXPECT_EQ(counter(n, "channels/2/outbound", "bytes_in_use"), 192u);
}

TEST_F(ChannelStatsTest, GarbageControlPageIsShownNotThrown) {
  uint32_t relid = bare();
  uint8_t* ctl = ring_base(relid);
  std::memset(ctl, 0xFF, 64);  // every index out of range
  uint32_t unaligned = 20;
  std::memcpy(ring_base(relid) + 4 * 4096 + spec::kReadIndexOffset, &unaligned, 4);
  InspectNode n;
  EXPECT_NO_THROW(s.inspect(n));
  EXPECT_EQ(text(n, "channels/2/outbound", "control"), "bad write_index");
  EXPECT_EQ(counter(n, "channels/2/outbound", "write_index"), 0xFFFFFFFFu);
  EXPECT_EQ(text(n, "channels/2/inbound", "control"), "bad read_index");
  EXPECT_EQ(entry(n, "channels/2/outbound", "bytes_in_use"), nullptr);
}

TEST_F(ChannelStatsTest, ClosedChannelShowsCountersButNoRings) {
  gpadl(4, 4);
  open(4, 4);
  ASSERT_EQ(request(0, 16), 0);
  vmbus_ring_commit_write(&out);
  signal_host();
  close();
  InspectNode n;
  s.inspect(n);
  EXPECT_EQ(entry(n, "channels/1/outbound", "write_index"), nullptr);
  EXPECT_EQ(counter(n, "channels/1/outbound/host_reader", "packets"), 1u);
  EXPECT_EQ(counter(n, "channels/1/inbound/host_writer", "packets"), 1u);
  EXPECT_EQ(counter(n, "channels/1/inbound/host_writer", "signals"), 1u);
}

TEST(RingStatsInspect, UnreadableRingMemorySaysSo) {
  struct Refusing : RingMemory {
    uint64_t size() const override { return 4 * 4096; }
    bool read(uint64_t, void*, size_t) override { return false; }
    bool write(uint64_t, const void*, size_t) override { return false; }
  } m;
  InspectNode n;
  inspect_ring(m, n);
  EXPECT_EQ(text(n, "", "control"), "unreadable");
  EXPECT_EQ(counter(n, "", "data_size"), 3 * 4096u);
}

}  // namespace
}  // namespace hvsim::vmbus
