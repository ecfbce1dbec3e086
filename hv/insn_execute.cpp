// Semantics of the instructions the emulator covers (Intel SDM Vol. 2: MOV, MOVZX, MOVSX,
// MOVSXD, ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST, INC, DEC, NEG, NOT, XCHG, BT, BTS,
// BTR, BTC, MOVNTI, MOVD/MOVQ, MOVS, STOS, LODS, INS, OUTS and "REP/REPE/REPZ/REPNE/REPNZ").
#include <Zydis/Zydis.h>

#include <algorithm>

#include "core/io_bus.h"
#include "cpu/spec/exceptions.h"
#include "hv/insn_alu.h"
#include "hv/insn_context.h"

namespace hvsim::hv::emu {

namespace {

using cpu::OpKind;
using cpu::RegClass;
using Acc = GuestAccess;

/// The explicit memory operand's place for a `size`-byte access.
Place mem_place(Context& c, unsigned size, Acc acc, int64_t extra = 0) {
  const cpu::Insn& i = c.insn();
  uint64_t off = (c.effective_address() + static_cast<uint64_t>(extra)) & size_mask(i.addrsize);
  return c.resolve(i.mem.seg, off, size, acc);
}

/// A source operand's value: register, immediate (sign-extended to the destination's
/// `size`, as MOV r/m64, imm32 does) or memory.
uint64_t source(Context& c, const cpu::Operand& o, unsigned size) {
  switch (o.kind) {
    case OpKind::kReg: return c.get_reg(o);
    case OpKind::kImm: return c.insn().imm & size_mask(size);
    case OpKind::kMem: return c.load(mem_place(c, o.size, Acc::kRead));
    default: throw Refuse{"operand kind"};
  }
}

/// ALU operation with two operands; one of them is memory.
void binary_alu(Context& c, AluOp op) {
  const cpu::Insn& i = c.insn();
  const cpu::Operand& d = i.op[0];
  bool store = op != AluOp::kCmp && op != AluOp::kTest;
  uint64_t* fl = &c.g().rflags;
  if (d.kind == OpKind::kMem) {
    Place p = mem_place(c, d.size, store ? Acc::kWrite : Acc::kRead);
    uint64_t b = i.op[1].kind == OpKind::kImm ? i.imm : c.get_reg(i.op[1]);
    uint64_t r = alu(op, c.load(p), b, d.size, fl);
    if (store) c.store(p, r);
  } else {
    uint64_t r = alu(op, c.get_reg(d), source(c, i.op[1], d.size), d.size, fl);
    if (store) c.set_reg(d, r);
  }
}

void unary_alu(Context& c, AluOp op) {
  const cpu::Operand& d = c.insn().op[0];
  if (d.kind != OpKind::kMem) throw Refuse{"register operand"};
  Place p = mem_place(c, d.size, Acc::kWrite);
  c.store(p, alu(op, c.load(p), 0, d.size, &c.g().rflags));
}

void mov(Context& c) {
  const cpu::Insn& i = c.insn();
  const cpu::Operand& d = i.op[0];
  if (d.kind == OpKind::kMem)
    c.store(mem_place(c, d.size, Acc::kWrite), source(c, i.op[1], d.size));
  else
    c.set_reg(d, source(c, i.op[1], d.size));
}

void movx(Context& c, bool sign) {
  const cpu::Insn& i = c.insn();
  unsigned ss = i.op[1].size;
  uint64_t v = source(c, i.op[1], ss);
  if (sign && (v >> (8 * ss - 1)) & 1) v |= ~size_mask(ss);
  c.set_reg(i.op[0], v);
}

void xchg(Context& c) {
  const cpu::Insn& i = c.insn();
  bool m0 = i.op[0].kind == OpKind::kMem;
  const cpu::Operand& r = m0 ? i.op[1] : i.op[0];
  const cpu::Operand& m = m0 ? i.op[0] : i.op[1];
  if (m.kind != OpKind::kMem) throw Refuse{"no memory operand"};
  Place p = mem_place(c, m.size, Acc::kWrite);
  uint64_t old = c.load(p);
  c.store(p, c.get_reg(r));
  c.set_reg(r, old);
}

/// BT/BTS/BTR/BTC (SDM Vol. 2 "BT": a register bit offset addresses a bit string that may
/// extend beyond the operand, in either direction).
void bit_test(Context& c, int change) {  // change: 0 none, 1 set, 2 reset, 3 complement
  const cpu::Insn& i = c.insn();
  const cpu::Operand& d = i.op[0];
  if (d.kind != OpKind::kMem) throw Refuse{"register operand"};
  unsigned bits = 8 * d.size;
  int64_t extra = 0;
  unsigned bit;
  if (i.op[1].kind == OpKind::kImm) {
    bit = static_cast<unsigned>(i.imm) & (bits - 1);
  } else {
    uint64_t raw = c.get_reg(i.op[1]);
    int64_t off = d.size == 8   ? static_cast<int64_t>(raw)
                  : d.size == 4 ? static_cast<int32_t>(raw)
                                : static_cast<int16_t>(raw);
    extra = (off >> __builtin_ctz(bits)) * static_cast<int64_t>(d.size);
    bit = static_cast<unsigned>(off) & (bits - 1);
  }
  Place p = mem_place(c, d.size, change ? Acc::kWrite : Acc::kRead, extra);
  uint64_t v = c.load(p);
  uint64_t& fl = c.g().rflags;
  fl = ((v >> bit) & 1) ? fl | cpu::kFlagCF : fl & ~cpu::kFlagCF;
  uint64_t m = uint64_t{1} << bit;
  if (change == 1) c.store(p, v | m);
  if (change == 2) c.store(p, v & ~m);
  if (change == 3) c.store(p, v ^ m);
}

/// MOVD/MOVQ between an XMM register and memory (SSE2 forms; loads zero bits 127:size).
void movd_q(Context& c) {
  const cpu::Insn& i = c.insn();
  if (!c.g().xmm) throw Refuse{"no XMM state"};
  const cpu::Operand& d = i.op[0];
  const cpu::Operand& s = i.op[1];
  if (d.kind == OpKind::kReg && d.rc == RegClass::kXmm && s.kind == OpKind::kMem) {
    uint64_t v = c.load(mem_place(c, s.size, Acc::kRead));
    c.g().xmm[d.reg] = cpu::Xmm{v, 0};
  } else if (d.kind == OpKind::kMem && s.kind == OpKind::kReg && s.rc == RegClass::kXmm) {
    c.store(mem_place(c, d.size, Acc::kWrite), c.g().xmm[s.reg].lo);
  } else {
    throw Refuse{"operand form"};
  }
}

enum class Str : uint8_t { kMovs, kStos, kLods, kIns, kOuts };

/// MOVS/STOS/LODS/INS/OUTS with or without REP. Returns false if a REP paused with work left.
bool string_op(Context& c, Str kind) {
  const cpu::Insn& i = c.insn();
  // INS/OUTS move at most 4 bytes (REX.W is ignored; SDM Vol. 2 "INS", "OUTS").
  const unsigned size =
      (i.opcode & 1) ? (kind >= Str::kIns ? std::min<unsigned>(i.opsize, 4) : i.opsize) : 1;
  const unsigned as = i.addrsize;
  if (kind >= Str::kIns && !c.io()) throw Refuse{"no port bus"};
  const auto port = static_cast<uint16_t>(c.g().gpr[cpu::kRdx]);
  const bool rep = i.flags & (cpu::kInsnRep | cpu::kInsnRepne);
  const int64_t step = (c.g().rflags & cpu::kFlagDF) ? -int64_t(size) : int64_t(size);
  uint64_t left = rep ? c.gpr_sized(cpu::kRcx, as) : 1;
  for (uint64_t n = 0; left != 0 && n < kMaxRepIterations; ++n) {
    uint64_t si = c.gpr_sized(cpu::kRsi, as), di = c.gpr_sized(cpu::kRdi, as);
    switch (kind) {
      case Str::kMovs: {
        // Source seg:rSI (override allowed), destination ES:rDI (SDM Vol. 2 "MOVS").
        // Both sides are translated first: a fault on the destination leaves the source
        // (a device register) unread.
        Place src = c.resolve(i.seg_prefix, si, size, Acc::kRead);
        Place dst = c.resolve(cpu::kEs, di, size, Acc::kWrite);
        c.store(dst, c.load(src));
        break;
      }
      case Str::kStos:
        c.store(c.resolve(cpu::kEs, di, size, Acc::kWrite), c.gpr_sized(cpu::kRax, size));
        break;
      case Str::kLods: {
        uint64_t v = c.load(c.resolve(i.seg_prefix, si, size, Acc::kRead));
        c.set_gpr_sized(cpu::kRax, size, v);
        break;
      }
      case Str::kIns: {
        // The destination is checked before the port is read: a fault leaves no I/O done.
        Place p = c.resolve(cpu::kEs, di, size, Acc::kWrite);
        c.count_port_access();
        c.store(p, c.io()->read(port, size));
        break;
      }
      case Str::kOuts: {
        // Source seg:rSI, segment override allowed (SDM Vol. 2 "OUTS").
        uint64_t v = c.load(c.resolve(i.seg_prefix, si, size, Acc::kRead));
        c.count_port_access();
        c.io()->write(port, size, static_cast<uint32_t>(v));
        break;
      }
    }
    if (kind != Str::kStos && kind != Str::kIns)
      c.set_gpr_sized(cpu::kRsi, as, si + static_cast<uint64_t>(step));
    if (kind != Str::kLods && kind != Str::kOuts)
      c.set_gpr_sized(cpu::kRdi, as, di + static_cast<uint64_t>(step));
    --left;
    if (rep) c.set_gpr_sized(cpu::kRcx, as, left);
  }
  return left == 0;
}

}  // namespace

bool execute(Context& c) {
  const cpu::Insn& i = c.insn();
  switch (static_cast<ZydisMnemonic>(i.mnemonic)) {
    case ZYDIS_MNEMONIC_MOV: mov(c); return true;
    case ZYDIS_MNEMONIC_MOVNTI: mov(c); return true;
    case ZYDIS_MNEMONIC_MOVZX: movx(c, false); return true;
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD: movx(c, true); return true;
    case ZYDIS_MNEMONIC_ADD: binary_alu(c, AluOp::kAdd); return true;
    case ZYDIS_MNEMONIC_ADC: binary_alu(c, AluOp::kAdc); return true;
    case ZYDIS_MNEMONIC_SUB: binary_alu(c, AluOp::kSub); return true;
    case ZYDIS_MNEMONIC_SBB: binary_alu(c, AluOp::kSbb); return true;
    case ZYDIS_MNEMONIC_CMP: binary_alu(c, AluOp::kCmp); return true;
    case ZYDIS_MNEMONIC_AND: binary_alu(c, AluOp::kAnd); return true;
    case ZYDIS_MNEMONIC_OR: binary_alu(c, AluOp::kOr); return true;
    case ZYDIS_MNEMONIC_XOR: binary_alu(c, AluOp::kXor); return true;
    case ZYDIS_MNEMONIC_TEST: binary_alu(c, AluOp::kTest); return true;
    case ZYDIS_MNEMONIC_INC: unary_alu(c, AluOp::kInc); return true;
    case ZYDIS_MNEMONIC_DEC: unary_alu(c, AluOp::kDec); return true;
    case ZYDIS_MNEMONIC_NEG: unary_alu(c, AluOp::kNeg); return true;
    case ZYDIS_MNEMONIC_NOT: unary_alu(c, AluOp::kNot); return true;
    case ZYDIS_MNEMONIC_XCHG: xchg(c); return true;
    case ZYDIS_MNEMONIC_BT: bit_test(c, 0); return true;
    case ZYDIS_MNEMONIC_BTS: bit_test(c, 1); return true;
    case ZYDIS_MNEMONIC_BTR: bit_test(c, 2); return true;
    case ZYDIS_MNEMONIC_BTC: bit_test(c, 3); return true;
    case ZYDIS_MNEMONIC_MOVD:
    case ZYDIS_MNEMONIC_MOVQ: movd_q(c); return true;
    case ZYDIS_MNEMONIC_MOVSB:
    case ZYDIS_MNEMONIC_MOVSW:
    case ZYDIS_MNEMONIC_MOVSD:
    case ZYDIS_MNEMONIC_MOVSQ:
      // MOVSD is also the SSE2 scalar-double move (F2 0F 10/11): only A4/A5 are strings.
      if (i.opcode != 0xA4 && i.opcode != 0xA5) break;
      return string_op(c, Str::kMovs);
    case ZYDIS_MNEMONIC_STOSB:
    case ZYDIS_MNEMONIC_STOSW:
    case ZYDIS_MNEMONIC_STOSD:
    case ZYDIS_MNEMONIC_STOSQ: return string_op(c, Str::kStos);
    case ZYDIS_MNEMONIC_LODSB:
    case ZYDIS_MNEMONIC_LODSW:
    case ZYDIS_MNEMONIC_LODSD:
    case ZYDIS_MNEMONIC_LODSQ: return string_op(c, Str::kLods);
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD: return string_op(c, Str::kIns);
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD: return string_op(c, Str::kOuts);
    default: break;
  }
  throw Refuse{"instruction not covered"};
}

}  // namespace hvsim::hv::emu
