// x87/SSE state management: LDMXCSR/STMXCSR, FXSAVE/FXRSTOR, XSAVE/XSAVEOPT/XRSTOR,
// XGETBV/XSETBV (Intel SDM Vol. 1 10.5 "FXSAVE and FXRSTOR", ch. 13 "Managing state using
// the XSAVE feature set"; Vol. 2 instruction pages).
//
// Supported state components: x87 (XCR0 bit 0) and SSE (bit 1) in the standard
// (non-compacted) format; the XSAVE area is 576 bytes. XINUSE is reported as all ones for
// the enabled components (allowed by SDM 13.6: a processor may treat a component as in use
// when it is in its initial configuration). XSAVEOPT behaves as XSAVE (it may always save).
#include <Zydis/Zydis.h>

#include "cpu/simd.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

constexpr unsigned kLegacyAreaSize = 512, kXsaveAreaSize = 576;

/// Reads n bytes (a multiple of 8) at linear address la.
void read_block(C& c, uint64_t la, unsigned n, uint8_t* out) {
  for (unsigned k = 0; k < n; k += 8) {
    uint64_t v = c.read_lin(la + k, 8);
    std::memcpy(out + k, &v, 8);
  }
}

/// Writes n bytes (a multiple of 8) at la after checking the whole range for writing.
void write_block(C& c, uint64_t la, unsigned n, const uint8_t* in) {
  c.probe_write_lin(la, n);
  for (unsigned k = 0; k < n; k += 8) {
    uint64_t v;
    std::memcpy(&v, in + k, 8);
    c.write_lin(la + k, 8, v);
  }
}

template <typename T>
void put(uint8_t* p, unsigned off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}
template <typename T>
T get(const uint8_t* p, unsigned off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}

/// The 64-bit forms (REX.W: FXSAVE64, XSAVE64, ...) store 64-bit FIP/FDP.
bool wide_form(const Insn& i) {
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_FXSAVE64:
    case ZYDIS_MNEMONIC_FXRSTOR64:
    case ZYDIS_MNEMONIC_XSAVE64:
    case ZYDIS_MNEMONIC_XSAVEOPT64:
    case ZYDIS_MNEMONIC_XRSTOR64: return true;
    default: return false;
  }
}

/// Number of XMM registers in the image: 16 in 64-bit mode, else 8.
unsigned xmm_count(const C& c) {
  return c.long64_ ? 16 : 8;
}

// The legacy region (SDM Vol. 1 Table 10-2 / 10-3). `wide`: the 64-bit (REX.W) format,
// where FIP and FDP are 64-bit offsets without selectors.
void save_x87(const C& c, uint8_t* p, bool wide) {
  const FpuState& f = c.s_.fpu;
  put<uint16_t>(p, 0, f.fcw);
  put<uint16_t>(p, 2, f.fsw);
  put<uint8_t>(p, 4, f.ftw);
  put<uint8_t>(p, 5, 0);
  put<uint16_t>(p, 6, f.fop);
  if (wide) {
    put<uint64_t>(p, 8, f.fip);
    put<uint64_t>(p, 16, f.fdp);
  } else {
    put<uint32_t>(p, 8, static_cast<uint32_t>(f.fip));
    put<uint32_t>(p, 12, f.fcs);
    put<uint32_t>(p, 16, static_cast<uint32_t>(f.fdp));
    put<uint32_t>(p, 20, f.fds);
  }
  unsigned top = (f.fsw >> 11) & 7;
  for (unsigned k = 0; k < 8; ++k) {
    const Float80& r = f.st[(top + k) & 7];
    put<uint64_t>(p, 32 + 16 * k, r.mant);
    put<uint16_t>(p, 40 + 16 * k, r.se);
    put<uint16_t>(p, 42 + 16 * k, 0);
    put<uint32_t>(p, 44 + 16 * k, 0);
  }
}

void save_mxcsr(const C& c, uint8_t* p) {
  put<uint32_t>(p, 24, c.s_.fpu.mxcsr);
  put<uint32_t>(p, 28, kMxcsrMask);
}

void save_xmm(const C& c, uint8_t* p) {
  for (unsigned k = 0; k < xmm_count(c); ++k) {
    put<uint64_t>(p, 160 + 16 * k, c.s_.fpu.xmm[k].lo);
    put<uint64_t>(p, 168 + 16 * k, c.s_.fpu.xmm[k].hi);
  }
}

