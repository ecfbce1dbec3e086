/* syscall: ring 3 and back. IRETQ into user mode; SYSCALL round trips with arguments
 * (RCX/R11 saved, RFLAGS masked by IA32_FMASK, CS/SS from STAR, SWAPGS); SYSRET to 64-bit
 * and to compatibility mode; user-mode #PF and #GP delivered to ring 0 on TSS.RSP0;
 * SYSRET to a non-canonical RCX faults in ring 0 (Intel) (SDM Vol. 2 "SYSCALL",
 * "SYSRET", "SWAPGS"; Vol. 3A 5.8.8, 6.12.1). */
#include "kit/kit.h"
#include "kit/usermode.h"

#define SYS_ADD 1
#define SYS_INFO 2
#define SYS_COMPAT 3

static uint8_t user_stack[8192] __attribute__((aligned(16)));

// What the kernel saw, per system call.
static volatile struct {
  uint64_t gs_base, kernel_gs_base, cs, ss, user_rflags, kernel_rflags;
} seen;

// User-mode probes: a read of a supervisor page, a privileged instruction, and the
// compatibility-mode stub reached by SYSRETL that far-jumps back to 64-bit code.
__asm__(
    ".text\n"
    "user_read:\n"
    "user_read_insn:\n"
    "  movq (%rdi), %rax\n"
    "user_read_resume:\n"
    "  ret\n"
    "user_cli:\n"
    "user_cli_insn:\n"
    "  cli\n"
    "  movl $0x600d, %eax\n"
    "  ret\n"
    ".code32\n"
    "compat_stub:\n"
    "  movl $0x33, %eax\n"  // IRET to ring 3 left DS unusable: load a ring-3 data segment
    "  movw %ax, %ds\n"
    "  movw %cs, %ax\n"
    "  movl %eax, compat_cs\n"
    "  movw %ss, %ax\n"
    "  movl %eax, compat_ss\n"
    "  ljmpl $0x3B, $compat_back\n"
    ".code64\n"
    "user_compat:\n"
    "  movq %rsp, compat_saved_rsp(%rip)\n"
    "  leaq compat_stub(%rip), %rdi\n"
    "  movl $3, %eax\n"
    "  syscall\n"
    "  ud2\n"
    "compat_back:\n"
    "  movq compat_saved_rsp(%rip), %rsp\n"
    "  movl $0xC0C0, %eax\n"
    "  ret\n"
    ".data\n"
    ".globl compat_cs, compat_ss, compat_saved_rsp\n"
    "compat_cs: .long 0\n"
    "compat_ss: .long 0\n"
    "compat_saved_rsp: .quad 0\n"
    ".text\n");
uint64_t user_read(uint64_t addr);
uint64_t user_cli(void);
extern char user_read_insn[], user_read_resume[], user_cli_insn[], compat_stub[];
extern volatile uint32_t compat_cs, compat_ss;
extern volatile uint64_t compat_saved_rsp;

static volatile struct {
  unsigned hits;
  uint64_t vector, error, rip, cs, ss, cr2, frame;
} ex;

void handle_exception(struct frame* f) {
  ex.hits++;
  ex.vector = f->vector;
  ex.error = f->error_code;
  ex.rip = f->rip;
  ex.cs = f->cs;
  ex.ss = f->ss;
  ex.cr2 = read_cr2();
  ex.frame = (uint64_t)f;
  if (f->vector == VEC_PF && f->rip == (uint64_t)user_read_insn) {
    f->rip = (uint64_t)user_read_resume;
    f->rax = 0xDEAD;
  } else if (f->vector == VEC_GP && f->rip == (uint64_t)user_cli_insn) {
    f->rip += 1;
  } else if (f->vector == VEC_GP && (f->cs & 3) == 0 && ex.hits == 1) {
    f->rip = f->rbx;  // set by the non-canonical SYSRET probe: its resume point
  } else {
    default_exception(f);
  }
}

static uint64_t syscall_hook(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3) {
  uint16_t cs, ss;
  __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
  seen.cs = cs;
  seen.ss = ss;
  seen.gs_base = rdmsr(0xC0000101);
  seen.kernel_gs_base = rdmsr(0xC0000102);
  switch (nr) {
    case SYS_ADD: return a1 + a2 + a3;
    case SYS_COMPAT:
      kit_percpu.user_rip = a1;
      kit_percpu.sysret32 = 1;
      return 0;
    case SYS_INFO: {
      seen.user_rflags = kit_percpu.user_rflags;
      seen.kernel_rflags = kit_percpu.kernel_rflags;
      uint64_t self;
      __asm__ volatile("movq %%gs:40, %0" : "=r"(self));
      return self;
    }
    default: return ~0ull;
  }
}

// Runs in ring 3.
static volatile uint64_t user_results[8];
static uint64_t user_main(uint64_t arg) {
  user_results[0] = user_syscall(SYS_ADD, arg, 2, 30);
  // DF set in user mode: FMASK clears it for the kernel, SYSRET restores it from R11.
  __asm__ volatile("std");
  user_results[1] = user_syscall(SYS_INFO, 0, 0, 0);
  user_results[2] = read_rflags();
  __asm__ volatile("cld");
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  user_results[3] = cs;
  user_results[4] = user_read(0x10000000);  // supervisor page: #PF, resumed with 0xDEAD
  user_results[5] = user_cli();             // #GP(0), skipped
  return 0x5EED;
}

