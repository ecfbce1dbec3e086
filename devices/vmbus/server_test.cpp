// The VMBus server's message parsing and state machine, driven directly through a fake
// transport (shared/spec/hyperv-interfaces.md §6.2-6.4, §6.8).
#include "devices/vmbus/server.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "core/inspect.h"

namespace hvsim::vmbus {
namespace {

using spec::MessageType;

struct FakeTransport : Transport {
  std::vector<std::vector<uint8_t>> posted;
  std::vector<std::pair<uint32_t, unsigned>> signals;
  std::set<uint32_t> events;
  std::vector<uint8_t> mem = std::vector<uint8_t>(64 * 4096);
  bool accept_posts = true;
  bool post(uint32_t, unsigned sint, const uint8_t* m, uint32_t n) override {
    EXPECT_EQ(sint, 2u);
    if (!accept_posts) return false;
    posted.emplace_back(m, m + n);
    return true;
  }
  bool signal(uint32_t vp, unsigned, unsigned flag) override {
    signals.emplace_back(vp, flag);
    return true;
  }
  void connect_event(uint32_t c) override { EXPECT_TRUE(events.insert(c).second); }
  void disconnect_event(uint32_t c) override { EXPECT_EQ(events.erase(c), 1u); }
  uint32_t vp_count() const override { return 2; }
  uint64_t memory_size() const override { return mem.size(); }
  bool read_guest(uint64_t gpa, void* out, uint64_t n) const override {
    if (gpa + n > mem.size()) return false;
    std::memcpy(out, mem.data() + gpa, n);
    return true;
  }
  bool write_guest(uint64_t gpa, const void* in, uint64_t n) override {
    if (gpa + n > mem.size()) return false;
    std::memcpy(mem.data() + gpa, in, n);
    return true;
  }
  uint32_t type(size_t k) const { return u32(k, 0); }
  uint32_t u32(size_t k, uint32_t off) const {
    uint32_t v;
    std::memcpy(&v, posted.at(k).data() + off, 4);
    return v;
  }
};

struct Msg {
  std::vector<uint8_t> b;
  Msg(MessageType t, size_t size) : b(size) { put32(0, static_cast<uint32_t>(t)); }
  Msg& put32(uint32_t off, uint32_t v) {
    std::memcpy(b.data() + off, &v, 4);
    return *this;
  }
  Msg& put16(uint32_t off, uint16_t v) {
    std::memcpy(b.data() + off, &v, 2);
    return *this;
  }
  Msg& put64(uint32_t off, uint64_t v) {
    std::memcpy(b.data() + off, &v, 8);
    return *this;
  }
};

class ServerTest : public ::testing::Test {
 protected:
  FakeTransport t;
  ServerParams params;
  std::unique_ptr<Server> s;
  void SetUp() override { s = std::make_unique<Server>(t, params, "test"); }
  void send(const Msg& m, uint32_t conn = 4) {
    s->on_message(conn, 0, m.b.data(), static_cast<uint32_t>(m.b.size()));
  }
  void contact(uint32_t version = spec::kVersionWin10V5_3, uint32_t vcpu = 0) {
    Msg m(MessageType::kInitiateContact, 40);
    m.put32(8, version).put32(12, vcpu);
    m.b[16] = 2;
    send(m);
  }
  void gpadl(uint32_t relid, uint32_t handle, std::vector<uint64_t> pfns) {
    // As Linux: at most 26 PFNs in the header, 28 per body.
    size_t here = std::min<size_t>(pfns.size(), 26);
    Msg h(MessageType::kGpadlHeader, 28 + 8 * here);
    h.put32(8, relid).put32(12, handle).put16(16, static_cast<uint16_t>(8 + 8 * pfns.size()));
    h.put16(18, 1).put32(20, static_cast<uint32_t>(pfns.size() * 4096)).put32(24, 0);
    for (size_t k = 0; k < here; ++k) h.put64(28 + 8 * static_cast<uint32_t>(k), pfns[k]);
    send(h);
    for (size_t k = here; k < pfns.size(); k += 28) {
      size_t n = std::min<size_t>(28, pfns.size() - k);
      Msg b(MessageType::kGpadlBody, 16 + 8 * n);
      b.put32(12, handle);
      for (size_t j = 0; j < n; ++j) b.put64(16 + 8 * static_cast<uint32_t>(j), pfns[k + j]);
      send(b);
    }
  }
  void open(uint32_t relid, uint32_t handle, uint32_t offset, uint32_t vp = 0) {
    Msg o(MessageType::kOpenChannel, 148);
    o.put32(8, relid).put32(12, relid).put32(16, handle).put32(20, vp).put32(24, offset);
    send(o);
  }
};

TEST_F(ServerTest, NegotiatesEveryLinuxVersionAndRejectsUnknown) {
  // 6.0 is not spoken: version_supported = 0, still disconnected.
  contact(spec::kVersionWin10V6_0);
  ASSERT_EQ(t.posted.size(), 1u);
  EXPECT_EQ(t.type(0), 15u);
  EXPECT_EQ(t.posted[0][8], 0);
  EXPECT_FALSE(s->connected());
  contact(spec::kVersionWin10V5_3);
  EXPECT_EQ(t.posted[1][8], 1);
  EXPECT_EQ(t.u32(1, 12), 1u);  // msg_conn_id
  EXPECT_EQ(s->version(), spec::kVersionWin10V5_3);
  contact();  // again while connected
  EXPECT_EQ(s->rejected("already connected"), 1u);
  for (uint32_t v : params.versions) {
    Server fresh(t, params, "v");
    Msg m(MessageType::kInitiateContact, 40);
    m.put32(8, v);
    m.b[16] = 2;
    fresh.on_message(v >= spec::kVersionWin10V5 ? 4 : 1, 0, m.b.data(), 40);
    EXPECT_EQ(fresh.version(), v);
    EXPECT_EQ(t.u32(t.posted.size() - 1, 12), v >= spec::kVersionWin10V5 ? 1u : v);
  }
}

TEST_F(ServerTest, PreWin8VersionsAreNotAcceptedByDefault) {
  contact(spec::kVersionWin7);
  contact(spec::kVersionWs2008);
  EXPECT_FALSE(s->connected());
  contact(spec::kVersionWin8);
  EXPECT_EQ(s->version(), spec::kVersionWin8);
  EXPECT_EQ(t.u32(2, 12), spec::kVersionWin8);  // < 5.0: the version echoed
}

TEST_F(ServerTest, RestrictedVersionsMakeTheGuestFallBack) {
  params.versions = {spec::kVersionWin10};
  s = std::make_unique<Server>(t, params, "test");
  contact(spec::kVersionWin10V5_3);
  contact(spec::kVersionWin10V5_2);
  EXPECT_FALSE(s->connected());
  contact(spec::kVersionWin10);
  EXPECT_TRUE(s->connected());
  ASSERT_EQ(t.posted.size(), 3u);
  EXPECT_EQ(t.posted[0][8], 0);
  EXPECT_EQ(t.posted[1][8], 0);
  EXPECT_EQ(t.posted[2][8], 1);
}

TEST_F(ServerTest, OffersThenAllOffersDelivered) {
  OfferParams o;
  o.interface_type = spec::kHeartbeatIc;
  o.instance = parse_guid("01020304-0506-0708-090a-0b0c0d0e0f10");
  uint32_t r1 = s->add_offer(o), r2 = s->add_offer(o);
  EXPECT_EQ(r1, 1u);
  EXPECT_EQ(r2, 2u);
  EXPECT_TRUE(t.events.count(1 | (2 << 12)));
  Msg ro(MessageType::kRequestOffers, 8);
  send(ro);  // not connected
  EXPECT_EQ(s->rejected("not connected"), 1u);
  contact();
  send(ro);
  ASSERT_EQ(t.posted.size(), 4u);
  EXPECT_EQ(t.type(1), 1u);
  EXPECT_EQ(t.posted[1].size(), 196u);
  EXPECT_EQ(std::memcmp(t.posted[1].data() + 8, spec::kHeartbeatIc.b, 16), 0);
  EXPECT_EQ(guid_string(o.instance), "01020304-0506-0708-090a-0b0c0d0e0f10");
  EXPECT_EQ(t.u32(1, 184), 1u);
  EXPECT_EQ(t.posted[1][188], 0xFF);
  EXPECT_EQ(t.u32(1, 192), 1u | (2 << 12));
  EXPECT_EQ(t.type(3), 4u);
  send(ro);
  EXPECT_EQ(s->rejected("offers already requested"), 1u);
  // A hot-added offer goes out at once.
  s->add_offer(o);
  EXPECT_EQ(t.type(4), 1u);
}

TEST_F(ServerTest, GpadlOpenCloseTeardown) {
  OfferParams o;
  uint32_t relid = s->add_offer(o);
  contact();
  send(Msg(MessageType::kRequestOffers, 8));
  size_t base = t.posted.size();
  std::vector<uint64_t> pfns;
  for (uint64_t k = 10; k < 50; ++k) pfns.push_back(k);  // 40 pages: header + one body
  gpadl(relid, 0xE1E10, pfns);
  ASSERT_EQ(t.posted.size(), base + 1);
  EXPECT_EQ(t.type(base), 10u);
  EXPECT_EQ(t.u32(base, 12), 0xE1E10u);
  EXPECT_EQ(t.u32(base, 16), 0u);
  open(relid, 0xE1E10, 20);
  EXPECT_EQ(t.type(base + 1), 6u);
  EXPECT_EQ(t.u32(base + 1, 16), 0u);
  const Server::Channel& c = s->channels().at(relid);
  EXPECT_EQ(c.state, Server::ChannelState::kOpen);
  ASSERT_TRUE(c.outbound && c.inbound);
  EXPECT_EQ(c.outbound->size(), 20u * 4096);
  EXPECT_EQ(c.inbound->size(), 20u * 4096);
  // The views reach the GPADL's pages, across a page boundary, and nothing beyond.
  uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_TRUE(c.inbound->write(4092, data, 8));
  EXPECT_EQ(t.mem[30 * 4096 + 4092], 1);
  EXPECT_EQ(t.mem[31 * 4096 + 3], 8);
  EXPECT_FALSE(c.inbound->write(20 * 4096 - 4, data, 8));
  uint8_t back[8];
  EXPECT_TRUE(c.outbound->read(0, back, 8));
  // Teardown of the ring while open is refused; close, then teardown.
  Msg td(MessageType::kGpadlTeardown, 16);
  td.put32(8, relid).put32(12, 0xE1E10);
  send(td);
  EXPECT_EQ(s->rejected("GPADL in use by an open channel"), 1u);
  EXPECT_TRUE(s->signal_guest(relid));
  EXPECT_EQ(t.signals.back(), std::make_pair(0u, unsigned{relid}));
  send(Msg(MessageType::kCloseChannel, 12).put32(8, relid));
  EXPECT_EQ(s->channels().at(relid).state, Server::ChannelState::kOffered);
  EXPECT_FALSE(s->signal_guest(relid));
  send(td);
  EXPECT_EQ(t.type(t.posted.size() - 1), 12u);
  EXPECT_TRUE(s->gpadls().empty());
  EXPECT_EQ(s->rejected(), 1u);
}

TEST_F(ServerTest, HostileGpadlsAndOpensAreRejected) {
  uint32_t relid = s->add_offer(OfferParams{});
  contact();
  send(Msg(MessageType::kRequestOffers, 8));
  size_t base = t.posted.size();
  gpadl(relid, 7, {64});  // beyond the 64 pages of memory
  EXPECT_EQ(s->rejected("bad GPADL page"), 1u);
  EXPECT_NE(t.u32(base, 16), 0u);
  gpadl(relid, 8, {3, 3});  // a page twice
  EXPECT_EQ(s->rejected("bad GPADL page"), 2u);
  gpadl(relid, 9, {1, 2, 3, 4});
  gpadl(relid, 9, {5, 6});  // duplicate handle
  EXPECT_EQ(s->rejected("duplicate GPADL handle"), 1u);
  gpadl(relid, 10, {4, 5});  // overlaps GPADL 9
  EXPECT_EQ(s->rejected("bad GPADL page"), 3u);
  gpadl(99, 11, {20});  // unknown relid
  EXPECT_EQ(s->rejected("GPADL for unknown relid"), 1u);
  // Bad lengths: a header cut inside its PFNs, a body for nothing, truncated messages.
  Msg h(MessageType::kGpadlHeader, 31);
  send(h);
  send(Msg(MessageType::kGpadlBody, 24).put32(12, 12345));
  EXPECT_EQ(s->rejected("no pending GPADL"), 1u);
  send(Msg(MessageType::kOpenChannel, 100));
  send(Msg(MessageType::kCloseChannel, 9));
  uint8_t tiny[3] = {1, 2, 3};
  s->on_message(4, 0, tiny, 3);
  send(Msg(static_cast<MessageType>(77), 8));
  send(Msg(MessageType::kVersionResponse, 16));
  EXPECT_EQ(s->rejected("bad length"), 3u);
  EXPECT_EQ(s->rejected("short message"), 1u);
  EXPECT_EQ(s->rejected("unsupported type"), 2u);
  // Opens with bad rings answer a failure status and leave the channel closed.
  open(relid, 9, 1);     // offset 1: no data page in the outbound ring
  open(relid, 9, 3);     // 1 page left for the inbound ring
  open(relid, 9, 2, 5);  // no VP 5
  open(relid, 4242, 2);
  EXPECT_EQ(s->rejected("open: bad downstream offset"), 2u);
  EXPECT_EQ(s->rejected("open: bad target VP"), 1u);
  EXPECT_EQ(s->rejected("open: no such GPADL"), 1u);
  EXPECT_NE(t.u32(t.posted.size() - 1, 16), 0u);
  EXPECT_EQ(s->channels().at(relid).state, Server::ChannelState::kOffered);
  open(relid, 9, 2);
  EXPECT_EQ(t.u32(t.posted.size() - 1, 16), 0u);
  open(relid, 9, 2);
  EXPECT_EQ(s->rejected("channel not closed"), 1u);
}

TEST_F(ServerTest, UnloadResetsEverythingAndTheGuestCanReconnect) {
  uint32_t relid = s->add_offer(OfferParams{});
  contact();
  send(Msg(MessageType::kRequestOffers, 8));
  gpadl(relid, 1, {1, 2, 3, 4});
  open(relid, 1, 2);
  send(Msg(MessageType::kUnload, 8));
  EXPECT_EQ(t.type(t.posted.size() - 1), 17u);
  EXPECT_FALSE(s->connected());
  EXPECT_TRUE(s->gpadls().empty());
  EXPECT_EQ(s->channels().at(relid).state, Server::ChannelState::kOffered);
  contact(spec::kVersionWin10V5_2);
  send(Msg(MessageType::kRequestOffers, 8));
  gpadl(relid, 1, {1, 2, 3, 4});  // the same handle and pages are free again
  EXPECT_EQ(t.u32(t.posted.size() - 1, 16), 0u);
  EXPECT_EQ(s->rejected(), 0u);
}

TEST_F(ServerTest, RescindWaitsForRelIdReleased) {
  uint32_t relid = s->add_offer(OfferParams{});
  uint32_t conn = s->channels().at(relid).connection_id;
  contact();
  send(Msg(MessageType::kRequestOffers, 8));
  s->rescind(relid);
  EXPECT_EQ(t.type(t.posted.size() - 1), 2u);
  EXPECT_EQ(s->channels().at(relid).state, Server::ChannelState::kRescinded);
  send(Msg(MessageType::kRelIdReleased, 12).put32(8, relid));
  EXPECT_TRUE(s->channels().empty());
  EXPECT_FALSE(t.events.count(conn));
  send(Msg(MessageType::kRelIdReleased, 12).put32(8, relid));
  EXPECT_EQ(s->rejected("relid not rescinded"), 1u);
  EXPECT_THROW(s->rescind(relid), std::exception);
}

TEST_F(ServerTest, FloodsAreBounded) {
  params.max_queued = 8;
  params.max_gpadls = 4;
  s = std::make_unique<Server>(t, params, "test");
  uint32_t relid = s->add_offer(OfferParams{});
  contact();
  send(Msg(MessageType::kRequestOffers, 8));
  t.accept_posts = false;
  for (uint32_t k = 0; k < 10000; ++k)
    send(Msg(MessageType::kGpadlTeardown, 16).put32(8, relid).put32(12, k));
  for (uint32_t k = 1; k <= 10; ++k) gpadl(relid, 100 + k, {k});
  EXPECT_EQ(s->gpadls().size(), 4u);
  EXPECT_EQ(s->rejected("too many GPADLs"), 6u);
  InspectNode n;
  s->inspect(n);
  EXPECT_NE(n.to_json().find("\"queued\": 8"), std::string::npos) << n.to_json();
  t.accept_posts = true;
  s->flush();
  InspectNode m;
  s->inspect(m);
  EXPECT_NE(m.to_json().find("\"queued\": 0"), std::string::npos);
}

TEST_F(ServerTest, WaitingRepliesCallTheHookOnceAndCanBeDropped) {
  int hooks = 0;
  s->set_queued_hook([&] { ++hooks; });
  t.accept_posts = false;
  contact();
  contact(spec::kVersionWin10V5_2);
  EXPECT_EQ(hooks, 1);
  EXPECT_EQ(s->queued(), 1u);  // the second contact is "already connected": no reply
  send(Msg(MessageType::kRequestOffers, 8));
  EXPECT_EQ(s->queued(), 2u);
  EXPECT_EQ(hooks, 1);
  s->drop_queued();
  EXPECT_EQ(s->queued(), 0u);
  InspectNode n;
  s->inspect(n);
  EXPECT_NE(n.to_json().find("\"dropped_replies\": 2"), std::string::npos) << n.to_json();
  t.accept_posts = true;
  send(Msg(MessageType::kUnload, 8));
  EXPECT_EQ(t.posted.size(), 1u);  // UnloadResponse, straight out
  EXPECT_EQ(hooks, 1);
}

TEST(Guid, ParseRejectsMalformed) {
  EXPECT_THROW(parse_guid("57164f39-9115-4e78-ab55-382f3bd5422"), std::exception);
  EXPECT_THROW(parse_guid("57164f39-9115-4e78-ab55-382f3bd5422g"), std::exception);
  spec::Guid g = parse_guid("57164f39-9115-4e78-ab55-382f3bd5422d");
  EXPECT_EQ(std::memcmp(g.b, spec::kHeartbeatIc.b, 16), 0);
}

}  // namespace
}  // namespace hvsim::vmbus
