/* paging_matrix: 4-level paging permission matrix. For each 4 KiB page attribute set
 * (U/S, R/W, XD) and each control setting (CR0.WP, CR4.SMEP, CR4.SMAP, EFLAGS.AC), a
 * supervisor or user read, write or fetch either works or raises #PF with the exact error
 * code and CR2; A and D in the PTE afterwards are checked too. Then 2 MiB and 1 GiB pages
 * and reserved bits (above MAXPHYADDR, in large-page frames, XD without EFER.NXE). The
 * expectations follow SDM Vol. 3A 4.6 (access rights), 4.7 (#PF error code), 4.8 (A/D). */
#include "kit/kit.h"
#include "kit/usermode.h"

#define PAGE 4096ull
#define LARGE 0x200000ull
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define RFLAGS_AC (1ull << 18)

__asm__(
    ".text\n"
    "pm_load:\n"
    "pm_load_insn:\n"
    "  movq (%rdi), %rax\n"
    "pm_load_resume:\n"
    "  ret\n"
    "pm_store:\n"
    "pm_store_insn:\n"
    "  movq %rsi, (%rdi)\n"
    "pm_store_resume:\n"
    "  ret\n");
uint64_t pm_load(uint64_t addr);
uint64_t pm_store(uint64_t addr, uint64_t v);
extern char pm_load_insn[], pm_load_resume[], pm_store_insn[], pm_store_resume[];

static uint8_t area_block[2 * LARGE] __attribute__((aligned(4096)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));
static uint64_t pdpt_x[512] __attribute__((aligned(4096)));
static uint64_t pd_x[512] __attribute__((aligned(4096)));

static uint64_t area(void) {
  return ((uint64_t)area_block + LARGE - 1) & ~(LARGE - 1);
}

static volatile struct {
  unsigned hits;
  uint64_t error, cr2, rip;
} pf;

void handle_exception(struct frame* f) {
  if (f->vector != VEC_PF) default_exception(f);
  pf.hits++;
  pf.error = f->error_code;
  pf.cr2 = read_cr2();
  pf.rip = f->rip;
  if (f->rip == (uint64_t)pm_load_insn) {
    f->rip = (uint64_t)pm_load_resume;
  } else if (f->rip == (uint64_t)pm_store_insn) {
    f->rip = (uint64_t)pm_store_resume;
  } else if (f->rip == pf.cr2) {  // a fetch fault: return to the caller
    f->rip = *(uint64_t*)f->rsp;
    f->rsp += 8;
  } else {
    default_exception(f);
  }
}

enum access { kRead, kWrite, kFetch };

struct setting {
  bool wp, smep, smap, ac;
};

/// The SDM's rule for one access: 0 if allowed, else the #PF error code.
static uint32_t expected_error(uint64_t bits, struct setting s, bool user, enum access a) {
  bool us = bits & PTE_US, rw = bits & PTE_RW, xd = bits & PTE_NX;
  bool fault;
  if (user)
    fault = !us || (a == kWrite && !rw) || (a == kFetch && xd);
  else if (a == kFetch)
    fault = xd || (s.smep && us);
  else
    fault = (s.smap && us && !s.ac) || (a == kWrite && !rw && s.wp);
  if (!fault) return 0;
  return PF_ERR_P | (a == kWrite ? PF_ERR_W : 0) | (user ? PF_ERR_U : 0) |
         (a == kFetch ? PF_ERR_I : 0);
}

static void plant_ret(uint64_t addr) {
  uint8_t* p = (uint8_t*)addr;
  p[0] = 0xB8;  // mov eax, 0x5A5A5A5A ; ret
  p[1] = p[2] = p[3] = p[4] = 0x5A;
  p[5] = 0xC3;
}

/// Makes the kernel image's 2 MiB regions user-accessible or not (the test area keeps U).
static void image_user(bool user) {
  for (uint64_t a = (uint64_t)__image_start & ~(LARGE - 1); a < (uint64_t)__image_end;
       a += LARGE) {
    if (a == area()) continue;
    uint64_t* pde = paging_pde(a);
    *pde = user ? (*pde | PTE_US) : (*pde & ~PTE_US);
  }
  flush_tlb();
}

static void set_controls(struct setting s) {
  uint64_t cr0 = read_cr0(), cr4 = read_cr4();
  cr0 = s.wp ? (cr0 | CR0_WP) : (cr0 & ~(uint64_t)CR0_WP);
  cr4 = (cr4 & ~(CR4_SMEP | CR4_SMAP)) | (s.smep ? CR4_SMEP : 0) | (s.smap ? CR4_SMAP : 0);
  write_cr0(cr0);
  write_cr4(cr4);
}

