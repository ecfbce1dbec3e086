/* hv_synic: a child-partition kernel that checks hvsim's SynIC, synthetic timers and
 * HvPostMessage/HvSignalEvent from inside (TLFS inter-partition-communication.md, timers.md;
 * spec/hyperv-interfaces.md §2, §3.6, §4, §5.3): the CPUID privileges, the SynIC and timer
 * MSRs with their #GP rules, the SIM and SIEF overlay pages, messages posted to itself with
 * MessagePending and EOM redelivery, buffer exhaustion, event flags, every status of the two
 * hypercalls, and one-shot and periodic timers firing at the right reference time (also after
 * missed periods).
 *
 * It needs ports and connections that the host creates before the run (tests/
 * test_hyperv_synic.py, through Machine.create_port / connect):
 *   connection 1 -> message port 0x100 (this VP, SINT2)
 *   connection 2 -> event port 0x101 (SINT2, flags 16-23)
 *   connection 3 -> event port 0x102 (SINT5, left masked)
 *   connection 4 -> message port 0x103 (SINT4)
 *   connection 5 -> message port 0x104, deleted by the host
 * The first part runs with interrupts off and reads its message slots and event flags; the
 * last (check_interrupts) takes the SINT vectors through its x2APIC: a message, an event and
 * an EOM redelivery each interrupt, AutoEOI leaves nothing in service, one-shot message and
 * direct-mode timers wake HLT at their deadline, a periodic timer interrupts once a period,
 * and a masked SINT gets its message without an interrupt. With testdev=1 it drives the
 * Hyper-V test device at port 0x3000 (check_testdev; Machine(hyperv_testdev=True)); with
 * messages=N it then measures N message round trips (bench_messages). */
#include "kit/expect.h"
#include "kit/hypercall.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/hyperv.h"

struct timer_payload {
  uint32_t index;
  uint32_t reserved;
  uint64_t expiration;
  uint64_t delivery;
};

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static volatile struct hv_message sim[16] __attribute__((aligned(4096)));
static volatile uint8_t sief[16][256] __attribute__((aligned(4096)));
static uint8_t hc_input[4096] __attribute__((aligned(4096)));

void handle_exception(struct frame* f) {
  if (!expected_exception(f)) default_exception(f);
}

static uint64_t hypercall(uint64_t input, uint64_t rdx, uint64_t r8) {
  return hv_hypercall(hypercall_page, input, rdx, r8) & 0xFFFF;
}

static uint64_t now(void) {
  return rdmsr(HV_MSR_TIME_REF_COUNT);
}

/* HvPostMessage with the input block at hc_input (dossier §3.6). */
static uint64_t post(uint32_t connection, uint32_t type, uint32_t size, const char* text) {
  volatile uint32_t* in = (volatile uint32_t*)hc_input;
  in[0] = connection;
  in[1] = 0;
  in[2] = type;
  in[3] = size;
  for (uint32_t k = 0; k < 240; ++k) hc_input[16 + k] = (text && k < size) ? (uint8_t)text[k] : 0;
  return hypercall(HV_CALL_POST_MESSAGE, (uint64_t)(uintptr_t)hc_input, 0);
}

/* Fast HvSignalEvent as Linux issues it: RDX = ConnectionId | FlagNumber << 32. */
static uint64_t signal(uint32_t connection, uint16_t flag) {
  return hypercall(HV_CALL_SIGNAL_EVENT | HV_INPUT_FAST, connection | ((uint64_t)flag << 32), 0);
}

/* The guest's side of a message slot (Linux vmbus_signal_eom): free it, then EOM if more
 * messages are pending. */
static void consume(unsigned x) {
  uint8_t pending = sim[x].flags & HV_MESSAGE_FLAG_PENDING;
  sim[x].type = 0;
  if (pending) wrmsr(HV_MSR_EOM, 0);
}

/* Makes VM exits (the hypervisor delivers timer messages before re-entering) until slot x
 * holds a message or `limit` reference-time units pass; the reference time at return. */
