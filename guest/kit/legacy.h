/* Running steps in 32-bit protected mode with 32-bit or PAE paging, from 64-bit code: leave
 * IA-32e mode (paging off in compatibility mode, EFER.LME off), enter the paging mode a
 * program describes, perform its steps at CPL 0 or 3 recording each one's exception, and
 * return to long mode (SDM Vol. 3A 9.8.5, 10.8.5 mode switching; 4.3, 4.4 paging; 7.2 TSS). */
#pragma once

/* Step kinds (struct legacy_step.kind). */
#define LEGACY_READ 0     /* 32-bit load from addr; result = the value */
#define LEGACY_WRITE 1    /* 32-bit store of value to addr */
#define LEGACY_FETCH 2    /* CALL addr (planted code ending in RET); result = EAX */
#define LEGACY_MOV_CR3 3  /* MOV addr to CR3 (CPL 0 only) */
#define LEGACY_MOV_CR4 4  /* MOV addr to CR4 (CPL 0 only) */
#define LEGACY_INVLPG 5   /* INVLPG [addr] (CPL 0 only) */
#define LEGACY_READ_CR3 6 /* result = CR3 (CPL 0 only) */
#define LEGACY_KINDS 7
#define LEGACY_END 0xFF /* ends the list */

/* Step flags. */
#define LEGACY_USER 1 /* run the access at CPL 3 (read, write, fetch only) */
#define LEGACY_AC 2   /* EFLAGS.AC = 1 for a supervisor access (SMAP) */

/* What the step recorded in `vector` when it raised nothing. */
#define LEGACY_NO_FAULT 0xFFFFFFFFu

/* The 32-bit TSS descriptor legacy_init adds to the GDT (after usermode's entries). */
#define LEGACY_SEL_TSS32 0x58

/* Field offsets, for legacy_entry.S (checked against the C layout in legacy.c). */
#define LS_KIND 0
#define LS_FLAGS 4
#define LS_ADDR 8
#define LS_VALUE 12
#define LS_VECTOR 16
#define LS_ERROR 20
#define LS_CR2 24
#define LS_RESULT 28
#define LS_SIZE 32
#define LE_CR0 0
#define LE_CR3 4
#define LE_CR4 8
#define LE_EFER 12
#define LE_USER_CODE 16
#define LE_USER_STACK 20

#ifndef __ASSEMBLER__
#include <stdint.h>

/// One step: what to do, and (filled in) what happened.
struct legacy_step {
  uint32_t kind;    ///< LEGACY_READ ... LEGACY_END
  uint32_t flags;   ///< LEGACY_USER, LEGACY_AC
  uint32_t addr;    ///< linear address, or the value for MOV to CR3/CR4
  uint32_t value;   ///< what LEGACY_WRITE stores
  uint32_t vector;  ///< out: exception vector, or LEGACY_NO_FAULT
  uint32_t error;   ///< out: its error code (0 if it has none)
  uint32_t cr2;     ///< out: CR2 after an exception
  uint32_t result;  ///< out: value loaded, or EAX after a fetch
};

/// The paging mode to enter: written in this order (CR4, CR3, then CR0 with PG = 1).
struct legacy_env {
  uint32_t cr0;         ///< must have PE and PG
  uint32_t cr3;         ///< page directory (32-bit) or PDPT (PAE)
  uint32_t cr4;         ///< PSE, PAE, PGE, SMEP, SMAP as wanted
  uint32_t efer;        ///< EFER bits besides LME to set (NXE); SCE is kept
  uint32_t user_code;   ///< linear address where the legacy_user_blob copy is mapped (CPL 3)
  uint32_t user_stack;  ///< top of a user-writable stack (CPL 3)
};

/// Installs the legacy-mode tables: a copy of the current GDT plus a 32-bit TSS, and a
/// 32-bit IDT whose vectors 0-31 record the exception and end the step (vector 0x80, DPL 3,
/// ends a user step). Call once, after usermode_init; everything must lie below 4 GiB.
void legacy_init(void);

/// Enters 32-bit protected mode with `env`'s paging, runs `steps` up to LEGACY_END, and
/// returns to 64-bit mode with the long-mode state it left (CR0, CR3, CR4, EFER, IDT, TR,
/// FS/GS). The code, stacks and tables must be identity-mapped by the legacy paging.
void legacy_run(const struct legacy_env* env, struct legacy_step* steps);

/// Position-independent 32-bit user code the caller copies to a user page (env.user_code).
extern const char legacy_user_blob[], legacy_user_blob_end[];
#endif
