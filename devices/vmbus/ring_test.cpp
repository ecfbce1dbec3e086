// Unit tests of the host-side VMBus ring (../shared/spec/hyperv-interfaces.md §6.7, §6.6):
// round trips of every packet type the host reads or writes, wrap-around at every 8-byte
// position, full and empty rings, the interrupt_mask and pending_send_sz signaling rules,
// and every malformed ring refused with its error.
#include "devices/vmbus/ring.h"

#include <gtest/gtest.h>

#include <numeric>

#include "devices/vmbus/ring_test_support.h"

namespace hvsim::vmbus {
namespace {

using namespace spec;
using testing::TestRingMemory;

constexpr uint64_t kRing = 2 * 4096;  // one data page: 4096 bytes of data
constexpr uint32_t kData = 4096;

std::vector<uint8_t> bytes_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = static_cast<uint8_t>(seed + k * 7);
  return v;
}

struct Pair {
  explicit Pair(uint64_t size = kRing) : mem(size), writer(mem), reader(mem) {}
  void attach() {
    ASSERT_EQ(writer.attach(), RingError::kOk);
    ASSERT_EQ(reader.attach(), RingError::kOk);
  }
  TestRingMemory mem;
  RingWriter writer;
  RingReader reader;
  Packet pkt;
};

/// Writes a raw packet (descriptor fields, body, trailer) at data offset `at` of the ring,
/// wrapping, and sets write_index past it; returns the bytes consumed.
uint32_t raw_packet(TestRingMemory& m, uint32_t at, uint16_t type, uint16_t offset8, uint16_t len8,
                    uint16_t flags, std::vector<uint8_t> body = {}) {
  std::vector<uint8_t> p(uint32_t{len8} * 8 + 8, 0);
  if (p.size() < 24) p.resize(24);
  std::memcpy(&p[0], &type, 2);
  std::memcpy(&p[2], &offset8, 2);
  std::memcpy(&p[4], &len8, 2);
  std::memcpy(&p[6], &flags, 2);
  for (size_t k = 0; k < body.size() && 16 + k < p.size(); ++k) p[16 + k] = body[k];
  const uint32_t data = static_cast<uint32_t>(m.size() - kRingControlSize);
  for (size_t k = 0; k < p.size(); ++k) m.bytes[kRingControlSize + (at + k) % data] = p[k];
  m.set_u32(kWriteIndexOffset, static_cast<uint32_t>((at + p.size()) % data));
  return static_cast<uint32_t>(p.size());
}

TEST(VmbusRing, AttachChecksSizeAndOwnIndex) {
  for (uint64_t bad : {0ull, 4096ull, 4096ull + 8, 3 * 4096ull - 1}) {
    TestRingMemory m(bad);
    RingReader r(m);
    RingWriter w(m);
    EXPECT_EQ(r.attach(), RingError::kBadRingSize) << bad;
    EXPECT_EQ(w.attach(), RingError::kBadRingSize) << bad;
    Packet p;
    EXPECT_EQ(r.read(p), RingError::kBadRingSize);
    EXPECT_EQ(w.write_inband({}, 1, false), RingError::kBadRingSize);
  }
  EXPECT_EQ(ring_data_size(3 * 4096), 2 * 4096u);
  TestRingMemory m(kRing);
  m.set_u32(kReadIndexOffset, kData);
  m.set_u32(kWriteIndexOffset, 12);
  RingReader r(m);
  RingWriter w(m);
  EXPECT_EQ(r.attach(), RingError::kReadIndexOutOfRange);
  EXPECT_EQ(w.attach(), RingError::kWriteIndexUnaligned);
  m.set_u32(kReadIndexOffset, 4);
  m.set_u32(kWriteIndexOffset, 0xFFFFFFF8);
  EXPECT_EQ(r.attach(), RingError::kReadIndexUnaligned);
  EXPECT_EQ(w.attach(), RingError::kWriteIndexOutOfRange);
  EXPECT_EQ(m.out_of_bounds, 0u);
}

TEST(VmbusRing, InbandAndCompletionRoundTrip) {
  Pair p;
  p.attach();
  for (size_t n : {0, 1, 7, 8, 9, 100, 1000}) {
    auto payload = bytes_of(n, static_cast<uint8_t>(n));
    ASSERT_EQ(p.writer.write_inband(payload, 0x1122334455667788ull + n, n % 2), RingError::kOk);
    ASSERT_EQ(p.writer.write_completion(payload, n), RingError::kOk);
    p.writer.commit_write();
    ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
    EXPECT_EQ(p.pkt.type, PacketType::kDataInBand);
    EXPECT_EQ(p.pkt.transaction_id, 0x1122334455667788ull + n);
    EXPECT_EQ(p.pkt.completion_requested(), bool(n % 2));
    EXPECT_EQ(p.pkt.payload_offset, 16u);
    EXPECT_EQ(p.pkt.bytes.size(), (16 + n + 7) / 8 * 8);
    ASSERT_GE(p.pkt.payload().size(), n);
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), p.pkt.payload().begin()));
    // Padding is zeros.
    for (size_t k = n; k < p.pkt.payload().size(); ++k) EXPECT_EQ(p.pkt.payload()[k], 0);
    ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
    EXPECT_EQ(p.pkt.type, PacketType::kCompletion);
    EXPECT_EQ(p.pkt.transaction_id, n);
    EXPECT_FALSE(p.pkt.completion_requested());
    EXPECT_EQ(p.reader.read(p.pkt), RingError::kEmpty);
    p.reader.commit_read();
  }
  EXPECT_EQ(p.mem.out_of_bounds, 0u);
}

