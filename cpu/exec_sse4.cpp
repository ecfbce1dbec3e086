// SSSE3, SSE4.1 and SSE4.2 vector instructions (Intel SDM Vol. 1 12.7-12.11; Vol. 2 pages
// BLENDPS .. PTEST, and 4.1 "Imm8 control byte operation for PCMPESTRI / PCMPESTRM /
// PCMPISTRI / PCMPISTRM"). ROUND* and DPPS/DPPD use the host SSE unit (cpu/host_fp.h).
#include <Zydis/Zydis.h>

#include <algorithm>
#include <limits>

#include "cpu/host_fp.h"
#include "cpu/simd.h"

namespace hvsim::cpu {
namespace hostfp {
HVSIM_SSE_BINOP_IMM(roundps, "roundps")
HVSIM_SSE_BINOP_IMM(roundpd, "roundpd")
HVSIM_SSE_BINOP_IMM(roundss, "roundss")
HVSIM_SSE_BINOP_IMM(roundsd, "roundsd")
HVSIM_SSE_BINOP(dp_mulss, "mulss")
HVSIM_SSE_BINOP(dp_addss, "addss")
HVSIM_SSE_BINOP(dp_mulsd, "mulsd")
HVSIM_SSE_BINOP(dp_addsd, "addsd")
}  // namespace hostfp

namespace {

using C = CpuImpl;

/// Common shape: dest = f(dest, src) for SSSE3 instructions with MMX and XMM forms.
template <typename F>
void ssse3(C& c, const Insn& i, F f) {
  unsigned w = simd_int_begin(c, i);
  V128 b = read_src(c, i, 1, w), a = read_vec(c, i, 0, w), r{};
  f(a, b, r, w);
  write_dst(c, i, r, w);
}

// ---- SSSE3 ----

template <typename T>
void pabs(C& c, const Insn& i) {
  ssse3(c, i, [](const V128&, const V128& b, V128& r, unsigned w) {
    for (unsigned k = 0; k < w / sizeof(T); ++k) {
      int64_t x = lane<T>(b, k);
      set_lane<T>(r, k, static_cast<T>(x < 0 ? -x : x));
    }
  });
}

template <typename T>
void psign(C& c, const Insn& i) {
  ssse3(c, i, [](const V128& a, const V128& b, V128& r, unsigned w) {
    for (unsigned k = 0; k < w / sizeof(T); ++k) {
      T s = lane<T>(b, k), x = lane<T>(a, k);
      set_lane<T>(r, k, s < 0 ? static_cast<T>(-x) : s == 0 ? T{0} : x);
    }
  });
}

/// PHADDW/PHADDD/PHADDSW/PHSUBW/PHSUBD/PHSUBSW: horizontal pairs of dest, then of src.
template <typename T, bool kSub, bool kSat>
void phaddsub(C& c, const Insn& i) {
  ssse3(c, i, [](const V128& a, const V128& b, V128& r, unsigned w) {
    unsigned half = w / sizeof(T) / 2;
    for (unsigned k = 0; k < half; ++k) {
      for (int src = 0; src < 2; ++src) {
        const V128& v = src ? b : a;
        int64_t x = lane<T>(v, 2 * k), y = lane<T>(v, 2 * k + 1);
        int64_t s = kSub ? x - y : x + y;
        set_lane<T>(r, src * half + k, kSat ? saturate<T>(s) : static_cast<T>(s));
      }
    }
  });
}

void pmaddubsw(C& c, const Insn& i) {
  ssse3(c, i, [](const V128& a, const V128& b, V128& r, unsigned w) {
    for (unsigned k = 0; k < w / 2; ++k) {
      int64_t s = int64_t{a.b[2 * k]} * b.sb[2 * k] + int64_t{a.b[2 * k + 1]} * b.sb[2 * k + 1];
      r.sw[k] = saturate<int16_t>(s);
    }
  });
}

void pmulhrsw(C& c, const Insn& i) {
  ssse3(c, i, [](const V128& a, const V128& b, V128& r, unsigned w) {
    for (unsigned k = 0; k < w / 2; ++k)
      r.sw[k] = static_cast<int16_t>((((int32_t{a.sw[k]} * b.sw[k]) >> 14) + 1) >> 1);
  });
}

void pshufb(C& c, const Insn& i) {
  ssse3(c, i, [](const V128& a, const V128& b, V128& r, unsigned w) {
    for (unsigned k = 0; k < w; ++k) r.b[k] = (b.b[k] & 0x80) ? 0 : a.b[b.b[k] & (w - 1)];
  });
}

/// PALIGNR: (dest:src) shifted right by imm8 bytes.
void palignr(C& c, const Insn& i) {
  unsigned n = static_cast<unsigned>(i.imm & 0xFF);
  ssse3(c, i, [n](const V128& a, const V128& b, V128& r, unsigned w) {
    uint8_t cat[32];
    std::memcpy(cat, b.b, w);
    std::memcpy(cat + w, a.b, w);
    for (unsigned k = 0; k < w; ++k) r.b[k] = k + n < 2 * w ? cat[k + n] : 0;
  });
}

// ---- SSE4.1 ----

/// Reads the 128-bit source of an SSE4.1 instruction (aligned if memory).
V128 src128(C& c, const Insn& i, unsigned n = 1) {
  return read_vec(c, i, n, 16, 16);
}

/// PBLENDW / BLENDPS / BLENDPD with imm8 (kLane bytes per lane).
template <unsigned kLane>
void blend_imm(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), a = get_xmm(c, i.op[0].reg);
  for (unsigned k = 0; k < 16 / kLane; ++k)
    if ((i.imm >> k) & 1) std::memcpy(a.b + k * kLane, b.b + k * kLane, kLane);
  set_xmm(c, i.op[0].reg, a);
}

/// PBLENDVB / BLENDVPS / BLENDVPD: lanes chosen by the sign bits of XMM0 (implicit).
template <unsigned kLane>
void blend_var(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), a = get_xmm(c, i.op[0].reg), m = get_xmm(c, 0);
  for (unsigned k = 0; k < 16 / kLane; ++k)
    if (m.b[k * kLane + kLane - 1] & 0x80) std::memcpy(a.b + k * kLane, b.b + k * kLane, kLane);
  set_xmm(c, i.op[0].reg, a);
}

