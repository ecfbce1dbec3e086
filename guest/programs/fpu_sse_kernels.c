/* Floating-point and SIMD kernels of the fpu_sse program (Intel SDM Vol. 1 ch. 8, 10-12). */
#include "fpu_sse_kernels.h"

typedef char v16qi __attribute__((vector_size(16)));
typedef unsigned char v16qu __attribute__((vector_size(16)));
typedef short v8hi __attribute__((vector_size(16)));
typedef int v4si __attribute__((vector_size(16)));
typedef long long v2di __attribute__((vector_size(16)));
typedef float v4sf __attribute__((vector_size(16)));
typedef double v2df __attribute__((vector_size(16)));

static uint64_t bits64(double d) {
  uint64_t v;
  __builtin_memcpy(&v, &d, 8);
  return v;
}
static uint32_t bits32(float f) {
  uint32_t v;
  __builtin_memcpy(&v, &f, 4);
  return v;
}
static uint64_t fold(uint64_t h, uint64_t v) {
  return (h ^ v) * 0x100000001B3ull + (h >> 29);
}

uint64_t k_series_double(void) {
  volatile double s = 0;
  for (int k = 1; k <= 1000; ++k) s += 1.0 / ((double)k * k);
  return bits64(s);
}

uint32_t k_series_float(void) {
  volatile float s = 0;
  for (int k = 1; k <= 100; ++k) s += 1.0f / (float)k;
  float r = __builtin_sqrtf(s) * 3.5f;
  int i = (int)(r * 1000.0f);          /* CVTTSS2SI */
  long long l = __builtin_llrintf(r);  /* CVTSS2SI */
  return bits32(r) ^ (uint32_t)i ^ (uint32_t)(l << 20);
}

void k_x87_recurrence(uint8_t out[10]) {
  volatile long double x = 1.0L;
  for (int k = 1; k <= 20; ++k) x = x * 3.0L / 7.0L + 1.0L / k - __builtin_sqrtl((long double)k);
  long double r = x;
  __builtin_memcpy(out, &r, 10);
}

