// VMBus ring buffers, host side (../shared/spec/hyperv-interfaces.md §6.7 ring buffers, §6.6
// signaling): the root's VSPs read the packets a guest writes into its outbound ring and write
// packets into its inbound ring. The ring lives in guest memory that the host reaches only
// through a RingMemory (in the machine: the pages of the guest's ring GPADL). The guest may
// change that memory at any time, so every value read from it is read once per operation,
// checked, and a bad one gives a RingError; nothing outside the ring memory is touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/vmbus/spec/ring.h"

namespace hvsim::vmbus {

/// The bytes of one ring (control page + data area) as the host can reach them. Offsets are
/// from the start of the control page. read/write return false if the range is not accessible
/// (then nothing was transferred); the ring never asks for a range beyond size().
class RingMemory {
 public:
  virtual ~RingMemory() = default;
  /// Bytes of the ring, control page included.
  virtual uint64_t size() const = 0;
  virtual bool read(uint64_t off, void* out, size_t n) = 0;
  virtual bool write(uint64_t off, const void* in, size_t n) = 0;
};

/// A part [offset, offset + size) of another RingMemory: one ring of the two in a channel's
/// ring GPADL (the outbound ring at page 0, the inbound ring at OpenChannel's downstream page
/// offset). If the part does not lie inside `whole`, size() is 0 (attach() then fails).
class RingMemoryWindow : public RingMemory {
 public:
  RingMemoryWindow(RingMemory& whole, uint64_t offset, uint64_t size)
      : whole_(whole),
        offset_(offset),
        size_(offset <= whole.size() && size <= whole.size() - offset ? size : 0) {}
  uint64_t size() const override { return size_; }
  bool read(uint64_t off, void* out, size_t n) override {
    return off <= size_ && n <= size_ - off && whole_.read(offset_ + off, out, n);
  }
  bool write(uint64_t off, const void* in, size_t n) override {
    return off <= size_ && n <= size_ - off && whole_.write(offset_ + off, in, n);
  }

 private:
  RingMemory& whole_;
  uint64_t offset_, size_;
};

/// What an operation found. The values are also those of the guest kit's vmbus_ring.c.
enum class RingError : uint8_t {
  kOk = 0,
  kEmpty = 1,                       ///< read: no packet available (not a fault)
  kFull = 2,                        ///< write: not enough free space now (pending_send_sz set)
  kMemoryFault = 3,                 ///< the RingMemory refused an access
  kBadRingSize = 4,                 ///< size not a page multiple, < 2 pages, or > 2 GiB of data
  kReadIndexOutOfRange = 5,         ///< read_index >= data size
  kReadIndexUnaligned = 6,          ///< read_index not a multiple of 8
  kWriteIndexOutOfRange = 7,        ///< write_index >= data size
  kWriteIndexUnaligned = 8,         ///< write_index not a multiple of 8
  kTruncatedPacket = 9,             ///< fewer bytes available than a descriptor and trailer
  kPacketLengthTooSmall = 10,       ///< len8 * 8 < 16 (shorter than its descriptor)
  kDataOffsetTooSmall = 11,         ///< offset8 < 2 (payload inside the descriptor)
  kDataOffsetBeyondLength = 12,     ///< offset8 > len8
  kPacketLargerThanRing = 13,       ///< len8 * 8 + 8 can never fit in this ring
  kPacketLargerThanAvailable = 14,  ///< len8 * 8 + 8 > bytes between read and write index
  kUnknownPacketType = 15,          ///< type not 6, 7, 9 or 0xB
  kUnknownFlags = 16,               ///< flags other than bit 0
  kRangesBeyondDataOffset = 17,     ///< type 7/9 headers and ranges run past offset8 * 8
  kBadGpaRange = 18,                ///< GPA range with byte_count 0 or byte_offset >= 4096
  kBadArgument = 19,                ///< write: caller's header/payload inconsistent
};

const char* to_string(RingError e);

/// One range of a transfer-page packet (type 7), in the receive buffer's pages.
struct TransferRange {
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
};

/// One range of a GPA-direct packet (type 9); its PFNs are pfns[first_pfn, first_pfn+pfn_count)
/// of the Packet (or of the caller's array when writing).
struct GpaRange {
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
  uint32_t first_pfn = 0;
  uint32_t pfn_count = 0;
};

/// A packet read from a ring. Reuse one object across reads: its vectors keep their capacity.
/// Its contents are meaningful only after a read() that returned kOk.
struct Packet {
  spec::PacketType type = spec::PacketType::kInvalid;
  uint16_t flags = 0;
  uint64_t transaction_id = 0;
  /// The whole packet as read (descriptor, type header, payload, padding): len8 * 8 bytes.
  std::vector<uint8_t> bytes;
  /// offset8 * 8: where the payload starts in bytes.
  uint32_t payload_offset = 0;
  // Type 7 only.
  uint16_t transfer_page_set_id = 0;
  uint8_t sender_owns_set = 0;
  std::vector<TransferRange> transfer_ranges;
  // Type 9 only.
  std::vector<GpaRange> gpa_ranges;
  std::vector<uint64_t> pfns;

