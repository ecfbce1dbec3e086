// Activity states of VMX non-root operation and the signals that end them: HLT, shutdown
// and wait-for-SIPI entered by VM entry, INIT and SIPI VM exits (Intel SDM Vol. 3C 25.4.2
// "Guest non-register state", 26.2 "Other causes of VM exits", 27.7.2 "Activity state",
// 28.3.4 "Saving non-register state"). INIT in VMX root operation is blocked (24.8
// "Restrictions on VMX operation"): CpuImpl::init_blocked in cpu/attention.cpp.
#include "cpu/cpu_impl.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;
using F = VmcsField;

uint64_t Vmx::activity_state() const {
  // The state before the VM exit (28.3.4): an INIT, NMI or timer exit from HLT saves HLT, a
  // SIPI exit saves wait-for-SIPI. A triple fault exits instead of entering shutdown.
  switch (c_.run_state_) {
    case RunState::kHalted: return static_cast<uint64_t>(ActivityState::kHlt);
    case RunState::kShutdown: return static_cast<uint64_t>(ActivityState::kShutdown);
    case RunState::kWaitForSipi: return static_cast<uint64_t>(ActivityState::kWaitForSipi);
    case RunState::kRunning: break;
  }
  return static_cast<uint64_t>(ActivityState::kActive);
}

void Vmx::enter_activity_state(uint64_t activity) {
  // Why kShutdown without CpuImpl::shutdown_: that marks the machine-stopping shutdown of a
  // triple fault outside VMX non-root operation; this one ends with a VM exit or an NMI.
  switch (static_cast<ActivityState>(activity)) {
    case ActivityState::kHlt: c_.run_state_ = RunState::kHalted; break;
    case ActivityState::kShutdown: c_.run_state_ = RunState::kShutdown; break;
    case ActivityState::kWaitForSipi: c_.run_state_ = RunState::kWaitForSipi; break;
    default: c_.run_state_ = RunState::kRunning; break;
  }
}

bool Vmx::nmi_unblocked() const {
  auto pin_c = static_cast<uint32_t>(vmcs_.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  bool virtual_nmis = (pin_c & pin::kNmiExiting) && (pin_c & pin::kVirtualNmis);
  return !(virtual_nmis ? host_nmi_blocked_ : c_.irq_.nmi_blocked);
}

void Vmx::signal_exit(ExitReason r, uint64_t qualification) {
  ExitInfo e;
  e.reason = static_cast<uint32_t>(r);
  e.qualification = qualification;
  vm_exit(e);
}

void Vmx::inactive_boundary() {
  CoreInterruptState& q = c_.irq_;
  if (c_.run_state_ == RunState::kWaitForSipi) {
    // Wait-for-SIPI blocks external interrupts, NMIs, INIT and SMIs (27.7.2); the
    // preemption timer, MTF and window exits do not occur in it. They stay pending. A SIPI
    // causes a VM exit with its vector as the qualification and changes no register.
    if (q.sipi_vector >= 0) {
      auto vector = static_cast<uint64_t>(q.sipi_vector);
      q.sipi_vector = -1;
      signal_exit(ExitReason::START_UP_IPI, vector);
    }
    return;
  }
  // Shutdown blocks external interrupts and SIPIs (27.7.2). The preemption timer, NMI-window
  // exits and NMIs end it (boundary() skips the interrupt window and external interrupts).
  if (boundary()) return;
  auto pin_c = static_cast<uint32_t>(vmcs_.get(F::PIN_BASED_VM_EXECUTION_CONTROLS));
  if (!(pin_c & pin::kNmiExiting) && q.nmi_pending && !q.nmi_blocked) {
    // Delivered through the guest's IDT, the NMI leaves shutdown as it does outside VMX
    // operation (Vol. 3A 6.15 "Interrupt 8"): the processor is active in the handler.
    q.nmi_pending = false;
    q.nmi_blocked = true;
    c_.run_state_ = RunState::kRunning;
    c_.deliver_external(static_cast<uint8_t>(cpu::spec::Vector::kNMI), true);
  }
}

}  // namespace hvsim::cpu::vmx
