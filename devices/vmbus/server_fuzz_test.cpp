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

namespace hvsim::vmbus {
namespace {

struct Fake : Transport {
  std::vector<uint8_t> mem = std::vector<uint8_t>(256 * 4096);
  uint64_t posts = 0, refused = 0, bad_replies = 0, k = 0;
  bool post(uint32_t vp, unsigned sint, const uint8_t* m, uint32_t n) override {
    if (vp >= 2 || sint >= 16 || n < 8 || n > 240) ++bad_replies;
    uint32_t type;
    std::memcpy(&type, m, 4);
    if (type == 0 || type >= 25 || type == 3 || type == 5 || type == 14) ++bad_replies;
    // Every 7th post is refused, as a full pool would.
    if (++k % 7 == 0) {
      ++refused;
      return false;
    }
    ++posts;
    return true;
  }
  bool signal(uint32_t, unsigned, unsigned) override { return true; }
  void connect_event(uint32_t) override {}
  void disconnect_event(uint32_t) override {}
  uint32_t vp_count() const override { return 2; }
  uint64_t memory_size() const override { return mem.size(); }
  bool read_guest(uint64_t gpa, void* out, uint64_t n) const override {
    if (gpa >= mem.size() || n > mem.size() - gpa) return false;
    std::memcpy(out, mem.data() + gpa, n);
    return true;
  }
  bool write_guest(uint64_t gpa, const void* in, uint64_t n) override {
    if (gpa >= mem.size() || n > mem.size() - gpa) return false;
    std::memcpy(mem.data() + gpa, in, n);
    return true;
  }
};

void put32(std::vector<uint8_t>& m, uint32_t off, uint32_t v) {
  if (off + 4 <= m.size()) std::memcpy(m.data() + off, &v, 4);
}

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
  std::vector<uint32_t> handles = {1, 2, 3, 0xE1E10};
  const uint32_t kSizes[] = {8, 12, 16, 20, 28, 36, 40, 56, 148, 156, 196};
  for (int n = 0; n < 100000; ++n) {
    std::vector<uint8_t> m;
    uint64_t r = rng.below(100);
    if (r < 5) {
      // Pure noise.
      m.resize(rng.below(260));
      for (auto& b : m) b = static_cast<uint8_t>(rng.next());
    } else {
      uint32_t type = rng.below(10) == 0 ? static_cast<uint32_t>(rng.below(40))
                                         : static_cast<uint32_t>(rng.below(18));
      uint32_t size = rng.below(4) == 0 ? static_cast<uint32_t>(rng.below(241))
                                        : kSizes[rng.below(std::size(kSizes))];
      // Unload resets everything: rare, so that channels get to open.
      if (type == 16 && rng.below(20)) type = 8;
      uint32_t here = static_cast<uint32_t>(rng.below(27));
      if (type == 8) size = 28 + 8 * here;
      if (type == 9) size = 16 + 8 * static_cast<uint32_t>(rng.below(29));
      m.assign(size, 0);
      put32(m, 0, type);
      uint32_t relid = static_cast<uint32_t>(rng.below(5));
      uint32_t handle = handles[rng.below(handles.size())];
      auto pfn = [&] { return rng.below(8) == 0 ? 256 + rng.below(1u << 20) : rng.below(256); };
      switch (type) {
        case 14: {
          uint64_t v = rng.below(3);
          put32(m, 8,
                v == 0   ? 0x00050003
                : v == 1 ? 0x00060000
                         : static_cast<uint32_t>(rng.next()));
          put32(m, 12, static_cast<uint32_t>(rng.below(3)));
          if (m.size() > 16) m[16] = static_cast<uint8_t>(rng.below(3) ? 2 : rng.below(20));
          put32(m, 20, rng.below(2) ? 0 : static_cast<uint32_t>(rng.next()));  // 6.0 features
          // Monitor pages: mostly good, else unaligned, equal, outside, one missing.
          auto page = [&]() -> uint64_t {
            uint64_t r = rng.below(10);
            if (r < 6) return rng.below(256) * 4096;
            if (r == 6) return rng.below(256 * 4096);
            if (r == 7) return (256 + rng.below(1000)) * 4096;
            if (r == 8) return 0;
            return rng.next();
          };
          uint64_t p1 = page(), p2 = rng.below(10) ? page() : p1;
          if (m.size() >= 40) {
            std::memcpy(m.data() + 24, &p1, 8);
            std::memcpy(m.data() + 32, &p2, 8);
          }
          break;
        }
        case 8: {
          put32(m, 8, relid);
          put32(m, 12, handle);
          uint32_t pages = rng.below(3) ? here : here + static_cast<uint32_t>(rng.below(30));
          uint16_t buflen = static_cast<uint16_t>(rng.below(6) ? 8 + 8 * pages : rng.next());
          if (m.size() >= 20) {
            std::memcpy(m.data() + 16, &buflen, 2);
            m[18] = rng.below(8) ? 1 : static_cast<uint8_t>(rng.below(3));
          }
          put32(m, 20, rng.below(6) ? pages * 4096 : static_cast<uint32_t>(rng.next()));
          put32(m, 24, rng.below(6) ? 0 : static_cast<uint32_t>(rng.below(5000)));
          uint64_t base = pfn();
          for (uint32_t off = 28; off + 8 <= m.size(); off += 8) {
            uint64_t f = rng.below(30) ? base++ : pfn();
            std::memcpy(m.data() + off, &f, 8);
          }
          break;
        }
        case 9: {
          put32(m, 12, handle);
          uint64_t base = pfn();
          for (uint32_t off = 16; off + 8 <= m.size(); off += 8) {
            uint64_t f = rng.below(30) ? base++ : pfn();
            std::memcpy(m.data() + off, &f, 8);
          }
          break;
        }
        case 5:
          put32(m, 8, relid);
          put32(m, 12, relid);
          put32(m, 16, handle);
          put32(m, 20, static_cast<uint32_t>(rng.below(3)));
          put32(m, 24, static_cast<uint32_t>(rng.below(42)));
          break;
        default:
          put32(m, 8, rng.below(2) ? relid : handle);
          put32(m, 12, handle);
          break;
      }
    }
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
