/* Integration-component VSCs for guest programs, as Linux's hv_utils behaves
 * (spec/hyperv-interfaces.md §9.1-9.5; drivers/hv/hv_util.c, channel_mgmt.c
 * vmbus_prep_negotiate_resp): heartbeat, shutdown and time sync over VMBus channels of the
 * kit's client (kit/vmbus.h) and rings (kit/vmbus_ring.h). The host starts every exchange;
 * the guest rewrites the message header in place and sends the buffer back. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kit/vmbus.h"
#include "kit/vmbus_ring.h"

enum vmbus_ic_kind { VMBUS_IC_HEARTBEAT, VMBUS_IC_SHUTDOWN, VMBUS_IC_TIMESYNC };

#define VMBUS_IC_RING_PAGES 4                      /* per direction: Linux's 16 KiB */
#define VMBUS_IC_EPOCH_DELTA 116444736000000000ull /* 1601 -> 1970 in 100 ns */

struct vmbus_ic {
  enum vmbus_ic_kind kind;
  uint32_t relid, connection_id, gpadl;
  struct vmbus_ring in;                                    /* host -> guest */
  struct vmbus_ring out;                                   /* guest -> host */
  uint16_t frame_major, frame_minor, msg_major, msg_minor; /* negotiated */
  bool negotiated;
  uint32_t requests; /* host messages answered */
  uint32_t bad;      /* host packets that were not IC messages */
  uint32_t ring_errors;
  /* Misbehaviour for tests: the first heartbeat is echoed with seq + 2, and a packet too
   * short to be an IC message is sent before it. */
  bool hostile;
};

/* What the host asked for and the time it gave. */
extern volatile bool vmbus_ic_shutdown_requested;
extern volatile uint32_t vmbus_ic_shutdown_flags;
/* The kit clock: Unix time in 100 ns from the last time sync sample (0: none yet), the
 * partition reference time of that sample (v4), and the number of samples applied. */
extern volatile uint64_t vmbus_ic_clock_100ns;
extern volatile uint64_t vmbus_ic_clock_reference;
extern volatile uint32_t vmbus_ic_samples;

/* Finds the service's offer, builds a ring GPADL over `ring` (2 * VMBUS_IC_RING_PAGES
 * pages, page aligned) and opens the channel: 0, or -1 (printed) on failure. */
int vmbus_ic_open(struct vmbus* vb, struct vmbus_ic* ic, enum vmbus_ic_kind kind, void* ring);
/* Answers every host message waiting in the channel's ring; signals the host if its ring
 * needs it. Returns the number of messages answered. */
int vmbus_ic_service(struct vmbus_ic* ic);
const char* vmbus_ic_name(enum vmbus_ic_kind kind);
