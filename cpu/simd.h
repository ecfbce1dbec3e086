// Shared helpers of the MMX/SSE executor files: 128-bit values, XMM/MMX register and memory
// operand access, availability checks (Intel SDM Vol. 1 ch. 9-12; Vol. 3A 2.5 CR0.EM/TS,
// 2.6 CR4.OSFXSR/OSXMMEXCPT; Vol. 2 2.4 "exception conditions of SIMD instructions").
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

/// A 128-bit value viewed as lanes of every width (GCC allows reading a union member other
/// than the one last written; all views are little-endian like the guest).
union V128 {
  uint8_t b[16];
  int8_t sb[16];
  uint16_t w[8];
  int16_t sw[8];
  uint32_t d[4];
  int32_t sd[4];
  uint64_t q[2];
  int64_t sq[2];
  float f[4];
  double f64[2];
};
static_assert(sizeof(V128) == 16);

/// Checks that SSE instructions may run: #UD when CR0.EM = 1 or CR4.OSFXSR = 0, then #NM
/// when CR0.TS = 1 (SDM Vol. 2 Table 2-18 ff., "Exceptions Type 4").
inline void sse_check(const CpuImpl& c) {
  if ((c.s_.cr0 & kCr0EM) || !(c.s_.cr4 & kCr4OSFXSR)) raise_ud();
  if (c.s_.cr0 & kCr0TS) raise_fault(spec::Vector::kNM);
}

/// Raises #MF for a pending unmasked x87 exception (FSW.ES) when CR0.NE = 1. With NE = 0 the
/// PC-compatible FERR#/IGNNE# path is not modelled: the exception stays pending, ignored.
inline void x87_check_pending(const CpuImpl& c) {
  if ((c.s_.fpu.fsw & 0x80) && (c.s_.cr0 & kCr0NE)) raise_fault(spec::Vector::kMF);
}

/// MMX instructions: #UD if CR0.EM, #NM if CR0.TS, #MF if an x87 exception is pending
/// (SDM Vol. 1 9.5.1; Vol. 3A 2.5 for CR0.EM/TS).
inline void mmx_check(const CpuImpl& c) {
  if (c.s_.cr0 & kCr0EM) raise_ud();
  if (c.s_.cr0 & kCr0TS) raise_fault(spec::Vector::kNM);
  x87_check_pending(c);
}

inline V128 get_xmm(const CpuImpl& c, unsigned r) {
  V128 v;
  v.q[0] = c.s_.fpu.xmm[r].lo;
  v.q[1] = c.s_.fpu.xmm[r].hi;
  return v;
}
inline void set_xmm(CpuImpl& c, unsigned r, const V128& v) {
  c.s_.fpu.xmm[r].lo = v.q[0];
  c.s_.fpu.xmm[r].hi = v.q[1];
}

/// Every MMX instruction (except EMMS) sets TOP = 0 and tags all registers valid
/// (SDM Vol. 1 9.5.1).
inline void mmx_enter(CpuImpl& c) {
  c.s_.fpu.fsw &= ~0x3800;
  c.s_.fpu.ftw = 0xFF;
}
inline uint64_t get_mm(const CpuImpl& c, unsigned r) {
  return c.s_.fpu.st[r & 7].mant;
}
/// Writing MMi sets the exponent/sign field of physical register i to all ones.
inline void set_mm(CpuImpl& c, unsigned r, uint64_t v) {
  c.s_.fpu.st[r & 7].mant = v;
  c.s_.fpu.st[r & 7].se = 0xFFFF;
}

/// Linear address of the memory operand for an access of `size` bytes; `align` (a power of
/// two, 0 = none) raises #GP(0) on a misaligned address (SDM Vol. 1 10.4.1.1).
inline uint64_t simd_mem_la(CpuImpl& c, const Insn& i, unsigned size, Access acc, unsigned align) {
  uint64_t la = c.linear(i.mem.seg, c.ea(i), size, acc);
  if (align && (la & (align - 1))) raise_gp(0);
  return la;
}

/// Reads `size` (1-16) bytes at linear address `la` into the low bytes of a zeroed V128.
inline V128 read_la_vec(CpuImpl& c, uint64_t la, unsigned size) {
  V128 v{};
  if (size == 16) {
    v.q[0] = c.read_lin(la, 8);
    v.q[1] = c.read_lin(la + 8, 8);
  } else if (size > 8) {
    v.q[0] = c.read_lin(la, 8);
    v.q[1] = c.read_lin(la + 8, size - 8);
  } else {
    v.q[0] = c.read_lin(la, size);
  }
  return v;
}

/// Writes the low `size` bytes of v at `la`; checks the whole range first so a fault on the
/// second half cannot leave the first half written.
inline void write_la_vec(CpuImpl& c, uint64_t la, unsigned size, const V128& v) {
  if (size > 8) {
    c.probe_write_lin(la, size);
    c.write_lin(la, 8, v.q[0]);
    c.write_lin(la + 8, size - 8, v.q[1]);
  } else {
    c.write_lin(la, size, v.q[0]);
  }
}

