// VMBus ring-buffer wire format (../shared/spec/hyperv-interfaces.md §6.7; Linux
// include/linux/hyperv.h `hv_ring_buffer`, `vmpacket_descriptor`, `vmtransfer_page_packet_header`,
// `vmdata_gpa_direct`). Layouts only; the behaviour is in devices/vmbus/ring.h.
#pragma once

#include <cstdint>

namespace hvsim::vmbus::spec {

/// Size of the control page that starts every ring; the data area follows it.
constexpr uint64_t kRingControlSize = 0x1000;

/// Control-page field offsets (§6.7 "Control page").
constexpr uint64_t kWriteIndexOffset = 0x00;     ///< u32, written by the producer
constexpr uint64_t kReadIndexOffset = 0x04;      ///< u32, written by the consumer
constexpr uint64_t kInterruptMaskOffset = 0x08;  ///< u32, consumer: 1 = do not signal me
constexpr uint64_t kPendingSendSzOffset = 0x0C;  ///< u32, producer: bytes it waits for
constexpr uint64_t kFeatureBitsOffset = 0x40;    ///< u32, see kFeatPendingSendSz

/// feature_bits bit 0: the producer uses pending_send_sz and the consumer honours it.
constexpr uint32_t kFeatPendingSendSz = 1u << 0;

/// Ring indices and packet lengths are multiples of this (§6.7).
constexpr uint32_t kRingAlign = 8;

/// Packet descriptor (`vmpacket_descriptor`, 16 bytes): u16 type, u16 offset8, u16 len8,
/// u16 flags, u64 transaction id. offset8 and len8 count 8-byte units from the packet start.
constexpr uint32_t kDescriptorSize = 16;
/// The u64 after every packet: the ring offset where the packet started, in bits 63:32.
constexpr uint32_t kTrailerSize = 8;

/// Descriptor flags bit 0: the sender wants a completion (a COMP packet with the same id).
constexpr uint16_t kFlagCompletionRequested = 1u << 0;

/// Packet types (`vmbus_packet_type`, §6.7 "Packet types").
enum class PacketType : uint16_t {
  kInvalid = 0x0,
  kSynch = 0x1,
  kAddTransferPageSet = 0x2,
  kRemoveTransferPageSet = 0x3,
  kEstablishGpadl = 0x4,
  kTeardownGpadl = 0x5,
  kDataInBand = 0x6,
  kDataUsingTransferPages = 0x7,
  kDataUsingGpadl = 0x8,
  kDataUsingGpaDirect = 0x9,
  kCancelRequest = 0xA,
  kCompletion = 0xB,
  kDataUsingAdditionalPacket = 0xC,
  kAdditionalData = 0xD,
};

inline const char* to_string(PacketType t) {
  switch (t) {
    case PacketType::kInvalid: return "invalid";
    case PacketType::kSynch: return "synch";
    case PacketType::kAddTransferPageSet: return "add-xfer-pageset";
    case PacketType::kRemoveTransferPageSet: return "rm-xfer-pageset";
    case PacketType::kEstablishGpadl: return "establish-gpadl";
    case PacketType::kTeardownGpadl: return "teardown-gpadl";
    case PacketType::kDataInBand: return "data-inband";
    case PacketType::kDataUsingTransferPages: return "data-using-xfer-pages";
    case PacketType::kDataUsingGpadl: return "data-using-gpadl";
    case PacketType::kDataUsingGpaDirect: return "data-using-gpa-direct";
    case PacketType::kCancelRequest: return "cancel-request";
    case PacketType::kCompletion: return "completion";
    case PacketType::kDataUsingAdditionalPacket: return "data-using-additional-pkt";
    case PacketType::kAdditionalData: return "additional-data";
  }
  return "?";
}

/// Transfer-page packet (type 7) header after the descriptor: u16 xfer_pageset_id,
/// u8 sender_owns_set, u8 reserved, u32 range_count; then range_count x {u32 byte_count,
/// u32 byte_offset}.
constexpr uint32_t kTransferPageHeaderSize = 8;
constexpr uint32_t kTransferPageRangeSize = 8;

/// GPA-direct packet (type 9) header after the descriptor: u32 reserved, u32 range_count;
/// then range_count x {u32 byte_count, u32 byte_offset, u64 pfn[ceil((offset+count)/4096)]}.
constexpr uint32_t kGpaDirectHeaderSize = 8;
constexpr uint32_t kGpaRangeHeaderSize = 8;
constexpr uint64_t kGpaPageSize = 0x1000;

}  // namespace hvsim::vmbus::spec
