/* exceptions: raises #DE, #UD, #BP, #GP and invalid opcodes on purpose and checks the
 * vector, error code, saved RIP and stack of each, resuming with IRETQ (SDM Vol. 3A ch. 6). */
#include "kit/kit.h"

// Probes: tiny functions around one faulting instruction, with labels the handler and the
// checks use. `_insn` labels the instruction that faults, `_resume` where the handler goes
// on. Plain assembly so that the compiler cannot move or duplicate the instruction.
__asm__(
    ".text\n"
    // #DE, divide by zero; the handler fixes the divisor (RCX) and the DIV is retried.
    "probe_div0:\n"
    "  mov %edi, %eax\n"
    "  xor %edx, %edx\n"
    "  xor %ecx, %ecx\n"
    "probe_div0_insn:\n"
    "  div %ecx\n"
    "  ret\n"
    // #DE, quotient overflow: INT32_MIN / -1.
    "probe_idiv:\n"
    "  mov $0x80000000, %eax\n"
    "  cltd\n"
    "  mov $-1, %ecx\n"
    "probe_idiv_insn:\n"
    "  idiv %ecx\n"
    "probe_idiv_resume:\n"
    "  ret\n"
    // #UD from UD2; the handler advances RIP by 2.
    "probe_ud2:\n"
    "  xor %eax, %eax\n"
    "probe_ud2_insn:\n"
    "  ud2\n"
    "  mov $0x600d, %eax\n"
    "  ret\n"
    // #BP from INT3: a trap, saved RIP is the next instruction. Records RSP first.
    "probe_int3:\n"
    "  mov %rsp, probe_int3_rsp(%rip)\n"
    "probe_int3_insn:\n"
    "  int3\n"
    "probe_int3_resume:\n"
    "  ret\n"
    // #GP(selector) loading DS with a selector beyond the GDT limit (index 8, RPL 3).
    "probe_ds_limit:\n"
    "  mov $0x43, %eax\n"
    "probe_ds_limit_insn:\n"
    "  mov %eax, %ds\n"
    "probe_ds_limit_resume:\n"
    "  ret\n"
    // #GP(selector) loading DS with a system (TSS) descriptor.
    "probe_ds_tss:\n"
    "  mov $0x18, %eax\n"
    "probe_ds_tss_insn:\n"
    "  mov %eax, %ds\n"
    "probe_ds_tss_resume:\n"
    "  ret\n"
    // #GP(0) reading through a non-canonical address.
    "probe_noncanonical:\n"
    "  movabs $0x8000000000000000, %rax\n"
    "probe_noncanonical_insn:\n"
    "  mov (%rax), %rax\n"
    "probe_noncanonical_resume:\n"
    "  ret\n"
    // #UD from raw bytes: UD2 written as data, and opcodes invalid in 64-bit mode.
    "probe_raw_ud2:\n"
    "probe_raw_ud2_insn:\n"
    "  .byte 0x0f, 0x0b\n"
    "probe_raw_ud2_resume:\n"
    "  ret\n"
    "probe_push_es:\n"
    "probe_push_es_insn:\n"
    "  .byte 0x06\n"  // PUSH ES
    "probe_push_es_resume:\n"
    "  ret\n"
    "probe_daa:\n"
    "probe_daa_insn:\n"
    "  .byte 0x27\n"  // DAA
    "probe_daa_resume:\n"
    "  ret\n"
    "probe_pusha:\n"
    "probe_pusha_insn:\n"
    "  .byte 0x60\n"  // PUSHA
    "probe_pusha_resume:\n"
    "  ret\n"
    "probe_far_call:\n"
    "probe_far_call_insn:\n"
    "  .byte 0x9a, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00\n"  // CALL ptr16:32
    "probe_far_call_resume:\n"
    "  ret\n"
    "probe_lock_nop:\n"
    "probe_lock_nop_insn:\n"
    "  .byte 0xf0, 0x90\n"  // LOCK NOP: LOCK on a non-memory instruction
    "probe_lock_nop_resume:\n"
    "  ret\n");

