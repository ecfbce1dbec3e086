/* Parsing "key=value" words of a command line ("<kernel file> key=value ..."). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Copies the value of the first word "key=..." after the first word into buf (NUL-terminated,
/// truncated to size - 1). Returns false if there is no such word.
bool cmdline_get(const char* cmdline, const char* key, char* buf, size_t size);

/// The value of "key=N" as a number (decimal, or hex with 0x), or `fallback` if the word is
/// missing or not a number.
uint64_t cmdline_u64(const char* cmdline, const char* key, uint64_t fallback);

/// True if `key=N` is present and a number; stores it in *out.
bool cmdline_has_u64(const char* cmdline, const char* key, uint64_t* out);

/// Parses a whole string as a decimal or 0x-hex number. Returns false if it is not one.
bool parse_u64(const char* s, uint64_t* out);