/// PMOVSX*/PMOVZX*: widen the low lanes of the source (memory: only the bytes used).
template <typename S, typename D>
void pmovx(C& c, const Insn& i) {
  sse_check(c);
  constexpr unsigned kCount = 16 / sizeof(D);
  V128 b = read_vec(c, i, 1, kCount * sizeof(S)), r;
  for (unsigned k = 0; k < kCount; ++k) set_lane<D>(r, k, static_cast<D>(lane<S>(b, k)));
  set_xmm(c, i.op[0].reg, r);
}

/// PINSRB/PINSRD/PINSRQ xmm, r/m, imm8.
template <typename T>
void pinsr(C& c, const Insn& i) {
  sse_check(c);
  uint64_t v = c.read_op(i, 1);
  V128 a = get_xmm(c, i.op[0].reg);
  set_lane<T>(a, static_cast<unsigned>(i.imm & (16 / sizeof(T) - 1)), static_cast<T>(v));
  set_xmm(c, i.op[0].reg, a);
}

/// PEXTRB/PEXTRD/PEXTRQ/EXTRACTPS r/m, xmm, imm8 (register destinations zero-extend).
template <typename T>
void pextr(C& c, const Insn& i) {
  sse_check(c);
  V128 s = get_xmm(c, i.op[1].reg);
  uint64_t v = lane<T>(s, static_cast<unsigned>(i.imm & (16 / sizeof(T) - 1)));
  if (i.op[0].kind == OpKind::kMem)
    c.write_mem(i.mem.seg, c.ea(i), sizeof(T), v);
  else
    c.set_gpr(i.op[0].reg, i.op[0].size == 8 ? 8 : 4, v);
}

