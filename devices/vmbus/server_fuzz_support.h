// Shared by the VMBus server fuzzers (server_fuzz_test.cpp, server_checkpoint_test.cpp): a
// fake transport with guest memory that refuses every 7th post, and the generator of
// seeded, mostly near-valid channel messages.
#pragma once

#include <cstring>
#include <vector>

#include "core/hash.h"
#include "core/rng.h"
#include "devices/vmbus/memory_transport_test.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus::fuzz {

struct Fake : test_support::MemoryTransport {
  Fake() : MemoryTransport(2, 256) {}
  uint64_t reply_hash = 0;  ///< of every post accepted, in order
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
    Hasher h;
    h.u64(reply_hash);
    h.bytes(m, n);
    reply_hash = h.digest();
    return true;
  }
};

inline void put32(std::vector<uint8_t>& m, uint32_t off, uint32_t v) {
  if (off + 4 <= m.size()) std::memcpy(m.data() + off, &v, 4);
}

constexpr uint32_t kHandles[] = {1, 2, 3, 0xE1E10};
constexpr uint32_t kSizes[] = {8, 12, 16, 20, 28, 36, 40, 56, 148, 156, 196};

/// One channel message: 5% noise, else a type and size near the real ones, with relids,
/// handles and PFNs the server may know.
inline std::vector<uint8_t> message(Rng& rng) {
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
    uint32_t handle = kHandles[rng.below(std::size(kHandles))];
    auto pfn = [&] { return rng.below(8) == 0 ? 256 + rng.below(1u << 20) : rng.below(256); };
    switch (type) {
      case 14: {
        uint64_t v = rng.below(3);
        put32(m, 8, v == 0 ? 0x00050003 : v == 1 ? 0x00060000 : static_cast<uint32_t>(rng.next()));
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
  return m;
}

}  // namespace hvsim::vmbus::fuzz