static uint64_t wait_slot(unsigned x, uint64_t limit) {
  uint64_t t0 = now(), t = t0;
  while (sim[x].type == 0 && t - t0 < limit) t = now();
  return t;
}

static struct timer_payload timer_message(unsigned x) {
  struct timer_payload p;
  memcpy(&p, (const void*)sim[x].payload.bytes, sizeof p);
  return p;
}

static void check_msrs(void) {
  check(rdmsr(HV_MSR_SCONTROL) == 0 && rdmsr(HV_MSR_SIMP) == 0 && rdmsr(HV_MSR_SIEFP) == 0,
        "SCONTROL, SIMP, SIEFP start at 0");
  check(rdmsr(HV_MSR_SVERSION) == 1, "SVERSION 1");
  bool masked = true;
  for (unsigned x = 0; x < 16; ++x) masked = masked && rdmsr(HV_MSR_SINT(x)) == SINT_MASKED;
  check(masked, "every SINT starts masked (0x10000)");
  check(rdmsr(HV_MSR_EOM) == 0, "EOM reads 0");
  check(wrmsr_faults(HV_MSR_SVERSION, 2), "SVERSION is read-only: #GP");
  check(wrmsr_faults(HV_MSR_SCONTROL, 2), "SCONTROL reserved bit: #GP");
  check(wrmsr_faults(HV_MSR_SIMP, 0x1000 | 1 | 4), "SIMP reserved bit: #GP");
  check(wrmsr_faults(HV_MSR_SIEFP, 0x1000 | 0x800), "SIEFP reserved bit: #GP");
  check(wrmsr_faults(HV_MSR_SINT(2), 0x0F), "SINT vector 15 unmasked: #GP");
  check(wrmsr_faults(HV_MSR_SINT(2), 0x00 | SINT_POLLING), "SINT vector 0 polled: #GP");
  check(wrmsr_faults(HV_MSR_SINT(2), 0xF3 | 0x100), "SINT reserved bit 8: #GP");
  check(wrmsr_faults(HV_MSR_SINT(2), 0xF3 | (1ull << 19)), "SINT AsIntercept: #GP");
  check(rdmsr_faults(HV_MSR_SIRBP), "SIRBP is not offered: #GP");
  wrmsr(HV_MSR_SINT(7), SINT_MASKED); /* vector 0 while masked: the reset value is writable */
  check(rdmsr(HV_MSR_SINT(7)) == SINT_MASKED, "masked SINT with vector 0 is accepted");
  wrmsr(HV_MSR_SINT(6), 0x66 | SINT_POLLING);
  check(rdmsr(HV_MSR_SINT(6)) == (0x66 | SINT_POLLING), "polling mode (EDX bit 17)");
  check(wrmsr_faults(HV_MSR_STIMER_CONFIG(0), 1ull << 13), "STIMER0_CONFIG bit 13: #GP");
  check(wrmsr_faults(HV_MSR_STIMER_CONFIG(3), 1ull << 20), "STIMER3_CONFIG bit 20: #GP");
  check(wrmsr_faults(HV_MSR_STIMER_CONFIG(0), STIMER_ENABLE | STIMER_DIRECT | (0x0Full << 4)),
        "direct mode with vector 15: #GP");
  check(rdmsr_faults(0x400000B8), "no STIMER4: #GP");
}

