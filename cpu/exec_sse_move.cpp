// MMX/SSE/SSE2/SSE3 data movement, shuffle and mask-extraction instructions
// (Intel SDM Vol. 1 9.4.1, 10.4.1, 10.4.4, 11.4.4, 12.3.4; Vol. 2 pages MOVAPS .. UNPCKLPS).
#include <Zydis/Zydis.h>

#include "cpu/simd.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

/// MOVAPS/MOVAPD/MOVDQA (kAlign = 16), MOVUPS/MOVUPD/MOVDQU/LDDQU (kAlign = 0),
/// MOVNTPS/MOVNTPD/MOVNTDQ/MOVNTDQA (aligned; the non-temporal hint is ignored).
template <unsigned kAlign>
void movx(C& c, const Insn& i) {
  sse_check(c);
  if (i.op[0].kind == OpKind::kMem) {
    write_vec(c, i, 0, get_xmm(c, i.op[1].reg), 16, kAlign);
  } else {
    set_xmm(c, i.op[0].reg, read_vec(c, i, 1, 16, kAlign));
  }
}

/// MOVSS / MOVSD (SSE forms): register to register merges the low element; a load
/// zero-extends; a store writes the low element.
template <unsigned kSize>
void movs_scalar(C& c, const Insn& i) {
  sse_check(c);
  if (i.op[0].kind == OpKind::kMem) {
    write_vec(c, i, 0, get_xmm(c, i.op[1].reg), kSize);
    return;
  }
  V128 b = read_vec(c, i, 1, kSize);
  if (i.op[1].kind == OpKind::kReg) {
    V128 a = get_xmm(c, i.op[0].reg);
    std::memcpy(a.b, b.b, kSize);
    b = a;
  }
  set_xmm(c, i.op[0].reg, b);
}

Handler g_string_movsd = nullptr;
/// MOVSD shares its mnemonic with the string instruction MOVSD.
void movsd_dispatch(C& c, const Insn& i) {
  bool sse = (i.op[0].kind == OpKind::kReg && i.op[0].rc == RegClass::kXmm) ||
             (i.op[1].kind == OpKind::kReg && i.op[1].rc == RegClass::kXmm);
  if (sse) return movs_scalar<8>(c, i);
  g_string_movsd(c, i);
}

/// Which check an operand class needs.
bool any_mmx(const Insn& i) {
  for (unsigned k = 0; k < i.nops; ++k)
    if (i.op[k].kind == OpKind::kReg && i.op[k].rc == RegClass::kMmx) return true;
  return false;
}
bool any_xmm(const Insn& i) {
  for (unsigned k = 0; k < i.nops; ++k)
    if (i.op[k].kind == OpKind::kReg && i.op[k].rc == RegClass::kXmm) return true;
  return false;
}
void check_for_operands(const C& c, const Insn& i) {
  if (any_xmm(i)) sse_check(c);
  if (any_mmx(i)) mmx_check(c);
}

/// MOVD (kSize 4) / MOVQ (kSize 8) between GPRs, memory, MMX and XMM registers. Vector
/// destinations are zero-extended; MOVQ xmm, xmm copies the low quadword and zeroes the rest.
template <unsigned kSize>
void movd_q(C& c, const Insn& i) {
  check_for_operands(c, i);
  const Operand& d = i.op[0];
  const Operand& s = i.op[1];
  uint64_t v;
  if (s.kind == OpKind::kReg && s.rc == RegClass::kXmm)
    v = c.s_.fpu.xmm[s.reg].lo;
  else if (s.kind == OpKind::kReg && s.rc == RegClass::kMmx)
    v = get_mm(c, s.reg);
  else if (s.kind == OpKind::kReg)
    v = c.get_reg(s);
  else
    v = c.read_mem(i.mem.seg, c.ea(i), kSize);
  v &= size_mask(kSize);
  if (d.kind == OpKind::kMem) {
    c.write_mem(i.mem.seg, c.ea(i), kSize, v);
  } else if (d.rc == RegClass::kXmm) {
    V128 r{};
    r.q[0] = v;
    set_xmm(c, d.reg, r);
  } else if (d.rc == RegClass::kMmx) {
    set_mm(c, d.reg, v);
  } else {
    c.set_gpr(d.reg, kSize, v);
  }
  if (any_mmx(i)) mmx_enter(c);
}

