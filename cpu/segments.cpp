// Segment-register loads, far JMP/CALL/RET and IRET with their protection checks
// (Intel SDM Vol. 3A 3.4-3.5, 5.5-5.8; Vol. 2 "MOV", "JMP", "CALL", "RET", "IRET").
#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

using namespace spec;

Descriptor CpuImpl::read_descriptor(uint16_t sel, Vector vec) {
  uint64_t base;
  uint32_t limit;
  if (selector_ti(sel)) {
    if (s_.ldtr.attr & kAttrUnusable || (s_.ldtr.selector & 0xFFFC) == 0)
      raise_fault(vec, sel & 0xFFFC);
    base = s_.ldtr.base;
    limit = s_.ldtr.limit;
  } else {
    base = s_.gdtr.base;
    limit = s_.gdtr.limit;
  }
  uint32_t off = sel & 0xFFF8;
  if (off + 7 > limit) raise_fault(vec, sel & 0xFFFC);
  Descriptor d;
  d.raw = read_lin(base + off, 8, Access::kRead, true);
  return d;
}

uint64_t CpuImpl::read_descriptor_high(uint16_t sel, Vector vec) {
  uint32_t off = (sel & 0xFFF8) + 8;
  if (off + 7 > s_.gdtr.limit) raise_fault(vec, sel & 0xFFFC);
  return read_lin(s_.gdtr.base + off, 8, Access::kRead, true);
}

void CpuImpl::set_descriptor_accessed(uint16_t sel, Descriptor& d) {
  if (!d.s() || (d.type() & kTypeAccessed)) return;
  d.raw |= uint64_t{kTypeAccessed} << 40;
  uint64_t base = selector_ti(sel) ? s_.ldtr.base : s_.gdtr.base;
  write_lin(base + (sel & 0xFFF8) + 5, 1, (d.raw >> 40) & 0xFF, true);
}

void CpuImpl::set_segment(unsigned seg, uint16_t sel, const Descriptor& d) {
  SegReg& r = s_.seg[seg];
  r.selector = sel;
  r.base = d.base();
  r.limit = d.limit();
  r.attr = d.attr();
}

void CpuImpl::set_null_segment(unsigned seg, uint16_t sel) {
  SegReg& r = s_.seg[seg];
  r.selector = sel;
  r.base = 0;
  r.limit = 0;
  r.attr = kAttrUnusable;
}

void CpuImpl::load_segment(unsigned seg, uint16_t sel) {
  // A completed load of SS (MOV SS, POP SS: the only callers) blocks debug traps and
  // interrupts until after the next instruction (SDM 6.8.3); a load that faults does not
  // complete, so the exception handler's first instruction is not in a shadow.
  auto block = [&] {
    if (seg != kSs) return;
    s_.interruptibility |= kBlockByMovSs;
    attention_ = true;
  };
  if (!protected_ || (s_.rflags & kFlagVM)) {
    s_.seg[seg].selector = sel;
    s_.seg[seg].base = uint64_t{sel} << 4;
    if (seg == kCs) update_mode();
    block();
    return;
  }
  if (seg == kCs) raise_ud();
  unsigned rpl = selector_rpl(sel);
  if ((sel & 0xFFFC) == 0) {
    if (seg == kSs) {
      // A null SS is allowed only in 64-bit mode below CPL 3 with RPL = CPL.
      if (!long64_ || cpl_ == 3 || rpl != cpl_) raise_gp(0);
      s_.seg[kSs] = SegReg{sel, 0, 0, kAttrUnusable | 0x93 | (cpl_ << 5)};
      block();
      return;
    }
    set_null_segment(seg, sel);
    return;
  }
  Descriptor d = read_descriptor(sel, Vector::kGP);
  uint32_t err = sel & 0xFFFC;
  if (seg == kSs) {
    if (rpl != cpl_ || d.dpl() != cpl_ || !d.s() || (d.type() & kTypeCode) ||
        !(d.type() & kTypeWritable))
      raise_gp(err);
    if (!d.present()) raise_fault(Vector::kSS, err);
  } else {
    if (!d.s() || ((d.type() & kTypeCode) && !(d.type() & kTypeReadable))) raise_gp(err);
    bool conforming_code = (d.type() & kTypeCode) && (d.type() & kTypeConforming);
    if (!conforming_code && (rpl > d.dpl() || cpl_ > d.dpl())) raise_gp(err);
    if (!d.present()) raise_fault(Vector::kNP, err);
  }
  set_descriptor_accessed(sel, d);
  set_segment(seg, sel, d);
  block();
}

