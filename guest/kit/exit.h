/* Ending a guest program: the debug-exit port 0xF4 and the kit's exit codes. */
#pragma once

#include <stdint.h>

/// Exit codes the kit itself uses; programs use 0 for pass and small values for failures.
#define KIT_EXIT_PASS 0
#define KIT_EXIT_EXCEPTION_BASE 0x80 /* + vector: unexpected exception (0x80-0x9F) */
#define KIT_EXIT_NESTED_EXCEPTION 0xFE /* exception inside the default handler */
#define KIT_EXIT_RETURNED 0xFF         /* exit port did not stop the machine */

/// Writes `code` to port 0xF4 as a 32-bit OUT (the machine stops; the simulator exits with
/// status (code << 1) | 1), then halts with interrupts off in case nothing listens.
void exit(uint32_t code) __attribute__((noreturn));
