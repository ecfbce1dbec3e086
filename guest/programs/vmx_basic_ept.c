/* vmx_basic, EPT part: a 4-level EPT identity map (2 MiB pages, one region split into 4 KiB
 * pages) with VPID, EPT violations with their qualification and addresses, a page mapped on
 * demand, a misconfiguration, INVEPT after a remap (Intel SDM Vol. 3C 29.3, 28.2.1, 31). */
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/vmx.h"
#include "vmx_basic.h"

static uint64_t ept_pml4[512] __attribute__((aligned(4096)));
static uint64_t ept_pdpt[512] __attribute__((aligned(4096)));
static uint64_t ept_pd[4][512] __attribute__((aligned(4096)));
static uint64_t ept_pt[512] __attribute__((aligned(4096)));
/* Why 32 KiB alignment: the six pages then never straddle a 2 MiB region (one EPT PT). */
static volatile uint8_t pages[6][4096] __attribute__((aligned(32768)));
static volatile uint64_t results[4];

static uint64_t* pte(volatile uint8_t* p) {
  return &ept_pt[((uint64_t)p >> 12) & 511];
}
static void map(int page, uint64_t target, uint64_t rights) {
  *pte(pages[page]) = target | EPT_MEMTYPE_WB | rights;
}
static uint64_t eptp(void) {
  return (uint64_t)ept_pml4 | EPTP_WB_4LEVEL;
}

/* INVEPT: 0 VMsucceed, 1 VMfailInvalid, 2 VMfailValid. */
static int invept(uint64_t type) {
  struct {
    uint64_t eptp, zero;
  } desc = {eptp(), 0};
  uint64_t fl;
  __asm__ volatile("invept %1, %2; pushfq; pop %0"
                   : "=r"(fl)
                   : "m"(desc), "r"(type)
                   : "cc", "memory");
  return (fl & 1) ? 1 : (fl & 0x40) ? 2 : 0;
}

/* Identity map of the low 4 GiB (2 MiB pages, write-back, RWX); the region of `pages` split
 * into 4 KiB pages. EPT and VPID 1 turn on for the current VMCS. */
static void enable_ept(void) {
  ept_pml4[0] = (uint64_t)ept_pdpt | EPT_R | EPT_W | EPT_X;
  for (uint64_t i = 0; i < 4; ++i) {
    ept_pdpt[i] = (uint64_t)ept_pd[i] | EPT_R | EPT_W | EPT_X;
    for (uint64_t j = 0; j < 512; ++j)
      ept_pd[i][j] = ((i << 30) | (j << 21)) | EPT_LARGE | EPT_MEMTYPE_WB | EPT_R | EPT_W | EPT_X;
  }
  uint64_t region = (uint64_t)pages & ~0x1FFFFFull;
  for (uint64_t k = 0; k < 512; ++k)
    ept_pt[k] = (region + (k << 12)) | EPT_MEMTYPE_WB | EPT_R | EPT_W | EPT_X;
  ept_pd[region >> 30][(region >> 21) & 511] = (uint64_t)ept_pt | EPT_R | EPT_W | EPT_X;
  vmwrite(EPT_POINTER, eptp());
  vmwrite(VIRTUAL_PROCESSOR_IDENTIFIER, 1);
  vmwrite(SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_SECONDARY_CONTROLS, true);
}

static void start_guest(void (*entry)(void)) {
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  vmwrite(GUEST_IDTR_LIMIT, idtr.limit);
  vmwrite(EXCEPTION_BITMAP, 0);
  vmwrite(GUEST_ACTIVITY_STATE, 0);
  vmwrite(GUEST_INTERRUPTIBILITY_STATE, 0);
  vmwrite(GUEST_RFLAGS, 2);
  vmwrite(GUEST_RSP, (uint64_t)guest_stack + sizeof guest_stack - 8);
  vmwrite(GUEST_RIP, (uint64_t)entry);
}

static void guest_vmcall(uint64_t code) {
  __asm__ volatile("vmcall" ::"a"(code) : "memory");
}

/* The guest: each access is one of the exits ept_exits expects. */
static void __attribute__((noinline, noreturn)) ept_guest(void) {
  results[0] = pages[0][0x123];            /* not present: mapped on demand */
  pages[1][0x40] = 0x5A;                   /* read-only: write violation */
  ((void (*)(void))(uintptr_t)pages[2])(); /* not executable: fetch violation (a RET) */
  results[1] = pages[3][8];                /* write-only entry: misconfiguration */
  results[2] = pages[4][0];
  guest_vmcall(1); /* the host remaps page 4 to page 5's frame and runs INVEPT */
  results[3] = pages[4][0];
  for (;;) guest_vmcall(2);
}

