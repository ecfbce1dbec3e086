// Shared by the VMBus tests: a Transport over a byte vector of guest memory. Posts are
// accepted and dropped, signals counted, event connections ignored; tests override what
// they watch (the fuzzers' refused posts, the monitor tests' posted messages).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "devices/vmbus/transport.h"

namespace hvsim::vmbus::test_support {

struct MemoryTransport : Transport {
  explicit MemoryTransport(uint32_t vps = 1, size_t pages = 64) : mem(pages * 4096), vps(vps) {}
  std::vector<uint8_t> mem;
  uint32_t vps;
  uint64_t signals = 0;
  bool post(uint32_t, unsigned, const uint8_t*, uint32_t) override { return true; }
  bool signal(uint32_t, unsigned, unsigned) override {
    ++signals;
    return true;
  }
  void connect_event(uint32_t) override {}
  void disconnect_event(uint32_t) override {}
  uint32_t vp_count() const override { return vps; }
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

}  // namespace hvsim::vmbus::test_support
