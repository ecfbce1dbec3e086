// Guest code assembled by hand through Zydis' encoder, for tests and benchmarks (the
// simulator itself never encodes instructions).
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace hvsim::cpu::encoder {

/// A register operand.
inline ZydisEncoderOperand R(ZydisRegister r) {
  ZydisEncoderOperand o{};
  o.type = ZYDIS_OPERAND_TYPE_REGISTER;
  o.reg.value = r;
  return o;
}
/// An immediate operand.
inline ZydisEncoderOperand I(int64_t v) {
  ZydisEncoderOperand o{};
  o.type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
  o.imm.s = v;
  return o;
}
/// Memory operand [base + index*scale + disp] of `size` bytes.
inline ZydisEncoderOperand M(unsigned size, ZydisRegister base, int64_t disp = 0,
                             ZydisRegister index = ZYDIS_REGISTER_NONE, uint8_t scale = 0) {
  ZydisEncoderOperand o{};
  o.type = ZYDIS_OPERAND_TYPE_MEMORY;
  o.mem.base = base;
  o.mem.index = index;
  o.mem.scale = scale;
  o.mem.displacement = disp;
  o.mem.size = static_cast<ZyanU16>(size);
  return o;
}

/// Appends encoded instructions to a byte buffer. Callers decide what a failed encoding
/// means (a test expectation, an exit): see try_emit.
class Assembler {
 public:
  explicit Assembler(ZydisMachineMode mode = ZYDIS_MACHINE_MODE_LONG_64) : mode_(mode) {}
  /// Encodes one instruction; returns false (appending nothing) if Zydis cannot encode it.
  bool try_emit(ZydisMnemonic m, std::initializer_list<ZydisEncoderOperand> ops,
                ZyanU64 prefixes = 0) {
    ZydisEncoderRequest req;
    std::memset(&req, 0, sizeof req);
    req.machine_mode = mode_;
    req.mnemonic = m;
    req.prefixes = prefixes;
    req.operand_count = static_cast<ZyanU8>(ops.size());
    unsigned k = 0;
    for (const auto& o : ops) req.operands[k++] = o;
    uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof buf;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, buf, &len))) return false;
    bytes_.insert(bytes_.end(), buf, buf + len);
    return true;
  }
  /// Appends raw bytes.
  void append(std::initializer_list<uint8_t> b) { bytes_.insert(bytes_.end(), b); }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  ZydisMachineMode mode_;
  std::vector<uint8_t> bytes_;
};

}  // namespace hvsim::cpu::encoder
