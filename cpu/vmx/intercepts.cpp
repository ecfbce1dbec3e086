// VMX non-root operation: instructions that cause VM exits conditionally and
// unconditionally, instructions whose behaviour changes (CR0/CR4 guest/host masks and read
// shadows, TSC offsetting), exceptions and the exception bitmap, triple fault, and the
// instruction-boundary events: monitor trap flag, VMX-preemption timer, NMI window, NMI,
// interrupt window, external interrupts (Intel SDM Vol. 3C ch. 26 "VMX non-root operation":
// 26.1 "Instructions that cause VM exits", 26.2 "Other causes of VM exits", 26.3 "Changes to
// instruction behavior", 26.7 "Features specific to VMX non-root operation").
#include <Zydis/Zydis.h>

#include "cpu/cpu_impl.h"
#include "cpu/spec/msr.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;
using F = VmcsField;

namespace {

/// The linear address of an instruction's memory operand (as INVLPG computes it).
uint64_t operand_linear(const CpuImpl& c, const Insn& i) {
  uint64_t off = c.ea(i);
  if (c.long64_) return off + (i.mem.seg >= kFs ? c.s_.seg[i.mem.seg].base : 0);
  return (c.s_.seg[i.mem.seg].base + off) & 0xFFFFFFFF;
}

}  // namespace

