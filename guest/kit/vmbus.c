/* The guest's VMBus client (spec/hyperv-interfaces.md §4.1, §4.5, §6.1-6.6, §6.8; the
 * sequence Linux's drivers/hv/connection.c and channel.c follow). */
#include "kit/vmbus.h"

#include "kit/hypercall.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/hyperv.h"

#define VMBUS_VECTOR 0xF3
#define VMBUS_SINT 2

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static volatile struct hv_message sim[16] __attribute__((aligned(4096)));
static volatile uint8_t sief[16][256] __attribute__((aligned(4096)));
static uint8_t post_input[4096] __attribute__((aligned(4096)));
static volatile unsigned vmbus_interrupts;
/* The monitor pages InitiateContact names, zeroed as Linux allocates them (connection.c
 * vmbus_connect: two zeroed pages, monitor_pages[0] parent->child, [1] child->parent). */
static volatile uint8_t monitor_pages[2][4096] __attribute__((aligned(4096)));

static void on_vmbus(struct frame* f) {
  (void)f;
  ++vmbus_interrupts; /* AutoEOI: no EOI */
}

static uint32_t rd32(const uint8_t* m, unsigned off) {
  uint32_t v;
  memcpy(&v, m + off, 4);
  return v;
}
static void wr32(uint8_t* m, unsigned off, uint32_t v) {
  memcpy(m + off, &v, 4);
}
static void wr16(uint8_t* m, unsigned off, uint16_t v) {
  memcpy(m + off, &v, 2);
}
static void wr64(uint8_t* m, unsigned off, uint64_t v) {
  memcpy(m + off, &v, 8);
}

void vmbus_synic_init(void) {
  wrmsr(HV_MSR_GUEST_OS_ID, (1ull << 63) | (1ull << 56));
  wrmsr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);
  wrmsr(0x1B, rdmsr(0x1B) | 0xC00); /* x2APIC */
  wrmsr(0x80F, 0x1FF);              /* software-enabled */
  intr_init();
  intr_set_handler(VMBUS_VECTOR, on_vmbus);
  wrmsr(HV_MSR_SIMP, (uint64_t)(uintptr_t)sim | 1);
  wrmsr(HV_MSR_SIEFP, (uint64_t)(uintptr_t)sief | 1);
  wrmsr(HV_MSR_SINT(VMBUS_SINT), VMBUS_VECTOR | SINT_AUTO_EOI);
  wrmsr(HV_MSR_SCONTROL, 1);
}

uint16_t vmbus_post(struct vmbus* vb, uint32_t conn, const void* msg, uint32_t size) {
  if (!conn) conn = vb->msg_conn_id;
  for (;;) {
    wr32(post_input, 0, conn);
    wr32(post_input, 4, 0);
    wr32(post_input, 8, 1); /* channel message */
    wr32(post_input, 12, size);
    memcpy(post_input + 16, msg, size);
    uint16_t st =
        hv_hypercall(hypercall_page, HV_CALL_POST_MESSAGE, (uint64_t)(uintptr_t)post_input, 0) &
        0xFFFF;
    if (st != HV_STATUS_INSUFFICIENT_BUFFERS) return st;
    ++vb->post_retries;
    __asm__ volatile("pause");
  }
}

static void record_offer(struct vmbus* vb, const uint8_t* m) {
  if (vb->offer_count >= VMBUS_MAX_OFFERS) return;
  struct vmbus_offer* o = &vb->offers[vb->offer_count++];
  memcpy(o->interface_type, m + 8, 16);
  memcpy(o->instance, m + 24, 16);
  memcpy(&o->flags, m + 56, 2);
  o->relid = rd32(m, 184);
  o->monitor_id = m[188];
  o->monitor_allocated = m[189] & 1;
  memcpy(&o->dedicated, m + 190, 2);
  o->connection_id = rd32(m, 192);
  o->rescinded = false;
}

uint32_t vmbus_recv(struct vmbus* vb, void* buf, uint32_t* size) {
  volatile struct hv_message* slot = &sim[VMBUS_SINT];
  while (slot->type == 0) __asm__ volatile("sti; hlt; cli" ::: "memory");
  uint8_t local[VMBUS_MSG_MAX];
  uint32_t n = slot->size > VMBUS_MSG_MAX ? VMBUS_MSG_MAX : slot->size;
  for (uint32_t k = 0; k < n; ++k) local[k] = slot->payload.bytes[k];
  uint8_t pending = slot->flags & HV_MESSAGE_FLAG_PENDING;
  slot->type = 0;
  if (pending) wrmsr(HV_MSR_EOM, 0);
  ++vb->messages;
  uint32_t type = n >= 4 ? rd32(local, 0) : 0;
  if (type == VMBUS_OFFER_CHANNEL && n >= 196) record_offer(vb, local);
  if (type == VMBUS_RESCIND_OFFER && n >= 12)
    for (uint32_t k = 0; k < vb->offer_count; ++k)
      if (vb->offers[k].relid == rd32(local, 8)) vb->offers[k].rescinded = true;
  if (type == VMBUS_ALL_OFFERS_DELIVERED) vb->all_offers = true;
  if (buf) memcpy(buf, local, n);
  if (size) *size = n;
  return type;
}

