// System instructions: MOV CRn/DRn, LGDT/LIDT/SGDT/SIDT, LTR/STR/LLDT/SLDT, CLI/STI, HLT,
// IN/OUT, CPUID, RDTSC(P), RDMSR/WRMSR, INVLPG, CLTS, SWAPGS, SYSCALL/SYSRET, LMSW/SMSW
// (Intel SDM Vol. 3A 2.5-2.8, 5.8.8; Vol. 2 instruction pages).
#include <Zydis/Zydis.h>

#include "core/trace.h"
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

using namespace spec;

namespace {
using C = CpuImpl;

void require_cpl0(const C& c) {
  if (c.cpl_ != 0) raise_gp(0);
}
}  // namespace

uint64_t CpuImpl::read_cr(unsigned n) {
  switch (n) {
    case 0: return s_.cr0;
    case 2: return s_.cr2;
    case 3: return s_.cr3;
    case 4: return s_.cr4;
    case 8:
      if (!long64_) raise_ud();
      return s_.cr8;
    default: raise_ud();
  }
}

void CpuImpl::write_cr(unsigned n, uint64_t v) {
  switch (n) {
    case 0: {
      if (v >> 32) raise_gp(0);
      v |= kCr0ET;
      if ((v & kCr0PG) && !(v & kCr0PE)) raise_gp(0);
      if ((v & kCr0NW) && !(v & kCr0CD)) raise_gp(0);
      uint64_t old = s_.cr0;
      uint64_t efer = s_.efer;
      bool pg_on = !(old & kCr0PG) && (v & kCr0PG);
      bool pg_off = (old & kCr0PG) && !(v & kCr0PG);
      if (pg_on && (efer & kEferLME)) {
        if (!(s_.cr4 & kCr4PAE) || (s_.seg[kCs].attr & kAttrL)) raise_gp(0);
        efer |= kEferLMA;
      }
      if (pg_off && (efer & kEferLMA)) {
        if (long64_) raise_gp(0);
        efer &= ~kEferLMA;
      }
      s_.cr0 = v;
      s_.efer = efer;
      if ((old ^ v) & (kCr0PG | kCr0WP | kCr0PE)) tlb_flush(true);
      if ((old ^ v) & (kCr0PG | kCr0PE)) trace_mode_change("cr0");
      update_mode();
      return;
    }
    case 2: s_.cr2 = v; return;
    case 3:
      if (long_mode_ && (v & ~((1ull << kMaxPhysAddrBits) - 1))) raise_gp(0);
      s_.cr3 = long_mode_ ? v : v & 0xFFFFFFFF;
      tlb_flush(false);
      return;
    case 4: {
      // Supported: VME(0)? no. TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT.
      constexpr uint64_t kAllowed = (1u << 2) | (1u << 3) | kCr4PSE | kCr4PAE | (1u << 6) |
                                    kCr4PGE | (1u << 8) | kCr4OSFXSR | kCr4OSXMMEXCPT;
      // XSAVE (OSXSAVE) and RDFSBASE..WRGSBASE (FSGSBASE): cpu/exec_xsave.cpp, exec_bitmanip.cpp.
      constexpr uint64_t kAllowedIsa = kCr4OSXSAVE | kCr4FSGSBASE;
      if (v & ~(kAllowed | kAllowedIsa)) raise_gp(0);
      if (long_mode_ && !(v & kCr4PAE)) raise_gp(0);
      uint64_t old = s_.cr4;
      s_.cr4 = v;
      if ((old ^ v) & (kCr4PSE | kCr4PAE | kCr4PGE)) tlb_flush(true);
      return;
    }
    case 8:
      if (!long64_ || (v >> 4)) raise_gp(0);
      s_.cr8 = v;
      return;
    default: raise_ud();
  }
}

void exec_mov_special(CpuImpl& c, const Insn& i) {
  const Operand& d = i.op[0];
  const Operand& s = i.op[1];
  require_cpl0(c);
  if (d.rc == RegClass::kCr) {
    c.write_cr(d.reg, c.get_gpr(s.reg, s.size));
  } else if (s.rc == RegClass::kCr) {
    c.set_gpr(d.reg, d.size, c.read_cr(s.reg));
  } else if (d.rc == RegClass::kDr) {
    if (d.reg >= 8 || ((d.reg == 4 || d.reg == 5) && (c.s_.cr4 & (1u << 3)))) raise_ud();
    uint64_t v = c.get_gpr(s.reg, s.size);
    if (d.reg == 6) v = (v & 0xE00F) | 0xFFFF0FF0;
    if (d.reg == 7) v = (v & ~0xD000ull) | 0x400;
    c.s_.dr[d.reg] = v;
  } else {
    if (s.reg >= 8 || ((s.reg == 4 || s.reg == 5) && (c.s_.cr4 & (1u << 3)))) raise_ud();
    c.set_gpr(d.reg, d.size, c.s_.dr[s.reg]);
  }
}

