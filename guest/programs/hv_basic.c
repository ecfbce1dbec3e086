/* hv_basic: a child-partition kernel that finds the hypervisor and uses what hvsim's
 * hypervisor offers so far (TLFS; spec/hyperv-interfaces.md §1-3, §5): the CPUID leaves,
 * GUEST_OS_ID and the hypercall page overlay, hypercall status codes, VP_INDEX,
 * TIME_REF_COUNT and the reference TSC page, the frequency MSRs, the crash MSRs and the VP
 * assist page, and the #GP rules of each. With `crash=1` it ends by reporting a crash with a
 * message through the crash MSRs, as Linux does on panic.
 * Run it with `hvsim run --hyperv`; on bare metal it reports that there is no hypervisor.
 * With `hypercalls=N` it is a benchmark instead: after the hypercall page is set up it makes
 * N fast HvCallNotifyLongSpinWait hypercalls and prints how many and the TSC cycles taken. */
#include "kit/expect.h"
#include "kit/hypercall.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/hyperv.h"

/* The pages the overlays go over: the guest's own memory, zero-filled. */
static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static volatile uint8_t tsc_page[4096] __attribute__((aligned(4096)));
static uint8_t hc_input[4096] __attribute__((aligned(4096)));
static uint8_t assist_page[4096] __attribute__((aligned(4096)));
static char crash_message[4096] __attribute__((aligned(4096)));

void handle_exception(struct frame* f) {
  if (!expected_exception(f)) default_exception(f);
}

/* ---- hypercalls through the page (64-bit convention: RCX, RDX, R8 -> RAX) ---- */

static uint64_t hypercall(uint64_t input, uint64_t rdx, uint64_t r8) {
  return hv_hypercall(hypercall_page, input, rdx, r8);
}

static uint64_t ref_counter(void) {
  return rdmsr(HV_MSR_TIME_REF_COUNT);
}