/// Reads operand n as a vector: an XMM register (all 16 bytes), an MMX register (low 8) or
/// `size` bytes of memory (zero-extended). `align`: alignment required of memory.
inline V128 read_vec(CpuImpl& c, const Insn& i, unsigned n, unsigned size, unsigned align = 0) {
  const Operand& o = i.op[n];
  if (o.kind == OpKind::kReg) {
    if (o.rc == RegClass::kXmm) return get_xmm(c, o.reg);
    if (o.rc == RegClass::kMmx) {
      V128 v{};
      v.q[0] = get_mm(c, o.reg);
      return v;
    }
    V128 v{};
    v.q[0] = c.get_reg(o);
    return v;
  }
  if (o.kind == OpKind::kMem)
    return read_la_vec(c, simd_mem_la(c, i, size, Access::kRead, align), size);
  raise_ud();
}

/// Writes operand n: an XMM register (all 16 bytes), an MMX register (low 8), a GPR, or
/// `size` bytes of memory.
inline void write_vec(CpuImpl& c, const Insn& i, unsigned n, const V128& v, unsigned size,
                      unsigned align = 0) {
  const Operand& o = i.op[n];
  if (o.kind == OpKind::kReg) {
    if (o.rc == RegClass::kXmm) return set_xmm(c, o.reg, v);
    if (o.rc == RegClass::kMmx) return set_mm(c, o.reg, v.q[0]);
    return c.set_reg(o, v.q[0]);
  }
  if (o.kind == OpKind::kMem)
    return write_la_vec(c, simd_mem_la(c, i, size, Access::kWrite, align), size, v);
  raise_ud();
}

/// True if operand n of an MMX/SSE integer instruction is an MMX register or 64-bit memory
/// operand of the MMX form (the width of the instruction is then 8 bytes, else 16).
inline bool is_mmx_form(const Insn& i) {
  return i.op[0].rc == RegClass::kMmx || (i.nops > 1 && i.op[1].rc == RegClass::kMmx);
}

/// Availability checks of an integer instruction that exists in an MMX form (MMX
/// registers, 64-bit) and an SSE2 form (XMM registers, 128-bit); returns the width in bytes.
inline unsigned simd_int_begin(const CpuImpl& c, const Insn& i) {
  if (is_mmx_form(i)) {
    mmx_check(c);
    return 8;
  }
  sse_check(c);
  return 16;
}

/// Reads the source operand n of an MMX/SSE2 integer instruction of width w (8 or 16):
/// 16-byte memory operands must be aligned.
inline V128 read_src(CpuImpl& c, const Insn& i, unsigned n, unsigned w) {
  return read_vec(c, i, n, w, w == 16 ? 16 : 0);
}

/// Writes the register destination (operand 0) of an MMX/SSE2 integer instruction; the MMX
/// form also enters the MMX state (TOP = 0, all tags valid).
inline void write_dst(CpuImpl& c, const Insn& i, const V128& v, unsigned w) {
  if (w == 8) {
    mmx_enter(c);
    set_mm(c, i.op[0].reg, v.q[0]);
  } else {
    set_xmm(c, i.op[0].reg, v);
  }
}

/// Applies a SIMD floating-point result's exception `flags` (MXCSR bits 5:0, as computed
/// with every exception masked) to MXCSR. If one of them is unmasked, the instruction faults
/// instead of committing: #XM with CR4.OSXMMEXCPT, else #UD (SDM Vol. 1 11.5.1-11.5.2).
/// Pre-computation exceptions (IE, DE, ZE) suppress the post-computation ones.
/// Call before writing any result.
inline void sse_fp_flags(CpuImpl& c, uint32_t flags) {
  uint32_t& mx = c.s_.fpu.mxcsr;
  uint32_t unmasked = ~(mx >> 7) & 0x3F;
  uint32_t pre = flags & 0x07;  // IE, DE, ZE
  if (pre & unmasked) {
    mx |= pre;
  } else {
    if (!(flags & unmasked)) {
      mx |= flags;
      return;
    }
    mx |= flags;
  }
  if (c.s_.cr4 & kCr4OSXMMEXCPT) raise_fault(spec::Vector::kXM);
  raise_ud();
}

/// Lane k of v as a T (lanes numbered from the least significant byte).
template <typename T>
T lane(const V128& v, unsigned k) {
  T x;
  std::memcpy(&x, v.b + k * sizeof(T), sizeof(T));
  return x;
}
/// Sets lane k of v to x.
template <typename T>
void set_lane(V128& v, unsigned k, T x) {
  std::memcpy(v.b + k * sizeof(T), &x, sizeof(T));
}
/// Saturates a wide value to the range of T (PACKSS, PADDS, ...).
template <typename T>
T saturate(int64_t v) {
  return static_cast<T>(
      std::clamp<int64_t>(v, std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
}

}  // namespace hvsim::cpu
