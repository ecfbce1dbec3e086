/* hv_hostile: a child-partition kernel that attacks hvsim's hypervisor with deterministic
 * random input (issue 5 "hostile-guest suite"). Arguments: role=victim|attacker, seed=N,
 * iterations=N (default 20000).
 *
 * victim: fills 256 KiB of its memory with a secret derived from the seed, then halts with
 * interrupts off for good. The host checks afterwards that every byte is still there.
 *
 * attacker: sets up the hypercall page and the SynIC, then per iteration does one of:
 *   - a hypercall with a random input value (call code, fast bit, variable header size, rep
 *     count and start, reserved bits) and random input/output GPAs (its own pages,
 *     overlapping ones, unaligned, across a page, beyond its memory, huge);
 *   - RDMSR/WRMSR of a random synthetic MSR with a random value (the overlay MSRs only
 *     at scratch pages or beyond its memory, so that it keeps its own code and data);
 *   - a write of a random command to the test device at port 0x3000;
 *   - an MMIO read or write at a random address where it has no memory, between its memory
 *     and the IOAPIC (writes never reach the IOAPIC, HPET or LAPIC pages);
 * and reads back what it can read looking for the victim's secret. Every hypercall must
 * return a TLFS status, every MSR access succeed or #GP; the simulator must never stop. It
 * prints the statuses seen and "secret found 0 times" (a count it checks to be 0). */
#include "kit/expect.h"
#include "kit/hypercall.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/hyperv.h"

