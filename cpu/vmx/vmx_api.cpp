// The C++ front door to the VMX engine (cpu/vmx/vmx_api.h); Intel SDM Vol. 3C ch. 24-28, 31.
#include "cpu/vmx/vmx_api.h"

#include "cpu/cpu.h"
#include "cpu/cpu_impl.h"

namespace hvsim::cpu::vmx {

namespace {
/// Runs `op`; an exception its instruction would raise becomes VmStatus::kFault.
template <typename Op>
VmResult guarded(Op&& op) {
  try {
    return op();
  } catch (const Fault& f) {
    return VmResult{VmStatus::kFault, {}, f.vector};
  }
}
/// Guest instructions per engine call: the machine's stop flag is looked at in between.
constexpr uint64_t kChunk = 100000;
}  // namespace

VmxApi::VmxApi(Cpu& cpu) : cpu_(cpu), vmx_(cpu.vmx()) {}

VmResult VmxApi::vmxon(uint64_t pa) {
  return guarded([&] { return vmx_.vmxon(pa); });
}
VmResult VmxApi::vmxoff() {
  return guarded([&] { return vmx_.vmxoff(); });
}
VmResult VmxApi::vmclear(uint64_t pa) {
  return guarded([&] { return vmx_.vmclear(pa); });
}
VmResult VmxApi::vmptrld(uint64_t pa) {
  return guarded([&] { return vmx_.vmptrld(pa); });
}
uint64_t VmxApi::vmptrst() {
  uint64_t p = ~0ull;
  guarded([&] {
    p = vmx_.vmptrst();
    return VmResult{};
  });
  return p;
}
VmResult VmxApi::vmread(uint64_t encoding, uint64_t* value) {
  return guarded([&] { return vmx_.vmread(encoding, value); });
}
VmResult VmxApi::vmwrite(uint64_t encoding, uint64_t value) {
  return guarded([&] { return vmx_.vmwrite(encoding, value); });
}
VmResult VmxApi::invept(uint64_t type, uint64_t eptp) {
  return guarded([&] {
    vmx_.check_instruction();
    return vmx_.invept_desc(type, eptp, 0);
  });
}
VmResult VmxApi::invvpid(uint64_t type, uint16_t vpid, uint64_t linear) {
  return guarded([&] {
    vmx_.check_instruction();
    return vmx_.invvpid_desc(type, vpid, linear);
  });
}
uint64_t VmxApi::read(VmcsField f) {
  uint64_t v = 0;
  if (!vmread(f, &v).ok()) return 0;
  return v;
}

bool VmxApi::in_guest() const {
  return vmx_.non_root();
}

RunResult VmxApi::vm_enter(Entry e, uint64_t max_instructions) {
  RunResult r;
  uint64_t exits = vmx_.exits();
  vmx_.c_.materialize_flags();
  r.entry = guarded([&] { return vmx_.vm_entry(e == Entry::kLaunch); });
  if (!r.entry.ok()) {
    r.kind = RunResult::Kind::kEntryFailed;
    return r;
  }
  if (vmx_.exits() != exits) {  // a VM-entry failure, or an exit during event injection
    r.kind = RunResult::Kind::kExit;
    r.exit = vmx_.last_exit();
    return r;
  }
  return run(max_instructions);
}

template <typename Loop>
RunResult VmxApi::run_guest(Loop loop) {
  CpuImpl& c = vmx_.c_;
  RunResult r;
  uint64_t start = c.instructions_;
  // The engine's stop flag points at the VMX engine's for the run: a VM exit stops it.
  const bool* saved_stop = c.stop_;
  vmx_.api_running_ = true;
  vmx_.api_stop_ = false;
  c.stop_ = &vmx_.api_stop_;
  r.kind = loop(c, saved_stop, start);
  c.stop_ = saved_stop;
  vmx_.api_running_ = false;
  r.instructions = c.instructions_ - start;
  if (!vmx_.non_root() && c.run_state_ == RunState::kShutdown) {
    r.kind = RunResult::Kind::kShutdown;
  } else if (!vmx_.non_root()) {
    r.kind = RunResult::Kind::kExit;
    r.exit = vmx_.last_exit();
  }
  return r;
}

RunResult VmxApi::run(uint64_t max_instructions) {
  return run_guest([&](CpuImpl& c, const bool* saved_stop, uint64_t start) {
    while (vmx_.non_root()) {
      uint64_t done = c.instructions_ - start;
      if (done >= max_instructions || (saved_stop && *saved_stop)) return RunResult::Kind::kLimit;
      uint64_t n = std::min(kChunk, max_instructions - done);
      if (c.run_state_ == RunState::kRunning) {
        c.execute(~uint64_t{0}, c.instructions_ + n);
      } else {
        // Halted, shutdown or waiting for SIPI: boundary events (an MTF exit, the timer, a
        // signal) are serviced, time goes on to the next wake-up; if only a device event
        // could wake the guest, say so.
        c.idle_until(c.cycles_ + kChunk);
        if (vmx_.non_root() && c.run_state_ != RunState::kRunning && !cpu_.can_wake())
          return RunResult::Kind::kHalted;
      }
    }
    return RunResult::Kind::kLimit;
  });
}

RunResult VmxApi::run_until(uint64_t cycle_target) {
  return run_guest([&](CpuImpl& c, const bool* saved_stop, uint64_t) {
    while (vmx_.non_root() && c.cycles_ < cycle_target && !(saved_stop && *saved_stop) &&
           c.instructions_ < c.instruction_limit_) {
      if (c.run_state_ == RunState::kRunning) {
        c.execute(cycle_target, c.instruction_limit_);
        continue;
      }
      c.idle_until(cycle_target);
      if (vmx_.non_root() && c.run_state_ != RunState::kRunning && !cpu_.can_wake())
        return RunResult::Kind::kHalted;
    }
    return RunResult::Kind::kLimit;
  });
}

VmResult VmxApi::write_host_state_from_current() {
  CpuImpl& c = vmx_.c_;
  const ArchState& s = c.s_;
  c.materialize_flags();
  VmResult res;
  auto w = [&](VmcsField f, uint64_t v) {
    if (res.ok()) res = vmwrite(f, v);
  };
  using F = VmcsField;
  w(F::HOST_CR0, s.cr0);
  w(F::HOST_CR3, s.cr3);
  w(F::HOST_CR4, s.cr4);
  w(F::HOST_ES_SELECTOR, s.seg[kEs].selector & 0xFFF8);
  w(F::HOST_CS_SELECTOR, s.seg[kCs].selector & 0xFFF8);
  w(F::HOST_SS_SELECTOR, s.seg[kSs].selector & 0xFFF8);
  w(F::HOST_DS_SELECTOR, s.seg[kDs].selector & 0xFFF8);
  w(F::HOST_FS_SELECTOR, s.seg[kFs].selector & 0xFFF8);
  w(F::HOST_GS_SELECTOR, s.seg[kGs].selector & 0xFFF8);
  w(F::HOST_TR_SELECTOR, s.tr.selector & 0xFFF8);
  w(F::HOST_FS_BASE, s.seg[kFs].base);
  w(F::HOST_GS_BASE, s.seg[kGs].base);
  w(F::HOST_TR_BASE, s.tr.base);
  w(F::HOST_GDTR_BASE, s.gdtr.base);
  w(F::HOST_IDTR_BASE, s.idtr.base);
  w(F::HOST_IA32_SYSENTER_CS, s.sysenter_cs);
  w(F::HOST_IA32_SYSENTER_ESP, s.sysenter_esp);
  w(F::HOST_IA32_SYSENTER_EIP, s.sysenter_eip);
  w(F::HOST_IA32_EFER, s.efer);
  w(F::HOST_IA32_PAT, s.pat);
  w(F::HOST_RSP, s.gpr[kRsp]);
  w(F::HOST_RIP, s.rip);
  return res;
}

}  // namespace hvsim::cpu::vmx
