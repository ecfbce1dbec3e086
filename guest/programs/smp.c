/* smp: the bootstrap processor starts every application processor with INIT-SIPI-SIPI
 * (SDM Vol. 3A 9.4.4) through a real-mode trampoline; each AP reaches 64-bit mode and
 * checks in. Then IPIs (SDM 10.6): fixed to each AP and back, broadcast, logical flat
 * destinations, lowest priority, self (ICR shorthand and x2APIC SELF_IPI), NMI, and the
 * x2APIC MSR interface with its #GP rules. */
#include "kit/intr.h"
#include "kit/kit.h"

#define SMP_TRAMPOLINE 0x8000
#define MAX_CPUS 64
#define AP_STACK_SIZE 8192

#define VEC_PING 0x40
#define VEC_PONG 0x41
#define VEC_SELF 0x42
#define VEC_X2SELF 0x43
#define VEC_LOGICAL 0x44
#define VEC_COUNT 0x45

extern char smp_trampoline_start[], smp_trampoline_end[];
extern uint64_t smp_tramp_cr3, smp_tramp_stacks, smp_tramp_stack_size, smp_tramp_entry,
    smp_tramp_gdtr_kit, smp_tramp_next;
extern char kit_gdt_pointer[];

static uint8_t ap_stacks[MAX_CPUS + 1][AP_STACK_SIZE] __attribute__((aligned(16)));
static struct {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed)) idt_pointer;

static volatile uint32_t online;           // APs that reached 64-bit C code
static volatile uint32_t pings[MAX_CPUS];  // fixed IPIs received, by APIC id
static volatile uint32_t logical_hits[MAX_CPUS];
static volatile uint32_t counts[MAX_CPUS];  // VEC_COUNT IPIs received, by APIC id
static volatile uint32_t nmis[MAX_CPUS];
static volatile uint32_t pongs;  // replies received by the BSP
static volatile uint32_t self_ipis, x2_self_ipis;
static volatile int expect_gp;
static volatile uint32_t gp_seen;

void smp_ap_entry(void);

static uint64_t patch_offset(void* sym) {
  return (uint64_t)((char*)sym - smp_trampoline_start);
}

/* Under a Hyper-V hypervisor: each processor's TIME_REF_COUNT when it took the ping
 * (spec/hyperv-interfaces.md §5.1), for the cross-processor consistency check. */
static volatile int hyperv;
static volatile uint64_t ping_ref[MAX_CPUS];

static void on_ping(struct frame* f) {
  uint32_t id = lapic_id();
  if (hyperv) ping_ref[id] = rdmsr(0x40000020);
  pings[id]++;
  lapic_send_ipi(0, ICR_FIXED | VEC_PONG);  // reply to the BSP (APIC id 0)
  lapic_eoi();
}

static void on_count(struct frame* f) {
  counts[lapic_id()]++;
  lapic_eoi();
}

/// Waits until counts[first..last) all reach `n`.
static bool wait_counts(uint32_t first, uint32_t last, uint32_t n, uint64_t timeout) {
  uint64_t t0 = rdtsc();
  for (;;) {
    bool all = true;
    for (uint32_t id = first; id < last; id++) all = all && counts[id] >= n;
    if (all) return true;
    if (rdtsc() - t0 > timeout) return false;
    cpu_pause();
  }
}

static void on_logical(struct frame* f) {
  logical_hits[lapic_id()]++;
  lapic_eoi();
}

static volatile int bsp_x2apic;  // the BSP switched to x2APIC mode: EOI through the MSR

static void on_pong(struct frame* f) {
  pongs++;
  if (bsp_x2apic)
    wrmsr(MSR_X2APIC(LAPIC_EOI), 0);
  else
    lapic_eoi();
}

static void on_self(struct frame* f) {
  self_ipis++;
  lapic_eoi();
}

static void on_x2_self(struct frame* f) {
  x2_self_ipis++;
  wrmsr(MSR_X2APIC(LAPIC_EOI), 0);
}

void handle_exception(struct frame* f) {
  if (f->vector == VEC_NMI) {
    uint32_t id =
        (uint32_t)(rdmsr(MSR_APIC_BASE) & (1u << 10) ? rdmsr(MSR_X2APIC(LAPIC_ID)) : lapic_id());
    nmis[id]++;
    return;
  }
  if (f->vector == VEC_GP && expect_gp) {
    expect_gp = 0;
    gp_seen++;
    f->rip += 2;  // RDMSR/WRMSR are two bytes
    return;
  }
  default_exception(f);
}