static void check_pages(void) {
  /* The guest's own pages hold a pattern; the overlays hide it and show zeroed pages. */
  ((volatile uint8_t*)sim)[100] = 0xAA;
  sief[3][7] = 0xBB;
  uint64_t simp = (uint64_t)(uintptr_t)sim, siefp = (uint64_t)(uintptr_t)sief;
  wrmsr(HV_MSR_SIMP, simp | 1);
  check(rdmsr(HV_MSR_SIMP) == (simp | 1), "SIMP enabled at 0x%lx", (unsigned long)simp);
  check(((volatile uint8_t*)sim)[100] == 0, "the SIM overlay hides the guest's page");
  check(wrmsr_faults(HV_MSR_SIEFP, simp | 1), "SIEF page over the SIM page: #GP");
  wrmsr(HV_MSR_GUEST_OS_ID, 1ull << 63);
  check(wrmsr_faults(HV_MSR_HYPERCALL, simp | 1), "hypercall page over the SIM page: #GP");
  check(wrmsr_faults(HV_MSR_REFERENCE_TSC, simp | 1), "TSC page over the SIM page: #GP");
  wrmsr(HV_MSR_GUEST_OS_ID, 0);
  wrmsr(HV_MSR_SIEFP, siefp | 1);
  check(sief[3][7] == 0, "the SIEF overlay hides the guest's page");
  sief[3][7] = 0x11; /* read/write for the guest, like RAM */
  check(sief[3][7] == 0x11, "the SIEF page is writable");
  sief[3][7] = 0;
  wrmsr(HV_MSR_SIMP, simp);
  check(((volatile uint8_t*)sim)[100] == 0xAA, "SIMP disabled: the guest's page is back");
  /* Beyond the GPA space the page is not accessible (TLFS "SIMP Register"), no fault. */
  wrmsr(HV_MSR_SIMP, (1ull << 45) | 1);
  check(rdmsr(HV_MSR_SIMP) == ((1ull << 45) | 1), "SIMP beyond the GPA space is accepted");
  wrmsr(HV_MSR_SIMP, simp | 1);
  ((volatile uint8_t*)sim)[100] = 0;
}

static void check_messages(void) {
  uint64_t st = post(1, 7, 12, "hello synic");
  check(st == HV_STATUS_INVALID_SYNIC_STATE, "SCONTROL off: INVALID_SYNIC_STATE (%lu)",
        (unsigned long)st);
  wrmsr(HV_MSR_SCONTROL, 1);
  wrmsr(HV_MSR_SINT(2), 0xF3 | SINT_AUTO_EOI);
  st = post(1, 7, 12, "hello synic");
  check(st == HV_STATUS_SUCCESS, "HvPostMessage to itself: status %lu", (unsigned long)st);
  check(sim[2].type == 7 && sim[2].size == 12 && sim[2].flags == 0 && sim[2].sender == 0x100,
        "slot 2: type %u, size %u, flags %u, sender 0x%lx", sim[2].type, sim[2].size, sim[2].flags,
        (unsigned long)sim[2].sender);
  check(memcmp((const void*)sim[2].payload.bytes, "hello synic", 12) == 0, "slot 2 payload");
  check(post(1, 8, 4, "two") == HV_STATUS_SUCCESS && post(1, 9, 6, "three") == HV_STATUS_SUCCESS,
        "two more messages queued");
  check(sim[2].type == 7 && (sim[2].flags & HV_MESSAGE_FLAG_PENDING),
        "slot busy: MessagePending set");
  wrmsr(HV_MSR_EOM, 0);
  check(sim[2].type == 7, "EOM with the slot still busy delivers nothing");
  consume(2);
  check(sim[2].type == 8 && (sim[2].flags & HV_MESSAGE_FLAG_PENDING) &&
            memcmp((const void*)sim[2].payload.bytes, "two", 4) == 0,
        "EOM redelivers the second (still pending)");
  consume(2);
  check(sim[2].type == 9 && !(sim[2].flags & HV_MESSAGE_FLAG_PENDING), "then the third, the last");
  consume(2);
  check(sim[2].type == 0, "empty queue: the slot stays free");

  /* Statuses. */
  check(post(99, 1, 1, "x") == HV_STATUS_INVALID_CONNECTION_ID, "unknown connection");
  check(post(1 | (1u << 24), 1, 1, "x") == HV_STATUS_INVALID_CONNECTION_ID,
        "connection id beyond 24 bits");
  check(post(2, 1, 1, "x") == HV_STATUS_INVALID_PORT_ID, "an event port: INVALID_PORT_ID");
  check(post(5, 1, 1, "x") == HV_STATUS_INVALID_PORT_ID, "a deleted port: INVALID_PORT_ID");
  check(post(1, 0, 1, "x") == HV_STATUS_INVALID_PARAMETER, "message type 0");
  check(post(1, 0x80000001u, 1, "x") == HV_STATUS_INVALID_PARAMETER, "message type bit 31");
  check(post(1, 1, 241, 0) == HV_STATUS_INVALID_PARAMETER, "payload of 241 bytes");
  volatile uint32_t* in = (volatile uint32_t*)hc_input;
  in[1] = 1;
  st = hypercall(HV_CALL_POST_MESSAGE, (uint64_t)(uintptr_t)hc_input, 0);
  in[1] = 0;
  check(st == HV_STATUS_INVALID_PARAMETER, "RsvdZ at offset 4: %lu", (unsigned long)st);
  st = hypercall(HV_CALL_POST_MESSAGE, 0x7F00000000ull, 0);
  check(st == HV_STATUS_INVALID_ALIGNMENT, "input outside the partition: %lu", (unsigned long)st);
  st = hypercall(HV_CALL_POST_MESSAGE | HV_INPUT_FAST, 1, 0);
  check(st == HV_STATUS_INVALID_HYPERCALL_INPUT, "fast HvPostMessage: %lu", (unsigned long)st);
  check(sim[2].type == 0, "no failed post reached the slot");

  /* 16 guest message buffers per port: one message in the slot, 16 waiting, then full. */
  unsigned ok = 0;
  for (unsigned k = 0; k < 17; ++k) ok += post(4, 1, 1, "m") == HV_STATUS_SUCCESS;
  st = post(4, 1, 1, "m");
  check(ok == 17 && st == HV_STATUS_INSUFFICIENT_BUFFERS,
        "%u posts to port 0x103, then INSUFFICIENT_BUFFERS (%lu)", ok, (unsigned long)st);
  unsigned drained = 0;
  while (sim[4].type != 0 && drained < 40) {
    consume(4);
    ++drained;
  }
  check(drained == 17, "EOM drained all 17 in order (%u)", drained);
  check(post(4, 1, 1, "m") == HV_STATUS_SUCCESS, "buffers free again");
  consume(4);
}

