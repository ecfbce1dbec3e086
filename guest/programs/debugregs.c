/* debugregs: debug registers and #DB. Single-step counting over a known sequence and
 * through each iteration of REP MOVSB, instruction breakpoints (fault, RF to get past), data write and read/write breakpoints
 * (traps, exact DR6), general detect, ICEBP (SDM Vol. 3B ch. 17). */
#include "kit/kit.h"

// Probes with labels the checks know.
__asm__(
    ".text\n"
    // Sets TF with POPFQ, runs 5 instructions, clears TF with POPFQ.
    "step_probe:\n"
    "  pushfq\n"
    "  orq $0x100, (%rsp)\n"
    "  popfq\n"
    "  nop\n"
    "  addl $1, %eax\n"
    "  addl $2, %eax\n"
    "  nop\n"
    "  pushfq\n"
    "  andq $~0x100, (%rsp)\n"
    "  popfq\n"
    "step_end:\n"
    "  ret\n"
    "exec_probe:\n"
    "  movl %edi, %eax\n"
    "exec_probe_insn:\n"
    "  incl %eax\n"
    "  ret\n"
    "store_probe:\n"
    "  movl %esi, (%rdi)\n"
    "store_probe_after:\n"
    "  ret\n"
    "load_probe:\n"
    "  movzwl (%rdi), %eax\n"
    "load_probe_after:\n"
    "  ret\n"
    "gd_probe:\n"
    "gd_probe_insn:\n"
    "  movq %dr0, %rax\n"
    "gd_probe_after:\n"
    "  ret\n"
    // Copies RDX bytes with REP MOVSB under TF (RDI, RSI as passed).
    "rep_probe:\n"
    "  movq %rdx, %rcx\n"
    "  pushfq\n"
    "  orq $0x100, (%rsp)\n"
    "  popfq\n"
    "rep_probe_insn:\n"
    "  rep movsb\n"
    "rep_probe_after:\n"
    "  pushfq\n"
    "  andq $~0x100, (%rsp)\n"
    "  popfq\n"
    "  ret\n"
    "icebp_probe:\n"
    "  .byte 0xf1\n"
    "icebp_probe_after:\n"
    "  ret\n");
void step_probe(void);
uint32_t exec_probe(uint32_t x);
void store_probe(volatile uint32_t* p, uint32_t v);
uint32_t load_probe(volatile void* p);
uint64_t gd_probe(void);
void icebp_probe(void);
void rep_probe(void* dst, const void* src, uint64_t n);
extern char rep_probe_insn[], rep_probe_after[];
extern char step_end[], exec_probe_insn[], store_probe_after[], load_probe_after[];
extern char gd_probe_insn[], gd_probe_after[], icebp_probe_after[];

#define DR6_FIXED 0xFFFF0FF0ull
#define DR6_BD (1u << 13)
#define DR6_BS (1u << 14)

static inline uint64_t read_dr6(void) {
  uint64_t v;
  __asm__ volatile("mov %%dr6, %0" : "=r"(v));
  return v;
}
#define WRITE_DR(n, v) __asm__ volatile("mov %0, %%dr" #n ::"r"((uint64_t)(v)) : "memory")

#define REP_TRAPS 8

static volatile struct {
  unsigned hits, steps;
  uint64_t dr6, rip, rflags;
  bool set_rf, skip_gd;
  struct {
    uint64_t rip, rcx, rdi, dr6;
  } trap[REP_TRAPS];  ///< the first traps' state
} db;

void handle_exception(struct frame* f) {
  if (f->vector != VEC_DB) default_exception(f);
  db.hits++;
  db.dr6 = read_dr6();
  db.rip = f->rip;
  db.rflags = f->rflags;
  WRITE_DR(6, 0);
  if (db.hits <= REP_TRAPS) {
    db.trap[db.hits - 1].rip = f->rip;
    db.trap[db.hits - 1].rcx = f->rcx;
    db.trap[db.hits - 1].rdi = f->rdi;
    db.trap[db.hits - 1].dr6 = db.dr6;
  }
  if (db.dr6 & DR6_BS) db.steps++;
  if (db.set_rf) f->rflags |= 1u << 16;
  if (db.skip_gd && f->rip == (uint64_t)gd_probe_insn) f->rip = (uint64_t)gd_probe_after;
}

static void reset(void) {
  db.hits = db.steps = 0;
  db.dr6 = db.rip = db.rflags = 0;
  db.set_rf = db.skip_gd = false;
}

static volatile uint32_t watched[4] __attribute__((aligned(16)));

