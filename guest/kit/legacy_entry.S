/* legacy_run: 64-bit -> compatibility mode -> paging off (IA-32e mode off) -> 32-bit
 * protected mode with 32-bit or PAE paging -> the steps -> back to long mode; the 32-bit
 * exception stubs and the user-mode blob (SDM Vol. 3A 9.8.5, 10.8.5, 6.12, 7.2). */
#include "kit/layout.h"
#include "kit/legacy.h"
#include "kit/usermode.h"

#define MSR_EFER 0xC0000080
#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101
#define EFER_LME 0x100
#define EFER_NXE 0x800

  .text
  .code64
  .globl legacy_run
/* void legacy_run(const struct legacy_env* env (rdi), struct legacy_step* steps (rsi)) */
legacy_run:
  pushq %rbx
  pushq %rbp
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  pushfq
  cli
  movq %rsp, lg_saved_rsp(%rip)
  sidt lg_saved_idt(%rip)
  movq %cr0, %rax
  movq %rax, lg_saved_cr0(%rip)
  movq %cr3, %rax
  movq %rax, lg_saved_cr3(%rip)
  movq %cr4, %rax
  movq %rax, lg_saved_cr4(%rip)
  movl $MSR_EFER, %ecx
  rdmsr
  movl %eax, lg_saved_efer(%rip)
  movl $MSR_FS_BASE, %ecx
  rdmsr
  movl %eax, lg_saved_fs_base(%rip)
  movl %edx, lg_saved_fs_base+4(%rip)
  movl $MSR_GS_BASE, %ecx
  rdmsr
  movl %eax, lg_saved_gs_base(%rip)
  movl %edx, lg_saved_gs_base+4(%rip)
  movw %fs, lg_saved_fs(%rip)
  movw %gs, lg_saved_gs(%rip)
  movl %edi, lg_env(%rip)
  movl %esi, lg_step(%rip)
  pushq $KERNEL_SEL_CODE32
  leaq lg_pm32(%rip), %rax
  pushq %rax
  lretq

  .code32
lg_pm32:
  /* Compatibility mode: CR0.PG = 0 leaves IA-32e mode (EFER.LMA = 0). */
  movl %cr0, %eax
  andl $0x7FFFFFFF, %eax
  movl %eax, %cr0
  movw $KIT_SEL_DATA, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movl %esp, lg_kernel_esp
  movl lg_env, %ebx
  movl $MSR_EFER, %ecx
  rdmsr
  andl $~(EFER_LME | EFER_NXE), %eax
  orl LE_EFER(%ebx), %eax
  wrmsr
  lidt lg_idt32_pointer
  andb $~2, lg_gdt + LEGACY_SEL_TSS32 + 5 /* available, so LTR accepts it */
  movw $LEGACY_SEL_TSS32, %ax
  ltr %ax
  movl LE_CR4(%ebx), %eax
  movl %eax, %cr4
  movl LE_CR3(%ebx), %eax
  movl %eax, %cr3
  movl LE_CR0(%ebx), %eax
  movl %eax, %cr0 /* paging on: 32-bit or PAE paging (PDPTEs loaded here) */

lg_next:
  movl lg_step, %esi
  movl LS_KIND(%esi), %eax
  cmpl $LEGACY_END, %eax
  je lg_exit
  movl $LEGACY_NO_FAULT, LS_VECTOR(%esi)
  movl $0, LS_ERROR(%esi)
  movl $0, LS_CR2(%esi)
  movl $0, LS_RESULT(%esi)
  movl %esp, lg_kernel_esp
  movl LS_ADDR(%esi), %edi
  movl LS_VALUE(%esi), %ecx
  cmpl $LEGACY_KINDS, %eax
  jae lg_done
  testl $LEGACY_USER, LS_FLAGS(%esi)
  jnz lg_user
  testl $LEGACY_AC, LS_FLAGS(%esi)
  jz 1f
  stac
1:
  jmp *lg_kind_table(, %eax, 4)

lg_k_read:
  movl (%edi), %ecx
  jmp lg_ok
lg_k_write:
  movl %ecx, (%edi)
  jmp lg_ok
lg_k_fetch:
  call *%edi
  movl %eax, %ecx
  jmp lg_ok
lg_k_cr3:
  movl %edi, %cr3
  jmp lg_ok
lg_k_cr4:
  movl %edi, %cr4
  jmp lg_ok
lg_k_invlpg:
  invlpg (%edi)
  jmp lg_ok
lg_k_read_cr3:
  movl %cr3, %ecx
lg_ok:
  movl lg_step, %esi
  movl %ecx, LS_RESULT(%esi)
