// SSE/SSE2/SSE3 floating-point arithmetic, comparison and conversion instructions
// (Intel SDM Vol. 1 ch. 10.4.2, 11.4.1, 12.3; Vol. 2 instruction pages ADDPS .. UCOMISS).
// The arithmetic runs on the host's SSE unit under the guest's MXCSR (cpu/host_fp.h).
#include <Zydis/Zydis.h>

#include <cmath>

#include "cpu/host_fp.h"
#include "cpu/simd.h"

namespace hvsim::cpu {
namespace hostfp {
// Two-operand arithmetic; scalar forms keep the destination's upper lanes, like the guest.
HVSIM_SSE_BINOP(addps, "addps")
HVSIM_SSE_BINOP(addpd, "addpd")
HVSIM_SSE_BINOP(addss, "addss")
HVSIM_SSE_BINOP(addsd, "addsd")
HVSIM_SSE_BINOP(subps, "subps")
HVSIM_SSE_BINOP(subpd, "subpd")
HVSIM_SSE_BINOP(subss, "subss")
HVSIM_SSE_BINOP(subsd, "subsd")
HVSIM_SSE_BINOP(mulps, "mulps")
HVSIM_SSE_BINOP(mulpd, "mulpd")
HVSIM_SSE_BINOP(mulss, "mulss")
HVSIM_SSE_BINOP(mulsd, "mulsd")
HVSIM_SSE_BINOP(divps, "divps")
HVSIM_SSE_BINOP(divpd, "divpd")
HVSIM_SSE_BINOP(divss, "divss")
HVSIM_SSE_BINOP(divsd, "divsd")
HVSIM_SSE_BINOP(minps, "minps")
HVSIM_SSE_BINOP(minpd, "minpd")
HVSIM_SSE_BINOP(minss, "minss")
HVSIM_SSE_BINOP(minsd, "minsd")
HVSIM_SSE_BINOP(maxps, "maxps")
HVSIM_SSE_BINOP(maxpd, "maxpd")
HVSIM_SSE_BINOP(maxss, "maxss")
HVSIM_SSE_BINOP(maxsd, "maxsd")
HVSIM_SSE_BINOP(sqrtps, "sqrtps")
HVSIM_SSE_BINOP(sqrtpd, "sqrtpd")
HVSIM_SSE_BINOP(sqrtss, "sqrtss")
HVSIM_SSE_BINOP(sqrtsd, "sqrtsd")
HVSIM_SSE_BINOP(addsubps, "addsubps")
HVSIM_SSE_BINOP(addsubpd, "addsubpd")
HVSIM_SSE_BINOP(haddps, "haddps")
HVSIM_SSE_BINOP(haddpd, "haddpd")
HVSIM_SSE_BINOP(hsubps, "hsubps")
HVSIM_SSE_BINOP(hsubpd, "hsubpd")
// Conversions between vector formats.
HVSIM_SSE_BINOP(cvtss2sd, "cvtss2sd")
HVSIM_SSE_BINOP(cvtsd2ss, "cvtsd2ss")
HVSIM_SSE_BINOP(cvtps2pd, "cvtps2pd")
HVSIM_SSE_BINOP(cvtpd2ps, "cvtpd2ps")
HVSIM_SSE_BINOP(cvtdq2ps, "cvtdq2ps")
HVSIM_SSE_BINOP(cvtps2dq, "cvtps2dq")
HVSIM_SSE_BINOP(cvttps2dq, "cvttps2dq")
HVSIM_SSE_BINOP(cvtdq2pd, "cvtdq2pd")
HVSIM_SSE_BINOP(cvtpd2dq, "cvtpd2dq")
HVSIM_SSE_BINOP(cvttpd2dq, "cvttpd2dq")
// Comparisons with a predicate (imm8 bits 2:0).
HVSIM_SSE_BINOP_IMM(cmpps, "cmpps")
HVSIM_SSE_BINOP_IMM(cmppd, "cmppd")
HVSIM_SSE_BINOP_IMM(cmpss, "cmpss")
HVSIM_SSE_BINOP_IMM(cmpsd, "cmpsd")
HVSIM_SSE_COMPARE(comiss, "comiss")
HVSIM_SSE_COMPARE(ucomiss, "ucomiss")
HVSIM_SSE_COMPARE(comisd, "comisd")
HVSIM_SSE_COMPARE(ucomisd, "ucomisd")
// Integer <-> scalar.
HVSIM_SSE_FROM_INT(cvtsi2ss32, "cvtsi2ssl", int32_t)
HVSIM_SSE_FROM_INT(cvtsi2ss64, "cvtsi2ssq", int64_t)
HVSIM_SSE_FROM_INT(cvtsi2sd32, "cvtsi2sdl", int32_t)
HVSIM_SSE_FROM_INT(cvtsi2sd64, "cvtsi2sdq", int64_t)
HVSIM_SSE_TO_INT(cvtss2si32, "cvtss2si", int32_t)
HVSIM_SSE_TO_INT(cvtss2si64, "cvtss2si", int64_t)
HVSIM_SSE_TO_INT(cvttss2si32, "cvttss2si", int32_t)
HVSIM_SSE_TO_INT(cvttss2si64, "cvttss2si", int64_t)
HVSIM_SSE_TO_INT(cvtsd2si32, "cvtsd2si", int32_t)
HVSIM_SSE_TO_INT(cvtsd2si64, "cvtsd2si", int64_t)
HVSIM_SSE_TO_INT(cvttsd2si32, "cvttsd2si", int32_t)
HVSIM_SSE_TO_INT(cvttsd2si64, "cvttsd2si", int64_t)
}  // namespace hostfp

namespace {

using C = CpuImpl;
using HostBinop = uint32_t (*)(V128&, const V128&, uint32_t);

/// Memory alignment of a legacy-SSE operand: 16-byte operands must be aligned.
unsigned sse_align(unsigned size) {
  return size == 16 ? 16 : 0;
}

/// dest(xmm) = OP(dest, src) for the arithmetic and vector-conversion forms.
template <HostBinop kOp>
void fp_binop(C& c, const Insn& i) {
  sse_check(c);
  unsigned size = i.op[1].size;
  V128 b = read_vec(c, i, 1, size, sse_align(size));
  V128 a = get_xmm(c, i.op[0].reg);
  uint32_t flags = kOp(a, b, c.s_.fpu.mxcsr);
  sse_fp_flags(c, flags);
  set_xmm(c, i.op[0].reg, a);
}

/// CMPPS/CMPPD/CMPSS/CMPSD: the predicate is imm8 bits 2:0 (values above 7 are AVX-only).
template <template <int> class Op>
void fp_cmp(C& c, const Insn& i) {
  sse_check(c);
  unsigned size = i.op[1].size;
  V128 b = read_vec(c, i, 1, size, sse_align(size));
  V128 a = get_xmm(c, i.op[0].reg);
  uint32_t mx = c.s_.fpu.mxcsr, flags = 0;
  switch (i.imm & 7) {
    case 0: flags = Op<0>::run(a, b, mx); break;
    case 1: flags = Op<1>::run(a, b, mx); break;
    case 2: flags = Op<2>::run(a, b, mx); break;
    case 3: flags = Op<3>::run(a, b, mx); break;
    case 4: flags = Op<4>::run(a, b, mx); break;
    case 5: flags = Op<5>::run(a, b, mx); break;
    case 6: flags = Op<6>::run(a, b, mx); break;
    default: flags = Op<7>::run(a, b, mx); break;
  }
  sse_fp_flags(c, flags);
  set_xmm(c, i.op[0].reg, a);
}
template <int k>
struct CmpPs {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::cmpps<k>(a, b, mx); }
};
template <int k>
struct CmpPd {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::cmppd<k>(a, b, mx); }
};
template <int k>
struct CmpSs {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::cmpss<k>(a, b, mx); }
};
template <int k>
struct CmpSd {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::cmpsd<k>(a, b, mx); }
};