#define SECRET_BYTES (256u * 1024)
#define SCRATCH_PAGES 16

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static uint8_t sim_page[4096] __attribute__((aligned(4096)));
static uint8_t sief_page[4096] __attribute__((aligned(4096)));
static uint8_t io_pages[2][4096] __attribute__((aligned(4096)));
static uint8_t scratch[SCRATCH_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t secret_area[SECRET_BYTES] __attribute__((aligned(4096)));

static uint64_t rng_state;

static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

/* The secret's 8-byte word at index k: no run of zeros or ones, unlikely anywhere else. */
static uint64_t secret_word(uint64_t seed, uint64_t k) {
  uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (k * 0xC2B2AE3D27D4EB4Full);
  x ^= x >> 31;
  return x | 0x0101010101010101ull;
}

void handle_exception(struct frame* f) {
  if (!expected_exception(f)) default_exception(f);
}

static uint64_t ram_end; /* end of the partition's memory (from the Multiboot map) */

/* A GPA for a hypercall operand. */
static uint64_t random_gpa(void) {
  uint64_t own = (uint64_t)(uintptr_t)io_pages[0];
  switch (rnd() % 8) {
    case 0: return own;
    case 1: return own + 4096;           /* the second page: fine, or overlapping with the first */
    case 2: return own + (rnd() % 4096); /* unaligned, maybe across a page */
    case 3: return ram_end + (rnd() % (1ull << 30)) * 8; /* beyond its memory */
    case 4: return rnd();                                /* anything, 64 bits */
    case 5: return rnd() & ((1ull << 40) - 8);           /* below the GPA width */
    case 6: return (uint64_t)(uintptr_t)secret_area + (rnd() % SECRET_BYTES & ~7ull);
    default: return 0;
  }
}

static unsigned statuses[0x80], odd_statuses;

static void random_hypercall(void) {
  /* The call code: half the time one hvsim offers (flushes, NotifyLongSpinWait, PostMessage,
   * SignalEvent) or a neighbour of one, else any code of the first 256. */
  static const uint16_t kCodes[] = {0x0002, 0x0003, 0x0008, 0x000B, 0x0015, 0x005C, 0x005D};
  uint64_t input = rnd() % 2 ? kCodes[rnd() % (sizeof kCodes / sizeof kCodes[0])] : rnd() % 0x100;
  if (rnd() % 2) input |= 1ull << 16;                          /* fast */
  if (rnd() % 8 == 0) input |= (rnd() % 0x40) << 17;           /* variable header */
  if (rnd() % 4 == 0) input |= (rnd() % 0x1000) << 32;         /* rep count */
  if (rnd() % 8 == 0) input |= (rnd() % 0x1000) << 48;         /* rep start */
  if (rnd() % 16 == 0) input |= rnd() & 0xF000F000F800F800ull; /* reserved bits */
  if (rnd() % 4 == 0) {
    uint64_t* in = (uint64_t*)io_pages[0];
    for (unsigned k = 0; k < 512; ++k) in[k] = rnd();
  }
  uint64_t result = hv_hypercall(hypercall_page, input, random_gpa(), random_gpa());
  unsigned st = result & 0xFFFF;
  if (st < 0x80)
    ++statuses[st];
  else
    ++odd_statuses;
}

static void random_msr(void) {
  uint32_t msr = 0x40000000u + (uint32_t)(rnd() % 0x120);
  /* Not its own APIC's EOI/ICR/TPR: an ICR write could send itself INIT or NMI, which the
   * hypervisor would rightly deliver. */
  if (msr >= 0x40000070u && msr <= 0x40000072u) msr = 0x40000002u;
  uint64_t v = rnd();
  /* Overlay MSRs (HYPERCALL, REFERENCE_TSC, VP_ASSIST_PAGE, SIEFP, SIMP) keep off its own
   * code and data: a scratch page or beyond its memory. */
  if (msr == 0x40000001u || msr == 0x40000021u || msr == 0x40000073u || msr == 0x40000082u ||
      msr == 0x40000083u) {
    uint64_t page = rnd() % 2 ? (uint64_t)(uintptr_t)scratch[rnd() % SCRATCH_PAGES]
                              : (ram_end + (rnd() % 1024) * 4096);
    v = page | (v & 0xFFF);
  }
  if (msr == 0x40000000u) v |= 1ull << 63; /* keep a guest OS id: the page stays usable */
  if (rnd() % 2)
    wrmsr_faults(msr, v);
  else
    rdmsr_faults(msr);
  /* The hypercall page back where it belongs, whatever the write did to it. */
  wrmsr_faults(HV_MSR_GUEST_OS_ID, (1ull << 63) | (1ull << 56));
  wrmsr_faults(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);
}

static uint64_t found;

static void random_mmio(uint64_t seed) {
  /* The device-free range the kit's identity map covers: from the end of memory to the
   * IOAPIC. */
  if (ram_end >= 0xFEC00000ull) return;
  uint64_t a = (ram_end + (rnd() % (0xFEC00000ull - ram_end))) & ~7ull;
  volatile uint64_t* p = (volatile uint64_t*)(uintptr_t)a;
  if (rnd() % 4 == 0) {
    *p = rnd();
  } else {
    uint64_t v = *p;
    for (uint64_t k = 0; k < 16; ++k)
      if (v == secret_word(seed, k)) ++found;
  }
}

static int attacker(uint64_t seed, uint64_t iterations) {
  wrmsr(HV_MSR_GUEST_OS_ID, (1ull << 63) | (1ull << 56));
  wrmsr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);
  wrmsr(HV_MSR_SIMP, (uint64_t)(uintptr_t)sim_page | 1);
  wrmsr(HV_MSR_SIEFP, (uint64_t)(uintptr_t)sief_page | 1);
  wrmsr(HV_MSR_SINT(2), 0x10000 | 0xF3); /* masked */
  wrmsr(HV_MSR_SCONTROL, 1);
  uint64_t ops[4] = {0, 0, 0, 0};
  for (uint64_t i = 0; i < iterations; ++i) {
    unsigned op = rnd() % 8;
    if (op < 4) {
      random_hypercall();
      ++ops[0];
    } else if (op < 6) {
      random_msr();
      ++ops[1];
    } else if (op == 6) {
      outl(0x3000, (uint32_t)rnd());
      ++ops[2];
    } else {
      random_mmio(seed);
      ++ops[3];
    }
  }
  printf("hv_hostile: %lu hypercalls, %lu MSR accesses, %lu test-device writes, %lu MMIO\n",
         (unsigned long)ops[0], (unsigned long)ops[1], (unsigned long)ops[2],
         (unsigned long)ops[3]);
  for (unsigned s = 0; s < 0x80; ++s)
    if (statuses[s]) printf("hv_hostile: status 0x%x x %u\n", s, statuses[s]);
  check(odd_statuses == 0, "every hypercall returned a TLFS status (%u others)", odd_statuses);
  check(found == 0, "secret found %lu times", (unsigned long)found);
  return check_summary("hv_hostile");
}

static int victim(uint64_t seed) {
  uint64_t* w = (uint64_t*)secret_area;
  for (uint64_t k = 0; k < SECRET_BYTES / 8; ++k) w[k] = secret_word(seed, k % 16);
  printf("hv_hostile: victim's secret at 0x%lx\n", (unsigned long)(uintptr_t)secret_area);
  __asm__ volatile("cli; hlt");
  return 0; /* never: HLT with interrupts off */
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  const struct multiboot_info* mi = mb_info(mbi);
  const char* cmd = mb_cmdline(mi);
  uint64_t seed = cmdline_u64(cmd, "seed", 1);
  rng_state = seed * 0x9E3779B97F4A7C15ull | 1;
  for (const struct multiboot_mmap_entry* e = mb_mmap_next(mi, 0); e; e = mb_mmap_next(mi, e))
    if (e->base_addr + e->length > ram_end) ram_end = e->base_addr + e->length;
  char role[16] = "attacker";
  cmdline_get(cmd, "role", role, sizeof role);
  if (strcmp(role, "victim") == 0) return victim(seed);
  return attacker(seed, cmdline_u64(cmd, "iterations", 20000));
}