static void check_events(void) {
  uint64_t st = signal(2, 3);
  check(st == HV_STATUS_SUCCESS, "HvSignalEvent (fast): status %lu", (unsigned long)st);
  check(sief[2][2] == 0x08 && sief[2][0] == 0 && sief[2][1] == 0,
        "flag 16 + 3 = 19 set in SINT2's bitmap (byte 2 = 0x%x)", sief[2][2]);
  check(signal(2, 3) == HV_STATUS_SUCCESS && sief[2][2] == 0x08, "again: still one flag");
  check(signal(2, 8) == HV_STATUS_INVALID_PARAMETER, "flag 8 of a port of 8: INVALID_PARAMETER");
  check(signal(3, 0) == HV_STATUS_INVALID_SYNIC_STATE, "masked SINT5: INVALID_SYNIC_STATE");
  check(signal(1, 0) == HV_STATUS_INVALID_PORT_ID, "a message port: INVALID_PORT_ID");
  check(signal(77, 0) == HV_STATUS_INVALID_CONNECTION_ID, "unknown connection");
  st = hypercall(HV_CALL_SIGNAL_EVENT | HV_INPUT_FAST, 2 | (1ull << 48), 0);
  check(st == HV_STATUS_INVALID_PARAMETER, "RsvdZ bits 63:48: %lu", (unsigned long)st);
  *(volatile uint64_t*)hc_input = 2 | (7ull << 32);
  st = hypercall(HV_CALL_SIGNAL_EVENT, (uint64_t)(uintptr_t)hc_input, 0);
  check(st == HV_STATUS_SUCCESS && sief[2][2] == 0x88, "memory-based HvSignalEvent: flag 23");
  sief[2][2] = 0;
}

