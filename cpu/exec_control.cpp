// Control transfer and stack instructions: JMP, Jcc, CALL, RET, LOOP, JrCXZ, PUSH, POP,
// PUSHF/POPF, ENTER/LEAVE, far transfers, IRET, INT n (Intel SDM Vol. 1 6.3-6.5,
// Vol. 2 instruction pages).
#include <Zydis/Zydis.h>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;
using spec::Vector;

/// Operand size of near branches and stack operations: 64 in 64-bit mode unless 66h.
unsigned branch_size(const C& c, const Insn& i) {
  return i.opsize;
}

uint64_t relative_target(const C& c, const Insn& i) {
  return c.next_rip_ + i.imm;
}

/// Reads a far pointer m16:16/m16:32/m16:64 (offset first, then selector).
void read_far_pointer(C& c, const Insn& i, uint16_t* sel, uint64_t* off) {
  unsigned osz = i.op[0].size - 2;
  uint64_t ea = c.ea(i);
  *off = c.read_mem(i.mem.seg, ea, osz);
  *sel = static_cast<uint16_t>(c.read_mem(i.mem.seg, (ea + osz) & c.addr_mask(i.addrsize), 2));
}

/// The selector:offset of a far JMP/CALL: an immediate ptr16:xx or a memory m16:xx.
void far_target(C& c, const Insn& i, uint16_t* sel, uint64_t* off) {
  if (i.op[0].kind == OpKind::kPtr) {
    *sel = static_cast<uint16_t>(i.imm2);
    *off = i.imm;
  } else {
    read_far_pointer(c, i, sel, off);
  }
}

void jmp(C& c, const Insn& i) {
  if (i.flags & kInsnFar) {
    uint16_t sel;
    uint64_t off;
    far_target(c, i, &sel, &off);
    c.far_jump(sel, off, i.opsize);
    return;
  }
  uint64_t target = i.op[0].kind == OpKind::kImm ? relative_target(c, i) : c.read_op(i, 0);
  c.branch(target, branch_size(c, i));
}

void jcc(C& c, const Insn& i) {
  if (c.cond(i.opcode & 15)) {
    c.branch(relative_target(c, i), branch_size(c, i));
    c.cycles_ += c.timing_.branch_taken;
  }
}

void call(C& c, const Insn& i) {
  if (i.flags & kInsnFar) {
    uint16_t sel;
    uint64_t off;
    far_target(c, i, &sel, &off);
    c.far_call(sel, off, i.opsize);
    return;
  }
  unsigned size = branch_size(c, i);
  uint64_t target = i.op[0].kind == OpKind::kImm ? relative_target(c, i) : c.read_op(i, 0);
  uint64_t ret = c.next_rip_;
  uint64_t saved = c.next_rip_;
  c.branch(target, size);  // checks the target before the push commits
  uint64_t new_rip = c.next_rip_;
  c.next_rip_ = saved;
  c.push(ret, size);
  c.next_rip_ = new_rip;
}

void ret(C& c, const Insn& i) {
  uint16_t extra = i.nops && i.op[0].kind == OpKind::kImm ? static_cast<uint16_t>(i.imm) : 0;
  if (i.flags & kInsnFar) {
    c.far_return(i.opsize, extra);
    return;
  }
  unsigned size = branch_size(c, i);
  uint64_t target = c.peek(0, size);
  c.branch(target, size);
  c.set_rsp_sized(c.rsp_offset(size + extra));
}

/// LOOP/LOOPE/LOOPNE: the count register size is the address size.
template <int kCond>  // 0 = LOOP, 1 = LOOPE, 2 = LOOPNE
void loop(C& c, const Insn& i) {
  unsigned as = i.addrsize;
  uint64_t cnt = (c.get_gpr(kRcx, as) - 1) & c.addr_mask(as);
  bool zf = c.flag(kFlagZF);
  bool take = cnt != 0 && (kCond == 0 || (kCond == 1 ? zf : !zf));
  if (take) {
    c.branch(relative_target(c, i), branch_size(c, i));
    c.cycles_ += c.timing_.branch_taken;
  }
  c.set_gpr(kRcx, as, cnt);
}

void jrcxz(C& c, const Insn& i) {
  if (c.get_gpr(kRcx, i.addrsize) == 0) {
    c.branch(relative_target(c, i), branch_size(c, i));
    c.cycles_ += c.timing_.branch_taken;
  }
}

