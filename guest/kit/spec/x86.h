/* x86-64 architectural constants the guest kit uses (Intel SDM Vol. 3A ch. 2, 4, 6, 7). */
#pragma once

/* 2.5 Control registers. */
#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_TS (1 << 3)
#define CR0_NE (1 << 5)
#define CR0_WP (1 << 16)
#define CR0_PG 0x80000000
#define CR4_PAE (1 << 5)

/* 2.2.1 IA32_EFER (MSR 0xC0000080). */
#define MSR_EFER 0xC0000080
#define EFER_SCE (1 << 0)
#define EFER_LME (1 << 8)
#define EFER_LMA (1 << 10)
#define EFER_NXE (1 << 11)

/* 2.3 EFLAGS. */
#define RFLAGS_CF (1 << 0)
#define RFLAGS_IF (1 << 9)
#define RFLAGS_VM (1 << 17)

/* 4.5 4-level paging entry bits. */
#define PTE_P (1 << 0)
#define PTE_RW (1 << 1)
#define PTE_US (1 << 2)
#define PTE_PWT (1 << 3)
#define PTE_PCD (1 << 4)
#define PTE_A (1 << 5)
#define PTE_D (1 << 6)
#define PTE_PS (1 << 7) /* in a PDE/PDPTE: maps a large page */
#define PTE_G (1 << 8)
#define PTE_NX 0x8000000000000000
#define PTE_ADDR_MASK 0x000FFFFFFFFFF000

/* 4.7 Page-fault error code bits. */
#define PF_ERR_P (1 << 0)    /* 1: protection violation, 0: not present */
#define PF_ERR_W (1 << 1)    /* write access */
#define PF_ERR_U (1 << 2)    /* user-mode access */
#define PF_ERR_RSVD (1 << 3) /* reserved bit set in a paging entry */
#define PF_ERR_I (1 << 4)    /* instruction fetch */

/* 6.3.1 Exception vectors. */
#define VEC_DE 0  /* divide error */
#define VEC_DB 1  /* debug */
#define VEC_NMI 2 /* non-maskable interrupt */
#define VEC_BP 3  /* breakpoint (INT3) */
#define VEC_OF 4  /* overflow */
#define VEC_BR 5  /* BOUND range exceeded */
#define VEC_UD 6  /* invalid opcode */
#define VEC_NM 7  /* device not available */
#define VEC_DF 8  /* double fault (error code 0) */
#define VEC_TS 10 /* invalid TSS (error code) */
#define VEC_NP 11 /* segment not present (error code) */
#define VEC_SS 12 /* stack-segment fault (error code) */
#define VEC_GP 13 /* general protection (error code) */
#define VEC_PF 14 /* page fault (error code) */
#define VEC_MF 16 /* x87 floating-point error */
#define VEC_AC 17 /* alignment check (error code) */
#define VEC_MC 18 /* machine check */
#define VEC_XM 19 /* SIMD floating-point */
#define VEC_VE 20 /* virtualization exception */
#define VEC_CP 21 /* control protection (error code) */

/* 3.4.5.1 / 7.2.3 System descriptor types (64-bit mode). */
#define DESC_TYPE_TSS_AVAILABLE 0x9
#define DESC_TYPE_TSS_BUSY 0xB
#define DESC_TYPE_INTERRUPT_GATE 0xE
#define DESC_TYPE_TRAP_GATE 0xF
