// x87 FPU data transfer, constants and control instructions: FLD/FST/FILD/FIST/FISTTP/
// FBLD/FBSTP, FXCH, FCMOVcc, FLD1..FLDZ, FFREE, FINCSTP/FDECSTP, FINIT, FCLEX, FLDCW/FSTCW/
// FSTSW, FLDENV/FSTENV/FSAVE/FRSTOR, FWAIT (Intel SDM Vol. 1 8.1, 8.3.3-8.3.4, 8.3.10-8.3.13;
// Vol. 2 instruction pages).
#include <Zydis/Zydis.h>

#include "cpu/x87.h"

namespace hvsim::cpu {
namespace hostfp {
HVSIM_X87_LOAD(load_m32, uint32_t, "flds %[in]")
HVSIM_X87_LOAD(load_m64, uint64_t, "fldl %[in]")
HVSIM_X87_LOAD(load_i16, uint16_t, "filds %[in]")
HVSIM_X87_LOAD(load_i32, uint32_t, "fildl %[in]")
HVSIM_X87_LOAD(load_i64, uint64_t, "fildll %[in]")
HVSIM_X87_LOAD(load_bcd, Ext80, "fbld %[in]")
HVSIM_X87_LOAD(load_one, uint8_t, "fld1")
HVSIM_X87_LOAD(load_zero, uint8_t, "fldz")
HVSIM_X87_LOAD(load_pi, uint8_t, "fldpi")
HVSIM_X87_LOAD(load_l2e, uint8_t, "fldl2e")
HVSIM_X87_LOAD(load_l2t, uint8_t, "fldl2t")
HVSIM_X87_LOAD(load_lg2, uint8_t, "fldlg2")
HVSIM_X87_LOAD(load_ln2, uint8_t, "fldln2")
HVSIM_X87_STORE(store_m32, uint32_t, "fstps %[out]")
HVSIM_X87_STORE(store_m64, uint64_t, "fstpl %[out]")
HVSIM_X87_STORE(store_i16, uint16_t, "fistps %[out]")
HVSIM_X87_STORE(store_i32, uint32_t, "fistpl %[out]")
HVSIM_X87_STORE(store_i64, uint64_t, "fistpll %[out]")
HVSIM_X87_STORE(store_t16, uint16_t, "fisttps %[out]")
HVSIM_X87_STORE(store_t32, uint32_t, "fisttpl %[out]")
HVSIM_X87_STORE(store_t64, uint64_t, "fisttpll %[out]")
HVSIM_X87_STORE(store_bcd, Ext80, "fbstp %[out]")
}  // namespace hostfp

namespace x87 {

uint16_t load_mem_operand(CpuImpl& c, const Insn& i, unsigned size, bool integer,
                          hostfp::Ext80* out) {
  uint8_t raw[10] = {};
  read_mem_bytes(c, i, size, raw);
  uint16_t fcw = c.s_.fpu.fcw;
  if (integer) {
    if (size == 2) return hostfp::load_i16(*reinterpret_cast<uint16_t*>(raw), out, fcw);
    if (size == 4) return hostfp::load_i32(*reinterpret_cast<uint32_t*>(raw), out, fcw);
    return hostfp::load_i64(*reinterpret_cast<uint64_t*>(raw), out, fcw);
  }
  if (size == 4) return hostfp::load_m32(*reinterpret_cast<uint32_t*>(raw), out, fcw);
  if (size == 8) return hostfp::load_m64(*reinterpret_cast<uint64_t*>(raw), out, fcw);
  std::memcpy(out, raw, 10);  // m80: no conversion, no exception
  return 0;
}

}  // namespace x87

namespace {

using C = CpuImpl;
using namespace x87;

/// The ST(i) operand of a register form (the explicit x87 register; ST(0) if none).
unsigned sti(const Insn& i) {
  for (unsigned k = 0; k < i.nops; ++k)
    if (i.op[k].kind == OpKind::kReg && i.op[k].rc == RegClass::kX87 && i.op[k].reg != 0)
      return i.op[k].reg;
  return 0;
}

const Operand* mem_operand(const Insn& i) {
  for (unsigned k = 0; k < i.nops; ++k)
    if (i.op[k].kind == OpKind::kMem) return &i.op[k];
  return nullptr;
}

// ---- loads ----

/// FLD m32fp/m64fp/m80fp/ST(i), FILD m16/32/64int, FBLD m80bcd.
void fld(C& c, const Insn& i) {
  begin(c);
  const Operand* m = mem_operand(i);
  Float80 v;
  uint16_t sw = 0;
  if (m) {
    hostfp::Ext80 e;
    if (i.mnemonic == ZYDIS_MNEMONIC_FBLD) {
      hostfp::Ext80 raw;
      read_mem_bytes(c, i, 10, &raw);
      sw = hostfp::load_bcd(raw, &e, c.s_.fpu.fcw);
    } else {
      sw = load_mem_operand(c, i, m->size, i.mnemonic == ZYDIS_MNEMONIC_FILD, &e);
    }
    v = hostfp::from_ext(e);
  } else {
    unsigned src = sti(i);
    if (empty(c, src)) {
      if (underflow(c)) push_checked(c, kIndefinite);
      record(c, i);
      return;
    }
    v = st(c, src);
  }
  if (!empty(c, 7)) {
    if (overflow(c)) push(c, kIndefinite);
  } else if (raise(c, sw & kExceptionMask)) {
    set_cc(c, 0, kC1);
    push(c, v);
  }
  record(c, i);
}

/// FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (rounded by FCW.RC by the host).
template <uint16_t (*kLoad)(const uint8_t&, hostfp::Ext80*, uint16_t)>
void fld_const(C& c, const Insn& i) {
  begin(c);
  hostfp::Ext80 e;
  uint8_t dummy = 0;
  kLoad(dummy, &e, c.s_.fpu.fcw);
  set_cc(c, 0, kC1);
  push_checked(c, hostfp::from_ext(e));
  record(c, i);
}

// ---- stores ----

/// FST/FSTP m32fp/m64fp/m80fp/ST(i), FIST/FISTP m16/32/64int, FISTTP, FBSTP. A masked
/// underflow stores the indefinite; an unmasked exception stores nothing and does not pop.
void fst(C& c, const Insn& i) {
  begin(c);
  bool do_pop = i.mnemonic == ZYDIS_MNEMONIC_FSTP || i.mnemonic == ZYDIS_MNEMONIC_FISTP ||
                i.mnemonic == ZYDIS_MNEMONIC_FISTTP || i.mnemonic == ZYDIS_MNEMONIC_FBSTP ||
                i.mnemonic == ZYDIS_MNEMONIC_FSTPNCE;
  const Operand* m = mem_operand(i);
  bool uflow = empty(c, 0);
  // An unmasked stack underflow stores nothing and touches no memory.
  if (uflow && (c.s_.fpu.fcw & kIE) == 0) {
    underflow(c);
    record(c, i);
    return;
  }
  Float80 v = uflow ? kIndefinite : st(c, 0);
  if (!m) {
    if (uflow)
      underflow(c);
    else
      set_cc(c, 0, kC1);
    set_st(c, sti(i), v);
    if (do_pop) pop(c);
    record(c, i);
    return;
  }
  hostfp::Ext80 e = hostfp::to_ext(v);
  uint8_t out[10] = {};
  unsigned size = m->size;
  uint16_t fcw = c.s_.fpu.fcw, sw = 0;
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_FST:
    case ZYDIS_MNEMONIC_FSTP:
      if (size == 4)
        sw = hostfp::store_m32(e, reinterpret_cast<uint32_t*>(out), fcw);
      else if (size == 8)
        sw = hostfp::store_m64(e, reinterpret_cast<uint64_t*>(out), fcw);
      else
        std::memcpy(out, &e, 10);
      break;
    case ZYDIS_MNEMONIC_FIST:
    case ZYDIS_MNEMONIC_FISTP:
      if (size == 2)
        sw = hostfp::store_i16(e, reinterpret_cast<uint16_t*>(out), fcw);
      else if (size == 4)
        sw = hostfp::store_i32(e, reinterpret_cast<uint32_t*>(out), fcw);
      else
        sw = hostfp::store_i64(e, reinterpret_cast<uint64_t*>(out), fcw);
      break;
    case ZYDIS_MNEMONIC_FISTTP:
      if (size == 2)
        sw = hostfp::store_t16(e, reinterpret_cast<uint16_t*>(out), fcw);
      else if (size == 4)
        sw = hostfp::store_t32(e, reinterpret_cast<uint32_t*>(out), fcw);
      else
        sw = hostfp::store_t64(e, reinterpret_cast<uint64_t*>(out), fcw);
      break;
    default: sw = hostfp::store_bcd(e, reinterpret_cast<hostfp::Ext80*>(out), fcw); break;
  }
  uint16_t flags = sw & kExceptionMask;
  // SDM 8.5: with an unmasked exception memory is not written and the stack not popped.
  uint16_t unmasked = flags & ~c.s_.fpu.fcw & kExceptionMask;
  if (!unmasked) write_mem_bytes(c, i, size, out);  // a fault here leaves the FPU unchanged
  if (uflow)
    underflow(c);
  else
    set_cc(c, sw & kC1, kC1);
  raise(c, flags);
  if (!unmasked && do_pop) pop(c);
  record(c, i);
}

// ---- register moves ----

void fxch(C& c, const Insn& i) {
  begin(c);
  unsigned r = sti(i);
  if (r == 0 && i.nops == 0) r = 1;
  if (empty(c, 0) || empty(c, r)) {
    if (!underflow(c)) {
      record(c, i);
      return;
    }
    if (empty(c, 0)) set_st(c, 0, kIndefinite);
    if (empty(c, r)) set_st(c, r, kIndefinite);
  } else {
    set_cc(c, 0, kC1);
  }
  Float80 a = st(c, 0), b = st(c, r);
  set_st(c, 0, b);
  set_st(c, r, a);
  record(c, i);
}

/// FCMOVcc ST(0), ST(i): conditions from the opcode (DA/DB, ModR/M reg field).
void fcmov(C& c, const Insn& i) {
  begin(c);
  unsigned r = sti(i);
  uint64_t fl = c.s_.rflags;
  bool cond;
  switch ((i.modrm >> 3) & 3) {
    case 0: cond = fl & kFlagCF; break;
    case 1: cond = fl & kFlagZF; break;
    case 2: cond = fl & (kFlagCF | kFlagZF); break;
    default: cond = fl & kFlagPF; break;
  }
  if (i.opcode == 0xDB) cond = !cond;
  if (empty(c, 0) || empty(c, r)) {
    if (underflow(c) && cond) set_st(c, 0, kIndefinite);
  } else if (cond) {
    set_st(c, 0, st(c, r));
  }
  record(c, i);
}

void ffree(C& c, const Insn& i) {
  begin(c);
  c.s_.fpu.ftw &= static_cast<uint8_t>(~(1u << phys(c, sti(i))));
  if (i.mnemonic == ZYDIS_MNEMONIC_FFREEP) set_top(c, top(c) + 1);
  record(c, i);
}

template <int kDelta>
void fstp_incdec(C& c, const Insn& i) {
  begin(c);
  set_top(c, top(c) + kDelta);
  set_cc(c, 0, kC1);
  record(c, i);
}

void fnop(C& c, const Insn& i) {
  begin(c);
  record(c, i);
}

// ---- control ----

/// FWAIT: #NM only if CR0.MP and CR0.TS; then a pending unmasked exception is #MF.
void fwait(C& c, const Insn&) {
  if ((c.s_.cr0 & (kCr0MP | kCr0TS)) == (kCr0MP | kCr0TS)) raise_fault(spec::Vector::kNM);
  x87_check_pending(c);
}

void fninit(C& c, const Insn&) {
  begin(c, true);
  FpuState& f = c.s_.fpu;
  f.fcw = 0x037F;
  f.fsw = 0;
  f.ftw = 0;
  f.fop = 0;
  f.fip = f.fdp = 0;
  f.fcs = f.fds = 0;
}

void fnclex(C& c, const Insn&) {
  begin(c, true);
  c.s_.fpu.fsw &= ~(kExceptionMask | kSF | kES | kB);
}

/// Sets FCW; ES/B follow the exception flags that are now unmasked (SDM FLDCW).
void set_fcw(C& c, uint16_t v) {
  FpuState& f = c.s_.fpu;
  f.fcw = v & 0x1F7F;
  if (f.fsw & ~f.fcw & kExceptionMask)
    f.fsw |= kES | kB;
  else
    f.fsw &= ~(kES | kB);
}

void fldcw(C& c, const Insn& i) {
  begin(c, true);
  set_fcw(c, static_cast<uint16_t>(c.read_mem(i.mem.seg, c.ea(i), 2)));
}

void fnstcw(C& c, const Insn& i) {
  begin(c, true);
  c.write_mem(i.mem.seg, c.ea(i), 2, c.s_.fpu.fcw);
}

void fnstsw(C& c, const Insn& i) {
  begin(c, true);
  if (i.op[0].kind == OpKind::kMem)
    c.write_mem(i.mem.seg, c.ea(i), 2, c.s_.fpu.fsw);
  else
    c.set_gpr(kRax, 2, c.s_.fpu.fsw);
}

// ---- environment (SDM Vol. 1 8.1.10, Figures 8-9 to 8-12) ----

/// The full 16-bit tag word, derived from the register contents as FSTENV does.
uint16_t full_tag_word(const C& c) {
  const FpuState& f = c.s_.fpu;
  uint16_t tw = 0;
  for (unsigned p = 0; p < 8; ++p) {
    unsigned tag;
    const Float80& r = f.st[p];
    unsigned exp = r.se & 0x7FFF;
    if (!((f.ftw >> p) & 1))
      tag = 3;
    else if (exp == 0 && r.mant == 0)
      tag = 1;
    else if (exp == 0x7FFF || exp == 0 || !(r.mant >> 63))
      tag = 2;
    else
      tag = 0;
    tw |= static_cast<uint16_t>(tag << (2 * p));
  }
  return tw;
}

/// Size of the environment image: 14 bytes with a 16-bit operand size, else 28.
unsigned env_size(const Insn& i) {
  return i.opsize == 2 ? 14 : 28;
}

/// Builds the environment image (protected-mode format; real mode and virtual-8086 mode
/// use the real-mode layout with 20-bit linear pointers).
void store_env(const C& c, const Insn& i, uint8_t* p) {
  const FpuState& f = c.s_.fpu;
  bool real = !c.protected_ || (c.s_.rflags & kFlagVM);
  uint16_t tw = full_tag_word(c);
  auto put16 = [&](unsigned off, uint32_t v) { std::memcpy(p + off, &v, 2); };
  auto put32 = [&](unsigned off, uint32_t v) { std::memcpy(p + off, &v, 4); };
  if (env_size(i) == 14) {
    put16(0, f.fcw);
    put16(2, f.fsw);
    put16(4, tw);
    if (real) {
      uint32_t ip = static_cast<uint32_t>(f.fip + (uint32_t{f.fcs} << 4));
      uint32_t dp = static_cast<uint32_t>(f.fdp + (uint32_t{f.fds} << 4));
      put16(6, ip);
      put16(8, ((ip >> 16) << 12) | f.fop);
      put16(10, dp);
      put16(12, (dp >> 16) << 12);
    } else {
      put16(6, static_cast<uint32_t>(f.fip));
      put16(8, f.fcs);
      put16(10, static_cast<uint32_t>(f.fdp));
      put16(12, f.fds);
    }
    return;
  }
  put32(0, 0xFFFF0000u | f.fcw);
  put32(4, 0xFFFF0000u | f.fsw);
  put32(8, 0xFFFF0000u | tw);
  if (real) {
    uint32_t ip = static_cast<uint32_t>(f.fip + (uint32_t{f.fcs} << 4));
    uint32_t dp = static_cast<uint32_t>(f.fdp + (uint32_t{f.fds} << 4));
    put32(12, 0xFFFF0000u | (ip & 0xFFFF));
    put32(16, ((ip >> 16) << 12) | f.fop);
    put32(20, 0xFFFF0000u | (dp & 0xFFFF));
    put32(24, (dp >> 16) << 12);
  } else {
    put32(12, static_cast<uint32_t>(f.fip));
    put32(16, (uint32_t{f.fop} << 16) | f.fcs);
    put32(20, static_cast<uint32_t>(f.fdp));
    put32(24, 0xFFFF0000u | f.fds);
  }
}

void load_env(C& c, const Insn& i, const uint8_t* p) {
  FpuState& f = c.s_.fpu;
  bool real = !c.protected_ || (c.s_.rflags & kFlagVM);
  auto get16 = [&](unsigned off) {
    uint16_t v;
    std::memcpy(&v, p + off, 2);
    return v;
  };
  auto get32 = [&](unsigned off) {
    uint32_t v;
    std::memcpy(&v, p + off, 4);
    return v;
  };
  uint16_t tw;
  if (env_size(i) == 14) {
    f.fsw = get16(2);
    tw = get16(4);
    if (real) {
      f.fip = get16(6) | (uint32_t{get16(8)} >> 12 << 16);
      f.fop = get16(8) & 0x7FF;
      f.fdp = get16(10) | (uint32_t{get16(12)} >> 12 << 16);
      f.fcs = f.fds = 0;
    } else {
      f.fip = get16(6);
      f.fcs = get16(8);
      f.fdp = get16(10);
      f.fds = get16(12);
    }
  } else {
    f.fsw = get16(4);
    tw = get16(8);
    if (real) {
      f.fip = (get32(12) & 0xFFFF) | ((get32(16) >> 12) << 16);
      f.fop = get32(16) & 0x7FF;
      f.fdp = (get32(20) & 0xFFFF) | ((get32(24) >> 12) << 16);
      f.fcs = f.fds = 0;
    } else {
      f.fip = get32(12);
      f.fcs = get16(16);
      f.fop = (get32(16) >> 16) & 0x7FF;
      f.fdp = get32(20);
      f.fds = get16(24);
    }
  }
  uint8_t ftw = 0;
  for (unsigned r = 0; r < 8; ++r)
    if (((tw >> (2 * r)) & 3) != 3) ftw |= static_cast<uint8_t>(1u << r);
  f.ftw = ftw;
  set_fcw(c, get16(0));
}

/// FNSTENV / FNSAVE (kSave: registers follow, then FNINIT). Exceptions are masked
/// afterwards (FSTENV) as the SDM specifies.
template <bool kSave>
void fnstenv(C& c, const Insn& i) {
  begin(c, true);
  unsigned n = env_size(i), total = kSave ? n + 80 : n;
  uint8_t buf[108] = {};
  store_env(c, i, buf);
  if (kSave) {
    for (unsigned k = 0; k < 8; ++k) {
      const Float80& r = c.s_.fpu.st[phys(c, k)];
      std::memcpy(buf + n + 10 * k, &r.mant, 8);
      std::memcpy(buf + n + 10 * k + 8, &r.se, 2);
    }
  }
  uint64_t la = c.linear(i.mem.seg, c.ea(i), total, Access::kWrite);
  c.probe_write_lin(la, total);
  for (unsigned k = 0; k < total; ++k) c.write_lin(la + k, 1, buf[k]);
  if (kSave) {
    fninit(c, i);
  } else {
    c.s_.fpu.fcw |= kExceptionMask;
  }
}

/// FLDENV / FRSTOR.
template <bool kRestore>
void fldenv(C& c, const Insn& i) {
  begin(c, true);
  unsigned n = env_size(i), total = kRestore ? n + 80 : n;
  uint8_t buf[108];
  uint64_t la = c.linear(i.mem.seg, c.ea(i), total, Access::kRead);
  for (unsigned k = 0; k < total; ++k) buf[k] = static_cast<uint8_t>(c.read_lin(la + k, 1));
  load_env(c, i, buf);
  if (kRestore) {
    for (unsigned k = 0; k < 8; ++k) {
      Float80& r = c.s_.fpu.st[phys(c, k)];
      std::memcpy(&r.mant, buf + n + 10 * k, 8);
      std::memcpy(&r.se, buf + n + 10 * k + 8, 2);
    }
  }
}

}  // namespace