/// INSERTPS xmm, xmm/m32, imm8.
void insertps(C& c, const Insn& i) {
  sse_check(c);
  uint32_t v;
  if (i.op[1].kind == OpKind::kMem)
    v = static_cast<uint32_t>(c.read_mem(i.mem.seg, c.ea(i), 4));
  else
    v = get_xmm(c, i.op[1].reg).d[(i.imm >> 6) & 3];
  V128 a = get_xmm(c, i.op[0].reg);
  a.d[(i.imm >> 4) & 3] = v;
  for (unsigned k = 0; k < 4; ++k)
    if ((i.imm >> k) & 1) a.d[k] = 0;
  set_xmm(c, i.op[0].reg, a);
}

/// ROUNDPS/PD/SS/SD: imm8 bits 1:0 rounding mode, 2 use MXCSR.RC, 3 suppress PE.
template <template <int> class Op, bool kScalar, unsigned kSize>
void round(C& c, const Insn& i) {
  sse_check(c);
  V128 b = kScalar ? read_vec(c, i, 1, kSize) : src128(c, i);
  V128 a = get_xmm(c, i.op[0].reg);
  uint32_t mx = c.s_.fpu.mxcsr, flags = 0;
  switch (i.imm & 15) {
#define HVSIM_ROUND_CASE(n) \
  case n: flags = Op<n>::run(a, b, mx); break;
    HVSIM_ROUND_CASE(0)
    HVSIM_ROUND_CASE(1)
    HVSIM_ROUND_CASE(2)
    HVSIM_ROUND_CASE(3)
    HVSIM_ROUND_CASE(4)
    HVSIM_ROUND_CASE(5)
    HVSIM_ROUND_CASE(6)
    HVSIM_ROUND_CASE(7)
    HVSIM_ROUND_CASE(8)
    HVSIM_ROUND_CASE(9)
    HVSIM_ROUND_CASE(10)
    HVSIM_ROUND_CASE(11)
    HVSIM_ROUND_CASE(12)
    HVSIM_ROUND_CASE(13)
    HVSIM_ROUND_CASE(14)
    default: flags = Op<15>::run(a, b, mx); break;
#undef HVSIM_ROUND_CASE
  }
  sse_fp_flags(c, flags);
  set_xmm(c, i.op[0].reg, a);
}
template <int k>
struct RoundPs {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::roundps<k>(a, b, mx); }
};
template <int k>
struct RoundPd {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::roundpd<k>(a, b, mx); }
};
template <int k>
struct RoundSs {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::roundss<k>(a, b, mx); }
};
template <int k>
struct RoundSd {
  static uint32_t run(V128& a, const V128& b, uint32_t mx) { return hostfp::roundsd<k>(a, b, mx); }
};

/// DPPS: products of the lanes selected by imm8[7:4], summed as ((p0 + p1) + (p2 + p3))
/// with the rounding of each step, broadcast to the lanes selected by imm8[3:0].
void dpps(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), a = get_xmm(c, i.op[0].reg);
  uint32_t mx = c.s_.fpu.mxcsr, flags = 0;
  V128 p[4];
  for (unsigned k = 0; k < 4; ++k) {
    p[k] = V128{};
    if ((i.imm >> (4 + k)) & 1) {
      V128 y{};
      p[k].f[0] = a.f[k];
      y.f[0] = b.f[k];
      flags |= hostfp::dp_mulss(p[k], y, mx);
    }
  }
  flags |= hostfp::dp_addss(p[0], p[1], mx);
  flags |= hostfp::dp_addss(p[2], p[3], mx);
  flags |= hostfp::dp_addss(p[0], p[2], mx);
  V128 r{};
  for (unsigned k = 0; k < 4; ++k)
    if ((i.imm >> k) & 1) r.d[k] = p[0].d[0];
  sse_fp_flags(c, flags);
  set_xmm(c, i.op[0].reg, r);
}

