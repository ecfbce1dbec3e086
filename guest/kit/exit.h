/* Ending a guest program: the debug-exit port 0xF4 and the kit's exit codes. */
#pragma once

#include <stdint.h>

/// Exit codes the kit itself uses; programs use 0 for pass and small values (1) for failed
/// checks. All stay below 0x80 so that an 8-bit process status (code << 1) | 1 keeps them
/// apart.
#define KIT_EXIT_PASS 0
#define KIT_EXIT_EXCEPTION_BASE 0x40   /* + vector: unexpected exception (0x40-0x5F) */
#define KIT_EXIT_NESTED_EXCEPTION 0x7E /* exception inside the default handler */

/// Writes `code` to port 0xF4 as a 32-bit OUT (the machine stops; the simulator exits with
/// status (code << 1) | 1), then halts with interrupts off in case nothing listens.
void exit(uint32_t code) __attribute__((noreturn));
