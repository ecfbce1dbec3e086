// Integer extensions: BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR, TZCNT), BMI2 (BZHI, MULX,
// PDEP, PEXT, RORX, SARX, SHLX, SHRX), LZCNT, POPCNT, MOVBE, CRC32, ADCX/ADOX,
// RDFSBASE..WRGSBASE, cache-control hints and fences (Intel SDM Vol. 1 7.3.x, 11.4.4.3,
// 12.12.3; Vol. 2 instruction pages). The BMI instructions are VEX-encoded: Zydis decodes
// them into their own mnemonics with GPR operands, and no other VEX mnemonic has a handler
// (they stay #UD, matching CPUID, which reports no AVX).
#include <Zydis/Zydis.h>

#include "cpu/simd.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

unsigned bits(const Insn& i) {
  return i.op[0].size * 8;
}

/// Flags of the BMI1 logic group: SF, ZF from the result, CF as given, OF = 0 (AF and PF
/// are undefined: cleared).
uint64_t bmi_flags(uint64_t r, unsigned size, bool cf) {
  return (r == 0 ? kFlagZF : 0) | ((r & sign_bit(size)) ? kFlagSF : 0) | (cf ? kFlagCF : 0);
}

void andn(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t r = ~c.read_op(i, 1) & c.read_op(i, 2) & size_mask(size);
  c.set_reg(i.op[0], r);
  c.set_arith_flags(bmi_flags(r, size, false));
}

/// BEXTR r, r/m, r: start = src2[7:0], length = src2[15:8].
void bextr(C& c, const Insn& i) {
  unsigned size = i.op[0].size, n = bits(i);
  uint64_t v = c.read_op(i, 1), ctl = c.read_op(i, 2);
  unsigned start = ctl & 0xFF, len = (ctl >> 8) & 0xFF;
  uint64_t r = start < n ? v >> start : 0;
  if (len < 64) r &= (1ull << len) - 1;
  r &= size_mask(size);
  c.set_reg(i.op[0], r);
  c.set_arith_flags(r == 0 ? kFlagZF : 0);
}

enum class Bls { kBlsi, kBlsmsk, kBlsr };

template <Bls kOp>
void bls(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t m = size_mask(size), v = c.read_op(i, 1) & m, r;
  switch (kOp) {
    case Bls::kBlsi: r = (0 - v) & v & m; break;
    case Bls::kBlsmsk: r = ((v - 1) ^ v) & m; break;
    default: r = ((v - 1) & v) & m; break;
  }
  c.set_reg(i.op[0], r);
  bool cf = kOp == Bls::kBlsi ? v != 0 : v == 0;
  uint64_t f = bmi_flags(r, size, cf);
  if (kOp == Bls::kBlsmsk) f &= ~kFlagZF;
  c.set_arith_flags(f);
}

/// TZCNT (kLeading false) / LZCNT (kLeading true): CF = source zero, ZF = result zero.
template <bool kLeading>
void count_zeros(C& c, const Insn& i) {
  unsigned size = i.op[0].size, n = bits(i);
  uint64_t v = c.read_op(i, 1) & size_mask(size);
  uint64_t r;
  if (v == 0)
    r = n;
  else if (kLeading)
    r = __builtin_clzll(v) - (64 - n);
  else
    r = __builtin_ctzll(v);
  c.set_reg(i.op[0], r);
  c.set_arith_flags((v == 0 ? kFlagCF : 0) | (r == 0 ? kFlagZF : 0));
}

/// POPCNT: ZF = source zero; CF, OF, SF, AF, PF cleared.
void popcnt(C& c, const Insn& i) {
  uint64_t v = c.read_op(i, 1) & size_mask(i.op[0].size);
  c.set_reg(i.op[0], static_cast<uint64_t>(__builtin_popcountll(v)));
  c.set_arith_flags(v == 0 ? kFlagZF : 0);
}

/// BZHI r, r/m, r: zero the bits from index src2[7:0] up; CF = index out of range.
void bzhi(C& c, const Insn& i) {
  unsigned size = i.op[0].size, n = bits(i);
  uint64_t v = c.read_op(i, 1) & size_mask(size);
  unsigned idx = c.read_op(i, 2) & 0xFF;
  uint64_t r = idx < n ? v & ((1ull << idx) - 1) : v;
  c.set_reg(i.op[0], r);
  c.set_arith_flags(bmi_flags(r, size, idx > n - 1));
}

