/* Uniform reporting of a program's checks: one "PASS"/"FAIL" line each, and a tally. */
#include "kit/check.h"

#include "kit/console.h"

static int checks, failures;

bool check(bool ok, const char* fmt, ...) {
  checks++;
  if (!ok) failures++;
  console_puts(ok ? "PASS: " : "FAIL: ");
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  console_putc('\n');
  return ok;
}

int check_failures(void) {
  return failures;
}

int check_summary(const char* name) {
  if (failures)
    printf("%s: %d of %d checks FAILED\n", name, failures, checks);
  else
    printf("%s: all %d checks passed\n", name, checks);
  return failures;
}
