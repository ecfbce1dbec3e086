// Test double for the VMBus ring tests (../shared/spec/hyperv-interfaces.md §6.7): a ring over
// a byte vector that counts every access, records any access the ring makes outside its
// memory (which must never happen), and can play a hostile guest that rewrites the memory
// between the host's accesses.
#pragma once

#include <cstring>
#include <functional>
#include <vector>

#include "devices/vmbus/ring.h"

namespace hvsim::vmbus::testing {

class TestRingMemory : public RingMemory {
 public:
  explicit TestRingMemory(uint64_t size) : bytes(size, 0) {}
  uint64_t size() const override { return bytes.size(); }
  bool read(uint64_t off, void* out, size_t n) override {
    ++reads;
    if (!in_bounds(off, n)) return false;
    if (off == spec::kWriteIndexOffset && n == 4) ++write_index_reads;
    if (off == spec::kReadIndexOffset && n == 4) ++read_index_reads;
    if (n) std::memcpy(out, bytes.data() + off, n);
    if (hostile) hostile(*this);
    return true;
  }
  bool write(uint64_t off, const void* in, size_t n) override {
    ++writes;
    if (!in_bounds(off, n)) return false;
    if (n) std::memcpy(bytes.data() + off, in, n);
    if (hostile) hostile(*this);
    return true;
  }

  uint32_t u32(uint64_t off) const {
    uint32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    return v;
  }
  void set_u32(uint64_t off, uint32_t v) { std::memcpy(bytes.data() + off, &v, 4); }
  void poke(uint64_t off, const void* p, size_t n) { std::memcpy(bytes.data() + off, p, n); }

  std::vector<uint8_t> bytes;
  uint64_t reads = 0, writes = 0, out_of_bounds = 0;
  uint64_t write_index_reads = 0, read_index_reads = 0;
  /// Runs after every access (a guest changing the ring concurrently).
  std::function<void(TestRingMemory&)> hostile;

 private:
  bool in_bounds(uint64_t off, size_t n) {
    if (off > bytes.size() || n > bytes.size() - off) {
      ++out_of_bounds;
      return false;
    }
    return true;
  }
};

}  // namespace hvsim::vmbus::testing
