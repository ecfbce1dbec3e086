/* SYSCALL entry with SWAPGS and SYSRET, and a call into ring 3 that comes back
 * (SDM Vol. 2 "SYSCALL", "SYSRET", "SWAPGS", "IRET"). */
#include "kit/layout.h"
#include "kit/usermode.h"

/* struct kit_percpu offsets */
#define PC_KERNEL_RSP 0
#define PC_USER_RSP 8
#define PC_USER_RIP 16
#define PC_USER_RFLAGS 24
#define PC_KERNEL_RFLAGS 32
#define PC_SYSRET32 48

  .text
  .globl kit_syscall_entry
  .p2align 4
kit_syscall_entry:
  swapgs
  movq %rsp, %gs:PC_USER_RSP
  movq %gs:PC_KERNEL_RSP, %rsp
  movq %rcx, %gs:PC_USER_RIP
  movq %r11, %gs:PC_USER_RFLAGS
  pushfq
  popq %gs:PC_KERNEL_RFLAGS
  cmpq $SYS_USER_RETURN, %rax
  je 1f
  /* Only RAX, RCX and R11 change across a system call: keep the other caller-saved ones. */
  pushq %rdi
  pushq %rsi
  pushq %rdx
  pushq %r8
  pushq %r9
  pushq %r10
  movq %rdx, %rcx
  movq %rsi, %rdx
  movq %rdi, %rsi
  movq %rax, %rdi
  call kit_syscall_dispatch
  popq %r10
  popq %r9
  popq %r8
  popq %rdx
  popq %rsi
  popq %rdi
  movq %gs:PC_USER_RIP, %rcx
  movq %gs:PC_USER_RFLAGS, %r11
  movq %gs:PC_USER_RSP, %rsp
  cmpq $0, %gs:PC_SYSRET32
  jne 2f
  swapgs
  sysretq
2:
  movq $0, %gs:PC_SYSRET32
  swapgs
  sysretl
1:
  /* The user function returned (value in RDI): back to user_call's caller in ring 0. */
  swapgs
  movq %rdi, %rax
  movq user_call_saved_rsp(%rip), %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbp
  popq %rbx
  ret

/* uint64_t user_call(fn=rdi, arg=rsi, user_stack_top=rdx, rflags=rcx) */
  .globl user_call
  .p2align 4
user_call:
  pushq %rbx
  pushq %rbp
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, user_call_saved_rsp(%rip)
  leaq user_return_trampoline(%rip), %rax
  subq $8, %rdx
  movq %rax, (%rdx)            /* fn returns into the trampoline */
  pushq $USER_SEL_DATA
  pushq %rdx
  pushq %rcx
  pushq $USER_SEL_CODE64
  pushq %rdi
  movq %rsi, %rdi
  iretq

  .p2align 4
user_return_trampoline:
  movq %rax, %rdi
  movl $SYS_USER_RETURN, %eax
  syscall
  ud2

  .section .bss
  .p2align 3
user_call_saved_rsp: .quad 0

  .section .note.GNU-stack, "", @progbits