Descriptor CpuImpl::check_code_segment(uint16_t sel, unsigned new_cpl, bool ret) {
  uint32_t err = sel & 0xFFFC;
  if (err == 0) raise_gp(0);
  Descriptor d = read_descriptor(sel, Vector::kGP);
  // Why: call gates, task gates and TSS targets (hardware task switch) are not
  // implemented; a far transfer through them raises #GP(selector).
  if (!d.is_code()) raise_gp(err);
  unsigned rpl = selector_rpl(sel);
  if (d.type() & kTypeConforming) {
    if (d.dpl() > (ret ? rpl : cpl_)) raise_gp(err);
  } else if (ret) {
    if (d.dpl() != rpl) raise_gp(err);
  } else if (rpl > cpl_ || d.dpl() != cpl_) {
    raise_gp(err);
  }
  if (long_mode_ && d.l() && d.db()) raise_gp(err);
  if (!d.present()) raise_fault(Vector::kNP, err);
  (void)new_cpl;
  return d;
}

namespace {
/// Return to an outer privilege level (IRET, far RET): ES, DS, FS and GS holding data or
/// non-conforming code segments more privileged than the new CPL become null. The SDM's
/// pseudo-code sets only the selector to 0 (the register becomes unusable); the hidden base
/// stays, which 64-bit mode still uses for FS and GS.
void invalidate_data_segments(ArchState& s, unsigned cpl) {
  for (unsigned seg : {kEs, kDs, kFs, kGs}) {
    SegReg& r = s.seg[seg];
    bool conforming_code = (r.attr & kTypeCode) && (r.attr & kTypeConforming);
    if (!(r.attr & kAttrUnusable) && !conforming_code && attr_dpl(r.attr) < cpl) {
      r.selector = 0;
      r.attr = kAttrUnusable;
    }
  }
}

/// Checks a far target offset against the new CS (limit, or canonical in 64-bit code for
/// the linear-address width in force: `canonical` is CpuImpl::canonical of the offset).
void check_target(const Descriptor& d, bool long_mode, uint64_t offset, bool canonical) {
  if (long_mode && d.l()) {
    if (!canonical) raise_gp(0);
  } else if (offset > d.limit()) {
    raise_gp(0);
  }
}
}  // namespace

void CpuImpl::far_jump(uint16_t sel, uint64_t offset, unsigned opsize) {
  offset &= ip_mask(opsize);
  if (!protected_ || (s_.rflags & kFlagVM)) {
    s_.seg[kCs].selector = sel;
    s_.seg[kCs].base = uint64_t{sel} << 4;
    next_rip_ = offset;
    return;
  }
  Descriptor d = check_code_segment(sel, cpl_, false);
  check_target(d, long_mode_, offset, canonical(offset));
  set_descriptor_accessed(sel, d);
  set_segment(kCs, static_cast<uint16_t>((sel & 0xFFFC) | cpl_), d);
  next_rip_ = offset;
  trace_mode_change("far jmp");
}

void CpuImpl::far_call(uint16_t sel, uint64_t offset, unsigned opsize) {
  offset &= ip_mask(opsize);
  uint64_t sp = rsp_offset(-2 * static_cast<int64_t>(opsize));
  uint64_t la = linear(kSs, sp, 2 * opsize, Access::kWrite);
  Descriptor d;
  bool prot = protected_ && !(s_.rflags & kFlagVM);
  if (prot) {
    d = check_code_segment(sel, cpl_, false);
    check_target(d, long_mode_, offset, canonical(offset));
  }
  probe_write_lin(la, 2 * opsize);
  write_lin(la + opsize, opsize, s_.seg[kCs].selector);
  write_lin(la, opsize, next_rip_);
  set_rsp_sized(sp);
  if (!prot) {
    s_.seg[kCs].selector = sel;
    s_.seg[kCs].base = uint64_t{sel} << 4;
  } else {
    set_descriptor_accessed(sel, d);
    set_segment(kCs, static_cast<uint16_t>((sel & 0xFFFC) | cpl_), d);
    trace_mode_change("far call");
  }
  next_rip_ = offset;
}