  bool completion_requested() const { return flags & spec::kFlagCompletionRequested; }
  /// The payload: bytes from offset8 * 8 to the end of the packet (padding included, as the
  /// wire does not say how much of the last 8 bytes is padding).
  std::span<const uint8_t> payload() const {
    // Why the clamp: after a failed read the fields are not a consistent packet.
    if (payload_offset > bytes.size()) return {};
    return std::span<const uint8_t>(bytes).subspan(payload_offset);
  }
};

/// Counters of one ring end, for the inspect tree (packets and bytes include the trailer).
struct RingStats {
  uint64_t packets = 0;  ///< packets read (reader) or written (writer)
  uint64_t bytes = 0;    ///< ring bytes they took, trailers included
  uint64_t signals = 0;  ///< commits that asked for a signal to the peer
  uint64_t full = 0;     ///< writer: writes refused with kFull
  uint64_t errors = 0;   ///< operations that failed with anything but kEmpty/kFull
};

/// The private state of a ring end that a checkpoint keeps (the ring itself is guest memory):
/// the position and what was published of it, the writer's pending_send_sz flag, counters.
/// data_size 0: not attached.
struct RingEndState {
  uint32_t data_size = 0;
  uint32_t position = 0;
  uint32_t published = 0;
  bool pending_set = false;  ///< writer only
  RingStats stats;
};

/// Data-area size of a ring of `ring_size` bytes, or 0 if that size is not a valid ring
/// (page multiple, at least one data page, at most 2 GiB of data).
uint32_t ring_data_size(uint64_t ring_size);

/// The consumer end of a ring, held by the host: reads the packets a guest wrote (its
/// outbound, guest->host ring). Owns read_index: keeps its own copy, published by commit().
class RingReader {
 public:
  /// `stats`: where to count (e.g. the server's per-channel host-end counters,
  /// Server::host_ring_stats); null: the reader's own.
  explicit RingReader(RingMemory& mem, RingStats* stats = nullptr)
      : mem_(mem), stats_(stats ? stats : &own_stats_) {}
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  /// Checks the ring size and takes read_index from the control page (checked). Call before
  /// anything else, and again after the guest re-created the ring.
  RingError attach();
  /// Data-area size in bytes (valid after attach()).
  uint32_t data_size() const { return data_size_; }
  /// The read position: next byte to read (published and unpublished reads included).
  uint32_t read_index() const { return read_; }

  /// Reads the next packet into `out` and moves the private read position past it (and its
  /// trailer). kEmpty if there is none; any other error leaves the position where it was.
  RingError read(Packet& out);
  /// Fills `out` from a whole packet's bytes (descriptor to padding, len8 * 8 of them) with
  /// the checks and fields of read(); checkpoints rebuild a saved packet with it.
  static RingError parse(std::span<const uint8_t> bytes, Packet& out);
  /// Bytes the producer has written and this reader has not read yet (reads write_index once;
  /// 0 and the error in *err if it is bad).
  uint32_t available(RingError* err = nullptr);

  /// What commit_read() decided.
  struct Commit {
    RingError error = RingError::kOk;  ///< a bad write_index (then no signal)
    bool signal = false;  ///< signal the producer: its pending_send_sz is now satisfied
  };
  /// Publishes the read position as read_index and applies the producer-wakeup rule
  /// (feature bit 0, pending_send_sz non-zero, free space was <= it before this batch of
  /// reads and is > it now).
  Commit commit_read();

