// The integration-service VSPs (shared/spec/hyperv-interfaces.md §9.1-9.5) through a real
// Server and a fake transport, with the guest's end of each ring played by the guest kit's
// C ring (kit/vmbus_ring.c): negotiation, heartbeats, shutdown, time samples, and the
// checks that drop a bad answer or stop a channel whose ring is broken.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/inspect.h"
#include "core/rng.h"
#include "core/state.h"
#include "devices/vmbus/ic/services.h"
#include "devices/vmbus/memory_transport_test.h"
#include "devices/vmbus/server.h"

extern "C" {
#include "kit/vmbus_ring.h"
}

namespace hvsim::vmbus::ic {
namespace {

using FakeTransport = test_support::MemoryTransport;

/// The guest's end of one IC channel: rings at pages [first, first + 8).
struct GuestEnd {
  vmbus_ring out{}, in{};
  uint8_t buf[8192];
  vmbus_packet pk{};
  std::vector<uint8_t> msg;  ///< the last host message's payload
  uint64_t txn = 0;
};

class VspTest : public ::testing::Test {
 protected:
  FakeTransport t;
  Server s{t, ServerParams{}, "test"};
  uint64_t parent = 133485408000000000ull, reference = 1234;
  IntegrationServices ics{s, [this] { return parent; }, [this] { return reference; }};
  GuestEnd g[4];

  void msg(std::vector<uint8_t> m) {
    s.on_message(4, 0, m.data(), static_cast<uint32_t>(m.size()));
  }
  static void put32(std::vector<uint8_t>& m, uint32_t off, uint32_t v) {
    std::memcpy(&m[off], &v, 4);
  }