void CpuImpl::far_return(unsigned opsize, uint16_t pop_bytes) {
  uint64_t ip = peek(0, opsize);
  uint16_t sel = static_cast<uint16_t>(peek(opsize, opsize));
  if (!protected_ || (s_.rflags & kFlagVM)) {
    set_rsp_sized(rsp_offset(2 * opsize + pop_bytes));
    s_.seg[kCs].selector = sel;
    s_.seg[kCs].base = uint64_t{sel} << 4;
    next_rip_ = ip & ip_mask(opsize);
    return;
  }
  unsigned rpl = selector_rpl(sel);
  if (rpl < cpl_) raise_gp(sel & 0xFFFC);
  Descriptor d = check_code_segment(sel, rpl, true);
  ip &= ip_mask(opsize);
  check_target(d, long_mode_, ip, canonical(ip));
  if (rpl == cpl_) {
    set_rsp_sized(rsp_offset(2 * opsize + pop_bytes));
    set_descriptor_accessed(sel, d);
    set_segment(kCs, sel, d);
    next_rip_ = ip;
    update_mode();
    return;
  }
  // Return to an outer privilege level: pop SS:RSP too.
  int64_t base = 2 * opsize + pop_bytes;
  uint64_t new_sp = peek(base, opsize);
  uint16_t ss_sel = static_cast<uint16_t>(peek(base + opsize, opsize));
  unsigned saved_cpl = cpl_;
  cpl_ = rpl;  // checks below are made at the new privilege level
  try {
    if ((ss_sel & 0xFFFC) == 0 && !(long_mode_ && d.l() && rpl != 3)) raise_gp(0);
    if ((ss_sel & 0xFFFC) != 0) {
      Descriptor sd = read_descriptor(ss_sel, Vector::kGP);
      if ((ss_sel & 3) != rpl || sd.dpl() != rpl || !sd.s() || (sd.type() & kTypeCode) ||
          !(sd.type() & kTypeWritable))
        raise_gp(ss_sel & 0xFFFC);
      if (!sd.present()) raise_fault(Vector::kSS, ss_sel & 0xFFFC);
      set_descriptor_accessed(ss_sel, sd);
      set_segment(kSs, ss_sel, sd);
    } else {
      s_.seg[kSs] = SegReg{ss_sel, 0, 0, kAttrUnusable | 0x93 | (rpl << 5)};
    }
  } catch (...) {
    cpl_ = saved_cpl;
    throw;
  }
  set_descriptor_accessed(sel, d);
  set_segment(kCs, sel, d);
  update_mode();
  set_rsp_sized((new_sp + pop_bytes) & (long64_ ? ~0ull : 0xFFFFFFFFull));
  if (!long64_ && !(s_.seg[kSs].attr & kAttrDB)) set_gpr(kRsp, 2, new_sp + pop_bytes);
  next_rip_ = ip;
  // Data segments not accessible at the new CPL become null (SDM RET operation).
  invalidate_data_segments(s_, cpl_);
}

