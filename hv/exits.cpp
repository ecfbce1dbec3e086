// VM-exit handling of the hypervisor (Intel SDM Vol. 3C ch. 26 "VMX non-root operation",
// 28.2 "Recording VM-exit information"): CPUID, port I/O to the device emulation, MSRs the
// bitmap traps, HLT, triple faults, and a crash report for everything not handled yet.
#include <cstdio>

#include "core/io_bus.h"
#include "cpu/spec/descriptors.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/spec/vmcs_layouts.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {

using cpu::vmx::ExitReason;
using cpu::vmx::VmcsField;
using F = VmcsField;
namespace vs = cpu::vmx::spec;

namespace {

/// Injects hardware exception `vector` (with `error` if it has one) at the next entry.
void inject_exception(cpu::vmx::VmxApi& api, uint8_t vector, bool has_error, uint32_t error) {
  uint32_t info =
      vector |
      (static_cast<uint32_t>(vs::InterruptionType::kHardwareException) << vs::kIntrInfoTypeShift) |
      vs::kIntrInfoValid | (has_error ? vs::kIntrInfoErrorCodeValid : 0);
  api.vmwrite(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, info);
  api.vmwrite(F::VM_ENTRY_EXCEPTION_ERROR_CODE, error);
}

}  // namespace

void Hypervisor::skip_instruction(Pcpu& pc, const cpu::vmx::ExitInfo& e) {
  cpu::vmx::VmxApi& api = *pc.api;
  api.vmwrite(F::GUEST_RIP, api.read(F::GUEST_RIP) + e.instruction_length);
  // An instruction that completes ends blocking by STI or MOV SS (SDM 26.3.1.5 for the
  // emulated instruction's boundary).
  uint64_t intr = api.read(F::GUEST_INTERRUPTIBILITY_STATE);
  if (intr & 3) api.vmwrite(F::GUEST_INTERRUPTIBILITY_STATE, intr & ~uint64_t{3});
}

void Hypervisor::handle_cpuid(Pcpu& pc, const Partition& p, const VirtualProcessor& vp) {
  cpu::ArchState& s = pc.cpu->state();
  auto leaf = static_cast<uint32_t>(s.gpr[cpu::kRax]);
  auto sub = static_cast<uint32_t>(s.gpr[cpu::kRcx]);
  uint32_t r[4] = {0, 0, 0, 0};
  if (is_hypervisor_leaf(leaf)) {
    CpuidRegs h = synthetic_cpuid(p.cpuid, leaf);
    r[0] = h.eax, r[1] = h.ebx, r[2] = h.ecx, r[3] = h.edx;
  } else {
    pc.cpu->cpuid(leaf, sub, r);
  }
  if (leaf == 1) {
    r[2] |= 1u << 31;    // a hypervisor is present (spec/hyperv-interfaces.md §1)
    r[2] &= ~(1u << 5);  // no VMX inside partitions (no nested virtualization)
    r[1] = (r[1] & 0x00FFFFFF) | (vp.index << 24);  // the VP's initial APIC id
  } else if (leaf == 0xB) {
    r[3] = vp.index;  // its x2APIC id
  }
  s.gpr[cpu::kRax] = r[0];
  s.gpr[cpu::kRbx] = r[1];
  s.gpr[cpu::kRcx] = r[2];
  s.gpr[cpu::kRdx] = r[3];
}

bool Hypervisor::handle_io(Pcpu& pc, Partition& p, const cpu::vmx::ExitInfo& e) {
  uint64_t q = e.qualification;
  unsigned size = static_cast<unsigned>(q & 7) + 1;
  bool in = q & (1u << 3), string = q & (1u << 4);
  auto port = static_cast<uint16_t>(q >> 16);
  if (string) return false;  // INS/OUTS: emulated (hv/emulation.cpp)
  cpu::ArchState& s = pc.cpu->state();
  uint64_t mask = size == 4 ? 0xFFFFFFFF : (1ull << (8 * size)) - 1;
  if (in) {
    uint64_t v = io_.read(port, size) & mask;
    // IN to EAX zero-extends into RAX; to AL/AX it merges (SDM "IN").
    s.gpr[cpu::kRax] = size == 4 ? v : (s.gpr[cpu::kRax] & ~mask) | v;
  } else if (testdev_ && port == kTestDevicePort && size == 4) {
    ++p.testdev_commands;
    if (!testdev_write(p, static_cast<uint32_t>(s.gpr[cpu::kRax]))) ++p.testdev_refused;
  } else {
    io_.write(port, size, static_cast<uint32_t>(s.gpr[cpu::kRax] & mask));
  }
  return true;
}

