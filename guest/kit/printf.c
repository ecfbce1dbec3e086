/* printf subset for guest programs: one formatter writing to the console or to a buffer. */
#include <stdbool.h>
#include <stdint.h>

#include "kit/console.h"

// Where formatted bytes go: the console (buf == NULL) or a bounded buffer.
struct sink {
  char* buf;
  size_t size;
  size_t len;  // bytes produced so far, including ones that did not fit
};

static void sink_put(struct sink* s, char c) {
  if (!s->buf) {
    console_putc(c);
  } else if (s->len + 1 < s->size) {
    s->buf[s->len] = c;
  }
  s->len++;
}

static void sink_pad(struct sink* s, char c, int n) {
  while (n-- > 0) sink_put(s, c);
}

// Emits `digits` (length n) with sign/prefix, honouring width, '-' and '0'.
static void put_field(struct sink* s, const char* prefix, const char* digits, int n, int width,
                      bool left, bool zero) {
  int plen = 0;
  while (prefix[plen]) plen++;
  int pad = width - n - plen;
  if (!left && !zero) sink_pad(s, ' ', pad);
  for (int i = 0; i < plen; i++) sink_put(s, prefix[i]);
  if (!left && zero) sink_pad(s, '0', pad);
  for (int i = 0; i < n; i++) sink_put(s, digits[i]);
  if (left) sink_pad(s, ' ', pad);
}

// Converts v to text in `base`; returns the length, digits stored at the end of tmp[24].
static int format_unsigned(uint64_t v, unsigned base, bool upper, char tmp[24], char** start) {
  const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char* p = tmp + 24;
  do {
    *--p = set[v % base];
    v /= base;
  } while (v);
  *start = p;
  return (int)(tmp + 24 - p);
}

static void format(struct sink* s, const char* fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      sink_put(s, *fmt);
      continue;
    }
    bool left = false, zero = false;
    for (;; fmt++) {
      if (fmt[1] == '-')
        left = true;
      else if (fmt[1] == '0')
        zero = true;
      else
        break;
    }
    int width = 0;
    while (fmt[1] >= '0' && fmt[1] <= '9') width = width * 10 + (*++fmt - '0');
    int longs = 0;
    while (fmt[1] == 'l' || fmt[1] == 'z') {
      longs += fmt[1] == 'z' ? 2 : 1;
      fmt++;
    }
    char conv = *++fmt;
    char tmp[24];
    char* digits;
    switch (conv) {
      case 'd':
      case 'i': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        int n = format_unsigned(mag, 10, false, tmp, &digits);
        put_field(s, v < 0 ? "-" : "", digits, n, width, left, zero);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
        int n = format_unsigned(v, conv == 'u' ? 10 : 16, conv == 'X', tmp, &digits);
        put_field(s, "", digits, n, width, left, zero);
        break;
      }
      case 'p': {
        uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void*);
        int n = format_unsigned(v, 16, false, tmp, &digits);
        put_field(s, "0x", digits, n, width, left, zero);
        break;
      }
      case 's': {
        const char* str = va_arg(ap, const char*);
        if (!str) str = "(null)";
        int n = 0;
        while (str[n]) n++;
        put_field(s, "", str, n, width, left, false);
        break;
      }
      case 'c': {
        char c = (char)va_arg(ap, int);
        put_field(s, "", &c, 1, width, left, false);
        break;
      }
      case '%': sink_put(s, '%'); break;
      case '\0': return;
      default:  // unknown conversion: show it verbatim
        sink_put(s, '%');
        sink_put(s, conv);
        break;
    }
  }
}

int vprintf(const char* fmt, va_list ap) {
  struct sink s = {0, 0, 0};
  format(&s, fmt, ap);
  return (int)s.len;
}

int printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}

int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap) {
  static char dummy;
  struct sink s = {size ? buf : &dummy, size, 0};
  format(&s, fmt, ap);
  if (size) buf[s.len < size ? s.len : size - 1] = '\0';
  return (int)s.len;
}

int snprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
