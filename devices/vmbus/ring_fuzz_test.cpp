// Fuzzer of the host-side VMBus ring (../shared/spec/hyperv-interfaces.md §6.7): 100,000
// seeded cases of random control pages, random or corrupted-valid data areas and random
// sequences of host reads, writes, commits and mask changes, with a guest that rewrites the
// ring between (and during) the host's accesses. Invariants: the ring never asks the memory
// for a byte outside it, never crashes, keeps its own positions in range and aligned, and
// every packet it returns is consistent; every reader error is reached.
#include <gtest/gtest.h>

#include <array>

#include "core/rng.h"
#include "devices/vmbus/ring.h"
#include "devices/vmbus/ring_test_support.h"

namespace hvsim::vmbus {
namespace {

using namespace spec;
using testing::TestRingMemory;

constexpr int kCases = 100000;
constexpr int kErrorCount = static_cast<int>(RingError::kBadArgument) + 1;

/// A u32 for an index field: mostly plausible, sometimes aligned-in-range, sometimes not.
uint32_t fuzz_index(Rng& rng, uint32_t data) {
  switch (rng.below(6)) {
    case 0: return static_cast<uint32_t>(rng.next());
    case 1: return static_cast<uint32_t>(rng.below(data));           // often unaligned
    case 2: return data + static_cast<uint32_t>(rng.below(64)) * 8;  // just out of range
    case 3: return data - 8;
    default: return static_cast<uint32_t>(rng.below(data / 8)) * 8;
  }
}

uint32_t fuzz_u32(Rng& rng) {
  switch (rng.below(4)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return static_cast<uint32_t>(rng.below(0x2000));
    default: return static_cast<uint32_t>(rng.next());
  }
}

void corrupt_byte(Rng& rng, TestRingMemory& m, uint32_t data) {
  if (rng.below(3) == 0) {
    static constexpr std::array<uint64_t, 5> kFields = {kWriteIndexOffset, kReadIndexOffset,
                                                        kInterruptMaskOffset, kPendingSendSzOffset,
                                                        kFeatureBitsOffset};
    m.set_u32(kFields[rng.below(kFields.size())], fuzz_index(rng, data));
  } else {
    m.bytes[kRingControlSize + rng.below(data)] = static_cast<uint8_t>(rng.next());
  }
}

void check_packet(const Packet& p, uint32_t data) {
  ASSERT_GE(p.bytes.size(), kDescriptorSize);
  ASSERT_LE(p.bytes.size() + kTrailerSize, data - 8u);
  ASSERT_EQ(p.bytes.size() % 8, 0u);
  ASSERT_GE(p.payload_offset, kDescriptorSize);
  ASSERT_LE(p.payload_offset, p.bytes.size());
  ASSERT_LE(p.flags, 1);
  uint64_t pfns = 0;
  for (const GpaRange& r : p.gpa_ranges) {
    ASSERT_EQ(r.first_pfn, pfns);
    ASSERT_GT(r.byte_count, 0u);
    ASSERT_LT(r.byte_offset, kGpaPageSize);
    pfns += r.pfn_count;
  }
  ASSERT_EQ(pfns, p.pfns.size());
  if (p.type == PacketType::kDataUsingTransferPages) {
    ASSERT_LE(kDescriptorSize + kTransferPageHeaderSize + 8 * p.transfer_ranges.size(),
              p.payload_offset);
  } else if (p.type == PacketType::kDataUsingGpaDirect) {
    ASSERT_LE(kDescriptorSize + kGpaDirectHeaderSize + 8 * p.gpa_ranges.size() + 8 * pfns,
              p.payload_offset);
  } else {
    ASSERT_TRUE(p.type == PacketType::kDataInBand || p.type == PacketType::kCompletion);
  }
}

RingError fuzz_write(Rng& rng, RingWriter& w) {
  std::vector<uint8_t> payload(rng.below(4) == 0 ? rng.below(6000) : rng.below(300));
  for (auto& b : payload) b = static_cast<uint8_t>(rng.next());
  const uint64_t id = rng.next();
  const bool comp = rng.below(2);
  switch (rng.below(5)) {
    case 0: return w.write_inband(payload, id, comp);
    case 1: return w.write_completion(payload, id);
    case 2: {
      std::vector<TransferRange> ranges(rng.below(8));
      for (auto& r : ranges) r = {fuzz_u32(rng), fuzz_u32(rng)};
      return w.write_transfer_pages(static_cast<uint16_t>(rng.next()), comp, ranges, payload, id,
                                    comp);
    }
    case 3: {
      std::vector<GpaRange> ranges(rng.below(4));
      std::vector<uint64_t> pfns;
      for (auto& r : ranges) {
        r.byte_offset = static_cast<uint32_t>(rng.below(rng.below(8) ? 4096 : 8192));
        r.byte_count = static_cast<uint32_t>(rng.below(20000));
        r.first_pfn = static_cast<uint32_t>(pfns.size());
        r.pfn_count = static_cast<uint32_t>((uint64_t{r.byte_offset} + r.byte_count + 4095) / 4096);
        if (rng.below(10) == 0) ++r.pfn_count;  // inconsistent on purpose
        for (uint32_t k = 0; k < r.pfn_count; ++k) pfns.push_back(rng.next());
      }
      if (!pfns.empty() && rng.below(10) == 0) pfns.pop_back();
      return w.write_gpa_direct(ranges, pfns, payload, id, comp);
    }
    default: {
      std::vector<uint8_t> header(rng.below(40));
      OutgoingPacket p{static_cast<PacketType>(rng.below(16)), static_cast<uint16_t>(rng.below(2)),
                       id, header, payload};
      return w.write(p);
    }
  }
}

TEST(VmbusRingFuzz, RandomRingsAndOperations) {
  std::array<uint64_t, kErrorCount> reader_errors{}, writer_errors{};
  uint64_t packets = 0, signals = 0;
  Packet pkt;
  for (int c = 0; c < kCases; ++c) {
    Rng rng(0x5EED0000 + c);
    const uint32_t data = static_cast<uint32_t>(4096 * (1 + rng.below(3)));
    TestRingMemory m(kRingControlSize + data);
    m.set_u32(kWriteIndexOffset, fuzz_index(rng, data));
    m.set_u32(kReadIndexOffset, fuzz_index(rng, data));
    m.set_u32(kInterruptMaskOffset, fuzz_u32(rng));
    m.set_u32(kPendingSendSzOffset, fuzz_u32(rng));
    m.set_u32(kFeatureBitsOffset, fuzz_u32(rng));
    if (rng.below(2)) {
      // Valid packets from a writer, then a few corrupted bytes.
      const uint32_t start = static_cast<uint32_t>(rng.below(data / 8)) * 8;
      m.set_u32(kWriteIndexOffset, start);
      m.set_u32(kReadIndexOffset, start);
      RingWriter gw(m);
      EXPECT_EQ(gw.attach(), RingError::kOk);
      for (int k = static_cast<int>(rng.below(6)); k > 0; --k) fuzz_write(rng, gw);
      gw.commit_write();
      for (int k = static_cast<int>(rng.below(4)); k > 0; --k) corrupt_byte(rng, m, data);
    } else {
      for (uint32_t k = 0; k < data; k += 8) {
        uint64_t v = rng.next();
        std::memcpy(&m.bytes[kRingControlSize + k], &v, 8);
      }
      // Sometimes plausible descriptors at the read index.
      if (rng.below(2)) {
        const uint32_t r = m.u32(kReadIndexOffset);
        if (r < data && r % 8 == 0) {
          uint16_t d[4] = {static_cast<uint16_t>(std::array{6, 7, 9, 11}[rng.below(4)]),
                           static_cast<uint16_t>(rng.below(8)),
                           static_cast<uint16_t>(rng.below(rng.below(2) ? 16 : 1024)),
                           static_cast<uint16_t>(rng.below(3))};
          for (int k = 0; k < 8; ++k)
            m.bytes[kRingControlSize + (r + k) % data] = reinterpret_cast<uint8_t*>(d)[k];
        }
      }
    }
    Rng guest(rng.next());
    if (rng.below(4) == 0) {
      m.hostile = [&guest, data](TestRingMemory& mm) {
        if (guest.below(8) == 0) corrupt_byte(guest, mm, data);
      };
    }
    RingReader reader(m);
    RingWriter writer(m);
    const bool reader_ok = reader.attach() == RingError::kOk;
    const bool writer_ok = writer.attach() == RingError::kOk;
    for (int op = static_cast<int>(rng.below(12)); op > 0; --op) {
      switch (rng.below(6)) {
        case 0:
        case 1: {
          RingError e = reader.read(pkt);
          ASSERT_LT(static_cast<int>(e), kErrorCount);
          ++reader_errors[static_cast<int>(e)];
          if (e == RingError::kOk) {
            ++packets;
            check_packet(pkt, data);
          }
          break;
        }
        case 2: signals += reader.commit_read().signal; break;
        case 3: {
          RingError e = fuzz_write(rng, writer);
          ASSERT_LT(static_cast<int>(e), kErrorCount);
          ++writer_errors[static_cast<int>(e)];
          break;
        }
        case 4: signals += writer.commit_write().signal; break;
        default:
          if (rng.below(2)) {
            reader.set_interrupt_mask(rng.below(2));
          } else {
            corrupt_byte(rng, m, data);
          }
      }
      ASSERT_EQ(m.out_of_bounds, 0u) << "case " << c;
      if (reader_ok) {
        ASSERT_LT(reader.read_index(), data);
        ASSERT_EQ(reader.read_index() % 8, 0u);
      }
      if (writer_ok) {
        ASSERT_LT(writer.write_index(), data);
        ASSERT_EQ(writer.write_index() % 8, 0u);
      }
    }
  }
  // The cases reach every check the reader makes (a fuzzer that never gets past the first
  // check would pass the invariants vacuously).
  for (RingError e : {RingError::kOk, RingError::kEmpty, RingError::kBadRingSize,
                      RingError::kWriteIndexOutOfRange, RingError::kWriteIndexUnaligned,
                      RingError::kTruncatedPacket, RingError::kPacketLengthTooSmall,
                      RingError::kDataOffsetTooSmall, RingError::kDataOffsetBeyondLength,
                      RingError::kPacketLargerThanRing, RingError::kPacketLargerThanAvailable,
                      RingError::kUnknownPacketType, RingError::kUnknownFlags,
                      RingError::kRangesBeyondDataOffset, RingError::kBadGpaRange})
    EXPECT_GT(reader_errors[static_cast<int>(e)], 0u) << to_string(e);
  for (RingError e : {RingError::kOk, RingError::kFull, RingError::kReadIndexOutOfRange,
                      RingError::kReadIndexUnaligned, RingError::kPacketLargerThanRing,
                      RingError::kBadGpaRange, RingError::kBadArgument})
    EXPECT_GT(writer_errors[static_cast<int>(e)], 0u) << to_string(e);
  EXPECT_GT(packets, 10000u);
  EXPECT_GT(signals, 1000u);
}

}  // namespace
}  // namespace hvsim::vmbus
