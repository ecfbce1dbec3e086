/* vmbus_basic: the whole VMBus handshake from inside a partition against the offers the test
 * made (spec/hyperv-interfaces.md §6.2-6.4, §6.8; tests/test_vmbus.py). Arguments:
 *   offers=N   offers the host made (one of them the heartbeat IC)
 *   hostile=1  also sends malformed messages, which the server must reject, and checks that
 *              it still answers the next good one
 *   rounds=N   connect ... unload this many times (reconnect after unload)
 *   wait_event=1  after its signal, waits until the host signals the channel back (bit relid
 *              of SINT2's event flags; the test calls Machine.signal_vmbus_channel)
 *   monitored=1  the heartbeat is offered monitored (§6.6): expects monitor_allocated = 1 and
 *              signals it through the child->parent monitor page (vmbus_setevent), no hypercall
 *   garbage=1  with monitored=1: also sets every other pending bit of the monitor page (ids
 *              the host never allocated), which the host must count and drop
 *   nomonitor=1  InitiateContact names no monitor pages (monitored offers fall back)
 * Each round: InitiateContact with Linux's versions newest first (6.0 is refused by a 5.3
 * host), RequestOffers until AllOffersDelivered, a 40-page ring GPADL (a header and a body),
 * OpenChannel, a signal, CloseChannel, GpadlTeardown, Unload. Prints what it negotiated and
 * ends with the check summary (debug exit 0 if every check passed). */
#include "kit/kit.h"
#include "kit/vmbus.h"

#define RING_PAGES 40

static uint8_t ring[RING_PAGES * 4096] __attribute__((aligned(4096)));
static uint8_t spare[2 * 4096] __attribute__((aligned(4096)));

static const uint8_t kHeartbeat[16] = {0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e,
                                       0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d};
static const uint32_t kVersions[] = {
    VMBUS_VERSION_WIN10_V6_0, VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2,
    VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10_V4_1,
    VMBUS_VERSION_WIN10,      VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN8};

static struct vmbus vb;

static void put32(uint8_t* m, unsigned off, uint32_t v) {
  memcpy(m + off, &v, 4);
}

/* A GpadlHeader of one page at `pfn` with handle `h`; no wait. */
static void raw_gpadl(uint32_t relid, uint32_t h, uint64_t pfn) {
  uint8_t m[36];
  memset(m, 0, sizeof m);
  put32(m, 0, VMBUS_GPADL_HEADER);
  put32(m, 8, relid);
  put32(m, 12, h);
  m[16] = 16; /* range_buflen: range header + 1 PFN */
  m[18] = 1;
  put32(m, 20, 4096);
  memcpy(m + 28, &pfn, 8);
  vmbus_post(&vb, 0, m, sizeof m);
}

static uint32_t created_status(uint32_t h) {
  uint8_t r[VMBUS_MSG_MAX];
  uint32_t n;
  if (vmbus_wait(&vb, VMBUS_GPADL_CREATED, r, &n) != 0) return ~0u;
  uint32_t got, st;
  memcpy(&got, r + 12, 4);
  memcpy(&st, r + 16, 4);
  return got == h ? st : ~0u;
}

static void hostile(uint32_t relid) {
  uint8_t m[VMBUS_MSG_MAX];
  memset(m, 0, sizeof m);
  /* Bad lengths and types: no answer. */
  put32(m, 0, VMBUS_OPEN_CHANNEL);
  vmbus_post(&vb, 0, m, 20);
  put32(m, 0, 77);
  vmbus_post(&vb, 0, m, 8);
  vmbus_post(&vb, 0, m, 4);
  put32(m, 0, VMBUS_VERSION_RESPONSE); /* a host->guest type */
  vmbus_post(&vb, 0, m, 16);
  /* A flood of requests in the wrong state: all rejected, none answered. */
  put32(m, 0, VMBUS_REQUEST_OFFERS);
  for (int k = 0; k < 200; ++k) vmbus_post(&vb, 0, m, 8);
  /* A GPADL page outside the partition: refused with a failure status. */
  raw_gpadl(relid, 0x7001, 0x100000);
  check(created_status(0x7001) != 0, "hostile: a foreign GPADL page is refused");
  /* A good one, then its handle again (dropped), then its page again (refused). */
  uint64_t pfn = (uint64_t)(uintptr_t)spare >> 12;
  raw_gpadl(relid, 0x7002, pfn);
  check(created_status(0x7002) == 0, "hostile: a good one-page GPADL");
  raw_gpadl(relid, 0x7002, pfn + 1);
  raw_gpadl(relid, 0x7003, pfn);
  check(created_status(0x7003) != 0, "hostile: an overlapping GPADL is refused");
  /* A ring that leaves no data page for the inbound ring. */
  check(vmbus_open(&vb, relid, 0x7002, 1, 0) != 0, "hostile: a one-page ring cannot open");
  check(vmbus_teardown_gpadl(&vb, relid, 0x7002) == 0, "hostile: the server still answers");
}