// SYSRETL to compatibility mode: user_compat calls SYS_COMPAT with compat_stub's address,
// and the kernel side returns there with SYSRETL; the stub far-jumps back to 64-bit code.
uint64_t user_compat(uint64_t arg);

int kmain(uint32_t magic, uint32_t mbi) {
  usermode_init();
  usermode_map_user((uint64_t)__image_start, (uint64_t)__image_end - (uint64_t)__image_start);
  usermode_syscall_hook = syscall_hook;
  // A null GS (IRETQ to ring 3 would null a ring-0 GS), then the user GS base.
  __asm__ volatile("movw %w0, %%gs" ::"r"(0));
  wrmsr(0xC0000101, 0x1111000);

  uint64_t rsp0 = 0;
  {
    uint64_t top = (uint64_t)user_stack + sizeof(user_stack);
    uint64_t r = user_call(user_main, 10, top, 0x2);
    check(r == 0x5EED, "IRETQ to ring 3 and back through SYSCALL: user function returned 0x%lx", r);
    check(user_results[0] == 42, "SYSCALL add(10, 2, 30) = %lu", user_results[0]);
    check(user_results[3] == USER_SEL_CODE64, "user CS = 0x%lx (want 0x%x)", user_results[3],
          USER_SEL_CODE64);
    check(seen.cs == KIT_SEL_CODE64 && seen.ss == KIT_SEL_DATA,
          "kernel CS:SS from STAR[47:32] = %lx:%lx", seen.cs, seen.ss);
    check(user_results[1] == (uint64_t)&kit_percpu,
          "SWAPGS: kernel reads its per-CPU block through GS (%lx)", user_results[1]);
    check(seen.gs_base == (uint64_t)&kit_percpu && seen.kernel_gs_base == 0x1111000,
          "SWAPGS exchanged GS base (%lx) and KERNEL_GS_BASE (%lx)", seen.gs_base,
          seen.kernel_gs_base);
    check(rdmsr(0xC0000101) == 0x1111000, "user GS base restored after the round trips");
    check((seen.user_rflags & (1u << 10)) && !(seen.kernel_rflags & (1u << 10)),
          "R11 holds user RFLAGS with DF (0x%lx); kernel RFLAGS masked by FMASK (0x%lx)",
          seen.user_rflags, seen.kernel_rflags);
    check(user_results[2] & (1u << 10), "SYSRET restored DF from R11 (rflags 0x%lx)",
          user_results[2]);
    check(kit_percpu.user_rsp > (uint64_t)user_stack && kit_percpu.user_rsp <= top,
          "user RSP %lx kept across SYSCALL", kit_percpu.user_rsp);
    rsp0 = ex.frame;
  }
  check(ex.hits == 2, "two user-mode exceptions reached ring 0 (%u)", ex.hits);
  // The last one was the #GP; the #PF is checked through its effect and CR2.
  check(user_results[4] == 0xDEAD, "user read of a supervisor page: #PF handled, resumed");
  check(ex.vector == VEC_GP && ex.error == 0 && ex.rip == (uint64_t)user_cli_insn &&
            ex.cs == USER_SEL_CODE64 && ex.ss == USER_SEL_DATA,
        "user CLI: #GP(0) at %lx from CS=0x%lx SS=0x%lx", ex.rip, ex.cs, ex.ss);
  check(user_results[5] == 0x600d, "execution resumed after the faulting CLI");
  check(ex.cr2 == 0x10000000, "CR2 = %lx from the user #PF", ex.cr2);
  check(rsp0 < (uint64_t)boot_stack_bottom || rsp0 >= (uint64_t)boot_stack_top,
        "user exceptions ran on the TSS.RSP0 stack (frame %lx)", rsp0);

  // User #PF error code, separately.
  ex.hits = 0;
  user_call((uint64_t(*)(uint64_t))user_read, 0x10000000,
            (uint64_t)user_stack + sizeof(user_stack), 0x2);
  check(ex.hits == 1 && ex.vector == VEC_PF && ex.error == (PF_ERR_P | PF_ERR_U),
        "user #PF error code 0x%lx (want P|U = 0x5)", ex.error);

  // SYSRETL to compatibility mode, far JMP back to 64-bit code.
  ex.hits = 0;
  uint64_t r = user_call(user_compat, 0, (uint64_t)user_stack + sizeof(user_stack), 0x2);
  check(r == 0xC0C0 && compat_cs == USER_SEL_CODE32 && compat_ss == USER_SEL_DATA,
        "SYSRETL to compatibility mode: CS=0x%x SS=0x%x, back to 64-bit (0x%lx)", compat_cs,
        compat_ss, r);

  // SYSRET with a non-canonical RCX: #GP(0) in ring 0 (Intel), nothing changed.
  ex.hits = 0;
  __asm__ volatile(
      "leaq 1f(%%rip), %%rbx\n"
      "movabsq $0x8000000000000000, %%rcx\n"
      "movl $2, %%r11d\n"
      "sysretq\n"
      "1:\n"
      :
      :
      : "rcx", "rbx", "r11", "memory");
  check(ex.hits == 1 && ex.vector == VEC_GP && ex.error == 0 && (ex.cs & 3) == 0,
        "SYSRET to non-canonical RCX: #GP(0) in ring 0 (cs 0x%lx)", ex.cs);
  return check_summary("syscall");
}
