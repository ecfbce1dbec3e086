/* vmbus_echo: request/response round trips through hvsim's echo VSP (devices/vmbus/echo;
 * docs/vmbus.md "Echo VSP"; tests/test_vmbus_echo.py; `hvsim bench`). Connects to the VMBus
 * server, finds the echo offer, creates the ring GPADL and opens the channel, then sends
 * `requests` in-band packets of `size` bytes with completion requested, at most `batch`
 * outstanding, and checks each completion's transaction id and echoed payload. Waits sleep
 * in HLT until the channel's SINT2 event. Prints
 *   vmbus_echo_bench: N round trips C cycles
 *   cycles_per_rr=X
 * (C: RDTSC around the loop) and exits with the number of failed checks (0: all passed).
 * Arguments: requests=N (1000), size=S (64, 1..4032), batch=K (1, 1..64),
 *   hostile=1  writes a packet whose length runs past write_index into its outbound ring
 *              and signals: the host must fail the channel and answer nothing after it.
 *   in_pages=P the host->guest ring's pages (2..32, default 32): a small one fills, and
 *              the host waits for the guest's reads (pending_send_sz)
 *   max_hlt=N  give up after N wake-ups without progress (default 100000) */
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/vmbus.h"
#include "kit/vmbus_ring.h"

#define RING_PAGES 32 /* per direction: 128 KiB, 32 requests of 4000 bytes */
#define MAX_SIZE 4032

static uint8_t ring[2 * RING_PAGES * 4096] __attribute__((aligned(4096)));
static uint8_t payload[MAX_SIZE];
static uint8_t buf[MAX_SIZE + 256];
static struct vmbus vb;
static struct vmbus_ring out, in;

/* kEchoGuid e6c0ec40-45f3-4b27-9a0e-6873766d0001, wire encoding. */
static const uint8_t kEchoGuid[16] = {0x40, 0xec, 0xc0, 0xe6, 0xf3, 0x45, 0x27, 0x4b,
                                      0x9a, 0x0e, 0x68, 0x73, 0x76, 0x6d, 0x00, 0x01};
static const uint32_t kVersions[] = {VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5,
                                     VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN8};

static uint8_t pattern(uint64_t request, uint32_t i) {
  return (uint8_t)(request * 31 + i * 7 + 1);
}