void CpuImpl::iret(unsigned opsize) {
  // IRET unblocks NMIs, even if it faults (SDM 6.7.1); in VMX non-root operation only as
  // the NMI controls allow (Vol. 3C 26.3).
  if (irq_.nmi_blocked && (!vmx_non_root_ || vmx_->iret_unblocks_nmi())) [[unlikely]] {
    iret_unblocked_nmi_ = instructions_;
    irq_.nmi_blocked = false;
  }
  // Real mode, and virtual-8086 mode with IOPL 3 (the caller checked it): a real-mode
  // style return that cannot change IOPL or VM in virtual-8086 mode (SDM IRET operation).
  if (!protected_ || (s_.rflags & kFlagVM)) {
    uint64_t ip = peek(0, opsize);
    uint16_t cs = static_cast<uint16_t>(peek(opsize, opsize));
    uint64_t fl = peek(2 * opsize, opsize);
    set_rsp_sized(rsp_offset(3 * opsize));
    s_.seg[kCs].selector = cs;
    s_.seg[kCs].base = uint64_t{cs} << 4;
    write_rflags(fl, opsize, true);
    next_rip_ = ip & ip_mask(opsize);
    return;
  }
  // Why: nested-task return (NT=1) needs hardware task switching, which is not
  // implemented: #GP(0).
  if ((s_.rflags & kFlagNT) && !long_mode_) raise_gp(0);
  uint64_t ip = peek(0, opsize);
  uint16_t sel = static_cast<uint16_t>(peek(opsize, opsize));
  uint64_t fl = peek(2 * opsize, opsize);
  if (!long_mode_ && opsize == 4 && (fl & kFlagVM) && cpl_ == 0) {
    iret_to_v8086(ip, sel, fl);
    return;
  }
  unsigned rpl = selector_rpl(sel);
  if (rpl < cpl_) raise_gp(sel & 0xFFFC);
  Descriptor d = check_code_segment(sel, rpl, true);
  ip &= ip_mask(opsize);
  check_target(d, long_mode_, ip, canonical(ip));
  bool pop_stack = long64_ || rpl != cpl_;
  uint64_t new_sp = 0;
  uint16_t ss_sel = 0;
  Descriptor sd;
  if (pop_stack) {
    new_sp = peek(3 * opsize, opsize);
    ss_sel = static_cast<uint16_t>(peek(4 * opsize, opsize));
    if ((ss_sel & 0xFFFC) == 0) {
      if (!(long_mode_ && d.l() && rpl != 3)) raise_gp(0);
    } else {
      sd = read_descriptor(ss_sel, Vector::kGP);
      if ((ss_sel & 3) != rpl || sd.dpl() != rpl || !sd.s() || (sd.type() & kTypeCode) ||
          !(sd.type() & kTypeWritable))
        raise_gp(ss_sel & 0xFFFC);
      if (!sd.present()) raise_fault(Vector::kSS, ss_sel & 0xFFFC);
    }
  }
  // Commit. RFLAGS privilege rules use the CPL before the return.
  write_rflags(fl, opsize, true);
  set_descriptor_accessed(sel, d);
  set_segment(kCs, sel, d);
  if (pop_stack) {
    if ((ss_sel & 0xFFFC) == 0) {
      s_.seg[kSs] = SegReg{ss_sel, 0, 0, kAttrUnusable | 0x93 | (rpl << 5)};
    } else {
      set_descriptor_accessed(ss_sel, sd);
      set_segment(kSs, ss_sel, sd);
    }
    update_mode();
    if (long64_ || (s_.seg[kSs].attr & kAttrDB))
      s_.gpr[kRsp] = long64_ ? new_sp : new_sp & 0xFFFFFFFF;
    else
      set_gpr(kRsp, 2, new_sp);
  } else {
    set_rsp_sized(rsp_offset(3 * opsize));
    update_mode();
  }
  next_rip_ = ip;
  if (rpl > 0) invalidate_data_segments(s_, cpl_);
}

void CpuImpl::iret_to_v8086(uint64_t ip, uint16_t cs, uint64_t fl) {
  // The 32-bit frame continues with ESP, SS, ES, DS, FS, GS; every segment register gets a
  // real-mode style base, limit 0xFFFF and access rights 0xF3 (SDM IRET "RETURN-TO-
  // VIRTUAL-8086-MODE", 20.2.1).
  uint64_t esp = peek(12, 4);
  uint16_t sels[kNumSegs];  // by segment register
  sels[kCs] = cs;
  sels[kSs] = static_cast<uint16_t>(peek(16, 4));
  sels[kEs] = static_cast<uint16_t>(peek(20, 4));
  sels[kDs] = static_cast<uint16_t>(peek(24, 4));
  sels[kFs] = static_cast<uint16_t>(peek(28, 4));
  sels[kGs] = static_cast<uint16_t>(peek(32, 4));
  s_.rflags = (fl & 0x3F7FD5) | 2;  // every flag (CPL 0), VM included
  interrupts_may_open();
  for (int k = 0; k < kNumSegs; ++k)
    s_.seg[k] = SegReg{sels[k], uint64_t{sels[k]} << 4, 0xFFFF, 0xF3};
  s_.gpr[kRsp] = esp & 0xFFFFFFFF;
  next_rip_ = ip & 0xFFFF;
  update_mode();
  if (s_.rflags & (kFlagTF | kFlagRF)) {
    if (fl & kFlagRF) dbg_.rf_loaded = true;
    debug_update();
  }
}

void CpuImpl::write_rflags(uint64_t v, unsigned opsize, bool iret) {
  uint64_t mask = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagTF | kFlagDF | kFlagOF |
                  kFlagNT | kFlagAC | kFlagID;
  if (iret) mask |= kFlagRF;
  unsigned iopl = (s_.rflags >> 12) & 3;
  if (!protected_ || cpl_ == 0)
    mask |= kFlagIOPL | kFlagIF;
  else if (cpl_ <= iopl)
    mask |= kFlagIF;
  if (opsize == 2) mask &= 0xFFFF;
  s_.rflags = (s_.rflags & ~mask) | (v & mask) | 2;
  interrupts_may_open();
  if (s_.rflags & (kFlagTF | kFlagRF)) {
    if (iret && (v & kFlagRF)) dbg_.rf_loaded = true;
    debug_update();
  }
}

}  // namespace hvsim::cpu