void load_x87(C& c, const uint8_t* p, bool wide) {
  FpuState& f = c.s_.fpu;
  f.fcw = get<uint16_t>(p, 0);
  f.fsw = get<uint16_t>(p, 2);
  f.ftw = get<uint8_t>(p, 4);
  f.fop = get<uint16_t>(p, 6) & 0x7FF;
  if (wide) {
    f.fip = get<uint64_t>(p, 8);
    f.fdp = get<uint64_t>(p, 16);
    f.fcs = f.fds = 0;
  } else {
    f.fip = get<uint32_t>(p, 8);
    f.fcs = get<uint16_t>(p, 12);
    f.fdp = get<uint32_t>(p, 16);
    f.fds = get<uint16_t>(p, 20);
  }
  unsigned top = (f.fsw >> 11) & 7;
  for (unsigned k = 0; k < 8; ++k) {
    Float80& r = f.st[(top + k) & 7];
    r.mant = get<uint64_t>(p, 32 + 16 * k);
    r.se = get<uint16_t>(p, 40 + 16 * k);
  }
}

void load_xmm(C& c, const uint8_t* p) {
  for (unsigned k = 0; k < xmm_count(c); ++k) {
    c.s_.fpu.xmm[k].lo = get<uint64_t>(p, 160 + 16 * k);
    c.s_.fpu.xmm[k].hi = get<uint64_t>(p, 168 + 16 * k);
  }
}

/// The x87 initial configuration (FNINIT plus cleared pointers and registers).
void init_x87(C& c) {
  FpuState& f = c.s_.fpu;
  f.fcw = 0x037F;
  f.fsw = 0;
  f.ftw = 0;
  f.fop = 0;
  f.fip = f.fdp = 0;
  f.fcs = f.fds = 0;
  for (Float80& r : f.st) r = Float80{};
}

/// #NM for the FXSAVE family: CR0.TS or CR0.EM (SDM Vol. 2 FXSAVE "Protected Mode Exceptions").
void fx_check(const C& c) {
  if (c.s_.cr0 & (kCr0TS | kCr0EM)) raise_fault(spec::Vector::kNM);
}

/// FXSAVE / FXSAVE64 m512byte. The OSFXSR = 0 case saves the XMM registers too (an
/// implementation choice the SDM allows).
void fxsave(C& c, const Insn& i) {
  fx_check(c);
  uint64_t la = simd_mem_la(c, i, kLegacyAreaSize, Access::kWrite, 16);
  uint8_t buf[kLegacyAreaSize] = {};
  bool wide = wide_form(i);
  save_x87(c, buf, wide);
  save_mxcsr(c, buf);
  save_xmm(c, buf);
  // Why: bytes beyond the saved registers are left as they are in memory (reserved or
  // available to software), so they are read back first.
  uint8_t old[kLegacyAreaSize];
  c.probe_write_lin(la, kLegacyAreaSize);
  read_block(c, la, kLegacyAreaSize, old);
  unsigned end = 160 + 16 * xmm_count(c);
  std::memcpy(buf + end, old + end, kLegacyAreaSize - end);
  write_block(c, la, kLegacyAreaSize, buf);
}

/// FXRSTOR / FXRSTOR64 m512byte: #GP(0) if MXCSR has reserved bits set.
void fxrstor(C& c, const Insn& i) {
  fx_check(c);
  uint64_t la = simd_mem_la(c, i, kLegacyAreaSize, Access::kRead, 16);
  uint8_t buf[kLegacyAreaSize];
  read_block(c, la, kLegacyAreaSize, buf);
  uint32_t mxcsr = get<uint32_t>(buf, 24);
  if (mxcsr & ~kMxcsrMask) raise_gp(0);
  load_x87(c, buf, wide_form(i));
  c.s_.fpu.mxcsr = mxcsr;
  load_xmm(c, buf);
}

void ldmxcsr(C& c, const Insn& i) {
  sse_check(c);
  uint32_t v = static_cast<uint32_t>(c.read_mem(i.mem.seg, c.ea(i), 4));
  if (v & ~kMxcsrMask) raise_gp(0);
  c.s_.fpu.mxcsr = v;
}

void stmxcsr(C& c, const Insn& i) {
  sse_check(c);
  c.write_mem(i.mem.seg, c.ea(i), 4, c.s_.fpu.mxcsr);
}

/// XSAVE feature checks: #UD if CR4.OSXSAVE = 0, #NM if CR0.TS.
void xsave_check(const C& c) {
  if (!(c.s_.cr4 & kCr4OSXSAVE)) raise_ud();
  if (c.s_.cr0 & kCr0TS) raise_fault(spec::Vector::kNM);
}

/// Requested-feature bitmap: XCR0 AND EDX:EAX.
uint64_t rfbm(const C& c) {
  uint64_t mask = (c.s_.gpr[kRdx] << 32) | (c.s_.gpr[kRax] & 0xFFFFFFFF);
  return c.s_.fpu.xcr0 & mask;
}

