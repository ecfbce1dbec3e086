// The VMBus server's monitor pages and protocol 6.0 (shared/spec/hyperv-interfaces.md §6.2,
// §6.6), driven through a fake transport: page validation at InitiateContact, monitored
// offers and their ids, what the host writes into the pages, polls, hostile page contents,
// 6.0 negotiation and responses.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/inspect.h"
#include "devices/vmbus/server.h"

#include "devices/vmbus/memory_transport_test.h"

namespace hvsim::vmbus {
namespace {

using spec::MessageType;
namespace mp = spec::monitor_page;

constexpr uint64_t kPage1 = 0x3000, kPage2 = 0x5000;  // inside the 64-page fake memory

struct Fake : test_support::MemoryTransport {
  Fake() : MemoryTransport(2) {}
  std::vector<std::vector<uint8_t>> posted;
  bool post(uint32_t, unsigned, const uint8_t* m, uint32_t n) override {
    posted.emplace_back(m, m + n);
    return true;
  }
  uint32_t u32(uint64_t gpa) const {
    uint32_t v;
    std::memcpy(&v, mem.data() + gpa, 4);
    return v;
  }
  uint16_t u16(uint64_t gpa) const {
    uint16_t v;
    std::memcpy(&v, mem.data() + gpa, 2);
    return v;
  }
  void set32(uint64_t gpa, uint32_t v) { std::memcpy(mem.data() + gpa, &v, 4); }
  uint32_t type(size_t k) const {
    uint32_t v;
    std::memcpy(&v, posted.at(k).data(), 4);
    return v;
  }
};

std::vector<uint8_t> msg(MessageType t, size_t size) {
  std::vector<uint8_t> m(size);
  uint32_t v = static_cast<uint32_t>(t);
  std::memcpy(m.data(), &v, 4);
  return m;
}
void put32(std::vector<uint8_t>& m, uint32_t off, uint32_t v) {
  std::memcpy(m.data() + off, &v, 4);
}
void put64(std::vector<uint8_t>& m, uint32_t off, uint64_t v) {
  std::memcpy(m.data() + off, &v, 8);
}

class MonitorTest : public ::testing::Test {
 protected:
  Fake t;
  ServerParams params;
  std::unique_ptr<Server> s;
  void SetUp() override { s = std::make_unique<Server>(t, params, "mnf"); }
  void send(std::vector<uint8_t> m) {
    s->on_message(4, 0, m.data(), static_cast<uint32_t>(m.size()));
  }
  void contact(uint64_t p1 = kPage1, uint64_t p2 = kPage2,
               uint32_t version = spec::kVersionWin10V5_3, uint32_t features = 0) {
    auto m = msg(MessageType::kInitiateContact, 40);
    put32(m, 8, version);
    m[16] = 2;
    put32(m, 20, features);
    put64(m, 24, p1);
    put64(m, 32, p2);
    send(m);
  }
  void request_offers() { send(msg(MessageType::kRequestOffers, 8)); }
  // A 4-page ring GPADL at pages [first, first + 4) and OpenChannel over it.
  void open(uint32_t relid, uint32_t handle, uint64_t first, size_t size = 148) {
    auto h = msg(MessageType::kGpadlHeader, 28 + 8 * 4);
    put32(h, 8, relid);
    put32(h, 12, handle);
    h[16] = 8 + 8 * 4;
    h[18] = 1;
    put32(h, 20, 4 * 4096);
    for (uint32_t k = 0; k < 4; ++k) put64(h, 28 + 8 * k, first + k);
    send(h);
    auto o = msg(MessageType::kOpenChannel, size);
    put32(o, 8, relid);
    put32(o, 12, relid);
    put32(o, 16, handle);
    put32(o, 24, 2);
    send(o);
  }
  uint64_t pending_gpa(unsigned group) const {
    return kPage2 + mp::kTriggerGroup + group * mp::kTriggerGroupStride + mp::kPending;
  }
  const Server::Channel& ch(uint32_t relid) const { return s->channels().at(relid); }
  // The last OfferChannel of `relid` the guest got.
  std::pair<uint8_t, uint8_t> offered_monitor(uint32_t relid) const {
    for (size_t k = t.posted.size(); k-- > 0;) {
      const auto& p = t.posted[k];
      uint32_t r;
      std::memcpy(&r, p.data() + 184, 4);
      if (t.type(k) == 1 && r == relid) return {p[188], p[189]};
    }
    ADD_FAILURE() << "no offer of relid " << relid;
    return {0, 0};
  }
};

OfferParams monitored() {
  OfferParams o;
  o.monitored = true;
  return o;
}

TEST_F(MonitorTest, MonitorPagesAreValidatedAtInitiateContact) {
  struct Case {
    uint64_t p1, p2;
    const char* reason;
  } cases[] = {
      {kPage1, 0, "monitor pages: only one given"},
      {0, kPage2, "monitor pages: only one given"},
      {kPage1 + 8, kPage2, "monitor pages: not page-aligned"},
      {kPage1, kPage2 + 0x800, "monitor pages: not page-aligned"},
      {kPage1, kPage1, "monitor pages: same page"},
      {kPage1, 64 * 4096, "monitor pages: outside memory"},
      {~0ull << 12, kPage2, "monitor pages: outside memory"},
  };
  for (const Case& c : cases) {
    Fake f;
    Server srv(f, params, "v");
    auto m = msg(MessageType::kInitiateContact, 40);
    put32(m, 8, spec::kVersionWin10V5_3);
    m[16] = 2;
    put64(m, 24, c.p1);
    put64(m, 32, c.p2);
    srv.on_message(4, 0, m.data(), 40);
    // Connected anyway, without monitor pages; nothing written to guest memory.
    EXPECT_TRUE(srv.connected()) << c.reason;
    EXPECT_EQ(srv.rejected(c.reason), 1u) << c.reason;
    EXPECT_EQ(srv.monitor_page(0), 0u);
    EXPECT_EQ(srv.monitor_page(1), 0u);
    EXPECT_EQ(f.mem, std::vector<uint8_t>(64 * 4096));
  }
  contact(0, 0);  // none: fine, not rejected
  EXPECT_EQ(s->rejected(), 0u);
  EXPECT_EQ(s->monitor_page(1), 0u);
  send(msg(MessageType::kUnload, 8));
  contact();
  EXPECT_EQ(s->rejected(), 0u);
  EXPECT_EQ(s->monitor_page(0), kPage1);
  EXPECT_EQ(s->monitor_page(1), kPage2);
  InspectNode n;
  s->inspect(n);
  EXPECT_NE(n.to_json(0).find("\"monitor_page2\":" + std::to_string(kPage2)), std::string::npos)
      << n.to_json(0);
}

TEST_F(MonitorTest, MonitoredOffersGetTheLowestFreeIdAndTheHostWritesThePages) {
  uint32_t a = s->add_offer(monitored()), plain = s->add_offer(OfferParams{});
  uint32_t b = s->add_offer(monitored());
  EXPECT_EQ(ch(a).monitor_id, 0);
  EXPECT_EQ(ch(plain).monitor_id, spec::offer_channel::kNoMonitor);
  EXPECT_EQ(ch(b).monitor_id, 1);
  // Freed with its channel (not yet offered: a rescind removes it at once).
  s->rescind(a);
  uint32_t c = s->add_offer(monitored());
  EXPECT_EQ(c, a);
  EXPECT_EQ(ch(c).monitor_id, 0);
  contact();
  request_offers();
  EXPECT_EQ(offered_monitor(c), std::make_pair(uint8_t{0}, uint8_t{1}));
  EXPECT_EQ(offered_monitor(b), std::make_pair(uint8_t{1}, uint8_t{1}));
  EXPECT_EQ(offered_monitor(plain), std::make_pair(uint8_t{0xFF}, uint8_t{0}));
  EXPECT_TRUE(ch(b).monitored);
  EXPECT_FALSE(ch(plain).monitored);
  // In both pages: group 0 enabled, latency 50 us = 500 x 100 ns, parameter {conn, flag 0}.
  for (uint64_t page : {kPage1, kPage2}) {
    EXPECT_EQ(t.u32(page + mp::kTriggerState), 1u);
    EXPECT_EQ(t.u16(page + mp::kLatency + 2 * 1), 500u);
    EXPECT_EQ(t.u32(page + mp::kParameter + 8 * 1), ch(b).connection_id);
    EXPECT_EQ(t.u32(page + mp::kParameter + 8 * 1 + 4), 0u);
    EXPECT_EQ(t.u32(page + mp::kParameter), ch(c).connection_id);
    EXPECT_EQ(t.u32(page + mp::kTriggerGroup + mp::kArmed), 0u);
  }
}

TEST_F(MonitorTest, GroupsAndTheLimitOf128) {
  for (int k = 0; k < 130; ++k) s->add_offer(monitored());
  EXPECT_EQ(ch(128).monitor_id, 127);
  EXPECT_EQ(ch(129).monitor_id, spec::offer_channel::kNoMonitor);  // plain offer then
  contact();
  request_offers();
  EXPECT_EQ(offered_monitor(129), std::make_pair(uint8_t{0xFF}, uint8_t{0}));
  EXPECT_EQ(offered_monitor(100), std::make_pair(uint8_t{99}, uint8_t{1}));
  EXPECT_EQ(t.u32(kPage2 + mp::kTriggerState), 0xFu);
  EXPECT_EQ(t.u32(kPage2 + mp::kParameter + 8 * 99), ch(100).connection_id);
}

TEST_F(MonitorTest, WithoutMonitorPagesMonitoredOffersFallBack) {
  uint32_t r = s->add_offer(monitored());
  contact(0, 0);
  request_offers();
  EXPECT_EQ(offered_monitor(r), std::make_pair(uint8_t{0xFF}, uint8_t{0}));
  EXPECT_FALSE(ch(r).monitored);
  open(r, 7, 10);
  EXPECT_EQ(ch(r).state, Server::ChannelState::kOpen);
  EXPECT_FALSE(s->monitor_active());
  s->poll_monitor();  // nothing to read, nothing happens
  EXPECT_EQ(s->rejected(), 0u);
  // Its hypercall signals work as for any channel.
  int calls = 0;
  s->set_signal_handler(r, [&] { ++calls; });
  s->on_event(ch(r).connection_id);
  EXPECT_EQ(calls, 1);
}

TEST_F(MonitorTest, PollsSignalAnOpenMonitoredChannelAndClearTheBit) {
  uint32_t r = s->add_offer(monitored()), r2 = s->add_offer(monitored());
  int hooks = 0, calls = 0;
  s->set_monitor_hook([&] { ++hooks; });
  s->set_signal_handler(r2, [&] { ++calls; });
  contact();
  request_offers();
  EXPECT_FALSE(s->monitor_active());
  open(r2, 7, 10);
  EXPECT_EQ(hooks, 1);
  EXPECT_TRUE(s->monitor_active());
  EXPECT_FALSE(s->monitor_pending());
  t.set32(pending_gpa(0), 1u << ch(r2).monitor_id);
  EXPECT_TRUE(s->monitor_pending());
  s->poll_monitor();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(t.u32(pending_gpa(0)), 0u);
  EXPECT_EQ(ch(r2).monitor_signals, 1u);
  EXPECT_EQ(ch(r2).guest_signals, 0u);  // hypercall signals are counted apart
  s->poll_monitor();                    // nothing pending: no signal
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s->monitor_polls(), 2u);
  EXPECT_EQ(s->rejected(), 0u);
  // Closing the last monitored channel ends the need to poll.
  auto cl = msg(MessageType::kCloseChannel, 12);
  put32(cl, 8, r2);
  send(cl);
  EXPECT_FALSE(s->monitor_active());
  (void)r;
}

TEST_F(MonitorTest, HostileMonitorPageContentsAreCountedAndNeverSignal) {
  uint32_t r = s->add_offer(monitored()), shut = s->add_offer(monitored());
  int calls = 0;
  s->set_signal_handler(r, [&] { ++calls; });
  s->set_signal_handler(shut, [&] { ++calls; });
  contact();
  request_offers();
  // A GPADL over a monitor page is refused (the host writes there).
  auto h = msg(MessageType::kGpadlHeader, 36);
  put32(h, 8, r);
  put32(h, 12, 99);
  h[16] = 16;
  h[18] = 1;
  put32(h, 20, 4096);
  put64(h, 28, kPage2 / 4096);
  send(h);
  EXPECT_EQ(s->rejected("bad GPADL page"), 1u);
  open(r, 7, 10);
  // Garbage: every bit of every group (126 ids never allocated, the closed `shut`, and r's).
  for (unsigned g = 0; g < 4; ++g) t.set32(pending_gpa(g), ~0u);
  // The guest also rewrites what the host wrote: parameters and latencies mean nothing to
  // the host, which knows its channels by monitor id.
  std::memset(t.mem.data() + kPage2 + mp::kLatency, 0xAB, 0x400);
  s->poll_monitor();
  EXPECT_EQ(calls, 1);  // only r, which is open
  EXPECT_EQ(ch(r).monitor_signals, 1u);
  EXPECT_EQ(ch(shut).monitor_signals, 0u);
  EXPECT_EQ(s->rejected("monitor: unallocated id"), 126u);
  EXPECT_EQ(s->rejected("monitor: channel not open"), 1u);
  for (unsigned g = 0; g < 4; ++g) EXPECT_EQ(t.u32(pending_gpa(g)), 0u);
  // After unload the pages are forgotten: no poll reads them.
  send(msg(MessageType::kUnload, 8));
  EXPECT_EQ(s->monitor_page(1), 0u);
  t.set32(pending_gpa(0), ~0u);
  s->poll_monitor();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(t.u32(pending_gpa(0)), ~0u);
  // Reconnected without pages: offers go out plain.
  contact(0, 0);
  request_offers();
  EXPECT_EQ(offered_monitor(r), std::make_pair(uint8_t{0xFF}, uint8_t{0}));
}

TEST_F(MonitorTest, Version6IsRefusedByDefaultAndSpokenWhenListed) {
  contact(kPage1, kPage2, spec::kVersionWin10V6_0, 0xFF);
  EXPECT_FALSE(s->connected());
  ASSERT_EQ(t.posted.size(), 1u);
  EXPECT_EQ(t.posted[0].size(), 16u);
  EXPECT_EQ(t.posted[0][8], 0);
  params.versions.push_back(spec::kVersionWin10V6_0);
  s = std::make_unique<Server>(t, params, "v6");
  // Every feature requested: none is built, none granted.
  contact(kPage1, kPage2, spec::kVersionWin10V6_0, 0xFF);
  ASSERT_EQ(t.posted.size(), 2u);
  const auto& r = t.posted[1];
  ASSERT_EQ(r.size(), spec::version_response::kSizeV6);
  EXPECT_EQ(r[8], 1);
  EXPECT_EQ(r[9], 0);
  uint32_t conn, features;
  std::memcpy(&conn, r.data() + 12, 4);
  std::memcpy(&features, r.data() + 16, 4);
  EXPECT_EQ(conn, 1u);
  EXPECT_EQ(features, 0u);
  EXPECT_EQ(s->version(), spec::kVersionWin10V6_0);
  EXPECT_EQ(s->features(), 0u);
  EXPECT_EQ(s->monitor_page(1), kPage2);
  // OpenChannel with the 6.0 extension (156 bytes) opens a monitored channel.
  uint32_t relid = s->add_offer(monitored());
  request_offers();
  open(relid, 5, 20, spec::open_channel::kSizeV6);
  EXPECT_EQ(ch(relid).state, Server::ChannelState::kOpen);
  EXPECT_EQ(s->rejected(), 0u);
  // A 5.3 response stays 16 bytes.
  Server old(t, ServerParams{}, "old");
  auto m = msg(MessageType::kInitiateContact, 40);
  put32(m, 8, spec::kVersionWin10V5_3);
  m[16] = 2;
  old.on_message(4, 0, m.data(), 40);
  EXPECT_EQ(t.posted.back().size(), 16u);
}

// Determinism: the same sequence twice gives the same replies, memory and counters.
TEST_F(MonitorTest, RunTwiceIsIdentical) {
  auto run = [](std::vector<std::vector<uint8_t>>& posted, std::vector<uint8_t>& mem,
                std::string& tree) {
    Fake f;
    ServerParams p;
    Server srv(f, p, "twice");
    for (int k = 0; k < 5; ++k) {
      OfferParams o;
      o.monitored = k % 2 == 0;
      srv.add_offer(o);
    }
    auto c = msg(MessageType::kInitiateContact, 40);
    put32(c, 8, spec::kVersionWin10V5_3);
    c[16] = 2;
    put64(c, 24, kPage1);
    put64(c, 32, kPage2);
    srv.on_message(4, 0, c.data(), 40);
    auto ro = msg(MessageType::kRequestOffers, 8);
    srv.on_message(4, 0, ro.data(), 8);
    for (uint32_t relid = 1; relid <= 5; ++relid) {
      auto h = msg(MessageType::kGpadlHeader, 28 + 32);
      put32(h, 8, relid);
      put32(h, 12, relid);
      h[16] = 40;
      h[18] = 1;
      put32(h, 20, 4 * 4096);
      for (uint32_t k = 0; k < 4; ++k) put64(h, 28 + 8 * k, 10 + 4 * relid + k);
      srv.on_message(4, 0, h.data(), static_cast<uint32_t>(h.size()));
      auto o = msg(MessageType::kOpenChannel, 148);
      put32(o, 8, relid);
      put32(o, 12, relid);
      put32(o, 16, relid);
      put32(o, 24, 2);
      srv.on_message(4, 0, o.data(), 148);
    }
    for (int k = 0; k < 20; ++k) {
      f.set32(kPage2 + mp::kTriggerGroup, 0x15u * static_cast<uint32_t>(k) | 0x10000u);
      srv.poll_monitor();
    }
    posted = f.posted;
    mem = f.mem;
    InspectNode n;
    srv.inspect(n);
    tree = n.to_json();
  };
  std::vector<std::vector<uint8_t>> p1, p2;
  std::vector<uint8_t> m1, m2;
  std::string t1, t2;
  run(p1, m1, t1);
  run(p2, m2, t2);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(t1, t2);
  EXPECT_NE(t1.find("\"monitor_signals\""), std::string::npos);
}

}  // namespace
}  // namespace hvsim::vmbus
