// MMX and SSE2 integer SIMD instructions, plus the bitwise SSE logic operations and the
// SSE4.1/4.2 lane-wise additions that share their shape (Intel SDM Vol. 1 9.4, 11.4.3,
// 12.10; Vol. 2 pages PACKSSWB .. PXOR).
#include <Zydis/Zydis.h>

#include <algorithm>
#include <limits>

#include "cpu/simd.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

/// dest = OP(dest, src) lane by lane, in the MMX (64-bit) or SSE (128-bit) form.
template <typename T, typename Op>
void lanewise(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 b = read_src(c, i, 1, w);
  V128 a = read_vec(c, i, 0, w), r{};
  for (unsigned k = 0; k < w / sizeof(T); ++k)
    set_lane<T>(r, k, Op::run(lane<T>(a, k), lane<T>(b, k)));
  write_dst(c, i, r, w);
}

struct Add {
  template <typename T>
  static T run(T a, T b) {
    return static_cast<T>(a + b);
  }
};
struct Sub {
  template <typename T>
  static T run(T a, T b) {
    return static_cast<T>(a - b);
  }
};
struct AddSat {
  template <typename T>
  static T run(T a, T b) {
    return saturate<T>(int64_t{a} + int64_t{b});
  }
};
struct SubSat {
  template <typename T>
  static T run(T a, T b) {
    return saturate<T>(int64_t{a} - int64_t{b});
  }
};
struct Min {
  template <typename T>
  static T run(T a, T b) {
    return std::min(a, b);
  }
};
struct Max {
  template <typename T>
  static T run(T a, T b) {
    return std::max(a, b);
  }
};
struct Avg {
  template <typename T>
  static T run(T a, T b) {
    return static_cast<T>((uint32_t{a} + uint32_t{b} + 1) >> 1);
  }
};
struct CmpEq {
  template <typename T>
  static T run(T a, T b) {
    return a == b ? static_cast<T>(~T{0}) : T{0};
  }
};
struct CmpGt {
  template <typename T>
  static T run(T a, T b) {
    return a > b ? static_cast<T>(-1) : T{0};
  }
};
struct MulLo {
  template <typename T>
  static T run(T a, T b) {
    return static_cast<T>(static_cast<int64_t>(a) * static_cast<int64_t>(b));
  }
};
struct MulHi {
  template <typename T>
  static T run(T a, T b) {
    return static_cast<T>((static_cast<int64_t>(a) * static_cast<int64_t>(b)) >> 16);
  }
};
struct And {
  template <typename T>
  static T run(T a, T b) {
    return a & b;
  }
};
struct AndNot {
  template <typename T>
  static T run(T a, T b) {
    return ~a & b;
  }
};
struct Or {
  template <typename T>
  static T run(T a, T b) {
    return a | b;
  }
};
struct Xor {
  template <typename T>
  static T run(T a, T b) {
    return a ^ b;
  }
};

/// ANDPS/ANDNPS/ORPS/XORPS and the PD forms: 128-bit only.
template <typename Op>
void logic_fp(C& c, const Insn& i) {
  sse_check(c);
  V128 b = read_vec(c, i, 1, 16, 16), a = get_xmm(c, i.op[0].reg), r;
  for (int k = 0; k < 2; ++k) r.q[k] = Op::run(a.q[k], b.q[k]);
  set_xmm(c, i.op[0].reg, r);
}

/// PMULUDQ (unsigned) / PMULDQ (signed, SSE4.1): even doublewords to quadwords.
template <bool kSigned>
void pmuldq(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 b = read_src(c, i, 1, w), a = read_vec(c, i, 0, w), r{};
  for (unsigned k = 0; k < w / 8; ++k) {
    if (kSigned)
      r.sq[k] = int64_t{a.sd[2 * k]} * b.sd[2 * k];
    else
      r.q[k] = uint64_t{a.d[2 * k]} * b.d[2 * k];
  }
  write_dst(c, i, r, w);
}

/// PMADDWD: pairs of signed word products added into doublewords.
void pmaddwd(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 b = read_src(c, i, 1, w), a = read_vec(c, i, 0, w), r{};
  for (unsigned k = 0; k < w / 4; ++k)
    r.d[k] =
        static_cast<uint32_t>(int32_t{a.sw[2 * k]} * b.sw[2 * k] +
                              static_cast<uint32_t>(int32_t{a.sw[2 * k + 1]} * b.sw[2 * k + 1]));
  write_dst(c, i, r, w);
}