TEST(VmbusRing, TransferPagesRoundTrip) {
  Pair p;
  p.attach();
  std::vector<TransferRange> ranges = {{1514, 0}, {60, 4096}, {9000, 0x12345678}};
  auto payload = bytes_of(12, 3);
  ASSERT_EQ(p.writer.write_transfer_pages(0xCAFE, true, ranges, payload, 77, true), RingError::kOk);
  p.writer.commit_write();
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  EXPECT_EQ(p.pkt.type, PacketType::kDataUsingTransferPages);
  EXPECT_EQ(p.pkt.transfer_page_set_id, 0xCAFE);
  EXPECT_EQ(p.pkt.sender_owns_set, 1);
  EXPECT_EQ(p.pkt.payload_offset, 16u + 8 + 3 * 8);
  ASSERT_EQ(p.pkt.transfer_ranges.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(p.pkt.transfer_ranges[k].byte_count, ranges[k].byte_count);
    EXPECT_EQ(p.pkt.transfer_ranges[k].byte_offset, ranges[k].byte_offset);
  }
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), p.pkt.payload().begin()));
  EXPECT_EQ(p.pkt.transaction_id, 77u);
  EXPECT_TRUE(p.pkt.completion_requested());
}

TEST(VmbusRing, GpaDirectRoundTrip) {
  Pair p;
  p.attach();
  // Linux's two flavours: single-page ranges, and one multi-page range.
  std::vector<uint64_t> pfns = {0x1000, 0x2000, 0x3000, 0x3001, 0x3002};
  std::vector<GpaRange> ranges = {{100, 12, 0, 1}, {4096, 0, 1, 1}, {8192, 8, 2, 3}};
  auto payload = bytes_of(64, 9);
  ASSERT_EQ(p.writer.write_gpa_direct(ranges, pfns, payload, 5, true), RingError::kOk);
  p.writer.commit_write();
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  EXPECT_EQ(p.pkt.type, PacketType::kDataUsingGpaDirect);
  EXPECT_EQ(p.pkt.payload_offset, 16u + 8 + 3 * 8 + 5 * 8);
  ASSERT_EQ(p.pkt.gpa_ranges.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(p.pkt.gpa_ranges[k].byte_count, ranges[k].byte_count);
    EXPECT_EQ(p.pkt.gpa_ranges[k].byte_offset, ranges[k].byte_offset);
    EXPECT_EQ(p.pkt.gpa_ranges[k].first_pfn, ranges[k].first_pfn);
    EXPECT_EQ(p.pkt.gpa_ranges[k].pfn_count, ranges[k].pfn_count);
  }
  EXPECT_EQ(p.pkt.pfns, pfns);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), p.pkt.payload().begin()));
  // Ranges whose PFN count does not match their bytes, or that point past the PFN array.
  std::vector<GpaRange> wrong = {{4097, 0, 0, 1}};
  EXPECT_EQ(p.writer.write_gpa_direct(wrong, pfns, payload, 5, false), RingError::kBadArgument);
  wrong = {{8, 0, 5, 1}};
  EXPECT_EQ(p.writer.write_gpa_direct(wrong, pfns, payload, 5, false), RingError::kBadArgument);
  wrong = {{0, 0, 0, 0}};
  EXPECT_EQ(p.writer.write_gpa_direct(wrong, pfns, payload, 5, false), RingError::kBadGpaRange);
}

