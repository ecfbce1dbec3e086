// Exception and interrupt delivery through the IVT/IDT, #DF escalation and triple fault
// (Intel SDM Vol. 3A 6.12 "Exception and interrupt handling", 6.14 "64-bit mode",
// 6.15 "Interrupt 8 - double fault", 20.1.4 real-mode interrupts, 20.3.1.1 interrupts from
// virtual-8086 mode through a trap or interrupt gate).
#include "core/trace.h"
#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

using namespace spec;

void CpuImpl::shutdown(uint8_t vector, std::string reason) {
  if (vmx_non_root_) [[unlikely]]
    return vmx_->triple_fault();  // VM exit, reason 2
  run_state_ = RunState::kShutdown;
  shutdown_ = ShutdownInfo{s_.rip, vector, std::move(reason)};
  if (env_.tracer->enabled())
    trace("triple_fault", {{"rip", s_.rip},
                           {"vector", uint64_t{vector}},
                           {"reason", std::string_view(shutdown_->reason)}});
}

namespace {
/// handle_fault's `outer` for an interrupted event that is benign for the #DF rules
/// (software interrupts); -1 = no interrupted event.
constexpr int kBenignEvent = 256;
}  // namespace

void CpuImpl::handle_fault(const Fault& first, int during_exception) {
  materialize_flags();  // delivery pushes RFLAGS
  if (first.vector == kVmExitVector) [[unlikely]]
    return vmx_->take_pending_exit();  // EPT violation or misconfiguration
  Fault f = first;
  uint64_t ret = (f.soft || f.trap) ? next_rip_ : s_.rip;
  // Faults other than an instruction-breakpoint #DB save RFLAGS with RF = 1, so that the
  // handler's IRET does not re-trigger an instruction breakpoint (SDM 17.3.1.1).
  if (!f.soft && !f.trap) s_.rflags |= kFlagRF;
  // The event whose delivery `f` interrupted (SDM 6.15 Table 6-5): a hardware exception's
  // vector, kBenignEvent, or -1. In VMX non-root operation the exception bitmap sees `f`
  // while that event is still the one being delivered: an exit reports it as IDT-vectoring
  // information (SDM 28.2.4); a #DF or triple fault that results is not "during delivery".
  int outer = during_exception;
  for (;;) {
    if (outer == static_cast<int>(Vector::kDF)) {
      if (vmx_non_root_ && vmx_->intercept_fault(f)) [[unlikely]]
        return;
      if (f.vector < kNumVectorsCounted) ++exceptions_[f.vector];
      if (f.vector == static_cast<uint8_t>(Vector::kPF)) s_.cr2 = f.payload;
      if (vmx_non_root_) vmx_->end_delivery();
      shutdown(f.vector, std::string("triple fault: ") + to_string(static_cast<Vector>(f.vector)) +
                             " while delivering #DF");
      return;
    }
    if (outer >= 0 && outer != kBenignEvent) {
      FaultClass c1 = fault_class(static_cast<uint8_t>(outer));
      FaultClass c2 = fault_class(f.vector);
      if ((c1 == FaultClass::kContributory && c2 == FaultClass::kContributory) ||
          (c1 == FaultClass::kPageFault &&
           (c2 == FaultClass::kContributory || c2 == FaultClass::kPageFault))) {
        if (vmx_non_root_) {
          if (vmx_->intercept_fault(f)) [[unlikely]]
            return;
          vmx_->end_delivery();
        }
        if (f.vector == static_cast<uint8_t>(Vector::kPF)) s_.cr2 = f.payload;
        f = Fault{static_cast<uint8_t>(Vector::kDF), true, 0};
      }
    }
    if (f.soft)
      ++interrupts_;
    else if (f.vector < kNumVectorsCounted)
      ++exceptions_[f.vector];
    if (env_.tracer->enabled() && !f.soft)
      trace("exception", {{"vector", to_string(static_cast<Vector>(f.vector))},
                          {"error", uint64_t{f.has_error ? f.error : 0}},
                          {"rip", s_.rip}});
    if (vmx_non_root_ && vmx_->intercept_fault(f)) [[unlikely]]
      return;  // exception bitmap: CR2 and DR6 stay as they are
    if (!f.soft && f.vector == static_cast<uint8_t>(Vector::kPF)) s_.cr2 = f.payload;
    if (!f.soft && f.vector == static_cast<uint8_t>(Vector::kDB) && f.payload) {
      s_.dr[6] |= f.payload & kDr6Writable;
      if (f.payload & kDr6Bd) s_.dr[7] &= ~kDr7Gd;  // general detect (SDM 17.2.4)
    }
    if (vmx_non_root_) [[unlikely]]
      vmx_->begin_delivery(f, ret);
    try {
      deliver(f.vector, f.has_error, f.error, f.soft, ret);
      iret_unblocked_nmi_ = ~0ull;
      if (vmx_non_root_) [[unlikely]]
        vmx_->end_delivery();
      return;
    } catch (const Fault& f2) {
      if (f2.vector == kVmExitVector) [[unlikely]]
        return vmx_->take_pending_exit();  // EPT-induced exit while delivering an event
      outer = f.soft ? kBenignEvent : f.vector;
      f = f2;
      f.soft = false;
      ret = s_.rip;
    }
  }
}