/// XSAVE / XSAVE64 / XSAVEOPT / XSAVEOPT64 mem (standard format).
void xsave(C& c, const Insn& i) {
  xsave_check(c);
  uint64_t la = simd_mem_la(c, i, kXsaveAreaSize, Access::kWrite, 64);
  uint8_t buf[kXsaveAreaSize];
  c.probe_write_lin(la, kXsaveAreaSize);
  read_block(c, la, kXsaveAreaSize, buf);  // components not requested stay as they are
  uint64_t req = rfbm(c);
  bool wide = wide_form(i);
  if (req & kXcr0X87) save_x87(c, buf, wide);
  if (req & kXcr0Sse) {
    save_mxcsr(c, buf);
    save_xmm(c, buf);
  }
  uint64_t bv = get<uint64_t>(buf, 512);
  put<uint64_t>(buf, 512, (bv & ~req) | req);  // XINUSE: every enabled component in use
  write_block(c, la, kXsaveAreaSize, buf);
}

/// XRSTOR / XRSTOR64 mem (standard format; the compacted format is not supported).
void xrstor(C& c, const Insn& i) {
  xsave_check(c);
  uint64_t la = simd_mem_la(c, i, kXsaveAreaSize, Access::kRead, 64);
  uint8_t buf[kXsaveAreaSize];
  read_block(c, la, kXsaveAreaSize, buf);
  uint64_t req = rfbm(c);
  uint64_t xstate_bv = get<uint64_t>(buf, 512);
  // SDM 13.8.1: XCOMP_BV and the next 8 bytes must be zero; XSTATE_BV may only name
  // components enabled in XCR0; MXCSR reserved bits fault when MXCSR is loaded.
  if (get<uint64_t>(buf, 520) || get<uint64_t>(buf, 528)) raise_gp(0);
  if (xstate_bv & ~c.s_.fpu.xcr0) raise_gp(0);
  uint32_t mxcsr = get<uint32_t>(buf, 24);
  if ((req & kXcr0Sse) && (mxcsr & ~kMxcsrMask)) raise_gp(0);
  bool wide = wide_form(i);
  if (req & kXcr0X87) {
    if (xstate_bv & kXcr0X87)
      load_x87(c, buf, wide);
    else
      init_x87(c);
  }
  if (req & kXcr0Sse) {
    c.s_.fpu.mxcsr = mxcsr;
    if (xstate_bv & kXcr0Sse) {
      load_xmm(c, buf);
    } else {
      for (unsigned k = 0; k < xmm_count(c); ++k) c.s_.fpu.xmm[k] = Xmm{};
    }
  }
}

/// XGETBV: ECX = 0 reads XCR0; anything else is #GP(0) (XGETBV with ECX = 1 is not
/// advertised).
void xgetbv(C& c, const Insn&) {
  if (!(c.s_.cr4 & kCr4OSXSAVE)) raise_ud();
  if ((c.s_.gpr[kRcx] & 0xFFFFFFFF) != 0) raise_gp(0);
  c.s_.gpr[kRax] = c.s_.fpu.xcr0 & 0xFFFFFFFF;
  c.s_.gpr[kRdx] = c.s_.fpu.xcr0 >> 32;
}

/// XSETBV: CPL 0, ECX = 0, only supported bits, x87 always set (SDM Vol. 2 XSETBV).
void xsetbv(C& c, const Insn& i) {
  if (!(c.s_.cr4 & kCr4OSXSAVE)) raise_ud();
  if (c.cpl_ != 0 || (c.s_.rflags & kFlagVM)) raise_gp(0);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  if ((c.s_.gpr[kRcx] & 0xFFFFFFFF) != 0) raise_gp(0);
  uint64_t v = (c.s_.gpr[kRdx] << 32) | (c.s_.gpr[kRax] & 0xFFFFFFFF);
  if ((v & ~kXcr0Supported) || !(v & kXcr0X87)) raise_gp(0);
  c.s_.fpu.xcr0 = v;
}

}  // namespace

void register_xsave(HandlerTable t) {
  t[ZYDIS_MNEMONIC_FXSAVE] = &fxsave;
  t[ZYDIS_MNEMONIC_FXSAVE64] = &fxsave;
  t[ZYDIS_MNEMONIC_FXRSTOR] = &fxrstor;
  t[ZYDIS_MNEMONIC_FXRSTOR64] = &fxrstor;
  t[ZYDIS_MNEMONIC_LDMXCSR] = &ldmxcsr;
  t[ZYDIS_MNEMONIC_STMXCSR] = &stmxcsr;
  t[ZYDIS_MNEMONIC_XSAVE] = &xsave;
  t[ZYDIS_MNEMONIC_XSAVE64] = &xsave;
  t[ZYDIS_MNEMONIC_XSAVEOPT] = &xsave;
  t[ZYDIS_MNEMONIC_XSAVEOPT64] = &xsave;
  t[ZYDIS_MNEMONIC_XRSTOR] = &xrstor;
  t[ZYDIS_MNEMONIC_XRSTOR64] = &xrstor;
  t[ZYDIS_MNEMONIC_XGETBV] = &xgetbv;
  t[ZYDIS_MNEMONIC_XSETBV] = &xsetbv;
}

}  // namespace hvsim::cpu
