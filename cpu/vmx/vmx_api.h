// The C++ front door to the processor's VMX engine: the operations of the VMX instructions
// for the hypervisor in hv/ (Intel SDM Vol. 3C ch. 24-28, 31). DESIGN.md: "The hypervisor
// drives emulated hardware the way real software does".
//
// Each call mirrors one instruction and runs the same code a guest's instruction runs
// (cpu/vmx/vmx_ops.cpp, vm_entry.cpp, vm_exit.cpp), with the same checks: the processor
// must be in a state where the instruction would work (CR4.VMXE, IA32_FEATURE_CONTROL,
// CPL 0, protected mode, not compatibility mode). Where the instruction would raise an
// exception, the call returns VmStatus::kFault with the vector and changes nothing.
//
// The seam is vendor-neutral in its shape: load a control structure, read and write its
// fields, enter the guest, get the exit. A later AMD SVM back-end (VMRUN, the VMCB, #VMEXIT)
// implements the same kind of interface where it can (vm_enter = VMRUN, exit = #VMEXIT code).
//
// Typical use:
//   VmxApi vmx(cpu);
//   vmx.vmxon(region_pa);             // after CR4.VMXE and IA32_FEATURE_CONTROL are set
//   vmx.vmclear(vmcs_pa); vmx.vmptrld(vmcs_pa);
//   vmx.vmwrite(VmcsField::GUEST_RIP, ...); ...   // controls, host and guest state
//   RunResult r = vmx.vm_enter(VmxApi::Entry::kLaunch);
//   while (r.kind == RunResult::Kind::kExit) { handle(r.exit); r = vmx.vm_enter(kResume); }
#pragma once

#include <cstdint>

#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {
class Cpu;
}

namespace hvsim::cpu::vmx {

/// The outcome of vm_enter / run.
struct RunResult {
  enum class Kind : uint8_t {
    kExit,         ///< a VM exit (or a VM-entry failure with exit reason 33/34): `exit`
    kEntryFailed,  ///< VMLAUNCH/VMRESUME failed with VMfail or a fault: `entry`
    kLimit,        ///< the instruction budget ran out with the guest still running
    kShutdown,     ///< the processor shut down (a VMX abort)
    kHalted,       ///< the guest is inactive (HLT, shutdown, wait-for-SIPI) and nothing the
                   ///< processor has can wake it
  };
  Kind kind = Kind::kExit;
  VmResult entry;             ///< the entry's status (kEntryFailed)
  ExitInfo exit;              ///< the exit information (kExit)
  uint64_t instructions = 0;  ///< guest instructions executed by this call
};

/// The VMX operations of one processor for C++ callers (hv/ and tests).
class VmxApi {
 public:
  explicit VmxApi(Cpu& cpu);

  /// VMXON with the 4 KiB VMXON region at physical address `region_pa` (its first dword
  /// must hold the revision id, capability(IA32_VMX_BASIC) bits 30:0).
  VmResult vmxon(uint64_t region_pa);
  VmResult vmxoff();
  /// VMCLEAR / VMPTRLD of the VMCS region at `pa`.
  VmResult vmclear(uint64_t pa);
  VmResult vmptrld(uint64_t pa);
  /// VMPTRST: the current-VMCS pointer, ~0 if none (a fault gives ~0 too).
  uint64_t vmptrst();
  /// VMREAD / VMWRITE by field, or by raw encoding (any 64-bit value, as the instruction's
  /// register operand).
  VmResult vmread(VmcsField f, uint64_t* value) { return vmread(static_cast<uint64_t>(f), value); }
  VmResult vmwrite(VmcsField f, uint64_t value) { return vmwrite(static_cast<uint64_t>(f), value); }
  VmResult vmread(uint64_t encoding, uint64_t* value);
  VmResult vmwrite(uint64_t encoding, uint64_t value);
  /// VMREAD that returns the value (0 when the read fails).
  uint64_t read(VmcsField f);
  /// INVEPT / INVVPID of `type` (spec::InveptType / InvvpidType values) with the
  /// instruction's 128-bit descriptor: INVEPT (EPTP, 0), INVVPID (VPID, linear address).
  VmResult invept(uint64_t type, uint64_t eptp);
  VmResult invvpid(uint64_t type, uint16_t vpid, uint64_t linear = 0);

  enum class Entry : uint8_t { kLaunch, kResume };
  /// VMLAUNCH or VMRESUME, then runs the guest until the next VM exit or until
  /// `max_instructions` guest instructions have run (then kLimit; call run() to go on).
  RunResult vm_enter(Entry e, uint64_t max_instructions = ~uint64_t{0});
  /// Continues a guest left running by kLimit.
  RunResult run(uint64_t max_instructions = ~uint64_t{0});
  /// Continues the guest until the next VM exit or until the processor's cycle count
  /// reaches `cycle_target` or its instruction limit (Cpu::set_instruction_limit) (then
  /// kLimit, or kHalted if the guest is halted and nothing but a device can wake it): one
  /// time slice of a physical CPU in hypervisor mode.
  RunResult run_until(uint64_t cycle_target);
  /// True while the processor is in VMX non-root operation.
  bool in_guest() const;

  /// Copies the processor's current state into the host-state fields (CR0/3/4, selectors,
  /// FS/GS/TR/GDTR/IDTR bases, SYSENTER MSRs, EFER, PAT) and sets HOST_RIP/HOST_RSP to the
  /// current RIP/RSP: the state a C++ hypervisor returns to. Requires a current VMCS.
  VmResult write_host_state_from_current();

 private:
  /// Runs the guest with `loop` (which returns kLimit or kHalted) and turns how it ended
  /// into a RunResult (kExit, kShutdown after a VMX abort, or the loop's kind).
  template <typename Loop>
  RunResult run_guest(Loop loop);

  Cpu& cpu_;
  Vmx& vmx_;
};

}  // namespace hvsim::cpu::vmx
