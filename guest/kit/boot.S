/* Multiboot v1 boot stub: header, 32-bit entry, switch to long mode (SDM Vol. 3A 9.8.5),
 * then kit_start(magic, mbi) in C on the boot stack. */
#include "kit/layout.h"
#include "kit/spec/multiboot.h"
#include "kit/spec/x86.h"

#define MB_FLAGS (MULTIBOOT_HEADER_PAGE_ALIGN | MULTIBOOT_HEADER_MEMORY_INFO)
#define PD_LARGE (PTE_P | PTE_RW | PTE_PS)  /* 2 MiB page, supervisor, writable */
#define PD_LARGE_UC (PD_LARGE | PTE_PWT | PTE_PCD)

  .section .multiboot, "a"
  .p2align 2
multiboot_header:
  .long MULTIBOOT_HEADER_MAGIC
  .long MB_FLAGS
  .long -(MULTIBOOT_HEADER_MAGIC + MB_FLAGS)

  .section .text.boot, "ax"
  .code32
  .globl _start
_start:
  /* Entry state, recorded before anything changes it (kmain checks and prints it). */
  movl %eax, boot_entry_eax
  movl %ebx, boot_entry_ebx
  movl %cr0, %eax
  movl %eax, boot_entry_cr0
  movl %cr4, %eax
  movl %eax, boot_entry_cr4
  movl $boot_stack_top, %esp  /* Multiboot leaves ESP undefined */
  pushfl
  popl %eax
  movl %eax, boot_entry_eflags
  cld

  /* Page tables: PML4[0] -> PDPT[0..3] -> four PDs of 2 MiB pages = identity map of 4 GiB.
   * The top GiB (MMIO: IOAPIC, LAPIC) is mapped uncached. */
  movl $boot_pml4, %edi       /* zero PML4 and PDPT, which are adjacent */
  xorl %eax, %eax
  movl $(2 * 4096 / 4), %ecx
  rep stosl
  movl $(boot_pdpt + (PTE_P | PTE_RW)), boot_pml4
  movl $boot_pdpt, %edi
  movl $(boot_pd + (PTE_P | PTE_RW)), %eax
  movl $4, %ecx
1:
  movl %eax, (%edi)
  addl $4096, %eax
  addl $8, %edi
  decl %ecx
  jnz 1b
  movl $boot_pd, %edi
  xorl %ecx, %ecx              /* ecx = index of the 2 MiB page, 0..2047 */
2:
  movl %ecx, %eax
  shll $21, %eax
  orl $PD_LARGE, %eax
  cmpl $1536, %ecx
  jb 3f
  orl $(PTE_PWT | PTE_PCD), %eax
3:
  movl %eax, (%edi)
  movl %ecx, %edx
  shrl $11, %edx               /* bits 32.. of the physical address */
  movl %edx, 4(%edi)
  addl $8, %edi
  incl %ecx
  cmpl $2048, %ecx
  jb 2b

  /* Long mode: PAE, CR3, EFER.LME, then paging; we land in compatibility mode. */
  movl %cr4, %eax
  orl $CR4_PAE, %eax
  movl %eax, %cr4
  movl $boot_pml4, %eax
  movl %eax, %cr3
  movl $MSR_EFER, %ecx
  rdmsr
  orl $EFER_LME, %eax
  wrmsr
  lgdt kit_gdt_pointer
  movl %cr0, %eax
  orl $(CR0_PG | CR0_PE), %eax
  movl %eax, %cr0
  ljmp $KIT_SEL_CODE64, $long_mode_entry

  .code64
long_mode_entry:
  movw $KIT_SEL_DATA, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movw %ax, %fs
  movw %ax, %gs
  movq $boot_stack_top, %rsp
  xorl %ebp, %ebp
  movl boot_entry_eax(%rip), %edi
  movl boot_entry_ebx(%rip), %esi
  call kit_start
4:
  cli
  hlt
  jmp 4b

  .section .data
  /* Entry state; in .data, not .bss, so it is written before anything relies on BSS. */
  .p2align 2
  .globl boot_entry_eax, boot_entry_ebx, boot_entry_cr0, boot_entry_cr4, boot_entry_eflags
boot_entry_eax: .long 0
boot_entry_ebx: .long 0
boot_entry_cr0: .long 0
boot_entry_cr4: .long 0
boot_entry_eflags: .long 0

  .p2align 4
  .globl kit_gdt
kit_gdt:
  .quad 0                    /* null */
  .quad 0x00AF9A000000FFFF   /* KIT_SEL_CODE64: present, DPL0, code, L=1 */
  .quad 0x00CF92000000FFFF   /* KIT_SEL_DATA: present, DPL0, writable, 4 GiB */
  .quad 0, 0                 /* KIT_SEL_TSS: written by cpu_tables_init */
kit_gdt_end:
  .p2align 2
  .globl kit_gdt_pointer
kit_gdt_pointer:
  .word kit_gdt_end - kit_gdt - 1
  .quad kit_gdt              /* LGDT reads 4 bytes of base in 32-bit mode, 8 in 64-bit mode */

  .section .bss
  .p2align 12
  .globl boot_pml4, boot_pdpt, boot_pd
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd: .skip 4 * 4096
  .p2align 4
  .globl boot_stack_bottom, boot_stack_top
boot_stack_bottom: .skip KIT_BOOT_STACK_SIZE
boot_stack_top:

  .section .note.GNU-stack, "", @progbits