  void SetUp() override {
    std::vector<uint8_t> c(40, 0);
    put32(c, 0, 14);
    put32(c, 8, spec::kVersionWin10V5_3);
    c[16] = 2;
    msg(c);
    std::vector<uint8_t> ro(8, 0);
    put32(ro, 0, 3);
    msg(ro);
  }
  /// The guest opens channel `relid` over pages 8 * relid ... + 8.
  void open(uint32_t relid) {
    uint32_t first = 8 * relid;
    uint8_t* base = t.mem.data() + uint64_t{first} * 4096;
    ASSERT_EQ(vmbus_ring_init(&g[relid].out, base, 4 * 4096), 0);
    ASSERT_EQ(vmbus_ring_init(&g[relid].in, base + 4 * 4096, 4 * 4096), 0);
    std::vector<uint8_t> h(28 + 64, 0);
    put32(h, 0, 8);
    put32(h, 8, relid);
    put32(h, 12, 0x100 + relid);
    h[16] = 8 + 64;
    h[18] = 1;
    put32(h, 20, 8 * 4096);
    for (uint32_t k = 0; k < 8; ++k) {
      uint64_t pfn = first + k;
      std::memcpy(&h[28 + 8 * k], &pfn, 8);
    }
    msg(h);
    std::vector<uint8_t> o(148, 0);
    put32(o, 0, 5);
    put32(o, 8, relid);
    put32(o, 12, relid);
    put32(o, 16, 0x100 + relid);
    put32(o, 24, 4);
    msg(o);
    ASSERT_EQ(s.channels().at(relid).state, Server::ChannelState::kOpen);
  }
  /// Reads the next host message of channel `relid` into g[relid].msg; false if none.
  bool receive(uint32_t relid) {
    GuestEnd& e = g[relid];
    if (vmbus_ring_read(&e.in, e.buf, sizeof e.buf, &e.pk) != 0) return false;
    e.msg.assign(e.pk.bytes + e.pk.payload_offset, e.pk.bytes + e.pk.len);
    e.txn = e.pk.transaction_id;
    vmbus_ring_commit_read(&e.in);
    return true;
  }
  /// Sends `m` back as a response (flags transaction|response) and signals the host.
  void answer(uint32_t relid, std::vector<uint8_t> m, uint16_t type = 6, uint64_t txn = ~0ull) {
    GuestEnd& e = g[relid];
    if (m.size() > kOffFlags) m[kOffFlags] = kFlagTransaction | kFlagResponse;
    ASSERT_EQ(vmbus_ring_write(&e.out, type, 0, txn == ~0ull ? e.txn : txn, nullptr, 0, m.data(),
                               static_cast<uint32_t>(m.size())),
              0);
    vmbus_ring_commit_write(&e.out);
    s.on_event(s.channels().at(relid).connection_id);
  }
  /// Answers the negotiation as Linux would when the host offered `msg_major.msg_minor`.
  void negotiate(uint32_t relid, uint16_t major, uint16_t minor) {
    ASSERT_TRUE(receive(relid));
    std::vector<uint8_t> m = g[relid].msg;
    ASSERT_EQ(rd16(m, kOffMsgType), kMsgNegotiate);
    std::vector<uint8_t> body = {1, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0};
    body.resize(16);
    wr16(body, 12, major);
    wr16(body, 14, minor);
    m.resize(kHeaderSize);
    m.insert(m.end(), body.begin(), body.end());
    wr16(m, kOffMsgSize, 16);
    answer(relid, m);
  }
  /// The VSP's inspect subtree as JSON.
  template <class Vsp>
  std::string tree(const Vsp& c) {
    InspectNode n;
    c.inspect(n);
    return n.to_json();
  }
};

TEST_F(VspTest, HeartbeatNegotiatesAndCountsEchoes) {
  open(1);
  negotiate(1, 3, 0);
  Heartbeat& hb = ics.heartbeat();
  EXPECT_EQ(hb.state(), IcChannel::State::kReady);
  EXPECT_EQ(hb.message_version(), (Version{3, 0}));
  for (int k = 1; k <= 3; ++k) {
    ics.tick();
    ASSERT_TRUE(receive(1));
    std::vector<uint8_t> m = g[1].msg;
    ASSERT_EQ(rd16(m, kOffMsgType), kMsgHeartbeat);
    EXPECT_EQ(rd64(m, kHeaderSize), static_cast<uint64_t>(k));
    wr64(m, kHeaderSize, rd64(m, kHeaderSize) + 1);
    answer(1, m);
  }
  EXPECT_EQ(hb.sent(), 3u);
  EXPECT_EQ(hb.acked(), 3u);
  EXPECT_TRUE(hb.alive());
  EXPECT_EQ(hb.dropped(), 0u);
}

TEST_F(VspTest, BadHeartbeatAnswersAreDropped) {
  open(1);
  negotiate(1, 3, 0);
  Heartbeat& hb = ics.heartbeat();
  ics.tick();
  ASSERT_TRUE(receive(1));
  std::vector<uint8_t> m = g[1].msg;
  answer(1, m);  // seq not incremented
  EXPECT_FALSE(hb.alive());
  ics.tick();
  ASSERT_TRUE(receive(1));
  m = g[1].msg;
  wr64(m, kHeaderSize, rd64(m, kHeaderSize) + 1);
  answer(1, std::vector<uint8_t>(m.begin(), m.begin() + 20));  // short
  answer(1, m, 6, g[1].txn + 7);                               // wrong transaction
  answer(1, m, 0xB);                                           // a completion
  std::vector<uint8_t> big = m;
  wr16(big, kOffMsgSize, 5000);
  answer(1, big);  // icmsgsize beyond the packet
  std::vector<uint8_t> req = m;
  answer(1, m);    // the good one
  answer(1, req);  // again: nothing outstanding
  EXPECT_EQ(hb.acked(), 1u);
  EXPECT_TRUE(hb.alive());
  EXPECT_EQ(hb.dropped(), 6u);
  std::string j = tree(hb);
  for (const char* r : {"\"bad sequence\": 1", "\"short packet\": 1", "\"wrong transaction\": 1",
                        "\"completion\": 1", "\"bad icmsgsize\": 1", "\"unexpected answer\": 1"})
    EXPECT_NE(j.find(r), std::string::npos) << r << " in " << j;
  // A tick with the heartbeat unanswered: missed.
  ics.tick();
  ics.tick();
  EXPECT_FALSE(hb.alive());
  EXPECT_NE(tree(hb).find("\"missed\": 1"), std::string::npos);
}

// Checkpoints (ic_checkpoint.cpp): with a heartbeat outstanding, a shutdown channel still
// negotiating and time sync closed, the server and services restored into new objects save
// the same bytes and inspect trees, and the restored heartbeat takes the guest's echo of the
// request the original sent.
TEST_F(VspTest, CheckpointRoundTripKeepsTheOutstandingRequest) {
  open(1);
  negotiate(1, 3, 0);
  open(2);  // its negotiation request stays unanswered
  ics.tick();
  ics.tick();  // the first heartbeat missed, the second outstanding
  auto save = [](const Server& server, const IntegrationServices& services) {
    StateWriter w;
    server.save(w, "vmbus.server");
    services.save(w, "vmbus.ic");
    return w.finish();
  };
  std::vector<uint8_t> bytes = save(s, ics);
  Server s2(t, ServerParams{}, "copy");
  StateReader r(bytes, "test");
  s2.restore(r, "vmbus.server");
  auto ics2 = IntegrationServices::restore(
      s2, [this] { return parent; }, [this] { return reference; }, r, "vmbus.ic");
  EXPECT_EQ(save(s2, *ics2), bytes);
  InspectNode a, b;
  ics.inspect(a);
  ics2->inspect(b);
  EXPECT_EQ(a.to_json(), b.to_json());
  EXPECT_EQ(ics2->shutdown().state(), IcChannel::State::kNegotiating);
  EXPECT_EQ(ics2->timesync().state(), IcChannel::State::kClosed);
  // The guest echoes the outstanding heartbeat (sequence 2) to the restored server.
  ASSERT_TRUE(receive(1));
  ASSERT_TRUE(receive(1));
  std::vector<uint8_t> m = g[1].msg;
  EXPECT_EQ(rd64(m, kHeaderSize), 2u);
  wr64(m, kHeaderSize, 3);
  m[kOffFlags] = kFlagTransaction | kFlagResponse;
  ASSERT_EQ(vmbus_ring_write(&g[1].out, 6, 0, g[1].txn, nullptr, 0, m.data(),
                             static_cast<uint32_t>(m.size())),
            0);
  vmbus_ring_commit_write(&g[1].out);
  s2.on_event(s2.channels().at(1).connection_id);
  EXPECT_EQ(ics2->heartbeat().acked(), 1u);
  EXPECT_TRUE(ics2->heartbeat().alive());
  EXPECT_EQ(ics.heartbeat().acked(), 0u);  // the original saw nothing
  // The restored ring writer goes on where the original's stopped: the next heartbeat is
  // the guest's next packet.
  ics2->tick();
  ASSERT_TRUE(receive(1));
  EXPECT_EQ(rd64(g[1].msg, kHeaderSize), 3u);
}

TEST_F(VspTest, CheckpointOfServicesIsCheckedOnRestore) {
  open(1);
  negotiate(1, 3, 0);
  StateWriter w;
  s.save(w, "vmbus.server");
  ics.save(w, "vmbus.ic");
  std::vector<uint8_t> bytes = w.finish();
  // A server restored without the open channel's GPADL pages: the heartbeat's ring state
  // does not fit it (a server that never saw the guest).
  Server fresh(t, ServerParams{}, "fresh");
  StateReader r(bytes, "test");
  fresh.add_offer(OfferParams{});
  fresh.add_offer(OfferParams{});
  fresh.add_offer(OfferParams{});
  try {
    IntegrationServices::restore(
        fresh, [] { return uint64_t{0}; }, [] { return uint64_t{0}; }, r, "vmbus.ic");
    ADD_FAILURE() << "restored services onto channels that are not open";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("vmbus.ic.heartbeat"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("attached"), std::string::npos) << e.what();
  }
}

TEST_F(VspTest, MalformedNegotiationLeavesNoVersion) {
  open(1);
  ASSERT_TRUE(receive(1));
  std::vector<uint8_t> m = g[1].msg;
  wr16(m, kHeaderSize, 101);  // more framework versions than allowed
  answer(1, m);
  EXPECT_EQ(ics.heartbeat().state(), IcChannel::State::kNoVersion);
  ics.tick();
  EXPECT_FALSE(receive(1));  // no heartbeat on a channel without a version
}

TEST_F(VspTest, BrokenRingFailsTheChannelUntilReopened) {
  open(1);
  uint8_t* out = t.mem.data() + 8 * 4096;
  uint32_t bad = 3;  // unaligned write_index
  std::memcpy(out, &bad, 4);
  s.on_event(s.channels().at(1).connection_id);
  EXPECT_EQ(ics.heartbeat().state(), IcChannel::State::kFailed);
  std::vector<uint8_t> c(12, 0);
  put32(c, 0, 7);  // CloseChannel
  put32(c, 8, 1);
  msg(c);
  EXPECT_EQ(ics.heartbeat().state(), IcChannel::State::kClosed);
  std::vector<uint8_t> td(16, 0);
  put32(td, 0, 11);  // GpadlTeardown
  put32(td, 8, 1);
  put32(td, 12, 0x101);
  msg(td);
  open(1);
  negotiate(1, 3, 0);
  EXPECT_EQ(ics.heartbeat().state(), IcChannel::State::kReady);
}

TEST_F(VspTest, ShutdownRecordsTheGuestsAnswer) {
  EXPECT_FALSE(ics.shutdown().request(0, 0, 0));  // not open
  open(2);
  negotiate(2, 3, 2);
  ASSERT_TRUE(ics.shutdown().request(Shutdown::kFlagForce, 5, 30));
  ASSERT_TRUE(receive(2));
  std::vector<uint8_t> m = g[2].msg;
  ASSERT_EQ(rd16(m, kOffMsgType), kMsgShutdown);
  EXPECT_EQ(rd32(m, kHeaderSize), 5u);
  EXPECT_EQ(rd32(m, kHeaderSize + 4), 30u);
  EXPECT_EQ(rd32(m, kHeaderSize + 8), Shutdown::kFlagForce);
  EXPECT_STREQ(ics.shutdown().result(), "none");
  wr32(m, kOffStatus, kStatusFail);
  answer(2, m);
  EXPECT_STREQ(ics.shutdown().result(), "fail");
}

TEST_F(VspTest, TimeSyncSendsV4Samples) {
  open(3);
  negotiate(3, 4, 0);
  ASSERT_TRUE(receive(3));  // the SYNC sample at negotiation
  std::vector<uint8_t> m = g[3].msg;
  ASSERT_EQ(rd16(m, kOffMsgType), kMsgTimeSync);
  EXPECT_EQ(rd64(m, kHeaderSize), parent);
  EXPECT_EQ(rd64(m, kHeaderSize + 8), reference);
  EXPECT_EQ(m[kHeaderSize + 16], TimeSync::kFlagSync);
  answer(3, m);
  parent += 100;
  ics.tick();
  ASSERT_TRUE(receive(3));
  EXPECT_EQ(rd64(g[3].msg, kHeaderSize), parent);
  EXPECT_EQ(g[3].msg[kHeaderSize + 16], TimeSync::kFlagSample);
  EXPECT_EQ(ics.timesync().samples(), 2u);
}

TEST_F(VspTest, FuzzedHeartbeatAnswersAreEachAckedOrDropped) {
  // 100,000 answers, most of them a valid echo with a few random bytes changed, a random
  // length or packet type: each is acked or dropped exactly once, and nothing breaks.
  open(1);
  negotiate(1, 3, 0);
  Heartbeat& hb = ics.heartbeat();
  Rng rng(6);
  uint64_t answers = 0;
  for (int k = 0; k < 100000; ++k) {
    ics.tick();
    ASSERT_TRUE(receive(1));
    std::vector<uint8_t> m = g[1].msg;
    wr64(m, kHeaderSize, rd64(m, kHeaderSize) + 1);
    m[kOffFlags] = kFlagTransaction | kFlagResponse;
    uint64_t r = rng.next();
    for (uint64_t n = r % 4; n > 0; --n)
      m[rng.next() % m.size()] = static_cast<uint8_t>(rng.next());
    if ((r >> 8) % 8 == 0) m.resize(rng.next() % (m.size() + 64));
    uint16_t type = (r >> 16) % 16 == 0 ? 0xB : 6;
    uint64_t txn = (r >> 24) % 16 == 0 ? rng.next() : g[1].txn;
    GuestEnd& e = g[1];
    ASSERT_EQ(vmbus_ring_write(&e.out, type, 0, txn, nullptr, 0, m.data(),
                               static_cast<uint32_t>(m.size())),
              0);
    vmbus_ring_commit_write(&e.out);
    s.on_event(s.channels().at(1).connection_id);
    ++answers;
    ASSERT_EQ(hb.acked() + hb.dropped(), answers) << "case " << k;
    ASSERT_EQ(hb.state(), IcChannel::State::kReady);
  }
  EXPECT_GT(hb.acked(), 10000u);
  EXPECT_GT(hb.dropped(), 10000u);
}

}  // namespace
}  // namespace hvsim::vmbus::ic