/// Performs one access; returns the #PF error code it raised (0 if none) and checks CR2.
static uint32_t do_access(uint64_t addr, bool user, enum access a, bool ac, bool* cr2_ok) {
  pf.hits = 0;
  pf.error = 0;
  if (ac) __asm__ volatile("stac");
  if (user) {
    uint64_t top = (uint64_t)user_stack + sizeof(user_stack);
    // pm_store's value argument is whatever RSI holds: any value will do.
    if (a == kRead) user_call(pm_load, addr, top, 2);
    if (a == kWrite) user_call((uint64_t(*)(uint64_t))(void*)pm_store, addr, top, 2);
    if (a == kFetch) user_call((uint64_t(*)(uint64_t))addr, 0, top, 2);
  } else {
    if (a == kRead) pm_load(addr);
    if (a == kWrite) pm_store(addr, 0x1234);
    if (a == kFetch) ((uint64_t(*)(void))addr)();
  }
  if (ac) __asm__ volatile("clac");
  *cr2_ok = pf.hits == 0 || pf.cr2 == addr;
  return pf.hits ? (uint32_t)pf.error : 0;
}

static unsigned cases, mismatches;

static void compare(const char* what, uint64_t addr, uint32_t want, uint32_t got, bool cr2_ok,
                    uint64_t entry, uint64_t entry_after, bool write) {
  cases++;
  bool a_ok = ((entry_after & PTE_A) != 0) == (want == 0);
  bool d_ok = ((entry_after & PTE_D) != 0) == (want == 0 && write);
  if (got == want && cr2_ok && a_ok && d_ok) return;
  if (mismatches++ < 12)
    printf("  mismatch %s at %lx: error 0x%x (want 0x%x) cr2 %s, entry %lx -> %lx\n", what,
           addr, got, want, cr2_ok ? "ok" : "WRONG", entry, entry_after);
}

static bool has_smep_smap(void) {
  uint32_t r[4];
  cpuid(7, 0, r);
  return (r[1] & (1u << 7)) && (r[1] & (1u << 20));
}

static unsigned max_phys_bits(void) {
  uint32_t r[4];
  cpuid(0x80000008, 0, r);
  return r[0] & 0xFF;
}

