/* fpu_sse: x87 and SSE-SSE4.2 results, CRC32, string compares, FXSAVE layout, XSAVE/XRSTOR,
 * and the #NM (CR0.TS), #XM (unmasked SIMD exception), #MF (unmasked x87 exception) and #UD
 * (CR4.OSFXSR = 0) rules (Intel SDM Vol. 1 ch. 8-13; Vol. 3A 2.5, 13.1).
 *
 * This program (not the kit) is compiled with -msse4.2 -mfpmath=sse. The compiler may use
 * XMM registers anywhere in SSE-enabled functions, so everything that runs before SSE is
 * enabled, and the exception handler, is marked general-regs-only. Expected values come
 * from the same kernels (fpu_sse_kernels.c) run natively on an x86-64 host processor. */
#include "fpu_sse_kernels.h"
#include "kit/kit.h"

#define INTEGER_ONLY __attribute__((target("general-regs-only"), noinline))

#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_OSXSAVE (1u << 18)

// Probes around the instructions that fault on purpose; `_resume` is where the handler
// continues.
__asm__(
    ".text\n"
    // #NM: an SSE instruction with CR0.TS = 1; the handler clears TS and retries it.
    "probe_nm:\n"
    "  pxor %xmm0, %xmm0\n"
    "  mov $1, %eax\n"
    "  ret\n"
    // #XM: 1.0 / 0.0 with MXCSR.ZM clear; the handler resumes after the DIVSS.
    "probe_xm:\n"
    "  mov $0x3f800000, %eax\n"
    "  movd %eax, %xmm0\n"
    "  pxor %xmm1, %xmm1\n"
    "probe_xm_insn:\n"
    "  divss %xmm1, %xmm0\n"
    "probe_xm_resume:\n"
    "  movd %xmm0, %eax\n"
    "  ret\n"
    // #UD: an SSE instruction with CR4.OSFXSR = 0.
    "probe_ud:\n"
    "probe_ud_insn:\n"
    "  paddd %xmm1, %xmm1\n"
    "probe_ud_resume:\n"
    "  ret\n"
    // #MF: x87 divide by zero with FCW.ZM clear, reported at the next FWAIT.
    "probe_mf:\n"
    "  fld1\n"
    "  fldz\n"
    "  .byte 0xde, 0xf9\n"  // FDIVP ST(1), ST(0): 1 / 0
    "probe_mf_insn:\n"
    "  fwait\n"
    "probe_mf_resume:\n"
    "  ret\n");
uint32_t probe_nm(void);
uint32_t probe_xm(void);
void probe_ud(void);
void probe_mf(void);
extern char probe_xm_insn[], probe_xm_resume[], probe_ud_insn[], probe_ud_resume[],
    probe_mf_insn[], probe_mf_resume[];

static volatile struct {
  uint64_t vector;  // expected vector; anything else is fatal
  uint64_t resume;  // where to continue (0: retry after the handler's fix)
  unsigned hits;
  uint64_t rip;
} ex;

INTEGER_ONLY void handle_exception(struct frame* f) {
  if (f->vector != ex.vector || ex.hits) default_exception(f);
  ex.hits++;
  ex.rip = f->rip;
  if (f->vector == VEC_NM) __asm__ volatile("clts");
  if (f->vector == VEC_MF) __asm__ volatile("fnclex");
  if (ex.resume) f->rip = ex.resume;
}

INTEGER_ONLY static void expect(uint64_t vector, const char* resume) {
  ex.vector = vector;
  ex.resume = (uint64_t)resume;
  ex.hits = 0;
  ex.rip = 0;
}

