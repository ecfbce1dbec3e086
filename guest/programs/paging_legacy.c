/* paging_legacy: the paging permission matrix in 32-bit protected mode, with 32-bit paging
 * (4 KiB and 4 MiB pages, PSE-36, no execute-disable) and PAE paging (4 KiB and 2 MiB
 * pages, XD, PDPTE registers). For each page attribute set and each CR0.WP / CR4.SMEP /
 * CR4.SMAP / EFLAGS.AC setting, supervisor and user reads, writes and fetches either work
 * or raise #PF with the exact error code and CR2; A/D bits, reserved bits, PDPTE loading
 * (#GP at MOV CR3) and global pages across a CR3 write are checked too. Expectations follow
 * SDM Vol. 3A 4.3 (32-bit), 4.4 (PAE), 4.6 (rights), 4.7 (error code), 4.8 (A/D), 4.10. */
#include "kit/kit.h"
#include "kit/legacy.h"
#include "kit/paging_rules.h"
#include "kit/usermode.h"

#define PAGE 4096u
#define WIN 0x40000000u      /* the test window: 1 GiB */
#define OFF 0x40u            /* offset of every access within its page */
#define LARGE_PA 0x2000000u  /* 4 MiB-aligned RAM above the image for large pages */
#define IDENT_LIMIT LARGE_PA /* identity-mapped (supervisor) below this */
#define CR4_PSE (1u << 4)
#define CR4_PGE (1u << 7)
#define CR4_SMEP (1u << 20)
#define CR4_SMAP (1u << 21)
#define PLANTED 0x5A5A5AB8u /* what a read of planted code returns */
#define FRAME_B 0xBBBBBBBBu

static uint32_t pd32[1024] __attribute__((aligned(4096)));
static uint32_t pt32[1024] __attribute__((aligned(4096)));
static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pdpt_bad[4] __attribute__((aligned(32)));
static uint64_t pd_ident[512] __attribute__((aligned(4096)));
static uint64_t pd_win[512] __attribute__((aligned(4096)));
static uint64_t pt_pae[512] __attribute__((aligned(4096)));
static uint8_t frame_a[PAGE] __attribute__((aligned(4096)));
static uint8_t frame_b[PAGE] __attribute__((aligned(4096)));
static uint8_t user_code[PAGE] __attribute__((aligned(4096)));
static uint8_t user_stack[PAGE] __attribute__((aligned(4096)));

/// One paging mode under test: 32-bit (pae = false) or PAE.
struct mode {
  bool pae;
  const char* name;
  unsigned ptes;  ///< entries per page table
};

static uint32_t lo32(const void* p) {
  return (uint32_t)(uint64_t)p;
}

static void plant(uint32_t pa) {
  uint8_t* p = (uint8_t*)(uint64_t)pa;
  p[0] = 0xB8;  // mov eax, 0x5A5A5A5A ; ret
  p[1] = p[2] = p[3] = p[4] = 0x5A;
  p[5] = 0xC3;
}

/// Sets page-table entry k of the window (its frame and attribute bits).
static void set_pte(const struct mode* m, unsigned k, uint64_t v) {
  if (m->pae)
    pt_pae[k] = v;
  else
    pt32[k] = (uint32_t)v;
}
static uint64_t get_pte(const struct mode* m, unsigned k) {
  return m->pae ? pt_pae[k] : pt32[k];
}
static uint32_t pte_addr(const struct mode* m, unsigned k) {
  return m->pae ? lo32(&pt_pae[k]) : lo32(&pt32[k]);
}

/// Large-page directory entry i of the window (4 MiB or 2 MiB pages after the page table).
static void set_large(const struct mode* m, unsigned i, uint64_t v) {
  if (m->pae)
    pd_win[1 + i] = v;
  else
    pd32[257 + i] = (uint32_t)v;
}
static uint64_t get_large(const struct mode* m, unsigned i) {
  return m->pae ? pd_win[1 + i] : pd32[257 + i];
}
static uint32_t large_va(const struct mode* m, unsigned i) {
  return WIN + (1 + i) * (m->pae ? 0x200000u : 0x400000u);
}