#define PROBE(name)        \
  uint64_t name(uint64_t); \
  extern char name##_insn[], name##_resume[]
uint64_t probe_div0(uint64_t);
extern char probe_div0_insn[];
uint64_t probe_ud2(uint64_t);
extern char probe_ud2_insn[];
PROBE(probe_idiv);
PROBE(probe_int3);
PROBE(probe_ds_limit);
PROBE(probe_ds_tss);
PROBE(probe_noncanonical);
PROBE(probe_raw_ud2);
PROBE(probe_push_es);
PROBE(probe_daa);
PROBE(probe_pusha);
PROBE(probe_far_call);
PROBE(probe_lock_nop);
uint64_t probe_int3_rsp;

// What the handler should do with the next exception, and what it saw.
enum action { kResumeAt, kSkipBytes, kFixDivisor, kReturn };
static volatile struct {
  uint64_t vector;  // expected vector; anything else goes to default_exception
  enum action action;
  uint64_t arg;  // resume address or byte count
  // observations
  unsigned hits;
  uint64_t error_code, rip, cs, ss, rflags, rsp, frame;
} ex;

void handle_exception(struct frame* f) {
  if (f->vector != ex.vector || ex.hits) default_exception(f);
  ex.hits++;
  ex.error_code = f->error_code;
  ex.rip = f->rip;
  ex.cs = f->cs;
  ex.ss = f->ss;
  ex.rflags = f->rflags;
  ex.rsp = f->rsp;
  ex.frame = (uint64_t)f;
  switch (ex.action) {
    case kResumeAt: f->rip = ex.arg; break;
    case kSkipBytes: f->rip += ex.arg; break;
    case kFixDivisor: f->rcx = ex.arg; break;
    case kReturn: break;
  }
}

static void expect(uint64_t vector, enum action action, uint64_t arg) {
  ex.vector = vector;
  ex.action = action;
  ex.arg = arg;
  ex.hits = 0;
}

// Runs a probe expected to raise `vector` at `insn` with `error_code`, resuming at `resume`.
static void check_fault(const char* what, uint64_t (*probe)(uint64_t), uint64_t vector,
                        const char* insn, const char* resume, uint64_t error_code) {
  expect(vector, kResumeAt, (uint64_t)resume);
  probe(0);
  check(ex.hits == 1 && ex.rip == (uint64_t)insn && ex.error_code == error_code,
        "%s: %s once, rip=%lx (want %lx), error code 0x%lx (want 0x%lx)", what,
        exception_name(vector), ex.rip, (uint64_t)insn, ex.error_code, error_code);
}

static bool within(uint64_t a, uint64_t lo, uint64_t hi) {
  return a >= lo && a < hi;
}

