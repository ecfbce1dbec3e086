/* Expecting one exception from one instruction. A program that tests fault rules arms the
 * expectation, runs the instruction, and asks which vector was taken; its
 * handle_exception passes every exception to expected_exception() first, which records the
 * expected one and resumes after the faulting instruction (its length given when armed). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kit/exception.h"

/// The next exception with `vector` is expected from an instruction `insn_length` bytes long.
void expect_exception(int vector, int insn_length);
/// The vector taken since expect_exception (-1 if none); disarms.
int exception_taken(void);
/// For handle_exception: true if `f` is the expected exception (recorded, RIP skipped).
bool expected_exception(struct frame* f);
/// RDMSR / WRMSR (2 bytes) raised #GP.
bool rdmsr_faults(uint32_t msr);
bool wrmsr_faults(uint32_t msr, uint64_t v);
