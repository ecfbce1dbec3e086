/* Integration-component VSCs (spec/hyperv-interfaces.md §9.1-9.5), as Linux's hv_utils. */
#include "kit/vmbus_ic.h"

#include "kit/kit.h"

volatile bool vmbus_ic_shutdown_requested;
volatile uint32_t vmbus_ic_shutdown_flags;
volatile uint64_t vmbus_ic_clock_100ns;
volatile uint64_t vmbus_ic_clock_reference;
volatile uint32_t vmbus_ic_samples;

/* Class GUIDs in wire order (§9.3-9.5). */
static const uint8_t kGuids[3][16] = {
    {0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42,
     0x2d},
    {0x31, 0x60, 0x0b, 0x0e, 0x13, 0x52, 0x34, 0x49, 0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39,
     0xdb},
    {0x30, 0xe6, 0x27, 0x95, 0xae, 0xd0, 0x7b, 0x49, 0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c,
     0xaf},
};

/* Linux's preferred versions, major << 16 | minor (§9.2). */
static const uint32_t kFramework[] = {0x30000, 0x10000};
static const uint32_t kHeartbeatVersions[] = {0x30000, 0x10000};
static const uint32_t kShutdownVersions[] = {0x30002, 0x30001, 0x30000, 0x10000};
static const uint32_t kTimeSyncVersions[] = {0x40000, 0x30000, 0x10000};

#define IC_HEADER 28
#define IC_MSG_NEGOTIATE 0
#define IC_MSG_HEARTBEAT 1
#define IC_MSG_SHUTDOWN 3
#define IC_MSG_TIMESYNC 4
#define IC_FLAG_TRANSACTION 1
#define IC_FLAG_RESPONSE 4
#define IC_MAX_VERSIONS 100

const char* vmbus_ic_name(enum vmbus_ic_kind kind) {
  switch (kind) {
    case VMBUS_IC_HEARTBEAT: return "heartbeat";
    case VMBUS_IC_SHUTDOWN: return "shutdown";
    case VMBUS_IC_TIMESYNC: return "timesync";
  }
  return "?";
}

static uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
static uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static void wr16(uint8_t* p, uint16_t v) {
  memcpy(p, &v, 2);
}
static void wr32(uint8_t* p, uint32_t v) {
  memcpy(p, &v, 4);
}
static void wr64(uint8_t* p, uint64_t v) {
  memcpy(p, &v, 8);
}

int vmbus_ic_open(struct vmbus* vb, struct vmbus_ic* ic, enum vmbus_ic_kind kind, void* ring) {
  bool hostile = ic->hostile;
  memset(ic, 0, sizeof *ic);
  ic->kind = kind;
  ic->hostile = hostile;
  struct vmbus_offer* o = vmbus_find_offer(vb, kGuids[kind]);
  if (!o) {
    printf("vmbus_ic: no %s offer\n", vmbus_ic_name(kind));
    return -1;
  }
  ic->relid = o->relid;
  ic->connection_id = o->connection_id;
  uint8_t* base = (uint8_t*)ring;
  uint64_t half = (uint64_t)VMBUS_IC_RING_PAGES * 4096;
  if (vmbus_ring_init(&ic->out, base, half) != VMBUS_RING_OK ||
      vmbus_ring_init(&ic->in, base + half, half) != VMBUS_RING_OK) {
    printf("vmbus_ic: %s: ring init failed\n", vmbus_ic_name(kind));
    return -1;
  }
  uint32_t st = vmbus_create_gpadl(vb, ic->relid, ring, 2 * VMBUS_IC_RING_PAGES, &ic->gpadl);
  if (st != 0) {
    printf("vmbus_ic: %s: GPADL failed (0x%x)\n", vmbus_ic_name(kind), st);
    return -1;
  }
  st = vmbus_open(vb, ic->relid, ic->gpadl, VMBUS_IC_RING_PAGES, 0);
  if (st != 0) {
    printf("vmbus_ic: %s: open failed (0x%x)\n", vmbus_ic_name(kind), st);
    return -1;
  }
  return 0;
}

/* The first of `mine` that the host listed in `theirs` (n entries), or 0 if none. */
static uint32_t choose(const uint32_t* mine, int mine_n, const uint8_t* theirs, uint32_t n) {
  for (int i = 0; i < mine_n; ++i)
    for (uint32_t k = 0; k < n; ++k) {
      uint32_t v = (uint32_t)rd16(theirs + 4 * k) << 16 | rd16(theirs + 4 * k + 2);
      if (v == mine[i]) return v;
    }
  return 0;
}

