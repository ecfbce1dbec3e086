/* paging_la57: 5-level paging. Leaves IA-32e mode to set CR4.LA57, re-enters long mode with
 * a PML5 table, and checks the 57-bit canonical rule (#GP(0) for non-canonical addresses,
 * addresses above 2^47 and 0xFFFF0000'00000000 usable), the permission matrix (U/S x R/W x
 * XD under every CR0.WP/CR4.SMEP/CR4.SMAP/EFLAGS.AC setting, supervisor and user
 * read/write/fetch) with exact error codes, CR2 and A/D bits, 2 MiB and 1 GiB pages,
 * reserved bits (PML5E.PS, MAXPHYADDR; bits 62:52 ignored), global pages; then returns to
 * 4-level paging. Expectations: SDM Vol. 3A 4.5 (4/5-level), 4.6, 4.7, 4.8, 4.10. */
#include "kit/kit.h"
#include "kit/la57.h"
#include "kit/paging_rules.h"
#include "kit/usermode.h"

#define PAGE 4096ul
#define LARGE 0x200000ul
#define WIN 0x0080000000000000ul    /* 2^55: PML5 index 128, canonical only with LA57 */
#define WIN_HI 0xFFFF000000000000ul /* PML5 index 511 -> the same PML4 as WIN */
#define WIN_1G (WIN + (1ull << 30)) /* PDPTE 1: a 1 GiB page */
#define LARGE_PA 0x2000000ul        /* 2 MiB-aligned RAM above the image */
#define OFF 0x40ul
#define CR4_PGE (1ull << 7)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define PLANTED 0x0000C35A5A5A5AB8ull /* a 64-bit read of the planted code */

__asm__(
    ".text\n"
    "l5_load:\n"
    "l5_load_insn:\n"
    "  movq (%rdi), %rax\n"
    "l5_load_resume:\n"
    "  ret\n"
    "l5_store:\n"
    "l5_store_insn:\n"
    "  movq %rsi, (%rdi)\n"
    "l5_store_resume:\n"
    "  ret\n");
uint64_t l5_load(uint64_t addr);
uint64_t l5_store(uint64_t addr, uint64_t v);
extern char l5_load_insn[], l5_load_resume[], l5_store_insn[], l5_store_resume[];