/// Enables x87/SSE/XSAVE as an OS does: CR0.EM = 0, MP = NE = 1, TS = 0; CR4.OSFXSR,
/// OSXMMEXCPT, OSXSAVE; XCR0 = x87 | SSE; FNINIT.
INTEGER_ONLY static void enable_fpu(void) {
  write_cr0((read_cr0() & ~(uint64_t)(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
  write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE);
  __asm__ volatile("xsetbv" ::"c"(0), "a"(3), "d"(0));
  __asm__ volatile("fninit");
}

INTEGER_ONLY static void cpuid_sub(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static uint8_t area[1024] __attribute__((aligned(64)));

static void check_xsave(void) {
  uint32_t r[4];
  cpuid_sub(0xD, 0, r);
  check(r[0] == 3 && r[1] == 576, "CPUID.0DH: XCR0 bits %x, area %u bytes", r[0], r[1]);
  uint64_t xcr0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  xcr0 = ((uint64_t)hi << 32) | lo;
  check(xcr0 == 3, "XGETBV: XCR0 = %lx", xcr0);

  // FXSAVE layout (SDM Vol. 1 Table 10-2): FCW, MXCSR, ST0, XMM registers.
  __builtin_memset(area, 0xEE, sizeof area);
  __asm__ volatile(
      "fninit\n fld1\n"
      "mov $0x1122334455667788, %%rax\n movq %%rax, %%xmm3\n"
      "fxsave64 %0\n fstp %%st(0)"
      : "=m"(area)
      :
      : "rax", "xmm3");
  uint16_t fcw, fsw;
  uint32_t mxcsr;
  uint64_t st0, xmm3;
  __builtin_memcpy(&fcw, area, 2);
  __builtin_memcpy(&fsw, area + 2, 2);
  __builtin_memcpy(&mxcsr, area + 24, 4);
  __builtin_memcpy(&st0, area + 32, 8);
  __builtin_memcpy(&xmm3, area + 160 + 3 * 16, 8);
  check(fcw == 0x037F && ((fsw >> 11) & 7) == 7 && area[4] == 0x80,
        "FXSAVE: FCW %x, TOP %u, abridged tag %x", fcw, (fsw >> 11) & 7, area[4]);
  check((mxcsr & ~0x3Fu) == 0x1F80 && st0 == 0x8000000000000000ull && xmm3 == 0x1122334455667788ull,
        "FXSAVE: MXCSR %x, ST0 %lx, XMM3 %lx", mxcsr, st0, xmm3);
  check(area[500] == 0xEE, "FXSAVE leaves the available bytes 464-511 alone");

  // XSAVE/XRSTOR round trip of XMM registers (standard format). XSAVE writes only
  // XSTATE_BV of the header, and XRSTOR faults unless the rest is zero: clear it first.
  __builtin_memset(area + 512, 0, 64);
  uint64_t before, after;
  __asm__ volatile(
      "mov $0x0123456789ABCDEF, %%rax\n movq %%rax, %%xmm5\n"
      "mov $3, %%eax\n xor %%edx, %%edx\n xsave64 %2\n"
      "pxor %%xmm5, %%xmm5\n movq %%xmm5, %0\n"
      "mov $3, %%eax\n xor %%edx, %%edx\n xrstor64 %2\n movq %%xmm5, %1"
      : "=r"(before), "=r"(after), "+m"(area)
      :
      : "rax", "rdx", "xmm5");
  uint64_t xstate_bv;
  __builtin_memcpy(&xstate_bv, area + 512, 8);
  check(before == 0 && after == 0x0123456789ABCDEFull && xstate_bv == 3,
        "XSAVE/XRSTOR: XMM5 restored %lx, XSTATE_BV %lx", after, xstate_bv);
}

static void check_results(void) {
  check(k_series_double() == 0x3ffa4d8e550a946eull, "SSE2 double series: %lx",
        k_series_double());
  check(k_series_float() == 0x407f09f1u, "SSE float series, sqrt, conversions: %x",
        k_series_float());
  uint8_t x[10];
  k_x87_recurrence(x);
  static const uint8_t kX87[10] = {0x87, 0x7c, 0xd0, 0x0e, 0x62, 0x0c, 0xa9, 0xf2, 0x01, 0xc0};
  check(__builtin_memcmp(x, kX87, 10) == 0,
        "x87 long double recurrence: %02x%02x:%02x%02x%02x%02x%02x%02x%02x%02x", x[9], x[8], x[7],
        x[6], x[5], x[4], x[3], x[2], x[1], x[0]);
  double pi1;
  __asm__ volatile("fldpi\n fld1\n faddp\n fstpl %0" : "=m"(pi1));
  uint64_t pi1_bits;
  __builtin_memcpy(&pi1_bits, &pi1, 8);
  check(pi1_bits == 0x401090fdaa22168cull, "x87 FLDPI + FLD1 = %lx", pi1_bits);
  check(k_int_simd() == 0xd57c4a84f2a956aeull, "integer SIMD (SSE2-SSE4.1): %lx", k_int_simd());
  check(k_fp_simd() == 0x2dc3792b0ae38170ull, "floating-point SIMD (SSE-SSE4.1): %lx", k_fp_simd());
  check(k_crc32c("123456789", 9) == 0xe3069283u, "CRC32 (CRC-32C check value): %x",
        k_crc32c("123456789", 9));
  static const char hay[16] = "hello, world!!!", needle[16] = "wor";
  check(k_pcmpistri_find(hay, needle) == 7, "PCMPISTRI finds \"wor\" at %d",
        k_pcmpistri_find(hay, needle));
}

INTEGER_ONLY static void check_exceptions(void) {
  // #NM with CR0.TS: the handler clears TS (CLTS) and the instruction is retried.
  write_cr0(read_cr0() | CR0_TS);
  expect(VEC_NM, 0);
  uint32_t r = probe_nm();
  check(ex.hits == 1 && r == 1 && !(read_cr0() & CR0_TS), "#NM on an SSE instruction with CR0.TS");

  // #XM: unmasked divide-by-zero; MXCSR.ZE is set, the destination unchanged.
  uint32_t mx = 0x1F80 & ~(1u << 9), mx_after;
  __asm__ volatile("ldmxcsr %0" ::"m"(mx));
  expect(VEC_XM, probe_xm_resume);
  r = probe_xm();
  __asm__ volatile("stmxcsr %0" : "=m"(mx_after));
  check(ex.hits == 1 && ex.rip == (uint64_t)probe_xm_insn && r == 0x3f800000 && (mx_after & 4),
        "#XM on unmasked SSE divide by zero (MXCSR %x, result %x)", mx_after, r);
  mx = 0x1F80;
  __asm__ volatile("ldmxcsr %0" ::"m"(mx));

  // #MF: unmasked x87 divide by zero, delivered at the next FWAIT (CR0.NE = 1).
  uint16_t cw = 0x037F & ~(1u << 2), sw;
  __asm__ volatile("fninit\n fldcw %0" ::"m"(cw));
  expect(VEC_MF, probe_mf_resume);
  probe_mf();
  __asm__ volatile("fnstsw %0\n fninit" : "=m"(sw));
  check(ex.hits == 1 && ex.rip == (uint64_t)probe_mf_insn, "#MF at FWAIT after an unmasked x87 ZE");

  // #UD with CR4.OSFXSR = 0.
  write_cr4(read_cr4() & ~(uint64_t)CR4_OSFXSR);
  expect(VEC_UD, probe_ud_resume);
  probe_ud();
  write_cr4(read_cr4() | CR4_OSFXSR);
  check(ex.hits == 1 && ex.rip == (uint64_t)probe_ud_insn, "#UD on SSE with CR4.OSFXSR = 0");
}

INTEGER_ONLY static void check_cpuid(void) {
  uint32_t r[4];
  cpuid_sub(1, 0, r);
  bool sse = (r[3] & (1u << 25)) && (r[3] & (1u << 26)) && (r[3] & 1) && (r[3] & (1u << 24));
  bool sse4 = (r[2] & 1) && (r[2] & (1u << 9)) && (r[2] & (1u << 19)) && (r[2] & (1u << 20)) &&
              (r[2] & (1u << 23));
  check(sse && sse4 && (r[2] & (1u << 27)) && !(r[2] & (1u << 28)),
        "CPUID: x87, SSE-SSE4.2, POPCNT, OSXSAVE; no AVX (ecx %x edx %x)", r[2], r[3]);
}

INTEGER_ONLY int kmain(uint32_t magic, uint32_t mbi) {
  printf("fpu_sse: x87, SSE-SSE4.2, XSAVE\n");
  enable_fpu();
  check_cpuid();
  check_results();
  check_xsave();
  check_exceptions();
  return check_summary("fpu_sse") ? 1 : 0;
}
