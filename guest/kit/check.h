/* Uniform reporting of a program's checks: one "PASS"/"FAIL" line each, and a tally. */
#pragma once

#include <stdbool.h>

/// Prints "PASS: <what>" or "FAIL: <what>" and counts a failure. Returns ok.
bool check(bool ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

/// Number of failed checks so far.
int check_failures(void);

/// Prints "<name>: all N checks passed" or "<name>: F of N checks FAILED" and returns
/// the number of failures.
int check_summary(const char* name);