static void check_timers(void) {
  /* SINT3 unmasked for timer messages; SINT2 as Linux programs it. */
  wrmsr(HV_MSR_SINT(3), 0x53);

  /* One-shot, the way Linux programs STIMER0 (AutoEnable, COUNT = now + delta). */
  wrmsr(HV_MSR_STIMER_CONFIG(0), STIMER_AUTO_ENABLE | STIMER_SINT(2));
  check(rdmsr(HV_MSR_STIMER_CONFIG(0)) == (STIMER_AUTO_ENABLE | STIMER_SINT(2)),
        "STIMER0 configured, not yet enabled");
  uint64_t deadline = now() + 2000; /* 200 us */
  wrmsr(HV_MSR_STIMER_COUNT(0), deadline);
  check(rdmsr(HV_MSR_STIMER_CONFIG(0)) & STIMER_ENABLE, "COUNT with AutoEnable enables it");
  uint64_t seen = wait_slot(2, 20000);
  struct timer_payload p = timer_message(2);
  check(sim[2].type == HV_MESSAGE_TIMER_EXPIRED && sim[2].size == 24, "TimerExpired in slot 2");
  check(p.index == 0 && p.expiration == deadline, "timer 0, ExpirationTime %lu (deadline %lu)",
        (unsigned long)p.expiration, (unsigned long)deadline);
  check(p.delivery >= deadline && p.delivery <= seen && p.delivery - deadline < 100,
        "DeliveryTime %lu: not early, at most 10 us late", (unsigned long)p.delivery);
  check(!(rdmsr(HV_MSR_STIMER_CONFIG(0)) & STIMER_ENABLE), "a one-shot timer disables itself");
  consume(2);

  /* Periodic, 100 us, on SINT3. */
  const uint64_t period = 1000;
  wrmsr(HV_MSR_STIMER_COUNT(1), period);
  uint64_t before = now();
  wrmsr(HV_MSR_STIMER_CONFIG(1), STIMER_ENABLE | STIMER_PERIODIC | STIMER_SINT(3));
  uint64_t after = now();
  uint64_t exp[3];
  for (unsigned k = 0; k < 3; ++k) {
    wait_slot(3, 10 * period);
    p = timer_message(3);
    uint32_t type = sim[3].type;
    consume(3); /* before printing, which takes time */
    exp[k] = p.expiration;
    check(type == HV_MESSAGE_TIMER_EXPIRED && p.index == 1 && p.delivery >= p.expiration,
          "periodic expiration %u at %lu, delivered %lu", k, (unsigned long)p.expiration,
          (unsigned long)p.delivery);
  }
  check(exp[0] >= before + period && exp[0] <= after + period,
        "first period starts when the timer is enabled");
  check(exp[1] - exp[0] == period && exp[2] - exp[1] == period, "exactly one period apart");

  /* Missed periods: leave the slot busy for 5 periods. The next message was kept in the
   * timer's own buffer; the periods in between are skipped; the grid stays. */
  wait_slot(3, 10 * period);
  uint64_t first = timer_message(3).expiration;
  uint64_t t0 = now();
  while (now() - t0 < 5 * period) {
  }
  check(sim[3].flags & HV_MESSAGE_FLAG_PENDING,
        "slot busy while the timer expired again: MessagePending");
  consume(3);
  p = timer_message(3);
  check(sim[3].type == HV_MESSAGE_TIMER_EXPIRED && p.expiration == first + period,
        "EOM delivers the buffered expiration (%lu)", (unsigned long)p.expiration);
  consume(3);
  wait_slot(3, 10 * period);
  p = timer_message(3);
  wrmsr(HV_MSR_STIMER_CONFIG(1), 0); /* at once, before another period can pass */
  check(p.expiration > first + period && (p.expiration - first) % period == 0,
        "after the skipped ones the timer is back on its grid (%lu)", (unsigned long)p.expiration);
  consume(3);
  uint64_t t1 = now();
  while (now() - t1 < 3 * period) {
  }
  check(sim[3].type == 0, "disabled: no more expirations");

  /* Message mode aimed at SINT0 disables itself; COUNT = 0 stops a timer. */
  wrmsr(HV_MSR_STIMER_COUNT(2), now() + 100000);
  wrmsr(HV_MSR_STIMER_CONFIG(2), STIMER_ENABLE);
  check(!(rdmsr(HV_MSR_STIMER_CONFIG(2)) & STIMER_ENABLE), "SINTx 0: Enable cleared");
  wrmsr(HV_MSR_STIMER_CONFIG(2), STIMER_ENABLE | STIMER_SINT(2));
  wrmsr(HV_MSR_STIMER_COUNT(2), 0);
  check(!(rdmsr(HV_MSR_STIMER_CONFIG(2)) & STIMER_ENABLE), "COUNT 0 stops the timer");
}