void CpuImpl::deliver(uint8_t vector, bool has_error, uint32_t error, bool soft,
                      uint64_t return_rip) {
  if (!protected_)
    deliver_real(vector, return_rip);
  else if (long_mode_)
    deliver_long(vector, has_error, error, soft, return_rip);
  else
    deliver_protected(vector, has_error, error, soft, return_rip);
  if (run_state_ == RunState::kHalted) run_state_ = RunState::kRunning;
}

void CpuImpl::deliver_real(uint8_t vector, uint64_t return_rip) {
  if (vector * 4u + 3 > s_.idtr.limit) raise_gp(vector * 8u + 2);
  uint64_t ent = read_lin(s_.idtr.base + vector * 4u, 4, Access::kRead, true);
  uint64_t sp0 = s_.gpr[kRsp];
  uint64_t sp = (sp0 - 6) & 0xFFFF;
  uint64_t la = linear(kSs, sp, 6, Access::kWrite);
  probe_write_lin(la, 6);
  write_mem(kSs, (sp + 4) & 0xFFFF, 2, s_.rflags & 0xFFFF);
  write_mem(kSs, (sp + 2) & 0xFFFF, 2, s_.seg[kCs].selector);
  write_mem(kSs, sp, 2, return_rip & 0xFFFF);
  set_gpr(kRsp, 2, sp);
  s_.rflags &= ~(kFlagIF | kFlagTF | kFlagAC | kFlagRF);
  uint16_t cs = static_cast<uint16_t>(ent >> 16);
  s_.seg[kCs].selector = cs;
  s_.seg[kCs].base = uint64_t{cs} << 4;
  s_.rip = ent & 0xFFFF;
}

namespace {
bool is_interrupt_or_trap_gate(uint32_t type, bool long_mode) {
  if (type == static_cast<uint32_t>(SystemType::kInterruptGate) ||
      type == static_cast<uint32_t>(SystemType::kTrapGate))
    return true;
  return !long_mode && (type == static_cast<uint32_t>(SystemType::kInterruptGate16) ||
                        type == static_cast<uint32_t>(SystemType::kTrapGate16));
}
}  // namespace