int vmbus_wait(struct vmbus* vb, uint32_t type, void* buf, uint32_t* size) {
  /* Bounded: a host that never answers must not make the program wait for ever on
   * unrelated traffic (a missing answer still hangs in HLT: the test's time limit ends it). */
  for (int k = 0; k < 4096; ++k)
    if (vmbus_recv(vb, buf, size) == type) return 0;
  return -1;
}

int vmbus_connect(struct vmbus* vb, const uint32_t* versions, int count) {
  for (int k = 0; k < count; ++k) {
    uint8_t m[40];
    memset(m, 0, sizeof m);
    wr32(m, 0, VMBUS_INITIATE_CONTACT);
    wr32(m, 8, versions[k]);
    wr32(m, 12, 0);                                                /* target_vcpu: VP 0 */
    if (versions[k] >= VMBUS_VERSION_WIN10_V5) m[16] = VMBUS_SINT; /* msg_sint, VTL 0 */
    /* 6.0: bytes 20-23 are the requested feature flags; this client asks for none. */
    if (!vb->no_monitor_pages) {
      wr64(m, 24, (uint64_t)(uintptr_t)monitor_pages[0]);
      wr64(m, 32, (uint64_t)(uintptr_t)monitor_pages[1]);
    }
    uint32_t conn = versions[k] >= VMBUS_VERSION_WIN10_V5 ? 4 : 1;
    if (vmbus_post(vb, conn, m, sizeof m) != 0) return -1;
    uint8_t r[VMBUS_MSG_MAX];
    uint32_t n;
    if (vmbus_wait(vb, VMBUS_VERSION_RESPONSE, r, &n) != 0 || n < 16) return -1;
    if (r[8]) {
      vb->version = versions[k];
      vb->msg_conn_id = versions[k] >= VMBUS_VERSION_WIN10_V5 ? rd32(r, 12) : 1;
      vb->features = versions[k] >= VMBUS_VERSION_WIN10_V6_0 && n >= 20 ? rd32(r, 16) : 0;
      return 0;
    }
    ++vb->versions_refused;
  }
  return -1;
}

int vmbus_request_offers(struct vmbus* vb) {
  uint8_t m[8] = {0};
  wr32(m, 0, VMBUS_REQUEST_OFFERS);
  vb->all_offers = false;
  if (vmbus_post(vb, 0, m, sizeof m) != 0) return -1;
  while (!vb->all_offers) vmbus_recv(vb, 0, 0);
  return (int)vb->offer_count;
}

struct vmbus_offer* vmbus_find_offer(struct vmbus* vb, const uint8_t type[16]) {
  for (uint32_t k = 0; k < vb->offer_count; ++k)
    if (!vb->offers[k].rescinded && memcmp(vb->offers[k].interface_type, type, 16) == 0)
      return &vb->offers[k];
  return 0;
}

uint32_t vmbus_create_gpadl(struct vmbus* vb, uint32_t relid, void* buf, uint32_t pages,
                            uint32_t* handle) {
  if (!vb->next_gpadl) vb->next_gpadl = 0xE1E10;
  uint32_t h = vb->next_gpadl++;
  *handle = h;
  uint64_t pfn0 = (uint64_t)(uintptr_t)buf >> 12;
  /* Header: at most 26 PFNs (Linux create_gpadl_header), then bodies of 28. */
  uint8_t m[VMBUS_MSG_MAX];
  uint32_t here = pages < 26 ? pages : 26;
  memset(m, 0, sizeof m);
  wr32(m, 0, VMBUS_GPADL_HEADER);
  wr32(m, 8, relid);
  wr32(m, 12, h);
  wr16(m, 16, (uint16_t)(8 + 8 * pages)); /* range_buflen */
  wr16(m, 18, 1);                         /* rangecount */
  wr32(m, 20, pages * 4096);              /* byte_count */
  wr32(m, 24, 0);                         /* byte_offset */
  for (uint32_t k = 0; k < here; ++k) wr64(m, 28 + 8 * k, pfn0 + k);
  if (vmbus_post(vb, 0, m, 28 + 8 * here) != 0) return ~0u;
  for (uint32_t k = here; k < pages; k += 28) {
    uint32_t n = pages - k < 28 ? pages - k : 28;
    memset(m, 0, sizeof m);
    wr32(m, 0, VMBUS_GPADL_BODY);
    wr32(m, 12, h);
    for (uint32_t j = 0; j < n; ++j) wr64(m, 16 + 8 * j, pfn0 + k + j);
    if (vmbus_post(vb, 0, m, 16 + 8 * n) != 0) return ~0u;
  }
  uint8_t r[VMBUS_MSG_MAX];
  uint32_t n;
  for (;;) {
    if (vmbus_wait(vb, VMBUS_GPADL_CREATED, r, &n) != 0 || n < 20) return ~0u;
    if (rd32(r, 12) == h) return rd32(r, 16);
  }
}