/* ---- interrupts ---- */

#define SINT2_VECTOR 0xF3 /* AutoEOI, as Linux's VMBus SINT without recommendation bit 9 */
#define SINT3_VECTOR 0x53 /* explicit EOI through the Hyper-V EOI MSR */
#define DIRECT_VECTOR 0xED

static volatile unsigned sint2_irqs, sint3_irqs, direct_irqs;
static volatile uint32_t sint2_type;   /* slot 2's MessageType when SINT2 interrupted */
static volatile uint64_t sint3_exp[8]; /* ExpirationTime of each SINT3 timer message */
static volatile struct timer_payload sint2_timer;

static void on_sint2(struct frame* f) {
  (void)f;
  sint2_type = sim[2].type;
  if (sint2_type == HV_MESSAGE_TIMER_EXPIRED) sint2_timer = timer_message(2);
  ++sint2_irqs; /* AutoEOI: no EOI */
}

static void on_sint3(struct frame* f) {
  (void)f;
  if (sint3_irqs < 8) sint3_exp[sint3_irqs] = timer_message(3).expiration;
  ++sint3_irqs;
  consume(3);
  wrmsr(HV_MSR_EOI, 0);
}

static void on_direct(struct frame* f) {
  (void)f;
  ++direct_irqs;
  wrmsr(0x80B, 0); /* x2APIC EOI */
}