void CpuImpl::deliver_long(uint8_t vector, bool has_error, uint32_t error, bool soft,
                           uint64_t return_rip) {
  uint32_t ext = soft ? 0 : kErrExt;
  uint32_t idt_err = vector * 8u + kErrIdt + ext;
  if (vector * 16u + 15 > s_.idtr.limit) raise_gp(idt_err);
  Gate g;
  g.lo = read_lin(s_.idtr.base + vector * 16u, 8, Access::kRead, true);
  g.hi = read_lin(s_.idtr.base + vector * 16u + 8, 8, Access::kRead, true);
  if (!is_interrupt_or_trap_gate(g.type(), true)) raise_gp(idt_err);
  if (soft && g.dpl() < cpl_) raise_gp(idt_err);
  if (!g.present()) raise_fault(Vector::kNP, idt_err);
  uint16_t sel = g.selector();
  uint32_t sel_err = (sel & 0xFFFC) + ext;
  if ((sel & 0xFFFC) == 0) raise_gp(ext);
  Descriptor d = read_descriptor(sel, Vector::kGP);
  if (!d.is_code() || !d.l() || d.db() || d.dpl() > cpl_) raise_gp(sel_err);
  if (!d.present()) raise_fault(Vector::kNP, sel_err);
  unsigned new_cpl = (d.type() & kTypeConforming) ? cpl_ : d.dpl();
  uint64_t rsp;
  auto tss_read = [&](uint32_t off) {
    if (off + 7 > s_.tr.limit) raise_fault(Vector::kTS, (s_.tr.selector & 0xFFFC) + ext);
    return read_lin(s_.tr.base + off, 8, Access::kRead, true);
  };
  if (g.ist())
    rsp = tss_read(kTss64Ist1 + (g.ist() - 1) * 8);
  else if (new_cpl < cpl_)
    rsp = tss_read(kTss64Rsp0 + new_cpl * 8);
  else
    rsp = s_.gpr[kRsp];
  rsp &= ~0xFull;
  unsigned n = has_error ? 6 : 5;
  uint64_t frame = rsp - n * 8;
  if (!canonical(rsp) || !canonical(frame)) raise_fault(Vector::kSS, ext);
  bool user = new_cpl == 3;
  // Check the whole frame before writing any of it.
  translate(frame, Access::kWrite, user);
  translate(rsp - 1, Access::kWrite, user);
  uint64_t vals[6];
  unsigned k = 0;
  if (has_error) vals[k++] = error;
  vals[k++] = return_rip;
  vals[k++] = s_.seg[kCs].selector;
  vals[k++] = s_.rflags;
  vals[k++] = s_.gpr[kRsp];
  vals[k++] = s_.seg[kSs].selector;
  for (unsigned j = 0; j < n; ++j) write_lin(frame + j * 8, 8, vals[j], !user);
  if (new_cpl != cpl_) {
    s_.seg[kSs] =
        SegReg{static_cast<uint16_t>(new_cpl), 0, 0, kAttrUnusable | 0x93 | (new_cpl << 5)};
  }
  set_descriptor_accessed(sel, d);
  set_segment(kCs, static_cast<uint16_t>((sel & 0xFFFC) | new_cpl), d);
  s_.gpr[kRsp] = frame;
  s_.rip = g.offset();
  s_.rflags &= ~(kFlagTF | kFlagNT | kFlagRF | kFlagVM);
  if (g.type() == static_cast<uint32_t>(SystemType::kInterruptGate)) s_.rflags &= ~kFlagIF;
  update_mode();
}