int kmain(uint32_t magic, uint32_t mbi) {
  usermode_init();
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  uint64_t* pt = paging_split_2m(area());
  check(pt != 0, "test area %lx split into 4 KiB pages", area());
  if (!pt) return check_summary("paging_matrix");
  usermode_map_user((uint64_t)__image_start, (uint64_t)__image_end - (uint64_t)__image_start);
  bool features = has_smep_smap();
  check(features, "CPUID.7: SMEP and SMAP advertised");

  // ---- 4 KiB pages: 8 attribute sets x (16 control settings x 3 supervisor accesses +
  // 3 user accesses). A fresh page per case, so A/D start clear.
  printf("4 KiB matrix (columns: WP SMEP SMAP AC from 0000 to 1111; o = ok, F = #PF)\n");
  unsigned next = 0;
  for (unsigned attr = 0; attr < 8; attr++) {
    uint64_t bits = PTE_P | ((attr & 1) ? PTE_US : 0) | ((attr & 2) ? PTE_RW : 0) |
                    ((attr & 4) ? PTE_NX : 0);
    char line[3][17];
    char uline[4] = "...";
    for (unsigned user = 0; user < 2; user++) {
      for (unsigned cfg = 0; cfg < (user ? 1u : 16u); cfg++) {
        struct setting s = {(cfg & 8) != 0, (cfg & 4) != 0, (cfg & 2) != 0, (cfg & 1) != 0};
        if (user) s = (struct setting){true, false, false, false};
        for (unsigned a = 0; a < 3; a++) {
          uint64_t addr = area() + (uint64_t)next * PAGE;
          uint64_t* pte = &pt[next++];
          plant_ret(addr);
          *pte = (addr & PTE_ADDR_MASK) | bits;
          invlpg(addr);
          uint64_t entry = *pte;
          image_user(user);
          set_controls(s);
          bool cr2_ok;
          uint32_t got = do_access(addr, user, (enum access)a, s.ac, &cr2_ok);
          set_controls((struct setting){true, false, false, false});
          image_user(true);
          uint32_t want = expected_error(bits, s, user, (enum access)a);
          compare(user ? "user" : "supervisor", addr, want, got, cr2_ok, entry, *pte, a == kWrite);
          if (user)
            uline[a] = got ? 'F' : 'o';
          else
            line[a][cfg] = got ? 'F' : 'o';
        }
      }
    }
    for (unsigned a = 0; a < 3; a++) line[a][16] = 0;
    printf("  %c%c%c sup r:%s w:%s x:%s  user rwx:%s\n", (attr & 1) ? 'U' : 'S',
           (attr & 2) ? 'W' : 'R', (attr & 4) ? 'N' : 'X', line[0], line[1], line[2], uline);
  }
  check(mismatches == 0, "4 KiB pages: %u cases, %u mismatches (error code, CR2, A/D)", cases,
        mismatches);

  // ---- 2 MiB and 1 GiB pages at 512 GiB: PML4[1] -> pdpt_x; pdpt_x[0] = 1 GiB page of
  // physical 0, pdpt_x[1] -> pd_x, whose entries are 2 MiB pages of physical 0.
  uint64_t* pml4 = (uint64_t*)(read_cr3() & PTE_ADDR_MASK);
  pml4[1] = (uint64_t)pdpt_x | PTE_P | PTE_RW | PTE_US;
  pdpt_x[1] = (uint64_t)pd_x | PTE_P | PTE_RW | PTE_US;
  unsigned large_cases = cases, large_bad = mismatches;
  for (unsigned size = 0; size < 2; size++) {
    for (unsigned attr = 0; attr < 4; attr++) {
      uint64_t bits = PTE_P | PTE_PS | ((attr & 1) ? PTE_US : 0) | ((attr & 2) ? PTE_RW : 0);
      for (unsigned user = 0; user < 2; user++) {
        for (unsigned a = 0; a < 2; a++) {
          uint64_t* e = size ? &pdpt_x[0] : &pd_x[attr * 4 + user * 2 + a];
          uint64_t base = size ? 0x8000000000ull : 0x8040000000ull + (uint64_t)(e - pd_x) * LARGE;
          *e = (size ? 0 : area()) | bits;  // both map RAM
          uint64_t addr = base + 0x1008;
          flush_tlb();
          uint64_t entry = *e;
          image_user(user);
          bool cr2_ok;
          uint32_t got = do_access(addr, user, (enum access)a, false, &cr2_ok);
          image_user(true);
          uint32_t want =
              expected_error(bits, (struct setting){true, false, false, false}, user, (enum access)a);
          compare(size ? "1G" : "2M", addr, want, got, cr2_ok, entry, *e, a == kWrite);
        }
      }
    }
  }
  check(mismatches == large_bad, "2 MiB and 1 GiB pages: %u cases, %u mismatches",
        cases - large_cases, mismatches - large_bad);

  // ---- Reserved bits: P|RSVD (plus W/I as for the access), no A/D change.
  unsigned mpa = max_phys_bits();
  struct {
    const char* what;
    uint64_t* entry;
    uint64_t value;
    uint64_t addr;
  } rsvd[] = {
      {"4K PTE bit MAXPHYADDR", &pt[next], ((area() + next * PAGE) | 3) | (1ull << mpa),
       area() + next * PAGE},
      {"2M PDE bit 13", &pd_x[100], area() | PTE_P | PTE_RW | PTE_PS | (1ull << 13),
       0x8040000000ull + 100 * LARGE},
      {"1G PDPTE bit 29", &pdpt_x[0], PTE_P | PTE_RW | PTE_PS | (1ull << 29), 0x8000000000ull},
  };
  for (unsigned k = 0; k < 3; k++) {
    *rsvd[k].entry = rsvd[k].value;
    flush_tlb();
    bool cr2_ok;
    uint32_t got = do_access(rsvd[k].addr, false, kWrite, false, &cr2_ok);
    check(got == (PF_ERR_P | PF_ERR_W | PF_ERR_RSVD) && cr2_ok && *rsvd[k].entry == rsvd[k].value,
          "reserved %s: error 0x%x (want 0xb), entry unchanged", rsvd[k].what, got);
  }
  // XD with EFER.NXE = 0 is a reserved bit.
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(uint64_t)EFER_NXE);
  uint64_t addr = area() + (next + 1) * PAGE;
  pt[next + 1] = addr | PTE_P | PTE_RW | PTE_NX;
  invlpg(addr);
  bool cr2_ok;
  uint32_t got = do_access(addr, false, kRead, false, &cr2_ok);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  check(got == (PF_ERR_P | PF_ERR_RSVD), "XD set with EFER.NXE=0: error 0x%x (want 0x9)", got);
  pml4[1] = 0;
  flush_tlb();
  return check_summary("paging_matrix");
}
