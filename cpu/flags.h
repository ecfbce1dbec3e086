// Arithmetic flag computation (Intel SDM Vol. 1 3.4.3.1, Appendix A "EFLAGS cross-reference").
#pragma once

#include <cstdint>

#include "cpu/state.h"

namespace hvsim::cpu {

constexpr uint64_t kArithFlags = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;

constexpr uint64_t size_mask(unsigned size) {
  return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
constexpr uint64_t sign_bit(unsigned size) {
  return 1ull << (size * 8 - 1);
}
/// Sign-extends the low `size` bytes of v to 64 bits.
constexpr uint64_t sign_extend(uint64_t v, unsigned size) {
  unsigned shift = 64 - size * 8;
  return shift ? static_cast<uint64_t>(static_cast<int64_t>(v << shift) >> shift) : v;
}

/// PF: set if the low byte of the result has an even number of 1 bits.
inline uint64_t parity_flag(uint64_t r) {
  return __builtin_parity(static_cast<unsigned>(r & 0xFF)) ? 0 : kFlagPF;
}
/// SF, ZF and PF of a result of `size` bytes (r already truncated).
inline uint64_t szp_flags(uint64_t r, unsigned size) {
  return parity_flag(r) | (r == 0 ? kFlagZF : 0) | ((r & sign_bit(size)) ? kFlagSF : 0);
}

/// Flags of a + b + carry (ADD/ADC/INC/XADD). `r` is the truncated result.
inline uint64_t add_flags(uint64_t a, uint64_t b, uint64_t carry, uint64_t r, unsigned size) {
  uint64_t m = size_mask(size);
  bool cf = carry ? (r <= (a & m)) : (r < (a & m));
  uint64_t f = szp_flags(r, size) | (((a ^ b ^ r) & 0x10) ? kFlagAF : 0);
  if (cf) f |= kFlagCF;
  if ((a ^ r) & (b ^ r) & sign_bit(size)) f |= kFlagOF;
  return f;
}

/// Flags of a - b - borrow (SUB/SBB/CMP/DEC/NEG/CMPXCHG).
inline uint64_t sub_flags(uint64_t a, uint64_t b, uint64_t borrow, uint64_t r, unsigned size) {
  uint64_t m = size_mask(size);
  a &= m;
  b &= m;
  bool cf = borrow ? (a <= b) : (a < b);
  uint64_t f = szp_flags(r, size) | (((a ^ b ^ r) & 0x10) ? kFlagAF : 0);
  if (cf) f |= kFlagCF;
  if ((a ^ b) & (a ^ r) & sign_bit(size)) f |= kFlagOF;
  return f;
}

/// Flags of AND/OR/XOR/TEST: CF = OF = 0; AF is undefined, cleared (as QEMU does).
inline uint64_t logic_flags(uint64_t r, unsigned size) {
  return szp_flags(r, size);
}

// Shifts by a nonzero count (already masked): CF is the last bit shifted out; OF is the
// 1-bit formula applied to the last step (defined only for count 1 in the SDM; as QEMU);
// AF = 0.
/// Flags of SHL/SAL: `a` the operand, `r` the truncated result.
inline uint64_t shl_flags(uint64_t a, uint64_t count, uint64_t r, unsigned size) {
  uint64_t tmp = count - 1 < 64 ? a << (count - 1) : 0;
  bool cf = (tmp & sign_bit(size)) != 0;
  bool of = ((r & sign_bit(size)) != 0) != cf;
  return szp_flags(r, size) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
}
/// Flags of SHR (`a` zero-extended from `size` bytes).
inline uint64_t shr_flags(uint64_t a, uint64_t count, uint64_t r, unsigned size) {
  uint64_t tmp = a >> (count - 1);
  bool cf = tmp & 1;
  bool of = ((tmp ^ r) & sign_bit(size)) != 0;
  return szp_flags(r, size) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
}
/// Flags of SAR (OF = 0).
inline uint64_t sar_flags(uint64_t a, uint64_t count, uint64_t r, unsigned size) {
  int64_t sa = static_cast<int64_t>(sign_extend(a, size));
  bool cf = static_cast<uint64_t>(sa >> (count - 1)) & 1;
  return szp_flags(r, size) | (cf ? kFlagCF : 0);
}

/// Evaluates condition code `cc` (low nibble of Jcc/SETcc/CMOVcc opcodes, SDM Table B-1).
inline bool condition(uint64_t fl, unsigned cc) {
  bool r;
  switch (cc >> 1) {
    case 0: r = fl & kFlagOF; break;
    case 1: r = fl & kFlagCF; break;
    case 2: r = fl & kFlagZF; break;
    case 3: r = fl & (kFlagCF | kFlagZF); break;
    case 4: r = fl & kFlagSF; break;
    case 5: r = fl & kFlagPF; break;
    case 6: r = !(fl & kFlagSF) != !(fl & kFlagOF); break;
    default: r = (fl & kFlagZF) || (!(fl & kFlagSF) != !(fl & kFlagOF)); break;
  }
  return (cc & 1) ? !r : r;
}

}  // namespace hvsim::cpu
