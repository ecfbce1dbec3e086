/* realmode: the trampoline copied to 0x8000. 64-bit -> compatibility mode -> paging off,
 * EFER.LME off (32-bit protected mode) -> 16-bit protected mode -> PE off (real mode) ->
 * 16-bit code with segment arithmetic, an INT through a real-mode IVT, unreal-mode
 * access -> PE on -> 32-bit -> paging and long mode -> back to the 64-bit caller
 * (SDM Vol. 3A 9.8, 9.9, 10.8.5; 20.1 real-address mode). */
#include "kit/usermode.h"

#define BLOB_BASE 0x8000
#define BLOB_SEG (BLOB_BASE >> 4)
#define ABS(x) ((x) - rm_blob + BLOB_BASE)
#define OFF(x) ((x) - rm_blob)
#define IVT_BASE 0x9000

  .text
  /* void rm_roundtrip(void): runs the trampoline (already copied to BLOB_BASE). */
  .globl rm_roundtrip
  .code64
rm_roundtrip:
  pushq %rbx
  pushq %rbp
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, ABS(rm_saved_rsp)
  sidt ABS(rm_saved_idt)
  pushq $KERNEL_SEL_CODE32
  pushq $ABS(pm32)
  lretq

  .globl rm_blob, rm_blob_end
  .p2align 4
rm_blob:
  .code32
pm32:
  /* Compatibility mode: turn paging off (leaves IA-32e mode), then EFER.LME off. */
  movl %cr0, %eax
  andl $0x7FFFFFFF, %eax
  movl %eax, %cr0
  movl $0xC0000080, %ecx
  rdmsr
  andl $~0x100, %eax
  wrmsr
  rdmsr
  movl %eax, ABS(res_efer32)
  ljmp $KERNEL_SEL_CODE16, $ABS(pm16)

  .code16
pm16:
  movw $KERNEL_SEL_DATA16, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movw %ax, %gs
  movw $0x10, %ax            /* flat 4 GiB data: FS keeps that limit in real mode */
  movw %ax, %fs
  movl %cr0, %eax
  andl $~1, %eax
  movl %eax, %cr0
  ljmp $BLOB_SEG, $OFF(real)

real:
  /* Real mode, CS = BLOB_SEG: offsets are relative to the blob. */
  movw $BLOB_SEG, %ax
  movw %ax, %ds
  xorw %ax, %ax
  movw %ax, %ss
  movw $0x7000, %sp
  movw %cs, %ax
  movw %ax, OFF(res_cs)
  /* Segment arithmetic: 0x0900:0x0010 and 0x0901:0x0000 are the same byte. */
  movw $0x0900, %ax
  movw %ax, %es
  movw $0xBEEF, %es:0x10
  movw $0x0901, %ax
  movw %ax, %gs
  movw %gs:0, %ax
  movw %ax, OFF(res_seg)
  /* 32-bit operands in 16-bit code (operand-size prefix). */
  movl $0x12345678, %eax
  addl $1, %eax
  movl %eax, OFF(res_op32)
  /* INT through an IVT at IVT_BASE, loaded with a 16-bit LIDT (24-bit base). */
  lidtw OFF(rm_ivt_ptr)
  movw $0x1111, %ax
  int $0x80
  movw %ax, OFF(res_int)
  /* Unreal mode: FS kept its 4 GiB limit from protected mode. */
  movl OFF(res_unreal_addr), %ebx
  addr32 movl %fs:(%ebx), %eax
  movl %eax, OFF(res_unreal)
  /* Back: PE on, far jump to 32-bit code. */
  movl %cr0, %eax
  orl $1, %eax
  movl %eax, %cr0
  ljmpl $KERNEL_SEL_CODE32, $ABS(pm32b)

int80:
  incw OFF(res_int_count)
  addw $0x0123, %ax
  iret

  .code32
pm32b:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movw %ax, %fs
  movw %ax, %gs
  movl $0xC0000080, %ecx
  rdmsr
  orl $0x100, %eax
  wrmsr
  movl %cr0, %eax
  orl $0x80000000, %eax
  movl %eax, %cr0
  ljmp $0x08, $ABS(lm64)

  .code64
lm64:
  movq ABS(rm_saved_rsp), %rsp
  lidt ABS(rm_saved_idt)
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbp
  popq %rbx
  ret

  .p2align 3
  .globl rm_results
rm_results:
res_cs: .word 0
res_seg: .word 0
res_int: .word 0
res_int_count: .word 0
res_op32: .long 0
res_unreal: .long 0
res_efer32: .long 0
res_unreal_addr: .long 0
rm_saved_rsp: .quad 0
rm_saved_idt: .word 0
  .quad 0
rm_ivt_ptr: .word 0x3FF
  .long IVT_BASE
rm_blob_end:

  .section .rodata
  .globl rm_int80_off
rm_int80_off: .word OFF(int80)

  .section .note.GNU-stack, "", @progbits