/// Builds both modes' tables: identity map below IDENT_LIMIT (supervisor, large pages),
/// the window's page table with the user code and stack in its last two entries.
static void build_tables(void) {
  for (uint32_t a = 0; a < IDENT_LIMIT; a += 0x400000) pd32[a >> 22] = a | PTE_P | PTE_RW | PTE_PS;
  for (uint32_t a = 0; a < IDENT_LIMIT; a += 0x200000)
    pd_ident[a >> 21] = a | PTE_P | PTE_RW | PTE_PS;
  pd32[WIN >> 22] = lo32(pt32) | PTE_P | PTE_RW | PTE_US;
  pdpt[0] = lo32(pd_ident) | PTE_P;
  pdpt[1] = lo32(pd_win) | PTE_P;
  pd_win[0] = lo32(pt_pae) | PTE_P | PTE_RW | PTE_US;
  pt32[1022] = lo32(user_code) | PTE_P | PTE_US;
  pt32[1023] = lo32(user_stack) | PTE_P | PTE_RW | PTE_US;
  pt_pae[510] = lo32(user_code) | PTE_P | PTE_US;
  pt_pae[511] = lo32(user_stack) | PTE_P | PTE_RW | PTE_US;
  memcpy(user_code, legacy_user_blob, (size_t)(legacy_user_blob_end - legacy_user_blob));
  *(volatile uint32_t*)(frame_b + OFF) = FRAME_B;
}

static struct legacy_env env_for(const struct mode* m, struct paging_controls c, bool nxe) {
  struct legacy_env e;
  e.cr0 = (uint32_t)(read_cr0() & ~(uint64_t)CR0_WP) | (c.wp ? CR0_WP : 0);
  e.cr3 = m->pae ? lo32(pdpt) : lo32(pd32);
  e.cr4 = (m->pae ? CR4_PAE : CR4_PSE) | (c.smep ? CR4_SMEP : 0) | (c.smap ? CR4_SMAP : 0);
  e.efer = nxe ? EFER_NXE : 0;
  uint32_t user_page = m->pae ? 510 : 1022;
  e.user_code = WIN + user_page * PAGE;
  e.user_stack = WIN + (user_page + 2) * PAGE;
  return e;
}

/// Runs one access; returns its #PF error code (0 if none, 0x10000 | vector for another
/// exception) and whether CR2 was right.
static uint32_t access1(const struct legacy_env* e, uint32_t addr, enum paging_access a, bool user,
                        bool ac, bool* cr2_ok) {
  struct legacy_step s[2] = {{.kind = (uint32_t)a,
                              .flags = (user ? LEGACY_USER : 0) | (ac ? LEGACY_AC : 0),
                              .addr = addr,
                              .value = 0x1234},
                             {.kind = LEGACY_END}};
  legacy_run(e, s);
  *cr2_ok = s[0].vector != VEC_PF || s[0].cr2 == addr;
  if (s[0].vector == LEGACY_NO_FAULT) return 0;
  if (s[0].vector != VEC_PF) return 0x10000 | s[0].vector;
  return s[0].error;
}

static unsigned cases, mismatches;

static void compare(const char* what, uint32_t addr, uint32_t want, uint32_t got, bool cr2_ok,
                    uint64_t entry, uint64_t after, bool write) {
  cases++;
  bool a_ok = ((after & PTE_A) != 0) == (want == 0);
  bool d_ok = ((after & PTE_D) != 0) == (want == 0 && write);
  if (got == want && cr2_ok && a_ok && d_ok) return;
  if (mismatches++ < 12)
    printf("  mismatch %s at %x: error 0x%x (want 0x%x) cr2 %s, entry %lx -> %lx\n", what, addr,
           got, want, cr2_ok ? "ok" : "WRONG", entry, after);
}