/// MULX hi, lo, r/m: unsigned rDX * r/m without touching flags; hi is written last.
void mulx(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t b = c.read_op(i, 2), a = c.get_gpr(kRdx, size);
  unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  uint64_t lo, hi;
  if (size == 8) {
    lo = static_cast<uint64_t>(p);
    hi = static_cast<uint64_t>(p >> 64);
  } else {
    lo = static_cast<uint64_t>(p) & 0xFFFFFFFF;
    hi = static_cast<uint64_t>(p >> 32) & 0xFFFFFFFF;
  }
  c.set_reg(i.op[1], lo);
  c.set_reg(i.op[0], hi);
}

/// PDEP r, r, r/m: deposit the low source bits at the mask's set positions.
void pdep(C& c, const Insn& i) {
  uint64_t src = c.read_op(i, 1), mask = c.read_op(i, 2) & size_mask(i.op[0].size), r = 0;
  for (uint64_t bit = 1; mask; bit <<= 1) {
    uint64_t low = mask & (0 - mask);
    if (src & bit) r |= low;
    mask &= mask - 1;
  }
  c.set_reg(i.op[0], r);
}

/// PEXT r, r, r/m: gather the source bits at the mask's set positions.
void pext(C& c, const Insn& i) {
  uint64_t src = c.read_op(i, 1), mask = c.read_op(i, 2) & size_mask(i.op[0].size), r = 0;
  for (uint64_t bit = 1; mask; bit <<= 1) {
    uint64_t low = mask & (0 - mask);
    if (src & low) r |= bit;
    mask &= mask - 1;
  }
  c.set_reg(i.op[0], r);
}

/// RORX r, r/m, imm8.
void rorx(C& c, const Insn& i) {
  unsigned size = i.op[0].size, n = bits(i);
  uint64_t v = c.read_op(i, 1) & size_mask(size);
  unsigned k = static_cast<unsigned>(i.imm) & (n - 1);
  uint64_t r = k ? ((v >> k) | (v << (n - k))) & size_mask(size) : v;
  c.set_reg(i.op[0], r);
}

enum class ShX { kSar, kShl, kShr };

/// SARX/SHLX/SHRX r, r/m, r: count masked to 5 or 6 bits; flags unchanged.
template <ShX kOp>
void shiftx(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t v = c.read_op(i, 1) & size_mask(size);
  unsigned k = c.read_op(i, 2) & (size == 8 ? 63 : 31);
  uint64_t r;
  switch (kOp) {
    case ShX::kSar:
      r = static_cast<uint64_t>(static_cast<int64_t>(sign_extend(v, size)) >> k);
      break;
    case ShX::kShl: r = v << k; break;
    default: r = v >> k; break;
  }
  c.set_reg(i.op[0], r & size_mask(size));
}

/// MOVBE r, m / m, r: byte-swapped load or store.
void movbe(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t v = c.read_op(i, 1);
  uint64_t r = size == 8   ? __builtin_bswap64(v)
               : size == 4 ? __builtin_bswap32(static_cast<uint32_t>(v))
                           : __builtin_bswap16(static_cast<uint16_t>(v));
  c.write_op(i, 0, r);
}