int kmain(uint32_t magic, uint32_t mbi) {
  WRITE_DR(6, 0);
  check(read_dr6() == DR6_FIXED, "DR6 reads 0x%lx after clearing (reserved bits set)",
        read_dr6());

  // Single-step: a trap after each instruction that began with TF=1. POPFQ setting TF is
  // not trapped; the 4 middle instructions, PUSHFQ, AND and the POPFQ clearing TF are.
  reset();
  step_probe();
  check(db.steps == 7 && db.rip == (uint64_t)step_end && !(db.rflags & 0x100),
        "single-step: %u traps (want 7), last after %lx (want %lx)", db.steps, db.rip,
        (uint64_t)step_end);

  // REP MOVSB of 4 bytes under TF: a trap after every iteration, RIP at the REP until the
  // last one, RCX/RDI counting (SDM 17.3.1.4); then PUSHFQ, AND, POPFQ: 7 traps.
  reset();
  static uint8_t src[4] = {1, 2, 3, 4}, dst[4];
  rep_probe(dst, src, 4);
  bool rep_ok = db.steps == 7 && dst[3] == 4;
  for (unsigned k = 0; k < 4; k++) {
    uint64_t want_rip = k < 3 ? (uint64_t)rep_probe_insn : (uint64_t)rep_probe_after;
    rep_ok &= db.trap[k].rip == want_rip && db.trap[k].rcx == 3 - k &&
              db.trap[k].rdi == (uint64_t)dst + k + 1 && db.trap[k].dr6 == (DR6_FIXED | DR6_BS);
  }
  check(rep_ok, "REP MOVSB under TF: %u traps (want 7); RCX %lu %lu %lu %lu; RIP at REP %d%d%d",
        db.steps, db.trap[0].rcx, db.trap[1].rcx, db.trap[2].rcx, db.trap[3].rcx,
        db.trap[0].rip == (uint64_t)rep_probe_insn, db.trap[1].rip == (uint64_t)rep_probe_insn,
        db.trap[2].rip == (uint64_t)rep_probe_insn);

  // Instruction breakpoint: a fault before the instruction; RF=1 in the image skips it.
  reset();
  db.set_rf = true;
  WRITE_DR(0, exec_probe_insn);
  WRITE_DR(7, 0x1);
  uint32_t r = exec_probe(41);
  WRITE_DR(7, 0);
  check(db.hits == 1 && db.rip == (uint64_t)exec_probe_insn && db.dr6 == (DR6_FIXED | 1) &&
            !(db.rflags & (1u << 16)) && r == 42,
        "execute breakpoint: #DB at %lx (want %lx), DR6=0x%lx, saved RF=%lu, ran once (%u)",
        db.rip, (uint64_t)exec_probe_insn, db.dr6, (db.rflags >> 16) & 1, r);

  // Data write breakpoint, 4 bytes at watched[1]: a trap after the store.
  reset();
  WRITE_DR(1, &watched[1]);
  WRITE_DR(7, (1u << 2) | (1u << 20) | (3u << 22));  // L1, R/W1=01 write, LEN1=11 4 bytes
  (void)load_probe(&watched[1]);                     // read: no trap
  store_probe(&watched[0], 5);                       // other bytes: no trap
  unsigned before = db.hits;
  store_probe(&watched[1], 7);
  WRITE_DR(7, 0);
  check(before == 0 && db.hits == 1 && db.rip == (uint64_t)store_probe_after &&
            db.dr6 == (DR6_FIXED | 2) && watched[1] == 7,
        "write breakpoint: trap after the store at %lx (want %lx), DR6=0x%lx, value written",
        db.rip, (uint64_t)store_probe_after, db.dr6);

  // Read/write breakpoint, 2 bytes at watched[2]+2 (DR3), hit by a 2-byte read.
  reset();
  WRITE_DR(3, (uint64_t)&watched[2] + 2);
  WRITE_DR(7, (1u << 6) | (3u << 28) | (1u << 30));  // L3, R/W3=11, LEN3=01 2 bytes
  (void)load_probe(&watched[2]);                     // bytes 0-1: no hit
  before = db.hits;
  (void)load_probe((uint8_t*)&watched[2] + 1);  // bytes 1-2: hit
  WRITE_DR(7, 0);
  check(before == 0 && db.hits == 1 && db.rip == (uint64_t)load_probe_after &&
            db.dr6 == (DR6_FIXED | 8),
        "read/write breakpoint: trap after the load, DR6=0x%lx", db.dr6);

  // General detect: MOV DR with DR7.GD faults before executing, with BD; GD is cleared.
  reset();
  db.skip_gd = true;
  WRITE_DR(7, 1u << 13);
  gd_probe();
  uint64_t dr7;
  __asm__ volatile("mov %%dr7, %0" : "=r"(dr7));
  check(db.hits == 1 && db.rip == (uint64_t)gd_probe_insn && (db.dr6 & DR6_BD) &&
            !(dr7 & (1u << 13)),
        "general detect: #DB at the MOV DR (%lx), DR6=0x%lx, DR7=0x%lx", db.rip, db.dr6, dr7);

  // ICEBP: a trap-class #DB after the instruction, no DR6 condition bits.
  reset();
  icebp_probe();
  check(db.hits == 1 && db.rip == (uint64_t)icebp_probe_after && db.dr6 == DR6_FIXED,
        "ICEBP: #DB with RIP after it (%lx), DR6=0x%lx", db.rip, db.dr6);
  return check_summary("debugregs");
}