void CpuImpl::check_io(uint16_t port, unsigned size) {
  // Why: the TSS I/O permission bitmap is not consulted yet; CPL > IOPL always faults.
  if (protected_ && (cpl_ > ((s_.rflags >> 12) & 3) || (s_.rflags & kFlagVM))) raise_gp(0);
  (void)port;
  (void)size;
}

namespace {

/// LGDT/LIDT/SGDT/SIDT memory image: 16-bit limit then a 32- or 64-bit base.
template <bool kLoad, bool kIdt>
void table_reg(C& c, const Insn& i) {
  if (i.op[0].kind != OpKind::kMem) raise_ud();
  if (kLoad) require_cpl0(c);
  TableReg& t = kIdt ? c.s_.idtr : c.s_.gdtr;
  uint64_t ea = c.ea(i);
  unsigned base_size = c.long64_ ? 8 : 4;
  uint64_t ea2 = (ea + 2) & c.addr_mask(i.addrsize);
  if (kLoad) {
    uint16_t limit = static_cast<uint16_t>(c.read_mem(i.mem.seg, ea, 2));
    uint64_t base = c.read_mem(i.mem.seg, ea2, base_size);
    if (!c.long64_ && i.opsize == 2) base &= 0xFFFFFF;
    if (c.long64_ && !C::canonical(base)) raise_gp(0);
    t.base = base;
    t.limit = limit;
  } else {
    uint64_t la = c.linear(i.mem.seg, ea, 2 + base_size, Access::kWrite);
    c.probe_write_lin(la, 2 + base_size);
    c.write_mem(i.mem.seg, ea, 2, t.limit);
    c.write_mem(i.mem.seg, ea2, base_size, t.base);
  }
}

void ltr(C& c, const Insn& i) {
  if (!c.protected_ || (c.s_.rflags & kFlagVM)) raise_ud();
  require_cpl0(c);
  uint16_t sel = static_cast<uint16_t>(c.read_op(i, 0));
  if ((sel & 0xFFFC) == 0 || selector_ti(sel)) raise_gp(sel & 0xFFFC);
  Descriptor d = c.read_descriptor(sel, Vector::kGP);
  uint32_t type = d.type();
  bool ok =
      !d.s() && (type == static_cast<uint32_t>(SystemType::kTssAvailable) ||
                 (!c.long_mode_ && type == static_cast<uint32_t>(SystemType::kTss16Available)));
  if (!ok) raise_gp(sel & 0xFFFC);
  if (!d.present()) raise_fault(Vector::kNP, sel & 0xFFFC);
  uint64_t base = d.base();
  if (c.long_mode_) base |= (c.read_descriptor_high(sel, Vector::kGP) & 0xFFFFFFFF) << 32;
  // Mark the descriptor busy (type bit 1).
  c.write_lin(c.s_.gdtr.base + (sel & 0xFFF8) + 5, 1, ((d.raw >> 40) & 0xFF) | 2, true);
  c.s_.tr = SegReg{sel, base, d.limit(), d.attr() | 2};
}

void lldt(C& c, const Insn& i) {
  if (!c.protected_ || (c.s_.rflags & kFlagVM)) raise_ud();
  require_cpl0(c);
  uint16_t sel = static_cast<uint16_t>(c.read_op(i, 0));
  if ((sel & 0xFFFC) == 0) {
    c.s_.ldtr = SegReg{sel, 0, 0, kAttrUnusable};
    return;
  }
  if (selector_ti(sel)) raise_gp(sel & 0xFFFC);
  Descriptor d = c.read_descriptor(sel, Vector::kGP);
  if (d.s() || d.type() != static_cast<uint32_t>(SystemType::kLdt)) raise_gp(sel & 0xFFFC);
  if (!d.present()) raise_fault(Vector::kNP, sel & 0xFFFC);
  uint64_t base = d.base();
  if (c.long_mode_) base |= (c.read_descriptor_high(sel, Vector::kGP) & 0xFFFFFFFF) << 32;
  c.s_.ldtr = SegReg{sel, base, d.limit(), d.attr()};
}

template <bool kTr>
void store_selector(C& c, const Insn& i) {
  if (!c.protected_ || (c.s_.rflags & kFlagVM)) raise_ud();
  uint16_t sel = kTr ? c.s_.tr.selector : c.s_.ldtr.selector;
  if (i.op[0].kind == OpKind::kMem)
    c.write_op(i, 0, sel);
  else
    c.set_gpr(i.op[0].reg, i.op[0].size, sel);
}

void cli(C& c, const Insn&) {
  if (c.protected_ && c.cpl_ > ((c.s_.rflags >> 12) & 3)) raise_gp(0);
  c.s_.rflags &= ~kFlagIF;
}
void sti(C& c, const Insn&) {
  if (c.protected_ && c.cpl_ > ((c.s_.rflags >> 12) & 3)) raise_gp(0);
  c.s_.rflags |= kFlagIF;
}

void hlt(C& c, const Insn&) {
  require_cpl0(c);
  c.run_state_ = RunState::kHalted;
  if (c.env_.tracer->enabled())
    c.trace("hlt", {{"rip", c.s_.rip}, {"if", (c.s_.rflags & kFlagIF) != 0}});
}

void in(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint16_t port = i.op[1].kind == OpKind::kImm ? static_cast<uint16_t>(i.imm & 0xFF)
                                               : static_cast<uint16_t>(c.s_.gpr[kRdx]);
  c.check_io(port, size);
  c.set_gpr(kRax, size, c.env_.io->read(port, size));
}

void out(C& c, const Insn& i) {
  unsigned size = i.op[1].size;
  uint16_t port = i.op[0].kind == OpKind::kImm ? static_cast<uint16_t>(i.imm & 0xFF)
                                               : static_cast<uint16_t>(c.s_.gpr[kRdx]);
  c.check_io(port, size);
  c.env_.io->write(port, size, static_cast<uint32_t>(c.get_gpr(kRax, size)));
}

void cpuid(C& c, const Insn&) {
  uint32_t r[4];
  c.cpuid(static_cast<uint32_t>(c.s_.gpr[kRax]), static_cast<uint32_t>(c.s_.gpr[kRcx]), r);
  c.s_.gpr[kRax] = r[0];
  c.s_.gpr[kRbx] = r[1];
  c.s_.gpr[kRcx] = r[2];
  c.s_.gpr[kRdx] = r[3];
}

void rdtsc(C& c, const Insn&) {
  if ((c.s_.cr4 & (1u << 2)) && c.cpl_ != 0 && c.protected_) raise_gp(0);
  uint64_t t = c.tsc();
  c.s_.gpr[kRax] = t & 0xFFFFFFFF;
  c.s_.gpr[kRdx] = t >> 32;
}

void rdtscp(C& c, const Insn& i) {
  rdtsc(c, i);
  c.s_.gpr[kRcx] = c.s_.tsc_aux & 0xFFFFFFFF;
}

void rdmsr(C& c, const Insn&) {
  require_cpl0(c);
  uint64_t v;
  if (!c.read_msr(static_cast<uint32_t>(c.s_.gpr[kRcx]), &v)) raise_gp(0);
  c.s_.gpr[kRax] = v & 0xFFFFFFFF;
  c.s_.gpr[kRdx] = v >> 32;
}

void wrmsr(C& c, const Insn&) {
  require_cpl0(c);
  uint64_t v = (c.s_.gpr[kRdx] << 32) | (c.s_.gpr[kRax] & 0xFFFFFFFF);
  if (!c.write_msr(static_cast<uint32_t>(c.s_.gpr[kRcx]), v)) raise_gp(0);
}

void invlpg(C& c, const Insn& i) {
  require_cpl0(c);
  uint64_t off = c.ea(i);
  uint64_t la = c.long64_ ? off + (i.mem.seg >= kFs ? c.s_.seg[i.mem.seg].base : 0)
                          : (c.s_.seg[i.mem.seg].base + off) & 0xFFFFFFFF;
  c.tlb_flush_page(la);
}

void privileged_nop(C& c, const Insn&) {
  require_cpl0(c);
}

void clts(C& c, const Insn&) {
  require_cpl0(c);
  c.s_.cr0 &= ~kCr0TS;
}

void lmsw(C& c, const Insn& i) {
  require_cpl0(c);
  uint64_t v = c.read_op(i, 0) & 0xF;
  uint64_t cr0 = (c.s_.cr0 & ~0xEull) | v | (c.s_.cr0 & kCr0PE);  // cannot clear PE
  c.write_cr(0, cr0);
}

void smsw(C& c, const Insn& i) {
  if (i.op[0].kind == OpKind::kMem)
    c.write_op(i, 0, c.s_.cr0 & 0xFFFF);
  else
    c.set_gpr(i.op[0].reg, i.op[0].size, c.s_.cr0);
}

void swapgs(C& c, const Insn&) {
  if (!c.long64_) raise_ud();
  require_cpl0(c);
  std::swap(c.s_.seg[kGs].base, c.s_.kernel_gs_base);
}

// SYSCALL/SYSRET in 64-bit mode (SDM Vol. 2 "SYSCALL", "SYSRET"); compatibility-mode
// SYSCALL (CSTAR) is not implemented (#UD).
void syscall(C& c, const Insn&) {
  if (!c.long64_ || !(c.s_.efer & kEferSCE)) raise_ud();
  uint16_t sel = static_cast<uint16_t>((c.s_.star >> 32) & 0xFFFC);
  c.s_.gpr[kRcx] = c.next_rip_;
  c.s_.gpr[kR11] = c.s_.rflags & ~kFlagRF;
  c.s_.rflags = (c.s_.rflags & ~c.s_.sfmask & ~kFlagRF) | 2;
  c.s_.seg[kCs] = SegReg{sel, 0, 0xFFFFFFFF, 0x9B | kAttrL | kAttrG};
  c.s_.seg[kSs] = SegReg{static_cast<uint16_t>(sel + 8), 0, 0xFFFFFFFF, 0x93 | kAttrDB | kAttrG};
  c.update_mode();
  c.next_rip_ = c.s_.lstar;
}

void sysret(C& c, const Insn& i) {
  if (!c.long64_ || !(c.s_.efer & kEferSCE)) raise_ud();
  require_cpl0(c);
  uint16_t base = static_cast<uint16_t>(c.s_.star >> 48);
  uint64_t rip = c.s_.gpr[kRcx];
  if (i.opsize == 8) {
    if (!C::canonical(rip)) raise_gp(0);
    c.s_.seg[kCs] =
        SegReg{static_cast<uint16_t>((base + 16) | 3), 0, 0xFFFFFFFF, 0xFB | kAttrL | kAttrG};
  } else {
    rip &= 0xFFFFFFFF;
    c.s_.seg[kCs] = SegReg{static_cast<uint16_t>(base | 3), 0, 0xFFFFFFFF, 0xFB | kAttrDB | kAttrG};
  }
  c.s_.seg[kSs] =
      SegReg{static_cast<uint16_t>((base + 8) | 3), 0, 0xFFFFFFFF, 0xF3 | kAttrDB | kAttrG};
  c.s_.rflags = (c.s_.gpr[kR11] & 0x3C7FD7) | 2;
  c.update_mode();
  c.next_rip_ = rip;
}

}  // namespace

