/* Ring 3 for guest programs: user segments in the GDT, TSS.RSP0, SYSCALL/SYSRET with
 * SWAPGS, and a call into user mode that returns (SDM Vol. 3A 5.8.8, 6.14; Vol. 2
 * "SYSCALL", "SYSRET", "SWAPGS"). */
#pragma once

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>
#endif

/* GDT selectors added by usermode_init (after the kit's code, data and TSS). The order is
 * the one SYSRET needs: STAR[63:48] = USER_SEL_CODE32, +8 data, +16 64-bit code. */
#define USER_SEL_CODE32 (0x28 | 3)
#define USER_SEL_DATA (0x30 | 3)
#define USER_SEL_CODE64 (0x38 | 3)
#define KERNEL_SEL_CODE32 0x40 /* 32-bit ring-0 code, for leaving long mode */
#define KERNEL_SEL_CODE16 0x48 /* 16-bit ring-0 code, base 0, limit 64 KiB */
#define KERNEL_SEL_DATA16 0x50 /* 16-bit ring-0 data, base 0, limit 64 KiB */

/* The system call the kit's user_call trampoline makes when the user function returns. */
#define SYS_USER_RETURN 0

#ifndef __ASSEMBLER__

/// Per-processor block that GS points to in the kernel (after SWAPGS). The SYSCALL entry
/// records what the processor handed over, so tests can check it.
struct kit_percpu {
  uint64_t kernel_rsp;     ///< stack top the SYSCALL entry switches to
  uint64_t user_rsp;       ///< user RSP at the last SYSCALL
  uint64_t user_rip;       ///< RCX at the last SYSCALL (the return address)
  uint64_t user_rflags;    ///< R11 at the last SYSCALL
  uint64_t kernel_rflags;  ///< RFLAGS in the kernel after IA32_FMASK
  uint64_t self;           ///< address of this block (read as %gs:40 to check SWAPGS)
  uint64_t sysret32;       ///< set by a hook: return with SYSRETL (to compatibility mode)
};
extern struct kit_percpu kit_percpu;

/// Installs the larger GDT, TSS.RSP0 (a kernel stack for exceptions from ring 3), and
/// SYSCALL (EFER.SCE, STAR, LSTAR, FMASK = TF|DF|IF|AC|NT|IOPL, KERNEL_GS_BASE).
void usermode_init(void);

/// Makes [va, va + bytes) reachable from ring 3 by setting U/S in the paging entries on
/// the way (2 MiB granularity; 4 KiB if the region was split).
void usermode_map_user(uint64_t va, uint64_t bytes);

/// Runs fn(arg) at CPL 3 on `user_stack_top` (64-bit user code, RFLAGS = `rflags`); returns
/// what fn returns (fn returns into a trampoline that makes SYSCALL SYS_USER_RETURN).
uint64_t user_call(uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t user_stack_top,
                   uint64_t rflags);

/// Handler for system calls other than SYS_USER_RETURN; a program sets it. Called in ring 0
/// with the user's RAX, RDI, RSI, RDX; its result goes back in RAX. It may change
/// kit_percpu.user_rip / user_rflags (what SYSRET loads) and set kit_percpu.sysret32.
extern uint64_t (*usermode_syscall_hook)(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3);

/// A system call from ring 3: number in RAX, arguments in RDI, RSI, RDX.
static inline uint64_t user_syscall(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3) {
  uint64_t ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a1), "S"(a2), "d"(a3)
                   : "rcx", "r11", "memory");
  return ret;
}
#endif
