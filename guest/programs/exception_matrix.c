/* exception_matrix: every vector 0-21 that software can raise in 64-bit mode, with its
 * error code and saved RIP (fault: the instruction; trap: the next one); vectors without
 * an architectural trigger here (NMI, #OF/#BR in 64-bit mode, #NM/#MF/#XM without x87/SSE,
 * #MC, #VE) are raised with INT n, which pushes no error code. #DF from a #PF whose gate is
 * not present, on IST1. (SDM Vol. 3A 6.3, 6.13, 6.14.5, 6.15 Table 6-5.) */
#include "kit/kit.h"
#include "kit/usermode.h"

// Each probe: a labelled faulting instruction, then a resume label.
#define PROBE(name, body)            \
  __asm__(".text\n" #name ":\n"      \
          #name "_insn:\n" body "\n" \
          #name "_resume:\n"         \
          "  ret\n");                \
  void name(void);                   \
  extern char name##_insn[], name##_resume[];

PROBE(p_de, "  xorl %ecx, %ecx\n  movl $1, %eax\n  xorl %edx, %edx\n" "p_de_div:\n  divl %ecx")
extern char p_de_div[];
PROBE(p_db, "  .byte 0xf1")
PROBE(p_bp, "  int3")
PROBE(p_ud, "  ud2")
PROBE(p_np, "  movw $0x58, %ax\n" "p_np_load:\n  movw %ax, %fs")
extern char p_np_load[];
PROBE(p_ss, "  movabsq $0x4000000000000000, %rcx\n" "p_ss_load:\n  movq (%rsp,%rcx), %rax")
extern char p_ss_load[];
PROBE(p_gp0, "  movabsq $0x4000000000000000, %rcx\n" "p_gp0_load:\n  movq (%rcx), %rax")
extern char p_gp0_load[];
PROBE(p_gpsel, "  movw $0xFF8, %ax\n" "p_gpsel_load:\n  movw %ax, %fs")
extern char p_gpsel_load[];
PROBE(p_pf, "  movq $0x7000000000, %rcx\n" "p_pf_load:\n  movq (%rcx), %rax")
extern char p_pf_load[];
PROBE(p_df, "  movq $0x7000000000, %rcx\n" "p_df_load:\n  movq (%rcx), %rax")
extern char p_df_load[];
PROBE(p_int2, "  int $2")
PROBE(p_int4, "  int $4")
PROBE(p_int5, "  int $5")
PROBE(p_int7, "  int $7")
PROBE(p_int9, "  int $9")
PROBE(p_int16, "  int $16")
PROBE(p_int18, "  int $18")
PROBE(p_int19, "  int $19")
PROBE(p_int20, "  int $20")

static volatile struct {
  unsigned hits;
  uint64_t vector, error, rip, frame;
  uint64_t resume;
} ex;

void handle_exception(struct frame* f) {
  ex.hits++;
  ex.vector = f->vector;
  ex.error = f->error_code;
  ex.rip = f->rip;
  ex.frame = (uint64_t)f;
  if (ex.hits > 3 || !ex.resume) default_exception(f);
  f->rip = ex.resume;
}

struct row {
  const char* name;
  void (*probe)(void);
  uint64_t vector;
  const char* rip;  // expected saved RIP
  uint64_t error;
  const char* resume;
};