/* The hostile guest: a descriptor claiming 64 KiB at write_index 0, published as 24 bytes. */
static int hostile(uint32_t conn, uint32_t relid) {
  uint8_t* data = ring + VMBUS_RING_CONTROL_SIZE;
  uint16_t d[4] = {VMBUS_PACKET_DATA_INBAND, 2, 0x2000, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED};
  memcpy(data, d, sizeof d);
  memset(data + 8, 0, 16);
  *(volatile uint32_t*)(ring + VMBUS_RING_WRITE_INDEX) = 24;
  vmbus_signal(conn);
  /* Then a well-formed request behind it: the failed channel must not answer it. */
  vmbus_ring_attach(&out, ring, RING_PAGES * 4096);
  for (uint32_t i = 0; i < 64; ++i) payload[i] = pattern(1, i);
  int st = vmbus_ring_write(&out, VMBUS_PACKET_DATA_INBAND, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED,
                            1, 0, 0, payload, 64);
  check(st == VMBUS_RING_OK, "hostile: request written after the bad packet (%s)",
        vmbus_ring_status_name(st));
  vmbus_ring_commit_write(&out);
  vmbus_signal(conn);
  check(!vmbus_take_event(relid), "hostile: no signal from the failed channel");
  check(vmbus_ring_available(&in) == 0, "hostile: no answer from the failed channel");
  printf("vmbus_echo: hostile packet sent; the channel answered nothing\n");
  return check_summary("vmbus_echo");
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  const char* cmd = mb_cmdline(mb_info(mbi));
  uint64_t requests = cmdline_u64(cmd, "requests", 1000);
  uint64_t size = cmdline_u64(cmd, "size", 64);
  uint64_t batch = cmdline_u64(cmd, "batch", 1);
  uint64_t max_hlt = cmdline_u64(cmd, "max_hlt", 100000);
  uint64_t in_pages = cmdline_u64(cmd, "in_pages", RING_PAGES);
  bool bad = cmdline_u64(cmd, "hostile", 0) != 0;
  if (size < 1 || size > MAX_SIZE || batch < 1 || batch > 64 || in_pages < 2 ||
      in_pages > RING_PAGES) {
    printf("vmbus_echo: bad arguments (size 1..%u, batch 1..64, in_pages 2..%u)\n", MAX_SIZE,
           RING_PAGES);
    exit(2);
  }
  vmbus_synic_init();
  if (!check(vmbus_connect(&vb, kVersions, sizeof kVersions / sizeof kVersions[0]) == 0,
             "connected"))
    return check_summary("vmbus_echo");
  vmbus_request_offers(&vb);
  struct vmbus_offer* o = vmbus_find_offer(&vb, kEchoGuid);
  if (!check(o != 0, "echo offer found")) return check_summary("vmbus_echo");
  uint32_t relid = o->relid, conn = o->connection_id, gpadl = 0;
  uint64_t half = (uint64_t)RING_PAGES * 4096;
  if (!check(vmbus_ring_init(&out, ring, half) == VMBUS_RING_OK &&
                 vmbus_ring_init(&in, ring + half, in_pages * 4096) == VMBUS_RING_OK,
             "rings made"))
    return check_summary("vmbus_echo");
  uint32_t st = vmbus_create_gpadl(&vb, relid, ring, RING_PAGES + (uint32_t)in_pages, &gpadl);
  if (!check(st == 0, "ring GPADL created (0x%x)", st)) return check_summary("vmbus_echo");
  st = vmbus_open(&vb, relid, gpadl, RING_PAGES, 0);
  if (!check(st == 0, "channel %u open (0x%x)", relid, st)) return check_summary("vmbus_echo");
  if (bad) return hostile(conn, relid);

  uint64_t sent = 0, done = 0, wrong = 0, hlts = 0, waits = 0;
  uint64_t t0 = rdtsc();
  __asm__ volatile("sti" ::: "memory");
  while (done < requests) {
    bool progress = false, wrote = false;
    while (sent < requests && sent - done < batch) {
      for (uint32_t i = 0; i < size; ++i) payload[i] = pattern(sent, i);
      int w =
          vmbus_ring_write(&out, VMBUS_PACKET_DATA_INBAND, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED,
                           sent + 1, 0, 0, payload, (uint32_t)size);
      if (w == VMBUS_RING_FULL) break; /* pending_send_sz is set: the host signals */
      if (w != VMBUS_RING_OK) {
        check(false, "write request %lu: %s", (unsigned long)sent, vmbus_ring_status_name(w));
        return check_summary("vmbus_echo");
      }
      ++sent;
      wrote = progress = true;
    }
    if (wrote && vmbus_ring_commit_write(&out)) vmbus_signal(conn);
    struct vmbus_packet pk;
    bool got = false;
    for (;;) {
      int r = vmbus_ring_read(&in, buf, sizeof buf, &pk);
      if (r == VMBUS_RING_EMPTY) break;
      if (r != VMBUS_RING_OK) {
        check(false, "read completion: %s", vmbus_ring_status_name(r));
        return check_summary("vmbus_echo");
      }
      got = progress = true;
      const uint8_t* p = pk.bytes + pk.payload_offset;
      uint32_t n = pk.len - pk.payload_offset;
      bool ok = pk.type == VMBUS_PACKET_COMP && pk.transaction_id == done + 1 && n >= size &&
                n < size + 8;
      for (uint32_t i = 0; ok && i < size; ++i) ok = p[i] == pattern(done, i);
      if (!ok && wrong++ < 4)
        printf("vmbus_echo: completion %lu wrong (type %u, transaction %lu, %u bytes)\n",
               (unsigned long)done, pk.type, (unsigned long)pk.transaction_id, n);
      ++done;
    }
    if (got && vmbus_ring_commit_read(&in)) vmbus_signal(conn);
    if (done >= requests) break;
    /* Sleep until the channel's event unless something happened since the last look. The
     * check runs with interrupts off so the event cannot slip in between it and the HLT
     * (STI's shadow covers the HLT); the rest of the loop runs with them on, so the SINT2
     * interrupt the host raised is taken at once rather than left pending. */
    if (progress) {
      hlts = 0;
      continue;
    }
    __asm__ volatile("cli" ::: "memory");
    if (!vmbus_take_event(relid)) {
      ++waits;
      __asm__ volatile("sti; hlt" ::: "memory");
      if (++hlts > max_hlt) {
        printf("vmbus_echo: stuck after %lu of %lu completions\n", (unsigned long)done,
               (unsigned long)requests);
        exit(3);
      }
    }
    __asm__ volatile("sti" ::: "memory");
  }
  __asm__ volatile("cli" ::: "memory");
  uint64_t cycles = rdtsc() - t0;
  check(wrong == 0, "%lu completions with the right transaction id and payload",
        (unsigned long)(done - wrong));
  printf("vmbus_echo: %lu requests of %lu bytes, batch %lu, %lu waits\n", (unsigned long)done,
         (unsigned long)size, (unsigned long)batch, (unsigned long)waits);
  printf("vmbus_echo_bench: %lu round trips %lu cycles\n", (unsigned long)done,
         (unsigned long)cycles);
  printf("cycles_per_rr=%lu\n", (unsigned long)(cycles / (done ? done : 1)));
  return check_summary("vmbus_echo");
}