/// MOVQ2DQ xmm, mm / MOVDQ2Q mm, xmm.
void movq2dq(C& c, const Insn& i) {
  sse_check(c);
  mmx_check(c);
  V128 r{};
  r.q[0] = get_mm(c, i.op[1].reg);
  mmx_enter(c);
  set_xmm(c, i.op[0].reg, r);
}
void movdq2q(C& c, const Insn& i) {
  sse_check(c);
  mmx_check(c);
  mmx_enter(c);
  set_mm(c, i.op[0].reg, c.s_.fpu.xmm[i.op[1].reg].lo);
}

/// MOVNTI m32/m64, r (non-temporal hint ignored).
void movnti(C& c, const Insn& i) {
  sse_check(c);
  c.write_op(i, 0, c.get_reg(i.op[1]));
}

/// MOVNTQ m64, mm.
void movntq(C& c, const Insn& i) {
  mmx_check(c);
  c.write_mem(i.mem.seg, c.ea(i), 8, get_mm(c, i.op[1].reg));
  mmx_enter(c);
}

/// MASKMOVDQU xmm, xmm / MASKMOVQ mm, mm: stores the bytes of operand 0 whose mask byte
/// (operand 1) has bit 7 set, to DS:rDI (segment override allowed). All stored bytes are
/// checked before any is written.
void maskmov(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 data = read_vec(c, i, 0, w), mask = read_vec(c, i, 1, w);
  uint64_t off = c.get_gpr(kRdi, i.addrsize);
  uint64_t la = c.linear(i.seg_prefix, off, w, Access::kWrite);
  bool any = false;
  for (unsigned k = 0; k < w; ++k) any |= (mask.b[k] & 0x80) != 0;
  if (any) {
    c.probe_write_lin(la, w);
    for (unsigned k = 0; k < w; ++k)
      if (mask.b[k] & 0x80) c.write_lin(la + k, 1, data.b[k]);
  }
  if (w == 8) mmx_enter(c);
}

/// MOVLPS/MOVLPD (kHigh false) and MOVHPS/MOVHPD (kHigh true): one quadword between memory
/// and the low or high half of an XMM register.
template <bool kHigh>
void movlh(C& c, const Insn& i) {
  sse_check(c);
  if (i.op[0].kind == OpKind::kMem) {
    const Xmm& x = c.s_.fpu.xmm[i.op[1].reg];
    c.write_mem(i.mem.seg, c.ea(i), 8, kHigh ? x.hi : x.lo);
    return;
  }
  uint64_t v = c.read_mem(i.mem.seg, c.ea(i), 8);
  Xmm& x = c.s_.fpu.xmm[i.op[0].reg];
  (kHigh ? x.hi : x.lo) = v;
}

void movhlps(C& c, const Insn& i) {
  sse_check(c);
  c.s_.fpu.xmm[i.op[0].reg].lo = c.s_.fpu.xmm[i.op[1].reg].hi;
}
void movlhps(C& c, const Insn& i) {
  sse_check(c);
  c.s_.fpu.xmm[i.op[0].reg].hi = c.s_.fpu.xmm[i.op[1].reg].lo;
}

/// MOVMSKPS (kLanes 4) / MOVMSKPD (kLanes 2): sign bits into a GPR.
template <unsigned kLanes>
void movmsk(C& c, const Insn& i) {
  sse_check(c);
  V128 v = get_xmm(c, i.op[1].reg);
  uint64_t r = 0;
  for (unsigned k = 0; k < kLanes; ++k) {
    bool sign = kLanes == 4 ? (v.d[k] >> 31) : (v.q[k] >> 63);
    r |= static_cast<uint64_t>(sign) << k;
  }
  c.set_gpr(i.op[0].reg, i.op[0].size == 8 ? 8 : 4, r);
}

/// PMOVMSKB r32/r64, mm/xmm.
void pmovmskb(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 v = read_vec(c, i, 1, w);
  uint64_t r = 0;
  for (unsigned k = 0; k < w; ++k) r |= static_cast<uint64_t>(v.b[k] >> 7) << k;
  if (w == 8) mmx_enter(c);
  c.set_gpr(i.op[0].reg, i.op[0].size == 8 ? 8 : 4, r);
}