static void check_interrupts(void) {
  /* x2APIC on and software-enabled (SVR), handlers for the SINT and direct-timer vectors. */
  wrmsr(0x1B, rdmsr(0x1B) | 0xC00);
  wrmsr(0x80F, 0x1FF);
  intr_init();
  intr_set_handler(SINT2_VECTOR, on_sint2);
  intr_set_handler(SINT3_VECTOR, on_sint3);
  intr_set_handler(DIRECT_VECTOR, on_direct);
  /* What the earlier parts raised while the APIC was off may be pending: let it in, then
   * count from zero. */
  __asm__ volatile("sti; nop; nop; cli" ::: "memory");
  sint2_irqs = sint3_irqs = direct_irqs = 0;
  __asm__ volatile("sti" ::: "memory");

  uint64_t st = post(1, 7, 5, "irq!");
  unsigned irqs = sint2_irqs;
  check(st == HV_STATUS_SUCCESS && irqs == 1 && sint2_type == 7,
        "a posted message interrupts on SINT2 with the message in its slot (%u)", irqs);
  consume(2);
  check(signal(2, 4) == HV_STATUS_SUCCESS && sint2_irqs == 2, "a new event flag interrupts");
  check(signal(2, 4) == HV_STATUS_SUCCESS && sint2_irqs == 2, "a flag already set does not");
  sief[2][2] = 0;
  check(signal(2, 4) == HV_STATUS_SUCCESS && sint2_irqs == 3, "cleared and set again: it does");
  sief[2][2] = 0;
  check(post(1, 8, 1, "a") == HV_STATUS_SUCCESS && post(1, 9, 1, "b") == HV_STATUS_SUCCESS &&
            sint2_irqs == 4,
        "two messages: one interrupt while the second waits");
  consume(2);
  check(sint2_irqs == 5 && sim[2].type == 9, "EOM delivers the second and interrupts again");
  consume(2);
  check(post(4, 1, 1, "m") == HV_STATUS_SUCCESS && sim[4].type == 1 && sint2_irqs == 5 &&
            sint3_irqs == 0,
        "a masked SINT gets its message, no interrupt");
  consume(4);

  /* One-shot message-mode timer on SINT2: HLT until it interrupts. */
  uint64_t deadline = now() + 5000;
  wrmsr(HV_MSR_STIMER_COUNT(0), deadline); /* STIMER0 still AutoEnable | SINTx 2 */
  while (sint2_irqs == 5) hlt();
  uint64_t woke = now();
  check(sint2_type == HV_MESSAGE_TIMER_EXPIRED && sint2_timer.index == 0 &&
            sint2_timer.expiration == deadline,
        "STIMER0 woke HLT with its message (expiration %lu)",
        (unsigned long)sint2_timer.expiration);
  check(
      sint2_timer.delivery >= deadline && sint2_timer.delivery - deadline <= 2 && woke >= deadline,
      "delivered at %lu for a deadline of %lu, awake at %lu", (unsigned long)sint2_timer.delivery,
      (unsigned long)deadline, (unsigned long)woke);
  consume(2);

  /* Direct mode: the vector itself, no message. */
  wrmsr(HV_MSR_STIMER_CONFIG(1),
        STIMER_DIRECT | ((uint64_t)DIRECT_VECTOR << 4) | STIMER_AUTO_ENABLE);
  deadline = now() + 3000;
  wrmsr(HV_MSR_STIMER_COUNT(1), deadline);
  while (direct_irqs == 0) hlt();
  woke = now();
  bool quiet = true;
  for (unsigned x = 0; x < 16; ++x) quiet = quiet && sim[x].type == 0;
  check(direct_irqs == 1 && woke >= deadline && woke - deadline < 100 && quiet,
        "direct-mode STIMER1: vector 0x%x at %lu (deadline %lu), no message", DIRECT_VECTOR,
        (unsigned long)woke, (unsigned long)deadline);

  /* Periodic on SINT3, explicit EOI: one interrupt per period, exactly on the grid. */
  const uint64_t period = 2000;
  wrmsr(HV_MSR_STIMER_COUNT(2), period);
  wrmsr(HV_MSR_STIMER_CONFIG(2), STIMER_ENABLE | STIMER_PERIODIC | STIMER_SINT(3));
  while (sint3_irqs < 5) hlt();
  wrmsr(HV_MSR_STIMER_CONFIG(2), 0);
  bool grid = true;
  for (unsigned k = 1; k < 5; ++k) grid = grid && sint3_exp[k] - sint3_exp[k - 1] == period;
  check(sint3_irqs == 5 && grid, "periodic STIMER2: 5 interrupts, one period (%lu) apart",
        (unsigned long)period);
  __asm__ volatile("cli" ::: "memory");
}

/* The Hyper-V test device at port 0x3000 (testdev=1; QEMU's hyperv-testdev protocol):
 * (conn << 24) | (command << 16) | (vp << 8) | sint. SINT2 is vector 0xF3 with AutoEOI. */
static void testdev(uint8_t conn, uint8_t command, uint8_t vp, uint8_t sint) {
  outl(0x3000, ((uint32_t)conn << 24) | ((uint32_t)command << 16) | ((uint32_t)vp << 8) | sint);
}