void register_system(HandlerTable t) {
  t[ZYDIS_MNEMONIC_LGDT] = &table_reg<true, false>;
  t[ZYDIS_MNEMONIC_LIDT] = &table_reg<true, true>;
  t[ZYDIS_MNEMONIC_SGDT] = &table_reg<false, false>;
  t[ZYDIS_MNEMONIC_SIDT] = &table_reg<false, true>;
  t[ZYDIS_MNEMONIC_LTR] = &ltr;
  t[ZYDIS_MNEMONIC_LLDT] = &lldt;
  t[ZYDIS_MNEMONIC_STR] = &store_selector<true>;
  t[ZYDIS_MNEMONIC_SLDT] = &store_selector<false>;
  t[ZYDIS_MNEMONIC_CLI] = &cli;
  t[ZYDIS_MNEMONIC_STI] = &sti;
  t[ZYDIS_MNEMONIC_HLT] = &hlt;
  t[ZYDIS_MNEMONIC_IN] = &in;
  t[ZYDIS_MNEMONIC_OUT] = &out;
  t[ZYDIS_MNEMONIC_CPUID] = &cpuid;
  t[ZYDIS_MNEMONIC_RDTSC] = &rdtsc;
  t[ZYDIS_MNEMONIC_RDTSCP] = &rdtscp;
  t[ZYDIS_MNEMONIC_RDMSR] = &rdmsr;
  t[ZYDIS_MNEMONIC_WRMSR] = &wrmsr;
  t[ZYDIS_MNEMONIC_INVLPG] = &invlpg;
  t[ZYDIS_MNEMONIC_WBINVD] = &privileged_nop;
  t[ZYDIS_MNEMONIC_INVD] = &privileged_nop;
  t[ZYDIS_MNEMONIC_CLTS] = &clts;
  t[ZYDIS_MNEMONIC_LMSW] = &lmsw;
  t[ZYDIS_MNEMONIC_SMSW] = &smsw;
  t[ZYDIS_MNEMONIC_SWAPGS] = &swapgs;
  t[ZYDIS_MNEMONIC_SYSCALL] = &syscall;
  t[ZYDIS_MNEMONIC_SYSRET] = &sysret;
}

}  // namespace hvsim::cpu