/// The 4 KiB matrix: attribute sets x (16 control settings x 3 supervisor accesses + 3
/// user accesses), a fresh PTE per case so A/D start clear.
static void matrix_4k(const struct mode* m) {
  unsigned attrs = m->pae ? 8 : 4, next = 0, before = mismatches, c0 = cases;
  printf("%s 4 KiB matrix (columns: WP SMEP SMAP AC from 0000 to 1111; o = ok, F = #PF)\n",
         m->name);
  for (unsigned attr = 0; attr < attrs; attr++) {
    bool us = attr & 1, rw = attr & 2, xd = attr & 4;
    char line[3][17], uline[4] = "...";
    for (unsigned user = 0; user < 2; user++) {
      for (unsigned cfg = 0; cfg < (user ? 1u : 16u); cfg++) {
        struct paging_controls c = {(cfg & 8) != 0, (cfg & 4) != 0, (cfg & 2) != 0, (cfg & 1) != 0,
                                    m->pae};
        if (user) c = (struct paging_controls){true, false, false, false, m->pae};
        for (unsigned a = 0; a < 3; a++) {
          unsigned k = next++;
          uint32_t addr = WIN + k * PAGE + OFF;
          uint64_t pte =
              lo32(frame_a) | PTE_P | (us ? PTE_US : 0) | (rw ? PTE_RW : 0) | (xd ? PTE_NX : 0);
          plant(lo32(frame_a) + OFF);
          set_pte(m, k, pte);
          // Why: EFER.NXE = 1 in both modes; with 32-bit paging it must have no effect.
          struct legacy_env e = env_for(m, c, true);
          bool cr2_ok;
          uint32_t got = access1(&e, addr, (enum paging_access)a, user, c.ac, &cr2_ok);
          uint32_t want = paging_expected_error(us, rw, xd, c, user, (enum paging_access)a);
          compare(user ? "user" : "supervisor", addr, want, got, cr2_ok, pte, get_pte(m, k),
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
           m->pae ? (xd ? 'N' : 'X') : '-', line[0], line[1], line[2], uline);
  }
  check(mismatches == before, "%s 4 KiB pages: %u cases, %u mismatches (error code, CR2, A/D)",
        m->name, cases - c0, mismatches - before);
}

/// Large pages (4 MiB or 2 MiB) onto LARGE_PA: attributes x supervisor/user x r/w/x.
static void matrix_large(const struct mode* m) {
  unsigned attrs = m->pae ? 8 : 4, i = 0, before = mismatches, c0 = cases;
  struct paging_controls c = {true, false, false, false, m->pae};
  for (unsigned attr = 0; attr < attrs; attr++) {
    bool us = attr & 1, rw = attr & 2, xd = attr & 4;
    for (unsigned user = 0; user < 2; user++) {
      for (unsigned a = 0; a < 3; a++, i++) {
        uint64_t e =
            LARGE_PA | PTE_P | PTE_PS | (us ? PTE_US : 0) | (rw ? PTE_RW : 0) | (xd ? PTE_NX : 0);
        set_large(m, i, e);
        plant(LARGE_PA + 0x1000 + OFF);
        uint32_t addr = large_va(m, i) + 0x1000 + OFF;
        struct legacy_env env = env_for(m, c, true);
        bool cr2_ok;
        uint32_t got = access1(&env, addr, (enum paging_access)a, user, false, &cr2_ok);
        uint32_t want = paging_expected_error(us, rw, xd, c, user, (enum paging_access)a);
        compare(m->pae ? "2M" : "4M", addr, want, got, cr2_ok, e, get_large(m, i),
                a == PAGING_WRITE);
      }
    }
  }
  check(mismatches == before, "%s %s pages: %u cases, %u mismatches", m->name,
        m->pae ? "2 MiB" : "4 MiB", cases - c0, mismatches - before);
}

/// A reserved-bit (or not) case: entry value, access, expected error code.
struct rsvd_case {
  const char* what;
  bool large;  ///< entry is large-page slot 60, else PTE 900 (32-bit) / 460 (PAE)
  uint64_t value;
  enum paging_access access;
  uint32_t want;
};

static void reserved_bits(const struct mode* m, const struct rsvd_case* rc, unsigned n, bool nxe) {
  struct paging_controls c = {true, false, false, false, m->pae && nxe};
  for (unsigned k = 0; k < n; k++) {
    unsigned idx = m->pae ? 460 : 900;
    uint32_t addr = rc[k].large ? large_va(m, 20) + OFF : WIN + idx * PAGE + OFF;
    if (rc[k].large)
      set_large(m, 20, rc[k].value);
    else
      set_pte(m, idx, rc[k].value);
    struct legacy_env e = env_for(m, c, nxe);
    bool cr2_ok;
    uint32_t got = access1(&e, addr, rc[k].access, false, false, &cr2_ok);
    uint64_t after = rc[k].large ? get_large(m, 20) : get_pte(m, idx);
    bool unchanged = rc[k].want == 0 || after == rc[k].value;
    check(got == rc[k].want && cr2_ok && unchanged, "%s %s: error 0x%x (want 0x%x)%s", m->name,
          rc[k].what, got, rc[k].want, unchanged ? "" : ", entry changed");
  }
}

/// A mapping with G survives a CR3 write only with CR4.PGE; INVLPG and clearing CR4.PGE
/// remove it (SDM 4.10.2.4, 4.10.4.1).
static void global_pages(const struct mode* m) {
  unsigned k = m->pae ? 470 : 910;
  uint32_t va = WIN + k * PAGE + OFF;
  struct {
    bool g, pge, by_cr4;
    uint32_t after_cr3, after_invlpg;
  } gc[] = {
      {true, true, false, PLANTED, FRAME_B},
      {true, false, false, FRAME_B, FRAME_B},
      {false, true, false, FRAME_B, FRAME_B},
      {true, true, true, FRAME_B, FRAME_B},
  };
  struct paging_controls c = {true, false, false, false, m->pae};
  for (unsigned j = 0; j < 4; j++) {
    plant(lo32(frame_a) + OFF);
    uint32_t g = gc[j].g ? PTE_G : 0;
    set_pte(m, k, lo32(frame_a) | PTE_P | PTE_RW | g);
    struct legacy_env e = env_for(m, c, true);
    e.cr4 |= gc[j].pge ? CR4_PGE : 0;
    struct legacy_step s[] = {
        {.kind = LEGACY_READ, .addr = va},
        {.kind = LEGACY_WRITE, .addr = pte_addr(m, k), .value = lo32(frame_b) | PTE_P | PTE_RW | g},
        gc[j].by_cr4 ? (struct legacy_step){.kind = LEGACY_MOV_CR4, .addr = e.cr4 & ~CR4_PGE}
                     : (struct legacy_step){.kind = LEGACY_MOV_CR3, .addr = e.cr3},
        {.kind = LEGACY_READ, .addr = va},
        {.kind = LEGACY_INVLPG, .addr = va},
        {.kind = LEGACY_READ, .addr = va},
        {.kind = LEGACY_END},
    };
    legacy_run(&e, s);
    bool ok = s[0].result == PLANTED && s[3].result == gc[j].after_cr3 &&
              s[5].result == gc[j].after_invlpg;
    for (unsigned q = 0; q < 6; q++) ok &= s[q].vector == LEGACY_NO_FAULT;
    check(ok, "%s G=%d PGE=%d, PTE changed, then %s: reads %x, %x after INVLPG", m->name, gc[j].g,
          gc[j].pge, gc[j].by_cr4 ? "CR4.PGE cleared" : "CR3 written", s[3].result, s[5].result);
  }
}

/// PAE only: PDPTEs are loaded at MOV CR3 (#GP(0) for reserved bits, CR3 then unchanged)
/// and used from the registers afterwards, whatever memory says (SDM 4.4.1).
static void pdpte_registers(const struct mode* m) {
  struct paging_controls c = {true, false, false, false, true};
  struct legacy_env e = env_for(m, c, true);
  uint32_t va = WIN + 3 * PAGE + OFF;
  set_pte(m, 3, lo32(frame_a) | PTE_P | PTE_RW);
  plant(lo32(frame_a) + OFF);
  uint64_t bad_bits[] = {1ull << 1, 1ull << 5, 1ull << 8, 1ull << 40, 1ull << 63};
  for (unsigned j = 0; j < 5; j++) {
    pdpt_bad[0] = pdpt[0];
    pdpt_bad[1] = pdpt[1] | bad_bits[j];
    struct legacy_step s[] = {
        {.kind = LEGACY_MOV_CR3, .addr = lo32(pdpt_bad)},
        {.kind = LEGACY_READ_CR3},
        {.kind = LEGACY_READ, .addr = va},
        {.kind = LEGACY_END},
    };
    legacy_run(&e, s);
    check(s[0].vector == VEC_GP && s[0].error == 0 && s[1].result == e.cr3 &&
              s[2].vector == LEGACY_NO_FAULT && s[2].result == PLANTED,
          "PAE: PDPTE with bit %d set: MOV CR3 #GP(0) (vector %d), CR3 kept, old PDPTEs used",
          __builtin_ctzll(bad_bits[j]), (int)s[0].vector);
  }
  // A not-present PDPTE may hold anything.
  pdpt_bad[1] = 0x1E6 | (1ull << 40);
  pdpt_bad[2] = pdpt_bad[3] = 0;
  struct legacy_step s[] = {{.kind = LEGACY_MOV_CR3, .addr = lo32(pdpt_bad)},
                            {.kind = LEGACY_READ, .addr = va},
                            {.kind = LEGACY_END}};
  legacy_run(&e, s);
  check(s[0].vector == LEGACY_NO_FAULT && s[1].vector == VEC_PF && s[1].error == 0,
        "PAE: not-present PDPTE with reserved bits: no #GP; access #PF error 0x%x (want 0)",
        s[1].error);
  // Memory changes reach the PDPTE registers only at the next MOV CR3.
  struct legacy_step t[] = {
      {.kind = LEGACY_READ, .addr = va},
      {.kind = LEGACY_WRITE, .addr = lo32(&pdpt[1]), .value = 0},
      {.kind = LEGACY_INVLPG, .addr = va},
      {.kind = LEGACY_READ, .addr = va},
      {.kind = LEGACY_MOV_CR3, .addr = e.cr3},
      {.kind = LEGACY_READ, .addr = va},
      {.kind = LEGACY_END},
  };
  legacy_run(&e, t);
  pdpt[1] = lo32(pd_win) | PTE_P;
  check(t[3].vector == LEGACY_NO_FAULT && t[3].result == PLANTED && t[5].vector == VEC_PF &&
            t[5].error == 0 && t[5].cr2 == va,
        "PAE: PDPTE cleared in memory: still used after INVLPG, #PF (error 0x%x) after MOV CR3",
        t[5].error);
}

static unsigned max_phys_bits(void) {
  uint32_t r[4];
  cpuid(0x80000008, 0, r);
  return r[0] & 0xFF;
}

int kmain(uint32_t magic, uint32_t mbi) {
  usermode_init();
  legacy_init();
  check((uint64_t)__image_end <= IDENT_LIMIT, "image ends at %lx, below the legacy identity map",
        (uint64_t)__image_end);
  build_tables();
  uint32_t r[4];
  cpuid(1, 0, r);
  check((r[3] & (1u << 3)) && (r[3] & (1u << 6)) && (r[3] & (1u << 17)),
        "CPUID.1: PSE, PAE and PSE-36 advertised");

  static const struct mode modes[2] = {{false, "32-bit", 1024}, {true, "PAE", 512}};
  unsigned mpa = max_phys_bits();
  for (unsigned k = 0; k < 2; k++) {
    const struct mode* m = &modes[k];
    matrix_4k(m);
    matrix_large(m);
    global_pages(m);
  }

  // 32-bit paging: 4 MiB PDE bits 20:13 are physical-address bits 39:32 (PSE-36, with
  // MAXPHYADDR 40), bit 21 is reserved; PTEs have no reserved bits (SDM Table 4-4).
  const uint64_t pde4m = LARGE_PA | PTE_P | PTE_RW | PTE_PS;
  const struct rsvd_case r32[] = {
      {"4 MiB PDE bit 21", true, pde4m | (1u << 21), PAGING_WRITE,
       PF_ERR_P | PF_ERR_W | PF_ERR_RSVD},
      {"4 MiB PDE bit 13 (PA bit 32)", true, pde4m | (1u << 13), PAGING_READ, 0},
      {"4 MiB PDE bit 20 (PA bit 39)", true, pde4m | (1u << 20), PAGING_READ, 0},
      {"4 KiB PTE bit 7 (PAT)", false, lo32(frame_a) | PTE_P | PTE_RW | PTE_PS, PAGING_READ, 0},
  };
  reserved_bits(&modes[0], r32, 4, true);

  // PAE: bits 62:MAXPHYADDR of PDEs and PTEs are reserved (bits 62:52 too, unlike 4-level
  // paging), bits 20:13 of a 2 MiB PDE, and XD when EFER.NXE = 0 (SDM 4.4.2).
  const uint64_t pte = lo32(frame_a) | PTE_P | PTE_RW, pde2m = LARGE_PA | PTE_P | PTE_RW | PTE_PS;
  const uint32_t rw = PF_ERR_P | PF_ERR_W | PF_ERR_RSVD;
  const struct rsvd_case rpae[] = {
      {"PTE bit MAXPHYADDR", false, pte | (1ull << mpa), PAGING_WRITE, rw},
      {"PTE bit 51", false, pte | (1ull << 51), PAGING_WRITE, rw},
      {"PTE bit 52", false, pte | (1ull << 52), PAGING_WRITE, rw},
      {"PTE bit 62", false, pte | (1ull << 62), PAGING_WRITE, rw},
      {"2 MiB PDE bit 13", true, pde2m | (1ull << 13), PAGING_WRITE, rw},
      {"2 MiB PDE bit 20", true, pde2m | (1ull << 20), PAGING_WRITE, rw},
      {"2 MiB PDE bit 55", true, pde2m | (1ull << 55), PAGING_FETCH, (rw & ~PF_ERR_W) | PF_ERR_I},
  };
  reserved_bits(&modes[1], rpae, 7, true);
  const struct rsvd_case rpae_nonx[] = {
      {"PTE XD with EFER.NXE=0", false, pte | PTE_NX, PAGING_READ, PF_ERR_P | PF_ERR_RSVD},
      {"PTE XD with EFER.NXE=0, fetch (no I/D)", false, pte | PTE_NX, PAGING_FETCH,
       PF_ERR_P | PF_ERR_RSVD},
  };
  reserved_bits(&modes[1], rpae_nonx, 2, false);
  // A non-leaf PDE with a reserved bit: the walk stops there.
  pd_win[0] |= 1ull << mpa;
  {
    struct paging_controls c = {true, false, false, false, true};
    struct legacy_env e = env_for(&modes[1], c, true);
    bool cr2_ok;
    uint32_t got = access1(&e, WIN + 5 * PAGE + OFF, PAGING_READ, false, false, &cr2_ok);
    check(got == (PF_ERR_P | PF_ERR_RSVD) && cr2_ok,
          "PAE non-leaf PDE bit MAXPHYADDR: error 0x%x (want 0x9)", got);
  }
  pd_win[0] &= ~(1ull << mpa);
  pdpte_registers(&modes[1]);

  check((rdmsr(MSR_EFER) & EFER_LMA) && (read_cr0() & CR0_PG), "back in long mode with paging");
  return check_summary("paging_legacy");
}