void smp_ap_entry(void) {
  __asm__ volatile("lidt %0" ::"m"(idt_pointer));
  lapic_write(LAPIC_SVR, 0x1FF);  // software enable, spurious vector 0xFF
  uint32_t id = lapic_id();
  lapic_write(LAPIC_DFR, 0xFFFFFFFF);  // flat model
  lapic_write(LAPIC_LDR, (id < 8 ? 1u << id : 0) << 24);
  __atomic_fetch_add(&online, 1, __ATOMIC_SEQ_CST);
  for (;;) sti_hlt();
}

static void start_aps(uint32_t ncpus, uint64_t timeout) {
  uint64_t size = (uint64_t)(smp_trampoline_end - smp_trampoline_start);
  memcpy((void*)SMP_TRAMPOLINE, smp_trampoline_start, size);
  volatile uint8_t* t = (volatile uint8_t*)SMP_TRAMPOLINE;
  *(volatile uint64_t*)(t + patch_offset(&smp_tramp_cr3)) = read_cr3();
  *(volatile uint64_t*)(t + patch_offset(&smp_tramp_stacks)) = (uint64_t)ap_stacks;
  *(volatile uint64_t*)(t + patch_offset(&smp_tramp_stack_size)) = AP_STACK_SIZE;
  *(volatile uint64_t*)(t + patch_offset(&smp_tramp_entry)) = (uint64_t)smp_ap_entry;
  *(volatile uint64_t*)(t + patch_offset(&smp_tramp_gdtr_kit)) = (uint64_t)kit_gdt_pointer;
  *(volatile uint64_t*)(t + patch_offset(&smp_tramp_next)) = 0;

  // INIT, then two start-up IPIs with vector 8 (start at 0x8000), to all but ourselves.
  lapic_send_ipi(0, ICR_ALL_EXCL | ICR_ASSERT | ICR_INIT);
  uint64_t t0 = rdtsc();
  while (rdtsc() - t0 < 20000) cpu_pause();
  lapic_send_ipi(0, ICR_ALL_EXCL | ICR_LEVEL | ICR_INIT);  // INIT de-assert: no effect
  for (int k = 0; k < 2; k++) {
    lapic_send_ipi(0, ICR_ALL_EXCL | ICR_ASSERT | ICR_STARTUP | (SMP_TRAMPOLINE >> 12));
    t0 = rdtsc();
    while (rdtsc() - t0 < 4000) cpu_pause();
  }
  wait_count(&online, ncpus - 1, timeout);
}