void CpuImpl::deliver_protected(uint8_t vector, bool has_error, uint32_t error, bool soft,
                                uint64_t return_rip) {
  uint32_t ext = soft ? 0 : kErrExt;
  uint32_t idt_err = vector * 8u + kErrIdt + ext;
  if (vector * 8u + 7 > s_.idtr.limit) raise_gp(idt_err);
  Gate g;
  g.lo = read_lin(s_.idtr.base + vector * 8u, 8, Access::kRead, true);
  // Why: task gates (hardware task switching) are not implemented; they raise #GP.
  if (!is_interrupt_or_trap_gate(g.type(), false)) raise_gp(idt_err);
  if (soft && g.dpl() < cpl_) raise_gp(idt_err);
  if (!g.present()) raise_fault(Vector::kNP, idt_err);
  uint64_t offset = (g.lo & 0xFFFF) | (((g.lo >> 48) & 0xFFFF) << 16);
  bool gate32 = g.type() & 8;
  unsigned sz = gate32 ? 4 : 2;
  if (!gate32) offset &= 0xFFFF;
  uint16_t sel = g.selector();
  uint32_t sel_err = (sel & 0xFFFC) + ext;
  if ((sel & 0xFFFC) == 0) raise_gp(ext);
  Descriptor d = read_descriptor(sel, Vector::kGP);
  if (!d.is_code() || d.dpl() > cpl_) raise_gp(sel_err);
  // From virtual-8086 mode the handler must be nonconforming DPL-0 code (SDM 20.3.1.1).
  bool v8086 = s_.rflags & kFlagVM;
  if (v8086 && ((d.type() & kTypeConforming) || d.dpl() != 0)) raise_gp(sel_err);
  if (!d.present()) raise_fault(Vector::kNP, sel_err);
  unsigned new_cpl = (d.type() & kTypeConforming) ? cpl_ : d.dpl();
  if (offset > d.limit()) raise_gp(ext);
  // Stack: the TSS's SSn:ESPn on a privilege change, else the current one.
  SegReg new_ss = s_.seg[kSs];
  uint64_t esp = s_.gpr[kRsp];
  Descriptor ss_desc;
  uint16_t ss_sel = new_ss.selector;
  bool switched = new_cpl < cpl_;
  if (switched) {
    uint32_t off = kTss32Esp0 + new_cpl * 8;
    if (off + 5 > s_.tr.limit) raise_fault(Vector::kTS, (s_.tr.selector & 0xFFFC) + ext);
    esp = read_lin(s_.tr.base + off, 4, Access::kRead, true);
    ss_sel = static_cast<uint16_t>(read_lin(s_.tr.base + off + 4, 2, Access::kRead, true));
    uint32_t ss_err = (ss_sel & 0xFFFC) + ext;
    if ((ss_sel & 0xFFFC) == 0) raise_fault(Vector::kTS, ext);
    ss_desc = read_descriptor(ss_sel, Vector::kTS);
    if ((ss_sel & 3) != new_cpl || ss_desc.dpl() != new_cpl || !ss_desc.s() ||
        (ss_desc.type() & kTypeCode) || !(ss_desc.type() & kTypeWritable))
      raise_fault(Vector::kTS, ss_err);
    if (!ss_desc.present()) raise_fault(Vector::kSS, ss_err);
    new_ss = SegReg{ss_sel, ss_desc.base(), ss_desc.limit(), ss_desc.attr()};
  }
  // From virtual-8086 mode ES, DS, FS and GS are pushed too, above SS (SDM Figure 20-4).
  unsigned n = (switched ? 5 : 3) + (v8086 ? 4 : 0) + (has_error ? 1 : 0);
  uint64_t smask = (new_ss.attr & kAttrDB) ? 0xFFFFFFFF : 0xFFFF;
  uint64_t sp = (esp - n * sz) & smask;
  if (sp + n * sz - 1 > new_ss.limit && !(attr_type(new_ss.attr) & kTypeExpandDown))
    raise_fault(Vector::kSS, switched ? (ss_sel & 0xFFFC) + ext : ext);
  uint64_t la = (new_ss.base + sp) & 0xFFFFFFFF;
  bool user = new_cpl == 3;
  translate(la, Access::kWrite, user);
  translate((la + n * sz - 1) & 0xFFFFFFFF, Access::kWrite, user);
  uint64_t vals[10];
  unsigned k = 0;
  if (has_error) vals[k++] = error;
  vals[k++] = return_rip;
  vals[k++] = s_.seg[kCs].selector;
  vals[k++] = s_.rflags;
  if (switched) {
    vals[k++] = s_.gpr[kRsp];
    vals[k++] = s_.seg[kSs].selector;
  }
  if (v8086)
    for (int seg : {kEs, kDs, kFs, kGs}) vals[k++] = s_.seg[seg].selector;
  for (unsigned j = 0; j < n; ++j)
    write_lin((new_ss.base + ((sp + j * sz) & smask)) & 0xFFFFFFFF, sz, vals[j], !user);
  if (switched) {
    set_descriptor_accessed(ss_sel, ss_desc);
    new_ss.attr = ss_desc.attr();  // the cached type has the accessed bit just set
    s_.seg[kSs] = new_ss;
  }
  if (v8086)
    for (int seg : {kEs, kDs, kFs, kGs}) s_.seg[seg] = SegReg{0, 0, 0, kAttrUnusable};
  set_descriptor_accessed(sel, d);
  set_segment(kCs, static_cast<uint16_t>((sel & 0xFFFC) | new_cpl), d);
  if (smask == 0xFFFF)
    set_gpr(kRsp, 2, sp);
  else
    s_.gpr[kRsp] = sp;
  s_.rip = offset;
  s_.rflags &= ~(kFlagTF | kFlagNT | kFlagRF | kFlagVM);
  if (!(g.type() & 1)) s_.rflags &= ~kFlagIF;
  update_mode();
}

}  // namespace hvsim::cpu
