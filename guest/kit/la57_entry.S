/* la57_switch: 64-bit -> compatibility mode -> paging off -> CR4.LA57, CR3 -> paging on ->
 * 64-bit mode with 4- or 5-level paging (SDM Vol. 3A 4.1.1, 9.8.5). */
#include "kit/la57.h"
#include "kit/layout.h"
#include "kit/usermode.h"

  .text
  .code64
  .globl la57_switch
/* void la57_switch(uint64_t cr3 (rdi), bool la57 (sil)) */
la57_switch:
  pushfq
  cli
  movq %rsp, l5_saved_rsp(%rip)
  movl %edi, l5_cr3(%rip)
  movzbl %sil, %eax
  movl %eax, l5_on(%rip)
  pushq $KERNEL_SEL_CODE32
  leaq l5_compat(%rip), %rax
  pushq %rax
  lretq

  .code32
l5_compat:
  /* DS may be null (after a return from ring 3): outside 64-bit mode it must be usable. */
  movw $KIT_SEL_DATA, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movl %cr0, %eax
  andl $0x7FFFFFFF, %eax
  movl %eax, %cr0 /* IA-32e mode off; EFER.LME stays set */
  movl %cr4, %eax
  andl $~CR4_LA57, %eax
  cmpl $0, l5_on
  je 1f
  orl $CR4_LA57, %eax
1:
  movl %eax, %cr4
  movl l5_cr3, %eax
  movl %eax, %cr3
  movl %cr0, %eax
  orl $0x80000000, %eax
  movl %eax, %cr0 /* IA-32e mode on, 4- or 5-level paging */
  ljmp $KIT_SEL_CODE64, $l5_long

  .code64
l5_long:
  movq l5_saved_rsp(%rip), %rsp
  popfq
  ret

  .data
  .p2align 3
l5_saved_rsp: .quad 0
l5_cr3: .long 0
l5_on: .long 0

  .section .note.GNU-stack, "", @progbits