/// PSADBW: sums of absolute byte differences per 8-byte group.
void psadbw(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 b = read_src(c, i, 1, w), a = read_vec(c, i, 0, w), r{};
  for (unsigned g = 0; g < w / 8; ++g) {
    unsigned sum = 0;
    for (unsigned k = 0; k < 8; ++k) {
      int d = int{a.b[8 * g + k]} - int{b.b[8 * g + k]};
      sum += static_cast<unsigned>(d < 0 ? -d : d);
    }
    r.q[g] = sum;
  }
  write_dst(c, i, r, w);
}

// ---- shifts ----

enum class Shift { kLeft, kRight, kArith };

/// PSLL/PSRL/PSRA W/D/Q by an immediate, or by the low 64 bits of mm/xmm/m64/m128.
template <typename T, Shift kKind>
void pshift(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  uint64_t count;
  if (i.op[1].kind == OpKind::kImm)
    count = i.imm & 0xFF;
  else
    count = read_src(c, i, 1, w).q[0];
  V128 a = read_vec(c, i, 0, w), r{};
  constexpr unsigned kBits = sizeof(T) * 8;
  using S = std::make_signed_t<T>;
  for (unsigned k = 0; k < w / sizeof(T); ++k) {
    T x = lane<T>(a, k), y;
    if (kKind == Shift::kArith)
      y = static_cast<T>(static_cast<S>(x) >> (count >= kBits ? kBits - 1 : count));
    else if (count >= kBits)
      y = 0;
    else
      y = kKind == Shift::kLeft ? static_cast<T>(x << count) : static_cast<T>(x >> count);
    set_lane<T>(r, k, y);
  }
  write_dst(c, i, r, w);
}

/// PSLLDQ / PSRLDQ xmm, imm8: whole-register byte shifts.
template <bool kLeft>
void pshift_bytes(C& c, const Insn& i) {
  sse_check(c);
  V128 a = get_xmm(c, i.op[0].reg), r{};
  unsigned n = static_cast<unsigned>(i.imm & 0xFF);
  for (unsigned k = 0; k < 16; ++k) {
    if (kLeft) {
      if (k >= n) r.b[k] = a.b[k - n];
    } else if (k + n < 16) {
      r.b[k] = a.b[k + n];
    }
  }
  set_xmm(c, i.op[0].reg, r);
}

// ---- pack and unpack ----

/// PUNPCKL*/PUNPCKH*: interleave lanes of type T from the low or high halves. The MMX
/// low forms read only 32 bits of memory.
template <typename T, bool kHigh>
void punpck(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  unsigned src_size = i.op[1].kind == OpKind::kMem ? i.op[1].size : w;
  V128 b = read_vec(c, i, 1, src_size, src_size == 16 ? 16 : 0), a = read_vec(c, i, 0, w), r{};
  unsigned n = w / sizeof(T) / 2, base = kHigh ? n : 0;
  for (unsigned k = 0; k < n; ++k) {
    set_lane<T>(r, 2 * k, lane<T>(a, base + k));
    set_lane<T>(r, 2 * k + 1, lane<T>(b, base + k));
  }
  write_dst(c, i, r, w);
}

/// PACKSSWB/PACKSSDW/PACKUSWB/PACKUSDW: narrow signed lanes S to D with saturation.
template <typename S, typename D>
void pack(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 b = read_src(c, i, 1, w), a = read_vec(c, i, 0, w), r{};
  unsigned n = w / sizeof(S);
  for (unsigned k = 0; k < n; ++k) {
    set_lane<D>(r, k, saturate<D>(lane<S>(a, k)));
    set_lane<D>(r, n + k, saturate<D>(lane<S>(b, k)));
  }
  write_dst(c, i, r, w);
}

/// EMMS: marks every x87 register empty.
void emms(C& c, const Insn&) {
  mmx_check(c);
  c.s_.fpu.ftw = 0;
}

}  // namespace