/* Checks an EPT-violation exit: qualification, guest-physical and guest-linear address. */
static void expect_violation(uint32_t q, volatile void* addr, const char* what) {
  if (!expect_exit(EXIT_EPT_VIOLATION, -1, what)) return;
  uint64_t gq = vmread(EXIT_QUALIFICATION), gpa = vmread(GUEST_PHYSICAL_ADDRESS);
  uint64_t gla = vmread(GUEST_LINEAR_ADDRESS);
  check(gq == q, "%s: qualification 0x%lx (want 0x%x)", what, (unsigned long)gq, q);
  check(gpa == (uint64_t)addr && gla == (uint64_t)addr, "%s: GPA 0x%lx GLA 0x%lx", what,
        (unsigned long)gpa, (unsigned long)gla);
}

void ept_exits(void) {
  pages[0][0x123] = 0x77;
  pages[2][0] = 0xC3; /* RET */
  pages[3][8] = 0x33;
  pages[4][0] = 0x44;
  pages[5][0] = 0x55;
  enable_ept();
  *pte(pages[0]) = 0; /* not present */
  map(1, (uint64_t)pages[1], EPT_R);
  map(2, (uint64_t)pages[2], EPT_R | EPT_W);
  map(3, (uint64_t)pages[3], EPT_W); /* W without R */
  start_guest(ept_guest);

  const uint32_t final = EPTQ_GLA_VALID | EPTQ_FINAL;
  expect_violation(EPTQ_READ | final, &pages[0][0x123], "read of a not-present EPT page");
  map(0, (uint64_t)pages[0], EPT_R | EPT_W | EPT_X);
  expect_violation(EPTQ_WRITE | (EPT_R << EPTQ_RIGHTS_SHIFT) | final, &pages[1][0x40],
                   "write to a read-only EPT page");
  map(1, (uint64_t)pages[1], EPT_R | EPT_W | EPT_X);
  expect_violation(EPTQ_FETCH | ((EPT_R | EPT_W) << EPTQ_RIGHTS_SHIFT) | final, pages[2],
                   "fetch from a non-executable EPT page");
  check(vmread(GUEST_RIP) == (uint64_t)pages[2], "fetch violation: RIP at the page");
  map(2, (uint64_t)pages[2], EPT_R | EPT_W | EPT_X);
  if (expect_exit(EXIT_EPT_MISCONFIGURATION, -1, "EPT misconfiguration (W without R)"))
    check(vmread(GUEST_PHYSICAL_ADDRESS) == (uint64_t)&pages[3][8], "misconfiguration GPA");
  map(3, (uint64_t)pages[3], EPT_R | EPT_W | EPT_X);
  expect_vmcall(1);
  check(results[0] == 0x77 && results[1] == 0x33 && results[2] == 0x44,
        "guest read the pages after the host fixed their entries");
  check(pages[1][0x40] == 0x5A, "guest's write to the re-enabled page landed");
  map(4, (uint64_t)pages[5], EPT_R | EPT_W | EPT_X);
  check(invept(INVEPT_SINGLE_CONTEXT) == 0, "INVEPT single-context: VMsucceed");
  check(invept(0) == 2 && vmread(VM_INSTRUCTION_ERROR) == 28, "INVEPT type 0: VMfailValid 28");
  expect_vmcall(2);
  check(results[3] == 0x55, "after the remap and INVEPT the guest reads page 5 (0x%lx)",
        (unsigned long)results[3]);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_SECONDARY_CONTROLS, false);
}

/* ---- ept_iterations=N: EPT-violation round trips ---- */

static void __attribute__((noinline, noreturn)) ept_bench_guest(void) {
  for (;;) {
    pages[0][0] = 1;
    pages[1][0] = 1;
  }
}

/* N round trips: the guest writes two pages in turn, only one of them writable in EPT; each
 * write to the other exits, the host swaps which page is read-only, INVEPT, VMRESUME. */
void ept_violation_round_trips(uint64_t n) {
  enable_ept();
  map(0, (uint64_t)pages[0], EPT_R);
  start_guest(ept_bench_guest);
  uint64_t done = 0, t0 = rdtsc();
  for (; done < n; ++done) {
    if (run_guest() != EXIT_EPT_VIOLATION) break;
    int hit = vmread(GUEST_PHYSICAL_ADDRESS) == (uint64_t)pages[1];
    map(hit, (uint64_t)pages[hit], EPT_R | EPT_W | EPT_X);
    map(!hit, (uint64_t)pages[!hit], EPT_R);
    invept(INVEPT_SINGLE_CONTEXT);
  }
  uint64_t cycles = rdtsc() - t0;
  check(done == n, "%lu EPT-violation exits handled", (unsigned long)done);
  printf("vmx_ept_bench: %lu round trips %lu cycles\n", (unsigned long)done, (unsigned long)cycles);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_SECONDARY_CONTROLS, false);
}
