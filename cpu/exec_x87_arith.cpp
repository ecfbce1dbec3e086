// x87 FPU arithmetic, comparison, classification and transcendental instructions
// (Intel SDM Vol. 1 8.3.5-8.3.9, 8.5; Vol. 2 pages F2XM1 .. FYL2XP1). The arithmetic runs
// on the host's x87 unit under the guest's precision and rounding control (cpu/host_fp.h);
// the emulator owns the register stack, tags, stack faults and exception masking.
#include <Zydis/Zydis.h>

#include "cpu/x87.h"

namespace hvsim::cpu {
namespace hostfp {
// ST(0) = a, ST(1) = b when CODE runs; results are read from ST(0)..ST(2) afterwards.
HVSIM_X87_OP(x87_add, ".byte 0xd8, 0xc1")     // FADD ST(0), ST(1): a + b
HVSIM_X87_OP(x87_mul, ".byte 0xd8, 0xc9")     // FMUL ST(0), ST(1): a * b
HVSIM_X87_OP(x87_sub, ".byte 0xd8, 0xe1")     // FSUB ST(0), ST(1): a - b
HVSIM_X87_OP(x87_div, ".byte 0xd8, 0xf1")     // FDIV ST(0), ST(1): a / b
HVSIM_X87_OP(x87_com, ".byte 0xd8, 0xd1")     // FCOM ST(1)
HVSIM_X87_OP(x87_ucom, ".byte 0xdd, 0xe1")    // FUCOM ST(1)
HVSIM_X87_OP(x87_tst, ".byte 0xd9, 0xe4")     // FTST
HVSIM_X87_OP(x87_xam, ".byte 0xd9, 0xe5")     // FXAM
HVSIM_X87_OP(x87_chs, ".byte 0xd9, 0xe0")     // FCHS
HVSIM_X87_OP(x87_abs, ".byte 0xd9, 0xe1")     // FABS
HVSIM_X87_OP(x87_sqrt, ".byte 0xd9, 0xfa")    // FSQRT
HVSIM_X87_OP(x87_rndint, ".byte 0xd9, 0xfc")  // FRNDINT
HVSIM_X87_OP(x87_f2xm1, ".byte 0xd9, 0xf0")   // F2XM1
HVSIM_X87_OP(x87_sin, ".byte 0xd9, 0xfe")     // FSIN
HVSIM_X87_OP(x87_cos, ".byte 0xd9, 0xff")     // FCOS
HVSIM_X87_OP(x87_scale, ".byte 0xd9, 0xfd")   // FSCALE: a * 2^trunc(b)
HVSIM_X87_OP(x87_prem, ".byte 0xd9, 0xf8")    // FPREM: a rem b (truncating)
HVSIM_X87_OP(x87_prem1, ".byte 0xd9, 0xf5")   // FPREM1: IEEE remainder
HVSIM_X87_OP(x87_patan, ".byte 0xd9, 0xf3")   // FPATAN: r0 = atan(b / a)
HVSIM_X87_OP(x87_yl2x, ".byte 0xd9, 0xf1")    // FYL2X: r0 = b * log2(a)
HVSIM_X87_OP(x87_yl2xp1, ".byte 0xd9, 0xf9")  // FYL2XP1: r0 = b * log2(a + 1)
HVSIM_X87_OP(x87_ptan, ".byte 0xd9, 0xf2")    // FPTAN: r0 = 1.0, r1 = tan(a)
HVSIM_X87_OP(x87_sincos, ".byte 0xd9, 0xfb")  // FSINCOS: r0 = cos(a), r1 = sin(a)
HVSIM_X87_OP(x87_xtract, ".byte 0xd9, 0xf4")  // FXTRACT: r0 = significand, r1 = exponent
}  // namespace hostfp

namespace {

using C = CpuImpl;
using namespace x87;
using HostOp = hostfp::X87Result (*)(const hostfp::Ext80&, const hostfp::Ext80&, uint16_t);

const Operand* mem_operand(const Insn& i) {
  for (unsigned k = 0; k < i.nops; ++k)
    if (i.op[k].kind == OpKind::kMem) return &i.op[k];
  return nullptr;
}

/// The explicit ST(i) of a one-register form (FCOM ST(i), FUCOMI ST(0), ST(i), ...);
/// ST(1) when the form has no operand.
unsigned other_reg(const Insn& i) {
  for (unsigned k = i.nops; k-- > 0;)
    if (i.op[k].kind == OpKind::kReg && i.op[k].rc == RegClass::kX87) return i.op[k].reg;
  return 1;
}

bool integer_operand(const Insn& i) {
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_FIADD:
    case ZYDIS_MNEMONIC_FISUB:
    case ZYDIS_MNEMONIC_FISUBR:
    case ZYDIS_MNEMONIC_FIMUL:
    case ZYDIS_MNEMONIC_FIDIV:
    case ZYDIS_MNEMONIC_FIDIVR:
    case ZYDIS_MNEMONIC_FICOM:
    case ZYDIS_MNEMONIC_FICOMP: return true;
    default: return false;
  }
}

Float80 f80(const hostfp::Ext80& e) {
  return hostfp::from_ext(e);
}
hostfp::Ext80 ext(const Float80& f) {
  return hostfp::to_ext(f);
}

/// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR with their P and I forms. In Intel operand order the
/// destination is the first operand: dest = dest OP src (kReverse: dest = src OP dest);
/// memory forms: ST(0) = ST(0) OP mem. Operand-less P forms are ST(1), ST(0).
template <HostOp kOp, bool kReverse, bool kPop>
void farith(C& c, const Insn& i) {
  begin(c);
  const Operand* m = mem_operand(i);
  unsigned dst = 0, src = 0;
  hostfp::Ext80 mv{};
  uint16_t load_sw = 0;
  if (m) {
    load_sw = load_mem_operand(c, i, m->size, integer_operand(i), &mv);
  } else if (i.nops >= 2) {
    dst = i.op[0].reg;
    src = i.op[1].reg;
  } else {
    dst = 1;
  }
  if (empty(c, dst) || (!m && empty(c, src))) {
    if (underflow(c)) {
      set_st(c, dst, kIndefinite);
      if (kPop) pop(c);
    }
    record(c, i);
    return;
  }
  hostfp::Ext80 a = ext(st(c, dst)), b = m ? mv : ext(st(c, src));
  hostfp::X87Result r = kReverse ? kOp(b, a, c.s_.fpu.fcw) : kOp(a, b, c.s_.fpu.fcw);
  if (raise(c, (load_sw | r.sw) & kExceptionMask)) {
    set_cc(c, r.sw, kC1);
    set_st(c, dst, f80(r.r[0]));
    if (kPop) pop(c);
  }
  record(c, i);
}

/// FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP: C3, C2, C0 from ST(0) vs source.
template <HostOp kOp, int kPops>
void fcom(C& c, const Insn& i) {
  begin(c);
  const Operand* m = mem_operand(i);
  hostfp::Ext80 b{};
  uint16_t load_sw = 0;
  unsigned r = 1;
  if (m)
    load_sw = load_mem_operand(c, i, m->size, integer_operand(i), &b);
  else
    r = other_reg(i);
  if (empty(c, 0) || (!m && empty(c, r))) {
    if (underflow(c)) {
      set_cc(c, kC0 | kC2 | kC3);
      for (int k = 0; k < kPops; ++k) pop(c);
    }
    record(c, i);
    return;
  }
  if (!m) b = ext(st(c, r));
  hostfp::X87Result res = kOp(ext(st(c, 0)), b, c.s_.fpu.fcw);
  if (raise(c, (load_sw | res.sw) & kExceptionMask)) {
    set_cc(c, res.sw & (kC0 | kC2 | kC3));
    for (int k = 0; k < kPops; ++k) pop(c);
  }
  record(c, i);
}

/// FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF, PF, CF from the comparison; OF, SF, AF cleared.
template <HostOp kOp, bool kPop>
void fcomi(C& c, const Insn& i) {
  begin(c);
  unsigned r = other_reg(i);
  uint64_t f;
  if (empty(c, 0) || empty(c, r)) {
    if (underflow(c)) {
      c.set_arith_flags(kFlagZF | kFlagPF | kFlagCF);
      if (kPop) pop(c);
    }
    record(c, i);
    return;
  }
  hostfp::X87Result res = kOp(ext(st(c, 0)), ext(st(c, r)), c.s_.fpu.fcw);
  if (raise(c, res.sw & kExceptionMask)) {
    f = ((res.sw & kC3) ? kFlagZF : 0) | ((res.sw & kC2) ? kFlagPF : 0) |
        ((res.sw & kC0) ? kFlagCF : 0);
    c.set_arith_flags(f);
    set_cc(c, 0, kC1);
    if (kPop) pop(c);
  }
  record(c, i);
}

/// FTST: compares ST(0) with +0.0.
void ftst(C& c, const Insn& i) {
  begin(c);
  if (empty(c, 0)) {
    if (underflow(c)) set_cc(c, kC0 | kC2 | kC3);
    record(c, i);
    return;
  }
  hostfp::X87Result res = hostfp::x87_tst(ext(st(c, 0)), ext(kIndefinite), c.s_.fpu.fcw);
  if (raise(c, res.sw & kExceptionMask)) set_cc(c, res.sw & (kC0 | kC2 | kC3));
  record(c, i);
}

/// FXAM: classifies ST(0); an empty register is C3 = C0 = 1 (C1 = sign either way).
void fxam(C& c, const Insn& i) {
  begin(c);
  const Float80& v = st(c, 0);
  uint16_t sign = (v.se & 0x8000) ? kC1 : 0;
  if (empty(c, 0)) {
    set_cc(c, kC3 | kC0 | sign);
  } else {
    hostfp::X87Result res = hostfp::x87_xam(ext(v), ext(kIndefinite), c.s_.fpu.fcw);
    set_cc(c, res.sw & kCcMask);
  }
  record(c, i);
}

/// One-operand instructions on ST(0): FCHS, FABS, FSQRT, FRNDINT, F2XM1, FSIN, FCOS.
/// FSIN/FCOS out of range (|x| >= 2^63) leave ST(0) unchanged with C2 = 1 (host result).
template <HostOp kOp>
void funary(C& c, const Insn& i) {
  begin(c);
  if (empty(c, 0)) {
    if (underflow(c)) set_st(c, 0, kIndefinite);
    record(c, i);
    return;
  }
  hostfp::X87Result res = kOp(ext(st(c, 0)), ext(kIndefinite), c.s_.fpu.fcw);
  if (raise(c, res.sw & kExceptionMask)) {
    set_cc(c, res.sw & (kC1 | kC2));
    set_st(c, 0, f80(res.r[0]));
  }
  record(c, i);
}

/// Two-operand instructions with the result in ST(0): FSCALE, FPREM, FPREM1 (whose C0, C1,
/// C3 hold quotient bits and C2 "incomplete").
template <HostOp kOp>
void fbinary_st0(C& c, const Insn& i) {
  begin(c);
  if (empty(c, 0) || empty(c, 1)) {
    if (underflow(c)) set_st(c, 0, kIndefinite);
    record(c, i);
    return;
  }
  hostfp::X87Result res = kOp(ext(st(c, 0)), ext(st(c, 1)), c.s_.fpu.fcw);
  if (raise(c, res.sw & kExceptionMask)) {
    set_cc(c, res.sw & kCcMask);
    set_st(c, 0, f80(res.r[0]));
  }
  record(c, i);
}

/// FPATAN, FYL2X, FYL2XP1: ST(1) = f(ST(0), ST(1)), then pop.
template <HostOp kOp>
void fbinary_pop(C& c, const Insn& i) {
  begin(c);
  if (empty(c, 0) || empty(c, 1)) {
    if (underflow(c)) {
      set_st(c, 1, kIndefinite);
      pop(c);
    }
    record(c, i);
    return;
  }
  hostfp::X87Result res = kOp(ext(st(c, 0)), ext(st(c, 1)), c.s_.fpu.fcw);
  if (raise(c, res.sw & kExceptionMask)) {
    set_cc(c, res.sw & kC1, kC1);
    set_st(c, 1, f80(res.r[0]));
    pop(c);
  }
  record(c, i);
}

/// FPTAN, FSINCOS, FXTRACT: ST(0) is replaced by one result and a second is pushed.
/// `kFirst`/`kPushed`: which host result goes where.
template <HostOp kOp, int kFirst, int kPushed, bool kRangeCheck>
void fpush2(C& c, const Insn& i) {
  begin(c);
  if (empty(c, 0)) {
    if (underflow(c)) {
      set_st(c, 0, kIndefinite);
      push_checked(c, kIndefinite);
    }
    record(c, i);
    return;
  }
  if (!empty(c, 7)) {
    if (overflow(c)) {
      set_st(c, 0, kIndefinite);
      push(c, kIndefinite);
    }
    record(c, i);
    return;
  }
  hostfp::X87Result res = kOp(ext(st(c, 0)), ext(kIndefinite), c.s_.fpu.fcw);
  if (kRangeCheck && (res.sw & kC2)) {
    set_cc(c, kC2, kC1 | kC2);  // operand out of range: nothing changes
    record(c, i);
    return;
  }
  if (raise(c, res.sw & kExceptionMask)) {
    set_cc(c, res.sw & kC1, kC1 | kC2);
    set_st(c, 0, f80(res.r[kFirst]));
    push(c, f80(res.r[kPushed]));
  }
  record(c, i);
}

}  // namespace

