// The VMX instructions as guest software executes them: operand decoding, VM exits in
// non-root operation, RFLAGS for VMsucceed/VMfail (Intel SDM Vol. 3C ch. 31 "VMX instruction
// reference", 31.2 "Conventions"; VM-exit instruction information, 28.2.5 Table 28-13).
// Also the handlers of instructions hvsim implements only as VM exits (MONITOR, MWAIT,
// RDPMC: #UD otherwise) and PAUSE.
#include <Zydis/Zydis.h>

#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

namespace {

using vmx::ExitReason;
using vmx::VmResult;
using vmx::VmStatus;
using C = CpuImpl;

constexpr uint64_t kStatusFlags = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;

/// VMsucceed / VMfail define all six arithmetic flags (the lazily kept ones): any lazy
/// state is dropped, not computed.
void set_status(C& c, const VmResult& r) {
  static_assert(kStatusFlags == kArithFlags);
  uint64_t f = c.s_.rflags & ~kStatusFlags;
  if (r.status == VmStatus::kFailInvalid) f |= kFlagCF;
  if (r.status == VmStatus::kFailValid) f |= kFlagZF;
  c.s_.rflags = f;
  c.lf_op_ = LazyOp::kNone;
}

/// VM-exit instruction information of a VMX instruction (SDM Table 28-13).
uint32_t insn_info(const C& c, const Insn& i, int reg1, int reg2) {
  using namespace vmx::spec;
  uint32_t info = 0;
  unsigned asz = i.addrsize == 2 ? 0 : i.addrsize == 4 ? 1 : 2;
  info |= asz << kInsnInfoAddrSizeShift;
  if (reg1 >= 0) {
    info |= kInsnInfoRegister | (static_cast<uint32_t>(reg1) << kInsnInfoReg1Shift);
  } else {
    info |= uint32_t{i.mem.scale} << kInsnInfoScalingShift;
    info |= uint32_t{i.mem.seg} << kInsnInfoSegShift;
    if (i.mem.index >= 0)
      info |= static_cast<uint32_t>(i.mem.index) << kInsnInfoIndexShift;
    else
      info |= kInsnInfoIndexInvalid;
    if (i.mem.base >= 0)
      info |= static_cast<uint32_t>(i.mem.base) << kInsnInfoBaseShift;
    else
      info |= kInsnInfoBaseInvalid;
  }
  if (reg2 >= 0) info |= static_cast<uint32_t>(reg2) << kInsnInfoReg2Shift;
  (void)c;
  return info;
}

/// In non-root operation every VMX instruction exits; the #UD checks come first.
bool exit_in_non_root(C& c, const Insn& i, ExitReason r, int reg1 = -1, int reg2 = -1) {
  if (!c.vmx_non_root_) return false;
  uint64_t qual = i.op[0].kind == OpKind::kMem || i.op[1].kind == OpKind::kMem
                      ? static_cast<uint64_t>(i.mem.disp)
                      : 0;
  c.vmx_->exit_for_instruction(i, r, qual, insn_info(c, i, reg1, reg2));
  return true;
}

/// The 64-bit physical-address operand of VMXON/VMCLEAR/VMPTRLD.
uint64_t pointer_operand(C& c, const Insn& i) {
  if (i.op[0].kind != OpKind::kMem) raise_ud();
  return c.read_mem(i.mem.seg, c.ea(i), 8);
}

void vmxon(C& c, const Insn& i) {
  vmx::Vmx& v = *c.vmx_;
  if (!(c.s_.cr4 & kCr4VMXE)) raise_ud();
  v.check_mode();
  if (exit_in_non_root(c, i, ExitReason::VMXON)) return;
  if (!v.check_vmxon()) return set_status(c, v.vmxon(0));  // VMfailValid 15
  set_status(c, v.vmxon(pointer_operand(c, i)));
}

/// #UD outside VMX operation (and in real/V86/compatibility mode), then the VM exit, then
/// #GP(0) at CPL > 0 (what Vmx::check_instruction checks, in the SDM's order).
bool root_checks(C& c, const Insn& i, ExitReason r, int reg1 = -1, int reg2 = -1) {
  c.vmx_->check_mode();
  if (!c.vmx_->in_operation()) raise_ud();
  if (exit_in_non_root(c, i, r, reg1, reg2)) return false;
  if (c.cpl_ != 0) raise_gp(0);
  return true;
}

void vmxoff(C& c, const Insn& i) {
  if (!root_checks(c, i, ExitReason::VMXOFF)) return;
  set_status(c, c.vmx_->vmxoff());
}

void vmclear(C& c, const Insn& i) {
  if (!root_checks(c, i, ExitReason::VMCLEAR)) return;
  set_status(c, c.vmx_->vmclear(pointer_operand(c, i)));
}

void vmptrld(C& c, const Insn& i) {
  if (!root_checks(c, i, ExitReason::VMPTRLD)) return;
  set_status(c, c.vmx_->vmptrld(pointer_operand(c, i)));
}

void vmptrst(C& c, const Insn& i) {
  if (i.op[0].kind != OpKind::kMem) raise_ud();
  if (!root_checks(c, i, ExitReason::VMPTRST)) return;
  uint64_t p = c.vmx_->vmptrst();
  c.write_mem(i.mem.seg, c.ea(i), 8, p);
  set_status(c, VmResult{});
}

// VMREAD r/m, r: op[0] destination, op[1] the field encoding.
void vmread(C& c, const Insn& i) {
  bool reg = i.op[0].kind == OpKind::kReg;
  if (!root_checks(c, i, ExitReason::VMREAD, reg ? i.op[0].reg : -1, i.op[1].reg)) return;
  uint64_t value = 0;
  VmResult r = c.vmx_->vmread_field(c.get_gpr(i.op[1].reg, i.op[1].size), &value);
  if (r.ok()) c.write_op(i, 0, value);
  set_status(c, r);
}

// VMWRITE r, r/m: op[0] the field encoding, op[1] the value.
void vmwrite(C& c, const Insn& i) {
  bool reg = i.op[1].kind == OpKind::kReg;
  if (!root_checks(c, i, ExitReason::VMWRITE, reg ? i.op[1].reg : -1, i.op[0].reg)) return;
  uint64_t value = c.read_op(i, 1);
  set_status(c, c.vmx_->vmwrite_field(c.get_gpr(i.op[0].reg, i.op[0].size), value));
}

template <bool kLaunch>
void vm_enter(C& c, const Insn& i) {
  if (!root_checks(c, i, kLaunch ? ExitReason::VMLAUNCH : ExitReason::VMRESUME)) return;
  VmResult r = c.vmx_->vm_entry(kLaunch);
  // On success the processor runs the guest (or, after a VM-entry failure, the host at
  // HOST_RIP): next_rip_ and RFLAGS are already those of the new context.
  if (!r.ok()) set_status(c, r);
}

void vmcall(C& c, const Insn& i) {
  if (!c.vmx_->in_operation()) raise_ud();
  if (exit_in_non_root(c, i, ExitReason::VMCALL)) return;
  c.vmx_->check_instruction();
  set_status(c, c.vmx_->vmcall_root());
}

/// INVEPT r, m128 / INVVPID r, m128 (SDM Vol. 2): #UD, VM exit, #GP(0) at CPL > 0, then
/// the type (the register: 64 bits in 64-bit mode, else 32); an unsupported type fails
/// before the descriptor is read.
template <bool kEpt>
void inv_ept_vpid(C& c, const Insn& i) {
  if (i.op[1].kind != OpKind::kMem) raise_ud();
  if (!root_checks(c, i, kEpt ? ExitReason::INVEPT : ExitReason::INVVPID, -1, i.op[0].reg)) return;
  uint64_t type = c.get_gpr(i.op[0].reg, c.long64_ ? 8 : 4);
  bool supported =
      kEpt ? vmx::Vmx::invept_type_supported(type) : vmx::Vmx::invvpid_type_supported(type);
  if (!supported) {
    set_status(c, kEpt ? c.vmx_->invept_desc(type, 0, 0) : c.vmx_->invvpid_desc(type, 0, 0));
    return;
  }
  uint64_t off = c.ea(i);
  uint64_t lo = c.read_mem(i.mem.seg, off, 8);
  uint64_t hi = c.read_mem(i.mem.seg, off + 8, 8);
  set_status(c, kEpt ? c.vmx_->invept_desc(type, lo, hi) : c.vmx_->invvpid_desc(type, lo, hi));
}

/// MONITOR, MWAIT, RDPMC: VM exits when their controls say so, else #UD (not implemented).
void exit_or_ud(C& c, const Insn& i) {
  if (c.vmx_non_root_ && c.vmx_->intercept(i)) return;
  raise_ud();
}

void pause(C& c, const Insn& i) {
  if (c.vmx_non_root_) [[unlikely]]
    c.vmx_->intercept(i);
}

}  // namespace