int kmain(uint32_t magic, uint32_t mbi) {
  usermode_init();
  // A not-present data descriptor for #NP: copy the flat data descriptor into slot 0x58
  // (past the kit's entries) with P = 0, and widen GDTR to cover it.
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } gdtr;
  __asm__ volatile("sgdt %0" : "=m"(gdtr));
  uint64_t* gdt = (uint64_t*)gdtr.base;
  static uint64_t gdt2[16] __attribute__((aligned(16)));
  for (unsigned k = 0; k <= gdtr.limit / 8; k++) gdt2[k] = gdt[k];
  gdt2[0x58 / 8] = 0x00CF12000000FFFFull;  // data, DPL 0, P = 0
  gdtr.base = (uint64_t)gdt2;
  gdtr.limit = sizeof(gdt2) - 1;
  __asm__ volatile("lgdt %0" ::"m"(gdtr));

  const struct row rows[] = {
      {"#DE divide by zero", p_de, VEC_DE, p_de_div, 0, p_de_resume},
      {"#DB ICEBP (trap)", p_db, VEC_DB, p_db_resume, 0, p_db_resume},
      {"NMI vector by INT 2", p_int2, VEC_NMI, p_int2_resume, 0, p_int2_resume},
      {"#BP INT3 (trap)", p_bp, VEC_BP, p_bp_resume, 0, p_bp_resume},
      {"#OF vector by INT 4", p_int4, VEC_OF, p_int4_resume, 0, p_int4_resume},
      {"#BR vector by INT 5", p_int5, VEC_BR, p_int5_resume, 0, p_int5_resume},
      {"#UD UD2", p_ud, VEC_UD, p_ud_insn, 0, p_ud_resume},
      {"#NM vector by INT 7", p_int7, VEC_NM, p_int7_resume, 0, p_int7_resume},
      {"vector 9 by INT 9", p_int9, 9, p_int9_resume, 0, p_int9_resume},
      {"#NP(sel) not-present data segment", p_np, VEC_NP, p_np_load, 0x58, p_np_resume},
      {"#SS(0) non-canonical stack address", p_ss, VEC_SS, p_ss_load, 0, p_ss_resume},
      {"#GP(0) non-canonical address", p_gp0, VEC_GP, p_gp0_load, 0, p_gp0_resume},
      {"#GP(sel) selector beyond the GDT", p_gpsel, VEC_GP, p_gpsel_load, 0xFF8, p_gpsel_resume},
      {"#PF not present read", p_pf, VEC_PF, p_pf_load, 0, p_pf_resume},
      {"#MF vector by INT 16", p_int16, VEC_MF, p_int16_resume, 0, p_int16_resume},
      {"#MC vector by INT 18", p_int18, VEC_MC, p_int18_resume, 0, p_int18_resume},
      {"#XM vector by INT 19", p_int19, VEC_XM, p_int19_resume, 0, p_int19_resume},
      {"#VE vector by INT 20", p_int20, VEC_VE, p_int20_resume, 0, p_int20_resume},
  };
  for (unsigned k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
    const struct row* r = &rows[k];
    ex.hits = 0;
    ex.resume = (uint64_t)r->resume;
    r->probe();
    check(ex.hits == 1 && ex.vector == r->vector && ex.rip == (uint64_t)r->rip &&
              ex.error == r->error,
          "%-36s vector %lu error 0x%lx rip %s", r->name, ex.vector, ex.error,
          ex.rip == (uint64_t)r->rip ? "ok" : "WRONG");
  }

  // #DF: the #PF gate is not present, so delivering #PF raises #NP (contributory after a
  // page fault) = double fault, error code 0, on IST1 as the kit routes it.
  uint64_t idtr_base;
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  idtr_base = idtr.base;
  volatile uint8_t* pf_gate_attr = (volatile uint8_t*)(idtr_base + VEC_PF * 16 + 5);
  uint8_t saved = *pf_gate_attr;
  *pf_gate_attr = saved & 0x7F;
  ex.hits = 0;
  ex.resume = (uint64_t)p_df_resume;
  p_df();
  *pf_gate_attr = saved;
  check(ex.hits == 1 && ex.vector == VEC_DF && ex.error == 0 &&
            ex.frame >= ist1_stack_bottom() && ex.frame < ist1_stack_top(),
        "#DF from #PF with a not-present gate: vector %lu error 0x%lx, frame on IST1 (%lx)",
        ex.vector, ex.error, ex.frame);
  return check_summary("exception_matrix");
}
