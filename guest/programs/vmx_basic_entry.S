/* vmx_run: enter the guest with VMLAUNCH or VMRESUME and come back at the VM exit
 * (Intel SDM Vol. 3C 27 "VM entries", 28.5 "Loading host state": RSP and RIP come from the
 * host-state area, every other general-purpose register is the guest's).
 *
 *   uint64_t vmx_run(struct gregs* g, int resume);
 *
 * Loads RAX-R15 (not RSP) from *g, enters; on a VM exit stores them back into *g and
 * returns 0. If VMLAUNCH/VMRESUME fails (VMfailInvalid/VMfailValid) it returns RFLAGS with
 * bit 63 set. struct gregs: rax rcx rdx rbx rbp rsi rdi r8 ... r15, 8 bytes each.
 * HOST_RIP must already be vmx_exit_point; HOST_RSP is rewritten only when this call's
 * stack pointer differs from vmx_host_rsp, the last value written (as KVM does). */
  .data
  .globl vmx_host_rsp
  .balign 8
vmx_host_rsp:
  .quad 0
  .text
  .globl vmx_run
  .globl vmx_exit_point
vmx_run:
  push %rbp
  push %rbx
  push %r12
  push %r13
  push %r14
  push %r15
  push %rdi                      /* g, found at 0(%rsp) after the exit */
  cmp vmx_host_rsp(%rip), %rsp   /* HOST_RSP only when it changed (HOST_RIP is fixed) */
  je 4f
  mov %rsp, vmx_host_rsp(%rip)
  mov $0x6C14, %rax              /* HOST_RSP */
  vmwrite %rsp, %rax
4:
  test %esi, %esi                /* the MOVs below keep the flags */
  mov 0(%rdi), %rax
  mov 8(%rdi), %rcx
  mov 16(%rdi), %rdx
  mov 24(%rdi), %rbx
  mov 32(%rdi), %rbp
  mov 40(%rdi), %rsi
  mov 56(%rdi), %r8
  mov 64(%rdi), %r9
  mov 72(%rdi), %r10
  mov 80(%rdi), %r11
  mov 88(%rdi), %r12
  mov 96(%rdi), %r13
  mov 104(%rdi), %r14
  mov 112(%rdi), %r15
  mov 48(%rdi), %rdi
  jnz 1f
  vmlaunch
  jmp 2f
1:
  vmresume
2:                               /* VM entry failed: RFLAGS has CF or ZF */
  pushfq
  pop %rax
  bts $63, %rax
  pop %rdi
  jmp 3f
vmx_exit_point:
  push %rdi                      /* guest RDI */
  mov 8(%rsp), %rdi              /* g */
  mov %rax, 0(%rdi)
  mov %rcx, 8(%rdi)
  mov %rdx, 16(%rdi)
  mov %rbx, 24(%rdi)
  mov %rbp, 32(%rdi)
  mov %rsi, 40(%rdi)
  mov %r8, 56(%rdi)
  mov %r9, 64(%rdi)
  mov %r10, 72(%rdi)
  mov %r11, 80(%rdi)
  mov %r12, 88(%rdi)
  mov %r13, 96(%rdi)
  mov %r14, 104(%rdi)
  mov %r15, 112(%rdi)
  pop %rax
  mov %rax, 48(%rdi)
  pop %rdi
  xor %eax, %eax
3:
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbx
  pop %rbp
  ret