using HostCompare = uint64_t (*)(const V128&, const V128&, uint32_t, uint32_t*);

/// COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF from the comparison; OF, SF, AF cleared.
template <HostCompare kOp>
void fp_comi(C& c, const Insn& i) {
  sse_check(c);
  V128 b = read_vec(c, i, 1, i.op[1].size);
  V128 a = get_xmm(c, i.op[0].reg);
  uint32_t flags;
  uint64_t f = kOp(a, b, c.s_.fpu.mxcsr, &flags);
  sse_fp_flags(c, flags);
  c.set_arith_flags(f);
}

/// CVTSI2SS/CVTSI2SD xmm, r/m32|r/m64.
template <bool kDouble>
void cvt_from_int(C& c, const Insn& i) {
  sse_check(c);
  unsigned size = i.op[1].size;
  uint64_t v = c.read_op(i, 1);
  V128 a = get_xmm(c, i.op[0].reg);
  uint32_t mx = c.s_.fpu.mxcsr, flags;
  if (size == 8)
    flags = kDouble ? hostfp::cvtsi2sd64(a, static_cast<int64_t>(v), mx)
                    : hostfp::cvtsi2ss64(a, static_cast<int64_t>(v), mx);
  else
    flags = kDouble ? hostfp::cvtsi2sd32(a, static_cast<int32_t>(v), mx)
                    : hostfp::cvtsi2ss32(a, static_cast<int32_t>(v), mx);
  sse_fp_flags(c, flags);
  set_xmm(c, i.op[0].reg, a);
}

