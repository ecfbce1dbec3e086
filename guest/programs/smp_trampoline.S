/* Application-processor start-up code (SDM Vol. 3A 9.4.4 "MP initialization example",
 * 9.8 "Initializing IA-32e mode"). Copied by smp.c to SMP_TRAMPOLINE (a 4 KiB page below
 * 1 MiB) and entered by SIPI in real mode at SMP_TRAMPOLINE:0 (CS = vector << 8, IP = 0).
 * Real mode -> 32-bit protected mode -> long mode on the BSP's page tables -> the kit's GDT
 * -> smp_ap_entry() on a stack of its own. Addresses are computed from SMP_TRAMPOLINE, since
 * the code does not run where it was linked. */
#define SMP_TRAMPOLINE 0x8000
#define OFF(label) ((label) - smp_trampoline_start)
#define ABS(label) (SMP_TRAMPOLINE + OFF(label))

  .section .rodata
  .globl smp_trampoline_start, smp_trampoline_end
  .globl smp_tramp_cr3, smp_tramp_stacks, smp_tramp_stack_size, smp_tramp_entry
  .globl smp_tramp_gdtr_kit, smp_tramp_next
  .p2align 12
  .code16
smp_trampoline_start:
  cli
  movw %cs, %ax
  movw %ax, %ds
  lgdtl OFF(tramp_gdtr)
  movl %cr0, %eax
  orl $1, %eax
  movl %eax, %cr0
  ljmpl $0x08, $ABS(tramp32)

  .code32
tramp32:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movl %cr4, %eax
  orl $0x20, %eax               /* PAE */
  movl %eax, %cr4
  movl ABS(smp_tramp_cr3), %eax
  movl %eax, %cr3
  movl $0xC0000080, %ecx        /* EFER.LME */
  rdmsr
  orl $0x100, %eax
  wrmsr
  movl %cr0, %eax
  orl $0x80000000, %eax         /* paging on: long mode (compatibility) */
  movl %eax, %cr0
  ljmp $0x18, $ABS(tramp64)

  .code64
tramp64:
  /* Take a stack slot: slot = next++ (several APs may arrive together). */
  movl $1, %eax
  lock xaddl %eax, ABS(smp_tramp_next)
  incl %eax
  imull ABS(smp_tramp_stack_size), %eax
  movq ABS(smp_tramp_stacks), %rsp
  addq %rax, %rsp
  /* Switch to the kit's GDT (its 64-bit code selector is what the IDT gates name). */
  movq ABS(smp_tramp_gdtr_kit), %rax
  lgdt (%rax)
  pushq $0x08
  movabsq $ABS(tramp64_kit), %rax
  pushq %rax
  lretq
tramp64_kit:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movw %ax, %fs
  movw %ax, %gs
  xorl %ebp, %ebp
  movq ABS(smp_tramp_entry), %rax
  call *%rax
1:
  cli
  hlt
  jmp 1b

  .p2align 3
tramp_gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF      /* 0x08: 32-bit code */
  .quad 0x00CF92000000FFFF      /* 0x10: data */
  .quad 0x00AF9A000000FFFF      /* 0x18: 64-bit code */
tramp_gdtr:
  .word 4 * 8 - 1
  .long ABS(tramp_gdt)
  .p2align 3
smp_tramp_cr3: .quad 0          /* filled in by smp.c */
smp_tramp_stacks: .quad 0       /* base of the AP stacks */
smp_tramp_stack_size: .quad 0
smp_tramp_entry: .quad 0        /* void smp_ap_entry(void) */
smp_tramp_gdtr_kit: .quad 0     /* address of the kit's GDT pointer */
smp_tramp_next: .quad 0         /* stack slots taken */
smp_trampoline_end:

  .section .note.GNU-stack, "", @progbits