void register_x87_arith(HandlerTable t);

void register_x87(HandlerTable t) {
  using namespace hostfp;
  t[ZYDIS_MNEMONIC_FLD] = &fld;
  t[ZYDIS_MNEMONIC_FILD] = &fld;
  t[ZYDIS_MNEMONIC_FBLD] = &fld;
  t[ZYDIS_MNEMONIC_FLD1] = &fld_const<load_one>;
  t[ZYDIS_MNEMONIC_FLDZ] = &fld_const<load_zero>;
  t[ZYDIS_MNEMONIC_FLDPI] = &fld_const<load_pi>;
  t[ZYDIS_MNEMONIC_FLDL2E] = &fld_const<load_l2e>;
  t[ZYDIS_MNEMONIC_FLDL2T] = &fld_const<load_l2t>;
  t[ZYDIS_MNEMONIC_FLDLG2] = &fld_const<load_lg2>;
  t[ZYDIS_MNEMONIC_FLDLN2] = &fld_const<load_ln2>;
  for (int m : {ZYDIS_MNEMONIC_FST, ZYDIS_MNEMONIC_FSTP, ZYDIS_MNEMONIC_FIST, ZYDIS_MNEMONIC_FISTP,
                ZYDIS_MNEMONIC_FISTTP, ZYDIS_MNEMONIC_FBSTP, ZYDIS_MNEMONIC_FSTPNCE})
    t[m] = &fst;
  t[ZYDIS_MNEMONIC_FXCH] = &fxch;
  for (int m : {ZYDIS_MNEMONIC_FCMOVB, ZYDIS_MNEMONIC_FCMOVE, ZYDIS_MNEMONIC_FCMOVBE,
                ZYDIS_MNEMONIC_FCMOVU, ZYDIS_MNEMONIC_FCMOVNB, ZYDIS_MNEMONIC_FCMOVNE,
                ZYDIS_MNEMONIC_FCMOVNBE, ZYDIS_MNEMONIC_FCMOVNU})
    t[m] = &fcmov;
  t[ZYDIS_MNEMONIC_FFREE] = &ffree;
  t[ZYDIS_MNEMONIC_FFREEP] = &ffree;
  t[ZYDIS_MNEMONIC_FINCSTP] = &fstp_incdec<1>;
  t[ZYDIS_MNEMONIC_FDECSTP] = &fstp_incdec<-1>;
  t[ZYDIS_MNEMONIC_FNOP] = &fnop;
  t[ZYDIS_MNEMONIC_FENI8087_NOP] = &fnop;
  t[ZYDIS_MNEMONIC_FDISI8087_NOP] = &fnop;
  t[ZYDIS_MNEMONIC_FSETPM287_NOP] = &fnop;
  t[ZYDIS_MNEMONIC_FWAIT] = &fwait;
  t[ZYDIS_MNEMONIC_FNINIT] = &fninit;
  t[ZYDIS_MNEMONIC_FNCLEX] = &fnclex;
  t[ZYDIS_MNEMONIC_FLDCW] = &fldcw;
  t[ZYDIS_MNEMONIC_FNSTCW] = &fnstcw;
  t[ZYDIS_MNEMONIC_FNSTSW] = &fnstsw;
  t[ZYDIS_MNEMONIC_FNSTENV] = &fnstenv<false>;
  t[ZYDIS_MNEMONIC_FNSAVE] = &fnstenv<true>;
  t[ZYDIS_MNEMONIC_FLDENV] = &fldenv<false>;
  t[ZYDIS_MNEMONIC_FRSTOR] = &fldenv<true>;
  register_x87_arith(t);
}

}  // namespace hvsim::cpu
