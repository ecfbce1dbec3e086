// Integer data-transfer, arithmetic, logic, shift/rotate, bit and flag instructions
// (Intel SDM Vol. 1 ch. 7.3; Vol. 2 instruction pages ADD .. XOR).
#include <Zydis/Zydis.h>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

// ---- two-operand arithmetic and logic ----

enum class Alu { kAdd, kOr, kAdc, kSbb, kAnd, kSub, kXor, kCmp, kTest };

template <Alu kOp>
void alu(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t m = size_mask(size);
  constexpr bool kWrites = kOp != Alu::kCmp && kOp != Alu::kTest;
  C::Loc loc;
  uint64_t a = kWrites ? c.read_rmw(i, 0, &loc) : c.read_op(i, 0);
  uint64_t b = c.read_op(i, 1) & m;
  a &= m;
  uint64_t r;
  LazyOp op;
  switch (kOp) {
    case Alu::kAdd:
      r = (a + b) & m;
      op = LazyOp::kAdd;
      break;
    case Alu::kAdc: {
      uint64_t cf = c.carry_flag() ? 1 : 0;
      r = (a + b + cf) & m;
      op = cf ? LazyOp::kAdc : LazyOp::kAdd;
      break;
    }
    case Alu::kSub:
    case Alu::kCmp:
      r = (a - b) & m;
      op = LazyOp::kSub;
      break;
    case Alu::kSbb: {
      uint64_t cf = c.carry_flag() ? 1 : 0;
      r = (a - b - cf) & m;
      op = cf ? LazyOp::kSbb : LazyOp::kSub;
      break;
    }
    case Alu::kAnd:
    case Alu::kTest:
      r = a & b;
      op = LazyOp::kLogic;
      break;
    case Alu::kOr:
      r = a | b;
      op = LazyOp::kLogic;
      break;
    case Alu::kXor:
      r = a ^ b;
      op = LazyOp::kLogic;
      break;
  }
  if (kWrites) c.write_rmw(i, 0, loc, r);
  c.set_lazy_flags(op, size, a, b, r);
}

void inc(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  uint64_t r = (a + 1) & size_mask(size);
  uint64_t cf = c.carry_flag() ? kFlagCF : 0;
  c.write_rmw(i, 0, loc, r);
  c.set_lazy_flags(LazyOp::kInc, size, a, cf, r);
}

void dec(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  uint64_t r = (a - 1) & size_mask(size);
  uint64_t cf = c.carry_flag() ? kFlagCF : 0;
  c.write_rmw(i, 0, loc, r);
  c.set_lazy_flags(LazyOp::kDec, size, a, cf, r);
}

void neg(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  uint64_t r = (0 - a) & size_mask(size);
  c.write_rmw(i, 0, loc, r);
  c.set_lazy_flags(LazyOp::kSub, size, 0, a & size_mask(size), r);
}

void not_(C& c, const Insn& i) {
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  c.write_rmw(i, 0, loc, ~a & size_mask(i.op[0].size));
}

// ---- shifts and rotates ----
// Flags the SDM leaves undefined follow QEMU (Unicorn): AF = 0 after shifts; OF of
// multi-bit shifts/rotates = the 1-bit formula applied to the last step.

enum class Sh { kRol, kRor, kRcl, kRcr, kShl, kShr, kSar };

