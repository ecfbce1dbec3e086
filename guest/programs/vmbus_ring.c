/* vmbus_ring: the guest kit's VMBus ring (kit/vmbus_ring.h; ../shared/spec/hyperv-interfaces.md
 * §6.7) run on the simulated processor: packets written at every 8-byte position of a 4 KiB
 * ring and read back, a full ring and pending_send_sz, the producer and consumer signaling
 * rules, and malformed rings refused with their status. Prints one PASS/FAIL line per check;
 * exits with the number of failures. Command line: rounds=N (default 2000 packets). */
#include "kit/vmbus_ring.h"
#include "kit/kit.h"

#define DATA 4096u
static uint8_t ring_mem[4096 + DATA] __attribute__((aligned(4096)));
static uint8_t buf[DATA];

static uint32_t ctl(uint32_t off) {
  return *(volatile uint32_t*)(ring_mem + off);
}
static void set_ctl(uint32_t off, uint32_t v) {
  *(volatile uint32_t*)(ring_mem + off) = v;
}

int kmain(uint32_t magic, uint32_t mbi) {
  uint64_t rounds = cmdline_u64(mb_cmdline(mb_info(mbi)), "rounds", 2000);
  struct vmbus_ring w, r;
  struct vmbus_packet p;
  uint8_t payload[600];

  check(vmbus_ring_init(&w, ring_mem, sizeof ring_mem) == VMBUS_RING_OK, "init");
  check(ctl(VMBUS_RING_FEATURE_BITS) == VMBUS_RING_FEAT_PENDING_SEND_SZ, "feature bit 0 set");
  check(vmbus_ring_attach(&r, ring_mem, sizeof ring_mem) == VMBUS_RING_OK, "attach");

  /* Round trips whose start moves by 8 bytes each time around (sizes 0..599). */
  uint64_t bad = 0, signals = 0;
  for (uint64_t k = 0; k < rounds; ++k) {
    uint32_t n = (uint32_t)(k * 37 % sizeof payload);
    for (uint32_t j = 0; j < n; ++j) payload[j] = (uint8_t)(k + j);
    uint16_t type = (k & 1) ? VMBUS_PACKET_COMP : VMBUS_PACKET_DATA_INBAND;
    if (vmbus_ring_write(&w, type, k & 2 ? 1 : 0, k, NULL, 0, payload, n) != VMBUS_RING_OK) ++bad;
    signals += vmbus_ring_commit_write(&w);
    if (vmbus_ring_read(&r, buf, sizeof buf, &p) != VMBUS_RING_OK || p.type != type ||
        p.transaction_id != k || p.flags != (k & 2 ? 1 : 0) || p.payload_offset != 16 ||
        memcmp(p.bytes + 16, payload, n) != 0)
      ++bad;
    vmbus_ring_commit_read(&r);
  }
  check(bad == 0, "%llu packet round trips, wrapping (%llu bad)", (unsigned long long)rounds,
        (unsigned long long)bad);
  check(signals == rounds, "producer signaled for each packet into an empty ring");

  /* Fill: 72-byte packets, 56 fit (8 bytes always stay free); pending_send_sz then 72. */
  int written = 0;
  while (vmbus_ring_write(&w, VMBUS_PACKET_DATA_INBAND, 0, 0, NULL, 0, payload, 48) ==
         VMBUS_RING_OK)
    ++written;
  check(written == 56, "a 4 KiB ring holds 56 packets of 72 bytes (%d)", written);
  check(ctl(VMBUS_RING_PENDING_SEND_SZ) == 72, "full ring sets pending_send_sz");
  check(vmbus_ring_commit_write(&w), "signal: ring was empty");
  check(vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_OK, "read one");
  check(vmbus_ring_commit_read(&r), "consumer signals the blocked producer");
  check(vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_OK, "read another");
  check(!vmbus_ring_commit_read(&r), "no second signal");
  check(
      vmbus_ring_write(&w, VMBUS_PACKET_DATA_INBAND, 0, 0, NULL, 0, payload, 48) == VMBUS_RING_OK &&
          ctl(VMBUS_RING_PENDING_SEND_SZ) == 0,
      "next write clears pending_send_sz");
  vmbus_ring_set_interrupt_mask(&r, true);
  check(!vmbus_ring_commit_write(&w), "no signal into a non-empty ring");
  while (vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_OK) {
  }
  vmbus_ring_commit_read(&r);
  vmbus_ring_write(&w, VMBUS_PACKET_DATA_INBAND, 0, 0, NULL, 0, payload, 8);
  check(!vmbus_ring_commit_write(&w), "no signal to a masked consumer");
  vmbus_ring_set_interrupt_mask(&r, false);
  check(vmbus_ring_available(&r) == 32, "unmasked consumer finds the packet on re-check");

  /* Malformed rings. */
  uint32_t at = r.read;
  set_ctl(VMBUS_RING_WRITE_INDEX, DATA);
  check(vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_WRITE_INDEX_OUT_OF_RANGE,
        "write_index out of range");
  set_ctl(VMBUS_RING_WRITE_INDEX, (at + 36) % DATA);
  check(vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_WRITE_INDEX_UNALIGNED,
        "write_index unaligned");
  set_ctl(VMBUS_RING_WRITE_INDEX, (at + 32) % DATA);
  uint8_t* len8 = ring_mem + 4096 + (at + 4) % DATA;
  *len8 = 200;
  check(vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_PACKET_LARGER_THAN_AVAILABLE,
        "length past write_index");
  *len8 = 1;
  check(vmbus_ring_read(&r, buf, sizeof buf, &p) == VMBUS_RING_PACKET_LENGTH_TOO_SMALL,
        "length shorter than the descriptor");
  check(r.read == at, "errors leave the read position");
  set_ctl(VMBUS_RING_READ_INDEX, 5);
  check(vmbus_ring_write(&w, VMBUS_PACKET_DATA_INBAND, 0, 0, NULL, 0, payload, 8) ==
            VMBUS_RING_READ_INDEX_UNALIGNED,
        "writer refuses an unaligned read_index");
  return check_summary("vmbus_ring");
}