void dppd(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), a = get_xmm(c, i.op[0].reg);
  uint32_t mx = c.s_.fpu.mxcsr, flags = 0;
  V128 p[2];
  for (unsigned k = 0; k < 2; ++k) {
    p[k] = V128{};
    if ((i.imm >> (4 + k)) & 1) {
      V128 y{};
      p[k].f64[0] = a.f64[k];
      y.f64[0] = b.f64[k];
      flags |= hostfp::dp_mulsd(p[k], y, mx);
    }
  }
  flags |= hostfp::dp_addsd(p[0], p[1], mx);
  V128 r{};
  for (unsigned k = 0; k < 2; ++k)
    if ((i.imm >> k) & 1) r.q[k] = p[0].q[0];
  sse_fp_flags(c, flags);
  set_xmm(c, i.op[0].reg, r);
}

/// PTEST: ZF = (dest AND src) == 0, CF = (NOT dest AND src) == 0; OF, SF, AF, PF cleared.
void ptest(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), a = get_xmm(c, i.op[0].reg);
  bool zf = !((a.q[0] & b.q[0]) | (a.q[1] & b.q[1]));
  bool cf = !((~a.q[0] & b.q[0]) | (~a.q[1] & b.q[1]));
  c.set_arith_flags((zf ? kFlagZF : 0) | (cf ? kFlagCF : 0));
}

/// MPSADBW: eight sums of absolute differences of 4-byte groups (offsets from imm8).
void mpsadbw(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), a = get_xmm(c, i.op[0].reg), r;
  unsigned off_a = ((i.imm >> 2) & 1) * 4, off_b = (i.imm & 3) * 4;
  for (unsigned k = 0; k < 8; ++k) {
    unsigned sum = 0;
    for (unsigned j = 0; j < 4; ++j) {
      int d = int{a.b[off_a + k + j]} - int{b.b[off_b + j]};
      sum += static_cast<unsigned>(d < 0 ? -d : d);
    }
    r.w[k] = static_cast<uint16_t>(sum);
  }
  set_xmm(c, i.op[0].reg, r);
}

void phminposuw(C& c, const Insn& i) {
  sse_check(c);
  V128 b = src128(c, i), r{};
  unsigned idx = 0;
  for (unsigned k = 1; k < 8; ++k)
    if (b.w[k] < b.w[idx]) idx = k;
  r.w[0] = b.w[idx];
  r.w[1] = static_cast<uint16_t>(idx);
  set_xmm(c, i.op[0].reg, r);
}

// ---- SSE4.2 string comparisons (SDM Vol. 2 4.1) ----