template <Sh kOp>
void shift(C& c, const Insn& i) {
  unsigned size = i.op[0].size, bits = size * 8;
  uint64_t m = size_mask(size), msb = sign_bit(size);
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  uint64_t count = c.read_op(i, 1) & (size == 8 ? 0x3F : 0x1F);
  if (count == 0) {
    c.write_rmw(i, 0, loc, a);  // still a write access (and a 32-bit register zero-extends)
    return;
  }
  if constexpr (kOp == Sh::kShl || kOp == Sh::kShr || kOp == Sh::kSar) {
    // Shifts keep their flags lazily (flags.h shl_flags/shr_flags/sar_flags).
    uint64_t r;
    LazyOp lop;
    if (kOp == Sh::kShl) {
      r = count < 64 ? (a << count) & m : 0;
      lop = LazyOp::kShl;
    } else if (kOp == Sh::kShr) {
      r = a >> count;
      lop = LazyOp::kShr;
    } else {
      int64_t sa = static_cast<int64_t>(sign_extend(a, size));
      r = static_cast<uint64_t>(sa >> count) & m;
      lop = LazyOp::kSar;
    }
    c.write_rmw(i, 0, loc, r);
    c.set_lazy_flags(lop, size, a, count, r);
    return;
  }
  uint64_t fl = c.rflags();
  uint64_t r = a, cf = 0, of = 0;
  uint64_t f = fl & kArithFlags;
  switch (kOp) {
    case Sh::kRol: {
      unsigned t = count % bits;
      r = t ? ((a << t) | (a >> (bits - t))) & m : a;
      cf = r & 1;
      of = ((r & msb) ? 1 : 0) ^ cf;
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case Sh::kRor: {
      unsigned t = count % bits;
      r = t ? ((a >> t) | (a << (bits - t))) & m : a;
      cf = (r & msb) ? 1 : 0;
      of = cf ^ ((r >> (bits - 2)) & 1);
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case Sh::kRcl:
    case Sh::kRcr: {
      unsigned t = size <= 2 ? count % (bits + 1) : count;
      if (t == 0) {
        c.write_rmw(i, 0, loc, a);
        return;
      }
      cf = (fl & kFlagCF) ? 1 : 0;
      for (unsigned k = 0; k < t; ++k) {
        if (kOp == Sh::kRcl) {
          uint64_t out = (r & msb) ? 1 : 0;
          r = ((r << 1) | cf) & m;
          cf = out;
        } else {
          uint64_t out = r & 1;
          r = (r >> 1) | (cf ? msb : 0);
          cf = out;
        }
      }
      of = ((a ^ r) & msb) ? 1 : 0;
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    default: break;  // SHL/SHR/SAR: above
  }
  c.write_rmw(i, 0, loc, r);
  c.set_arith_flags(f);
}

/// SHLD/SHRD: dest, src, count. For a 16-bit operand and count > 16 the result is
/// undefined (SDM); ours shifts through src:dest:src.
template <bool kLeft>
void shift_double(C& c, const Insn& i) {
  unsigned size = i.op[0].size, bits = size * 8;
  uint64_t m = size_mask(size), msb = sign_bit(size);
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  uint64_t b = c.read_op(i, 1) & m;
  uint64_t count = c.read_op(i, 2) & (size == 8 ? 0x3F : 0x1F);
  if (count == 0) {
    c.write_rmw(i, 0, loc, a);
    return;
  }
  using U = unsigned __int128;
  uint64_t r, tmp, cf;
  if (kLeft) {
    U x = (static_cast<U>(a) << bits) | b;
    if (bits == 16) x = (x << 16) | a;  // a:b:a for the undefined 16-bit case
    unsigned top = bits == 16 ? 48 : 2 * bits;
    U t = x << (count - 1);
    tmp = static_cast<uint64_t>(t >> (top - bits)) & m;
    r = static_cast<uint64_t>((t << 1) >> (top - bits)) & m;
    cf = (tmp & msb) ? 1 : 0;
  } else {
    U x = (static_cast<U>(b) << bits) | a;
    if (bits == 16) x |= static_cast<U>(a) << 32;
    U t = x >> (count - 1);
    tmp = static_cast<uint64_t>(t) & m;
    r = static_cast<uint64_t>(t >> 1) & m;
    cf = tmp & 1;
  }
  uint64_t of = ((tmp ^ r) & msb) ? 1 : 0;
  if (kLeft) of = ((r & msb) ? 1 : 0) ^ cf;
  c.write_rmw(i, 0, loc, r);
  c.set_arith_flags(szp_flags(r, size) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0));
}

// ---- multiply and divide ----
// MUL/IMUL: CF = OF = "high half significant"; SF, ZF, PF from the low half and AF = 0
// (undefined in the SDM; as QEMU computes them).

uint64_t mul_flags(uint64_t lo, unsigned size, bool overflow) {
  return szp_flags(lo & size_mask(size), size) | (overflow ? kFlagCF | kFlagOF : 0);
}

/// Writes the double-width result of the one-operand forms (AX, DX:AX, EDX:EAX, RDX:RAX).
void write_wide(C& c, unsigned size, uint64_t lo, uint64_t hi) {
  if (size == 1) {
    c.set_gpr(kRax, 2, (lo & 0xFF) | ((hi & 0xFF) << 8));
  } else {
    c.set_gpr(kRax, size, lo);
    c.set_gpr(kRdx, size, hi);
  }
}

void mul(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t b = c.read_op(i, 0);
  uint64_t a = c.get_gpr(kRax, size);
  unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  uint64_t lo, hi;
  if (size == 8) {
    lo = static_cast<uint64_t>(p);
    hi = static_cast<uint64_t>(p >> 64);
  } else {
    lo = static_cast<uint64_t>(p) & size_mask(size);
    hi = static_cast<uint64_t>(p >> (size * 8)) & size_mask(size);
  }
  write_wide(c, size, lo, hi);
  c.set_arith_flags(mul_flags(lo, size, hi != 0));
}

/// Signed product of two `size`-byte values; returns the low half, sets *hi and *overflow.
uint64_t imul_core(uint64_t a, uint64_t b, unsigned size, uint64_t* hi, bool* overflow) {
  __int128 p = static_cast<__int128>(static_cast<int64_t>(sign_extend(a, size))) *
               static_cast<int64_t>(sign_extend(b, size));
  uint64_t m = size_mask(size);
  uint64_t lo = static_cast<uint64_t>(p) & m;
  *hi = static_cast<uint64_t>(p >> (size * 8)) & m;
  *overflow = p != static_cast<__int128>(static_cast<int64_t>(sign_extend(lo, size)));
  return lo;
}

void imul(C& c, const Insn& i) {
  uint64_t hi;
  bool ov;
  if (i.nops == 1) {
    unsigned size = i.op[0].size;
    uint64_t b = c.read_op(i, 0);
    uint64_t lo = imul_core(c.get_gpr(kRax, size), b, size, &hi, &ov);
    write_wide(c, size, lo, hi);
    c.set_arith_flags(mul_flags(lo, size, ov));
    return;
  }
  unsigned size = i.op[0].size;
  uint64_t a, b;
  if (i.nops >= 3 && i.op[2].kind == OpKind::kImm) {
    a = c.read_op(i, 1);
    b = i.imm & size_mask(size);
  } else {
    a = c.read_op(i, 0);
    b = c.read_op(i, 1);
  }
  uint64_t lo = imul_core(a, b, size, &hi, &ov);
  c.set_reg(i.op[0], lo);
  c.set_arith_flags(mul_flags(lo, size, ov));
}

// DIV/IDIV leave the flags unchanged (undefined in the SDM; QEMU does not touch them).
void div(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t d = c.read_op(i, 0);
  if (d == 0) raise_fault(spec::Vector::kDE);
  using U = unsigned __int128;
  U n = size == 1 ? c.get_gpr(kRax, 2)
                  : (static_cast<U>(c.get_gpr(kRdx, size)) << (size * 8)) | c.get_gpr(kRax, size);
  U q = n / d, r = n % d;
  if (q > size_mask(size)) raise_fault(spec::Vector::kDE);
  if (size == 1)
    c.set_gpr(kRax, 2, static_cast<uint64_t>(q) | (static_cast<uint64_t>(r) << 8));
  else
    write_wide(c, size, static_cast<uint64_t>(q), static_cast<uint64_t>(r));
}

void idiv(C& c, const Insn& i) {
  unsigned size = i.op[0].size, bits = size * 8;
  int64_t d = static_cast<int64_t>(sign_extend(c.read_op(i, 0), size));
  if (d == 0) raise_fault(spec::Vector::kDE);
  __int128 n;
  if (size == 1) {
    n = static_cast<int16_t>(c.get_gpr(kRax, 2));
  } else {
    unsigned __int128 u =
        (static_cast<unsigned __int128>(c.get_gpr(kRdx, size)) << bits) | c.get_gpr(kRax, size);
    // Sign-extend the 2*bits-wide dividend.
    n = static_cast<__int128>(u << (128 - 2 * bits)) >> (128 - 2 * bits);
  }
  if (d == -1 && n == (static_cast<__int128>(-1) << (2 * bits - 1))) raise_fault(spec::Vector::kDE);
  __int128 q = n / d, r = n % d;
  __int128 lim = static_cast<__int128>(1) << (bits - 1);
  if (q >= lim || q < -lim) raise_fault(spec::Vector::kDE);
  uint64_t m = size_mask(size);
  if (size == 1)
    c.set_gpr(kRax, 2,
              (static_cast<uint64_t>(q) & 0xFF) | ((static_cast<uint64_t>(r) & 0xFF) << 8));
  else
    write_wide(c, size, static_cast<uint64_t>(q) & m, static_cast<uint64_t>(r) & m);
}

// ---- data movement ----

void mov(C& c, const Insn& i) {
  const Operand& d = i.op[0];
  const Operand& s = i.op[1];
  if (d.rc == RegClass::kCr || d.rc == RegClass::kDr || s.rc == RegClass::kCr ||
      s.rc == RegClass::kDr) {
    if (d.kind == OpKind::kReg && s.kind == OpKind::kReg) return exec_mov_special(c, i);
  }
  if (d.kind == OpKind::kReg && d.rc == RegClass::kSeg) {
    uint16_t sel = static_cast<uint16_t>(c.read_op(i, 1));
    c.load_segment(d.reg, sel);
    return;
  }
  uint64_t v = c.read_op(i, 1);
  c.write_op(i, 0, v & size_mask(d.size));
}

void movzx(C& c, const Insn& i) {
  c.set_reg(i.op[0], c.read_op(i, 1) & size_mask(i.op[1].size));
}

void movsx(C& c, const Insn& i) {
  c.set_reg(i.op[0], sign_extend(c.read_op(i, 1), i.op[1].size) & size_mask(i.op[0].size));
}

void lea(C& c, const Insn& i) {
  c.set_reg(i.op[0], c.ea(i) & size_mask(i.op[0].size));
}

void xchg(C& c, const Insn& i) {
  C::Loc l0;
  uint64_t a = c.read_rmw(i, 0, &l0);
  C::Loc l1;
  uint64_t b = c.read_rmw(i, 1, &l1);
  c.write_rmw(i, 0, l0, b);
  c.write_rmw(i, 1, l1, a);
}

void xadd(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  C::Loc loc;
  uint64_t a = c.read_rmw(i, 0, &loc);
  uint64_t b = c.get_reg(i.op[1]);
  uint64_t r = (a + b) & size_mask(size);
  c.set_reg(i.op[1], a);
  c.write_rmw(i, 0, loc, r);
  c.set_arith_flags(add_flags(a, b, 0, r, size));
}

void cmpxchg(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  C::Loc loc;
  uint64_t d = c.read_rmw(i, 0, &loc);
  uint64_t acc = c.get_gpr(kRax, size);
  uint64_t src = c.get_reg(i.op[1]);
  uint64_t r = (acc - d) & size_mask(size);
  bool eq = acc == d;
  // The accumulator receives the old destination (equal to it on success): a 32-bit
  // operand zero-extends RAX either way, as QEMU does. The destination is written last
  // (CMPXCHG AL, r8 with AL as destination ends with the source). The location was
  // checked for writing by read_rmw, so the register update before it stays precise.
  c.set_gpr(kRax, size, d);
  c.write_rmw(i, 0, loc, eq ? src : d);
  c.set_arith_flags(sub_flags(acc, d, 0, r, size));
}

void cmpxchg8b16b(C& c, const Insn& i) {
  unsigned half = i.op[0].size / 2;  // 4 (CMPXCHG8B) or 8 (CMPXCHG16B)
  uint64_t off = c.ea(i);
  if (half == 8 && (off & 15)) raise_gp(0);
  uint64_t la = c.linear(i.mem.seg, off, 2 * half, Access::kWrite);
  c.probe_write_lin(la, 2 * half);
  uint64_t lo = c.read_lin(la, half), hi = c.read_lin(la + half, half);
  bool eq = lo == c.get_gpr(kRax, half) && hi == c.get_gpr(kRdx, half);
  if (eq) {
    c.write_lin(la, half, c.get_gpr(kRbx, half));
    c.write_lin(la + half, half, c.get_gpr(kRcx, half));
  } else {
    c.write_lin(la, half, lo);
    c.write_lin(la + half, half, hi);
    c.set_gpr(kRax, half, lo);
    c.set_gpr(kRdx, half, hi);
  }
  c.materialize_flags();
  c.s_.rflags = (c.s_.rflags & ~kFlagZF) | (eq ? kFlagZF : 0);
}

void bswap(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t v = c.get_reg(i.op[0]);
  // BSWAP of a 16-bit register is undefined; QEMU (and real CPUs) give 0.
  uint64_t r = size == 8 ? __builtin_bswap64(v) : size == 4 ? __builtin_bswap32(v) : 0;
  c.set_reg(i.op[0], r);
}

// ---- bit instructions ----

enum class Bt { kTest, kSet, kReset, kComplement };

template <Bt kOp>
void bt(C& c, const Insn& i) {
  unsigned size = i.op[0].size, bits = size * 8;
  uint64_t bit;
  uint64_t v, la = 0;
  bool mem = i.op[0].kind == OpKind::kMem;
  if (i.op[1].kind == OpKind::kImm) {
    bit = i.imm & (bits - 1);
    if (mem)
      la = c.linear(i.mem.seg, c.ea(i), size, kOp == Bt::kTest ? Access::kRead : Access::kWrite);
  } else {
    uint64_t off = c.get_reg(i.op[1]);
    bit = off & (bits - 1);
    if (mem) {
      // Register bit offsets address memory beyond the operand (signed, operand-size units).
      int64_t soff = static_cast<int64_t>(sign_extend(off, size));
      int64_t units = soff >> (size == 8 ? 6 : size == 4 ? 5 : 4);
      uint64_t ea = (c.ea(i) + static_cast<uint64_t>(units * static_cast<int64_t>(size))) &
                    c.addr_mask(i.addrsize);
      la = c.linear(i.mem.seg, ea, size, kOp == Bt::kTest ? Access::kRead : Access::kWrite);
    }
  }
  if (mem) {
    if (kOp != Bt::kTest) c.probe_write_lin(la, size);
    v = c.read_lin(la, size);
  } else {
    v = c.get_reg(i.op[0]);
  }
  bool set = (v >> bit) & 1;
  c.materialize_flags();
  uint64_t r = v;
  if (kOp == Bt::kSet) r |= 1ull << bit;
  if (kOp == Bt::kReset) r &= ~(1ull << bit);
  if (kOp == Bt::kComplement) r ^= 1ull << bit;
  if (kOp != Bt::kTest) {
    if (mem)
      c.write_lin(la, size, r);
    else
      c.set_reg(i.op[0], r);
  }
  c.s_.rflags = (c.s_.rflags & ~kFlagCF) | (set ? kFlagCF : 0);
}

template <bool kReverse>
void bitscan(C& c, const Insn& i) {
  uint64_t v = c.read_op(i, 1) & size_mask(i.op[1].size);
  c.materialize_flags();
  if (v == 0) {
    // The destination is undefined (AMD: unchanged); a 32-bit destination is still
    // zero-extended, as on Intel hardware and in QEMU.
    if (i.op[0].size == 4) c.set_reg(i.op[0], c.get_reg(i.op[0]));
    c.s_.rflags |= kFlagZF;
    return;
  }
  uint64_t r = kReverse ? 63 - __builtin_clzll(v) : __builtin_ctzll(v);
  c.set_reg(i.op[0], r);
  c.s_.rflags &= ~kFlagZF;
}

// ---- condition codes ----

void setcc(C& c, const Insn& i) {
  c.write_op(i, 0, c.cond(i.opcode & 15) ? 1 : 0);
}

void cmovcc(C& c, const Insn& i) {
  uint64_t v = c.read_op(i, 1);  // the source is read (and may fault) even if false
  if (c.cond(i.opcode & 15))
    c.set_reg(i.op[0], v);
  else if (i.op[0].size == 4)
    c.set_reg(i.op[0], c.get_reg(i.op[0]));  // 32-bit destination is zero-extended anyway
}

// ---- accumulator conversions and flag instructions ----

void cbw(C& c, const Insn&) {
  c.set_gpr(kRax, 2, sign_extend(c.get_gpr(kRax, 1), 1));
}
void cwde(C& c, const Insn&) {
  c.set_gpr(kRax, 4, sign_extend(c.get_gpr(kRax, 2), 2));
}
void cdqe(C& c, const Insn&) {
  c.set_gpr(kRax, 8, sign_extend(c.get_gpr(kRax, 4), 4));
}
template <unsigned kSize>
void cwd(C& c, const Insn&) {
  bool neg = c.get_gpr(kRax, kSize) & sign_bit(kSize);
  c.set_gpr(kRdx, kSize, neg ? ~0ull : 0);
}

void lahf(C& c, const Insn&) {
  c.materialize_flags();
  c.s_.gpr[kRax] = (c.s_.gpr[kRax] & ~0xFF00ull) | ((c.s_.rflags & 0xD5) | 2) << 8;
}
void sahf(C& c, const Insn&) {
  uint64_t ah = (c.s_.gpr[kRax] >> 8) & 0xD5;
  c.materialize_flags();
  c.s_.rflags = (c.s_.rflags & ~0xD5ull) | ah | 2;
}
void clc(C& c, const Insn&) {
  c.materialize_flags();
  c.s_.rflags &= ~kFlagCF;
}
void stc(C& c, const Insn&) {
  c.materialize_flags();
  c.s_.rflags |= kFlagCF;
}
void cmc(C& c, const Insn&) {
  c.materialize_flags();
  c.s_.rflags ^= kFlagCF;
}
void cld(C& c, const Insn&) {
  c.s_.rflags &= ~kFlagDF;
}
void std_(C& c, const Insn&) {
  c.s_.rflags |= kFlagDF;
}
void nop(C&, const Insn&) {}

void xlat(C& c, const Insn& i) {
  uint64_t off = (c.s_.gpr[kRbx] + c.get_gpr(kRax, 1)) & c.addr_mask(i.addrsize);
  c.set_gpr(kRax, 1, c.read_mem(i.seg_prefix, off, 1));
}

}  // namespace

void register_alu(HandlerTable t) {
  t[ZYDIS_MNEMONIC_ADD] = &alu<Alu::kAdd>;
  t[ZYDIS_MNEMONIC_OR] = &alu<Alu::kOr>;
  t[ZYDIS_MNEMONIC_ADC] = &alu<Alu::kAdc>;
  t[ZYDIS_MNEMONIC_SBB] = &alu<Alu::kSbb>;
  t[ZYDIS_MNEMONIC_AND] = &alu<Alu::kAnd>;
  t[ZYDIS_MNEMONIC_SUB] = &alu<Alu::kSub>;
  t[ZYDIS_MNEMONIC_XOR] = &alu<Alu::kXor>;
  t[ZYDIS_MNEMONIC_CMP] = &alu<Alu::kCmp>;
  t[ZYDIS_MNEMONIC_TEST] = &alu<Alu::kTest>;
  t[ZYDIS_MNEMONIC_INC] = &inc;
  t[ZYDIS_MNEMONIC_DEC] = &dec;
  t[ZYDIS_MNEMONIC_NEG] = &neg;
  t[ZYDIS_MNEMONIC_NOT] = &not_;
  t[ZYDIS_MNEMONIC_ROL] = &shift<Sh::kRol>;
  t[ZYDIS_MNEMONIC_ROR] = &shift<Sh::kRor>;
  t[ZYDIS_MNEMONIC_RCL] = &shift<Sh::kRcl>;
  t[ZYDIS_MNEMONIC_RCR] = &shift<Sh::kRcr>;
  t[ZYDIS_MNEMONIC_SHL] = &shift<Sh::kShl>;
  t[ZYDIS_MNEMONIC_SHR] = &shift<Sh::kShr>;
  t[ZYDIS_MNEMONIC_SAR] = &shift<Sh::kSar>;
  t[ZYDIS_MNEMONIC_SHLD] = &shift_double<true>;
  t[ZYDIS_MNEMONIC_SHRD] = &shift_double<false>;
  t[ZYDIS_MNEMONIC_MUL] = &mul;
  t[ZYDIS_MNEMONIC_IMUL] = &imul;
  t[ZYDIS_MNEMONIC_DIV] = &div;
  t[ZYDIS_MNEMONIC_IDIV] = &idiv;
  t[ZYDIS_MNEMONIC_MOV] = &mov;
  t[ZYDIS_MNEMONIC_MOVZX] = &movzx;
  t[ZYDIS_MNEMONIC_MOVSX] = &movsx;
  t[ZYDIS_MNEMONIC_MOVSXD] = &movsx;
  t[ZYDIS_MNEMONIC_LEA] = &lea;
  t[ZYDIS_MNEMONIC_XCHG] = &xchg;
  t[ZYDIS_MNEMONIC_XADD] = &xadd;
  t[ZYDIS_MNEMONIC_CMPXCHG] = &cmpxchg;
  t[ZYDIS_MNEMONIC_CMPXCHG8B] = &cmpxchg8b16b;
  t[ZYDIS_MNEMONIC_CMPXCHG16B] = &cmpxchg8b16b;
  t[ZYDIS_MNEMONIC_BSWAP] = &bswap;
  t[ZYDIS_MNEMONIC_BT] = &bt<Bt::kTest>;
  t[ZYDIS_MNEMONIC_BTS] = &bt<Bt::kSet>;
  t[ZYDIS_MNEMONIC_BTR] = &bt<Bt::kReset>;
  t[ZYDIS_MNEMONIC_BTC] = &bt<Bt::kComplement>;
  t[ZYDIS_MNEMONIC_BSF] = &bitscan<false>;
  t[ZYDIS_MNEMONIC_BSR] = &bitscan<true>;
  for (int m :
       {ZYDIS_MNEMONIC_SETB, ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETLE,
        ZYDIS_MNEMONIC_SETNB, ZYDIS_MNEMONIC_SETNBE, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETNLE,
        ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETNP, ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETNZ,
        ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETZ})
    t[m] = &setcc;
  for (int m :
       {ZYDIS_MNEMONIC_CMOVB, ZYDIS_MNEMONIC_CMOVBE, ZYDIS_MNEMONIC_CMOVL, ZYDIS_MNEMONIC_CMOVLE,
        ZYDIS_MNEMONIC_CMOVNB, ZYDIS_MNEMONIC_CMOVNBE, ZYDIS_MNEMONIC_CMOVNL,
        ZYDIS_MNEMONIC_CMOVNLE, ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVNP, ZYDIS_MNEMONIC_CMOVNS,
        ZYDIS_MNEMONIC_CMOVNZ, ZYDIS_MNEMONIC_CMOVO, ZYDIS_MNEMONIC_CMOVP, ZYDIS_MNEMONIC_CMOVS,
        ZYDIS_MNEMONIC_CMOVZ})
    t[m] = &cmovcc;
  t[ZYDIS_MNEMONIC_CBW] = &cbw;
  t[ZYDIS_MNEMONIC_CWDE] = &cwde;
  t[ZYDIS_MNEMONIC_CDQE] = &cdqe;
  t[ZYDIS_MNEMONIC_CWD] = &cwd<2>;
  t[ZYDIS_MNEMONIC_CDQ] = &cwd<4>;
  t[ZYDIS_MNEMONIC_CQO] = &cwd<8>;
  t[ZYDIS_MNEMONIC_LAHF] = &lahf;
  t[ZYDIS_MNEMONIC_SAHF] = &sahf;
  t[ZYDIS_MNEMONIC_CLC] = &clc;
  t[ZYDIS_MNEMONIC_STC] = &stc;
  t[ZYDIS_MNEMONIC_CMC] = &cmc;
  t[ZYDIS_MNEMONIC_CLD] = &cld;
  t[ZYDIS_MNEMONIC_STD] = &std_;
  t[ZYDIS_MNEMONIC_NOP] = &nop;
  t[ZYDIS_MNEMONIC_PAUSE] = &nop;
  t[ZYDIS_MNEMONIC_XLAT] = &xlat;
}

}  // namespace hvsim::cpu
