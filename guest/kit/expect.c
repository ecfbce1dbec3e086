/* Expecting one exception from one instruction (kit/expect.h). */
#include "kit/expect.h"

#include "kit/cpu.h"

static volatile int expected = -1, taken = -1, skip;

void expect_exception(int vector, int insn_length) {
  taken = -1;
  skip = insn_length;
  expected = vector;
}

int exception_taken(void) {
  expected = -1;
  return taken;
}

bool expected_exception(struct frame* f) {
  if ((int)f->vector != expected) return false;
  taken = (int)f->vector;
  expected = -1;
  f->rip += (uint64_t)skip;
  return true;
}

bool rdmsr_faults(uint32_t msr) {
  expect_exception(13, 2);
  (void)rdmsr(msr);
  return exception_taken() == 13;
}

bool wrmsr_faults(uint32_t msr, uint64_t v) {
  expect_exception(13, 2);
  wrmsr(msr, v);
  return exception_taken() == 13;
}