/// PCMPESTRI/PCMPESTRM (kExplicit: lengths in EAX/EDX) and PCMPISTRI/PCMPISTRM (NUL
/// terminated); kIndex: ECX result, else XMM0 mask. Memory operands need no alignment.
template <bool kExplicit, bool kIndex>
void pcmpstr(C& c, const Insn& i) {
  sse_check(c);
  V128 b = read_vec(c, i, 1, 16), a = get_xmm(c, i.op[0].reg);
  unsigned imm = static_cast<unsigned>(i.imm & 0xFF);
  bool words = imm & 1, is_signed = imm & 2;
  unsigned n = words ? 8 : 16;
  auto elem = [&](const V128& v, unsigned k) -> int64_t {
    if (words) return is_signed ? int64_t{v.sw[k]} : int64_t{v.w[k]};
    return is_signed ? int64_t{v.sb[k]} : int64_t{v.b[k]};
  };
  auto length = [&](const V128& v, unsigned reg) -> unsigned {
    if (kExplicit) {
      int64_t l = i.opsize == 8 ? static_cast<int64_t>(c.s_.gpr[reg])
                                : static_cast<int64_t>(static_cast<int32_t>(c.s_.gpr[reg]));
      uint64_t mag = l < 0 ? 0 - static_cast<uint64_t>(l) : static_cast<uint64_t>(l);
      return mag > n ? n : static_cast<unsigned>(mag);
    }
    for (unsigned k = 0; k < n; ++k)
      if (elem(v, k) == 0) return k;
    return n;
  };
  unsigned la = length(a, kRax), lb = length(b, kRdx);
  unsigned agg = (imm >> 2) & 3;
  uint32_t res1 = 0;
  for (unsigned j = 0; j < n; ++j) {
    bool bit = false;
    bool bv = j < lb;
    switch (agg) {
      case 0:  // equal any
        for (unsigned k = 0; k < la && bv && !bit; ++k) bit = elem(a, k) == elem(b, j);
        break;
      case 1:  // ranges: a[2k] <= b[j] <= a[2k+1]
        for (unsigned k = 0; k + 1 < n && bv && !bit; k += 2) {
          bool lo = k < la && elem(b, j) >= elem(a, k);
          bool hi = k + 1 < la && elem(b, j) <= elem(a, k + 1);
          bit = lo && hi;
        }
        break;
      case 2: {  // equal each
        bool av = j < la;
        bit = (!av && !bv) ? true : (av && bv) ? elem(a, j) == elem(b, j) : false;
        break;
      }
      default: {  // equal ordered: a is a substring of b starting at j
        bit = true;
        for (unsigned k = 0; k + j < n && bit; ++k) {
          bool av = k < la, bvk = j + k < lb;
          if (!av) break;  // the rest of the needle is invalid: match
          bit = bvk && elem(a, k) == elem(b, j + k);
        }
        break;
      }
    }
    if (bit) res1 |= 1u << j;
  }
  uint32_t full = (1u << n) - 1, res2 = res1;
  switch ((imm >> 4) & 3) {
    case 1: res2 = ~res1 & full; break;
    case 3: res2 = res1 ^ ((1u << lb) - 1); break;
    default: break;
  }
  if (kIndex) {
    unsigned idx = n;
    if (res2) idx = (imm & 0x40) ? 31 - __builtin_clz(res2) : __builtin_ctz(res2);
    c.s_.gpr[kRcx] = idx;
  } else {
    V128 m{};
    if (imm & 0x40) {
      for (unsigned k = 0; k < n; ++k)
        if ((res2 >> k) & 1) {
          if (words)
            m.w[k] = 0xFFFF;
          else
            m.b[k] = 0xFF;
        }
    } else {
      m.d[0] = res2;
    }
    set_xmm(c, 0, m);
  }
  uint64_t f = (res2 ? kFlagCF : 0) | (lb < n ? kFlagZF : 0) | (la < n ? kFlagSF : 0) |
               ((res2 & 1) ? kFlagOF : 0);
  c.set_arith_flags(f);
}

}  // namespace

