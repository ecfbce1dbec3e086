/* memcopy: a memory-copy benchmark. `mode=rep` copies a BUF-byte buffer with REP MOVSB and
 * with REP MOVSQ, `mode=loop` with a plain 8-byte load/store loop, `mode=all` (default) does
 * both; `rounds=N` (default 8) repeats. Prints the bytes copied by each kind and checks the
 * copies (SDM Vol. 2 "MOVS", "REP"). */
#include "kit/kit.h"

#define BUF (4u << 20)  // 4 MiB per buffer

static uint64_t src[BUF / 8];
static uint64_t dst[BUF / 8];

static void fill(uint64_t seed) {
  // One REP STOSQ for the bulk, then a sparse pattern so that copies are checkable.
  uint64_t* d = src;
  uint64_t n = BUF / 8;
  __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(seed) : "memory");
  for (uint64_t i = 0; i < BUF / 8; i += 509) src[i] = seed ^ (i * 0x9E3779B97F4A7C15ull);
}

static bool same(void) {
  for (uint64_t i = 0; i < BUF / 8; i += 127)
    if (dst[i] != src[i]) return false;
  return dst[BUF / 8 - 1] == src[BUF / 8 - 1];
}

static void copy_movsb(void) {
  void* d = dst;
  const void* s = src;
  uint64_t n = BUF;
  __asm__ volatile("cld; rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static void copy_movsq(void) {
  void* d = dst;
  const void* s = src;
  uint64_t n = BUF / 8;
  __asm__ volatile("cld; rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static void copy_loop(void) {
  volatile uint64_t* d = dst;  // volatile: keep the loop a loop of loads and stores
  for (uint64_t i = 0; i < BUF / 8; i++) d[i] = src[i];
}

int kmain(uint32_t magic, uint32_t mbi) {
  const char* cmdline = mb_cmdline(mb_info(mbi));
  uint64_t rounds = cmdline_u64(cmdline, "rounds", 8);
  char mode[8] = "all";
  cmdline_get(cmdline, "mode", mode, sizeof mode);
  bool rep = strcmp(mode, "loop") != 0, loop = strcmp(mode, "rep") != 0;
  printf("memcopy: mode=%s rounds=%lu buffer=%u bytes\n", mode, rounds, BUF);
  uint64_t rep_bytes = 0, loop_bytes = 0;
  bool ok = true;
  for (uint64_t r = 0; r < rounds; r++) {
    fill(r + 1);
    if (rep) {
      copy_movsb();
      ok &= same();
      fill(r + 100);
      copy_movsq();
      ok &= same();
      rep_bytes += 2ull * BUF;
    }
    if (loop) {
      fill(r + 1000);
      copy_loop();
      ok &= same();
      loop_bytes += BUF;
    }
  }
  printf("memcopy: rep_bytes=%lu loop_bytes=%lu\n", rep_bytes, loop_bytes);
  check(ok, "every copy matches its source");
  return check_summary("memcopy") ? 1 : 0;
}
