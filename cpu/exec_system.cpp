// System instructions: MOV CRn/DRn, LGDT/LIDT/SGDT/SIDT, LTR/STR/LLDT/SLDT, CLI/STI, HLT,
// IN/OUT, CPUID, RDTSC(P), RDMSR/WRMSR, INVLPG, CLTS, SWAPGS, SYSCALL/SYSRET, LMSW/SMSW
// (Intel SDM Vol. 3A 2.5-2.8, 5.8.8; Vol. 2 instruction pages).
#include <Zydis/Zydis.h>

#include <algorithm>

#include "core/trace.h"
#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

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
      return lapic_->tpr() >> 4;
    default: raise_ud();
  }
}

void CpuImpl::write_cr(unsigned n, uint64_t v) {
  if (vmx_->in_operation() && !vmx_->cr_write_allowed(n, v)) raise_gp(0);  // VMX fixed bits
  switch (n) {
    case 0: {
      // SDM Vol. 2 "MOV to CR0", Vol. 3A 2.5 and 10.8.5 (entering and leaving IA-32e mode).
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
        // Paging can only be turned off from compatibility mode; with PCIDE set, never.
        if (long64_ || (s_.cr4 & kCr4PCIDE)) raise_gp(0);
        efer &= ~kEferLMA;
      }
      uint64_t pdpte[4];
      bool pae_load = pg_on && !(efer & kEferLMA) && (s_.cr4 & kCr4PAE);
      if (pae_load && !load_pdptes(s_.cr3, pdpte)) raise_gp(0);
      if (pae_load) std::copy(pdpte, pdpte + 4, s_.pdpte);
      s_.cr0 = v;
      s_.efer = efer;
      if ((old ^ v) & (kCr0PG | kCr0WP | kCr0PE)) tlb_flush(true);
      if ((old ^ v) & (kCr0PG | kCr0PE)) trace_mode_change("cr0");
      update_mode();
      return;
    }
    case 2: s_.cr2 = v; return;
    case 3: {
      // SDM 4.10.4.1: without PCIDs, or with bit 63 clear, the (new) PCID's non-global
      // translations go; with bit 63 set they stay.
      bool no_flush = false;
      if (s_.cr4 & kCr4PCIDE) {
        no_flush = (v & kCr3NoFlush) != 0;
        v &= ~kCr3NoFlush;
      }
      if (long_mode_ && (v & ~((1ull << kMaxPhysAddrBits) - 1))) raise_gp(0);
      if (!long_mode_) v &= 0xFFFFFFFF;
      if (paging_mode() == PagingMode::kPae) {
        uint64_t pdpte[4];
        if (!load_pdptes(v, pdpte)) raise_gp(0);
        std::copy(pdpte, pdpte + 4, s_.pdpte);
      }
      bool same_pcid = (v & kCr3PcidMask) == (s_.cr3 & kCr3PcidMask);
      s_.cr3 = v;
      if (!(no_flush && same_pcid)) tlb_flush(false);
      return;
    }
    case 4: {
      // Supported: TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT.
      constexpr uint64_t kAllowed = (1u << 2) | (1u << 3) | kCr4PSE | kCr4PAE | (1u << 6) |
                                    kCr4PGE | (1u << 8) | kCr4OSFXSR | kCr4OSXMMEXCPT;
      // Paging extensions of the modes work (SDM 4.5, 4.6.1, 4.10.1); XSAVE (OSXSAVE) and
      // RDFSBASE..WRGSBASE (FSGSBASE): cpu/exec_xsave.cpp, exec_bitmanip.cpp.
      constexpr uint64_t kAllowedPaging = kCr4LA57 | kCr4PCIDE | kCr4SMEP | kCr4SMAP;
      constexpr uint64_t kAllowedIsa = kCr4OSXSAVE | kCr4FSGSBASE | kCr4VMXE;
      if (v & ~(kAllowed | kAllowedPaging | kAllowedIsa)) raise_gp(0);
      uint64_t old = s_.cr4;
      uint64_t changed = old ^ v;
      if (long_mode_ && !(v & kCr4PAE)) raise_gp(0);
      if (long_mode_ && (changed & kCr4LA57)) raise_gp(0);
      if ((changed & v & kCr4PCIDE) && (!long_mode_ || (s_.cr3 & kCr3PcidMask))) raise_gp(0);
      bool pae_paging = (s_.cr0 & kCr0PG) && !long_mode_ && (v & kCr4PAE);
      uint64_t pdpte[4];
      bool pae_load = pae_paging && (changed & (kCr4PAE | kCr4PGE | kCr4PSE | kCr4SMEP | kCr4SMAP));
      if (pae_load && !load_pdptes(s_.cr3, pdpte)) raise_gp(0);
      if (pae_load) std::copy(pdpte, pdpte + 4, s_.pdpte);
      s_.cr4 = v;
      if (changed & (kCr4PSE | kCr4PAE | kCr4PGE | kCr4PCIDE | kCr4SMEP | kCr4SMAP | kCr4LA57))
        tlb_flush(true);
      if (changed & (1u << 3)) debug_update();  // CR4.DE: I/O breakpoints
      update_mode();
      return;
    }
    case 8:
      if (!long64_ || (v >> 4)) raise_gp(0);
      lapic_->set_tpr(static_cast<uint32_t>(v) << 4);  // CR8 is TPR[7:4] (SDM 10.8.6)
      return;
    default: raise_ud();
  }
}

