/* Serial console on COM1 and the printf subset guest programs print with. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

/// Programs the UART at 0x3F8 for 115200 8N1 with FIFOs; called once by the kit at boot.
void console_init(void);
/// Writes one byte, polling LSR.THRE before it.
void console_putc(char c);
/// Writes a NUL-terminated string (no newline added).
void console_puts(const char* s);

/// Formats to the console. Conversions: %d %i %u %x %X %p %s %c %%, length modifiers l ll z,
/// flags '-' and '0', a decimal field width. Returns the number of bytes written.
int printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char* fmt, va_list ap);
/// Formats into buf (always NUL-terminated if size > 0); returns the length it wanted.
int snprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap);
