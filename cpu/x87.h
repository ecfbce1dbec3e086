// x87 FPU register stack, tags, status word and exception bookkeeping shared by the x87
// executor files (Intel SDM Vol. 1 ch. 8 "Programming with the x87 FPU", 8.5 exceptions).
#pragma once

#include <cstdint>

#include "cpu/host_fp.h"
#include "cpu/simd.h"

namespace hvsim::cpu::x87 {

// FSW bits (SDM Vol. 1 Figure 8-4).
constexpr uint16_t kIE = 1 << 0, kDE = 1 << 1, kZE = 1 << 2, kOE = 1 << 3, kUE = 1 << 4,
                   kPE = 1 << 5, kSF = 1 << 6, kES = 1 << 7, kC0 = 1 << 8, kC1 = 1 << 9,
                   kC2 = 1 << 10, kC3 = 1 << 14, kB = 1 << 15;
constexpr uint16_t kCcMask = kC0 | kC1 | kC2 | kC3;
constexpr uint16_t kExceptionMask = 0x3F;

/// The QNaN floating-point indefinite (SDM Vol. 1 Table 4-3).
constexpr Float80 kIndefinite{0xC000000000000000ull, 0xFFFF};

inline unsigned top(const CpuImpl& c) {
  return (c.s_.fpu.fsw >> 11) & 7;
}
inline void set_top(CpuImpl& c, unsigned t) {
  c.s_.fpu.fsw = static_cast<uint16_t>((c.s_.fpu.fsw & ~0x3800) | ((t & 7) << 11));
}
/// Physical register number of ST(i).
inline unsigned phys(const CpuImpl& c, unsigned i) {
  return (top(c) + i) & 7;
}
inline bool empty(const CpuImpl& c, unsigned i) {
  return !((c.s_.fpu.ftw >> phys(c, i)) & 1);
}
inline Float80& st(CpuImpl& c, unsigned i) {
  return c.s_.fpu.st[phys(c, i)];
}
/// Writes ST(i) and tags it valid.
inline void set_st(CpuImpl& c, unsigned i, const Float80& v) {
  unsigned p = phys(c, i);
  c.s_.fpu.st[p] = v;
  c.s_.fpu.ftw |= static_cast<uint8_t>(1u << p);
}
inline void pop(CpuImpl& c) {
  c.s_.fpu.ftw &= static_cast<uint8_t>(~(1u << phys(c, 0)));
  set_top(c, top(c) + 1);
}
inline void push(CpuImpl& c, const Float80& v) {
  set_top(c, top(c) - 1);
  set_st(c, 0, v);
}

/// Start of an x87 instruction: #NM if CR0.EM or CR0.TS; for the waiting (non-control)
/// instructions also #MF for a pending unmasked exception (SDM Vol. 1 8.6-8.7).
inline void begin(const CpuImpl& c, bool control = false) {
  if (c.s_.cr0 & (kCr0EM | kCr0TS)) raise_fault(spec::Vector::kNM);
  if (!control) x87_check_pending(c);
}

/// Records FIP/FCS, FOP and (with a memory operand) FDP/FDS of a retiring non-control
/// instruction (SDM Vol. 1 8.1.8-8.1.9).
inline void record(CpuImpl& c, const Insn& i) {
  FpuState& f = c.s_.fpu;
  f.fip = c.s_.rip;
  f.fcs = c.s_.seg[kCs].selector;
  f.fop = static_cast<uint16_t>(((i.opcode & 7) << 8) | i.modrm);
  for (unsigned k = 0; k < i.nops; ++k) {
    if (i.op[k].kind == OpKind::kMem) {
      f.fdp = c.ea(i);
      f.fds = c.s_.seg[i.mem.seg].selector;
    }
  }
}

/// Merges exception flags (FSW bits 5:0, plus SF) into FSW; sets ES and B if one is
/// unmasked in FCW. Returns false if an unmasked exception forbids storing the result:
/// SDM 8.5 - for unmasked IE, DE and ZE the destination and TOP stay unchanged. Unmasked
/// OE/UE are approximated: the masked result is stored (hardware stores a rebiased one).
inline bool raise(CpuImpl& c, uint16_t flags) {
  FpuState& f = c.s_.fpu;
  f.fsw |= flags & (kExceptionMask | kSF);
  uint16_t unmasked = flags & ~f.fcw & kExceptionMask;
  if (unmasked) f.fsw |= kES | kB;
  return !(unmasked & (kIE | kDE | kZE));
}

/// Sets C0-C3 from `cc` (only the bits in `mask`).
inline void set_cc(CpuImpl& c, uint16_t cc, uint16_t mask = kCcMask) {
  c.s_.fpu.fsw = static_cast<uint16_t>((c.s_.fpu.fsw & ~mask) | (cc & mask));
}

/// Stack underflow (an operand register is empty): IE + SF, C1 = 0. Returns whether the
/// masked response (store the indefinite) applies.
inline bool underflow(CpuImpl& c) {
  set_cc(c, 0, kC1);
  return raise(c, kIE | kSF);
}
/// Stack overflow (the register a push would use is not empty): IE + SF, C1 = 1.
inline bool overflow(CpuImpl& c) {
  set_cc(c, kC1, kC1);
  return raise(c, kIE | kSF);
}

/// Pushes `v` obeying the overflow rule: with ST(7) in use, a masked overflow pushes the
/// indefinite and an unmasked one pushes nothing.
inline void push_checked(CpuImpl& c, const Float80& v) {
  if (!empty(c, 7)) {
    if (overflow(c)) push(c, kIndefinite);
    return;
  }
  push(c, v);
}

/// Reads a memory operand of `size` bytes into a buffer (at most 10 bytes).
inline void read_mem_bytes(CpuImpl& c, const Insn& i, unsigned size, void* out) {
  uint64_t la = c.linear(i.mem.seg, c.ea(i), size, Access::kRead);
  uint8_t* p = static_cast<uint8_t*>(out);
  uint64_t lo = c.read_lin(la, size > 8 ? 8 : size);
  std::memcpy(p, &lo, size > 8 ? 8 : size);
  if (size > 8) {
    uint64_t hi = c.read_lin(la + 8, size - 8);
    std::memcpy(p + 8, &hi, size - 8);
  }
}

/// Writes a memory operand of `size` bytes (at most 10), checking the whole range first.
inline void write_mem_bytes(CpuImpl& c, const Insn& i, unsigned size, const void* in) {
  uint64_t la = c.linear(i.mem.seg, c.ea(i), size, Access::kWrite);
  c.probe_write_lin(la, size);
  const uint8_t* p = static_cast<const uint8_t*>(in);
  uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, p, size > 8 ? 8 : size);
  c.write_lin(la, size > 8 ? 8 : size, lo);
  if (size > 8) {
    std::memcpy(&hi, p + 8, size - 8);
    c.write_lin(la + 8, size - 8, hi);
  }
}

/// Loads a memory operand in one of the formats the arithmetic and load instructions take,
/// converted to the register format by the host. `integer`: m16int/m32int/m64int, else
/// m32fp/m64fp/m80fp. Returns the host status word (IE for an SNaN, DE for a denormal).
uint16_t load_mem_operand(CpuImpl& c, const Insn& i, unsigned size, bool integer,
                          hostfp::Ext80* out);

}  // namespace hvsim::cpu::x87