/// CVT(T)SS2SI / CVT(T)SD2SI r32|r64, xmm/m32|m64.
template <bool kDouble, bool kTruncate>
void cvt_to_int(C& c, const Insn& i) {
  sse_check(c);
  V128 a = read_vec(c, i, 1, kDouble ? 8 : 4);
  uint32_t mx = c.s_.fpu.mxcsr, flags;
  uint64_t r;
  if (i.op[0].size == 8) {
    int64_t v;
    if (kDouble)
      flags = kTruncate ? hostfp::cvttsd2si64(a, &v, mx) : hostfp::cvtsd2si64(a, &v, mx);
    else
      flags = kTruncate ? hostfp::cvttss2si64(a, &v, mx) : hostfp::cvtss2si64(a, &v, mx);
    r = static_cast<uint64_t>(v);
  } else {
    int32_t v;
    if (kDouble)
      flags = kTruncate ? hostfp::cvttsd2si32(a, &v, mx) : hostfp::cvtsd2si32(a, &v, mx);
    else
      flags = kTruncate ? hostfp::cvttss2si32(a, &v, mx) : hostfp::cvtss2si32(a, &v, mx);
    r = static_cast<uint32_t>(v);
  }
  sse_fp_flags(c, flags);
  c.set_reg(i.op[0], r);
}

// ---- conversions with MMX registers (SSE/SSE2 "PI" forms) ----

/// CVTPI2PS xmm, mm/m64: two int32 to the low two floats (upper half kept).
void cvtpi2ps(C& c, const Insn& i) {
  sse_check(c);
  bool mm = i.op[1].kind == OpKind::kReg;
  if (mm) mmx_check(c);
  V128 b = read_vec(c, i, 1, 8);
  V128 a = get_xmm(c, i.op[0].reg), t = a;
  uint32_t mx = c.s_.fpu.mxcsr, flags = 0;
  for (int k = 0; k < 2; ++k) {
    flags |= hostfp::cvtsi2ss32(t, b.sd[k], mx);
    a.d[k] = t.d[0];
  }
  sse_fp_flags(c, flags);
  if (mm) mmx_enter(c);
  set_xmm(c, i.op[0].reg, a);
}

