// Floating-point arithmetic executed by the host's own SSE and x87 units under the guest's
// rounding controls (Intel SDM Vol. 1 ch. 4.8-4.9 "floating-point exceptions", ch. 8 x87,
// 10.2.3 MXCSR).
//
// Why the host: hvsim runs on x86-64, whose SSE and x87 units compute exactly the IEEE
// results, NaN propagation rules, denormal handling (DAZ/FTZ, x87 precision control) and
// exception flags that the guest's instructions define. Each helper runs one host
// instruction inside one asm statement that
//   1. saves the host MXCSR / x87 control word,
//   2. loads the guest's rounding, precision, DAZ and FTZ with EVERY exception masked and
//      the flags cleared (so the host can never trap, whatever the guest asked for),
//   3. runs the instruction and reads the flags it raised,
//   4. restores the host's MXCSR / control word (x87: FNINIT first, so no register leaks).
// The emulator then applies the flags to the guest's MXCSR/FSW and decides about unmasked
// exceptions itself. Results are bit-exact and deterministic for a given host processor;
// the x87 transcendental instructions (FSIN, FCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1)
// can differ in the last bit between processor vendors, like real hardware does.
#pragma once

#include <emmintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/simd.h"

namespace hvsim::cpu::hostfp {

/// True if the host processor has every instruction these helpers execute (SSE3 for
/// FISTTP, SSE4.1 for ROUND* and the rest of the SSE4.1 set); checked when a Cpu is built.
inline bool host_supported() {
  return __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse3");
}

/// Host MXCSR for guest MXCSR `g`: its RC (14:13), FTZ (15) and DAZ (6), all masks, no flags.
inline uint32_t host_mxcsr(uint32_t g) {
  return (g & 0xE040) | 0x1F80;
}

inline __m128i to_host(const V128& v) {
  __m128i x;
  std::memcpy(&x, &v, 16);
  return x;
}
inline V128 from_host(__m128i x) {
  V128 v;
  std::memcpy(&v, &x, 16);
  return v;
}

/// Defines `uint32_t NAME(V128& x, const V128& y, uint32_t mxcsr)`: x = INSN(x, y) as the
/// host computes "INSN y, x" (AT&T order), returning the exception flags raised.
#define HVSIM_SSE_BINOP(NAME, INSN)                                                     \
  inline uint32_t NAME(V128& x, const V128& y, uint32_t mxcsr) {                        \
    uint32_t saved, flags, cw = ::hvsim::cpu::hostfp::host_mxcsr(mxcsr);                \
    __m128i a = ::hvsim::cpu::hostfp::to_host(x), b = ::hvsim::cpu::hostfp::to_host(y); \
    asm volatile("stmxcsr %[saved]\n\tldmxcsr %[cw]\n\t" INSN                           \
                 " %[b], %[a]\n\tstmxcsr %[flags]\n\tldmxcsr %[saved]"                  \
                 : [a] "+x"(a), [saved] "=m"(saved), [flags] "=m"(flags)                \
                 : [b] "x"(b), [cw] "m"(cw));                                           \
    x = ::hvsim::cpu::hostfp::from_host(a);                                             \
    return flags & 0x3F;                                                                \
  }

/// As HVSIM_SSE_BINOP with an 8-bit immediate: `template <int kImm> uint32_t NAME(...)`.
#define HVSIM_SSE_BINOP_IMM(NAME, INSN)                                                 \
  template <int kImm>                                                                   \
  inline uint32_t NAME(V128& x, const V128& y, uint32_t mxcsr) {                        \
    uint32_t saved, flags, cw = ::hvsim::cpu::hostfp::host_mxcsr(mxcsr);                \
    __m128i a = ::hvsim::cpu::hostfp::to_host(x), b = ::hvsim::cpu::hostfp::to_host(y); \
    asm volatile("stmxcsr %[saved]\n\tldmxcsr %[cw]\n\t" INSN                           \
                 " %[imm], %[b], %[a]\n\tstmxcsr %[flags]\n\tldmxcsr %[saved]"          \
                 : [a] "+x"(a), [saved] "=m"(saved), [flags] "=m"(flags)                \
                 : [b] "x"(b), [cw] "m"(cw), [imm] "i"(kImm));                          \
    x = ::hvsim::cpu::hostfp::from_host(a);                                             \
    return flags & 0x3F;                                                                \
  }

/// (U)COMISS/(U)COMISD: returns ZF/PF/CF in RFLAGS positions and sets *flags.
#define HVSIM_SSE_COMPARE(NAME, INSN)                                                           \
  inline uint64_t NAME(const V128& x, const V128& y, uint32_t mxcsr, uint32_t* flags_out) {     \
    uint32_t saved, flags, cw = ::hvsim::cpu::hostfp::host_mxcsr(mxcsr);                        \
    __m128i a = ::hvsim::cpu::hostfp::to_host(x), b = ::hvsim::cpu::hostfp::to_host(y);         \
    uint8_t zf, pf, cf;                                                                         \
    asm volatile(                                                                               \
        "stmxcsr %[saved]\n\tldmxcsr %[cw]\n\t" INSN                                            \
        " %[b], %[a]\n\tsetz %[zf]\n\tsetp %[pf]\n\tsetc %[cf]\n\t"                             \
        "stmxcsr %[flags]\n\tldmxcsr %[saved]"                                                  \
        : [saved] "=m"(saved), [flags] "=m"(flags), [zf] "=q"(zf), [pf] "=q"(pf), [cf] "=q"(cf) \
        : [a] "x"(a), [b] "x"(b), [cw] "m"(cw)                                                  \
        : "cc");                                                                                \
    *flags_out = flags & 0x3F;                                                                  \
    return (zf ? kFlagZF : 0) | (pf ? kFlagPF : 0) | (cf ? kFlagCF : 0);                        \
  }

/// Conversion from a 32- or 64-bit integer (`SUFFIX` l or q) into the low lane of x.
#define HVSIM_SSE_FROM_INT(NAME, INSN, TYPE)                             \
  inline uint32_t NAME(V128& x, TYPE v, uint32_t mxcsr) {                \
    uint32_t saved, flags, cw = ::hvsim::cpu::hostfp::host_mxcsr(mxcsr); \
    __m128i a = ::hvsim::cpu::hostfp::to_host(x);                        \
    asm volatile("stmxcsr %[saved]\n\tldmxcsr %[cw]\n\t" INSN            \
                 " %[v], %[a]\n\tstmxcsr %[flags]\n\tldmxcsr %[saved]"   \
                 : [a] "+x"(a), [saved] "=m"(saved), [flags] "=m"(flags) \
                 : [v] "r"(v), [cw] "m"(cw));                            \
    x = ::hvsim::cpu::hostfp::from_host(a);                              \
    return flags & 0x3F;                                                 \
  }

/// Conversion of the low lane of x to a 32- or 64-bit integer.
#define HVSIM_SSE_TO_INT(NAME, INSN, TYPE)                               \
  inline uint32_t NAME(const V128& x, TYPE* out, uint32_t mxcsr) {       \
    uint32_t saved, flags, cw = ::hvsim::cpu::hostfp::host_mxcsr(mxcsr); \
    __m128i a = ::hvsim::cpu::hostfp::to_host(x);                        \
    TYPE r;                                                              \
    asm volatile("stmxcsr %[saved]\n\tldmxcsr %[cw]\n\t" INSN            \
                 " %[a], %[r]\n\tstmxcsr %[flags]\n\tldmxcsr %[saved]"   \
                 : [r] "=r"(r), [saved] "=m"(saved), [flags] "=m"(flags) \
                 : [a] "x"(a), [cw] "m"(cw));                            \
    *out = r;                                                            \
    return flags & 0x3F;                                                 \
  }

// ---- x87 ----

/// The 10-byte memory image of an x87 register (FLD/FSTP m80).
struct [[gnu::packed]] Ext80 {
  uint64_t mant;
  uint16_t se;
};
static_assert(sizeof(Ext80) == 10);

inline Ext80 to_ext(const Float80& f) {
  return Ext80{f.mant, f.se};
}
inline Float80 from_ext(const Ext80& e) {
  return Float80{e.mant, e.se};
}

/// Host x87 control word for guest FCW `g`: its precision (9:8) and rounding (11:10)
/// control, every exception masked.
inline uint16_t host_fcw(uint16_t g) {
  return static_cast<uint16_t>((g & 0x0F00) | 0x037F);
}

/// Result of a host x87 operation: the status word (exception flags 5:0, C0-C3) and the
/// registers ST(0)-ST(2) afterwards.
struct X87Result {
  uint16_t sw;
  Ext80 r[3];
};

/// Defines `X87Result NAME(const Ext80& a, const Ext80& b, uint16_t fcw)`: loads ST(1) = b,
/// ST(0) = a, runs the machine code bytes CODE (a ".byte ..." string: no AT&T operand-order
/// ambiguity for FSUB/FDIV), and returns the status word and ST(0)-ST(2).
#define HVSIM_X87_OP(NAME, CODE)                                                                   \
  inline ::hvsim::cpu::hostfp::X87Result NAME(                                                     \
      const ::hvsim::cpu::hostfp::Ext80& a, const ::hvsim::cpu::hostfp::Ext80& b, uint16_t fcw) {  \
    ::hvsim::cpu::hostfp::X87Result res;                                                           \
    uint16_t saved, cw = ::hvsim::cpu::hostfp::host_fcw(fcw);                                      \
    asm volatile("fnstcw %[saved]\n\tfldcw %[cw]\n\tfnclex\n\tfldt %[b]\n\tfldt %[a]\n\t" CODE     \
                 "\n\tfnstsw %[sw]\n\tfstpt %[r0]\n\tfstpt %[r1]\n\tfstpt %[r2]\n\tfninit\n\t"     \
                 "fldcw %[saved]"                                                                  \
                 : [sw] "=m"(res.sw), [r0] "=m"(res.r[0]), [r1] "=m"(res.r[1]),                    \
                   [r2] "=m"(res.r[2]), [saved] "=m"(saved)                                        \
                 : [a] "m"(a), [b] "m"(b), [cw] "m"(cw)                                            \
                 : "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory"); \
    return res;                                                                                    \
  }

/// Defines `uint16_t NAME(const T& in, Ext80* out, uint16_t fcw)`: a host load (FLD m32/m64,
/// FILD, FBLD, FLD constant) converted to the register format; returns the status word.
#define HVSIM_X87_LOAD(NAME, T, LOAD)                                                              \
  inline uint16_t NAME(const T& in, ::hvsim::cpu::hostfp::Ext80* out, uint16_t fcw) {              \
    uint16_t saved, sw, cw = ::hvsim::cpu::hostfp::host_fcw(fcw);                                  \
    asm volatile("fnstcw %[saved]\n\tfldcw %[cw]\n\tfnclex\n\t" LOAD                               \
                 "\n\tfnstsw %[sw]\n\tfstpt %[out]\n\tfninit\n\tfldcw %[saved]"                    \
                 : [sw] "=m"(sw), [out] "=m"(*out), [saved] "=m"(saved)                            \
                 : [in] "m"(in), [cw] "m"(cw)                                                      \
                 : "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory"); \
    return sw;                                                                                     \
  }

/// Defines `uint16_t NAME(const Ext80& in, T* out, uint16_t fcw)`: a host store with
/// conversion (FST m32/m64, FIST(P), FISTTP, FBSTP); returns the status word.
#define HVSIM_X87_STORE(NAME, T, STORE)                                                            \
  inline uint16_t NAME(const ::hvsim::cpu::hostfp::Ext80& in, T* out, uint16_t fcw) {              \
    uint16_t saved, sw, cw = ::hvsim::cpu::hostfp::host_fcw(fcw);                                  \
    asm volatile("fnstcw %[saved]\n\tfldcw %[cw]\n\tfnclex\n\tfldt %[in]\n\t" STORE                \
                 "\n\tfnstsw %[sw]\n\tfninit\n\tfldcw %[saved]"                                    \
                 : [sw] "=m"(sw), [out] "=m"(*out), [saved] "=m"(saved)                            \
                 : [in] "m"(in), [cw] "m"(cw)                                                      \
                 : "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory"); \
    return sw;                                                                                     \
  }

}  // namespace hvsim::cpu::hostfp