  /// Sets interrupt_mask: true while draining ("do not signal me"), false to get signals.
  /// A consumer that unmasks must check available() again afterwards (a packet may have
  /// arrived while masked without a signal).
  RingError set_interrupt_mask(bool masked);

  const RingStats& stats() const { return *stats_; }
  /// Checkpoints: the private state, and its restore (instead of attach()); kBadRingSize or
  /// an index error if `s` does not fit this ring.
  RingEndState saved() const;
  RingError restore(const RingEndState& s);

 private:
  RingError read_one(Packet& out);
  RingError read_u32(uint64_t off, uint32_t& v);
  RingError copy_out(uint32_t pos, void* out, uint32_t n);
  static RingError parse_type_header(Packet& out);

  RingMemory& mem_;
  uint32_t data_size_ = 0;
  uint32_t read_ = 0;            // private read position
  uint32_t published_read_ = 0;  // last read_index written to the control page
  RingStats own_stats_;
  RingStats* stats_;
};

/// A packet to write. `header` is the type-specific part between the descriptor and the
/// payload (the caller builds it, or uses the write_* helpers); its length must be a multiple
/// of 8.
struct OutgoingPacket {
  spec::PacketType type = spec::PacketType::kDataInBand;
  uint16_t flags = 0;
  uint64_t transaction_id = 0;
  std::span<const uint8_t> header;
  std::span<const uint8_t> payload;
};

/// The producer end of a ring, held by the host: writes packets for the guest (its inbound,
/// host->guest ring). Owns write_index: keeps its own copy, published by commit_write().
class RingWriter {
 public:
  /// `stats`: where to count (as RingReader's); null: the writer's own.
  explicit RingWriter(RingMemory& mem, RingStats* stats = nullptr)
      : mem_(mem), stats_(stats ? stats : &own_stats_) {}
  RingWriter(const RingWriter&) = delete;
  RingWriter& operator=(const RingWriter&) = delete;

  /// Checks the ring size and takes write_index from the control page (checked).
  RingError attach();
  uint32_t data_size() const { return data_size_; }
  uint32_t write_index() const { return write_; }

  /// Bytes on the wire for a packet with this header and payload, trailer included.
  static uint64_t packet_size(size_t header_len, size_t payload_len);

  /// Writes one packet at the private write position (not yet visible to the guest).
  /// kFull if it does not fit now: then pending_send_sz is set to the bytes it needs (when
  /// the ring has feature bit 0), and cleared again by the next successful write.
  RingError write(const OutgoingPacket& p);
  /// DATA_INBAND (type 6).
  RingError write_inband(std::span<const uint8_t> payload, uint64_t transaction_id,
                         bool completion_requested);
  /// COMP (type 0xB) answering `transaction_id`.
  RingError write_completion(std::span<const uint8_t> payload, uint64_t transaction_id);
  /// DATA_USING_XFER_PAGES (type 7).
  RingError write_transfer_pages(uint16_t page_set_id, bool sender_owns_set,
                                 std::span<const TransferRange> ranges,
                                 std::span<const uint8_t> payload, uint64_t transaction_id,
                                 bool completion_requested);
  /// DATA_USING_GPA_DIRECT (type 9); each range's first_pfn/pfn_count index `pfns`.
  RingError write_gpa_direct(std::span<const GpaRange> ranges, std::span<const uint64_t> pfns,
                             std::span<const uint8_t> payload, uint64_t transaction_id,
                             bool completion_requested);

  /// What commit_write() decided.
  struct Commit {
    bool signal = false;  ///< signal the consumer: the ring was empty and it is not masked
  };
  /// Publishes the write position as write_index, then reads read_index and interrupt_mask
  /// once each: signal if the consumer is not masked and had read everything before.
  Commit commit_write();

  const RingStats& stats() const { return *stats_; }
  /// Checkpoints: as RingReader's.
  RingEndState saved() const;
  RingError restore(const RingEndState& s);

 private:
  RingError write_one(const OutgoingPacket& p);
  RingError copy_in(uint32_t pos, const void* in, uint32_t n);

  RingMemory& mem_;
  uint32_t data_size_ = 0;
  uint32_t write_ = 0;
  uint32_t published_write_ = 0;
  bool pending_set_ = false;
  std::vector<uint8_t> scratch_;  // type headers built by the write_* helpers
  RingStats own_stats_;
  RingStats* stats_;
};

}  // namespace hvsim::vmbus