/// CVTPI2PD xmm, mm/m64 (exact).
void cvtpi2pd(C& c, const Insn& i) {
  sse_check(c);
  bool mm = i.op[1].kind == OpKind::kReg;
  if (mm) mmx_check(c);
  V128 b = read_vec(c, i, 1, 8);
  V128 a;
  a.f64[0] = b.sd[0];
  a.f64[1] = b.sd[1];
  if (mm) mmx_enter(c);
  set_xmm(c, i.op[0].reg, a);
}

/// CVT(T)PS2PI / CVT(T)PD2PI mm, xmm/m64|m128.
template <bool kDouble, bool kTruncate>
void cvt_to_pi(C& c, const Insn& i) {
  sse_check(c);
  mmx_check(c);
  unsigned size = kDouble ? 16 : 8;
  V128 b = read_vec(c, i, 1, size, sse_align(size));
  uint32_t mx = c.s_.fpu.mxcsr, flags = 0;
  V128 r{};
  for (int k = 0; k < 2; ++k) {
    V128 t{};
    int32_t v;
    if (kDouble) {
      t.q[0] = b.q[k];
      flags |= kTruncate ? hostfp::cvttsd2si32(t, &v, mx) : hostfp::cvtsd2si32(t, &v, mx);
    } else {
      t.d[0] = b.d[k];
      flags |= kTruncate ? hostfp::cvttss2si32(t, &v, mx) : hostfp::cvtss2si32(t, &v, mx);
    }
    r.sd[k] = v;
  }
  sse_fp_flags(c, flags);
  mmx_enter(c);
  set_mm(c, i.op[0].reg, r.q[0]);
}

// ---- approximations ----
// RCP and RSQRT are approximations (relative error <= 1.5 * 2^-12 on hardware, and differ
// between vendors). hvsim returns the correctly rounded single-precision 1/x and 1/sqrt(x)
// computed with host C++ arithmetic (deterministic on every host); denormal inputs count
// as zero and tiny results flush to zero, as on hardware. They never set MXCSR flags.

float rcp_approx(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  uint32_t sign = bits & 0x80000000u, exp = (bits >> 23) & 0xFF;
  if (exp == 0xFF && (bits & 0x7FFFFF)) {
    bits |= 0x400000;  // quiet NaN
  } else if (exp == 0) {
    bits = sign | 0x7F800000u;  // zero or denormal -> infinity
  } else if (exp == 0xFF) {
    bits = sign;  // infinity -> zero
  } else {
    float r = 1.0f / x;
    std::memcpy(&bits, &r, 4);
    if (((bits >> 23) & 0xFF) == 0) bits &= 0x80000000u;
  }
  std::memcpy(&x, &bits, 4);
  return x;
}

float rsqrt_approx(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  uint32_t sign = bits & 0x80000000u, exp = (bits >> 23) & 0xFF;
  if (exp == 0xFF && (bits & 0x7FFFFF)) {
    bits |= 0x400000;
  } else if (exp == 0) {
    bits = sign | 0x7F800000u;
  } else if (sign) {
    bits = 0xFFC00000u;  // negative -> default NaN
  } else if (exp == 0xFF) {
    bits = 0;
  } else {
    float r = 1.0f / std::sqrt(x);
    std::memcpy(&bits, &r, 4);
  }
  std::memcpy(&x, &bits, 4);
  return x;
}

template <bool kSqrt, bool kScalar>
void approx(C& c, const Insn& i) {
  sse_check(c);
  unsigned size = kScalar ? 4 : 16;
  V128 b = read_vec(c, i, 1, size, sse_align(size));
  V128 a = get_xmm(c, i.op[0].reg);
  for (int k = 0; k < (kScalar ? 1 : 4); ++k)
    a.f[k] = kSqrt ? rsqrt_approx(b.f[k]) : rcp_approx(b.f[k]);
  set_xmm(c, i.op[0].reg, a);
}

}  // namespace