void register_sse4(HandlerTable t) {
  t[ZYDIS_MNEMONIC_PABSB] = &pabs<int8_t>;
  t[ZYDIS_MNEMONIC_PABSW] = &pabs<int16_t>;
  t[ZYDIS_MNEMONIC_PABSD] = &pabs<int32_t>;
  t[ZYDIS_MNEMONIC_PSIGNB] = &psign<int8_t>;
  t[ZYDIS_MNEMONIC_PSIGNW] = &psign<int16_t>;
  t[ZYDIS_MNEMONIC_PSIGND] = &psign<int32_t>;
  t[ZYDIS_MNEMONIC_PHADDW] = &phaddsub<int16_t, false, false>;
  t[ZYDIS_MNEMONIC_PHADDD] = &phaddsub<int32_t, false, false>;
  t[ZYDIS_MNEMONIC_PHADDSW] = &phaddsub<int16_t, false, true>;
  t[ZYDIS_MNEMONIC_PHSUBW] = &phaddsub<int16_t, true, false>;
  t[ZYDIS_MNEMONIC_PHSUBD] = &phaddsub<int32_t, true, false>;
  t[ZYDIS_MNEMONIC_PHSUBSW] = &phaddsub<int16_t, true, true>;
  t[ZYDIS_MNEMONIC_PMADDUBSW] = &pmaddubsw;
  t[ZYDIS_MNEMONIC_PMULHRSW] = &pmulhrsw;
  t[ZYDIS_MNEMONIC_PSHUFB] = &pshufb;
  t[ZYDIS_MNEMONIC_PALIGNR] = &palignr;
  t[ZYDIS_MNEMONIC_PBLENDW] = &blend_imm<2>;
  t[ZYDIS_MNEMONIC_BLENDPS] = &blend_imm<4>;
  t[ZYDIS_MNEMONIC_BLENDPD] = &blend_imm<8>;
  t[ZYDIS_MNEMONIC_PBLENDVB] = &blend_var<1>;
  t[ZYDIS_MNEMONIC_BLENDVPS] = &blend_var<4>;
  t[ZYDIS_MNEMONIC_BLENDVPD] = &blend_var<8>;
  t[ZYDIS_MNEMONIC_PMOVSXBW] = &pmovx<int8_t, int16_t>;
  t[ZYDIS_MNEMONIC_PMOVSXBD] = &pmovx<int8_t, int32_t>;
  t[ZYDIS_MNEMONIC_PMOVSXBQ] = &pmovx<int8_t, int64_t>;
  t[ZYDIS_MNEMONIC_PMOVSXWD] = &pmovx<int16_t, int32_t>;
  t[ZYDIS_MNEMONIC_PMOVSXWQ] = &pmovx<int16_t, int64_t>;
  t[ZYDIS_MNEMONIC_PMOVSXDQ] = &pmovx<int32_t, int64_t>;
  t[ZYDIS_MNEMONIC_PMOVZXBW] = &pmovx<uint8_t, uint16_t>;
  t[ZYDIS_MNEMONIC_PMOVZXBD] = &pmovx<uint8_t, uint32_t>;
  t[ZYDIS_MNEMONIC_PMOVZXBQ] = &pmovx<uint8_t, uint64_t>;
  t[ZYDIS_MNEMONIC_PMOVZXWD] = &pmovx<uint16_t, uint32_t>;
  t[ZYDIS_MNEMONIC_PMOVZXWQ] = &pmovx<uint16_t, uint64_t>;
  t[ZYDIS_MNEMONIC_PMOVZXDQ] = &pmovx<uint32_t, uint64_t>;
  t[ZYDIS_MNEMONIC_PINSRB] = &pinsr<uint8_t>;
  t[ZYDIS_MNEMONIC_PINSRD] = &pinsr<uint32_t>;
  t[ZYDIS_MNEMONIC_PINSRQ] = &pinsr<uint64_t>;
  t[ZYDIS_MNEMONIC_PEXTRB] = &pextr<uint8_t>;
  t[ZYDIS_MNEMONIC_PEXTRD] = &pextr<uint32_t>;
  t[ZYDIS_MNEMONIC_PEXTRQ] = &pextr<uint64_t>;
  t[ZYDIS_MNEMONIC_EXTRACTPS] = &pextr<uint32_t>;
  t[ZYDIS_MNEMONIC_INSERTPS] = &insertps;
  t[ZYDIS_MNEMONIC_ROUNDPS] = &round<RoundPs, false, 16>;
  t[ZYDIS_MNEMONIC_ROUNDPD] = &round<RoundPd, false, 16>;
  t[ZYDIS_MNEMONIC_ROUNDSS] = &round<RoundSs, true, 4>;
  t[ZYDIS_MNEMONIC_ROUNDSD] = &round<RoundSd, true, 8>;
  t[ZYDIS_MNEMONIC_DPPS] = &dpps;
  t[ZYDIS_MNEMONIC_DPPD] = &dppd;
  t[ZYDIS_MNEMONIC_PTEST] = &ptest;
  t[ZYDIS_MNEMONIC_MPSADBW] = &mpsadbw;
  t[ZYDIS_MNEMONIC_PHMINPOSUW] = &phminposuw;
  t[ZYDIS_MNEMONIC_PCMPESTRI] = &pcmpstr<true, true>;
  t[ZYDIS_MNEMONIC_PCMPESTRM] = &pcmpstr<true, false>;
  t[ZYDIS_MNEMONIC_PCMPISTRI] = &pcmpstr<false, true>;
  t[ZYDIS_MNEMONIC_PCMPISTRM] = &pcmpstr<false, false>;
}

}  // namespace hvsim::cpu