void exec_mov_special(CpuImpl& c, const Insn& i) {
  const Operand& d = i.op[0];
  const Operand& s = i.op[1];
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;  // checks CPL itself
  require_cpl0(c);
  if (d.rc == RegClass::kCr) {
    c.write_cr(d.reg, c.get_gpr(s.reg, s.size));
  } else if (s.rc == RegClass::kCr) {
    c.set_gpr(d.reg, d.size, c.read_cr(s.reg));
  } else if (d.rc == RegClass::kDr) {
    c.write_dr(d.reg, c.get_gpr(s.reg, s.size));
  } else {
    c.set_gpr(d.reg, d.size, c.read_dr(s.reg));
  }
}

void CpuImpl::check_io(uint16_t port, unsigned size) {
  // Why: the TSS I/O permission bitmap is not consulted yet; CPL > IOPL always faults.
  if (protected_ && (cpl_ > ((s_.rflags >> 12) & 3) || (s_.rflags & kFlagVM))) raise_gp(0);
  if (s_.dr[7] & spec::kDr7EnableMask) watch_io(port, size);
}

namespace {

/// LGDT/LIDT/SGDT/SIDT memory image: 16-bit limit then a 32- or 64-bit base.
template <bool kLoad, bool kIdt>
void table_reg(C& c, const Insn& i) {
  if (i.op[0].kind != OpKind::kMem) raise_ud();
  if (kLoad) require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  TableReg& t = kIdt ? c.s_.idtr : c.s_.gdtr;
  uint64_t ea = c.ea(i);
  unsigned base_size = c.long64_ ? 8 : 4;
  uint64_t ea2 = (ea + 2) & c.addr_mask(i.addrsize);
  if (kLoad) {
    uint16_t limit = static_cast<uint16_t>(c.read_mem(i.mem.seg, ea, 2));
    uint64_t base = c.read_mem(i.mem.seg, ea2, base_size);
    if (!c.long64_ && i.opsize == 2) base &= 0xFFFFFF;
    if (c.long64_ && !c.canonical(base)) raise_gp(0);
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
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
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
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
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
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
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
  if (!(c.s_.rflags & kFlagIF)) {  // STI shadow: one boundary without interrupts (SDM 6.8.3)
    c.s_.interruptibility |= spec::kBlockBySti;
    c.attention_ = true;
  }
  c.s_.rflags |= kFlagIF;
}

void hlt(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  c.run_state_ = RunState::kHalted;
  if (c.env_.tracer->enabled())
    c.trace("hlt", {{"rip", c.s_.rip}, {"if", (c.s_.rflags & kFlagIF) != 0}});
}

void in(C& c, const Insn& i) {
  unsigned size = i.op[0].size;
  uint16_t port = i.op[1].kind == OpKind::kImm ? static_cast<uint16_t>(i.imm & 0xFF)
                                               : static_cast<uint16_t>(c.s_.gpr[kRdx]);
  c.check_io(port, size);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  c.set_gpr(kRax, size, c.env_.io->read(port, size));
}

void out(C& c, const Insn& i) {
  unsigned size = i.op[1].size;
  uint16_t port = i.op[0].kind == OpKind::kImm ? static_cast<uint16_t>(i.imm & 0xFF)
                                               : static_cast<uint16_t>(c.s_.gpr[kRdx]);
  c.check_io(port, size);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  c.env_.io->write(port, size, static_cast<uint32_t>(c.get_gpr(kRax, size)));
}

void cpuid(C& c, const Insn& i) {
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  uint32_t r[4];
  c.cpuid(static_cast<uint32_t>(c.s_.gpr[kRax]), static_cast<uint32_t>(c.s_.gpr[kRcx]), r);
  c.s_.gpr[kRax] = r[0];
  c.s_.gpr[kRbx] = r[1];
  c.s_.gpr[kRcx] = r[2];
  c.s_.gpr[kRdx] = r[3];
}

void rdtsc(C& c, const Insn& i) {
  if ((c.s_.cr4 & (1u << 2)) && c.cpl_ != 0 && c.protected_) raise_gp(0);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;  // RDTSCP too
  uint64_t t = c.tsc();
  c.s_.gpr[kRax] = t & 0xFFFFFFFF;
  c.s_.gpr[kRdx] = t >> 32;
}

void rdtscp(C& c, const Insn& i) {
  if (c.vmx_non_root_) [[unlikely]]
    return rdtsc(c, i);  // RDTSCP exits or runs there
  rdtsc(c, i);
  c.s_.gpr[kRcx] = c.s_.tsc_aux & 0xFFFFFFFF;
}

void rdmsr(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  uint64_t v;
  if (!c.read_msr(static_cast<uint32_t>(c.s_.gpr[kRcx]), &v)) raise_gp(0);
  c.s_.gpr[kRax] = v & 0xFFFFFFFF;
  c.s_.gpr[kRdx] = v >> 32;
}

void wrmsr(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  uint64_t v = (c.s_.gpr[kRdx] << 32) | (c.s_.gpr[kRax] & 0xFFFFFFFF);
  if (!c.write_msr(static_cast<uint32_t>(c.s_.gpr[kRcx]), v)) raise_gp(0);
}

void invlpg(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  uint64_t off = c.ea(i);
  uint64_t la = c.long64_ ? off + (i.mem.seg >= kFs ? c.s_.seg[i.mem.seg].base : 0)
                          : (c.s_.seg[i.mem.seg].base + off) & 0xFFFFFFFF;
  c.tlb_flush_page(la);
}

// INVPCID (SDM Vol. 2 "INVPCID"): type in a register, 16-byte descriptor in memory.
void invpcid(C& c, const Insn& i) {
  if (c.protected_ && (c.s_.rflags & kFlagVM)) raise_ud();
  if (i.op[1].kind != OpKind::kMem) raise_ud();
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  uint64_t type = c.get_gpr(i.op[0].reg, i.op[0].size);
  uint64_t ea = c.ea(i);
  uint64_t lo = c.read_mem(i.mem.seg, ea, 8);
  uint64_t la = c.read_mem(i.mem.seg, (ea + 8) & c.addr_mask(i.addrsize), 8);
  if (type > 3 || (lo >> 12)) raise_gp(0);
  uint16_t id = static_cast<uint16_t>(lo & kCr3PcidMask);
  auto t = static_cast<InvpcidType>(type);
  if (t == InvpcidType::kIndividualAddress && !c.canonical(la)) raise_gp(0);
  if ((t == InvpcidType::kIndividualAddress || t == InvpcidType::kSingleContext) && id != 0 &&
      !(c.s_.cr4 & kCr4PCIDE))
    raise_gp(0);
  c.invpcid(t, id, la);
}

// STAC/CLAC (SDM Vol. 2): set or clear EFLAGS.AC for SMAP; #UD outside ring 0.
template <bool kSet>
void stac_clac(C& c, const Insn&) {
  if (c.protected_ && c.cpl_ != 0) raise_ud();
  if (kSet)
    c.s_.rflags |= kFlagAC;
  else
    c.s_.rflags &= ~kFlagAC;
}

void privileged_nop(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;  // INVD, WBINVD
}

void clts(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  c.s_.cr0 &= ~kCr0TS;
}

void lmsw(C& c, const Insn& i) {
  require_cpl0(c);
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;
  uint64_t v = c.read_op(i, 0) & 0xF;
  uint64_t cr0 = (c.s_.cr0 & ~0xEull) | v | (c.s_.cr0 & kCr0PE);  // cannot clear PE
  c.write_cr(0, cr0);
}

void smsw(C& c, const Insn& i) {
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) [[unlikely]]
    return;  // CR0 read shadow
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

// SYSCALL/SYSRET in 64-bit mode (SDM Vol. 2 "SYSCALL", "SYSRET"), Intel behaviour:
// SYSCALL outside 64-bit mode is #UD (no CSTAR entry); SYSRET to a non-canonical RCX
// raises #GP(0) in ring 0, before anything changes.
void syscall(C& c, const Insn&) {
  if (!c.long64_ || !(c.s_.efer & kEferSCE)) raise_ud();
  uint16_t sel = static_cast<uint16_t>((c.s_.star >> 32) & 0xFFFC);
  c.s_.gpr[kRcx] = c.next_rip_;
  c.s_.gpr[kR11] = c.s_.rflags & ~kFlagRF;
  c.s_.rflags = (c.s_.rflags & ~c.s_.sfmask & ~kFlagRF) | 2;
  // Why: the handler is entered with TF as IA32_FMASK left it; a TF cleared here does not
  // single-step the kernel entry (the INT n rule of SDM 17.3.1.4 applied to SYSCALL).
  if (!(c.s_.rflags & kFlagTF)) c.dbg_.no_single_step = true;
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
    if (!c.canonical(rip)) raise_gp(0);
    c.s_.seg[kCs] =
        SegReg{static_cast<uint16_t>((base + 16) | 3), 0, 0xFFFFFFFF, 0xFB | kAttrL | kAttrG};
  } else {
    rip &= 0xFFFFFFFF;
    c.s_.seg[kCs] = SegReg{static_cast<uint16_t>(base | 3), 0, 0xFFFFFFFF, 0xFB | kAttrDB | kAttrG};
  }
  c.s_.seg[kSs] =
      SegReg{static_cast<uint16_t>((base + 8) | 3), 0, 0xFFFFFFFF, 0xF3 | kAttrDB | kAttrG};
  c.s_.rflags = (c.s_.gpr[kR11] & 0x3C7FD7) | 2;
  c.interrupts_may_open();
  c.update_mode();
  c.next_rip_ = rip;
  if (c.s_.rflags & kFlagTF) c.debug_update();
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
  t[ZYDIS_MNEMONIC_INVPCID] = &invpcid;
  t[ZYDIS_MNEMONIC_STAC] = &stac_clac<true>;
  t[ZYDIS_MNEMONIC_CLAC] = &stac_clac<false>;
  t[ZYDIS_MNEMONIC_WBINVD] = &privileged_nop;
  t[ZYDIS_MNEMONIC_INVD] = &privileged_nop;
  t[ZYDIS_MNEMONIC_CLTS] = &clts;
  t[ZYDIS_MNEMONIC_LMSW] = &lmsw;
  t[ZYDIS_MNEMONIC_SMSW] = &smsw;
  t[ZYDIS_MNEMONIC_SWAPGS] = &swapgs;
  t[ZYDIS_MNEMONIC_SYSCALL] = &syscall;
  t[ZYDIS_MNEMONIC_SYSRET] = &sysret;
  register_vmx(t);
}

}  // namespace hvsim::cpu
