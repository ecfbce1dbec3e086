// Cross-check of the two VMBus ring implementations (../shared/spec/hyperv-interfaces.md §6.7):
// the guest kit's plain-C ring (guest/kit/vmbus_ring.c, compiled into this test as it is
// compiled into guest kernels) and the host's C++ ring. Packets written by one are read by
// the other; the same operations give byte-identical ring images and the same signals; and
// random, corrupted rings get the same verdict from both readers.
#include <gtest/gtest.h>

#include <array>

#include "core/rng.h"
#include "devices/vmbus/ring.h"
#include "devices/vmbus/ring_test_support.h"

extern "C" {
#include "kit/vmbus_ring.h"
}

namespace hvsim::vmbus {
namespace {

using namespace spec;
using testing::TestRingMemory;

constexpr uint64_t kRing = 3 * 4096;

std::vector<uint8_t> random_bytes(Rng& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng.next());
  return v;
}

/// A type header the C ring writes as opaque bytes: transfer-page or GPA-direct ranges.
std::vector<uint8_t> ranges_header(Rng& rng, uint16_t type) {
  std::vector<uint8_t> h(8, 0);
  const uint32_t count = static_cast<uint32_t>(rng.below(4));
  std::memcpy(&h[4], &count, 4);
  for (uint32_t k = 0; k < count; ++k) {
    uint32_t bc = 1 + static_cast<uint32_t>(rng.below(9000));
    uint32_t bo = static_cast<uint32_t>(rng.below(4096));
    h.resize(h.size() + 8);
    std::memcpy(&h[h.size() - 8], &bc, 4);
    std::memcpy(&h[h.size() - 4], &bo, 4);
    if (type == VMBUS_PACKET_DATA_USING_GPA_DIRECT) {
      for (uint64_t p = 0; p < (uint64_t{bo} + bc + 4095) / 4096; ++p) {
        uint64_t pfn = rng.next() >> 12;
        h.resize(h.size() + 8);
        std::memcpy(&h[h.size() - 8], &pfn, 8);
      }
    }
  }
  return h;
}

TEST(VmbusRingCross, GuestWritesHostReads) {
  Rng rng(1);
  TestRingMemory m(kRing);
  vmbus_ring g;
  ASSERT_EQ(vmbus_ring_init(&g, m.bytes.data(), kRing), VMBUS_RING_OK);
  EXPECT_EQ(m.u32(kFeatureBitsOffset), kFeatPendingSendSz);
  RingReader host(m);
  ASSERT_EQ(host.attach(), RingError::kOk);
  Packet p;
  for (int k = 0; k < 2000; ++k) {
    const uint16_t type = std::array<uint16_t, 4>{6, 7, 9, 0xB}[rng.below(4)];
    auto header = type == 7 || type == 9 ? ranges_header(rng, type) : std::vector<uint8_t>{};
    auto payload = random_bytes(rng, rng.below(700));
    const uint16_t flags = static_cast<uint16_t>(rng.below(2));
    ASSERT_EQ(vmbus_ring_write(&g, type, flags, k, header.data(), header.size(), payload.data(),
                               payload.size()),
              VMBUS_RING_OK);
    vmbus_ring_commit_write(&g);
    ASSERT_EQ(host.read(p), RingError::kOk) << k;
    EXPECT_EQ(static_cast<uint16_t>(p.type), type);
    EXPECT_EQ(p.flags, flags);
    EXPECT_EQ(p.transaction_id, uint64_t(k));
    EXPECT_EQ(p.payload_offset, 16 + header.size());
    ASSERT_TRUE(std::equal(header.begin(), header.end(), p.bytes.begin() + 16));
    ASSERT_TRUE(std::equal(payload.begin(), payload.end(), p.payload().begin()));
    if (type == 9) {
      EXPECT_EQ(p.gpa_ranges.size(), header[4]);
      EXPECT_EQ(8 + 8 * p.gpa_ranges.size() + 8 * p.pfns.size(), header.size());
    }
    if (type == 7) {
      EXPECT_EQ(p.transfer_ranges.size(), header[4]);
    }
    host.commit_read();
    EXPECT_EQ(host.read(p), RingError::kEmpty);
  }
  EXPECT_EQ(m.out_of_bounds, 0u);
}

TEST(VmbusRingCross, HostWritesGuestReads) {
  Rng rng(2);
  TestRingMemory m(kRing);
  vmbus_ring g;
  ASSERT_EQ(vmbus_ring_init(&g, m.bytes.data(), kRing), VMBUS_RING_OK);
  RingWriter host(m);
  ASSERT_EQ(host.attach(), RingError::kOk);
  std::vector<uint8_t> buf(kRing);
  vmbus_packet p;
  for (int k = 0; k < 2000; ++k) {
    auto payload = random_bytes(rng, rng.below(700));
    const int kind = static_cast<int>(rng.below(4));
    RingError e;
    std::vector<TransferRange> xr = {{1514, static_cast<uint32_t>(k)}};
    std::vector<GpaRange> gr = {{4096, 8, 0, 2}};
    std::vector<uint64_t> pfns = {0x100, 0x101};
    switch (kind) {
      case 0: e = host.write_inband(payload, k, true); break;
      case 1: e = host.write_completion(payload, k); break;
      case 2: e = host.write_transfer_pages(3, true, xr, payload, k, false); break;
      default: e = host.write_gpa_direct(gr, pfns, payload, k, false); break;
    }
    ASSERT_EQ(e, RingError::kOk);
    host.commit_write();
    ASSERT_EQ(vmbus_ring_read(&g, buf.data(), buf.size(), &p), VMBUS_RING_OK) << k;
    constexpr std::array<uint16_t, 4> kTypes = {6, 0xB, 7, 9};
    EXPECT_EQ(p.type, kTypes[kind]);
    EXPECT_EQ(p.transaction_id, uint64_t(k));
    EXPECT_EQ(p.flags, kind == 0 ? 1 : 0);
    const uint32_t header = kind == 2 ? 16 : kind == 3 ? 32 : 0;
    EXPECT_EQ(p.payload_offset, 16 + header);
    ASSERT_TRUE(std::equal(payload.begin(), payload.end(), p.bytes + p.payload_offset));
    vmbus_ring_commit_read(&g);
    EXPECT_EQ(vmbus_ring_read(&g, buf.data(), buf.size(), &p), VMBUS_RING_EMPTY);
  }
  EXPECT_EQ(vmbus_ring_read(&g, buf.data(), 8, &p), VMBUS_RING_EMPTY);
  ASSERT_EQ(host.write_inband(random_bytes(rng, 100), 1, false), RingError::kOk);
  host.commit_write();
  EXPECT_EQ(vmbus_ring_read(&g, buf.data(), 8, &p), VMBUS_RING_BUFFER_TOO_SMALL);
}

TEST(VmbusRingCross, SameOperationsSameImagesAndSignals) {
  // The same random sequence of writes, reads, commits and mask changes on a ring driven by
  // the C++ ends and on one driven by the C ends: identical bytes and signal decisions.
  int fulls = 0, reader_signals = 0, writer_signals = 0, packets = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed);
    TestRingMemory host_mem(kRing), guest_mem(kRing);
    const uint32_t start = static_cast<uint32_t>(rng.below((kRing - 4096) / 8)) * 8;
    for (TestRingMemory* m : {&host_mem, &guest_mem}) {
      m->set_u32(kReadIndexOffset, start);
      m->set_u32(kWriteIndexOffset, start);
      m->set_u32(kFeatureBitsOffset, kFeatPendingSendSz);
    }
    RingWriter hw(host_mem);
    RingReader hr(host_mem);
    ASSERT_EQ(hw.attach(), RingError::kOk);
    ASSERT_EQ(hr.attach(), RingError::kOk);
    vmbus_ring gw, gr;
    ASSERT_EQ(vmbus_ring_attach(&gw, guest_mem.bytes.data(), kRing), VMBUS_RING_OK);
    ASSERT_EQ(vmbus_ring_attach(&gr, guest_mem.bytes.data(), kRing), VMBUS_RING_OK);
    Packet hp;
    std::vector<uint8_t> buf(kRing);
    vmbus_packet gp;
    for (int op = 0; op < 3000; ++op) {
      switch (rng.below(5)) {
        case 0:
        case 1: {
          auto payload = random_bytes(rng, rng.below(rng.below(8) ? 300 : 5000));
          const uint64_t id = rng.next();
          RingError he = hw.write_inband(payload, id, id & 1);
          int ge = vmbus_ring_write(&gw, 6, id & 1, id, nullptr, 0, payload.data(), payload.size());
          ASSERT_EQ(static_cast<int>(he), ge) << seed << " " << op;
          fulls += he == RingError::kFull;
          break;
        }
        case 2: {
          RingError he = hr.read(hp);
          int ge = vmbus_ring_read(&gr, buf.data(), buf.size(), &gp);
          ASSERT_EQ(static_cast<int>(he), ge) << seed << " " << op;
          if (he == RingError::kOk) {
            ++packets;
            EXPECT_EQ(hp.transaction_id, gp.transaction_id);
            ASSERT_TRUE(std::equal(hp.bytes.begin(), hp.bytes.end(), gp.bytes));
          }
          break;
        }
        case 3: {
          const bool h = hr.commit_read().signal, g = vmbus_ring_commit_read(&gr);
          ASSERT_EQ(h, g) << seed << " " << op;
          reader_signals += h;
          break;
        }
        default: {
          if (rng.below(4) == 0) {
            const bool mask = rng.below(2);
            hr.set_interrupt_mask(mask);
            vmbus_ring_set_interrupt_mask(&gr, mask);
          }
          const bool h = hw.commit_write().signal, g = vmbus_ring_commit_write(&gw);
          ASSERT_EQ(h, g) << seed << " " << op;
          writer_signals += h;
        }
      }
      ASSERT_EQ(host_mem.bytes, guest_mem.bytes) << seed << " " << op;
    }
  }
  EXPECT_GT(fulls, 1000);
  EXPECT_GT(packets, 1000);
  EXPECT_GT(reader_signals, 50);
  EXPECT_GT(writer_signals, 20);
}