TEST(VmbusRing, WrapAroundAtEveryAlignment) {
  // Start each packet at every 8-byte position of the data area, with sizes that make the
  // descriptor, the header, the payload or the trailer straddle the end.
  for (size_t n : {1u, 8u, 40u, 500u}) {
    for (uint32_t start = 0; start < kData; start += 8) {
      Pair p;
      p.mem.set_u32(kReadIndexOffset, start);
      p.mem.set_u32(kWriteIndexOffset, start);
      p.attach();
      auto payload = bytes_of(n, static_cast<uint8_t>(start));
      std::vector<TransferRange> ranges = {{1, 2}};
      ASSERT_EQ(p.writer.write_transfer_pages(1, false, ranges, payload, start, false),
                RingError::kOk);
      const uint64_t size = RingWriter::packet_size(16, n);
      EXPECT_EQ(p.writer.write_index(), (start + size) % kData);
      EXPECT_TRUE(p.writer.commit_write().signal);
      // Trailer: the start offset in bits 63:32, just before the new write index.
      const uint32_t trailer_at = static_cast<uint32_t>((start + size - 8) % kData);
      EXPECT_EQ(p.mem.u32(kRingControlSize + trailer_at), 0u);
      EXPECT_EQ(p.mem.u32(kRingControlSize + trailer_at + 4), start);
      ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk) << start;
      EXPECT_EQ(p.pkt.transaction_id, start);
      ASSERT_EQ(p.pkt.transfer_ranges.size(), 1u);
      EXPECT_EQ(p.pkt.transfer_ranges[0].byte_offset, 2u);
      EXPECT_TRUE(std::equal(payload.begin(), payload.end(), p.pkt.payload().begin()));
      EXPECT_EQ(p.reader.read_index(), p.writer.write_index());
      EXPECT_EQ(p.reader.read(p.pkt), RingError::kEmpty);
      EXPECT_EQ(p.mem.out_of_bounds, 0u);
    }
  }
}

TEST(VmbusRing, FullRingKeepsEightBytesFree) {
  Pair p;
  p.attach();
  auto payload = bytes_of(48, 1);  // 16 + 48 + 8 = 72 bytes per packet
  int written = 0;
  while (p.writer.write_inband(payload, written, false) == RingError::kOk) ++written;
  // 4096 / 72 = 56 packets use 4032 bytes; a 57th would leave less than 8 bytes free.
  EXPECT_EQ(written, 56);
  EXPECT_EQ(p.writer.write_inband(payload, 0, false), RingError::kFull);
  // A packet that fills the ring exactly is refused; one 8 bytes smaller fits an empty ring.
  Pair q;
  q.attach();
  EXPECT_EQ(q.writer.write_inband(bytes_of(kData - 24, 0), 0, false),
            RingError::kPacketLargerThanRing);
  EXPECT_EQ(q.writer.write_inband(bytes_of(kData - 32, 0), 0, false), RingError::kOk);
  EXPECT_EQ(q.writer.write_inband({}, 0, false), RingError::kFull);
  q.writer.commit_write();
  ASSERT_EQ(q.reader.read(q.pkt), RingError::kOk);
  EXPECT_EQ(q.pkt.bytes.size(), kData - 16u);
  // Headers not a multiple of 8 are the caller's mistake.
  uint8_t odd[3] = {};
  EXPECT_EQ(q.writer.write(OutgoingPacket{PacketType::kDataInBand, 0, 0, odd, {}}),
            RingError::kBadArgument);
}

