// A fuzzer over VMBus channel messages (issue 6 "a fuzzer over channel messages ... at least
// 100k cases"; shared/spec/hyperv-interfaces.md §6.3-6.4): seeded random messages, mostly
// near-valid (right types, sizes around the real ones, relids and handles the server knows,
// PFNs inside and just outside memory), driven straight into a Server over a fake transport.
// After every message the server's invariants must hold: every PFN of every GPADL inside
// the partition, no PFN in two complete GPADLs, an open channel's ring GPADL complete and its
// views inside it, the reply queue bounded, every reply a valid message.
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
}

TEST(ServerFuzz, HundredThousandMessagesKeepTheInvariants) {
  Fake t;
  ServerParams p;
  p.max_gpadls = 32;
  p.max_queued = 16;
  Server s(t, p, "fuzz");
  Rng rng(0x564D427573ull);
  for (int k = 0; k < 3; ++k) s.add_offer(OfferParams{});
  std::vector<uint32_t> handles = {1, 2, 3, 0xE1E10};
  const uint32_t kSizes[] = {8, 12, 16, 20, 28, 36, 40, 148, 196};
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
        case 14:
          put32(m, 8, rng.below(2) ? 0x00050003 : static_cast<uint32_t>(rng.next()));
          put32(m, 12, static_cast<uint32_t>(rng.below(3)));
          if (m.size() > 16) m[16] = static_cast<uint8_t>(rng.below(3) ? 2 : rng.below(20));
          break;
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
}

}  // namespace
}  // namespace hvsim::vmbus
