// A fuzzer over VMBus channel messages (issue 6 "a fuzzer over channel messages ... at least
// 100k cases"; shared/spec/hyperv-interfaces.md §6.3-6.4): seeded random messages, mostly
// near-valid (right types, sizes around the real ones, relids and handles the server knows,
// PFNs inside and just outside memory), driven straight into a Server over a fake transport.
// After every message the server's invariants must hold: every PFN of every GPADL inside
// the partition, no PFN in two complete GPADLs, an open channel's ring GPADL complete and its
// views inside it, the reply queue bounded, every reply a valid message. Also 6.0
// InitiateContact with feature flags and monitor pages (good and bad), monitored offers, and
// random writes into the monitor pages between polls (§6.2, §6.6): monitor ids unique and
// below 128, monitor pages valid and never in a GPADL.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "core/rng.h"
#include "devices/vmbus/server.h"
#include "devices/vmbus/server_fuzz_support.h"

namespace hvsim::vmbus {
namespace {

using fuzz::Fake;

void check_invariants(const Server& s, const Fake& t, const ServerParams& p) {
  std::set<uint64_t> owned;
  for (const auto& [h, g] : s.gpadls()) {
    ASSERT_EQ(h, g.handle);
    ASSERT_LE(g.pfns.size(), g.pfn_total);
    for (uint64_t pfn : g.pfns) ASSERT_LT(pfn, t.mem.size() / 4096);
    if (g.complete())
      for (uint64_t pfn : g.pfns) ASSERT_TRUE(owned.insert(pfn).second) << "PFN in two GPADLs";
  }
  ASSERT_LE(s.gpadls().size(), p.max_gpadls);
  for (const auto& [relid, c] : s.channels()) {
    ASSERT_GE(relid, 1u);
    if (c.state != Server::ChannelState::kOpen) {
      ASSERT_FALSE(c.outbound || c.inbound);
      continue;
    }
    auto g = s.gpadls().find(c.ring_gpadl);
    ASSERT_NE(g, s.gpadls().end());
    ASSERT_TRUE(g->second.complete());
    ASSERT_EQ(c.outbound->size() + c.inbound->size(), g->second.pfns.size() * 4096);
  }
  ASSERT_LE(s.queued(), p.max_queued);
  std::set<unsigned> ids;
  for (const auto& [relid, c] : s.channels()) {
    if (c.monitor_id == spec::offer_channel::kNoMonitor) {
      ASSERT_FALSE(c.monitored);
      continue;
    }
    ASSERT_LT(c.monitor_id, 128u);
    ASSERT_TRUE(ids.insert(c.monitor_id).second) << "monitor id twice";
    if (c.monitored) {
      ASSERT_NE(s.monitor_page(1), 0u);
    }
  }
  for (unsigned k = 0; k < 2; ++k) {
    uint64_t gpa = s.monitor_page(k);
    if (!gpa) continue;
    ASSERT_EQ(gpa % 4096, 0u);
    ASSERT_LE(gpa + 4096, t.mem.size());
    for (const auto& [h, g] : s.gpadls())
      for (uint64_t pfn : g.pfns) {
        ASSERT_NE(pfn, gpa / 4096) << "monitor page in a GPADL";
      }
  }
  if (s.monitor_page(0)) {
    ASSERT_NE(s.monitor_page(0), s.monitor_page(1));
  }
}

TEST(ServerFuzz, HundredThousandMessagesKeepTheInvariants) {
  Fake t;
  ServerParams p;
  p.max_gpadls = 32;
  p.max_queued = 16;
  p.versions.push_back(spec::kVersionWin10V6_0);
  Server s(t, p, "fuzz");
  Rng rng(0x564D427573ull);
  OfferParams monitored;
  monitored.monitored = true;
  for (int k = 0; k < 3; ++k) s.add_offer(k ? monitored : OfferParams{});
  uint64_t monitor_writes = 0;
  for (int n = 0; n < 100000; ++n) {
    std::vector<uint8_t> m = fuzz::message(rng);
    s.on_message(rng.below(2) ? 1 : 4, 0, m.data(), static_cast<uint32_t>(m.size()));
    if (rng.below(50) == 0) s.on_event(static_cast<uint32_t>(rng.below(4) | (2 << 12)));
    if (rng.below(500) == 0 && !s.channels().empty()) {
      uint32_t relid = s.channels().begin()->first;
      if (s.channels().begin()->second.state != Server::ChannelState::kRescinded) s.rescind(relid);
      s.add_offer(OfferParams{});
    }
    if (rng.below(100) == 0) s.flush();
    // The guest writes its monitor pages at any time; the host polls between messages.
    if (rng.below(10) == 0 && s.monitor_page(1)) {
      uint64_t base = s.monitor_page(rng.below(4) ? 1 : 0);
      uint32_t off = rng.below(3) ? 8 + 8 * static_cast<uint32_t>(rng.below(4))
                                  : static_cast<uint32_t>(rng.below(4093));
      uint32_t v = rng.below(2) ? 1u << rng.below(32) : static_cast<uint32_t>(rng.next());
      t.write_guest(base + off, &v, 4);
      ++monitor_writes;
    }
    if (rng.below(5) == 0) s.poll_monitor();
    if (rng.below(700) == 0) s.add_offer(rng.below(2) ? monitored : OfferParams{});
    ASSERT_NO_FATAL_FAILURE(check_invariants(s, t, p)) << "message " << n;
  }
  EXPECT_EQ(t.bad_replies, 0u);
  // The fuzzer reached the interesting states, not only rejections.
  EXPECT_GT(t.posts, 1000u);
  EXPECT_GT(s.rejected(), 10000u);
  EXPECT_GT(s.rejected("bad GPADL page") + s.rejected("bad GPADL range"), 100u);
  uint64_t opens = 0;
  for (const auto& [relid, c] : s.channels()) opens += c.opens;
  EXPECT_GT(opens, 0u) << "no channel ever opened";
  EXPECT_GT(monitor_writes, 1000u);
  EXPECT_GT(s.monitor_polls(), 10000u);
  EXPECT_GT(s.rejected("monitor: unallocated id"), 100u);
  // Contacts are rare (the server stays connected until an Unload): each bad kind once.
  EXPECT_GT(s.rejected("monitor pages: not page-aligned"), 0u);
  EXPECT_GT(s.rejected("monitor pages: outside memory"), 0u);
  EXPECT_GT(s.monitor_signals(), 0u) << "no monitored channel was ever signaled";
}

}  // namespace
}  // namespace hvsim::vmbus