void push(C& c, const Insn& i) {
  unsigned size = i.opsize;
  const Operand& o = i.op[0];
  uint64_t v;
  if (o.kind == OpKind::kReg && o.rc == RegClass::kSeg)
    v = c.s_.seg[o.reg].selector;
  else
    v = c.read_op(i, 0);  // PUSH imm8/imm32 are sign-extended by the decoder
  c.push(v & size_mask(size), size);
}

void pop(C& c, const Insn& i) {
  unsigned size = i.opsize;
  const Operand& o = i.op[0];
  uint64_t v = c.peek(0, size);
  if (o.kind == OpKind::kReg && o.rc == RegClass::kSeg) {
    c.load_segment(o.reg, static_cast<uint16_t>(v));
    c.set_rsp_sized(c.rsp_offset(size));
    return;
  }
  if (o.kind == OpKind::kMem) {
    // The destination address is computed with RSP already incremented (SDM POP).
    uint64_t old = c.s_.gpr[kRsp];
    c.set_rsp_sized(c.rsp_offset(size));
    try {
      c.write_op(i, 0, v);
    } catch (...) {
      c.s_.gpr[kRsp] = old;
      throw;
    }
    return;
  }
  c.set_rsp_sized(c.rsp_offset(size));
  c.set_reg(o, v);
}

/// PUSHF, POPF, INT n and IRET in virtual-8086 mode need IOPL 3 (SDM 20.2.7; no VME).
void check_v8086_iopl(const C& c) {
  if ((c.s_.rflags & kFlagVM) && ((c.s_.rflags >> 12) & 3) != 3) raise_gp(0);
}

void pushf(C& c, const Insn& i) {
  check_v8086_iopl(c);
  // VM and RF are cleared in the pushed image.
  c.push(c.s_.rflags & ~(kFlagVM | kFlagRF) & size_mask(i.opsize), i.opsize);
}

void popf(C& c, const Insn& i) {
  check_v8086_iopl(c);
  uint64_t v = c.peek(0, i.opsize);
  c.set_rsp_sized(c.rsp_offset(i.opsize));
  c.write_rflags(v, i.opsize, false);
}

void leave(C& c, const Insn& i) {
  unsigned ss = c.stack_addr_size();
  uint64_t bp = c.get_gpr(kRbp, ss);
  uint64_t v = c.read_mem(kSs, bp, i.opsize);
  c.set_gpr(kRsp, ss, bp + i.opsize);
  c.set_gpr(kRbp, i.opsize, v);
}

void enter(C& c, const Insn& i) {
  unsigned size = i.opsize;
  uint64_t frame_size = i.imm & 0xFFFF;
  unsigned level = i.imm2 & 31;
  unsigned ss = c.stack_addr_size();
  uint64_t sp = c.rsp_offset(-static_cast<int64_t>(size));
  uint64_t frame = sp;
  c.write_mem(kSs, sp, size, c.get_gpr(kRbp, size));
  uint64_t bp = c.get_gpr(kRbp, ss);
  for (unsigned k = 1; k < level; ++k) {
    bp = (bp - size) & c.addr_mask(ss);
    sp = (sp - size) & c.addr_mask(ss);
    c.write_mem(kSs, sp, size, c.read_mem(kSs, bp, size));
  }
  if (level > 0) {
    sp = (sp - size) & c.addr_mask(ss);
    c.write_mem(kSs, sp, size, frame);
  }
  sp = (sp - frame_size) & c.addr_mask(ss);
  c.linear(kSs, sp, 1, Access::kWrite);
  c.set_gpr(kRbp, size, frame);
  c.set_gpr(kRsp, ss, sp);
}

template <unsigned kSize>
void iret(C& c, const Insn&) {
  check_v8086_iopl(c);
  c.iret(kSize);
}

void int_n(C& c, const Insn& i) {
  check_v8086_iopl(c);
  throw Fault{static_cast<uint8_t>(i.imm), false, 0, true};
}
void int3(C&, const Insn&) {
  throw Fault{3, false, 0, true};
}
void into(C& c, const Insn&) {
  if (c.long64_) raise_ud();
  if (c.flag(kFlagOF)) throw Fault{4, false, 0, true};
}
/// INT1 / ICEBP (F1): a trap-class #DB delivered like a hardware exception (no gate DPL
/// check, EXT set), returning after the instruction; DR6 is unchanged (SDM 17.3.1).
void int1(C&, const Insn&) {
  throw Fault{static_cast<uint8_t>(Vector::kDB), false, 0, false, true, 0, true};
}

