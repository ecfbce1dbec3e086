/* Exception frames and the hook every kit exception handler ends in. */
#pragma once

#include <stdint.h>

/// Saved state of an interrupted context, lowest address first: what isr.S pushed, then
/// what the processor pushed (SDM Vol. 3A 6.14.2). A hook may change any field (e.g. rip to
/// skip the faulting instruction); IRETQ resumes with what is left.
struct frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
  uint64_t vector;
  uint64_t error_code;  ///< 0 for vectors without one
  uint64_t rip, cs, rflags, rsp, ss;
};

/// Called by every vector 0-31 on the stack the IDT gate selects. The kit's weak
/// definition calls default_exception; a program defines its own to handle what it
/// expects, and calls default_exception for anything else.
void handle_exception(struct frame* f);

/// Prints vector, name, error code, RIP, CR2 and registers, then exits with
/// KIT_EXIT_EXCEPTION_BASE + vector.
void default_exception(const struct frame* f) __attribute__((noreturn));

/// Mnemonic of an exception vector ("#PF"), or "#??".
const char* exception_name(uint64_t vector);