/// CRC32 r32/r64, r/m8/16/32/64: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)
/// accumulated over the source bytes, little-endian order.
void crc32(C& c, const Insn& i) {
  uint32_t crc = static_cast<uint32_t>(c.get_gpr(i.op[0].reg, 4));
  unsigned n = i.op[1].size;
  uint64_t v = c.read_op(i, 1);
  for (unsigned k = 0; k < n; ++k) {
    crc ^= static_cast<uint8_t>(v >> (8 * k));
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  c.set_gpr(i.op[0].reg, i.op[0].size == 8 ? 8 : 4, crc);
}

/// ADCX (carry in CF) / ADOX (carry in OF): unsigned add with carry touching one flag.
template <uint64_t kFlag>
void adcx(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint64_t a = c.get_reg(i.op[0]), b = c.read_op(i, 1) & size_mask(size);
  uint64_t cin = (c.s_.rflags & kFlag) ? 1 : 0;
  unsigned __int128 s = static_cast<unsigned __int128>(a) + b + cin;
  uint64_t r = static_cast<uint64_t>(s) & size_mask(size);
  bool cout = size == 8 ? (s >> 64) != 0 : ((static_cast<uint64_t>(s) >> (size * 8)) & 1) != 0;
  c.set_reg(i.op[0], r);
  c.s_.rflags = (c.s_.rflags & ~kFlag) | (cout ? kFlag : 0);
}

/// RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE: 64-bit mode with CR4.FSGSBASE, else #UD.
template <unsigned kSeg, bool kWrite>
void fsgsbase(C& c, const Insn& i) {
  if (!c.long64_ || !(c.s_.cr4 & kCr4FSGSBASE)) raise_ud();
  unsigned size = i.op[0].size;
  if (kWrite) {
    uint64_t v = c.get_gpr(i.op[0].reg, size);
    if (!c.canonical(v)) raise_gp(0);
    c.s_.seg[kSeg].base = v;
  } else {
    c.set_gpr(i.op[0].reg, size, c.s_.seg[kSeg].base);
  }
}

/// CLFLUSH/CLFLUSHOPT m8: no cache is modelled; the address is checked like a byte load.
void clflush(C& c, const Insn& i) {
  c.read_mem(i.mem.seg, c.ea(i), 1);
}

/// LFENCE/MFENCE/SFENCE and PREFETCH*: no effect on a sequential, cache-less model.
void hint(C&, const Insn&) {}

}  // namespace

void register_bitmanip(HandlerTable t) {
  t[ZYDIS_MNEMONIC_ANDN] = &andn;
  t[ZYDIS_MNEMONIC_BEXTR] = &bextr;
  t[ZYDIS_MNEMONIC_BLSI] = &bls<Bls::kBlsi>;
  t[ZYDIS_MNEMONIC_BLSMSK] = &bls<Bls::kBlsmsk>;
  t[ZYDIS_MNEMONIC_BLSR] = &bls<Bls::kBlsr>;
  t[ZYDIS_MNEMONIC_TZCNT] = &count_zeros<false>;
  t[ZYDIS_MNEMONIC_LZCNT] = &count_zeros<true>;
  t[ZYDIS_MNEMONIC_POPCNT] = &popcnt;
  t[ZYDIS_MNEMONIC_BZHI] = &bzhi;
  t[ZYDIS_MNEMONIC_MULX] = &mulx;
  t[ZYDIS_MNEMONIC_PDEP] = &pdep;
  t[ZYDIS_MNEMONIC_PEXT] = &pext;
  t[ZYDIS_MNEMONIC_RORX] = &rorx;
  t[ZYDIS_MNEMONIC_SARX] = &shiftx<ShX::kSar>;
  t[ZYDIS_MNEMONIC_SHLX] = &shiftx<ShX::kShl>;
  t[ZYDIS_MNEMONIC_SHRX] = &shiftx<ShX::kShr>;
  t[ZYDIS_MNEMONIC_MOVBE] = &movbe;
  t[ZYDIS_MNEMONIC_CRC32] = &crc32;
  t[ZYDIS_MNEMONIC_ADCX] = &adcx<kFlagCF>;
  t[ZYDIS_MNEMONIC_ADOX] = &adcx<kFlagOF>;
  t[ZYDIS_MNEMONIC_RDFSBASE] = &fsgsbase<kFs, false>;
  t[ZYDIS_MNEMONIC_RDGSBASE] = &fsgsbase<kGs, false>;
  t[ZYDIS_MNEMONIC_WRFSBASE] = &fsgsbase<kFs, true>;
  t[ZYDIS_MNEMONIC_WRGSBASE] = &fsgsbase<kGs, true>;
  t[ZYDIS_MNEMONIC_CLFLUSH] = &clflush;
  t[ZYDIS_MNEMONIC_CLFLUSHOPT] = &clflush;
  for (int m : {ZYDIS_MNEMONIC_LFENCE, ZYDIS_MNEMONIC_MFENCE, ZYDIS_MNEMONIC_SFENCE,
                ZYDIS_MNEMONIC_PREFETCHNTA, ZYDIS_MNEMONIC_PREFETCHT0, ZYDIS_MNEMONIC_PREFETCHT1,
                ZYDIS_MNEMONIC_PREFETCHT2, ZYDIS_MNEMONIC_PREFETCHW, ZYDIS_MNEMONIC_PREFETCH})
    t[m] = &hint;
}

}  // namespace hvsim::cpu
