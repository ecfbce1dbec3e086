// A fast, portable 64-bit hash for state fingerprints (state_hash). Not cryptographic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace hvsim {

/// Streaming hash over 64-bit words. The result depends only on the sequence of bytes
/// mixed in (little-endian host assumed, as everywhere in hvsim).
class Hasher {
 public:
  void u64(uint64_t v) {
    state_ ^= mix(v + 0x9E3779B97F4A7C15ull + length_);
    state_ = (state_ << 27 | state_ >> 37) * 0x94D049BB133111EBull;
    ++length_;
  }
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b + i, 8);
      u64(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, b + i, n - i);
    u64(tail ^ (uint64_t{n - i} << 56));
  }
  void str(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  uint64_t digest() const { return mix(state_ ^ length_); }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_ = 0x6A09E667F3BCC908ull;
  uint64_t length_ = 0;
};

}  // namespace hvsim