namespace {
/// CMPSD shares its mnemonic with the string instruction CMPSD (no XMM operand); that
/// form goes to the string handler registered before.
Handler g_string_cmpsd = nullptr;
void cmpsd_dispatch(C& c, const Insn& i) {
  if (i.op[0].kind == OpKind::kReg && i.op[0].rc == RegClass::kXmm) return fp_cmp<CmpSd>(c, i);
  g_string_cmpsd(c, i);
}
}  // namespace

void register_sse_fp(HandlerTable t) {
  using namespace hostfp;
  g_string_cmpsd = t[ZYDIS_MNEMONIC_CMPSD];
  t[ZYDIS_MNEMONIC_CMPSD] = &cmpsd_dispatch;
  t[ZYDIS_MNEMONIC_ADDPS] = &fp_binop<addps>;
  t[ZYDIS_MNEMONIC_ADDPD] = &fp_binop<addpd>;
  t[ZYDIS_MNEMONIC_ADDSS] = &fp_binop<addss>;
  t[ZYDIS_MNEMONIC_ADDSD] = &fp_binop<addsd>;
  t[ZYDIS_MNEMONIC_SUBPS] = &fp_binop<subps>;
  t[ZYDIS_MNEMONIC_SUBPD] = &fp_binop<subpd>;
  t[ZYDIS_MNEMONIC_SUBSS] = &fp_binop<subss>;
  t[ZYDIS_MNEMONIC_SUBSD] = &fp_binop<subsd>;
  t[ZYDIS_MNEMONIC_MULPS] = &fp_binop<mulps>;
  t[ZYDIS_MNEMONIC_MULPD] = &fp_binop<mulpd>;
  t[ZYDIS_MNEMONIC_MULSS] = &fp_binop<mulss>;
  t[ZYDIS_MNEMONIC_MULSD] = &fp_binop<mulsd>;
  t[ZYDIS_MNEMONIC_DIVPS] = &fp_binop<divps>;
  t[ZYDIS_MNEMONIC_DIVPD] = &fp_binop<divpd>;
  t[ZYDIS_MNEMONIC_DIVSS] = &fp_binop<divss>;
  t[ZYDIS_MNEMONIC_DIVSD] = &fp_binop<divsd>;
  t[ZYDIS_MNEMONIC_MINPS] = &fp_binop<minps>;
  t[ZYDIS_MNEMONIC_MINPD] = &fp_binop<minpd>;
  t[ZYDIS_MNEMONIC_MINSS] = &fp_binop<minss>;
  t[ZYDIS_MNEMONIC_MINSD] = &fp_binop<minsd>;
  t[ZYDIS_MNEMONIC_MAXPS] = &fp_binop<maxps>;
  t[ZYDIS_MNEMONIC_MAXPD] = &fp_binop<maxpd>;
  t[ZYDIS_MNEMONIC_MAXSS] = &fp_binop<maxss>;
  t[ZYDIS_MNEMONIC_MAXSD] = &fp_binop<maxsd>;
  t[ZYDIS_MNEMONIC_SQRTPS] = &fp_binop<sqrtps>;
  t[ZYDIS_MNEMONIC_SQRTPD] = &fp_binop<sqrtpd>;
  t[ZYDIS_MNEMONIC_SQRTSS] = &fp_binop<sqrtss>;
  t[ZYDIS_MNEMONIC_SQRTSD] = &fp_binop<sqrtsd>;
  t[ZYDIS_MNEMONIC_ADDSUBPS] = &fp_binop<addsubps>;
  t[ZYDIS_MNEMONIC_ADDSUBPD] = &fp_binop<addsubpd>;
  t[ZYDIS_MNEMONIC_HADDPS] = &fp_binop<haddps>;
  t[ZYDIS_MNEMONIC_HADDPD] = &fp_binop<haddpd>;
  t[ZYDIS_MNEMONIC_HSUBPS] = &fp_binop<hsubps>;
  t[ZYDIS_MNEMONIC_HSUBPD] = &fp_binop<hsubpd>;
  t[ZYDIS_MNEMONIC_CVTSS2SD] = &fp_binop<cvtss2sd>;
  t[ZYDIS_MNEMONIC_CVTSD2SS] = &fp_binop<cvtsd2ss>;
  t[ZYDIS_MNEMONIC_CVTPS2PD] = &fp_binop<cvtps2pd>;
  t[ZYDIS_MNEMONIC_CVTPD2PS] = &fp_binop<cvtpd2ps>;
  t[ZYDIS_MNEMONIC_CVTDQ2PS] = &fp_binop<cvtdq2ps>;
  t[ZYDIS_MNEMONIC_CVTPS2DQ] = &fp_binop<cvtps2dq>;
  t[ZYDIS_MNEMONIC_CVTTPS2DQ] = &fp_binop<cvttps2dq>;
  t[ZYDIS_MNEMONIC_CVTDQ2PD] = &fp_binop<cvtdq2pd>;
  t[ZYDIS_MNEMONIC_CVTPD2DQ] = &fp_binop<cvtpd2dq>;
  t[ZYDIS_MNEMONIC_CVTTPD2DQ] = &fp_binop<cvttpd2dq>;
  t[ZYDIS_MNEMONIC_CMPPS] = &fp_cmp<CmpPs>;
  t[ZYDIS_MNEMONIC_CMPPD] = &fp_cmp<CmpPd>;
  t[ZYDIS_MNEMONIC_CMPSS] = &fp_cmp<CmpSs>;
  t[ZYDIS_MNEMONIC_COMISS] = &fp_comi<comiss>;
  t[ZYDIS_MNEMONIC_UCOMISS] = &fp_comi<ucomiss>;
  t[ZYDIS_MNEMONIC_COMISD] = &fp_comi<comisd>;
  t[ZYDIS_MNEMONIC_UCOMISD] = &fp_comi<ucomisd>;
  t[ZYDIS_MNEMONIC_CVTSI2SS] = &cvt_from_int<false>;
  t[ZYDIS_MNEMONIC_CVTSI2SD] = &cvt_from_int<true>;
  t[ZYDIS_MNEMONIC_CVTSS2SI] = &cvt_to_int<false, false>;
  t[ZYDIS_MNEMONIC_CVTTSS2SI] = &cvt_to_int<false, true>;
  t[ZYDIS_MNEMONIC_CVTSD2SI] = &cvt_to_int<true, false>;
  t[ZYDIS_MNEMONIC_CVTTSD2SI] = &cvt_to_int<true, true>;
  t[ZYDIS_MNEMONIC_CVTPI2PS] = &cvtpi2ps;
  t[ZYDIS_MNEMONIC_CVTPI2PD] = &cvtpi2pd;
  t[ZYDIS_MNEMONIC_CVTPS2PI] = &cvt_to_pi<false, false>;
  t[ZYDIS_MNEMONIC_CVTTPS2PI] = &cvt_to_pi<false, true>;
  t[ZYDIS_MNEMONIC_CVTPD2PI] = &cvt_to_pi<true, false>;
  t[ZYDIS_MNEMONIC_CVTTPD2PI] = &cvt_to_pi<true, true>;
  t[ZYDIS_MNEMONIC_RCPPS] = &approx<false, false>;
  t[ZYDIS_MNEMONIC_RCPSS] = &approx<false, true>;
  t[ZYDIS_MNEMONIC_RSQRTPS] = &approx<true, false>;
  t[ZYDIS_MNEMONIC_RSQRTSS] = &approx<true, true>;
}

}  // namespace hvsim::cpu