int kmain(uint32_t magic, uint32_t mbi) {
  printf("exceptions: IDT vectors 0-31, IST1 [%lx, %lx)\n", ist1_stack_bottom(), ist1_stack_top());

  // #DE: fault, RIP at the DIV; fixing the divisor and returning retries it.
  expect(VEC_DE, kFixDivisor, 1);
  uint64_t q = probe_div0(1234567);
  check(ex.hits == 1 && ex.rip == (uint64_t)probe_div0_insn && ex.error_code == 0 && q == 1234567,
        "#DE divide by zero: rip=%lx (want %lx), retried after fix gives %lu (want 1234567)",
        ex.rip, (uint64_t)probe_div0_insn, q);
  check_fault("#DE idiv overflow", probe_idiv, VEC_DE, probe_idiv_insn, probe_idiv_resume, 0);

  // #UD from UD2; the handler skips its two bytes.
  expect(VEC_UD, kSkipBytes, 2);
  uint64_t r = probe_ud2(0);
  check(ex.hits == 1 && ex.rip == (uint64_t)probe_ud2_insn && r == 0x600d,
        "#UD ud2: rip=%lx (want %lx), resumed after it (rax=0x%lx)", ex.rip,
        (uint64_t)probe_ud2_insn, r);

  // #BP is a trap: saved RIP is after INT3. Check the whole frame.
  expect(VEC_BP, kReturn, 0);
  probe_int3(0);
  check(ex.hits == 1 && ex.rip == (uint64_t)probe_int3_resume,
        "#BP int3: rip=%lx (want %lx, the next instruction)", ex.rip, (uint64_t)probe_int3_resume);
  check(ex.cs == KIT_SEL_CODE64 && ex.ss == KIT_SEL_DATA && ex.rsp == probe_int3_rsp,
        "#BP frame: cs=0x%lx ss=0x%lx rsp=%lx (want 0x%x 0x%x %lx)", ex.cs, ex.ss, ex.rsp,
        KIT_SEL_CODE64, KIT_SEL_DATA, probe_int3_rsp);
  check((ex.rflags & 2) && !(ex.rflags & RFLAGS_IF), "#BP frame: rflags=0x%lx (bit 1 set, IF=0)",
        ex.rflags);
  check(within(ex.frame, (uint64_t)boot_stack_bottom, (uint64_t)boot_stack_top),
        "#BP without IST: handler frame %lx on the interrupted stack", ex.frame);

  // The same vector through IST1: the processor switches to the IST1 top and pushes there.
  idt_set_ist(VEC_BP, 1);
  expect(VEC_BP, kReturn, 0);
  probe_int3(0);
  idt_set_ist(VEC_BP, 0);
  uint64_t frame_end = ex.frame + sizeof(struct frame);
  check(ex.hits == 1 && within(ex.frame, ist1_stack_bottom(), ist1_stack_top()) &&
            frame_end == ist1_stack_top(),
        "#BP with IST1: handler frame [%lx, %lx) ends at IST1 top %lx", ex.frame, frame_end,
        ist1_stack_top());
  check(ex.rsp == probe_int3_rsp && ex.rip == (uint64_t)probe_int3_resume,
        "#BP with IST1: saved rsp=%lx (want %lx), rip=%lx", ex.rsp, probe_int3_rsp, ex.rip);

  // #GP with a selector error code (SDM Vol. 3A 6.13: selector index, TI; the low bits of
  // the error code are EXT and IDT, both 0 here).
  check_fault("#GP ds=0x43 beyond GDT limit", probe_ds_limit, VEC_GP, probe_ds_limit_insn,
              probe_ds_limit_resume, 0x40);
  check_fault("#GP ds=0x18 (TSS descriptor)", probe_ds_tss, VEC_GP, probe_ds_tss_insn,
              probe_ds_tss_resume, 0x18);
  uint16_t ds;
  __asm__ volatile("mov %%ds, %0" : "=r"(ds));
  check(ds == KIT_SEL_DATA, "DS unchanged by the faulting loads: 0x%x", ds);
  check_fault("#GP non-canonical address", probe_noncanonical, VEC_GP, probe_noncanonical_insn,
              probe_noncanonical_resume, 0);

  // Invalid opcodes.
  check_fault("#UD raw 0f 0b", probe_raw_ud2, VEC_UD, probe_raw_ud2_insn, probe_raw_ud2_resume, 0);
  check_fault("#UD 06 (push es)", probe_push_es, VEC_UD, probe_push_es_insn, probe_push_es_resume,
              0);
  check_fault("#UD 27 (daa)", probe_daa, VEC_UD, probe_daa_insn, probe_daa_resume, 0);
  check_fault("#UD 60 (pusha)", probe_pusha, VEC_UD, probe_pusha_insn, probe_pusha_resume, 0);
  check_fault("#UD 9a (far call ptr16:32)", probe_far_call, VEC_UD, probe_far_call_insn,
              probe_far_call_resume, 0);
  check_fault("#UD f0 90 (lock nop)", probe_lock_nop, VEC_UD, probe_lock_nop_insn,
              probe_lock_nop_resume, 0);

  return check_summary("exceptions") ? 1 : 0;
}