int kmain(uint32_t magic, uint32_t mbi) {
  uint32_t ncpus = (uint32_t)fw_cfg_read_le(FW_CFG_NB_CPUS, 2);
  if (ncpus > MAX_CPUS) ncpus = MAX_CPUS;
  const uint64_t timeout = 200000000;  // TSC cycles: 0.1 s at 2 GHz
  printf("smp: %u processors\n", ncpus);
  intr_init();
  idt_set_ist(VEC_NMI, 0);  // APs have no TSS: NMIs use the current stack
  intr_set_handler(VEC_PING, on_ping);
  intr_set_handler(VEC_PONG, on_pong);
  intr_set_handler(VEC_SELF, on_self);
  intr_set_handler(VEC_X2SELF, on_x2_self);
  intr_set_handler(VEC_LOGICAL, on_logical);
  intr_set_handler(VEC_COUNT, on_count);
  __asm__ volatile("sidt %0" : "=m"(idt_pointer));

  uint32_t r[4];
  cpuid(1, 0, r);
  check(r[3] & (1u << 9), "CPUID.1:EDX.APIC set");
  check((r[1] >> 24) == 0, "CPUID.1:EBX initial APIC id of the BSP is 0");
  bool has_x2apic = r[2] & (1u << 21);
  check(rdmsr(MSR_APIC_BASE) == (LAPIC_BASE | 0x900), "IA32_APIC_BASE = 0x%lx (enabled, BSP)",
        rdmsr(MSR_APIC_BASE));
  lapic_write(LAPIC_SVR, 0x1FF);
  check(lapic_read(LAPIC_VERSION) == 0x50014, "LAPIC version 0x%x", lapic_read(LAPIC_VERSION));
  check(lapic_id() == 0, "BSP LAPIC id 0");

  start_aps(ncpus, timeout);
  check(online == ncpus - 1, "%u of %u application processors online in 64-bit mode", online,
        ncpus - 1);
  sti();

  // Fixed IPI to each AP; each replies with a fixed IPI to the BSP. In a Hyper-V partition
  // every processor reads the reference counter on the way: an IPI's sending comes before
  // its taking, so the readings must grow along the exchange, each processor's own clock
  // notwithstanding.
  hyperv = (r[2] >> 31) & 1;
  bool ordered = true;
  for (uint32_t id = 1; id < ncpus; id++) {
    uint32_t want = pongs + 1;
    uint64_t before = hyperv ? rdmsr(0x40000020) : 0;
    lapic_send_ipi(id, ICR_FIXED | VEC_PING);
    wait_count(&pongs, want, timeout);
    uint64_t after = hyperv ? rdmsr(0x40000020) : 0;
    ordered = ordered && before <= ping_ref[id] && ping_ref[id] <= after;
    check(pings[id] == 1 && pongs == want, "fixed IPI to AP %u and its reply", id);
  }
  if (hyperv) check(ordered, "reference time grows along IPIs between the VPs (TIME_REF_COUNT)");
  // Broadcast to all but self. (Counted where received: replies to one vector would merge
  // in the BSP's IRR, as on real hardware.)
  lapic_send_ipi(0, ICR_ALL_EXCL | VEC_COUNT);
  bool all = wait_counts(1, ncpus, 1, timeout);
  check(all && counts[0] == 0, "broadcast IPI reached every AP once");

  // Logical flat destinations: APs 1-7 have LDR bit id; a mask of all of them.
  uint32_t mask = 0;
  for (uint32_t id = 1; id < ncpus && id < 8; id++) mask |= 1u << id;
  if (mask) {
    lapic_send_ipi(mask, ICR_LOGICAL | VEC_LOGICAL);
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 200000) cpu_pause();
    all = true;
    for (uint32_t id = 1; id < ncpus && id < 8; id++) all = all && logical_hits[id] == 1;
    check(all, "logical (flat) IPI reached each AP in the mask once");
    lapic_send_ipi(mask, ICR_LOGICAL | ICR_LOWEST | VEC_LOGICAL);
    t0 = rdtsc();
    while (rdtsc() - t0 < 200000) cpu_pause();
    uint32_t total = 0;
    for (uint32_t id = 1; id < ncpus && id < 8; id++) total += logical_hits[id];
    uint32_t bits = 0;
    for (uint32_t m = mask; m; m &= m - 1) bits++;
    check(total == bits + 1 && logical_hits[1] == 2,
          "lowest-priority IPI reached exactly one AP (the lowest-numbered)");
  }

  // Self IPI: taken at the instruction boundary right after the ICR write.
  lapic_send_ipi(0, ICR_SELF | VEC_SELF);
  uint32_t seen = self_ipis;
  check(seen == 1, "self IPI delivered right after the ICR write");
  // All including self.
  lapic_send_ipi(0, ICR_ALL_INCL | VEC_COUNT);
  all = wait_counts(1, ncpus, 2, timeout) && wait_counts(0, 1, 1, timeout);
  check(all && counts[0] == 1, "all-including-self IPI reached all %u processors", ncpus);

  // NMI to every AP.
  lapic_send_ipi(0, ICR_ALL_EXCL | ICR_NMI);
  uint64_t t0 = rdtsc();
  all = false;
  while (!all && rdtsc() - t0 < timeout) {
    all = true;
    for (uint32_t id = 1; id < ncpus; id++) all = all && nmis[id] == 1;
  }
  check(all, "NMI IPI reached every AP");
  lapic_send_ipi(0, ICR_SELF | ICR_NMI);
  check(nmis[0] == 1, "self NMI delivered");

  // Illegal vector: not sent, ESR bit 5 (send illegal vector).
  lapic_write(LAPIC_ESR, 0);
  lapic_send_ipi(1, ICR_FIXED | 0x05);
  lapic_write(LAPIC_ESR, 0);
  check(lapic_read(LAPIC_ESR) & 0x20, "IPI with vector 5 sets ESR send-illegal-vector");

  // x2APIC.
  if (has_x2apic) {
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 10));
    bsp_x2apic = 1;
    check(rdmsr(MSR_X2APIC(LAPIC_ID)) == 0, "x2APIC id 0");
    check(rdmsr(MSR_X2APIC(LAPIC_LDR)) == 1, "x2APIC LDR derived from the id");
    wrmsr(MSR_X2APIC(0x3F0), VEC_X2SELF);  // SELF_IPI
    check(x2_self_ipis == 1, "x2APIC SELF_IPI delivered");
    if (ncpus > 1) {
      uint32_t want = pongs + 1;
      wrmsr(MSR_X2APIC(LAPIC_ICR_LO), ((uint64_t)1 << 32) | VEC_PING);
      wait_count(&pongs, want, timeout);
      check(pongs == want, "x2APIC ICR (MSR 0x830) IPI to AP 1 and reply");
    }
    expect_gp = 1;
    (void)rdmsr(MSR_X2APIC(LAPIC_EOI));
    check(gp_seen == 1, "RDMSR of the write-only x2APIC EOI raises #GP");
    expect_gp = 1;
    wrmsr(MSR_X2APIC(LAPIC_ID), 5);
    check(gp_seen == 2, "WRMSR of the read-only x2APIC ID raises #GP");
  }
  return check_summary("smp") ? 1 : 0;
}
