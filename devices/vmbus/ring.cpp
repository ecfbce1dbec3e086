// VMBus ring buffers, host side (../shared/spec/hyperv-interfaces.md §6.7, §6.6 signaling).
// Why a private copy of the index each end owns: the guest can scribble on the whole control
// page; the host trusts only its own position and checks the peer's index every time.
#include "devices/vmbus/ring.h"

#include <cstring>

namespace hvsim::vmbus {

using namespace spec;

namespace {

constexpr uint64_t kMaxDataSize = uint64_t{1} << 31;

uint16_t le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void put16(uint8_t* p, uint16_t v) {
  std::memcpy(p, &v, 2);
}
void put32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
void put64(uint8_t* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}

/// Bytes from `from` to `to` going forward around a ring of `size` bytes.
uint32_t distance(uint32_t from, uint32_t to, uint32_t size) {
  return to >= from ? to - from : size - from + to;
}

RingError check_index(uint32_t v, uint32_t size, RingError out_of_range, RingError unaligned) {
  if (v >= size) return out_of_range;
  if (v % kRingAlign) return unaligned;
  return RingError::kOk;
}

RingError check_read_index(uint32_t v, uint32_t size) {
  return check_index(v, size, RingError::kReadIndexOutOfRange, RingError::kReadIndexUnaligned);
}
RingError check_write_index(uint32_t v, uint32_t size) {
  return check_index(v, size, RingError::kWriteIndexOutOfRange, RingError::kWriteIndexUnaligned);
}

RingError read_u32(RingMemory& mem, uint64_t off, uint32_t& v) {
  uint8_t b[4];
  if (!mem.read(off, b, 4)) return RingError::kMemoryFault;
  v = le32(b);
  return RingError::kOk;
}

RingError write_u32(RingMemory& mem, uint64_t off, uint32_t v) {
  uint8_t b[4];
  put32(b, v);
  return mem.write(off, b, 4) ? RingError::kOk : RingError::kMemoryFault;
}

bool allowed_type(uint16_t t) {
  switch (static_cast<PacketType>(t)) {
    case PacketType::kDataInBand:
    case PacketType::kDataUsingTransferPages:
    case PacketType::kDataUsingGpaDirect:
    case PacketType::kCompletion: return true;
    default: return false;
  }
}

}  // namespace

const char* to_string(RingError e) {
  switch (e) {
    case RingError::kOk: return "ok";
    case RingError::kEmpty: return "empty";
    case RingError::kFull: return "full";
    case RingError::kMemoryFault: return "memory-fault";
    case RingError::kBadRingSize: return "bad-ring-size";
    case RingError::kReadIndexOutOfRange: return "read-index-out-of-range";
    case RingError::kReadIndexUnaligned: return "read-index-unaligned";
    case RingError::kWriteIndexOutOfRange: return "write-index-out-of-range";
    case RingError::kWriteIndexUnaligned: return "write-index-unaligned";
    case RingError::kTruncatedPacket: return "truncated-packet";
    case RingError::kPacketLengthTooSmall: return "packet-length-too-small";
    case RingError::kDataOffsetTooSmall: return "data-offset-too-small";
    case RingError::kDataOffsetBeyondLength: return "data-offset-beyond-length";
    case RingError::kPacketLargerThanRing: return "packet-larger-than-ring";
    case RingError::kPacketLargerThanAvailable: return "packet-larger-than-available";
    case RingError::kUnknownPacketType: return "unknown-packet-type";
    case RingError::kUnknownFlags: return "unknown-flags";
    case RingError::kRangesBeyondDataOffset: return "ranges-beyond-data-offset";
    case RingError::kBadGpaRange: return "bad-gpa-range";
    case RingError::kBadArgument: return "bad-argument";
  }
  return "?";
}

uint32_t ring_data_size(uint64_t ring_size) {
  if (ring_size % kRingControlSize || ring_size < 2 * kRingControlSize) return 0;
  uint64_t data = ring_size - kRingControlSize;
  return data > kMaxDataSize ? 0 : static_cast<uint32_t>(data);
}

// --- reader -------------------------------------------------------------------------------

RingError RingReader::read_u32(uint64_t off, uint32_t& v) {
  return vmbus::read_u32(mem_, off, v);
}

RingError RingReader::attach() {
  data_size_ = ring_data_size(mem_.size());
  if (!data_size_) return RingError::kBadRingSize;
  uint32_t r;
  if (RingError e = read_u32(kReadIndexOffset, r); e != RingError::kOk) return e;
  if (RingError e = check_read_index(r, data_size_); e != RingError::kOk) {
    data_size_ = 0;
    return e;
  }
  read_ = published_read_ = r;
  return RingError::kOk;
}

RingEndState RingReader::saved() const {
  return RingEndState{data_size_, read_, published_read_, false, *stats_};
}

RingError RingReader::restore(const RingEndState& s) {
  if (s.data_size && s.data_size != ring_data_size(mem_.size())) return RingError::kBadRingSize;
  if (s.data_size) {
    if (RingError e = check_read_index(s.position, s.data_size); e != RingError::kOk) return e;
    if (RingError e = check_read_index(s.published, s.data_size); e != RingError::kOk) return e;
  } else if (s.position || s.published) {
    return RingError::kBadRingSize;
  }
  data_size_ = s.data_size;
  read_ = s.position;
  published_read_ = s.published;
  *stats_ = s.stats;
  return RingError::kOk;
}

RingError RingReader::copy_out(uint32_t pos, void* out, uint32_t n) {
  // pos < data_size_ and n <= data_size_ (callers check): at most two pieces.
  uint32_t first = n < data_size_ - pos ? n : data_size_ - pos;
  auto* o = static_cast<uint8_t*>(out);
  if (!mem_.read(kRingControlSize + pos, o, first)) return RingError::kMemoryFault;
  if (first < n && !mem_.read(kRingControlSize, o + first, n - first))
    return RingError::kMemoryFault;
  return RingError::kOk;
}

uint32_t RingReader::available(RingError* err) {
  RingError e = data_size_ ? RingError::kOk : RingError::kBadRingSize;
  uint32_t w = 0;
  if (e == RingError::kOk) e = read_u32(kWriteIndexOffset, w);
  if (e == RingError::kOk) e = check_write_index(w, data_size_);
  if (err) *err = e;
  return e == RingError::kOk ? distance(read_, w, data_size_) : 0;
}

RingError RingReader::read(Packet& out) {
  const uint32_t before = read_;
  RingError e = read_one(out);
  if (e == RingError::kOk) {
    ++stats_->packets;
    stats_->bytes += distance(before, read_, data_size_);
  } else if (e != RingError::kEmpty) {
    ++stats_->errors;
  }
  return e;
}

RingError RingReader::read_one(Packet& out) {
  RingError e;
  uint32_t avail = available(&e);
  if (e != RingError::kOk) return e;
  if (avail == 0) return RingError::kEmpty;
  if (avail < kDescriptorSize + kTrailerSize) return RingError::kTruncatedPacket;
  uint8_t d[kDescriptorSize];
  if ((e = copy_out(read_, d, kDescriptorSize)) != RingError::kOk) return e;
  const uint16_t type = le16(d), offset8 = le16(d + 2), len8 = le16(d + 4), flags = le16(d + 6);
  const uint32_t len = uint32_t{len8} * 8;
  if (len < kDescriptorSize) return RingError::kPacketLengthTooSmall;
  if (offset8 < kDescriptorSize / 8) return RingError::kDataOffsetTooSmall;
  if (offset8 > len8) return RingError::kDataOffsetBeyondLength;
  const uint64_t total = uint64_t{len} + kTrailerSize;
  // The producer always leaves 8 bytes free, so at most data_size - 8 can ever be queued.
  if (total > data_size_ - kRingAlign) return RingError::kPacketLargerThanRing;
  if (total > avail) return RingError::kPacketLargerThanAvailable;
  if (!allowed_type(type)) return RingError::kUnknownPacketType;
  if (flags & ~kFlagCompletionRequested) return RingError::kUnknownFlags;
  out.bytes.resize(len);
  // The descriptor is taken from the copy already checked, not read a second time.
  std::memcpy(out.bytes.data(), d, kDescriptorSize);
  const uint32_t rest_pos = (read_ + kDescriptorSize) % data_size_;
  if ((e = copy_out(rest_pos, out.bytes.data() + kDescriptorSize, len - kDescriptorSize)) !=
      RingError::kOk)
    return e;
  out.type = static_cast<PacketType>(type);
  out.flags = flags;
  out.transaction_id = le64(d + 8);
  out.payload_offset = uint32_t{offset8} * 8;
  if ((e = parse_type_header(out)) != RingError::kOk) return e;
  read_ = static_cast<uint32_t>((read_ + total) % data_size_);
  return RingError::kOk;
}

RingError RingReader::parse(std::span<const uint8_t> bytes, Packet& out) {
  if (bytes.size() < kDescriptorSize || bytes.size() % 8) return RingError::kTruncatedPacket;
  const uint8_t* d = bytes.data();
  const uint16_t type = le16(d), offset8 = le16(d + 2), len8 = le16(d + 4), flags = le16(d + 6);
  if (uint64_t{len8} * 8 > bytes.size()) return RingError::kPacketLargerThanAvailable;
  if (uint64_t{len8} * 8 < bytes.size()) return RingError::kPacketLengthTooSmall;
  if (offset8 < kDescriptorSize / 8) return RingError::kDataOffsetTooSmall;
  if (offset8 > len8) return RingError::kDataOffsetBeyondLength;
  if (!allowed_type(type)) return RingError::kUnknownPacketType;
  if (flags & ~kFlagCompletionRequested) return RingError::kUnknownFlags;
  out.bytes.assign(bytes.begin(), bytes.end());
  out.type = static_cast<PacketType>(type);
  out.flags = flags;
  out.transaction_id = le64(d + 8);
  out.payload_offset = uint32_t{offset8} * 8;
  return parse_type_header(out);
}

RingError RingReader::parse_type_header(Packet& out) {
  out.transfer_ranges.clear();
  out.gpa_ranges.clear();
  out.pfns.clear();
  const uint8_t* b = out.bytes.data();
  const uint64_t end = out.payload_offset;  // headers and ranges must end by here
  uint64_t pos = kDescriptorSize;
  if (out.type == PacketType::kDataUsingTransferPages) {
    if (pos + kTransferPageHeaderSize > end) return RingError::kRangesBeyondDataOffset;
    out.transfer_page_set_id = le16(b + pos);
    out.sender_owns_set = b[pos + 2];
    const uint32_t count = le32(b + pos + 4);
    pos += kTransferPageHeaderSize;
    if (uint64_t{count} * kTransferPageRangeSize > end - pos)
      return RingError::kRangesBeyondDataOffset;
    out.transfer_ranges.resize(count);
    for (uint32_t k = 0; k < count; ++k, pos += kTransferPageRangeSize)
      out.transfer_ranges[k] = TransferRange{le32(b + pos), le32(b + pos + 4)};
  } else if (out.type == PacketType::kDataUsingGpaDirect) {
    if (pos + kGpaDirectHeaderSize > end) return RingError::kRangesBeyondDataOffset;
    const uint32_t count = le32(b + pos + 4);
    pos += kGpaDirectHeaderSize;
    // Each range takes at least its 8-byte header: bounds the loop before it runs.
    if (uint64_t{count} * kGpaRangeHeaderSize > end - pos)
      return RingError::kRangesBeyondDataOffset;
    out.gpa_ranges.resize(count);
    for (uint32_t k = 0; k < count; ++k) {
      if (pos + kGpaRangeHeaderSize > end) return RingError::kRangesBeyondDataOffset;
      GpaRange& r = out.gpa_ranges[k];
      r.byte_count = le32(b + pos);
      r.byte_offset = le32(b + pos + 4);
      pos += kGpaRangeHeaderSize;
      if (r.byte_count == 0 || r.byte_offset >= kGpaPageSize) return RingError::kBadGpaRange;
      const uint64_t pages =
          (uint64_t{r.byte_offset} + r.byte_count + kGpaPageSize - 1) / kGpaPageSize;
      if (pages * 8 > end - pos) return RingError::kRangesBeyondDataOffset;
      r.first_pfn = static_cast<uint32_t>(out.pfns.size());
      r.pfn_count = static_cast<uint32_t>(pages);
      for (uint64_t p = 0; p < pages; ++p, pos += 8) out.pfns.push_back(le64(b + pos));
    }
  }
  return RingError::kOk;
}

RingReader::Commit RingReader::commit_read() {
  Commit c;
  if (!data_size_) {
    c.error = RingError::kBadRingSize;
    return c;
  }
  const uint32_t bytes_read = distance(published_read_, read_, data_size_);
  if (read_ == published_read_) return c;
  if ((c.error = write_u32(mem_, kReadIndexOffset, read_)) != RingError::kOk) return c;
  published_read_ = read_;
  uint32_t features, pending;
  if ((c.error = read_u32(kFeatureBitsOffset, features)) != RingError::kOk) return c;
  if (!(features & kFeatPendingSendSz)) return c;
  if ((c.error = read_u32(kPendingSendSzOffset, pending)) != RingError::kOk) return c;
  if (!pending) return c;
  RingError e;
  const uint32_t used = available(&e);
  if (e != RingError::kOk) {
    c.error = e;
    return c;
  }
  const uint32_t free_now = data_size_ - used;
  if (free_now <= pending) return c;
  // A guest that moved write_index backwards can make this look negative: no signal then.
  if (bytes_read > free_now) return c;
  c.signal = free_now - bytes_read <= pending;
  stats_->signals += c.signal;
  return c;
}

RingError RingReader::set_interrupt_mask(bool masked) {
  if (!data_size_) return RingError::kBadRingSize;
  return write_u32(mem_, kInterruptMaskOffset, masked ? 1 : 0);
}

// --- writer -------------------------------------------------------------------------------

RingError RingWriter::attach() {
  data_size_ = ring_data_size(mem_.size());
  if (!data_size_) return RingError::kBadRingSize;
  uint32_t w;
  if (RingError e = read_u32(mem_, kWriteIndexOffset, w); e != RingError::kOk) return e;
  if (RingError e = check_write_index(w, data_size_); e != RingError::kOk) {
    data_size_ = 0;
    return e;
  }
  write_ = published_write_ = w;
  pending_set_ = false;
  return RingError::kOk;
}

RingEndState RingWriter::saved() const {
  return RingEndState{data_size_, write_, published_write_, pending_set_, *stats_};
}

RingError RingWriter::restore(const RingEndState& s) {
  if (s.data_size && s.data_size != ring_data_size(mem_.size())) return RingError::kBadRingSize;
  if (s.data_size) {
    if (RingError e = check_write_index(s.position, s.data_size); e != RingError::kOk) return e;
    if (RingError e = check_write_index(s.published, s.data_size); e != RingError::kOk) return e;
  } else if (s.position || s.published || s.pending_set) {
    return RingError::kBadRingSize;
  }
  data_size_ = s.data_size;
  write_ = s.position;
  published_write_ = s.published;
  pending_set_ = s.pending_set;
  *stats_ = s.stats;
  return RingError::kOk;
}

uint64_t RingWriter::packet_size(size_t header_len, size_t payload_len) {
  const uint64_t len = uint64_t{kDescriptorSize} + header_len + payload_len;
  return (len + kRingAlign - 1) / kRingAlign * kRingAlign + kTrailerSize;
}

RingError RingWriter::copy_in(uint32_t pos, const void* in, uint32_t n) {
  uint32_t first = n < data_size_ - pos ? n : data_size_ - pos;
  auto* p = static_cast<const uint8_t*>(in);
  if (!mem_.write(kRingControlSize + pos, p, first)) return RingError::kMemoryFault;
  if (first < n && !mem_.write(kRingControlSize, p + first, n - first))
    return RingError::kMemoryFault;
  return RingError::kOk;
}

RingError RingWriter::write(const OutgoingPacket& p) {
  const uint32_t before = write_;
  RingError e = write_one(p);
  if (e == RingError::kOk) {
    ++stats_->packets;
    stats_->bytes += distance(before, write_, data_size_);
  } else if (e == RingError::kFull) {
    ++stats_->full;
  } else {
    ++stats_->errors;
  }
  return e;
}

RingError RingWriter::write_one(const OutgoingPacket& p) {
  if (!data_size_) return RingError::kBadRingSize;
  if (p.header.size() % kRingAlign) return RingError::kBadArgument;
  const uint64_t total = packet_size(p.header.size(), p.payload.size());
  const uint64_t len = total - kTrailerSize;
  // len8 is a u16 and the producer must leave 8 bytes free.
  if (len / 8 > 0xFFFF || total > data_size_ - kRingAlign) return RingError::kPacketLargerThanRing;
  uint32_t r;
  RingError e = read_u32(mem_, kReadIndexOffset, r);
  if (e == RingError::kOk) e = check_read_index(r, data_size_);
  if (e != RingError::kOk) return e;
  const uint32_t free_space = data_size_ - distance(r, write_, data_size_);
  if (free_space <= total) {
    uint32_t features;
    if ((e = read_u32(mem_, kFeatureBitsOffset, features)) != RingError::kOk) return e;
    if (features & kFeatPendingSendSz) {
      if ((e = write_u32(mem_, kPendingSendSzOffset, static_cast<uint32_t>(total))) !=
          RingError::kOk)
        return e;
      pending_set_ = true;
    }
    return RingError::kFull;
  }
  const uint32_t start = write_;
  uint8_t d[kDescriptorSize];
  put16(d, static_cast<uint16_t>(p.type));
  put16(d + 2, static_cast<uint16_t>((kDescriptorSize + p.header.size()) / 8));
  put16(d + 4, static_cast<uint16_t>(len / 8));
  put16(d + 6, p.flags);
  put64(d + 8, p.transaction_id);
  uint32_t pos = start;
  auto put = [&](const void* src, uint32_t n) {
    if (e == RingError::kOk && n) {
      e = copy_in(pos, src, n);
      pos = static_cast<uint32_t>((uint64_t{pos} + n) % data_size_);
    }
  };
  put(d, kDescriptorSize);
  put(p.header.data(), static_cast<uint32_t>(p.header.size()));
  put(p.payload.data(), static_cast<uint32_t>(p.payload.size()));
  const uint8_t zeros[kRingAlign] = {};
  put(zeros, static_cast<uint32_t>(len - kDescriptorSize - p.header.size() - p.payload.size()));
  uint8_t trailer[kTrailerSize];
  put64(trailer, uint64_t{start} << 32);
  put(trailer, kTrailerSize);
  if (e != RingError::kOk) return e;
  write_ = pos;
  if (pending_set_) {
    pending_set_ = false;
    if ((e = write_u32(mem_, kPendingSendSzOffset, 0)) != RingError::kOk) return e;
  }
  return RingError::kOk;
}

RingError RingWriter::write_inband(std::span<const uint8_t> payload, uint64_t transaction_id,
                                   bool completion_requested) {
  return write(OutgoingPacket{PacketType::kDataInBand,
                              completion_requested ? kFlagCompletionRequested : uint16_t{0},
                              transaction_id,
                              {},
                              payload});
}

RingError RingWriter::write_completion(std::span<const uint8_t> payload, uint64_t transaction_id) {
  return write(OutgoingPacket{PacketType::kCompletion, 0, transaction_id, {}, payload});
}

RingError RingWriter::write_transfer_pages(uint16_t page_set_id, bool sender_owns_set,
                                           std::span<const TransferRange> ranges,
                                           std::span<const uint8_t> payload,
                                           uint64_t transaction_id, bool completion_requested) {
  if (ranges.size() > data_size_ / kTransferPageRangeSize) return RingError::kPacketLargerThanRing;
  scratch_.assign(kTransferPageHeaderSize + ranges.size() * kTransferPageRangeSize, 0);
  uint8_t* h = scratch_.data();
  put16(h, page_set_id);
  h[2] = sender_owns_set ? 1 : 0;
  put32(h + 4, static_cast<uint32_t>(ranges.size()));
  for (size_t k = 0; k < ranges.size(); ++k) {
    put32(h + 8 + 8 * k, ranges[k].byte_count);
    put32(h + 12 + 8 * k, ranges[k].byte_offset);
  }
  return write(OutgoingPacket{PacketType::kDataUsingTransferPages,
                              completion_requested ? kFlagCompletionRequested : uint16_t{0},
                              transaction_id, scratch_, payload});
}

RingError RingWriter::write_gpa_direct(std::span<const GpaRange> ranges,
                                       std::span<const uint64_t> pfns,
                                       std::span<const uint8_t> payload, uint64_t transaction_id,
                                       bool completion_requested) {
  uint64_t header = kGpaDirectHeaderSize;
  for (const GpaRange& r : ranges) {
    if (r.byte_count == 0 || r.byte_offset >= kGpaPageSize) return RingError::kBadGpaRange;
    const uint64_t pages =
        (uint64_t{r.byte_offset} + r.byte_count + kGpaPageSize - 1) / kGpaPageSize;
    if (pages != r.pfn_count || uint64_t{r.first_pfn} + r.pfn_count > pfns.size())
      return RingError::kBadArgument;
    header += kGpaRangeHeaderSize + 8 * pages;
    if (header > data_size_) return RingError::kPacketLargerThanRing;
  }
  scratch_.assign(header, 0);
  uint8_t* h = scratch_.data();
  put32(h + 4, static_cast<uint32_t>(ranges.size()));
  size_t pos = kGpaDirectHeaderSize;
  for (const GpaRange& r : ranges) {
    put32(h + pos, r.byte_count);
    put32(h + pos + 4, r.byte_offset);
    pos += kGpaRangeHeaderSize;
    for (uint32_t k = 0; k < r.pfn_count; ++k, pos += 8) put64(h + pos, pfns[r.first_pfn + k]);
  }
  return write(OutgoingPacket{PacketType::kDataUsingGpaDirect,
                              completion_requested ? kFlagCompletionRequested : uint16_t{0},
                              transaction_id, scratch_, payload});
}

RingWriter::Commit RingWriter::commit_write() {
  Commit c;
  if (!data_size_ || write_ == published_write_) return c;
  const uint32_t old_write = published_write_;
  if (write_u32(mem_, kWriteIndexOffset, write_) != RingError::kOk) return c;
  published_write_ = write_;
  uint32_t mask, r;
  if (read_u32(mem_, kInterruptMaskOffset, mask) != RingError::kOk || mask) return c;
  if (read_u32(mem_, kReadIndexOffset, r) != RingError::kOk) return c;
  c.signal = r == old_write;
  stats_->signals += c.signal;
  return c;
}

}  // namespace hvsim::vmbus