/// MOVSLDUP (kOdd false) / MOVSHDUP (kOdd true).
template <bool kOdd>
void movsdup(C& c, const Insn& i) {
  sse_check(c);
  V128 s = read_vec(c, i, 1, 16, 16), r;
  for (int k = 0; k < 4; k += 2) r.d[k] = r.d[k + 1] = s.d[k + (kOdd ? 1 : 0)];
  set_xmm(c, i.op[0].reg, r);
}

/// MOVDDUP xmm, xmm/m64.
void movddup(C& c, const Insn& i) {
  sse_check(c);
  V128 s = read_vec(c, i, 1, 8), r;
  r.q[0] = r.q[1] = s.q[0];
  set_xmm(c, i.op[0].reg, r);
}

/// SHUFPS xmm, xmm/m128, imm8.
void shufps(C& c, const Insn& i) {
  sse_check(c);
  V128 a = get_xmm(c, i.op[0].reg), b = read_vec(c, i, 1, 16, 16), r;
  unsigned imm = static_cast<unsigned>(i.imm);
  r.d[0] = a.d[imm & 3];
  r.d[1] = a.d[(imm >> 2) & 3];
  r.d[2] = b.d[(imm >> 4) & 3];
  r.d[3] = b.d[(imm >> 6) & 3];
  set_xmm(c, i.op[0].reg, r);
}

/// SHUFPD xmm, xmm/m128, imm8.
void shufpd(C& c, const Insn& i) {
  sse_check(c);
  V128 a = get_xmm(c, i.op[0].reg), b = read_vec(c, i, 1, 16, 16), r;
  r.q[0] = a.q[i.imm & 1];
  r.q[1] = b.q[(i.imm >> 1) & 1];
  set_xmm(c, i.op[0].reg, r);
}

/// UNPCKLPS/UNPCKHPS (kLane 4) and UNPCKLPD/UNPCKHPD (kLane 8): interleave the low or
/// high halves (the same operation as PUNPCKL/H DQ and QDQ).
template <unsigned kLane, bool kHigh>
void unpck_fp(C& c, const Insn& i) {
  sse_check(c);
  V128 a = get_xmm(c, i.op[0].reg), b = read_vec(c, i, 1, 16, 16), r;
  unsigned n = 16 / kLane / 2, base = kHigh ? 8 : 0;
  for (unsigned k = 0; k < n; ++k) {
    std::memcpy(r.b + 2 * k * kLane, a.b + base + k * kLane, kLane);
    std::memcpy(r.b + (2 * k + 1) * kLane, b.b + base + k * kLane, kLane);
  }
  set_xmm(c, i.op[0].reg, r);
}

/// PSHUFD xmm, xmm/m128, imm8.
void pshufd(C& c, const Insn& i) {
  sse_check(c);
  V128 s = read_vec(c, i, 1, 16, 16), r;
  for (int k = 0; k < 4; ++k) r.d[k] = s.d[(i.imm >> (2 * k)) & 3];
  set_xmm(c, i.op[0].reg, r);
}

/// PSHUFLW (kHigh false) / PSHUFHW (kHigh true): shuffle four words of one half.
template <bool kHigh>
void pshufw_half(C& c, const Insn& i) {
  sse_check(c);
  V128 s = read_vec(c, i, 1, 16, 16), r = s;
  unsigned base = kHigh ? 4 : 0;
  for (unsigned k = 0; k < 4; ++k) r.w[base + k] = s.w[base + ((i.imm >> (2 * k)) & 3)];
  set_xmm(c, i.op[0].reg, r);
}

/// PSHUFW mm, mm/m64, imm8.
void pshufw(C& c, const Insn& i) {
  mmx_check(c);
  V128 s = read_vec(c, i, 1, 8), r{};
  for (int k = 0; k < 4; ++k) r.w[k] = s.w[(i.imm >> (2 * k)) & 3];
  write_dst(c, i, r, 8);
}

/// PINSRW mm/xmm, r32/m16, imm8.
void pinsrw(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  uint64_t v =
      i.op[1].kind == OpKind::kMem ? c.read_mem(i.mem.seg, c.ea(i), 2) : c.get_reg(i.op[1]);
  V128 a = read_vec(c, i, 0, w);
  a.w[i.imm & (w / 2 - 1)] = static_cast<uint16_t>(v);
  write_dst(c, i, a, w);
}