static void check_testdev(void) {
  __asm__ volatile("sti" ::: "memory");
  unsigned n = sint2_irqs;
  testdev(0, 3, 0, 2); /* assert before the route exists: nothing */
  check(sint2_irqs == n, "testdev: no SINT route, no interrupt");
  testdev(0, 1, 0, 2); /* route to VP 0 SINT2 */
  testdev(0, 3, 0, 2);
  testdev(0, 3, 0, 2);
  check(sint2_irqs == n + 2, "testdev: each assert of the route interrupts on SINT2 (%u)",
        sint2_irqs - n);
  testdev(0, 2, 0, 2); /* destroy the route */
  testdev(0, 3, 0, 2);
  check(sint2_irqs == n + 2, "testdev: destroyed route, no interrupt");
  testdev(7, 4, 0, 2); /* message connection 7 -> VP 0 SINT2 */
  uint64_t st = post(7, 0x44, 4, "echo");
  check(st == HV_STATUS_SUCCESS && sim[2].type == 0x44 && sint2_irqs == n + 3,
        "testdev: a message posted on connection 7 arrives in SINT2's slot and interrupts");
  consume(2);
  testdev(7, 5, 0, 0);
  check(post(7, 0x44, 4, "echo") == HV_STATUS_INVALID_CONNECTION_ID,
        "testdev: destroyed message connection: INVALID_CONNECTION_ID");
  testdev(8, 6, 0, 2); /* event connection 8 -> VP 0 SINT2: every signal interrupts */
  check(
      signal(8, 0) == HV_STATUS_SUCCESS && signal(8, 0) == HV_STATUS_SUCCESS && sint2_irqs == n + 5,
      "testdev: each HvSignalEvent on connection 8 asserts SINT2 (%u)", sint2_irqs - n);
  testdev(8, 7, 0, 0);
  check(signal(8, 0) == HV_STATUS_INVALID_CONNECTION_ID,
        "testdev: destroyed event connection: INVALID_CONNECTION_ID");
  __asm__ volatile("cli" ::: "memory");
}

/* Benchmark (messages=N): N round trips of a message to itself: HvPostMessage on
 * connection 1, the SINT2 interrupt (AutoEOI) that delivery raises, the slot freed. Prints
 * "hv_msg_bench: N messages C cycles" (hvsim bench). */
static void bench_messages(uint64_t n) {
  volatile uint32_t* in = (volatile uint32_t*)hc_input;
  in[0] = 1; /* connection */
  in[1] = 0;
  in[2] = 7; /* message type */
  in[3] = 8; /* payload bytes */
  unsigned before = sint2_irqs;
  uint64_t failed = 0;
  __asm__ volatile("sti" ::: "memory");
  uint64_t c0 = rdtsc();
  for (uint64_t k = 0; k < n; ++k) {
    failed += hypercall(HV_CALL_POST_MESSAGE, (uint64_t)(uintptr_t)hc_input, 0) != 0;
    consume(2);
  }
  uint64_t cycles = rdtsc() - c0;
  __asm__ volatile("cli" ::: "memory");
  check(failed == 0 && sint2_irqs - before == n, "benchmark: %lu messages, each one interrupt",
        (unsigned long)n);
  printf("hv_msg_bench: %lu messages %lu cycles\n", (unsigned long)n, (unsigned long)cycles);
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  uint64_t bench = cmdline_u64(mb_cmdline(mb_info(mbi)), "messages", 0);
  uint64_t with_testdev = cmdline_u64(mb_cmdline(mb_info(mbi)), "testdev", 0);
  uint32_t r[4];
  cpuid(1, 0, r);
  if (!check(r[2] & (1u << 31), "CPUID.1:ECX[31]: a hypervisor is present"))
    return check_summary("hv_synic");
  cpuid(0x40000003, 0, r);
  check((r[0] & 0xC) == 0xC, "privileges: SynIC and synthetic timer MSRs (eax 0x%x)", r[0]);
  check((r[1] & 0x30) == 0x30, "privileges: PostMessages, SignalEvents (ebx 0x%x)", r[1]);
  check((r[3] & (1u << 17)) && (r[3] & (1u << 19)),
        "features: SINT polling, direct synthetic timers (edx 0x%x)", r[3]);
  check_msrs();
  check_pages();
  wrmsr(HV_MSR_GUEST_OS_ID, (1ull << 63) | (1ull << 56) | (0x60100ull << 16));
  wrmsr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);
  check_messages();
  check_events();
  check_timers();
  check_interrupts();
  if (with_testdev) check_testdev();
  if (bench) bench_messages(bench);
  return check_summary("hv_synic");
}