void pusha(C& c, const Insn& i) {
  unsigned size = i.opsize;
  uint64_t sp0 = c.s_.gpr[kRsp];
  uint64_t la =
      c.linear(kSs, c.rsp_offset(-8 * static_cast<int64_t>(size)), 8 * size, Access::kWrite);
  c.probe_write_lin(la, 8 * size);
  for (unsigned r = 0; r < 8; ++r) {
    uint64_t v = r == kRsp ? sp0 : c.s_.gpr[r];
    c.write_lin(la + (7 - r) * size, size, v & size_mask(size));
  }
  c.set_rsp_sized(c.rsp_offset(-8 * static_cast<int64_t>(size)));
}

void popa(C& c, const Insn& i) {
  unsigned size = i.opsize;
  uint64_t v[8];
  for (unsigned r = 0; r < 8; ++r) v[r] = c.peek((7 - r) * size, size);
  c.set_rsp_sized(c.rsp_offset(8 * size));
  for (unsigned r = 0; r < 8; ++r)
    if (r != kRsp) c.set_gpr(r, size, v[r]);
}

}  // namespace

void register_control(HandlerTable t) {
  t[ZYDIS_MNEMONIC_JMP] = &jmp;
  for (int m : {ZYDIS_MNEMONIC_JB, ZYDIS_MNEMONIC_JBE, ZYDIS_MNEMONIC_JL, ZYDIS_MNEMONIC_JLE,
                ZYDIS_MNEMONIC_JNB, ZYDIS_MNEMONIC_JNBE, ZYDIS_MNEMONIC_JNL, ZYDIS_MNEMONIC_JNLE,
                ZYDIS_MNEMONIC_JNO, ZYDIS_MNEMONIC_JNP, ZYDIS_MNEMONIC_JNS, ZYDIS_MNEMONIC_JNZ,
                ZYDIS_MNEMONIC_JO, ZYDIS_MNEMONIC_JP, ZYDIS_MNEMONIC_JS, ZYDIS_MNEMONIC_JZ})
    t[m] = &jcc;
  t[ZYDIS_MNEMONIC_CALL] = &call;
  t[ZYDIS_MNEMONIC_RET] = &ret;
  t[ZYDIS_MNEMONIC_LOOP] = &loop<0>;
  t[ZYDIS_MNEMONIC_LOOPE] = &loop<1>;
  t[ZYDIS_MNEMONIC_LOOPNE] = &loop<2>;
  t[ZYDIS_MNEMONIC_JCXZ] = &jrcxz;
  t[ZYDIS_MNEMONIC_JECXZ] = &jrcxz;
  t[ZYDIS_MNEMONIC_JRCXZ] = &jrcxz;
  t[ZYDIS_MNEMONIC_PUSH] = &push;
  t[ZYDIS_MNEMONIC_POP] = &pop;
  t[ZYDIS_MNEMONIC_PUSHF] = &pushf;
  t[ZYDIS_MNEMONIC_PUSHFD] = &pushf;
  t[ZYDIS_MNEMONIC_PUSHFQ] = &pushf;
  t[ZYDIS_MNEMONIC_POPF] = &popf;
  t[ZYDIS_MNEMONIC_POPFD] = &popf;
  t[ZYDIS_MNEMONIC_POPFQ] = &popf;
  t[ZYDIS_MNEMONIC_LEAVE] = &leave;
  t[ZYDIS_MNEMONIC_ENTER] = &enter;
  t[ZYDIS_MNEMONIC_IRET] = &iret<2>;
  t[ZYDIS_MNEMONIC_IRETD] = &iret<4>;
  t[ZYDIS_MNEMONIC_IRETQ] = &iret<8>;
  t[ZYDIS_MNEMONIC_INT] = &int_n;
  t[ZYDIS_MNEMONIC_INT3] = &int3;
  t[ZYDIS_MNEMONIC_INTO] = &into;
  t[ZYDIS_MNEMONIC_INT1] = &int1;
  t[ZYDIS_MNEMONIC_PUSHA] = &pusha;
  t[ZYDIS_MNEMONIC_PUSHAD] = &pusha;
  t[ZYDIS_MNEMONIC_POPA] = &popa;
  t[ZYDIS_MNEMONIC_POPAD] = &popa;
}

}  // namespace hvsim::cpu