void register_vmx(HandlerTable t) {
  t[ZYDIS_MNEMONIC_VMXON] = &vmxon;
  t[ZYDIS_MNEMONIC_VMXOFF] = &vmxoff;
  t[ZYDIS_MNEMONIC_VMCLEAR] = &vmclear;
  t[ZYDIS_MNEMONIC_VMPTRLD] = &vmptrld;
  t[ZYDIS_MNEMONIC_VMPTRST] = &vmptrst;
  t[ZYDIS_MNEMONIC_VMREAD] = &vmread;
  t[ZYDIS_MNEMONIC_VMWRITE] = &vmwrite;
  t[ZYDIS_MNEMONIC_VMLAUNCH] = &vm_enter<true>;
  t[ZYDIS_MNEMONIC_VMRESUME] = &vm_enter<false>;
  t[ZYDIS_MNEMONIC_VMCALL] = &vmcall;
  t[ZYDIS_MNEMONIC_INVEPT] = &inv_ept_vpid<true>;
  t[ZYDIS_MNEMONIC_INVVPID] = &inv_ept_vpid<false>;
  t[ZYDIS_MNEMONIC_MONITOR] = &exit_or_ud;
  t[ZYDIS_MNEMONIC_MWAIT] = &exit_or_ud;
  t[ZYDIS_MNEMONIC_RDPMC] = &exit_or_ud;
  t[ZYDIS_MNEMONIC_PAUSE] = &pause;
  // Why VMREAD and VMWRITE keep their block going (a hypervisor's exit handler is mostly
  // these): in root operation they change nothing but the VMCS, an operand and the status
  // flags (set_status, lazy-flag aware). In non-root operation they exit, which changes
  // mode and RIP; the exit raises attention_, so the block ends right after them.
  mark_straight_line(ZYDIS_MNEMONIC_VMREAD);
  mark_straight_line(ZYDIS_MNEMONIC_VMWRITE);
}

}  // namespace hvsim::cpu