bool Vmx::intercept(const Insn& i) {
  const Vmcs& v = vmcs_;
  auto proc_c = static_cast<uint32_t>(v.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  uint32_t proc2_c =
      (proc_c & proc::kActivateSecondaryControls)
          ? static_cast<uint32_t>(v.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS))
          : 0;
  ArchState& s = c_.s_;
  auto exit_if = [&](bool cond, ExitReason r, uint64_t qual = 0, uint32_t info = 0,
                     uint64_t linear = 0) {
    if (cond) exit_for_instruction(i, r, qual, info, linear);
    return cond;
  };
  auto tsc_offset = [&] { return (proc_c & proc::kUseTscOffsetting) ? v.get(F::TSC_OFFSET) : 0; };
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_CPUID: return exit_if(true, ExitReason::CPUID);
    case ZYDIS_MNEMONIC_INVD: return exit_if(true, ExitReason::INVD);
    case ZYDIS_MNEMONIC_XSETBV: return exit_if(true, ExitReason::XSETBV);
    case ZYDIS_MNEMONIC_HLT: return exit_if(proc_c & proc::kHltExiting, ExitReason::HLT);
    case ZYDIS_MNEMONIC_PAUSE: return exit_if(proc_c & proc::kPauseExiting, ExitReason::PAUSE);
    case ZYDIS_MNEMONIC_MWAIT: return exit_if(proc_c & proc::kMwaitExiting, ExitReason::MWAIT);
    case ZYDIS_MNEMONIC_MONITOR:
      return exit_if(proc_c & proc::kMonitorExiting, ExitReason::MONITOR);
    case ZYDIS_MNEMONIC_RDPMC: return exit_if(proc_c & proc::kRdpmcExiting, ExitReason::RDPMC);
    case ZYDIS_MNEMONIC_WBINVD:
      return exit_if(proc2_c & proc2::kWbinvdExiting, ExitReason::WBINVD_OR_WBNOINVD);
    case ZYDIS_MNEMONIC_INVLPG: {
      uint64_t la = operand_linear(c_, i);
      return exit_if(proc_c & proc::kInvlpgExiting, ExitReason::INVLPG, la);
    }
    case ZYDIS_MNEMONIC_INVPCID:
      if (!(proc2_c & proc2::kEnableInvpcid)) raise_ud();
      return exit_if(proc_c & proc::kInvlpgExiting, ExitReason::INVPCID);
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP: {
      bool p = i.mnemonic == ZYDIS_MNEMONIC_RDTSCP;
      if (p && !(proc2_c & proc2::kEnableRdtscp)) raise_ud();
      if (exit_if(proc_c & proc::kRdtscExiting, p ? ExitReason::RDTSCP : ExitReason::RDTSC))
        return true;
      uint64_t t = c_.tsc() + tsc_offset();
      s.gpr[kRax] = t & 0xFFFFFFFF;
      s.gpr[kRdx] = t >> 32;
      if (p) s.gpr[kRcx] = s.tsc_aux & 0xFFFFFFFF;
      return true;
    }
    case ZYDIS_MNEMONIC_RDMSR:
    case ZYDIS_MNEMONIC_WRMSR: {
      bool write = i.mnemonic == ZYDIS_MNEMONIC_WRMSR;
      auto msr = static_cast<uint32_t>(s.gpr[kRcx]);
      bool exits = true;
      if (proc_c & proc::kUseMsrBitmaps) {
        // SDM 25.6.9: read bitmaps at 0 (low) and 1 KiB (high), write bitmaps at 2 KiB and
        // 3 KiB; MSRs outside 0-1FFFH and C0000000H-C0001FFFH always exit.
        uint64_t base = v.get(F::ADDRESS_OF_MSR_BITMAPS) + (write ? 0x800 : 0);
        if (msr <= 0x1FFF || (msr >= 0xC0000000 && msr <= 0xC0001FFF)) {
          if (msr >= 0xC0000000) base += 0x400;
          uint32_t bit = msr & 0x1FFF;
          exits = (c_.phys_read(base + bit / 8, 1) >> (bit % 8)) & 1;
        }
      }
      if (exit_if(exits, write ? ExitReason::WRMSR : ExitReason::RDMSR)) return true;
      if (!write && msr == static_cast<uint32_t>(cpu::spec::Msr::IA32_TIME_STAMP_COUNTER)) {
        uint64_t t = c_.tsc() + tsc_offset();
        s.gpr[kRax] = t & 0xFFFFFFFF;
        s.gpr[kRdx] = t >> 32;
        return true;
      }
      return false;
    }
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD:
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD:
    case ZYDIS_MNEMONIC_IN:
    case ZYDIS_MNEMONIC_OUT: {
      bool string = i.mnemonic != ZYDIS_MNEMONIC_IN && i.mnemonic != ZYDIS_MNEMONIC_OUT;
      bool in = i.mnemonic == ZYDIS_MNEMONIC_IN || i.mnemonic == ZYDIS_MNEMONIC_INSB ||
                i.mnemonic == ZYDIS_MNEMONIC_INSW || i.mnemonic == ZYDIS_MNEMONIC_INSD;
      unsigned size;
      bool imm = false;
      if (string) {
        size = (i.mnemonic == ZYDIS_MNEMONIC_INSB || i.mnemonic == ZYDIS_MNEMONIC_OUTSB)   ? 1
               : (i.mnemonic == ZYDIS_MNEMONIC_INSW || i.mnemonic == ZYDIS_MNEMONIC_OUTSW) ? 2
                                                                                           : 4;
      } else {
        size = in ? i.op[0].size : i.op[1].size;
        imm = (in ? i.op[1] : i.op[0]).kind == OpKind::kImm;
      }
      auto port = static_cast<uint16_t>(imm ? (i.imm & 0xFF) : s.gpr[kRdx]);
      bool exits;
      if (proc_c & proc::kUseIoBitmaps) {
        exits = false;
        for (unsigned k = 0; k < size; ++k) {
          uint32_t p = port + k;
          if (p > 0xFFFF) {  // wraps around: always exits
            exits = true;
            break;
          }
          uint64_t base = v.get(p < 0x8000 ? F::ADDRESS_OF_IO_BITMAP_A : F::ADDRESS_OF_IO_BITMAP_B);
          uint32_t bit = p & 0x7FFF;
          if ((c_.phys_read(base + bit / 8, 1) >> (bit % 8)) & 1) exits = true;
        }
      } else {
        exits = proc_c & proc::kUnconditionalIoExiting;
      }
      if (!string)
        return exit_if(exits, ExitReason::IO_INSTRUCTION,
                       io_qualification(size, in, false, false, imm, port));
      // INS/OUTS: the linear address of the memory operand (ES:rDI / seg:rSI) and the
      // instruction information (address size, segment; SDM Table 28-8).
      bool rep = i.flags & (kInsnRep | kInsnRepne);
      unsigned seg = in ? unsigned{kEs} : unsigned{i.seg_prefix};
      uint64_t off = c_.get_gpr(in ? kRdi : kRsi, i.addrsize);
      uint64_t la = c_.long64_ ? off + (seg >= kFs ? s.seg[seg].base : 0)
                               : (s.seg[seg].base + off) & 0xFFFFFFFF;
      uint32_t asz = i.addrsize == 2 ? 0 : i.addrsize == 4 ? 1 : 2;
      return exit_if(exits, ExitReason::IO_INSTRUCTION,
                     io_qualification(size, in, true, rep, false, port),
                     (asz << kInsnInfoAddrSizeShift) | (seg << kInsnInfoSegShift), la);
    }
    case ZYDIS_MNEMONIC_CLTS: {
      uint64_t mask = v.get(F::CR0_GUEST_HOST_MASK), shadow = v.get(F::CR0_READ_SHADOW);
      if (!(mask & kCr0TS)) return false;
      if (shadow & kCr0TS)
        return exit_if(true, ExitReason::CONTROL_REGISTER_ACCESSES,
                       cr_access_qualification(0, CrAccessType::kClts, 0));
      return true;  // TS owned by the host and shadowed as 0: CLTS changes nothing
    }
    case ZYDIS_MNEMONIC_LMSW: {
      uint64_t mask = v.get(F::CR0_GUEST_HOST_MASK), shadow = v.get(F::CR0_READ_SHADOW);
      uint64_t src = c_.read_op(i, 0) & 0xFFFF;
      bool mem = i.op[0].kind == OpKind::kMem;
      bool exits = ((mask & kCr0PE) && (src & kCr0PE) && !(shadow & kCr0PE)) ||
                   ((mask & 0xE) & (src ^ shadow));
      if (exit_if(
              exits, ExitReason::CONTROL_REGISTER_ACCESSES,
              cr_access_qualification(0, CrAccessType::kLmsw, 0, mem, static_cast<uint16_t>(src)),
              0, mem ? operand_linear(c_, i) : 0))
        return true;
      uint64_t bits = ((src & ~mask) | (s.cr0 & mask)) & 0xF;
      c_.write_cr(0, (s.cr0 & ~0xEull) | (bits & 0xE) | (s.cr0 & kCr0PE) | (bits & kCr0PE));
      return true;
    }
    case ZYDIS_MNEMONIC_SMSW: {
      uint64_t mask = v.get(F::CR0_GUEST_HOST_MASK), shadow = v.get(F::CR0_READ_SHADOW);
      uint64_t val = (s.cr0 & ~mask) | (shadow & mask);
      if (i.op[0].kind == OpKind::kMem)
        c_.write_op(i, 0, val & 0xFFFF);
      else
        c_.set_gpr(i.op[0].reg, i.op[0].size, val);
      return true;
    }
    case ZYDIS_MNEMONIC_LGDT:
    case ZYDIS_MNEMONIC_LIDT:
    case ZYDIS_MNEMONIC_SGDT:
    case ZYDIS_MNEMONIC_SIDT:
      return exit_if(proc2_c & proc2::kDescriptorTableExiting, ExitReason::ACCESS_TO_GDTR_OR_IDTR,
                     static_cast<uint64_t>(i.mem.disp), 0, operand_linear(c_, i));
    case ZYDIS_MNEMONIC_LLDT:
    case ZYDIS_MNEMONIC_LTR:
    case ZYDIS_MNEMONIC_SLDT:
    case ZYDIS_MNEMONIC_STR:
      return exit_if(proc2_c & proc2::kDescriptorTableExiting, ExitReason::ACCESS_TO_LDTR_OR_TR,
                     static_cast<uint64_t>(i.mem.disp));
    case ZYDIS_MNEMONIC_MOV: break;
    default: return false;
  }
  // MOV to/from CRn and DRn.
  const Operand& d = i.op[0];
  const Operand& src = i.op[1];
  if (d.rc == RegClass::kDr || src.rc == RegClass::kDr) {
    bool from = src.rc == RegClass::kDr;
    unsigned dr = from ? src.reg : d.reg, gpr = from ? d.reg : src.reg;
    if (exit_if(proc_c & proc::kMovDrExiting, ExitReason::MOV_DR,
                mov_dr_qualification(dr, from, gpr)))
      return true;
    if (c_.cpl_ != 0) raise_gp(0);  // MOV-DR exits take priority over the CPL check
    return false;
  }
  if (c_.cpl_ != 0) raise_gp(0);
  bool to_cr = d.rc == RegClass::kCr;
  unsigned cr = to_cr ? d.reg : src.reg, gpr = to_cr ? src.reg : d.reg;
  auto qual = [&] {
    return cr_access_qualification(cr, to_cr ? CrAccessType::kMovToCr : CrAccessType::kMovFromCr,
                                   gpr);
  };
  uint64_t val = to_cr ? c_.get_gpr(src.reg, src.size) : 0;
  switch (cr) {
    case 0:
    case 4: {
      uint64_t mask = v.get(cr == 0 ? F::CR0_GUEST_HOST_MASK : F::CR4_GUEST_HOST_MASK);
      uint64_t shadow = v.get(cr == 0 ? F::CR0_READ_SHADOW : F::CR4_READ_SHADOW);
      uint64_t cur = cr == 0 ? s.cr0 : s.cr4;
      if (!to_cr) {
        c_.set_gpr(d.reg, d.size, (cur & ~mask) | (shadow & mask));
        return true;
      }
      if (exit_if((val ^ shadow) & mask, ExitReason::CONTROL_REGISTER_ACCESSES, qual()))
        return true;
      c_.write_cr(cr, (val & ~mask) | (cur & mask));
      return true;
    }
    case 3: {
      if (!to_cr)
        return exit_if(proc_c & proc::kCr3StoreExiting, ExitReason::CONTROL_REGISTER_ACCESSES,
                       qual());
      if (!(proc_c & proc::kCr3LoadExiting)) return false;
      uint64_t n = v.get(F::CR3_TARGET_COUNT);
      static constexpr F kTargets[] = {F::CR3_TARGET_VALUE_0, F::CR3_TARGET_VALUE_1,
                                       F::CR3_TARGET_VALUE_2, F::CR3_TARGET_VALUE_3};
      for (uint64_t k = 0; k < n && k < 4; ++k)
        if (v.get(kTargets[k]) == val) return false;
      return exit_if(true, ExitReason::CONTROL_REGISTER_ACCESSES, qual());
    }
    case 8: {
      // CR8-load/store exiting take priority over the TPR shadow (SDM 26.1.3, 30.3).
      if (exit_if(proc_c & (to_cr ? proc::kCr8LoadExiting : proc::kCr8StoreExiting),
                  ExitReason::CONTROL_REGISTER_ACCESSES, qual()))
        return true;
      if (!(proc_c & proc::kUseTprShadow)) return false;
      return tpr_shadow_access(to_cr, to_cr ? src.reg : d.reg, to_cr ? src.size : d.size, val);
    }
    default: return false;
  }
}