bool Hypervisor::handle_cr(Pcpu& pc, VirtualProcessor& vp, const cpu::vmx::ExitInfo& e) {
  cpu::vmx::VmxApi& api = *pc.api;
  unsigned cr = e.qualification & 15, type = (e.qualification >> 4) & 3;
  unsigned reg = (e.qualification >> 8) & 15;
  if (cr == 8 && type <= 1) return handle_cr8(pc, vp, type == 0, reg);
  if (type != 0 || (cr != 0 && cr != 4)) return false;  // only MOV to CR0/CR4 can exit here
  uint64_t v = pc.cpu->state().gpr[reg];
  if (cr == 4) {
    // The guest's view keeps the VMXE it wrote; the processor's CR4 keeps VMXE set.
    if (v & (uint64_t{1} << 13)) return false;  // CR4.VMXE: no VMX in partitions (#GP)
    api.vmwrite(F::GUEST_CR4, v | cpu::kCr4VMXE);
    api.vmwrite(F::CR4_READ_SHADOW, v & cpu::kCr4VMXE);
    return true;
  }
  // MOV to CR0 (SDM Vol. 3A 2.5, 9.8.5): reserved bits and PG without PE fault; turning
  // paging on with EFER.LME set (and CR4.PAE) activates IA-32e mode, turning it off
  // deactivates it, as the processor would.
  if ((v >> 32) || ((v & cpu::kCr0PG) && !(v & cpu::kCr0PE))) return false;
  uint64_t old = api.read(F::GUEST_CR0), efer = api.read(F::GUEST_IA32_EFER);
  uint64_t entry = api.read(F::VM_ENTRY_CONTROLS);
  bool paging_on = (v & cpu::kCr0PG) && !(old & cpu::kCr0PG);
  bool paging_off = !(v & cpu::kCr0PG) && (old & cpu::kCr0PG);
  if (paging_on && (efer & cpu::kEferLME)) {
    if (!(api.read(F::GUEST_CR4) & cpu::kCr4PAE)) return false;
    efer |= cpu::kEferLMA;
    entry |= vs::entry_ctl::kIa32eModeGuest;
  } else if (paging_off && (efer & cpu::kEferLMA)) {
    efer &= ~cpu::kEferLMA;
    entry &= ~uint64_t{vs::entry_ctl::kIa32eModeGuest};
  }
  api.vmwrite(F::GUEST_IA32_EFER, efer);
  api.vmwrite(F::VM_ENTRY_CONTROLS, entry);
  api.vmwrite(F::GUEST_CR0, v | cpu::kCr0NE | cpu::kCr0ET);
  api.vmwrite(F::CR0_READ_SHADOW, v & cpu::kCr0NE);
  return true;
}