uint64_t k_int_simd(void) {
  uint64_t h = 0xCBF29CE484222325ull;
  volatile v16qu a0 = {1, 200, 3, 250, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 255, 16};
  volatile v16qu b0 = {100, 100, 200, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  v16qu a = a0, b = b0;
  v16qu sat = (v16qu)__builtin_ia32_paddusb128((v16qi)a, (v16qi)b);
  v16qi shuf = __builtin_ia32_pshufb128((v16qi)a, (v16qi)(v16qu){15, 14, 13, 12, 11, 10, 9, 8, 7,
                                                                  6, 5, 4, 3, 2, 1, 0x80});
  v4si madd = __builtin_ia32_pmaddwd128((v8hi)a, (v8hi)b);
  v2di sad = __builtin_ia32_psadbw128((v16qi)a, (v16qi)b);
  v4si mull = (v4si)a * (v4si)b; /* PMULLD */
  v4si mn = __builtin_ia32_pminsd128((v4si)a, (v4si)b);
  v8hi packed = __builtin_ia32_packusdw128((v4si)a, (v4si)b);
  v16qi cmp = (v16qi)(a > b);
  int mask = __builtin_ia32_pmovmskb128(cmp);
  int ptest = __builtin_ia32_ptestz128((v2di)a, (v2di)b);
  v8hi minpos = __builtin_ia32_phminposuw128((v8hi)b);
  v2di align = __builtin_ia32_palignr128((v2di)a, (v2di)b, 40);
  v8hi hadd = __builtin_ia32_phaddw128((v8hi)a, (v8hi)b);
  v4si absd = __builtin_ia32_pabsd128((v4si)b - (v4si)a);
  v2di mul32 = __builtin_ia32_pmuldq128((v4si)a, (v4si)b);
  v16qi mps = __builtin_ia32_mpsadbw128((v16qi)a, (v16qi)b, 5);
  v2di all[] = {(v2di)sat, (v2di)shuf, (v2di)madd, sad, (v2di)mull, (v2di)mn, (v2di)packed,
                (v2di)cmp, (v2di)minpos, (v2di)align, (v2di)hadd, (v2di)absd, mul32, (v2di)mps};
  for (unsigned k = 0; k < sizeof all / sizeof all[0]; ++k) h = fold(fold(h, all[k][0]), all[k][1]);
  return fold(fold(h, (uint64_t)mask), (uint64_t)ptest);
}

uint64_t k_fp_simd(void) {
  uint64_t h = 0x84222325CBF29CE4ull;
  volatile v4sf x0 = {1.5f, -2.25f, 3.0e20f, 1.0e-30f};
  volatile v4sf y0 = {0.1f, 7.0f, -3.0e19f, 4.0e-10f};
  volatile v2df p0 = {3.141592653589793, -1.0e300};
  volatile v2df q0 = {2.718281828459045, 1.0e-10};
  v4sf x = x0, y = y0;
  v2df p = p0, q = q0;
  v4sf s = x * y + x / y - y;
  v4sf mn = __builtin_ia32_minps(x, y), mx = __builtin_ia32_maxps(x, y);
  v4sf hs = __builtin_ia32_haddps(x, y);
  v4sf as = __builtin_ia32_addsubps(x, y);
  v4sf rd = __builtin_ia32_roundps(x * 3.7f, 0x01); /* floor */
  v4sf dp = __builtin_ia32_dpps(x, y, 0xF3);
  v4sf sq = __builtin_ia32_sqrtps(__builtin_ia32_andnps((v4sf){-0.0f, -0.0f, -0.0f, -0.0f}, x));
  v4sf bl = __builtin_ia32_blendvps(x, y, s);
  v4sf cmp = (v4sf)__builtin_ia32_cmpltps(x, y);
  v2df pd = p * q - q / p;
  v2df hd = __builtin_ia32_haddpd(p, q);
  v2df dd = __builtin_ia32_dppd(p, q, 0x31);
  v2df rpd = __builtin_ia32_roundpd(p * 1.5, 0x02); /* ceil */
  v2df cv = __builtin_ia32_cvtps2pd(x);
  v4si ci = __builtin_ia32_cvttps2dq(y * 1000.0f);
  v4sf cf = __builtin_ia32_cvtpd2ps(p);
  int comi = __builtin_ia32_comilt(x, y) + 2 * __builtin_ia32_ucomisdgt(p, q);
  v2di all[] = {(v2di)s,   (v2di)mn, (v2di)mx,  (v2di)hs, (v2di)as, (v2di)rd, (v2di)dp,
                (v2di)sq,  (v2di)bl, (v2di)cmp, (v2di)pd, (v2di)hd, (v2di)dd, (v2di)rpd,
                (v2di)cv,  (v2di)ci, (v2di)cf};
  for (unsigned k = 0; k < sizeof all / sizeof all[0]; ++k) h = fold(fold(h, all[k][0]), all[k][1]);
  return fold(h, (uint64_t)comi);
}

uint32_t k_crc32c(const void* p, unsigned n) {
  const unsigned char* b = p;
  uint32_t crc = ~0u;
  unsigned k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t v;
    __builtin_memcpy(&v, b + k, 8);
    crc = (uint32_t)__builtin_ia32_crc32di(crc, v);
  }
  for (; k < n; ++k) crc = __builtin_ia32_crc32qi(crc, b[k]);
  return ~crc;
}

int k_pcmpistri_find(const char hay[16], const char needle[16]) {
  v16qi h, nd;
  __builtin_memcpy(&h, hay, 16);
  __builtin_memcpy(&nd, needle, 16);
  return __builtin_ia32_pcmpistri128(nd, h, 0x0C);
}
