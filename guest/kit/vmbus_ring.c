/* VMBus ring buffers, guest side (../shared/spec/hyperv-interfaces.md §6.7, §6.6): see
 * vmbus_ring.h. The checks and their order are those of the host's devices/vmbus/ring.cpp. */
#include "kit/vmbus_ring.h"

void* memcpy(void* dst, const void* src, size_t n);

#define DESCRIPTOR_SIZE 16u
#define TRAILER_SIZE 8u
#define ALIGN 8u
#define MAX_DATA_SIZE 0x80000000ull
#define GPA_PAGE 4096ull

/* Why: the peer changes the control page concurrently; each access is one real load or store
 * in program order (x86 keeps loads and stores ordered among themselves; the compiler must
 * not reorder or merge them). */
static inline void barrier(void) {
  __asm__ __volatile__("" ::: "memory");
}
static inline uint32_t load32(struct vmbus_ring* r, uint32_t off) {
  return *(volatile uint32_t*)(r->base + off);
}
static inline void store32(struct vmbus_ring* r, uint32_t off, uint32_t v) {
  *(volatile uint32_t*)(r->base + off) = v;
}
static inline uint16_t get16(const uint8_t* p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t get64(const uint8_t* p) {
  return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}
static uint32_t distance(uint32_t from, uint32_t to, uint32_t size) {
  return to >= from ? to - from : size - from + to;
}

static void copy_out(struct vmbus_ring* r, uint32_t pos, void* out, uint32_t n) {
  uint8_t* data = r->base + VMBUS_RING_CONTROL_SIZE;
  uint32_t first = n < r->data_size - pos ? n : r->data_size - pos;
  memcpy(out, data + pos, first);
  if (first < n) memcpy((uint8_t*)out + first, data, n - first);
}

static void copy_in(struct vmbus_ring* r, uint32_t pos, const void* in, uint32_t n) {
  uint8_t* data = r->base + VMBUS_RING_CONTROL_SIZE;
  uint32_t first = n < r->data_size - pos ? n : r->data_size - pos;
  if (first) memcpy(data + pos, in, first);
  if (first < n) memcpy(data, (const uint8_t*)in + first, n - first);
}

static int ring_size(uint64_t size, uint32_t* data) {
  if (size % VMBUS_RING_CONTROL_SIZE || size < 2ull * VMBUS_RING_CONTROL_SIZE ||
      size - VMBUS_RING_CONTROL_SIZE > MAX_DATA_SIZE)
    return VMBUS_RING_BAD_RING_SIZE;
  *data = (uint32_t)(size - VMBUS_RING_CONTROL_SIZE);
  return VMBUS_RING_OK;
}

int vmbus_ring_init(struct vmbus_ring* r, void* base, uint64_t size) {
  r->data_size = 0;
  r->base = (uint8_t*)base;
  uint32_t data;
  int e = ring_size(size, &data);
  if (e) return e;
  for (uint32_t k = 0; k < VMBUS_RING_CONTROL_SIZE; k += 4) store32(r, k, 0);
  store32(r, VMBUS_RING_FEATURE_BITS, VMBUS_RING_FEAT_PENDING_SEND_SZ);
  r->data_size = data;
  r->read = r->published_read = r->write = r->published_write = 0;
  r->pending_set = false;
  return VMBUS_RING_OK;
}

int vmbus_ring_attach(struct vmbus_ring* r, void* base, uint64_t size) {
  r->data_size = 0;
  r->base = (uint8_t*)base;
  uint32_t data;
  int e = ring_size(size, &data);
  if (e) return e;
  uint32_t rd = load32(r, VMBUS_RING_READ_INDEX), wr = load32(r, VMBUS_RING_WRITE_INDEX);
  if (rd >= data) return VMBUS_RING_READ_INDEX_OUT_OF_RANGE;
  if (rd % ALIGN) return VMBUS_RING_READ_INDEX_UNALIGNED;
  if (wr >= data) return VMBUS_RING_WRITE_INDEX_OUT_OF_RANGE;
  if (wr % ALIGN) return VMBUS_RING_WRITE_INDEX_UNALIGNED;
  r->data_size = data;
  r->read = r->published_read = rd;
  r->write = r->published_write = wr;
  r->pending_set = false;
  return VMBUS_RING_OK;
}

static int available(struct vmbus_ring* r, uint32_t* avail) {
  if (!r->data_size) return VMBUS_RING_BAD_RING_SIZE;
  uint32_t w = load32(r, VMBUS_RING_WRITE_INDEX);
  if (w >= r->data_size) return VMBUS_RING_WRITE_INDEX_OUT_OF_RANGE;
  if (w % ALIGN) return VMBUS_RING_WRITE_INDEX_UNALIGNED;
  *avail = distance(r->read, w, r->data_size);
  return VMBUS_RING_OK;
}

uint32_t vmbus_ring_available(struct vmbus_ring* r) {
  uint32_t a = 0;
  return available(r, &a) ? 0 : a;
}

/* Checks the type-specific header and ranges of a type 7 or 9 packet (len >= 16). */
static int check_ranges(const uint8_t* b, uint16_t type, uint64_t end) {
  uint64_t pos = DESCRIPTOR_SIZE;
  if (type != VMBUS_PACKET_DATA_USING_XFER_PAGES && type != VMBUS_PACKET_DATA_USING_GPA_DIRECT)
    return VMBUS_RING_OK;
  if (pos + 8 > end) return VMBUS_RING_RANGES_BEYOND_DATA_OFFSET;
  uint32_t count = get32(b + pos + 4);
  pos += 8;
  if ((uint64_t)count * 8 > end - pos) return VMBUS_RING_RANGES_BEYOND_DATA_OFFSET;
  if (type == VMBUS_PACKET_DATA_USING_XFER_PAGES) return VMBUS_RING_OK;
  for (uint32_t k = 0; k < count; ++k) {
    if (pos + 8 > end) return VMBUS_RING_RANGES_BEYOND_DATA_OFFSET;
    uint32_t byte_count = get32(b + pos), byte_offset = get32(b + pos + 4);
    pos += 8;
    if (byte_count == 0 || byte_offset >= GPA_PAGE) return VMBUS_RING_BAD_GPA_RANGE;
    uint64_t pages = ((uint64_t)byte_offset + byte_count + GPA_PAGE - 1) / GPA_PAGE;
    if (pages * 8 > end - pos) return VMBUS_RING_RANGES_BEYOND_DATA_OFFSET;
    pos += pages * 8;
  }
  return VMBUS_RING_OK;
}

int vmbus_ring_read(struct vmbus_ring* r, void* buf, uint32_t buf_size, struct vmbus_packet* out) {
  uint32_t avail;
  int e = available(r, &avail);
  if (e) return e;
  if (avail == 0) return VMBUS_RING_EMPTY;
  if (avail < DESCRIPTOR_SIZE + TRAILER_SIZE) return VMBUS_RING_TRUNCATED_PACKET;
  uint8_t d[DESCRIPTOR_SIZE];
  copy_out(r, r->read, d, DESCRIPTOR_SIZE);
  uint16_t type = get16(d), offset8 = get16(d + 2), len8 = get16(d + 4), flags = get16(d + 6);
  uint32_t len = (uint32_t)len8 * 8;
  if (len < DESCRIPTOR_SIZE) return VMBUS_RING_PACKET_LENGTH_TOO_SMALL;
  if (offset8 < DESCRIPTOR_SIZE / 8) return VMBUS_RING_DATA_OFFSET_TOO_SMALL;
  if (offset8 > len8) return VMBUS_RING_DATA_OFFSET_BEYOND_LENGTH;
  uint64_t total = (uint64_t)len + TRAILER_SIZE;
  if (total > r->data_size - ALIGN) return VMBUS_RING_PACKET_LARGER_THAN_RING;
  if (total > avail) return VMBUS_RING_PACKET_LARGER_THAN_AVAILABLE;
  if (type != VMBUS_PACKET_DATA_INBAND && type != VMBUS_PACKET_DATA_USING_XFER_PAGES &&
      type != VMBUS_PACKET_DATA_USING_GPA_DIRECT && type != VMBUS_PACKET_COMP)
    return VMBUS_RING_UNKNOWN_PACKET_TYPE;
  if (flags & ~VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) return VMBUS_RING_UNKNOWN_FLAGS;
  if (len > buf_size) return VMBUS_RING_BUFFER_TOO_SMALL;
  uint8_t* b = (uint8_t*)buf;
  memcpy(b, d, DESCRIPTOR_SIZE); /* the checked copy, not a second read */
  copy_out(r, (r->read + DESCRIPTOR_SIZE) % r->data_size, b + DESCRIPTOR_SIZE,
           len - DESCRIPTOR_SIZE);
  e = check_ranges(b, type, (uint64_t)offset8 * 8);
  if (e) return e;
  out->type = type;
  out->flags = flags;
  out->transaction_id = get64(d + 8);
  out->bytes = b;
  out->len = len;
  out->payload_offset = (uint32_t)offset8 * 8;
  r->read = (uint32_t)((r->read + total) % r->data_size);
  return VMBUS_RING_OK;
}

bool vmbus_ring_commit_read(struct vmbus_ring* r) {
  if (!r->data_size || r->read == r->published_read) return false;
  uint32_t bytes_read = distance(r->published_read, r->read, r->data_size);
  barrier();
  store32(r, VMBUS_RING_READ_INDEX, r->read);
  r->published_read = r->read;
  /* Why a full fence: the store of read_index must be visible before pending_send_sz is
   * read, or both sides could miss each other (store-load order is the one x86 relaxes). */
  __asm__ __volatile__("mfence" ::: "memory");
  if (!(load32(r, VMBUS_RING_FEATURE_BITS) & VMBUS_RING_FEAT_PENDING_SEND_SZ)) return false;
  uint32_t pending = load32(r, VMBUS_RING_PENDING_SEND_SZ);
  if (!pending) return false;
  uint32_t used;
  if (available(r, &used)) return false;
  uint32_t free_now = r->data_size - used;
  if (free_now <= pending || bytes_read > free_now) return false;
  return free_now - bytes_read <= pending;
}

void vmbus_ring_set_interrupt_mask(struct vmbus_ring* r, bool masked) {
  if (!r->data_size) return;
  store32(r, VMBUS_RING_INTERRUPT_MASK, masked ? 1 : 0);
  __asm__ __volatile__("mfence" ::: "memory");
}

uint64_t vmbus_ring_packet_size(uint32_t header_len, uint32_t payload_len) {
  uint64_t len = (uint64_t)DESCRIPTOR_SIZE + header_len + payload_len;
  return (len + ALIGN - 1) / ALIGN * ALIGN + TRAILER_SIZE;
}

int vmbus_ring_write(struct vmbus_ring* r, uint16_t type, uint16_t flags, uint64_t transaction_id,
                     const void* header, uint32_t header_len, const void* payload,
                     uint32_t payload_len) {
  if (!r->data_size) return VMBUS_RING_BAD_RING_SIZE;
  if (header_len % ALIGN) return VMBUS_RING_BAD_ARGUMENT;
  uint64_t total = vmbus_ring_packet_size(header_len, payload_len);
  uint64_t len = total - TRAILER_SIZE;
  if (len / 8 > 0xFFFF || total > r->data_size - ALIGN) return VMBUS_RING_PACKET_LARGER_THAN_RING;
  uint32_t rd = load32(r, VMBUS_RING_READ_INDEX);
  if (rd >= r->data_size) return VMBUS_RING_READ_INDEX_OUT_OF_RANGE;
  if (rd % ALIGN) return VMBUS_RING_READ_INDEX_UNALIGNED;
  uint32_t free_space = r->data_size - distance(rd, r->write, r->data_size);
  if (free_space <= total) {
    if (load32(r, VMBUS_RING_FEATURE_BITS) & VMBUS_RING_FEAT_PENDING_SEND_SZ) {
      store32(r, VMBUS_RING_PENDING_SEND_SZ, (uint32_t)total);
      r->pending_set = true;
    }
    return VMBUS_RING_FULL;
  }
  uint32_t start = r->write, pos = start;
  uint8_t d[DESCRIPTOR_SIZE];
  uint16_t offset8 = (uint16_t)((DESCRIPTOR_SIZE + header_len) / 8), len8 = (uint16_t)(len / 8);
  d[0] = (uint8_t)type, d[1] = (uint8_t)(type >> 8);
  d[2] = (uint8_t)offset8, d[3] = (uint8_t)(offset8 >> 8);
  d[4] = (uint8_t)len8, d[5] = (uint8_t)(len8 >> 8);
  d[6] = (uint8_t)flags, d[7] = (uint8_t)(flags >> 8);
  for (int k = 0; k < 8; ++k) d[8 + k] = (uint8_t)(transaction_id >> (8 * k));
  copy_in(r, pos, d, DESCRIPTOR_SIZE);
  pos = (pos + DESCRIPTOR_SIZE) % r->data_size;
  copy_in(r, pos, header, header_len);
  pos = (uint32_t)(((uint64_t)pos + header_len) % r->data_size);
  copy_in(r, pos, payload, payload_len);
  pos = (uint32_t)(((uint64_t)pos + payload_len) % r->data_size);
  static const uint8_t zeros[ALIGN];
  uint32_t pad = (uint32_t)(len - DESCRIPTOR_SIZE - header_len - payload_len);
  copy_in(r, pos, zeros, pad);
  pos = (pos + pad) % r->data_size;
  uint8_t trailer[TRAILER_SIZE] = {0,
                                   0,
                                   0,
                                   0,
                                   (uint8_t)start,
                                   (uint8_t)(start >> 8),
                                   (uint8_t)(start >> 16),
                                   (uint8_t)(start >> 24)};
  copy_in(r, pos, trailer, TRAILER_SIZE);
  r->write = (pos + TRAILER_SIZE) % r->data_size;
  if (r->pending_set) {
    r->pending_set = false;
    store32(r, VMBUS_RING_PENDING_SEND_SZ, 0);
  }
  return VMBUS_RING_OK;
}

bool vmbus_ring_commit_write(struct vmbus_ring* r) {
  if (!r->data_size || r->write == r->published_write) return false;
  uint32_t old_write = r->published_write;
  barrier(); /* the packet bytes before the index that publishes them */
  store32(r, VMBUS_RING_WRITE_INDEX, r->write);
  r->published_write = r->write;
  /* Store-load: write_index visible before interrupt_mask and read_index are read. */
  __asm__ __volatile__("mfence" ::: "memory");
  if (load32(r, VMBUS_RING_INTERRUPT_MASK)) return false;
  return load32(r, VMBUS_RING_READ_INDEX) == old_write;
}

const char* vmbus_ring_status_name(int status) {
  static const char* const names[] = {"ok",
                                      "empty",
                                      "full",
                                      "memory-fault",
                                      "bad-ring-size",
                                      "read-index-out-of-range",
                                      "read-index-unaligned",
                                      "write-index-out-of-range",
                                      "write-index-unaligned",
                                      "truncated-packet",
                                      "packet-length-too-small",
                                      "data-offset-too-small",
                                      "data-offset-beyond-length",
                                      "packet-larger-than-ring",
                                      "packet-larger-than-available",
                                      "unknown-packet-type",
                                      "unknown-flags",
                                      "ranges-beyond-data-offset",
                                      "bad-gpa-range",
                                      "bad-argument",
                                      "buffer-too-small"};
  if (status < 0 || status >= (int)(sizeof names / sizeof names[0])) return "?";
  return names[status];
}
