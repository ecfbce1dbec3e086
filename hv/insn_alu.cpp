// Integer ALU results and status flags (Intel SDM Vol. 1 3.4.3.1, Appendix A "EFLAGS cross
// reference"; Vol. 2 instruction pages for each operation).
#include "hv/insn_alu.h"

#include "cpu/state.h"

namespace hvsim::hv {

using namespace cpu;

uint64_t alu(AluOp op, uint64_t a, uint64_t b, unsigned size, uint64_t* rflags) {
  const uint64_t mask = size_mask(size), sign = uint64_t{1} << (8 * size - 1);
  a &= mask;
  b &= mask;
  const bool cin = *rflags & kFlagCF;
  uint64_t r = 0, cf = 0, of = 0, af = 0;
  bool keep_cf = false;
  switch (op) {
    case AluOp::kNot: return ~a & mask;
    case AluOp::kAdd:
    case AluOp::kAdc:
    case AluOp::kInc: {
      uint64_t c = op == AluOp::kAdc && cin;
      if (op == AluOp::kInc) b = 1, keep_cf = true;
      r = (a + b + c) & mask;
      cf = r < a || (c && r == a);
      of = ((a ^ r) & (b ^ r) & sign) != 0;
      af = (a ^ b ^ r) & 0x10;
      break;
    }
    case AluOp::kSub:
    case AluOp::kSbb:
    case AluOp::kCmp:
    case AluOp::kDec: {
      uint64_t c = op == AluOp::kSbb && cin;
      if (op == AluOp::kDec) b = 1, keep_cf = true;
      r = (a - b - c) & mask;
      cf = c ? a <= b : a < b;
      of = ((a ^ b) & (a ^ r) & sign) != 0;
      af = (a ^ b ^ r) & 0x10;
      break;
    }
    case AluOp::kNeg:
      r = (0 - a) & mask;
      cf = a != 0;
      of = a == sign;
      af = (a ^ r) & 0x10;
      break;
    case AluOp::kAnd:
    case AluOp::kTest: r = a & b; break;
    case AluOp::kOr: r = a | b; break;
    case AluOp::kXor: r = a ^ b; break;
  }
  uint64_t f =
      *rflags & ~(kFlagOF | kFlagSF | kFlagZF | kFlagAF | kFlagPF | (keep_cf ? 0 : kFlagCF));
  if (cf && !keep_cf) f |= kFlagCF;
  if (of) f |= kFlagOF;
  if (af) f |= kFlagAF;
  if (r & sign) f |= kFlagSF;
  if (r == 0) f |= kFlagZF;
  if (!(__builtin_popcount(static_cast<unsigned>(r & 0xFF)) & 1)) f |= kFlagPF;
  *rflags = f;
  return r;
}

}  // namespace hvsim::hv
