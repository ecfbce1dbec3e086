/* syscall_loop: a SYSCALL round-trip benchmark. Sets STAR/LSTAR/SFMASK and EFER.SCE, gives
 * the image user-accessible pages and a GDT with ring-3 segments, enters ring 3 with SYSRET
 * and loops SYSCALL -> kernel handler -> SYSRET `iterations=N` times (default 100000), then
 * returns to ring 0 through a final SYSCALL (SDM Vol. 2 "SYSCALL", "SYSRET"; Vol. 3A 5.8.8). */
#include "kit/kit.h"

#define MSR_STAR 0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_SFMASK 0xC0000084u

// GDT: the kit's five slots, then user data (0x28) and user code (0x30), so that SYSRET
// with STAR[63:48] = 0x20 loads SS = 0x2B and CS = 0x33, and SYSCALL with STAR[47:32] = 0x08
// loads CS = 0x08 and SS = 0x10 (the kit's ring-0 selectors).
extern uint64_t kit_gdt[KIT_GDT_ENTRIES];
static uint64_t gdt[7] __attribute__((aligned(16)));

struct table_pointer {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

uint64_t syscall_count;     // incremented by the kernel side of every SYSCALL
uint64_t saved_kernel_rsp;  // where the final SYSCALL returns to ring 0
uint8_t user_stack[16384] __attribute__((aligned(16)));

// run_user(n): enters ring 3 at user_loop with n in RDI; returns syscall_count after the
// user side's final SYSCALL (RAX = -1).
__asm__(
    ".text\n"
    ".globl run_user\n"
    "run_user:\n"
    "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
    "  mov %rsp, saved_kernel_rsp(%rip)\n"
    "  lea user_loop(%rip), %rcx\n"
    "  mov $0x2, %r11\n"  // user RFLAGS: interrupts off (no interrupt sources here)
    "  lea user_stack+16384(%rip), %rsp\n"
    "  sysretq\n"
    "user_loop:\n"  // ring 3
    "  mov $1, %eax\n"
    "  syscall\n"
    "  dec %rdi\n"
    "  jnz user_loop\n"
    "  mov $-1, %rax\n"
    "  syscall\n"
    "  ud2\n"
    ".globl syscall_entry\n"
    "syscall_entry:\n"  // ring 0: RCX = user RIP, R11 = user RFLAGS
    "  cmp $-1, %rax\n"
    "  je 1f\n"
    "  add %rax, syscall_count(%rip)\n"
    "  sysretq\n"
    "1:\n"
    "  mov saved_kernel_rsp(%rip), %rsp\n"
    "  mov syscall_count(%rip), %rax\n"
    "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
    "  ret\n");
uint64_t run_user(uint64_t n);
void syscall_entry(void);

/// Sets U/S on the paging entries of the first 16 MiB (the image, its data and stacks).
static void make_user_accessible(void) {
  uint64_t* pml4 = (uint64_t*)(read_cr3() & PTE_ADDR_MASK);
  uint64_t* pdpt = (uint64_t*)(pml4[0] & PTE_ADDR_MASK);
  pml4[0] |= PTE_US;
  pdpt[0] |= PTE_US;
  for (uint64_t va = 0; va < (16ull << 20); va += 2ull << 20) *paging_pde(va) |= PTE_US;
  flush_tlb();
}

int kmain(uint32_t magic, uint32_t mbi) {
  const char* cmdline = mb_cmdline(mb_info(mbi));
  uint64_t n = cmdline_u64(cmdline, "iterations", 100000);
  if (n == 0) n = 1;
  printf("syscall_loop: iterations=%lu\n", n);

  for (int i = 0; i < KIT_GDT_ENTRIES; i++) gdt[i] = kit_gdt[i];
  gdt[5] = 0x00CFF2000000FFFFull;  // user data, DPL 3
  gdt[6] = 0x00AFFA000000FFFFull;  // user 64-bit code, DPL 3
  struct table_pointer p = {sizeof(gdt) - 1, (uint64_t)gdt};
  __asm__ volatile("lgdt %0" ::"m"(p) : "memory");
  make_user_accessible();

  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);  // SCE
  wrmsr(MSR_STAR, (0x20ull << 48) | (0x08ull << 32));
  wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
  wrmsr(MSR_SFMASK, 0x4700);  // TF, IF, DF, NT cleared on entry

  uint64_t count = run_user(n);
  check(count == n, "%lu round trips through SYSCALL/SYSRET (expected %lu)", count, n);
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  check(cs == KIT_SEL_CODE64, "back in ring 0 (CS=%x)", cs);
  return check_summary("syscall_loop") ? 1 : 0;
}