void register_x87_arith(HandlerTable t) {
  using namespace hostfp;
  t[ZYDIS_MNEMONIC_FADD] = &farith<x87_add, false, false>;
  t[ZYDIS_MNEMONIC_FIADD] = &farith<x87_add, false, false>;
  t[ZYDIS_MNEMONIC_FADDP] = &farith<x87_add, false, true>;
  t[ZYDIS_MNEMONIC_FMUL] = &farith<x87_mul, false, false>;
  t[ZYDIS_MNEMONIC_FIMUL] = &farith<x87_mul, false, false>;
  t[ZYDIS_MNEMONIC_FMULP] = &farith<x87_mul, false, true>;
  t[ZYDIS_MNEMONIC_FSUB] = &farith<x87_sub, false, false>;
  t[ZYDIS_MNEMONIC_FISUB] = &farith<x87_sub, false, false>;
  t[ZYDIS_MNEMONIC_FSUBP] = &farith<x87_sub, false, true>;
  t[ZYDIS_MNEMONIC_FSUBR] = &farith<x87_sub, true, false>;
  t[ZYDIS_MNEMONIC_FISUBR] = &farith<x87_sub, true, false>;
  t[ZYDIS_MNEMONIC_FSUBRP] = &farith<x87_sub, true, true>;
  t[ZYDIS_MNEMONIC_FDIV] = &farith<x87_div, false, false>;
  t[ZYDIS_MNEMONIC_FIDIV] = &farith<x87_div, false, false>;
  t[ZYDIS_MNEMONIC_FDIVP] = &farith<x87_div, false, true>;
  t[ZYDIS_MNEMONIC_FDIVR] = &farith<x87_div, true, false>;
  t[ZYDIS_MNEMONIC_FIDIVR] = &farith<x87_div, true, false>;
  t[ZYDIS_MNEMONIC_FDIVRP] = &farith<x87_div, true, true>;
  t[ZYDIS_MNEMONIC_FCOM] = &fcom<x87_com, 0>;
  t[ZYDIS_MNEMONIC_FCOMP] = &fcom<x87_com, 1>;
  t[ZYDIS_MNEMONIC_FCOMPP] = &fcom<x87_com, 2>;
  t[ZYDIS_MNEMONIC_FICOM] = &fcom<x87_com, 0>;
  t[ZYDIS_MNEMONIC_FICOMP] = &fcom<x87_com, 1>;
  t[ZYDIS_MNEMONIC_FUCOM] = &fcom<x87_ucom, 0>;
  t[ZYDIS_MNEMONIC_FUCOMP] = &fcom<x87_ucom, 1>;
  t[ZYDIS_MNEMONIC_FUCOMPP] = &fcom<x87_ucom, 2>;
  t[ZYDIS_MNEMONIC_FCOMI] = &fcomi<x87_com, false>;
  t[ZYDIS_MNEMONIC_FCOMIP] = &fcomi<x87_com, true>;
  t[ZYDIS_MNEMONIC_FUCOMI] = &fcomi<x87_ucom, false>;
  t[ZYDIS_MNEMONIC_FUCOMIP] = &fcomi<x87_ucom, true>;
  t[ZYDIS_MNEMONIC_FTST] = &ftst;
  t[ZYDIS_MNEMONIC_FXAM] = &fxam;
  t[ZYDIS_MNEMONIC_FCHS] = &funary<x87_chs>;
  t[ZYDIS_MNEMONIC_FABS] = &funary<x87_abs>;
  t[ZYDIS_MNEMONIC_FSQRT] = &funary<x87_sqrt>;
  t[ZYDIS_MNEMONIC_FRNDINT] = &funary<x87_rndint>;
  t[ZYDIS_MNEMONIC_F2XM1] = &funary<x87_f2xm1>;
  t[ZYDIS_MNEMONIC_FSIN] = &funary<x87_sin>;
  t[ZYDIS_MNEMONIC_FCOS] = &funary<x87_cos>;
  t[ZYDIS_MNEMONIC_FSCALE] = &fbinary_st0<x87_scale>;
  t[ZYDIS_MNEMONIC_FPREM] = &fbinary_st0<x87_prem>;
  t[ZYDIS_MNEMONIC_FPREM1] = &fbinary_st0<x87_prem1>;
  t[ZYDIS_MNEMONIC_FPATAN] = &fbinary_pop<x87_patan>;
  t[ZYDIS_MNEMONIC_FYL2X] = &fbinary_pop<x87_yl2x>;
  t[ZYDIS_MNEMONIC_FYL2XP1] = &fbinary_pop<x87_yl2xp1>;
  t[ZYDIS_MNEMONIC_FPTAN] = &fpush2<x87_ptan, 1, 0, true>;
  t[ZYDIS_MNEMONIC_FSINCOS] = &fpush2<x87_sincos, 1, 0, true>;
  t[ZYDIS_MNEMONIC_FXTRACT] = &fpush2<x87_xtract, 1, 0, false>;
}

}  // namespace hvsim::cpu