TEST(VmbusRingCross, CorruptRingsSameVerdict) {
  // Random control values and data (and valid packets with bytes flipped): both readers give
  // the same status, and the same packet when they accept one.
  Packet hp;
  std::vector<uint8_t> buf(kRing);
  int accepted = 0, refused = 0;
  for (uint64_t c = 0; c < 20000; ++c) {
    Rng rng(0xC0FFEE + c);
    TestRingMemory m(kRing);
    const uint32_t data = kRing - 4096;
    const uint32_t start = static_cast<uint32_t>(rng.below(data / 8)) * 8;
    m.set_u32(kReadIndexOffset, start);
    m.set_u32(kWriteIndexOffset, start);
    RingWriter w(m);
    ASSERT_EQ(w.attach(), RingError::kOk);
    for (int k = 1 + static_cast<int>(rng.below(3)); k > 0; --k) {
      std::vector<GpaRange> gr = {{static_cast<uint32_t>(1 + rng.below(9000)), 0, 0, 0}};
      gr[0].pfn_count = (gr[0].byte_count + 4095) / 4096;
      std::vector<uint64_t> pfns(gr[0].pfn_count, 5);
      auto payload = random_bytes(rng, rng.below(200));
      if (rng.below(2)) {
        w.write_gpa_direct(gr, pfns, payload, k, false);
      } else {
        w.write_transfer_pages(1, false, std::vector<TransferRange>(rng.below(3)), payload, k,
                               true);
      }
    }
    w.commit_write();
    for (int k = static_cast<int>(rng.below(4)); k > 0; --k) {
      const uint64_t at = rng.below(3) == 0 ? rng.below(16) : 4096 + start + rng.below(64);
      m.bytes[at % kRing] = static_cast<uint8_t>(rng.next());
    }
    RingReader hr(m);
    vmbus_ring gr;
    const int ha = static_cast<int>(hr.attach());
    const int ga = vmbus_ring_attach(&gr, m.bytes.data(), kRing);
    // The C attach also checks write_index; the C++ reader finds it at its first read.
    if (ha != 0 || ga != 0) {
      ASSERT_TRUE(ha == ga || (ha == 0 && ga >= VMBUS_RING_WRITE_INDEX_OUT_OF_RANGE)) << c;
      ++refused;
      continue;
    }
    for (int k = 0; k < 4; ++k) {
      const int he = static_cast<int>(hr.read(hp));
      vmbus_packet gp;
      const int ge = vmbus_ring_read(&gr, buf.data(), buf.size(), &gp);
      ASSERT_EQ(he, ge) << c << " " << vmbus_ring_status_name(ge);
      if (he != 0) {
        refused += he != VMBUS_RING_EMPTY;
        break;
      }
      ++accepted;
      ASSERT_TRUE(std::equal(hp.bytes.begin(), hp.bytes.end(), gp.bytes));
    }
  }
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 1000);
}

TEST(VmbusRingCross, StatusNamesMatch) {
  for (int k = 0; k <= static_cast<int>(RingError::kBadArgument); ++k)
    EXPECT_STREQ(to_string(static_cast<RingError>(k)), vmbus_ring_status_name(k)) << k;
}

}  // namespace
}  // namespace hvsim::vmbus