namespace {

/// How an exception or software interrupt is typed in interruption information (SDM
/// 25.9.2): INT3 and INTO are software exceptions, INT n software interrupts, ICEBP a
/// privileged software exception, everything else a hardware exception.
InterruptionType event_type(const Fault& f) {
  if (f.soft)
    return (f.vector == 3 || f.vector == 4) ? InterruptionType::kSoftwareException
                                            : InterruptionType::kSoftwareInterrupt;
  return f.icebp ? InterruptionType::kPrivilegedSoftwareException
                 : InterruptionType::kHardwareException;
}

}  // namespace

void Vmx::begin_delivery(const Fault& f, uint64_t ret) {
  InterruptionType type = event_type(f);
  bool hardware = type == InterruptionType::kHardwareException;
  uint64_t len = ret - c_.s_.rip;
  begin_delivery(make_intr_info(f.vector, type, hardware && f.has_error),
                 hardware && f.has_error ? f.error : 0,
                 hardware || len > 15 ? 0 : static_cast<uint32_t>(len));
}

bool Vmx::nmi_unblocked_by_iret() const {
  if (c_.iret_unblocked_nmi_ != c_.instructions_ || vectoring_) return false;
  // Undefined (reported as 0) during event delivery and with NMI exiting but no virtual
  // NMIs, where IRET leaves NMI blocking alone (SDM 26.3, 28.2.1 Table 28-7, 28.2.2).
  auto pin_c = static_cast<uint32_t>(vmcs_.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  return !((pin_c & pin::kNmiExiting) && !(pin_c & pin::kVirtualNmis));
}

bool Vmx::iret_unblocks_nmi() const {
  auto pin_c = static_cast<uint32_t>(vmcs_.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  return !(pin_c & pin::kNmiExiting) || (pin_c & pin::kVirtualNmis);
}

bool Vmx::intercept_fault(const Fault& f) {
  const Vmcs& v = vmcs_;
  InterruptionType type = event_type(f);
  // INT n is never intercepted (SDM 26.2).
  if (type == InterruptionType::kSoftwareInterrupt) {
    if (mtf_) mtf_ = 3;
    return false;
  }
  uint32_t bitmap = static_cast<uint32_t>(v.get(F::EXCEPTION_BITMAP));
  bool exits = (bitmap >> (f.vector & 31)) & 1;
  if (f.vector == static_cast<uint8_t>(cpu::spec::Vector::kPF)) {
    auto mask = static_cast<uint32_t>(v.get(F::PAGE_FAULT_ERROR_CODE_MASK));
    auto match = static_cast<uint32_t>(v.get(F::PAGE_FAULT_ERROR_CODE_MATCH));
    bool matches = (f.error & mask) == match;
    exits = exits ? matches : !matches;
  }
  if (f.vector > 31) exits = false;
  if (!exits) {
    if (mtf_) mtf_ = 3;  // the event is delivered through the guest IDT: MTF exit after it
    return false;
  }
  ExitInfo e;
  e.reason = static_cast<uint32_t>(ExitReason::EXCEPTION_OR_NMI);
  e.interruption_info = make_intr_info(f.vector, type, f.has_error);
  e.interruption_error = f.has_error ? f.error : 0;
  // Exit qualification (SDM 28.2.1): #PF the linear address (CR2 is not written), #DB the
  // DR6-format bits B0-B3, BD, BS (DR6 is not written, DR7.GD not cleared; SDM 28.1).
  if (f.vector == static_cast<uint8_t>(cpu::spec::Vector::kPF)) e.qualification = f.payload;
  if (f.vector == static_cast<uint8_t>(cpu::spec::Vector::kDB) && !f.icebp)
    e.qualification = f.payload & (0xF | cpu::spec::kDr6Bd | cpu::spec::kDr6Bs);
  // NMI unblocking due to IRET (bit 12): defined only outside event delivery, not for #DF,
  // and not with NMI exiting but without virtual NMIs (SDM 28.2.2).
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  bool defined = !vectoring_ && f.vector != static_cast<uint8_t>(cpu::spec::Vector::kDF) &&
                 !((pin_c & pin::kNmiExiting) && !(pin_c & pin::kVirtualNmis));
  if (defined && !f.soft && !f.trap && nmi_unblocked_by_iret())
    e.interruption_info |= kIntrInfoNmiUnblockingDueToIret;
  if (type != InterruptionType::kHardwareException) {
    uint64_t len = c_.next_rip_ - c_.s_.rip;
    e.instruction_length = static_cast<uint32_t>(len <= 15 ? len : 0);
  }
  vm_exit(e);
  return true;
}

bool Vmx::tpr_shadow_access(bool write, unsigned reg, unsigned size, uint64_t value) {
  // SDM 30.3 "Virtualizing CR8-based TPR accesses" (no virtual-interrupt delivery): CR8
  // reads and writes VTPR bits 7:4, the byte at offset 80H of the virtual-APIC page.
  const Vmcs& v = vmcs_;
  uint64_t vtpr_pa = v.get(F::VIRTUAL_APIC_ADDRESS) + kVtprOffset;
  if (!write) {
    c_.set_gpr(reg, size, (c_.phys_read(vtpr_pa, 4) >> 4) & 0xF);
    return true;
  }
  if (value >> 4) raise_gp(0);  // reserved bits of CR8, as without the shadow
  // VTPR[7:4] = source[3:0]; VTPR[3:0] and bytes 81H-83H are cleared.
  c_.phys_write(vtpr_pa, 4, (value & 0xF) << 4);
  // TPR virtualization (SDM 30.1.2): VTPR[7:4] below TPR threshold[3:0] causes a trap-like
  // VM exit after the instruction (RIP past the MOV; its debug traps saved as pending).
  if ((value & 0xF) >= (v.get(F::TPR_THRESHOLD) & 0xF)) return true;
  ArchState& s = c_.s_;
  if (c_.dbg_.armed) s.pending_dbg |= c_.dbg_.hits | (c_.dbg_.tf ? cpu::spec::kDr6Bs : 0);
  s.rip = c_.next_rip_;
  ExitInfo e;
  e.reason = static_cast<uint32_t>(ExitReason::TPR_BELOW_THRESHOLD);
  vm_exit(e);
  return true;
}

void Vmx::triple_fault() {
  vectoring_ = 0;  // a triple-fault exit is not "during event delivery" (SDM 28.2.4)
  ExitInfo e;
  e.reason = static_cast<uint32_t>(ExitReason::TRIPLE_FAULT);
  vm_exit(e);
}

bool Vmx::boundary() {
  const Vmcs& v = vmcs_;
  auto pin_c = static_cast<uint32_t>(v.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  auto proc_c = static_cast<uint32_t>(v.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  ArchState& s = c_.s_;
  auto simple_exit = [&](ExitReason r) {
    ExitInfo e;
    e.reason = static_cast<uint32_t>(r);
    vm_exit(e);
    return true;
  };
  // Monitor trap flag (SDM 26.7.2): after the first instruction (or delivered event).
  if (mtf_ == 1) {
    mtf_ = 2;
    mtf_insns_ = c_.instructions_;
  } else if (mtf_ == 3 || (mtf_ == 2 && c_.instructions_ != mtf_insns_)) {
    return simple_exit(ExitReason::MONITOR_TRAP_FLAG);
  }
  // VMX-preemption timer (SDM 26.7.4).
  if (c_.cycles_ >= timer_deadline_) return simple_exit(ExitReason::VMX_PREEMPTION_TIMER_EXPIRED);
  bool shadow = s.interruptibility & (kBlockingBySti | kBlockingByMovSs);
  bool virtual_nmis = pin_c & pin::kVirtualNmis;
  // NMI-window exiting (SDM 26.7.6): no virtual-NMI blocking and no MOV SS blocking.
  if ((proc_c & proc::kNmiWindowExiting) && !c_.irq_.nmi_blocked &&
      !(s.interruptibility & kBlockingByMovSs))
    return simple_exit(ExitReason::NMI_WINDOW);
  // NMI (SDM 26.2): with NMI exiting, an unblocked NMI causes a VM exit.
  bool nmi_blocked = virtual_nmis ? host_nmi_blocked_ : c_.irq_.nmi_blocked;
  if ((pin_c & pin::kNmiExiting) && c_.irq_.nmi_pending && !nmi_blocked && !shadow) {
    c_.irq_.nmi_pending = false;
    ExitInfo e;
    e.reason = static_cast<uint32_t>(ExitReason::EXCEPTION_OR_NMI);
    e.interruption_info = make_intr_info(2, InterruptionType::kNmi, false);
    vm_exit(e);
    c_.irq_.nmi_blocked = true;  // NMIs stay blocked after a VM exit caused by an NMI
    return true;
  }
  // The shutdown activity state blocks external interrupts; interrupt-window exits do not
  // wake it either (SDM 27.7.2, 26.7.5).
  if (c_.run_state_ == RunState::kShutdown) return false;
  // Interrupt-window exiting (SDM 26.7.5).
  if ((proc_c & proc::kInterruptWindowExiting) && (s.rflags & kFlagIF) && !shadow)
    return simple_exit(ExitReason::INTERRUPT_WINDOW);
  // External interrupts (SDM 26.2): with external-interrupt exiting, RFLAGS.IF does not
  // block them.
  if ((pin_c & pin::kExternalInterruptExiting) && !shadow && c_.lapic_->intr_pending()) {
    ExitInfo e;
    e.reason = static_cast<uint32_t>(ExitReason::EXTERNAL_INTERRUPT);
    if (v.get(F::PRIMARY_VM_EXIT_CONTROLS) & exit_ctl::kAcknowledgeInterruptOnExit) {
      int vec = c_.lapic_->acknowledge();
      if (vec >= 0)
        e.interruption_info =
            make_intr_info(static_cast<uint8_t>(vec), InterruptionType::kExternalInterrupt, false);
    }
    vm_exit(e);
    return true;
  }
  // Stay attentive while a window or MTF is armed: the boundary where it opens must see it.
  // An interrupt window closed by IF=0 opens only after an instruction that sets IF, which
  // raises attention itself (CpuImpl::interrupts_may_open).
  if (mtf_ || (proc_c & proc::kNmiWindowExiting) ||
      ((proc_c & proc::kInterruptWindowExiting) && (s.rflags & kFlagIF)))
    c_.attention_ = true;
  return false;
}

}  // namespace hvsim::cpu::vmx