/// PEXTRW r32/r64, mm/xmm, imm8 and (SSE4.1) PEXTRW r32/m16, xmm, imm8.
void pextrw(C& c, const Insn& i) {
  unsigned w = simd_int_begin(c, i);
  V128 s = read_vec(c, i, 1, w);
  uint16_t v = s.w[i.imm & (w / 2 - 1)];
  if (i.op[0].kind == OpKind::kMem) {
    c.write_mem(i.mem.seg, c.ea(i), 2, v);
  } else {
    c.set_gpr(i.op[0].reg, i.op[0].size == 8 ? 8 : 4, v);
  }
  if (w == 8) mmx_enter(c);
}

}  // namespace

void register_sse_move(HandlerTable t) {
  t[ZYDIS_MNEMONIC_MOVAPS] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVAPD] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVDQA] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVNTPS] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVNTPD] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVNTDQ] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVNTDQA] = &movx<16>;
  t[ZYDIS_MNEMONIC_MOVUPS] = &movx<0>;
  t[ZYDIS_MNEMONIC_MOVUPD] = &movx<0>;
  t[ZYDIS_MNEMONIC_MOVDQU] = &movx<0>;
  t[ZYDIS_MNEMONIC_LDDQU] = &movx<0>;
  t[ZYDIS_MNEMONIC_MOVSS] = &movs_scalar<4>;
  g_string_movsd = t[ZYDIS_MNEMONIC_MOVSD];
  t[ZYDIS_MNEMONIC_MOVSD] = &movsd_dispatch;
  t[ZYDIS_MNEMONIC_MOVD] = &movd_q<4>;
  t[ZYDIS_MNEMONIC_MOVQ] = &movd_q<8>;
  t[ZYDIS_MNEMONIC_MOVQ2DQ] = &movq2dq;
  t[ZYDIS_MNEMONIC_MOVDQ2Q] = &movdq2q;
  t[ZYDIS_MNEMONIC_MOVNTI] = &movnti;
  t[ZYDIS_MNEMONIC_MOVNTQ] = &movntq;
  t[ZYDIS_MNEMONIC_MASKMOVDQU] = &maskmov;
  t[ZYDIS_MNEMONIC_MASKMOVQ] = &maskmov;
  t[ZYDIS_MNEMONIC_MOVLPS] = &movlh<false>;
  t[ZYDIS_MNEMONIC_MOVLPD] = &movlh<false>;
  t[ZYDIS_MNEMONIC_MOVHPS] = &movlh<true>;
  t[ZYDIS_MNEMONIC_MOVHPD] = &movlh<true>;
  t[ZYDIS_MNEMONIC_MOVHLPS] = &movhlps;
  t[ZYDIS_MNEMONIC_MOVLHPS] = &movlhps;
  t[ZYDIS_MNEMONIC_MOVMSKPS] = &movmsk<4>;
  t[ZYDIS_MNEMONIC_MOVMSKPD] = &movmsk<2>;
  t[ZYDIS_MNEMONIC_PMOVMSKB] = &pmovmskb;
  t[ZYDIS_MNEMONIC_MOVSLDUP] = &movsdup<false>;
  t[ZYDIS_MNEMONIC_MOVSHDUP] = &movsdup<true>;
  t[ZYDIS_MNEMONIC_MOVDDUP] = &movddup;
  t[ZYDIS_MNEMONIC_SHUFPS] = &shufps;
  t[ZYDIS_MNEMONIC_SHUFPD] = &shufpd;
  t[ZYDIS_MNEMONIC_UNPCKLPS] = &unpck_fp<4, false>;
  t[ZYDIS_MNEMONIC_UNPCKHPS] = &unpck_fp<4, true>;
  t[ZYDIS_MNEMONIC_UNPCKLPD] = &unpck_fp<8, false>;
  t[ZYDIS_MNEMONIC_UNPCKHPD] = &unpck_fp<8, true>;
  t[ZYDIS_MNEMONIC_PSHUFD] = &pshufd;
  t[ZYDIS_MNEMONIC_PSHUFLW] = &pshufw_half<false>;
  t[ZYDIS_MNEMONIC_PSHUFHW] = &pshufw_half<true>;
  t[ZYDIS_MNEMONIC_PSHUFW] = &pshufw;
  t[ZYDIS_MNEMONIC_PINSRW] = &pinsrw;
  t[ZYDIS_MNEMONIC_PEXTRW] = &pextrw;
}

}  // namespace hvsim::cpu
