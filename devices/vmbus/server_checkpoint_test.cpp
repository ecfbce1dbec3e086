// Checkpoints of the VMBus server (docs/vmbus.md "Checkpoints"): the fuzzer's message stream
// (server_fuzz_support.h) is cut at many points; at each, the server is saved, restored into
// a new server over a copy of the transport, saved again (the same bytes), and both are driven
// with the same following messages: their replies, memory, inspect trees and saves stay the
// same. Values a server could not have are refused with InputError naming the field.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/inspect.h"
#include "core/rng.h"
#include "core/state.h"
#include "devices/vmbus/server.h"
#include "devices/vmbus/server_fuzz_support.h"

namespace hvsim::vmbus {
namespace {

using fuzz::Fake;

/// One step of the fuzzer: a message, and now and then a guest event, a rescind with a new
/// offer, a flush.
void step(Server& s, Rng& rng) {
  std::vector<uint8_t> m = fuzz::message(rng);
  s.on_message(rng.below(2) ? 1 : 4, 0, m.data(), static_cast<uint32_t>(m.size()));
  if (rng.below(50) == 0) s.on_event(static_cast<uint32_t>(rng.below(4) | (2 << 12)));
  if (rng.below(500) == 0 && !s.channels().empty()) {
    uint32_t relid = s.channels().begin()->first;
    if (s.channels().begin()->second.state != Server::ChannelState::kRescinded) s.rescind(relid);
    s.add_offer(OfferParams{});
  }
  if (rng.below(100) == 0) s.flush();
}

std::vector<uint8_t> saved(const Server& s) {
  StateWriter w;
  s.save(w, "vmbus.server");
  return w.finish();
}

std::string tree(const Server& s) {
  InspectNode n;
  s.inspect(n);
  return n.to_json();
}

std::unique_ptr<Server> restored(Transport& t, const ServerParams& p,
                                 const std::vector<uint8_t>& bytes) {
  auto s = std::make_unique<Server>(t, p, "fuzz");
  StateReader r(bytes, "test");
  s->restore(r, "vmbus.server");
  return s;
}

ServerParams fuzz_params() {
  ServerParams p;
  p.max_gpadls = 32;
  p.max_queued = 16;
  return p;
}

TEST(ServerCheckpoint, RestoredServersContinueAsTheOriginalsAtAnyPoint) {
  Fake a;
  ServerParams p = fuzz_params();
  Server s(a, p, "fuzz");
  Rng rng(0x436B7074ull);
  for (int k = 0; k < 3; ++k) {
    OfferParams o;
    o.name = "offer" + std::to_string(k);
    s.add_offer(o);
  }
  int open = 0, pending = 0, queued = 0, rescinded = 0, disconnected = 0, cuts = 0;
  for (int n = 1; n <= 40000; ++n) {
    step(s, rng);
    // Every 457th step, and the first few times replies wait for a message buffer.
    if (n % 457 && !(s.queued() && queued < 5)) continue;
    ++cuts;
    // What the cut caught.
    bool any_open = false, any_rescinded = false, any_pending = false;
    for (const auto& [relid, c] : s.channels()) {
      any_open |= c.state == Server::ChannelState::kOpen;
      any_rescinded |= c.state == Server::ChannelState::kRescinded;
    }
    for (const auto& [h, g] : s.gpadls()) any_pending |= !g.complete();
    open += any_open;
    rescinded += any_rescinded;
    pending += any_pending;
    queued += s.queued() > 0;
    disconnected += !s.connected();

    std::vector<uint8_t> bytes = saved(s);
    Fake b = a;  // the guest memory and the post counter as they are now
    std::unique_ptr<Server> copy = restored(b, p, bytes);
    ASSERT_EQ(saved(*copy), bytes) << "cut " << n;
    ASSERT_EQ(tree(*copy), tree(s)) << "cut " << n;
    // The next 300 steps, the same on both.
    Rng shadow = rng;
    for (int k = 0; k < 300; ++k) {
      step(s, rng);
      step(*copy, shadow);
      ASSERT_EQ(a.reply_hash, b.reply_hash) << "cut " << n << " step " << k;
    }
    n += 300;
    ASSERT_EQ(saved(*copy), saved(s)) << "cut " << n;
    ASSERT_EQ(tree(*copy), tree(s));
    ASSERT_EQ(a.mem, b.mem);
    ASSERT_EQ(a.posts, b.posts);
  }
  // The cuts caught the interesting states.
  EXPECT_GT(cuts, 40);
  EXPECT_GT(open, 0) << "no cut with an open channel";
  EXPECT_GT(pending, 0) << "no cut with a GPADL waiting for its bodies";
  EXPECT_GT(queued, 0) << "no cut with replies queued";
  EXPECT_GT(rescinded, 0) << "no cut with a rescind waiting for RelIdReleased";
  EXPECT_GT(disconnected, 0) << "no cut after an unload";
}

/// A server with an open channel, a pending GPADL, a rescinded channel and queued replies.
struct Busy {
  Fake t;
  ServerParams p = fuzz_params();
  Server s{t, p, "busy"};
  void send(std::vector<uint8_t> m) {
    s.on_message(4, 0, m.data(), static_cast<uint32_t>(m.size()));
  }
  Busy() {
    OfferParams o;
    o.name = "ring";
    uint32_t relid = s.add_offer(o);
    uint32_t other = s.add_offer(o);
    std::vector<uint8_t> c(40);
    fuzz::put32(c, 0, 14);
    fuzz::put32(c, 8, spec::kVersionWin10V5_3);
    c[16] = 2;
    send(c);
    std::vector<uint8_t> ro(8);
    fuzz::put32(ro, 0, 3);
    send(ro);
    // A complete 4-page GPADL (PFNs 200..203) and a pending one (1 of 3 pages).
    auto header = [&](uint32_t handle, uint32_t pages, uint32_t here, uint64_t first) {
      std::vector<uint8_t> h(28 + 8 * here);
      fuzz::put32(h, 0, 8);
      fuzz::put32(h, 8, relid);
      fuzz::put32(h, 12, handle);
      uint16_t buflen = static_cast<uint16_t>(8 + 8 * pages), one = 1;
      std::memcpy(h.data() + 16, &buflen, 2);
      std::memcpy(h.data() + 18, &one, 2);
      fuzz::put32(h, 20, pages * 4096);
      for (uint32_t k = 0; k < here; ++k) {
        uint64_t pfn = first + k;
        std::memcpy(h.data() + 28 + 8 * k, &pfn, 8);
      }
      send(h);
    };
    header(7, 4, 4, 200);
    header(8, 3, 1, 210);
    std::vector<uint8_t> op(148);
    fuzz::put32(op, 0, 5);
    fuzz::put32(op, 8, relid);
    fuzz::put32(op, 16, 7);
    fuzz::put32(op, 20, 1);
    fuzz::put32(op, 24, 2);
    send(op);
    t.k = 6;  // the next post is refused: the rescind waits in the queue
    s.rescind(other);
  }
};

TEST(ServerCheckpoint, ValuesAServerCannotHaveAreRefused) {
  Busy b;
  std::vector<uint8_t> bytes = saved(b.s);
  ASSERT_EQ(b.s.gpadls().size(), 2u);
  ASSERT_EQ(b.s.queued(), 1u);
  {
    Fake t = b.t;
    EXPECT_NO_THROW(restored(t, b.p, bytes));
  }
  auto refused = [&](Fake t, ServerParams p, const char* what) {
    try {
      restored(t, p, bytes);
      ADD_FAILURE() << "restored although " << what;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("vmbus.server"), std::string::npos) << e.what();
    }
  };
  ServerParams p = b.p;
  p.versions = {spec::kVersionWin8};
  refused(b.t, p, "version");
  p = b.p;
  p.max_gpadls = 1;
  refused(b.t, p, "gpadls: more than max_gpadls");
  Fake small = b.t;
  small.mem.resize(100 * 4096);  // the GPADL pages lie beyond the partition's memory
  refused(small, b.p, "a page outside the partition");
  // A truncated section.
  StateWriter w;
  w.begin_section("vmbus.server", 1);
  w.u32("version", spec::kVersionWin10V5_3);
  w.end_section();
  Fake t = b.t;
  Server s(t, b.p, "x");
  StateReader r(w.finish(), "test");
  EXPECT_THROW(s.restore(r, "vmbus.server"), InputError);
}

TEST(ServerCheckpoint, OpenChannelRingViewsAreRebuilt) {
  Fake t;
  ServerParams p = fuzz_params();
  Server s(t, p, "open");
  OfferParams o;
  uint32_t relid = s.add_offer(o);
  auto send = [&](std::vector<uint8_t> m) {
    s.on_message(4, 0, m.data(), static_cast<uint32_t>(m.size()));
  };
  std::vector<uint8_t> c(40);
  fuzz::put32(c, 0, 14);
  fuzz::put32(c, 8, spec::kVersionWin10V5_3);
  c[16] = 2;
  send(c);
  std::vector<uint8_t> ro(8);
  fuzz::put32(ro, 0, 3);
  send(ro);
  std::vector<uint8_t> h(28 + 8 * 4);
  fuzz::put32(h, 0, 8);
  fuzz::put32(h, 8, relid);
  fuzz::put32(h, 12, 9);
  uint16_t buflen = 8 + 8 * 4, one = 1;
  std::memcpy(h.data() + 16, &buflen, 2);
  std::memcpy(h.data() + 18, &one, 2);
  fuzz::put32(h, 20, 4 * 4096);
  for (uint32_t k = 0; k < 4; ++k) {
    uint64_t pfn = 100 + k;
    std::memcpy(h.data() + 28 + 8 * k, &pfn, 8);
  }
  send(h);
  std::vector<uint8_t> op(148);
  fuzz::put32(op, 0, 5);
  fuzz::put32(op, 8, relid);
  fuzz::put32(op, 16, 9);
  fuzz::put32(op, 20, 1);
  fuzz::put32(op, 24, 2);
  send(op);
  const Server::Channel& ch = s.channels().at(relid);
  ASSERT_EQ(ch.state, Server::ChannelState::kOpen);
  Fake t2 = t;
  std::unique_ptr<Server> copy = restored(t2, p, saved(s));
  const Server::Channel& c2 = copy->channels().at(relid);
  ASSERT_TRUE(c2.outbound && c2.inbound);
  EXPECT_EQ(c2.outbound->size(), 2u * 4096);
  EXPECT_EQ(c2.inbound->size(), 2u * 4096);
  // The views reach the same guest pages: the inbound ring's first page is PFN 102.
  uint32_t v = 0x5A5A1234;
  ASSERT_TRUE(c2.inbound->write(8, &v, 4));
  uint32_t back = 0;
  std::memcpy(&back, t2.mem.data() + 102 * 4096 + 8, 4);
  EXPECT_EQ(back, v);
  EXPECT_EQ(c2.target_vp, 1u);
}

}  // namespace
}  // namespace hvsim::vmbus