void register_sse_int(HandlerTable t) {
  t[ZYDIS_MNEMONIC_PADDB] = &lanewise<uint8_t, Add>;
  t[ZYDIS_MNEMONIC_PADDW] = &lanewise<uint16_t, Add>;
  t[ZYDIS_MNEMONIC_PADDD] = &lanewise<uint32_t, Add>;
  t[ZYDIS_MNEMONIC_PADDQ] = &lanewise<uint64_t, Add>;
  t[ZYDIS_MNEMONIC_PSUBB] = &lanewise<uint8_t, Sub>;
  t[ZYDIS_MNEMONIC_PSUBW] = &lanewise<uint16_t, Sub>;
  t[ZYDIS_MNEMONIC_PSUBD] = &lanewise<uint32_t, Sub>;
  t[ZYDIS_MNEMONIC_PSUBQ] = &lanewise<uint64_t, Sub>;
  t[ZYDIS_MNEMONIC_PADDSB] = &lanewise<int8_t, AddSat>;
  t[ZYDIS_MNEMONIC_PADDSW] = &lanewise<int16_t, AddSat>;
  t[ZYDIS_MNEMONIC_PADDUSB] = &lanewise<uint8_t, AddSat>;
  t[ZYDIS_MNEMONIC_PADDUSW] = &lanewise<uint16_t, AddSat>;
  t[ZYDIS_MNEMONIC_PSUBSB] = &lanewise<int8_t, SubSat>;
  t[ZYDIS_MNEMONIC_PSUBSW] = &lanewise<int16_t, SubSat>;
  t[ZYDIS_MNEMONIC_PSUBUSB] = &lanewise<uint8_t, SubSat>;
  t[ZYDIS_MNEMONIC_PSUBUSW] = &lanewise<uint16_t, SubSat>;
  t[ZYDIS_MNEMONIC_PMULLW] = &lanewise<int16_t, MulLo>;
  t[ZYDIS_MNEMONIC_PMULLD] = &lanewise<int32_t, MulLo>;
  t[ZYDIS_MNEMONIC_PMULHW] = &lanewise<int16_t, MulHi>;
  t[ZYDIS_MNEMONIC_PMULHUW] = &lanewise<uint16_t, MulHi>;
  t[ZYDIS_MNEMONIC_PMULUDQ] = &pmuldq<false>;
  t[ZYDIS_MNEMONIC_PMULDQ] = &pmuldq<true>;
  t[ZYDIS_MNEMONIC_PMADDWD] = &pmaddwd;
  t[ZYDIS_MNEMONIC_PSADBW] = &psadbw;
  t[ZYDIS_MNEMONIC_PAVGB] = &lanewise<uint8_t, Avg>;
  t[ZYDIS_MNEMONIC_PAVGW] = &lanewise<uint16_t, Avg>;
  t[ZYDIS_MNEMONIC_PMINUB] = &lanewise<uint8_t, Min>;
  t[ZYDIS_MNEMONIC_PMAXUB] = &lanewise<uint8_t, Max>;
  t[ZYDIS_MNEMONIC_PMINSW] = &lanewise<int16_t, Min>;
  t[ZYDIS_MNEMONIC_PMAXSW] = &lanewise<int16_t, Max>;
  t[ZYDIS_MNEMONIC_PMINSB] = &lanewise<int8_t, Min>;
  t[ZYDIS_MNEMONIC_PMAXSB] = &lanewise<int8_t, Max>;
  t[ZYDIS_MNEMONIC_PMINUW] = &lanewise<uint16_t, Min>;
  t[ZYDIS_MNEMONIC_PMAXUW] = &lanewise<uint16_t, Max>;
  t[ZYDIS_MNEMONIC_PMINSD] = &lanewise<int32_t, Min>;
  t[ZYDIS_MNEMONIC_PMAXSD] = &lanewise<int32_t, Max>;
  t[ZYDIS_MNEMONIC_PMINUD] = &lanewise<uint32_t, Min>;
  t[ZYDIS_MNEMONIC_PMAXUD] = &lanewise<uint32_t, Max>;
  t[ZYDIS_MNEMONIC_PCMPEQB] = &lanewise<uint8_t, CmpEq>;
  t[ZYDIS_MNEMONIC_PCMPEQW] = &lanewise<uint16_t, CmpEq>;
  t[ZYDIS_MNEMONIC_PCMPEQD] = &lanewise<uint32_t, CmpEq>;
  t[ZYDIS_MNEMONIC_PCMPEQQ] = &lanewise<uint64_t, CmpEq>;
  t[ZYDIS_MNEMONIC_PCMPGTB] = &lanewise<int8_t, CmpGt>;
  t[ZYDIS_MNEMONIC_PCMPGTW] = &lanewise<int16_t, CmpGt>;
  t[ZYDIS_MNEMONIC_PCMPGTD] = &lanewise<int32_t, CmpGt>;
  t[ZYDIS_MNEMONIC_PCMPGTQ] = &lanewise<int64_t, CmpGt>;
  t[ZYDIS_MNEMONIC_PAND] = &lanewise<uint64_t, And>;
  t[ZYDIS_MNEMONIC_PANDN] = &lanewise<uint64_t, AndNot>;
  t[ZYDIS_MNEMONIC_POR] = &lanewise<uint64_t, Or>;
  t[ZYDIS_MNEMONIC_PXOR] = &lanewise<uint64_t, Xor>;
  t[ZYDIS_MNEMONIC_ANDPS] = &logic_fp<And>;
  t[ZYDIS_MNEMONIC_ANDPD] = &logic_fp<And>;
  t[ZYDIS_MNEMONIC_ANDNPS] = &logic_fp<AndNot>;
  t[ZYDIS_MNEMONIC_ANDNPD] = &logic_fp<AndNot>;
  t[ZYDIS_MNEMONIC_ORPS] = &logic_fp<Or>;
  t[ZYDIS_MNEMONIC_ORPD] = &logic_fp<Or>;
  t[ZYDIS_MNEMONIC_XORPS] = &logic_fp<Xor>;
  t[ZYDIS_MNEMONIC_XORPD] = &logic_fp<Xor>;
  t[ZYDIS_MNEMONIC_PSLLW] = &pshift<uint16_t, Shift::kLeft>;
  t[ZYDIS_MNEMONIC_PSLLD] = &pshift<uint32_t, Shift::kLeft>;
  t[ZYDIS_MNEMONIC_PSLLQ] = &pshift<uint64_t, Shift::kLeft>;
  t[ZYDIS_MNEMONIC_PSRLW] = &pshift<uint16_t, Shift::kRight>;
  t[ZYDIS_MNEMONIC_PSRLD] = &pshift<uint32_t, Shift::kRight>;
  t[ZYDIS_MNEMONIC_PSRLQ] = &pshift<uint64_t, Shift::kRight>;
  t[ZYDIS_MNEMONIC_PSRAW] = &pshift<uint16_t, Shift::kArith>;
  t[ZYDIS_MNEMONIC_PSRAD] = &pshift<uint32_t, Shift::kArith>;
  t[ZYDIS_MNEMONIC_PSLLDQ] = &pshift_bytes<true>;
  t[ZYDIS_MNEMONIC_PSRLDQ] = &pshift_bytes<false>;
  t[ZYDIS_MNEMONIC_PUNPCKLBW] = &punpck<uint8_t, false>;
  t[ZYDIS_MNEMONIC_PUNPCKLWD] = &punpck<uint16_t, false>;
  t[ZYDIS_MNEMONIC_PUNPCKLDQ] = &punpck<uint32_t, false>;
  t[ZYDIS_MNEMONIC_PUNPCKLQDQ] = &punpck<uint64_t, false>;
  t[ZYDIS_MNEMONIC_PUNPCKHBW] = &punpck<uint8_t, true>;
  t[ZYDIS_MNEMONIC_PUNPCKHWD] = &punpck<uint16_t, true>;
  t[ZYDIS_MNEMONIC_PUNPCKHDQ] = &punpck<uint32_t, true>;
  t[ZYDIS_MNEMONIC_PUNPCKHQDQ] = &punpck<uint64_t, true>;
  t[ZYDIS_MNEMONIC_PACKSSWB] = &pack<int16_t, int8_t>;
  t[ZYDIS_MNEMONIC_PACKSSDW] = &pack<int32_t, int16_t>;
  t[ZYDIS_MNEMONIC_PACKUSWB] = &pack<int16_t, uint8_t>;
  t[ZYDIS_MNEMONIC_PACKUSDW] = &pack<int32_t, uint16_t>;
  t[ZYDIS_MNEMONIC_EMMS] = &emms;
}

}  // namespace hvsim::cpu
