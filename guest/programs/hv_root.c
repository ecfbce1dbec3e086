/* hv_root: a kernel for a root partition (created with root=True; docs/hv.md "Partition tree
 * and root calls"; TLFS root calls, spec/hyperv-interfaces.md §1.2, §3.7). It finds the
 * CreatePartitions privilege, creates and initializes a child partition, gives it a VP,
 * lends it one of its own pages holding a tiny real-mode program, sets the VP's CS and RIP
 * (which starts it), waits while the child runs (its turns come from the 1 ms time slice),
 * takes the page back and reads what the child wrote there, deletes the child, and checks
 * the statuses of bad requests on the way. */
#include "kit/expect.h"
#include "kit/hypercall.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/hyperv.h"

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static uint64_t in[512] __attribute__((aligned(4096)));
static uint64_t out[512] __attribute__((aligned(4096)));
/* Lent to the child at its GPA 0x1000: mov byte [0x1100], 'K'; hlt (real mode, DS = 0). */
static volatile uint8_t child_page[4096] __attribute__((aligned(4096)));

void handle_exception(struct frame* f) {
  if (!expected_exception(f)) default_exception(f);
}

static unsigned call(uint64_t input) {
  uint64_t r =
      hv_hypercall(hypercall_page, input, (uint64_t)(uintptr_t)in, (uint64_t)(uintptr_t)out);
  return (unsigned)(r & 0xFFFF);
}

static void clear_input(void) {
  memset(in, 0, sizeof in);
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  (void)mbi;
  uint32_t r[4];
  cpuid(0x40000003, 0, r);
  if (!check(r[1] & 1u, "CPUID 0x40000003 EBX bit 0: CreatePartitions (ebx 0x%x)", r[1]))
    return check_summary("hv_root");
  wrmsr(HV_MSR_GUEST_OS_ID, (1ull << 63) | (0x60100ull << 16));
  wrmsr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);

  clear_input();
  unsigned st = call(HV_CALL_CREATE_PARTITION);
  uint64_t id = out[0];
  check(st == HV_STATUS_SUCCESS && id != 0, "HvCallCreatePartition: status %u, id %lu", st,
        (unsigned long)id);
  in[0] = id;
  st = call(HV_CALL_CREATE_VP);
  check(st == HV_STATUS_INVALID_PARTITION_STATE, "HvCallCreateVp before initialize: status %u", st);
  st = call(HV_CALL_INITIALIZE_PARTITION);
  check(st == HV_STATUS_SUCCESS, "HvCallInitializePartition: status %u", st);
  in[1] = 3;
  st = call(HV_CALL_CREATE_VP);
  check(st == HV_STATUS_INVALID_VP_INDEX, "HvCallCreateVp index 3 first: status %u", st);
  in[1] = 0;
  st = call(HV_CALL_CREATE_VP);
  check(st == HV_STATUS_SUCCESS, "HvCallCreateVp 0: status %u", st);

  const uint8_t prog[] = {0xC6, 0x06, 0x00, 0x11, 'K', 0xF4};
  for (unsigned k = 0; k < sizeof prog; ++k) child_page[k] = prog[k];
  /* A page it does not own (far past its memory) cannot be lent. */
  in[1] = 1;           /* child GPA page 1 */
  in[2] = 7;           /* read, write, execute */
  in[3] = 0xFFFFFFull; /* source page number */
  st = call(HV_CALL_MAP_GPA_PAGES | HV_REP(1));
  check(st == HV_STATUS_INVALID_PARAMETER, "HvCallMapGpaPages of a page not owned: status %u", st);
  in[3] = (uint64_t)(uintptr_t)child_page >> 12;
  st = call(HV_CALL_MAP_GPA_PAGES | HV_REP(1));
  check(st == HV_STATUS_SUCCESS, "HvCallMapGpaPages: status %u", st);

  /* CS = 0 (base, limit | selector << 32 | attributes << 48) and RIP = 0x1000. */
  clear_input();
  in[0] = id;
  in[2] = HV_REG_CS;
  in[5] = 0xFFFFull | (0x9Bull << 48);
  in[6] = HV_REG_RIP;
  in[8] = 0x1000;
  uint64_t res = hv_hypercall(hypercall_page, HV_CALL_SET_VP_REGISTERS | HV_REP(2),
                              (uint64_t)(uintptr_t)in, 0);
  check((res & 0xFFFF) == 0 && ((res >> 32) & 0xFFF) == 2, "HvCallSetVpRegisters: 0x%lx",
        (unsigned long)res);

  /* The child runs in the turns this VP leaves it (a few time slices). */
  uint64_t t0 = rdtsc();
  while (rdtsc() - t0 < 8000000) __asm__ volatile("pause");

  clear_input();
  in[0] = id;
  in[1] = 1;
  st = call(HV_CALL_UNMAP_GPA_PAGES | HV_REP(1));
  check(st == HV_STATUS_SUCCESS, "HvCallUnmapGpaPages: status %u", st);
  check(child_page[0x100] == 'K', "the child wrote 'K' into the lent page (0x%x)",
        child_page[0x100]);
  st = call(HV_CALL_DELETE_PARTITION);
  check(st == HV_STATUS_SUCCESS, "HvCallDeletePartition: status %u", st);
  st = call(HV_CALL_DELETE_PARTITION);
  check(st == HV_STATUS_INVALID_PARTITION_ID, "deleted twice: status %u", st);
  return check_summary("hv_root");
}
