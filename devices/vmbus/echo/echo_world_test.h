// The test world of the echo VSP's unit tests (echo_test.cpp, echo_checkpoint_test.cpp): a
// real Server over a fake transport whose memory is the guest's, and the guest's end of each
// ring played by the guest kit's C ring (kit/vmbus_ring.c).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/inspect.h"
#include "core/state.h"
#include "devices/vmbus/echo/echo.h"
#include "devices/vmbus/memory_transport_test.h"
#include "devices/vmbus/server.h"

extern "C" {
#include "kit/vmbus_ring.h"
}

namespace hvsim::vmbus::echo_testing {

using FakeTransport = test_support::MemoryTransport;

inline const InspectNode::Entry* entry(const InspectNode& root, const std::string& path,
                                       const std::string& name) {
  const InspectNode* n = path.empty() ? &root : root.find(path);
  if (n)
    for (const auto& e : n->entries())
      if (e.name == name) return &e;
  return nullptr;
}

inline uint64_t counter(const InspectNode& root, const std::string& path, const std::string& name) {
  const InspectNode::Entry* e = entry(root, path, name);
  if (!e) ADD_FAILURE() << "no counter " << path << "/" << name;
  return e ? e->counter : ~0ull;
}

inline std::string text(const InspectNode& root, const std::string& path, const std::string& name) {
  const InspectNode::Entry* e = entry(root, path, name);
  if (!e) ADD_FAILURE() << "no value " << path << "/" << name;
  return e ? e->text : std::string();
}

/// One server with an echo channel (relid 1) and the guest's end of a channel's rings.
struct EchoWorld {
  FakeTransport t;
  Server s{t, ServerParams{}, "test"};
  /// The server restored from a checkpoint (restore()); declared before `echo`, which
  /// refers to it.
  std::unique_ptr<Server> copy;
  Server* live = &s;  ///< the server the guest talks to: `s`, or `copy` once restored
  std::unique_ptr<EchoChannel> echo = EchoChannel::offer(s, 0);
  vmbus_ring out{}, in{};
  uint8_t buf[8192];
  vmbus_packet pk{};

  EchoWorld() {
    std::vector<uint8_t> c(40, 0);
    put32(c, 0, 14);
    put32(c, 8, spec::kVersionWin10V5_3);
    c[16] = 2;
    msg(c);
    std::vector<uint8_t> ro(8, 0);
    put32(ro, 0, 3);
    msg(ro);
  }
  void msg(std::vector<uint8_t> m) {
    live->on_message(4, 0, m.data(), static_cast<uint32_t>(m.size()));
  }
  static void put32(std::vector<uint8_t>& m, uint32_t off, uint32_t v) {
    std::memcpy(&m[off], &v, 4);
  }
  /// Channel `relid`'s ring GPADL (handle 0x100 + relid) covers pages [first, first + 16).
  static uint32_t first_page(uint32_t relid) { return 8 + 16 * (relid - 1); }
  uint8_t* ring_base(uint32_t relid = 1) {
    return t.mem.data() + uint64_t{first_page(relid)} * 4096;
  }

  /// The guest makes a ring GPADL of `out_pages` + `in_pages` pages for `relid`.
  void gpadl(uint32_t out_pages, uint32_t in_pages, uint32_t relid = 1) {
    uint32_t pages = out_pages + in_pages;
    std::vector<uint8_t> h(28 + 8 * pages, 0);
    put32(h, 0, 8);
    put32(h, 8, relid);
    put32(h, 12, 0x100 + relid);
    h[16] = static_cast<uint8_t>(8 + 8 * pages);
    h[18] = 1;
    put32(h, 20, pages * 4096);
    for (uint32_t k = 0; k < pages; ++k) {
      uint64_t pfn = first_page(relid) + k;
      std::memcpy(&h[28 + 8 * k], &pfn, 8);
    }
    msg(h);
  }
  /// The guest makes fresh rings (unless `keep`) and opens `relid` over its GPADL.
  void open(uint32_t out_pages, uint32_t in_pages, uint32_t relid = 1, bool keep = false) {
    if (!keep) {
      ASSERT_EQ(vmbus_ring_init(&out, ring_base(relid), out_pages * 4096), 0);
      ASSERT_EQ(vmbus_ring_init(&in, ring_base(relid) + out_pages * 4096, in_pages * 4096), 0);
    }
    std::vector<uint8_t> o(148, 0);
    put32(o, 0, 5);
    put32(o, 8, relid);
    put32(o, 12, relid);
    put32(o, 16, 0x100 + relid);
    put32(o, 24, out_pages);
    msg(o);
    ASSERT_EQ(live->channels().at(relid).state, Server::ChannelState::kOpen);
  }
  void close(uint32_t relid = 1) {
    std::vector<uint8_t> c(spec::close_channel::kSize, 0);
    put32(c, 0, 7);
    put32(c, spec::close_channel::kChildRelid, relid);
    msg(c);
  }
  void signal_host(uint32_t relid = 1) { live->on_event(live->channels().at(relid).connection_id); }
  /// A checkpoint of the live server and the echo (sections vmbus.server, vmbus.echo).
  std::vector<uint8_t> save() const {
    StateWriter w;
    live->save(w, "vmbus.server");
    echo->save(w, "vmbus.echo");
    return w.finish();
  }
  /// Replaces the server and the echo with new ones restored from `bytes` (over the same
  /// guest memory); the guest then talks to those.
  void restore(const std::vector<uint8_t>& bytes) {
    auto server = std::make_unique<Server>(t, ServerParams{}, "test");
    StateReader r(bytes, "test");
    server->restore(r, "vmbus.server");
    echo.reset();
    echo = EchoChannel::restore(*server, r, "vmbus.echo");
    copy = std::move(server);
    live = copy.get();
  }
  static uint8_t pattern(uint64_t k, uint32_t i) { return static_cast<uint8_t>(k * 13 + i); }
  /// Writes request `k` of `size` bytes; the ring status.
  int request(uint64_t k, uint32_t size, uint16_t flags = 1, uint16_t type = 6) {
    std::vector<uint8_t> p(size);
    for (uint32_t i = 0; i < size; ++i) p[i] = pattern(k, i);
    return vmbus_ring_write(&out, type, flags, k + 1, nullptr, 0, p.data(), size);
  }
  /// Reads one completion and checks it answers request `k` of `size` bytes.
  bool completion(uint64_t k, uint32_t size) {
    if (vmbus_ring_read(&in, buf, sizeof buf, &pk) != 0) return false;
    EXPECT_EQ(pk.type, 0xB);
    EXPECT_EQ(pk.transaction_id, k + 1);
    uint32_t n = pk.len - pk.payload_offset;
    EXPECT_GE(n, size);
    EXPECT_LT(n, size + 8);
    for (uint32_t i = 0; i < size && i < n; ++i)
      if (pk.bytes[pk.payload_offset + i] != pattern(k, i)) {
        ADD_FAILURE() << "payload byte " << i << " of completion " << k;
        break;
      }
    return true;
  }
  std::string inspect_json() {
    InspectNode n;
    live->inspect(n);
    echo->inspect(n.child("echo"));
    return n.to_json(0);
  }
};

}  // namespace hvsim::vmbus::echo_testing