static uint64_t pml5[512] __attribute__((aligned(4096)));
static uint64_t pml4_w[512] __attribute__((aligned(4096)));
static uint64_t pdpt_w[512] __attribute__((aligned(4096)));
static uint64_t pd_w[512] __attribute__((aligned(4096)));
static uint64_t pt_w[512] __attribute__((aligned(4096)));
static uint8_t frame_a[PAGE] __attribute__((aligned(4096)));
static uint8_t frame_b[PAGE] __attribute__((aligned(4096)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

/// The kit's 2 MiB image PDEs (found while CR3 still holds the PML4).
#define IMAGE_PDES 8
static uint64_t* image_pdes[IMAGE_PDES];
static unsigned image_pde_count;

static volatile struct {
  unsigned hits;
  uint64_t vector, error, cr2;
} ex;

void handle_exception(struct frame* f) {
  if (f->vector != VEC_PF && f->vector != VEC_GP) default_exception(f);
  ex.hits++;
  ex.vector = f->vector;
  ex.error = f->error_code;
  ex.cr2 = read_cr2();
  if (f->rip == (uint64_t)l5_load_insn) {
    f->rip = (uint64_t)l5_load_resume;
  } else if (f->rip == (uint64_t)l5_store_insn) {
    f->rip = (uint64_t)l5_store_resume;
  } else if (f->vector == VEC_PF && f->rip == ex.cr2) {  // a fetch fault: back to the caller
    f->rip = *(uint64_t*)f->rsp;
    f->rsp += 8;
  } else {
    default_exception(f);
  }
}

static void plant(uint64_t pa) {
  uint8_t* p = (uint8_t*)pa;
  p[0] = 0xB8;  // mov eax, 0x5A5A5A5A ; ret
  p[1] = p[2] = p[3] = p[4] = 0x5A;
  p[5] = 0xC3;
}

/// Makes the kernel image user-accessible or not (its 2 MiB PDEs' U/S).
static void image_user(bool user) {
  for (unsigned k = 0; k < image_pde_count; k++)
    *image_pdes[k] = user ? (*image_pdes[k] | PTE_US) : (*image_pdes[k] & ~(uint64_t)PTE_US);
  flush_tlb();
}

static void set_controls(struct paging_controls c) {
  uint64_t cr0 = read_cr0(), cr4 = read_cr4();
  cr0 = c.wp ? (cr0 | CR0_WP) : (cr0 & ~(uint64_t)CR0_WP);
  cr4 = (cr4 & ~(CR4_SMEP | CR4_SMAP)) | (c.smep ? CR4_SMEP : 0) | (c.smap ? CR4_SMAP : 0);
  write_cr0(cr0);
  write_cr4(cr4);
}

/// One access; returns 0, the #PF error code, or 0x10000 | vector for another exception.
static uint32_t do_access(uint64_t addr, bool user, enum paging_access a, bool ac, bool* cr2_ok) {
  ex.hits = 0;
  if (ac) __asm__ volatile("stac");
  uint64_t top = (uint64_t)user_stack + sizeof(user_stack);
  if (user) {
    if (a == PAGING_READ) user_call(l5_load, addr, top, 2);
    if (a == PAGING_WRITE) user_call((uint64_t(*)(uint64_t))(void*)l5_store, addr, top, 2);
    if (a == PAGING_FETCH) user_call((uint64_t(*)(uint64_t))addr, 0, top, 2);
  } else {
    if (a == PAGING_READ) l5_load(addr);
    if (a == PAGING_WRITE) l5_store(addr, 0x1234);
    if (a == PAGING_FETCH) ((uint64_t(*)(void))addr)();
  }
  if (ac) __asm__ volatile("clac");
  *cr2_ok = ex.hits == 0 || ex.vector != VEC_PF || ex.cr2 == addr;
  if (!ex.hits) return 0;
  return ex.vector == VEC_PF ? (uint32_t)ex.error : 0x10000u | (uint32_t)ex.vector;
}

static unsigned cases, mismatches;

static void compare(const char* what, uint64_t addr, uint32_t want, uint32_t got, bool cr2_ok,
                    uint64_t entry, uint64_t after, bool write) {
  cases++;
  bool a_ok = ((after & PTE_A) != 0) == (want == 0);
  bool d_ok = ((after & PTE_D) != 0) == (want == 0 && write);
  if (got == want && cr2_ok && a_ok && d_ok) return;
  if (mismatches++ < 12)
    printf("  mismatch %s at %lx: error 0x%x (want 0x%x) cr2 %s, entry %lx -> %lx\n", what, addr,
           got, want, cr2_ok ? "ok" : "WRONG", entry, after);
}

static const struct paging_controls kDefault = {true, false, false, false, true};

static void matrix_4k(void) {
  printf("5-level 4 KiB matrix at %lx (columns: WP SMEP SMAP AC from 0000 to 1111)\n", WIN);
  unsigned next = 0;
  for (unsigned attr = 0; attr < 8; attr++) {
    bool us = attr & 1, rw = attr & 2, xd = attr & 4;
    char line[3][17], uline[4] = "...";
    for (unsigned user = 0; user < 2; user++) {
      for (unsigned cfg = 0; cfg < (user ? 1u : 16u); cfg++) {
        struct paging_controls c = {(cfg & 8) != 0, (cfg & 4) != 0, (cfg & 2) != 0, (cfg & 1) != 0,
                                    true};
        if (user) c = kDefault;
        for (unsigned a = 0; a < 3; a++) {
          unsigned k = next++;
          uint64_t addr = WIN + k * PAGE + OFF;
          uint64_t pte =
              (uint64_t)frame_a | PTE_P | (us ? PTE_US : 0) | (rw ? PTE_RW : 0) | (xd ? PTE_NX : 0);
          plant((uint64_t)frame_a + OFF);
          pt_w[k] = pte;
          invlpg(addr);
          image_user(user);
          set_controls(c);
          bool cr2_ok;
          uint32_t got = do_access(addr, user, (enum paging_access)a, c.ac, &cr2_ok);
          set_controls(kDefault);
          image_user(true);
          uint32_t want = paging_expected_error(us, rw, xd, c, user, (enum paging_access)a);
          compare(user ? "user" : "supervisor", addr, want, got, cr2_ok, pte, pt_w[k],
                  a == PAGING_WRITE);
          if (user)
            uline[a] = got ? 'F' : 'o';
          else
            line[a][cfg] = got ? 'F' : 'o';
        }
      }
    }
    for (unsigned a = 0; a < 3; a++) line[a][16] = 0;
    printf("  %c%c%c sup r:%s w:%s x:%s  user rwx:%s\n", us ? 'U' : 'S', rw ? 'W' : 'R',
           xd ? 'N' : 'X', line[0], line[1], line[2], uline);
  }
  check(mismatches == 0, "5-level 4 KiB pages: %u cases, %u mismatches (error code, CR2, A/D)",
        cases, mismatches);
}

/// 2 MiB pages (PD entries 1..48) onto LARGE_PA, and the 1 GiB page (PDPTE 1) onto 0.
static void matrix_large(void) {
  unsigned c0 = cases, before = mismatches, i = 0;
  for (unsigned size = 0; size < 2; size++) {
    for (unsigned attr = 0; attr < 8; attr++) {
      bool us = attr & 1, rw = attr & 2, xd = attr & 4;
      for (unsigned user = 0; user < 2; user++) {
        for (unsigned a = 0; a < 3; a++, i++) {
          uint64_t bits =
              PTE_P | PTE_PS | (us ? PTE_US : 0) | (rw ? PTE_RW : 0) | (xd ? PTE_NX : 0);
          uint64_t* e = size ? &pdpt_w[1] : &pd_w[1 + i];
          uint64_t addr =
              size ? WIN_1G + LARGE_PA + 0x1000 + OFF : WIN + (1 + i) * LARGE + 0x1000 + OFF;
          *e = (size ? 0 : LARGE_PA) | bits;
          plant(LARGE_PA + 0x1000 + OFF);
          flush_tlb();
          uint64_t entry = *e;
          image_user(user);
          bool cr2_ok;
          uint32_t got = do_access(addr, user, (enum paging_access)a, false, &cr2_ok);
          image_user(true);
          uint32_t want = paging_expected_error(us, rw, xd, kDefault, user, (enum paging_access)a);
          compare(size ? "1G" : "2M", addr, want, got, cr2_ok, entry, *e, a == PAGING_WRITE);
        }
      }
    }
  }
  check(mismatches == before, "5-level 2 MiB and 1 GiB pages: %u cases, %u mismatches", cases - c0,
        mismatches - before);
}

static unsigned max_phys_bits(void) {
  uint32_t r[4];
  cpuid(0x80000008, 0, r);
  return r[0] & 0xFF;
}

/// A supervisor read; returns 0, the #PF error code or 0x10000 | vector.
static uint32_t probe_read(uint64_t addr, uint64_t* value) {
  ex.hits = 0;
  uint64_t v = l5_load(addr);
  if (value) *value = v;
  if (!ex.hits) return 0;
  return ex.vector == VEC_PF ? (uint32_t)ex.error : 0x10000u | (uint32_t)ex.vector;
}

int kmain(uint32_t magic, uint32_t mbi) {
  usermode_init();
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  usermode_map_user((uint64_t)__image_start, (uint64_t)__image_end - (uint64_t)__image_start);
  for (uint64_t a = (uint64_t)__image_start & ~(LARGE - 1);
       a < (uint64_t)__image_end && image_pde_count < IMAGE_PDES; a += LARGE)
    image_pdes[image_pde_count++] = paging_pde(a);
  uint32_t r[4];
  cpuid(7, 0, r);
  check(r[2] & (1u << 16), "CPUID.7.ECX: LA57 advertised");
  check((uint64_t)__image_end <= LARGE_PA, "image ends below %lx", LARGE_PA);

  // 4-level: WIN and WIN_HI are not canonical (bits 63:47 differ).
  const uint32_t gp = 0x10000u | VEC_GP;
  uint32_t e1 = probe_read(WIN + OFF, 0), e2 = probe_read(WIN_HI + OFF, 0);
  check(e1 == gp && e2 == gp && ex.error == 0,
        "4-level: %lx and %lx are not canonical: #GP(0) (0x%x, 0x%x)", WIN, WIN_HI, e1, e2);

  // PML5[0] -> the kit's PML4 (the identity map); PML5[128] and PML5[511] -> the window.
  uint64_t pml4 = read_cr3() & PTE_ADDR_MASK;
  pml5[0] = pml4 | PTE_P | PTE_RW | PTE_US;
  pml5[128] = (uint64_t)pml4_w | PTE_P | PTE_RW | PTE_US;
  pml5[511] = (uint64_t)pml4_w | PTE_P | PTE_RW | PTE_US;
  pml4_w[0] = (uint64_t)pdpt_w | PTE_P | PTE_RW | PTE_US;
  pdpt_w[0] = (uint64_t)pd_w | PTE_P | PTE_RW | PTE_US;
  pd_w[0] = (uint64_t)pt_w | PTE_P | PTE_RW | PTE_US;
  pt_w[500] = (uint64_t)frame_a | PTE_P | PTE_RW;
  plant((uint64_t)frame_a + OFF);
  la57_switch((uint64_t)pml5, true);
  check((read_cr4() & CR4_LA57) && (rdmsr(MSR_EFER) & EFER_LMA) && read_cr3() == (uint64_t)pml5,
        "5-level paging: CR4.LA57 = 1, EFER.LMA = 1, CR3 = PML5 table");

  uint64_t v1 = 0, v2 = 0;
  e1 = probe_read(WIN + 500 * PAGE + OFF, &v1);
  e2 = probe_read(WIN_HI + 500 * PAGE + OFF, &v2);
  check(e1 == 0 && e2 == 0 && v1 == PLANTED && v2 == PLANTED && (pml5[128] & PTE_A) &&
            (pml5[511] & PTE_A),
        "5-level: %lx and %lx canonical and mapped, PML5E accessed bits set", WIN, WIN_HI);
  const uint64_t noncanon[] = {1ul << 56, 0xFE00000000000000ul, 0x8000000000000000ul};
  for (unsigned k = 0; k < 3; k++) {
    uint32_t e = probe_read(noncanon[k], 0);
    check(e == gp && ex.error == 0, "5-level: %lx is not canonical: #GP(0) (0x%x)", noncanon[k], e);
  }

  matrix_4k();
  matrix_large();

  // Reserved bits: PS in a PML5E, bit MAXPHYADDR in a PML5E; bits 62:52 of a PTE are
  // ignored with 4/5-level paging (reserved with PAE paging).
  unsigned mpa = max_phys_bits();
  uint64_t keep = pml5[128];
  struct {
    const char* what;
    uint64_t* entry;
    uint64_t value;
    uint32_t want;
  } rc[] = {
      {"PML5E.PS", &pml5[128], keep | PTE_PS, PF_ERR_P | PF_ERR_RSVD},
      {"PML5E bit MAXPHYADDR", &pml5[128], keep | (1ull << mpa), PF_ERR_P | PF_ERR_RSVD},
      {"PML4E.PS", &pml4_w[0], pml4_w[0] | PTE_PS, PF_ERR_P | PF_ERR_RSVD},
      {"PTE bits 62:52 (ignored)", &pt_w[500], pt_w[500] | (0x7FFull << 52), 0},
  };
  for (unsigned k = 0; k < 4; k++) {
    uint64_t old = *rc[k].entry;
    *rc[k].entry = rc[k].value;
    flush_tlb();
    uint32_t e = probe_read(WIN + 500 * PAGE + OFF, 0);
    *rc[k].entry = old;
    flush_tlb();
    check(e == rc[k].want && (e == 0 || ex.cr2 == WIN + 500 * PAGE + OFF),
          "5-level reserved %s: error 0x%x (want 0x%x)", rc[k].what, e, rc[k].want);
  }

  // Global pages: with CR4.PGE a G mapping survives a CR3 write; INVLPG removes it.
  write_cr4(read_cr4() | CR4_PGE);
  *(volatile uint64_t*)(frame_b + OFF) = 0xBBBB;
  uint64_t va = WIN + 501 * PAGE + OFF;
  for (unsigned g = 0; g < 2; g++) {
    pt_w[501] = (uint64_t)frame_a | PTE_P | PTE_RW | (g ? PTE_G : 0);
    *(volatile uint64_t*)(frame_a + OFF) = PLANTED;
    invlpg(va);
    uint64_t before = l5_load(va);
    pt_w[501] = (uint64_t)frame_b | PTE_P | PTE_RW | (g ? PTE_G : 0);
    flush_tlb();
    uint64_t after = l5_load(va);
    invlpg(va);
    uint64_t after_invlpg = l5_load(va);
    check(before == PLANTED && after == (g ? PLANTED : 0xBBBB) && after_invlpg == 0xBBBB,
          "5-level G=%u: after a CR3 write reads %lx, after INVLPG %lx", g, after, after_invlpg);
  }

  // Back to 4-level paging: WIN is non-canonical again.
  la57_switch(pml4, false);
  e1 = probe_read(WIN + 500 * PAGE + OFF, 0);
  check(!(read_cr4() & CR4_LA57) && (rdmsr(MSR_EFER) & EFER_LMA) && e1 == gp,
        "back to 4-level paging: CR4.LA57 = 0, %lx #GP(0) again", WIN);
  return check_summary("paging_la57");
}