TEST(VmbusRing, WriterSignalsOnlyWhenEmptyAndUnmasked) {
  Pair p;
  p.attach();
  EXPECT_FALSE(p.writer.commit_write().signal);  // nothing written
  ASSERT_EQ(p.writer.write_inband(bytes_of(8, 0), 1, false), RingError::kOk);
  EXPECT_TRUE(p.writer.commit_write().signal);  // empty -> non-empty
  ASSERT_EQ(p.writer.write_inband(bytes_of(8, 0), 2, false), RingError::kOk);
  EXPECT_FALSE(p.writer.commit_write().signal);  // reader has not caught up
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  p.reader.commit_read();
  ASSERT_EQ(p.reader.set_interrupt_mask(true), RingError::kOk);
  EXPECT_EQ(p.mem.u32(kInterruptMaskOffset), 1u);
  ASSERT_EQ(p.writer.write_inband(bytes_of(8, 0), 3, false), RingError::kOk);
  EXPECT_FALSE(p.writer.commit_write().signal);  // masked
  ASSERT_EQ(p.reader.set_interrupt_mask(false), RingError::kOk);
  EXPECT_EQ(p.reader.available(), 32u);  // the re-check after unmasking finds it
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  p.reader.commit_read();
  // Read but not yet published: the writer must not count the ring as empty.
  ASSERT_EQ(p.writer.write_inband(bytes_of(8, 0), 4, false), RingError::kOk);
  EXPECT_TRUE(p.writer.commit_write().signal);
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  ASSERT_EQ(p.writer.write_inband(bytes_of(8, 0), 5, false), RingError::kOk);
  EXPECT_FALSE(p.writer.commit_write().signal);
}

TEST(VmbusRing, PendingSendSizeWakesBlockedWriter) {
  Pair p;
  p.mem.set_u32(kFeatureBitsOffset, kFeatPendingSendSz);
  p.attach();
  auto payload = bytes_of(48, 1);  // 72 bytes per packet
  int written = 0;
  while (p.writer.write_inband(payload, written, false) == RingError::kOk) ++written;
  p.writer.commit_write();
  EXPECT_EQ(p.mem.u32(kPendingSendSzOffset), 72u);  // what the blocked writer needs
  // Free space is 4096 - 56 * 72 = 64 <= 72. Reading one packet makes it 136 > 72: signal.
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  auto c = p.reader.commit_read();
  EXPECT_EQ(c.error, RingError::kOk);
  EXPECT_TRUE(c.signal);
  // Free space was already > pending before the next read: no second signal.
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  EXPECT_FALSE(p.reader.commit_read().signal);
  // The next successful write clears pending_send_sz.
  ASSERT_EQ(p.writer.write_inband(payload, 0, false), RingError::kOk);
  EXPECT_EQ(p.mem.u32(kPendingSendSzOffset), 0u);
  p.writer.commit_write();  // 55 packets queued, 136 bytes free
  // A batch of reads that crosses the threshold signals once, at commit.
  p.mem.set_u32(kPendingSendSzOffset, 250);
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  EXPECT_TRUE(p.reader.commit_read().signal);  // 136 <= 250 before, 280 > 250 after
  // Without the feature bit the reader never signals, and a full writer leaves pending alone.
  Pair q;
  q.attach();
  while (q.writer.write_inband(payload, 0, false) == RingError::kOk) {
  }
  q.writer.commit_write();
  EXPECT_EQ(q.mem.u32(kPendingSendSzOffset), 0u);
  q.mem.set_u32(kPendingSendSzOffset, 72);
  ASSERT_EQ(q.reader.read(q.pkt), RingError::kOk);
  EXPECT_FALSE(q.reader.commit_read().signal);
}

TEST(VmbusRing, ReadsEachGuestIndexOncePerOperation) {
  Pair p;
  p.attach();
  ASSERT_EQ(p.writer.write_gpa_direct(std::vector<GpaRange>{{10, 0, 0, 1}},
                                      std::vector<uint64_t>{7}, bytes_of(30, 0), 1, false),
            RingError::kOk);
  p.mem.read_index_reads = p.mem.write_index_reads = 0;
  p.writer.commit_write();
  EXPECT_EQ(p.mem.read_index_reads, 1u);
  p.mem.write_index_reads = 0;
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  EXPECT_EQ(p.mem.write_index_reads, 1u);
  p.mem.read_index_reads = 0;
  ASSERT_EQ(p.writer.write_inband(bytes_of(30, 0), 1, false), RingError::kOk);
  EXPECT_EQ(p.mem.read_index_reads, 1u);
}

