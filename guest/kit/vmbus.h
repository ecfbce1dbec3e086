/* A VMBus client for guest programs (spec/hyperv-interfaces.md §4, §6.1-6.6, §6.8; the
 * wire format of devices/vmbus/spec/vmbus.h, as Linux's drivers/hv speaks it): SynIC set-up
 * (hypercall page, SIMP, SIEFP, SINT2 at vector 0xF3 with AutoEOI), InitiateContact with
 * version fallback, offers, GPADLs, channel open/close, unload. One client per program;
 * waits sleep in HLT until the host's next message. Addresses are identity-mapped
 * (guest-physical = linear), as the kit sets paging up. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define VMBUS_MAX_OFFERS 32
#define VMBUS_MSG_MAX 240

/* Channel message types (§6.3). */
enum vmbus_msg_type {
  VMBUS_OFFER_CHANNEL = 1,
  VMBUS_RESCIND_OFFER = 2,
  VMBUS_REQUEST_OFFERS = 3,
  VMBUS_ALL_OFFERS_DELIVERED = 4,
  VMBUS_OPEN_CHANNEL = 5,
  VMBUS_OPEN_RESULT = 6,
  VMBUS_CLOSE_CHANNEL = 7,
  VMBUS_GPADL_HEADER = 8,
  VMBUS_GPADL_BODY = 9,
  VMBUS_GPADL_CREATED = 10,
  VMBUS_GPADL_TEARDOWN = 11,
  VMBUS_GPADL_TORNDOWN = 12,
  VMBUS_RELID_RELEASED = 13,
  VMBUS_INITIATE_CONTACT = 14,
  VMBUS_VERSION_RESPONSE = 15,
  VMBUS_UNLOAD = 16,
  VMBUS_UNLOAD_RESPONSE = 17,
};

/* Version words (§6.2), newest first as Linux tries them. */
#define VMBUS_VERSION_WIN10_V5_3 0x00050003u
#define VMBUS_VERSION_WIN10_V5_2 0x00050002u
#define VMBUS_VERSION_WIN10_V5_1 0x00050001u
#define VMBUS_VERSION_WIN10_V5 0x00050000u
#define VMBUS_VERSION_WIN10_V4_1 0x00040001u
#define VMBUS_VERSION_WIN10 0x00040000u
#define VMBUS_VERSION_WIN8_1 0x00030000u
#define VMBUS_VERSION_WIN8 0x00020004u
#define VMBUS_VERSION_WIN7 0x00010001u
#define VMBUS_VERSION_WS2008 0x0000000Du
#define VMBUS_VERSION_WIN10_V6_0 0x00060000u

struct vmbus_offer {
  uint8_t interface_type[16], instance[16];
  uint16_t flags;
  uint32_t relid;
  uint8_t monitor_id, monitor_allocated;
  uint16_t dedicated;
  uint32_t connection_id; /* HvSignalEvent connection */
  bool rescinded;
};

struct vmbus {
  uint32_t version;     /* negotiated; 0: not connected */
  uint32_t msg_conn_id; /* connection for messages after contact */
  uint32_t versions_refused;
  uint32_t offer_count;
  struct vmbus_offer offers[VMBUS_MAX_OFFERS];
  bool all_offers;
  uint32_t next_gpadl;   /* Linux starts at 0xE1E10 */
  uint32_t post_retries; /* HV_STATUS_INSUFFICIENT_BUFFERS answers retried */
  uint32_t messages;     /* host messages received */
  uint32_t features;     /* 6.0: the feature flags the host granted (VersionResponse 16) */
  bool no_monitor_pages; /* set before vmbus_connect: InitiateContact names no monitor pages */
};

/* SynIC and hypercall page for VMBus; interrupts on (SINT2 -> vector 0xF3). */
void vmbus_synic_init(void);
/* Posts one channel message on the client's message connection (`conn`: 0 = the
 * negotiated one); the HV_STATUS (INSUFFICIENT_BUFFERS retried). */
uint16_t vmbus_post(struct vmbus* vb, uint32_t conn, const void* msg, uint32_t size);
/* Waits for the next host message: its type; *size its bytes (<= 240) copied to buf. Offers
 * and rescinds are recorded in vb on the way. */
uint32_t vmbus_recv(struct vmbus* vb, void* buf, uint32_t* size);
/* Waits for a message of `type` (others are recorded or dropped); 0 on success. */
int vmbus_wait(struct vmbus* vb, uint32_t type, void* buf, uint32_t* size);
/* InitiateContact with each of `versions` in turn (newest first) until one is accepted:
 * 0 and vb->version set, or -1 if none was. */
int vmbus_connect(struct vmbus* vb, const uint32_t* versions, int count);
/* RequestOffers; collects offers until AllOffersDelivered: the number of offers. */
int vmbus_request_offers(struct vmbus* vb);
/* The offer with interface type `type` (16 wire bytes), or 0. */
struct vmbus_offer* vmbus_find_offer(struct vmbus* vb, const uint8_t type[16]);
/* A GPADL over `pages` 4 KiB pages at `buf` for channel `relid` (GpadlHeader + Bodies,
 * waits for GpadlCreated): its creation status (0 = success); *handle the handle. */
uint32_t vmbus_create_gpadl(struct vmbus* vb, uint32_t relid, void* buf, uint32_t pages,
                            uint32_t* handle);
/* OpenChannel over ring GPADL `gpadl` (the host->guest ring `downstream` pages in); waits
 * for OpenChannelResult: its status. */
uint32_t vmbus_open(struct vmbus* vb, uint32_t relid, uint32_t gpadl, uint32_t downstream,
                    uint32_t target_vp);
void vmbus_close(struct vmbus* vb, uint32_t relid);
/* GpadlTeardown; waits for GpadlTorndown: 0, or -1 if another message came instead. */
int vmbus_teardown_gpadl(struct vmbus* vb, uint32_t relid, uint32_t handle);
/* Unload; waits for UnloadResponse and forgets the connection and offers. */
int vmbus_unload(struct vmbus* vb);
/* HvSignalEvent (fast) on a channel's connection: the HV_STATUS. */
uint16_t vmbus_signal(uint32_t connection_id);
/* The SINT2 event flags (bit n = relid n) that are set, tested and cleared. */
bool vmbus_take_event(uint32_t relid);
/* Guest -> host signal of a channel as Linux's vmbus_setevent: a monitored offer sets bit
 * (monitor_id % 32) of trigger_group[monitor_id / 32].pending in the child->parent monitor
 * page (no hypercall; the host polls), any other uses HvSignalEvent. 0 or the HV_STATUS. */
uint16_t vmbus_setevent(const struct vmbus_offer* o);
/* The two monitor pages vmbus_connect names ([0] parent->child, [1] child->parent). */
volatile uint8_t* vmbus_monitor_page(int k);
