/* VMBus ring buffers, guest side (../shared/spec/hyperv-interfaces.md §6.7 ring buffers, §6.6
 * signaling): the ring of a VMBus channel in the guest's own memory, with the wire format and
 * checks of the host's devices/vmbus/ring.h. The guest writes its outbound (guest->host) ring
 * and reads its inbound (host->guest) ring; the host may change either at any time, so every
 * index is read once per operation and checked. Plain freestanding C: no kit dependency but
 * memcpy, so the host's unit tests compile this file too (the cross-check in
 * devices/vmbus/ring_cross_test.cpp). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Control page (first 4 KiB of a ring); the data area follows it. */
#define VMBUS_RING_CONTROL_SIZE 0x1000u
#define VMBUS_RING_WRITE_INDEX 0x00u     /* u32, producer */
#define VMBUS_RING_READ_INDEX 0x04u      /* u32, consumer */
#define VMBUS_RING_INTERRUPT_MASK 0x08u  /* u32, consumer: 1 = do not signal me */
#define VMBUS_RING_PENDING_SEND_SZ 0x0Cu /* u32, producer: bytes it waits for */
#define VMBUS_RING_FEATURE_BITS 0x40u    /* u32, bit 0: pending_send_sz in use */
#define VMBUS_RING_FEAT_PENDING_SEND_SZ 1u

/* Packet types and descriptor flags (vmbus_packet_type, vmpacket_descriptor). */
#define VMBUS_PACKET_DATA_INBAND 0x6u
#define VMBUS_PACKET_DATA_USING_XFER_PAGES 0x7u
#define VMBUS_PACKET_DATA_USING_GPA_DIRECT 0x9u
#define VMBUS_PACKET_COMP 0xBu
#define VMBUS_PACKET_FLAG_COMPLETION_REQUESTED 1u

/* Results; the same values as the host's hvsim::vmbus::RingError. */
enum vmbus_ring_status {
  VMBUS_RING_OK = 0,
  VMBUS_RING_EMPTY = 1,
  VMBUS_RING_FULL = 2,
  VMBUS_RING_MEMORY_FAULT = 3, /* host only */
  VMBUS_RING_BAD_RING_SIZE = 4,
  VMBUS_RING_READ_INDEX_OUT_OF_RANGE = 5,
  VMBUS_RING_READ_INDEX_UNALIGNED = 6,
  VMBUS_RING_WRITE_INDEX_OUT_OF_RANGE = 7,
  VMBUS_RING_WRITE_INDEX_UNALIGNED = 8,
  VMBUS_RING_TRUNCATED_PACKET = 9,
  VMBUS_RING_PACKET_LENGTH_TOO_SMALL = 10,
  VMBUS_RING_DATA_OFFSET_TOO_SMALL = 11,
  VMBUS_RING_DATA_OFFSET_BEYOND_LENGTH = 12,
  VMBUS_RING_PACKET_LARGER_THAN_RING = 13,
  VMBUS_RING_PACKET_LARGER_THAN_AVAILABLE = 14,
  VMBUS_RING_UNKNOWN_PACKET_TYPE = 15,
  VMBUS_RING_UNKNOWN_FLAGS = 16,
  VMBUS_RING_RANGES_BEYOND_DATA_OFFSET = 17,
  VMBUS_RING_BAD_GPA_RANGE = 18,
  VMBUS_RING_BAD_ARGUMENT = 19,
  VMBUS_RING_BUFFER_TOO_SMALL = 20, /* guest only: the caller's buffer */
};

/* One end of a ring: the positions this side owns, private until committed. */
struct vmbus_ring {
  uint8_t* base;      /* control page; data area at base + 4096 */
  uint32_t data_size; /* 0 until init/attach succeeded */
  uint32_t read;      /* consumer position, published by vmbus_ring_commit_read */
  uint32_t published_read;
  uint32_t write; /* producer position, published by vmbus_ring_commit_write */
  uint32_t published_write;
  bool pending_set;
};

/* A packet read into the caller's buffer. */
struct vmbus_packet {
  uint16_t type;
  uint16_t flags;
  uint64_t transaction_id;
  const uint8_t* bytes;    /* the whole packet (descriptor first), len bytes */
  uint32_t len;            /* len8 * 8 */
  uint32_t payload_offset; /* offset8 * 8 */
};

/* Makes a new ring over `size` bytes at `base` (a multiple of 4 KiB, at least 8 KiB): zeroes
 * the control page and sets feature bit 0, as Linux does for its rings. */
int vmbus_ring_init(struct vmbus_ring* r, void* base, uint64_t size);
/* Takes an existing ring, its indices checked (both are taken; each side uses its own). */
int vmbus_ring_attach(struct vmbus_ring* r, void* base, uint64_t size);

/* Bytes written by the producer and not yet read by this consumer (0 if write_index is bad). */
uint32_t vmbus_ring_available(struct vmbus_ring* r);
/* Reads the next packet into buf (buf_size bytes), checked as the host checks; moves the
 * private read position. VMBUS_RING_EMPTY if there is none. */
int vmbus_ring_read(struct vmbus_ring* r, void* buf, uint32_t buf_size, struct vmbus_packet* out);
/* Publishes read_index; true if the producer must be signaled (its pending_send_sz is now
 * satisfied, feature bit 0 set). */
bool vmbus_ring_commit_read(struct vmbus_ring* r);
/* Sets interrupt_mask (the consumer's "do not signal me"). */
void vmbus_ring_set_interrupt_mask(struct vmbus_ring* r, bool masked);

/* Bytes on the wire for a packet with this header and payload (trailer included). */
uint64_t vmbus_ring_packet_size(uint32_t header_len, uint32_t payload_len);
/* Writes one packet: descriptor (type, flags, transaction id), `header` (type-specific, a
 * multiple of 8 bytes), payload, padding and trailer. VMBUS_RING_FULL if it does not fit now
 * (then pending_send_sz is set when the ring has feature bit 0). */
int vmbus_ring_write(struct vmbus_ring* r, uint16_t type, uint16_t flags, uint64_t transaction_id,
                     const void* header, uint32_t header_len, const void* payload,
                     uint32_t payload_len);
/* Publishes write_index; true if the consumer must be signaled (the ring was empty and its
 * interrupt_mask is 0). */
bool vmbus_ring_commit_write(struct vmbus_ring* r);

/* Name of a status, for messages. */
const char* vmbus_ring_status_name(int status);