// --- malformed rings written by a hostile guest --------------------------------------------

struct VmbusRingMalformed : ::testing::Test {
  VmbusRingMalformed() : mem(kRing), reader(mem) {}
  RingError read_at(uint32_t at) {
    mem.set_u32(kReadIndexOffset, at);
    EXPECT_EQ(reader.attach(), RingError::kOk);
    RingError e = reader.read(pkt);
    EXPECT_EQ(mem.out_of_bounds, 0u);
    if (e != RingError::kOk && e != RingError::kEmpty) {
      EXPECT_EQ(reader.read_index(), at) << "an error must not move the read position";
    }
    return e;
  }
  TestRingMemory mem;
  RingReader reader;
  Packet pkt;
};

TEST_F(VmbusRingMalformed, WriteIndexOutOfRangeOrUnaligned) {
  for (uint32_t w : {kData, kData + 8, 0xFFFFFFF8u}) {
    mem.set_u32(kWriteIndexOffset, w);
    EXPECT_EQ(read_at(0), RingError::kWriteIndexOutOfRange) << w;
  }
  for (uint32_t w : {1u, 4u, kData - 1}) {
    mem.set_u32(kWriteIndexOffset, w);
    EXPECT_EQ(read_at(0), RingError::kWriteIndexUnaligned) << w;
  }
  RingError e;
  EXPECT_EQ(reader.available(&e), 0u);
  EXPECT_EQ(e, RingError::kWriteIndexUnaligned);
}

TEST_F(VmbusRingMalformed, ReadIndexBadForTheWriter) {
  RingWriter w(mem);
  ASSERT_EQ(w.attach(), RingError::kOk);
  mem.set_u32(kReadIndexOffset, kData);
  EXPECT_EQ(w.write_inband({}, 0, false), RingError::kReadIndexOutOfRange);
  mem.set_u32(kReadIndexOffset, 12);
  EXPECT_EQ(w.write_inband({}, 0, false), RingError::kReadIndexUnaligned);
  EXPECT_EQ(w.write_index(), 0u);
  // The guest scribbling on the host-owned write_index changes nothing for the host.
  mem.set_u32(kReadIndexOffset, 0);
  mem.set_u32(kWriteIndexOffset, 13);
  EXPECT_EQ(w.write_inband({}, 0, false), RingError::kOk);
  EXPECT_EQ(w.write_index(), 24u);
}

TEST_F(VmbusRingMalformed, TruncatedPacket) {
  mem.set_u32(kWriteIndexOffset, 16);  // a descriptor without its trailer
  EXPECT_EQ(read_at(0), RingError::kTruncatedPacket);
}

TEST_F(VmbusRingMalformed, DescriptorFields) {
  raw_packet(mem, 0, 6, 2, 1, 0);
  EXPECT_EQ(read_at(0), RingError::kPacketLengthTooSmall);
  raw_packet(mem, 0, 6, 2, 0, 0);
  EXPECT_EQ(read_at(0), RingError::kPacketLengthTooSmall);
  raw_packet(mem, 0, 6, 1, 4, 0);
  EXPECT_EQ(read_at(0), RingError::kDataOffsetTooSmall);
  raw_packet(mem, 0, 6, 0, 4, 0);
  EXPECT_EQ(read_at(0), RingError::kDataOffsetTooSmall);
  raw_packet(mem, 0, 6, 5, 4, 0);
  EXPECT_EQ(read_at(0), RingError::kDataOffsetBeyondLength);
  raw_packet(mem, 0, 0x8, 2, 4, 0);
  EXPECT_EQ(read_at(0), RingError::kUnknownPacketType);
  raw_packet(mem, 0, 0xFFFF, 2, 4, 0);
  EXPECT_EQ(read_at(0), RingError::kUnknownPacketType);
  raw_packet(mem, 0, 6, 2, 4, 2);
  EXPECT_EQ(read_at(0), RingError::kUnknownFlags);
  raw_packet(mem, 0, 6, 2, 4, 1);
  EXPECT_EQ(read_at(0), RingError::kOk);
}

