/* Parsing "key=value" words of a command line ("<kernel file> key=value ..."). */
#include "kit/cmdline.h"

#include "kit/string_ops.h"

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cmdline_get(const char* cmdline, const char* key, char* buf, size_t size) {
  size_t klen = strlen(key);
  const char* p = cmdline;
  while (*p && !is_space(*p)) p++;  // the first word names the kernel file
  for (;;) {
    while (is_space(*p)) p++;
    if (!*p) return false;
    const char* word = p;
    while (*p && !is_space(*p)) p++;
    if ((size_t)(p - word) > klen && strncmp(word, key, klen) == 0 && word[klen] == '=') {
      const char* v = word + klen + 1;
      size_t n = (size_t)(p - v);
      if (size) {
        if (n > size - 1) n = size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
      }
      return true;
    }
  }
}

bool parse_u64(const char* s, uint64_t* out) {
  uint64_t v = 0;
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, s += 2;
  if (!*s) return false;
  for (; *s; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9')
      d = (unsigned)(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f')
      d = (unsigned)(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F')
      d = (unsigned)(*s - 'A' + 10);
    else
      return false;
    v = v * base + d;
  }
  *out = v;
  return true;
}

bool cmdline_has_u64(const char* cmdline, const char* key, uint64_t* out) {
  char buf[32];
  return cmdline_get(cmdline, key, buf, sizeof(buf)) && parse_u64(buf, out);
}

uint64_t cmdline_u64(const char* cmdline, const char* key, uint64_t fallback) {
  uint64_t v;
  return cmdline_has_u64(cmdline, key, &v) ? v : fallback;
}