static bool wait_event, monitored, garbage;

static void round_trip(uint64_t offers, bool bad, uint64_t round) {
  memset(&vb.offers, 0, sizeof vb.offers);
  vb.offer_count = 0;
  vb.versions_refused = 0;
  if (!check(vmbus_connect(&vb, kVersions, sizeof kVersions / sizeof kVersions[0]) == 0,
             "round %lu: connected", (unsigned long)round))
    return;
  printf("vmbus: version 0x%x after %u refused, message connection %u, features 0x%x\n", vb.version,
         vb.versions_refused, vb.msg_conn_id, vb.features);
  int n = vmbus_request_offers(&vb);
  check(n == (int)offers, "round %lu: %d offers (expected %lu)", (unsigned long)round, n,
        (unsigned long)offers);
  struct vmbus_offer* hb = vmbus_find_offer(&vb, kHeartbeat);
  if (!check(hb != 0, "heartbeat offered")) return;
  check(hb->relid >= 1 && hb->relid <= 2047 && hb->dedicated == 1 &&
            hb->monitor_allocated == (monitored ? 1 : 0),
        "offer: relid %u, dedicated interrupt, monitor_allocated %u id %u", hb->relid,
        hb->monitor_allocated, hb->monitor_id);
  if (monitored) {
    /* What the host wrote into the child->parent page for this id (§6.6). */
    volatile uint8_t* p = vmbus_monitor_page(1);
    unsigned g = hb->monitor_id / 32, o = hb->monitor_id % 32;
    uint32_t conn = *(volatile uint32_t*)(p + 0x440 + 8 * (32 * g + o));
    uint16_t latency = *(volatile uint16_t*)(p + 0x240 + 2 * (32 * g + o));
    check(conn == hb->connection_id && latency != 0 && (p[0] >> g & 1),
          "monitor page: group %u enabled, parameter connection 0x%x, latency %u", g, conn,
          latency);
  }
  printf("vmbus: heartbeat relid %u connection 0x%x\n", hb->relid, hb->connection_id);
  if (bad) hostile(hb->relid);
  uint32_t gpadl;
  uint32_t st = vmbus_create_gpadl(&vb, hb->relid, ring, RING_PAGES, &gpadl);
  check(st == 0, "GPADL 0x%x of %u pages created (status 0x%x)", gpadl, RING_PAGES, st);
  st = vmbus_open(&vb, hb->relid, gpadl, RING_PAGES / 2, 0);
  check(st == 0, "channel open (status 0x%x)", st);
  if (garbage) {
    for (unsigned id = 0; id < 128; ++id) {
      if (id == hb->monitor_id) continue;
      volatile uint32_t* w = (volatile uint32_t*)(vmbus_monitor_page(1) + 8 + 8 * (id / 32));
      *w |= 1u << (id % 32);
    }
  }
  if (monitored)
    check(vmbus_setevent(hb) == 0, "signal through the monitor page (id %u)", hb->monitor_id);
  else
    check(vmbus_signal(hb->connection_id) == 0, "signal on the channel's connection");
  if (wait_event) {
    while (!vmbus_take_event(hb->relid)) __asm__ volatile("sti; hlt; cli" ::: "memory");
    check(!vmbus_take_event(hb->relid), "host signal: flag %u of SINT2 taken once", hb->relid);
  }
  vmbus_close(&vb, hb->relid);
  check(vmbus_teardown_gpadl(&vb, hb->relid, gpadl) == 0, "ring GPADL torn down after close");
  check(vmbus_unload(&vb) == 0, "unloaded");
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  const char* cmd = mb_cmdline(mb_info(mbi));
  uint64_t offers = cmdline_u64(cmd, "offers", 1);
  uint64_t rounds = cmdline_u64(cmd, "rounds", 1);
  bool bad = cmdline_u64(cmd, "hostile", 0) != 0;
  wait_event = cmdline_u64(cmd, "wait_event", 0) != 0;
  monitored = cmdline_u64(cmd, "monitored", 0) != 0;
  garbage = cmdline_u64(cmd, "garbage", 0) != 0;
  vb.no_monitor_pages = cmdline_u64(cmd, "nomonitor", 0) != 0;
  vmbus_synic_init();
  for (uint64_t r = 0; r < rounds; ++r) round_trip(offers, bad, r);
  printf("vmbus: %u messages received, %u posts retried\n", vb.messages, vb.post_retries);
  return check_summary("vmbus_basic");
}