/* Rewrites a negotiation message in place (vmbus_prep_negotiate_resp): false if malformed. */
static bool negotiate(struct vmbus_ic* ic, uint8_t* m, uint32_t len) {
  if (len < IC_HEADER + 8) return false;
  uint8_t* body = m + IC_HEADER;
  uint32_t fc = rd16(body), mc = rd16(body + 2);
  if (fc > IC_MAX_VERSIONS || mc > IC_MAX_VERSIONS || fc + mc > IC_MAX_VERSIONS) return false;
  if (IC_HEADER + 8 + 4 * (fc + mc) > len) return false;
  const uint32_t* msgs = kHeartbeatVersions;
  int msgs_n = 2;
  if (ic->kind == VMBUS_IC_SHUTDOWN) {
    msgs = kShutdownVersions;
    msgs_n = 4;
  } else if (ic->kind == VMBUS_IC_TIMESYNC) {
    msgs = kTimeSyncVersions;
    msgs_n = 3;
  }
  uint32_t fw = choose(kFramework, 2, body + 8, fc);
  uint32_t mv = choose(msgs, msgs_n, body + 8 + 4 * fc, mc);
  if (len < IC_HEADER + 16) return false;
  if (fw && mv) {
    wr16(body, 1);
    wr16(body + 2, 1);
    wr16(body + 8, (uint16_t)(fw >> 16));
    wr16(body + 10, (uint16_t)fw);
    wr16(body + 12, (uint16_t)(mv >> 16));
    wr16(body + 14, (uint16_t)mv);
    ic->frame_major = (uint16_t)(fw >> 16);
    ic->frame_minor = (uint16_t)fw;
    ic->msg_major = (uint16_t)(mv >> 16);
    ic->msg_minor = (uint16_t)mv;
    ic->negotiated = true;
    printf("vmbus_ic: %s negotiated framework %u.%u message %u.%u\n", vmbus_ic_name(ic->kind),
           ic->frame_major, ic->frame_minor, ic->msg_major, ic->msg_minor);
  } else {
    wr16(body, 0);
    wr16(body + 2, 0);
  }
  wr16(m + 18, 0x10);
  return true;
}

static void answer_timesync(struct vmbus_ic* ic, const uint8_t* body, uint32_t size) {
  if (ic->msg_major >= 4) {
    if (size < 18) return;
    vmbus_ic_clock_reference = rd64(body + 8);
  } else if (size < 25) {
    return;
  }
  uint64_t parent = rd64(body);
  if (parent >= VMBUS_IC_EPOCH_DELTA) {
    vmbus_ic_clock_100ns = parent - VMBUS_IC_EPOCH_DELTA;
    if (vmbus_ic_samples++ == 0)
      printf("vmbus_ic: time sync: unix time %lu s\n",
             (unsigned long)(vmbus_ic_clock_100ns / 10000000));
  }
}

static void send(struct vmbus_ic* ic, uint64_t txn, const void* p, uint32_t n) {
  int st = vmbus_ring_write(&ic->out, VMBUS_PACKET_DATA_INBAND, 0, txn, 0, 0, p, n);
  if (st != VMBUS_RING_OK) {
    ++ic->ring_errors;
    return;
  }
  if (vmbus_ring_commit_write(&ic->out)) vmbus_signal(ic->connection_id);
}

int vmbus_ic_service(struct vmbus_ic* ic) {
  static uint8_t buf[4096 + 64];
  int answered = 0;
  for (;;) {
    struct vmbus_packet pk;
    int st = vmbus_ring_read(&ic->in, buf, sizeof buf, &pk);
    if (st == VMBUS_RING_EMPTY) break;
    if (st != VMBUS_RING_OK) {
      ++ic->ring_errors;
      break;
    }
    uint8_t* m = (uint8_t*)pk.bytes + pk.payload_offset;
    uint32_t len = pk.len - pk.payload_offset;
    if (pk.type != VMBUS_PACKET_DATA_INBAND || len < IC_HEADER) {
      ++ic->bad;
      continue;
    }
    uint16_t type = rd16(m + 12), size = rd16(m + 18);
    if (size > len - IC_HEADER) {
      ++ic->bad;
      continue;
    }
    uint8_t* body = m + IC_HEADER;
    uint32_t status = 0;
    bool ok = true;
    if (type == IC_MSG_NEGOTIATE) {
      ok = negotiate(ic, m, len);
    } else if (type == IC_MSG_HEARTBEAT && ic->kind == VMBUS_IC_HEARTBEAT && size >= 8) {
      uint64_t add = 1;
      if (ic->hostile && ic->requests == 1) {
        uint8_t junk[8] = {0};
        send(ic, pk.transaction_id, junk, sizeof junk); /* too short for an IC message */
        add = 2;
      }
      wr64(body, rd64(body) + add);
    } else if (type == IC_MSG_SHUTDOWN && ic->kind == VMBUS_IC_SHUTDOWN && size >= 12) {
      vmbus_ic_shutdown_flags = rd32(body + 8);
      vmbus_ic_shutdown_requested = true;
    } else if (type == IC_MSG_TIMESYNC && ic->kind == VMBUS_IC_TIMESYNC) {
      answer_timesync(ic, body, size);
    } else {
      status = 0x80004005u; /* E_FAIL: not this service's message */
    }
    if (!ok) {
      ++ic->bad;
      continue;
    }
    wr32(m + 20, status);
    m[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    send(ic, pk.transaction_id, m, len);
    ++ic->requests;
    ++answered;
  }
  vmbus_ring_commit_read(&ic->in);
  return answered;
}