lg_done:
  movl lg_kernel_esp, %esp
  movw $KIT_SEL_DATA, %ax
  movw %ax, %ds
  movw %ax, %es
  pushl $2 /* EFLAGS: IF = AC = TF = 0 */
  popfl
  addl $LS_SIZE, lg_step
  jmp lg_next

  /* CPL 3 through IRET; the user code ends with INT 80h (or faults). */
lg_user:
  cmpl $LEGACY_FETCH, %eax
  ja lg_done
  movl lg_env, %ebx
  movl LE_USER_CODE(%ebx), %edx
  addl lg_user_entry(, %eax, 4), %edx
  movw $USER_SEL_DATA, %ax
  movw %ax, %ds
  movw %ax, %es
  pushl $USER_SEL_DATA
  pushl LE_USER_STACK(%ebx)
  pushl $2
  pushl $USER_SEL_CODE32
  pushl %edx
  iret

  /* INT 80h from the user blob: the access completed, ECX holds its result. */
  .globl legacy_int80
legacy_int80:
  movl lg_step, %esi
  movl %ecx, LS_RESULT(%esi)
  jmp lg_done

  /* Exception stubs: error code (0 if the vector has none), vector, then record. */
  .macro LG_STUB vec
lg_exc_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushl $0
    .endif
    pushl $\vec
    jmp lg_exc_common
  .endm
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  LG_STUB \v
  .endr

lg_exc_common:
  movl lg_step, %esi
  popl %eax
  movl %eax, LS_VECTOR(%esi)
  popl %eax
  movl %eax, LS_ERROR(%esi)
  movl %cr2, %eax
  movl %eax, LS_CR2(%esi)
  jmp lg_done

lg_exit:
  movl %cr0, %eax
  andl $0x7FFFFFFF, %eax
  movl %eax, %cr0 /* paging off */
  movl lg_saved_cr4, %eax
  movl %eax, %cr4
  movl lg_saved_cr3, %eax
  movl %eax, %cr3
  movl $MSR_EFER, %ecx
  rdmsr
  movl lg_saved_efer, %eax
  wrmsr
  movl lg_saved_cr0, %eax
  movl %eax, %cr0 /* paging on with EFER.LME = 1: IA-32e mode again */
  ljmp $KIT_SEL_CODE64, $lg_lm64

  .code64
lg_lm64:
  movw $KIT_SEL_DATA, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movw lg_saved_fs(%rip), %ax
  movw %ax, %fs
  movw lg_saved_gs(%rip), %ax
  movw %ax, %gs
  movl $MSR_FS_BASE, %ecx
  movl lg_saved_fs_base(%rip), %eax
  movl lg_saved_fs_base+4(%rip), %edx
  wrmsr
  movl $MSR_GS_BASE, %ecx
  movl lg_saved_gs_base(%rip), %eax
  movl lg_saved_gs_base+4(%rip), %edx
  wrmsr
  andb $~2, lg_gdt + KIT_SEL_TSS + 5(%rip)
  movw $KIT_SEL_TSS, %ax
  ltr %ax
  lidt lg_saved_idt(%rip)
  movq lg_saved_rsp(%rip), %rsp
  popfq
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbp
  popq %rbx
  ret

  /* The user blob: copied to a user page, entered at the offsets in lg_user_entry with
   * EDI = address, ECX = value. */
  .globl legacy_user_blob, legacy_user_blob_end
  .code32
legacy_user_blob:
lg_u_read:
  movl (%edi), %ecx
  int $0x80
lg_u_write:
  movl %ecx, (%edi)
  int $0x80
lg_u_fetch:
  call *%edi
  movl %eax, %ecx
  int $0x80
legacy_user_blob_end:
  .code64

  .section .rodata
  .p2align 2
lg_kind_table:
  .long lg_k_read, lg_k_write, lg_k_fetch, lg_k_cr3, lg_k_cr4, lg_k_invlpg, lg_k_read_cr3
lg_user_entry:
  .long lg_u_read - legacy_user_blob, lg_u_write - legacy_user_blob
  .long lg_u_fetch - legacy_user_blob
  .globl legacy_exception_stubs
legacy_exception_stubs:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .long lg_exc_\v
  .endr

  .data
  .p2align 3
lg_saved_rsp: .quad 0
lg_saved_cr0: .quad 0
lg_saved_cr3: .quad 0
lg_saved_cr4: .quad 0
lg_saved_fs_base: .quad 0
lg_saved_gs_base: .quad 0
lg_saved_efer: .long 0
lg_env: .long 0
lg_step: .long 0
lg_kernel_esp: .long 0
lg_saved_fs: .word 0
lg_saved_gs: .word 0
lg_saved_idt: .word 0
  .quad 0

  .section .note.GNU-stack, "", @progbits