bool Hypervisor::handle_exit(Pcpu& pc, Partition& p, VirtualProcessor& vp,
                             const cpu::vmx::ExitInfo& e) {
  ++vp.exits;
  unsigned basic = e.reason & 0xFFFF;
  if (basic < std::size(vp.exits_by_reason)) ++vp.exits_by_reason[basic];
  cpu::vmx::VmxApi& api = *pc.api;
  switch (e.basic()) {
    case ExitReason::EXTERNAL_INTERRUPT:
      // Acknowledged on exit (the vector is in the exit interruption information): the
      // host's interrupt, handled as its handler would.
      host_interrupt(pc, static_cast<uint8_t>(e.interruption_info & 0xFF));
      return true;
    case ExitReason::EXCEPTION_OR_NMI:
      // Only NMIs exit (the exception bitmap is empty): the machine's NMI goes to the VP.
      vp.apic->core().nmi_pending = true;
      return true;
    case ExitReason::INTERRUPT_WINDOW:
    case ExitReason::NMI_WINDOW:
    case ExitReason::VMX_PREEMPTION_TIMER_EXPIRED:
      return true;  // the next VM entry injects what is due (prepare_entry)
    case ExitReason::CPUID: {
      // A parent's CPUID intercepts (hv/root_hypercalls.cpp) see input and result.
      const uint64_t* g = pc.cpu->state().gpr;
      const uint64_t in[4] = {g[cpu::kRax], g[cpu::kRcx], g[cpu::kRdx], g[cpu::kRbx]};
      handle_cpuid(pc, p, vp);
      if (!p.cpuid_intercepts.empty()) cpuid_intercepted(pc, p, vp, e, in);
      skip_instruction(pc, e);
      return true;
    }
    case ExitReason::IO_INSTRUCTION:
      if (!handle_io(pc, p, e)) return emulate(pc, p, vp, e, true);
      if (!p.io_intercepts.empty()) io_intercepted(pc, p, vp, e);
      skip_instruction(pc, e);
      return true;
    case ExitReason::RDMSR:
    case ExitReason::WRMSR: {
      // The local APIC's MSRs go to the VP's virtual LAPIC.
      cpu::ArchState& s = pc.cpu->state();
      bool write = e.basic() == ExitReason::WRMSR, ok = false;
      uint64_t v = (s.gpr[cpu::kRdx] << 32) | static_cast<uint32_t>(s.gpr[cpu::kRax]);
      auto msr = static_cast<uint32_t>(s.gpr[cpu::kRcx]);
      if (handle_apic_msr(p, vp, msr, write, &v, &ok) ||
          handle_crash_msr(p, vp, msr, write, &v, &ok)) {
        if (p.crashed) return false;  // the guest reported its crash
        if (!ok) {
          inject_exception(api, 13, true, 0);
          return true;
        }
        if (!write) {
          s.gpr[cpu::kRax] = static_cast<uint32_t>(v);
          s.gpr[cpu::kRdx] = v >> 32;
        }
        skip_instruction(pc, e);
        return true;
      }
    }
      // The bitmap traps IA32_FEATURE_CONTROL and the VMX MSRs (no nested VMX: #GP) and
      // every MSR outside its ranges: the synthetic MSRs, the rest #GP.
      if (handle_msr(pc, p, vp, e.basic() == ExitReason::WRMSR))
        skip_instruction(pc, e);
      else
        inject_exception(api, 13, true, 0);
      return true;
    case ExitReason::VMCALL: {
      // Hypercalls come from CPL 0 in protected mode; otherwise #UD (dossier §3.1).
      bool pe = api.read(F::GUEST_CR0) & cpu::kCr0PE;
      unsigned cpl = (api.read(F::GUEST_SS_ACCESS_RIGHTS) >> 5) & 3;
      if (!pe || cpl != 0 || (api.read(F::GUEST_RFLAGS) & cpu::kFlagVM)) {
        inject_exception(api, 6, false, 0);
        return true;
      }
      // The call's input and result value, for the statistics and the observer: RCX and
      // RAX, or EDX:EAX in and out for a 32-bit caller (TLFS §3.2).
      bool long64 = (api.read(F::GUEST_IA32_EFER) & cpu::kEferLMA) &&
                    (api.read(F::GUEST_CS_ACCESS_RIGHTS) & cpu::spec::kAttrL);
      cpu::ArchState& s = pc.cpu->state();
      auto edx_eax = [&] {
        return (s.gpr[cpu::kRdx] << 32) | static_cast<uint32_t>(s.gpr[cpu::kRax]);
      };
      uint64_t input = long64 ? s.gpr[cpu::kRcx] : edx_eax();
      handle_hypercall(pc, p, e);
      ++p.hypercalls_by_code[static_cast<uint16_t>(input)];
      if (hypercall_observer_)
        hypercall_observer_(
            HypercallEvent{&p, vp.index, input, long64 ? s.gpr[cpu::kRax] : edx_eax()});
      skip_instruction(pc, e);
      return true;
    }
    case ExitReason::EPT_VIOLATION:
      if (overlay_write(pc, p, e)) {  // overlay pages are read-only to the guest (#GP)
        inject_exception(api, 13, true, 0);
        return true;
      }
      // Not partition memory: device memory, served by instruction emulation.
      if (!p.gpa->translate(e.guest_physical_address)) return emulate(pc, p, vp, e, false);
      break;
    case ExitReason::CONTROL_REGISTER_ACCESSES:
      if (handle_cr(pc, vp, e))
        skip_instruction(pc, e);
      else
        inject_exception(api, 13, true, 0);
      return true;
    case ExitReason::XSETBV: {
      // XSETBV always exits in non-root operation (SDM 26.1.2). The guest's XCR0 is the
      // processor's (nothing of the host's lives there): set it with the instruction's
      // checks (SDM Vol. 2 "XSETBV": ECX = 0, x87 set, only bits CPUID.0xD reports).
      cpu::ArchState& s = pc.cpu->state();
      uint64_t v = (s.gpr[cpu::kRdx] << 32) | static_cast<uint32_t>(s.gpr[cpu::kRax]);
      uint32_t leaf_d[4];
      pc.cpu->cpuid(0xD, 0, leaf_d);
      uint64_t supported = (uint64_t{leaf_d[3]} << 32) | leaf_d[0];
      if (static_cast<uint32_t>(s.gpr[cpu::kRcx]) != 0 || !(v & 1) || (v & ~supported) ||
          ((v & 4) && !(v & 2))) {
        inject_exception(api, 13, true, 0);
        return true;
      }
      s.fpu.xcr0 = v;
      pc.cpu->state_changed();
      skip_instruction(pc, e);
      return true;
    }
    case ExitReason::HLT:
      // The VP idles until an interrupt it accepts (or an NMI) wakes it (advance()).
      skip_instruction(pc, e);
      vp.halted = true;
      vp.halted_with_if = api.read(F::GUEST_RFLAGS) & cpu::kFlagIF;
      return true;
    case ExitReason::TRIPLE_FAULT:
      crash(p, "triple fault (guest RIP " + std::to_string(api.read(F::GUEST_RIP)) + ")");
      return false;
    default: break;
  }
  char where[96];
  std::snprintf(where, sizeof where, " (guest-physical address %#llx, RIP %#llx)",
                static_cast<unsigned long long>(e.guest_physical_address),
                static_cast<unsigned long long>(api.read(F::GUEST_RIP)));
  crash(p, std::string("VM exit not handled yet: ") + vs::to_string(e.basic()) + where);
  return false;
}

}  // namespace hvsim::hv