TEST_F(VmbusRingMalformed, LengthBeyondAvailableOrRing) {
  // len8 says 64 bytes, but write_index says only 32 + 8 were written.
  raw_packet(mem, 0, 6, 2, 4, 0);
  mem.set_u32(kRingControlSize + 4, 8);  // len8 = 8
  EXPECT_EQ(read_at(0), RingError::kPacketLargerThanAvailable);
  // len8 = 0xFFFF (512 KiB) in a 4 KiB ring, and just past what a ring can ever hold.
  mem.set_u32(kRingControlSize + 4, 0xFFFF);
  EXPECT_EQ(read_at(0), RingError::kPacketLargerThanRing);
  mem.set_u32(kRingControlSize + 4, (kData - 8) / 8);  // + trailer = the whole ring
  EXPECT_EQ(read_at(0), RingError::kPacketLargerThanRing);
  // A packet exactly as large as the available bytes at the wrap point is fine.
  raw_packet(mem, kData - 16, 6, 2, 4, 0);
  EXPECT_EQ(read_at(kData - 16), RingError::kOk);
  EXPECT_EQ(reader.read_index(), 24u);
}

TEST_F(VmbusRingMalformed, TransferPageRanges) {
  // Header does not fit before offset8: offset8 = 2 (no room for the 8-byte header).
  raw_packet(mem, 0, 7, 2, 4, 0);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  // range_count 2 but offset8 leaves room for one range.
  std::vector<uint8_t> body(24, 0);
  body[4] = 2;
  raw_packet(mem, 0, 7, 4, 6, 0, body);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  body[4] = 0xFF, body[5] = 0xFF, body[6] = 0xFF, body[7] = 0xFF;
  raw_packet(mem, 0, 7, 4, 6, 0, body);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  body[4] = 1, body[5] = body[6] = body[7] = 0;
  raw_packet(mem, 0, 7, 4, 6, 0, body);
  EXPECT_EQ(read_at(0), RingError::kOk);
  EXPECT_EQ(pkt.transfer_ranges.size(), 1u);
}