uint32_t vmbus_open(struct vmbus* vb, uint32_t relid, uint32_t gpadl, uint32_t downstream,
                    uint32_t target_vp) {
  uint8_t m[148];
  memset(m, 0, sizeof m);
  wr32(m, 0, VMBUS_OPEN_CHANNEL);
  wr32(m, 8, relid);
  wr32(m, 12, relid); /* openid: the relid, as Linux */
  wr32(m, 16, gpadl);
  wr32(m, 20, target_vp);
  wr32(m, 24, downstream);
  if (vmbus_post(vb, 0, m, sizeof m) != 0) return ~0u;
  uint8_t r[VMBUS_MSG_MAX];
  uint32_t n;
  for (;;) {
    if (vmbus_wait(vb, VMBUS_OPEN_RESULT, r, &n) != 0 || n < 20) return ~0u;
    if (rd32(r, 8) == relid && rd32(r, 12) == relid) return rd32(r, 16);
  }
}

void vmbus_close(struct vmbus* vb, uint32_t relid) {
  uint8_t m[12];
  memset(m, 0, sizeof m);
  wr32(m, 0, VMBUS_CLOSE_CHANNEL);
  wr32(m, 8, relid);
  vmbus_post(vb, 0, m, sizeof m);
}

int vmbus_teardown_gpadl(struct vmbus* vb, uint32_t relid, uint32_t handle) {
  uint8_t m[16];
  memset(m, 0, sizeof m);
  wr32(m, 0, VMBUS_GPADL_TEARDOWN);
  wr32(m, 8, relid);
  wr32(m, 12, handle);
  if (vmbus_post(vb, 0, m, sizeof m) != 0) return -1;
  uint8_t r[VMBUS_MSG_MAX];
  uint32_t n;
  if (vmbus_recv(vb, r, &n) != VMBUS_GPADL_TORNDOWN || n < 12 || rd32(r, 8) != handle) return -1;
  return 0;
}

int vmbus_unload(struct vmbus* vb) {
  uint8_t m[8] = {0};
  wr32(m, 0, VMBUS_UNLOAD);
  if (vmbus_post(vb, 0, m, sizeof m) != 0) return -1;
  int r = vmbus_wait(vb, VMBUS_UNLOAD_RESPONSE, 0, 0);
  vb->version = 0;
  vb->offer_count = 0;
  vb->all_offers = false;
  return r;
}

uint16_t vmbus_signal(uint32_t connection_id) {
  return hv_hypercall(hypercall_page, HV_CALL_SIGNAL_EVENT | HV_INPUT_FAST, connection_id, 0) &
         0xFFFF;
}

bool vmbus_take_event(uint32_t relid) {
  volatile uint8_t* b = &sief[VMBUS_SINT][relid / 8];
  uint8_t bit = (uint8_t)(1u << (relid % 8));
  if (!(*b & bit)) return false;
  *b &= (uint8_t)~bit;
  return true;
}

volatile uint8_t* vmbus_monitor_page(int k) {
  return monitor_pages[k & 1];
}

uint16_t vmbus_setevent(const struct vmbus_offer* o) {
  if (!o->monitor_allocated || o->monitor_id >= 128) return vmbus_signal(o->connection_id);
  /* trigger_group[g] is {u32 pending, u32 armed} at 0x008 + 8 g; a locked bit set, as
   * Linux's sync_set_bit, since the host may clear the word at any time. */
  volatile uint32_t* pending =
      (volatile uint32_t*)(monitor_pages[1] + 0x008 + 8 * (o->monitor_id / 32));
  uint32_t bit = o->monitor_id % 32;
  __asm__ volatile("lock btsl %1, %0" : "+m"(*pending) : "Ir"(bit) : "memory");
  return 0;
}