/* N fast hypercalls: VMCALL exit, input checks, result, resume. */
static void hypercall_round_trips(uint64_t n) {
  uint64_t done = 0, t0 = rdtsc();
  for (; done < n; ++done)
    if (hypercall(HV_CALL_NOTIFY_LONG_SPIN_WAIT | HV_INPUT_FAST, 1, 0) != HV_STATUS_SUCCESS) break;
  uint64_t cycles = rdtsc() - t0;
  check(done == n, "%lu hypercalls succeeded", (unsigned long)done);
  printf("hv_bench: %lu hypercalls %lu cycles\n", (unsigned long)done, (unsigned long)cycles);
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  uint64_t bench = cmdline_u64(mb_cmdline(mb_info(mbi)), "hypercalls", 0);
  uint64_t crash = cmdline_u64(mb_cmdline(mb_info(mbi)), "crash", 0);
  uint64_t reset = cmdline_u64(mb_cmdline(mb_info(mbi)), "reset", 0);
  uint32_t r[4];
  cpuid(1, 0, r);
  if (!check(r[2] & (1u << 31), "CPUID.1:ECX[31]: a hypervisor is present"))
    return check_summary("hv_basic");
  cpuid(0x40000000, 0, r);
  char vendor[13];
  memcpy(vendor, &r[1], 4);
  memcpy(vendor + 4, &r[2], 4);
  memcpy(vendor + 8, &r[3], 4);
  vendor[12] = 0;
  check(strcmp(vendor, "Microsoft Hv") == 0, "leaf 0x40000000: \"%s\"", vendor);
  check(r[0] >= 0x40000005 && r[0] <= 0x4000FFFF, "max hypervisor leaf 0x%x", r[0]);
  cpuid(0x40000001, 0, r);
  check(r[0] == 0x31237648, "interface \"Hv#1\" (0x%x)", r[0]);
  cpuid(0x40000003, 0, r);
  uint32_t want = (1u << 1) | (1u << 5) | (1u << 6) | (1u << 9) | (1u << 11);
  check((r[0] & want) == want,
        "privileges: reference counter, hypercall MSRs, VP index, TSC page, frequencies (0x%x)",
        r[0]);
  check(r[3] & (1u << 8), "feature: frequency MSRs available (edx 0x%x)", r[3]);

  /* GUEST_OS_ID and the hypercall page. */
  check(rdmsr(HV_MSR_GUEST_OS_ID) == 0 && rdmsr(HV_MSR_HYPERCALL) == 0, "both MSRs start at 0");
  uint64_t page = (uint64_t)(uintptr_t)hypercall_page;
  wrmsr(HV_MSR_HYPERCALL, page | 1);
  check(rdmsr(HV_MSR_HYPERCALL) == page, "no hypercall page without a guest OS id");
  check(wrmsr_faults(HV_MSR_HYPERCALL, page | 1 | (1u << 4)), "HYPERCALL reserved bit: #GP");
  uint64_t os_id = (1ull << 63) | (1ull << 56) | (0x60100ull << 16); /* open source, Linux */
  wrmsr(HV_MSR_GUEST_OS_ID, os_id);
  check(rdmsr(HV_MSR_GUEST_OS_ID) == os_id, "GUEST_OS_ID reads back");
  wrmsr(HV_MSR_HYPERCALL, page | 1);
  check(rdmsr(HV_MSR_HYPERCALL) == (page | 1), "hypercall page enabled at 0x%lx",
        (unsigned long)page);
  volatile uint8_t* hp = hypercall_page;
  if (bench) {
    hypercall_round_trips(bench);
    return check_summary("hv_basic");
  }
  check(hp[0] == 0x0F && hp[1] == 0x01 && hp[2] == 0xC1 && hp[3] == 0xC3,
        "the overlay holds VMCALL; RET (%02x %02x %02x %02x)", hp[0], hp[1], hp[2], hp[3]);
  expect_exception(13, 3);
  __asm__ volatile("movb $0x90, (%0)" ::"r"(hypercall_page) : "memory"); /* C6 00 90 */
  check(exception_taken() == 13 && hp[0] == 0x0F, "a write to the overlay: #GP, page unchanged");

  /* Hypercall status codes. */
  uint64_t st = hypercall(0xFFFF, 0, 0);
  check((st & 0xFFFF) == HV_STATUS_INVALID_HYPERCALL_CODE, "unknown call code: status %lu",
        (unsigned long)(st & 0xFFFF));
  st = hypercall(HV_CALL_NOTIFY_LONG_SPIN_WAIT | HV_INPUT_FAST, 1, 0);
  check((st & 0xFFFF) == HV_STATUS_SUCCESS, "HvCallNotifyLongSpinWait: status %lu",
        (unsigned long)(st & 0xFFFF));
  st = hypercall(HV_CALL_NOTIFY_LONG_SPIN_WAIT | HV_INPUT_FAST | (1ull << 27), 1, 0);
  check((st & 0xFFFF) == HV_STATUS_INVALID_HYPERCALL_INPUT, "reserved input bit: status %lu",
        (unsigned long)(st & 0xFFFF));
  uint64_t in = (uint64_t)(uintptr_t)hc_input;
  st = hypercall(HV_CALL_FLUSH_VIRTUAL_ADDRESS_SPACE, in, 0);
  check((st & 0xFFFF) == HV_STATUS_SUCCESS, "HvCallFlushVirtualAddressSpace: status %lu",
        (unsigned long)(st & 0xFFFF));
  st = hypercall(HV_CALL_FLUSH_VIRTUAL_ADDRESS_SPACE, in + 4, 0);
  check((st & 0xFFFF) == HV_STATUS_INVALID_ALIGNMENT, "misaligned input block: status %lu",
        (unsigned long)(st & 0xFFFF));
  st = hypercall(HV_CALL_FLUSH_VIRTUAL_ADDRESS_SPACE, in + 4092, 0);
  check((st & 0xFFFF) == HV_STATUS_INVALID_ALIGNMENT, "input block across a page: status %lu",
        (unsigned long)(st & 0xFFFF));
  st = hypercall(HV_CALL_FLUSH_VIRTUAL_ADDRESS_SPACE, 0x7F00000000ull, 0);
  check((st & 0xFFFF) == HV_STATUS_INVALID_ALIGNMENT,
        "input block where the partition has no memory: status %lu", (unsigned long)(st & 0xFFFF));
  ((volatile uint64_t*)hc_input)[1] = 1ull << 40; /* a reserved flag */
  st = hypercall(HV_CALL_FLUSH_VIRTUAL_ADDRESS_SPACE, in, 0);
  ((volatile uint64_t*)hc_input)[1] = 0;
  check((st & 0xFFFF) == HV_STATUS_INVALID_PARAMETER, "reserved flush flag: status %lu",
        (unsigned long)(st & 0xFFFF));

  /* VP_INDEX, the frequencies, the reference counter. */
  check(rdmsr(HV_MSR_VP_INDEX) == 0, "VP_INDEX 0");
  check(wrmsr_faults(HV_MSR_VP_INDEX, 1), "VP_INDEX is read-only: #GP");
  uint64_t tsc_hz = rdmsr(HV_MSR_TSC_FREQUENCY), apic_hz = rdmsr(HV_MSR_APIC_FREQUENCY);
  check(tsc_hz == 2000000000ull && apic_hz == 1000000000ull, "TSC %lu Hz, APIC timer %lu Hz",
        (unsigned long)tsc_hz, (unsigned long)apic_hz);
  uint64_t c0 = ref_counter(), t0 = rdtsc();
  for (volatile int k = 0; k < 100000; ++k) {
  }
  uint64_t t1 = rdtsc(), c1 = ref_counter();
  uint64_t expect = (t1 - t0) / (tsc_hz / 10000000);
  check(c1 > c0 && c1 - c0 >= expect && c1 - c0 <= expect + 1000,
        "TIME_REF_COUNT advances with the TSC: %lu ticks of 100 ns over %lu cycles",
        (unsigned long)(c1 - c0), (unsigned long)(t1 - t0));
  check(wrmsr_faults(HV_MSR_TIME_REF_COUNT, 0), "TIME_REF_COUNT is read-only: #GP");
  check(rdmsr_faults(0x400000FF), "an MSR the hypervisor does not offer: #GP");

  /* The reference TSC page: ((TSC * scale) >> 64) + offset is the reference counter. */
  uint64_t tp = (uint64_t)(uintptr_t)tsc_page;
  wrmsr(HV_MSR_REFERENCE_TSC, tp | 1);
  uint32_t seq = *(volatile uint32_t*)tsc_page;
  uint64_t scale = *(volatile uint64_t*)(tsc_page + 8);
  int64_t offset = *(volatile int64_t*)(tsc_page + 16);
  uint64_t tsc = rdtsc();
  uint64_t from_page = (uint64_t)(((unsigned __int128)tsc * scale) >> 64) + (uint64_t)offset;
  uint64_t counter = ref_counter();
  check(seq != 0 && seq != 0xFFFFFFFFu, "TSC page valid (sequence %u)", seq);
  check(from_page <= counter && counter - from_page < 100,
        "TSC page time %lu, TIME_REF_COUNT just after %lu", (unsigned long)from_page,
        (unsigned long)counter);
  check(wrmsr_faults(HV_MSR_REFERENCE_TSC, tp | 1 | 2), "REFERENCE_TSC reserved bit: #GP");
  wrmsr(HV_MSR_REFERENCE_TSC, 0);
  check(*(volatile uint32_t*)tsc_page == 0, "disabled: the guest's own page is back");

  /* GUEST_OS_ID 0 disables the hypercall page; the guest's page shows again. */
  wrmsr(HV_MSR_GUEST_OS_ID, 0);
  check((rdmsr(HV_MSR_HYPERCALL) & 1) == 0 && hp[0] == 0,
        "GUEST_OS_ID 0: hypercall page disabled, the guest's page is back");

  /* The crash MSRs (EDX bit 10) and the VP assist page. */
  check(r[3] & (1u << 10), "feature: guest crash MSRs (edx 0x%x)", r[3]);
  check(rdmsr(HV_MSR_CRASH_CTL) == (3ull << 62), "CRASH_CTL: CrashNotify and CrashMessage");
  wrmsr(HV_MSR_CRASH_P0 + 2, 0x1234);
  check(rdmsr(HV_MSR_CRASH_P0 + 2) == 0x1234, "CRASH_P2 reads back");
  check(wrmsr_faults(HV_MSR_CRASH_CTL, 1), "CRASH_CTL reserved bit: #GP");
  check(rdmsr_faults(HV_MSR_CRASH_P0 + 6), "no CRASH_P6: #GP");
  uint64_t assist = (uint64_t)(uintptr_t)assist_page;
  wrmsr(HV_MSR_VP_ASSIST_PAGE, assist | 1);
  check(rdmsr(HV_MSR_VP_ASSIST_PAGE) == (assist | 1), "VP_ASSIST_PAGE reads back");
  check(wrmsr_faults(HV_MSR_VP_ASSIST_PAGE, assist | 2), "VP_ASSIST_PAGE reserved bit: #GP");
  check(r[0] & (1u << 7), "privilege: AccessResetReg (eax 0x%x)", r[0]);
  check(rdmsr(HV_MSR_RESET) == 0, "RESET reads 0");
  check(wrmsr_faults(HV_MSR_RESET, 2), "RESET reserved bit: #GP");
  wrmsr(HV_MSR_RESET, 0); /* bit 0 clear: nothing happens */
  if (reset) {
    wrmsr(HV_MSR_RESET, 1); /* the partition stops here */
    check(false, "still running after RESET");
  }
  if (crash) {
    /* Report a crash as Linux's hyperv_report_panic_msg does: P3 = the message's GPA, P4 =
     * its length, then CrashNotify | CrashMessage. The partition stops here. */
    static const char msg[] = "Kernel panic - not syncing: hv_basic test\n";
    memcpy(crash_message, msg, sizeof msg);
    wrmsr(HV_MSR_CRASH_P0, 0);
    wrmsr(HV_MSR_CRASH_P0 + 1, 0);
    wrmsr(HV_MSR_CRASH_P0 + 2, 0);
    wrmsr(HV_MSR_CRASH_P0 + 3, (uint64_t)(uintptr_t)crash_message);
    wrmsr(HV_MSR_CRASH_P0 + 4, sizeof msg - 1);
    wrmsr(HV_MSR_CRASH_CTL, 3ull << 62);
    check(false, "still running after CrashNotify");
  }
  return check_summary("hv_basic");
}
