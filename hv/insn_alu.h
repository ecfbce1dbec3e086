// Integer ALU results and status flags for the instruction emulator (Intel SDM Vol. 1 3.4.3.1
// "Status flags"; Vol. 2 ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST, INC, DEC, NEG, NOT).
#pragma once

#include <cstdint>

namespace hvsim::hv {

enum class AluOp : uint8_t {
  kAdd,
  kOr,
  kAdc,
  kSbb,
  kAnd,
  kSub,
  kXor,
  kCmp,
  kTest,
  kInc,
  kDec,
  kNeg,
  kNot
};

/// a OP b on `size` bytes (1, 2, 4, 8); updates the status flags in *rflags as the
/// instruction defines them (AF is cleared by the logical operations, where the SDM leaves
/// it undefined; CF is kept by INC/DEC; NOT changes no flag). Returns the result (CMP and
/// TEST return it too; the caller does not store it).
uint64_t alu(AluOp op, uint64_t a, uint64_t b, unsigned size, uint64_t* rflags);

/// All ones in the low `size` bytes.
constexpr uint64_t size_mask(unsigned size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

}  // namespace hvsim::hv
