/* hv_pingpong: two child partitions exchange messages and an event through ports and
 * connections the host created (spec/hyperv-interfaces.md §3.6, §4; tests/
 * test_hyperv_pingpong.py). Arguments: role=ping|pong, rounds=N (default 100).
 *
 *   ping: N times, HvPostMessage on connection 1 (to pong's SINT2) with a counter, then HLT
 *         until pong's answer arrives in its own SINT2 slot; the answer must be counter + 1.
 *         Then HvSignalEvent on connection 3 (its flag 0: flag 5 of pong's SINT3), prints its
 * summary and halts for good. pong: N times, HLT until a message arrives, answers with its payload
 * + 1 on connection 2 (to ping's SINT2); then HLT until flag 5 of SINT3 is set, prints its summary
 * and ends the run (debug exit). Both take the SINT interrupts (vectors 0xF2, 0xF3, AutoEOI)
 * through their x2APIC and sleep in HLT in between, so their VPs give the processor to each other.
 */
#include "kit/hypercall.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/hyperv.h"

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static volatile struct hv_message sim[16] __attribute__((aligned(4096)));
static volatile uint8_t sief[16][256] __attribute__((aligned(4096)));
static uint8_t hc_input[4096] __attribute__((aligned(4096)));
static volatile unsigned interrupts;

static void on_sint(struct frame* f) {
  (void)f;
  ++interrupts; /* AutoEOI: no EOI */
}

static uint64_t post(uint32_t connection, uint32_t type, uint64_t value) {
  volatile uint32_t* in = (volatile uint32_t*)hc_input;
  in[0] = connection;
  in[1] = 0;
  in[2] = type;
  in[3] = 8;
  *(volatile uint64_t*)(hc_input + 16) = value;
  return hv_hypercall(hypercall_page, HV_CALL_POST_MESSAGE, (uint64_t)(uintptr_t)hc_input, 0) &
         0xFFFF;
}

/* Sleeps until SINT2's slot holds a message; returns its payload and frees the slot. */
static uint64_t receive(uint32_t* type) {
  while (sim[2].type == 0) __asm__ volatile("sti; hlt; cli" ::: "memory");
  *type = sim[2].type;
  uint64_t v = sim[2].payload.qwords[0];
  uint8_t pending = sim[2].flags & 1;
  sim[2].type = 0;
  if (pending) wrmsr(0x40000084u, 0); /* EOM */
  return v;
}

static void setup(void) {
  wrmsr(HV_MSR_GUEST_OS_ID, (1ull << 63) | (1ull << 56));
  wrmsr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);
  wrmsr(0x1B, rdmsr(0x1B) | 0xC00); /* x2APIC */
  wrmsr(0x80F, 0x1FF);
  intr_init();
  intr_set_handler(0xF2, on_sint);
  intr_set_handler(0xF3, on_sint);
  wrmsr(HV_MSR_SIMP, (uint64_t)(uintptr_t)sim | 1);
  wrmsr(HV_MSR_SIEFP, (uint64_t)(uintptr_t)sief | 1);
  wrmsr(HV_MSR_SINT(2), 0xF2 | SINT_AUTO_EOI);
  wrmsr(HV_MSR_SINT(3), 0xF3 | SINT_AUTO_EOI);
  wrmsr(HV_MSR_SCONTROL, 1);
}

static int ping(uint64_t rounds) {
  uint64_t bad = 0, refused = 0;
  uint64_t c0 = rdtsc();
  for (uint64_t k = 0; k < rounds; ++k) {
    /* Pong may not be listening yet: its SynIC is off until it has set up. */
    while (post(1, 1, k) != 0) {
      ++refused;
      __asm__ volatile("pause");
    }
    uint32_t type;
    uint64_t v = receive(&type);
    if (type != 2 || v != k + 1) ++bad;
  }
  uint64_t cycles = rdtsc() - c0;
  /* A wrong answer ends the run here (debug exit 1): pong then never sees the event. */
  if (!check(bad == 0, "ping: %lu answers, each the counter + 1", (unsigned long)rounds))
    return check_summary("ping");
  printf("ping: %lu round trips %lu cycles (%lu posts refused before pong listened)\n",
         (unsigned long)rounds, (unsigned long)cycles, (unsigned long)refused);
  /* FlagNumber 0 of the event port, whose flags start at 5 in pong's SINT3 bitmap. */
  uint64_t st = hv_hypercall(hypercall_page, HV_CALL_SIGNAL_EVENT | HV_INPUT_FAST, 3, 0) & 0xFFFF;
  check(st == 0, "ping: event signalled (status %lu)", (unsigned long)st);
  check_summary("ping");
  __asm__ volatile("cli; hlt");
  return 0; /* never: HLT with interrupts off */
}

static int pong(uint64_t rounds) {
  uint64_t bad = 0;
  for (uint64_t k = 0; k < rounds; ++k) {
    uint32_t type;
    uint64_t v = receive(&type);
    if (type != 1 || v != k) ++bad;
    if (post(2, 2, v + 1) != 0) ++bad;
  }
  check(bad == 0, "pong: %lu messages in order, each answered", (unsigned long)rounds);
  while (!(sief[3][0] & (1u << 5))) __asm__ volatile("sti; hlt; cli" ::: "memory");
  check(true, "pong: flag 5 of SINT3 set by ping's event");
  check(interrupts >= rounds + 1, "pong: %u SINT interrupts", interrupts);
  return check_summary("pong");
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  const char* cmd = mb_cmdline(mb_info(mbi));
  uint64_t rounds = cmdline_u64(cmd, "rounds", 100);
  char role[8] = "ping";
  cmdline_get(cmd, "role", role, sizeof role);
  setup();
  return strcmp(role, "pong") == 0 ? pong(rounds) : ping(rounds);
}