TEST_F(VmbusRingMalformed, GpaDirectRanges) {
  std::vector<uint8_t> body(48, 0);
  raw_packet(mem, 0, 9, 2, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  // One range of 4096 bytes at offset 8 spans two pages: needs two PFNs, has room for one.
  body[4] = 1;
  body[8 + 1] = 0x10;  // byte_count 4096
  body[12] = 8;        // byte_offset 8
  raw_packet(mem, 0, 9, 5, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  raw_packet(mem, 0, 9, 6, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kOk);
  EXPECT_EQ(pkt.pfns.size(), 2u);
  // range_count huge: refused before any range is parsed.
  body[4] = body[5] = body[6] = body[7] = 0xFF;
  raw_packet(mem, 0, 9, 6, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  // Two ranges declared, the second runs past offset8.
  body[4] = 2, body[5] = body[6] = body[7] = 0;
  raw_packet(mem, 0, 9, 6, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kRangesBeyondDataOffset);
  // byte_offset beyond the first page, and an empty range.
  body[4] = 1;
  body[12] = 0, body[13] = 0x10;  // byte_offset 4096
  raw_packet(mem, 0, 9, 6, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kBadGpaRange);
  body[13] = 0, body[8] = body[9] = 0;  // byte_count 0
  raw_packet(mem, 0, 9, 6, 8, 0, body);
  EXPECT_EQ(read_at(0), RingError::kBadGpaRange);
}

TEST_F(VmbusRingMalformed, MemoryThatRefusesAccess) {
  // A RingMemory that fails (e.g. a GPADL page that went away) is an error, not a crash.
  struct Failing : TestRingMemory {
    using TestRingMemory::TestRingMemory;
    bool read(uint64_t, void*, size_t) override { return false; }
    bool write(uint64_t, const void*, size_t) override { return false; }
  } f(kRing);
  RingReader r(f);
  RingWriter w(f);
  EXPECT_EQ(r.attach(), RingError::kMemoryFault);
  EXPECT_EQ(w.attach(), RingError::kMemoryFault);
}

TEST(VmbusRing, StatsCountPacketsBytesSignalsAndErrors) {
  Pair p;
  p.mem.set_u32(kFeatureBitsOffset, kFeatPendingSendSz);
  p.attach();
  auto payload = bytes_of(48, 1);  // 72 bytes per packet
  while (p.writer.write_inband(payload, 0, false) == RingError::kOk) {
  }
  p.writer.commit_write();
  EXPECT_EQ(p.writer.stats().packets, 56u);
  EXPECT_EQ(p.writer.stats().bytes, 56u * 72);
  EXPECT_EQ(p.writer.stats().full, 1u);
  EXPECT_EQ(p.writer.stats().signals, 1u);
  ASSERT_EQ(p.reader.read(p.pkt), RingError::kOk);
  EXPECT_TRUE(p.reader.commit_read().signal);
  EXPECT_EQ(p.reader.stats().packets, 1u);
  EXPECT_EQ(p.reader.stats().bytes, 72u);
  EXPECT_EQ(p.reader.stats().signals, 1u);
  p.mem.set_u32(kWriteIndexOffset, 3);
  EXPECT_EQ(p.reader.read(p.pkt), RingError::kWriteIndexUnaligned);
  EXPECT_EQ(p.reader.stats().errors, 1u);
  EXPECT_EQ(p.writer.write_inband(bytes_of(kData, 0), 0, false), RingError::kPacketLargerThanRing);
  EXPECT_EQ(p.writer.stats().errors, 1u);
}

TEST(VmbusRing, WindowsSplitOneGpadlIntoTwoRings) {
  // A ring GPADL of 2 + 3 pages: outbound ring at page 0, inbound at page 2.
  TestRingMemory gpadl(5 * 4096);
  RingMemoryWindow out(gpadl, 0, 2 * 4096), in(gpadl, 2 * 4096, 3 * 4096);
  RingWriter w(in);
  RingReader r(in);
  ASSERT_EQ(w.attach(), RingError::kOk);
  ASSERT_EQ(r.attach(), RingError::kOk);
  EXPECT_EQ(w.data_size(), 2 * 4096u);
  ASSERT_EQ(w.write_inband(bytes_of(5000, 0), 9, false), RingError::kOk);
  w.commit_write();
  EXPECT_EQ(gpadl.u32(2 * 4096 + kWriteIndexOffset), 5024u);  // in the second ring's page
  EXPECT_EQ(gpadl.u32(kWriteIndexOffset), 0u);
  Packet p;
  ASSERT_EQ(r.read(p), RingError::kOk);
  EXPECT_EQ(p.transaction_id, 9u);
  RingReader o(out);
  ASSERT_EQ(o.attach(), RingError::kOk);
  EXPECT_EQ(o.read(p), RingError::kEmpty);
  // A window that does not lie inside the GPADL is empty; nothing past the GPADL is reached.
  RingMemoryWindow beyond(gpadl, 4 * 4096, 2 * 4096), wrapped(gpadl, ~0ull - 4095, 8192);
  EXPECT_EQ(beyond.size(), 0u);
  EXPECT_EQ(wrapped.size(), 0u);
  RingReader b(beyond);
  EXPECT_EQ(b.attach(), RingError::kBadRingSize);
  uint8_t x;
  EXPECT_FALSE(out.read(2 * 4096, &x, 1));
  EXPECT_FALSE(out.read(~0ull, &x, 2));
  EXPECT_EQ(gpadl.out_of_bounds, 0u);
}

TEST(VmbusRing, ErrorNames) {
  for (int k = 0; k <= static_cast<int>(RingError::kBadArgument); ++k)
    EXPECT_STRNE(to_string(static_cast<RingError>(k)), "?") << k;
  EXPECT_STREQ(to_string(PacketType::kDataUsingGpaDirect), "data-using-gpa-direct");
}

}  // namespace
}  // namespace hvsim::vmbus
