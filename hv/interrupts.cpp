// Virtual interrupts: each VP's local APIC (hv/virtual_apic.h) and how its interrupts reach
// the guest (Intel SDM Vol. 3C 25.6.1 pin-based controls, 26.3 "Changes to instruction
// behavior" for the interrupt and NMI windows, 27.6 "Event injection", 26.5.1 the
// VMX-preemption timer; Vol. 3A 9.4.4 INIT-SIPI start-up).
//
// Before each VM entry the hypervisor delivers what the VP's LAPIC has due and injects the
// highest-priority interrupt the guest can take now (RFLAGS.IF, no STI/MOV-SS blocking) or,
// if it cannot, sets interrupt-window exiting so that it exits as soon as it can. The
// VMX-preemption timer is armed for the VP's next timed event (LAPIC timer, queued IPI), so
// the guest leaves at that cycle. NMIs use virtual-NMI blocking and NMI-window exiting.
//
// The physical CPU's own LAPIC is the host's: external interrupts exit (acknowledged on
// exit). Vector kKickVector is the hypervisor's kick (sent to a physical CPU whose running VP
// must look at its LAPIC, e.g. after another VP's IPI); any other vector is a device
// interrupt of the machine's emulated devices and goes to the VP on the physical CPU it
// targeted (the child's emulated devices are the root's).
#include <algorithm>

#include "core/time.h"
#include "cpu/lapic/apic_bus.h"
#include "cpu/lapic/spec/regs.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/spec/vmcs_layouts.h"
#include "hv/hypervisor.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

using cpu::vmx::VmcsField;
using F = VmcsField;
namespace vs = cpu::vmx::spec;

namespace {

constexpr uint8_t kKickVector = 0xF2;
// Guest interruptibility state (SDM 25.4.2, Table 25-3).
constexpr uint64_t kBlockingBySti = 1, kBlockingByMovSs = 2, kBlockingByNmi = 8;

uint32_t event_info(vs::InterruptionType type, uint8_t vector) {
  return vector | (static_cast<uint32_t>(type) << vs::kIntrInfoTypeShift) | vs::kIntrInfoValid;
}

}  // namespace

void Hypervisor::assert_interrupt(Partition& p, uint32_t vp_index, uint8_t vector, bool auto_eoi) {
  VirtualProcessor& vp = p.vps.at(vp_index);
  if (auto_eoi)
    vp.auto_eoi[vector >> 5] |= 1u << (vector & 31);
  else
    vp.auto_eoi[vector >> 5] &= ~(1u << (vector & 31));
  cpu::ApicMessage m;
  m.vector = vector;
  vp.apic->lapic().post(m, vp.apic->now());
}

uint64_t Hypervisor::vp_next_event(const VirtualProcessor& vp) const {
  return std::min(vp.apic->wake_cycle(), vp.stimer_cycle);
}

void Hypervisor::vp_events_due(Partition& p, VirtualProcessor& vp) {
  uint64_t now = pcpus_[vp.pcpu].cpu->cycles();
  // Synthetic timers first: what they raise is posted to the LAPIC, which then delivers it.
  if (vp.stimer_cycle <= now) poll_timers(p, vp);
  if (vp.apic->wake_cycle() <= now) vp.apic->lapic().poll();
}

bool Hypervisor::interrupt_deliverable(Pcpu& pc, VirtualProcessor& vp) {
  if (!vp.apic->lapic().intr_pending()) return false;
  cpu::vmx::VmxApi& api = *pc.api;
  return (api.read(F::GUEST_RFLAGS) & cpu::kFlagIF) &&
         !(api.read(F::GUEST_INTERRUPTIBILITY_STATE) & (kBlockingBySti | kBlockingByMovSs));
}

void Hypervisor::prepare_entry(Pcpu& pc, Partition& p, VirtualProcessor& vp) {
  cpu::vmx::VmxApi& api = *pc.api;
  VirtualApic& va = *vp.apic;
  cpu::Lapic& lapic = va.lapic();
  vp_events_due(p, vp);
  va.clear_attention();
  bool want_intr_window = false, want_nmi_window = false;
  cpu::CoreInterruptState& core = va.core();
  if (core.nmi_pending || lapic.intr_pending()) {
    bool busy = api.read(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD) & vs::kIntrInfoValid;
    uint64_t intr = api.read(F::GUEST_INTERRUPTIBILITY_STATE);
    if (core.nmi_pending) {
      if (!busy && !(intr & (kBlockingBySti | kBlockingByMovSs | kBlockingByNmi))) {
        api.vmwrite(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD,
                    event_info(vs::InterruptionType::kNmi, 2));
        core.nmi_pending = false;
        ++core.nmis;
        ++vp.nmis_injected;
        busy = true;
      } else {
        want_nmi_window = true;
      }
    }
    if (lapic.intr_pending()) {
      bool open = (api.read(F::GUEST_RFLAGS) & cpu::kFlagIF) &&
                  !(intr & (kBlockingBySti | kBlockingByMovSs));
      if (!busy && open) {
        int v = lapic.acknowledge();
        if (v >= 0) {
          api.vmwrite(
              F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD,
              event_info(vs::InterruptionType::kExternalInterrupt, static_cast<uint8_t>(v)));
          ++core.by_vector[v];
          ++vp.interrupts_injected;
          if (vp.auto_eoi[v >> 5] >> (v & 31) & 1) lapic.eoi();
        }
      } else {
        want_intr_window = true;
      }
    }
  }
  uint32_t window = (want_intr_window ? vs::proc::kInterruptWindowExiting : 0) |
                    (want_nmi_window ? vs::proc::kNmiWindowExiting : 0);
  if (window != vp.window_bits) {
    api.vmwrite(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, proc_controls_ | window);
    vp.window_bits = window;
  }
  // The VMX-preemption timer counts TSC >> rate (SDM 26.5.1): round up, so the exit comes
  // at or after the event's cycle, never before it.
  uint64_t next = std::min(vp_next_event(vp), pc.slice_end);  // and the end of its turn
  if (next != ~0ull) {
    unsigned x = cpu::vmx::caps::kPreemptionTimerRate;
    uint64_t now = pc.cpu->cycles();
    uint64_t ticks = next <= now ? 0 : ((next + (1u << x) - 1) >> x) - (now >> x);
    api.vmwrite(F::VMX_PREEMPTION_TIMER_VALUE, std::min<uint64_t>(ticks, 0xFFFFFFFF));
  }
  if ((next != ~0ull) != (vp.timer_armed != ~0ull))
    api.vmwrite(F::PIN_BASED_VM_EXECUTION_CONTROLS,
                pin_controls_ | (next != ~0ull ? vs::pin::kActivateVmxPreemptionTimer : 0));
  vp.timer_armed = next;
}

void Hypervisor::host_interrupt(Pcpu& pc, uint8_t vector) {
  // A vector the LAPIC put in service gets its EOI now; one without (an ExtINT, whose
  // vector came from the 8259's acknowledge cycle) is the 8259's, which the guest ends
  // with its own EOI to the 8259, so the VP gets it without an in-service bit either.
  cpu::Lapic& host = pc.cpu->lapic();
  bool from_8259 = !host.in_service(vector);
  if (!from_8259) host.eoi();
  if (vector == kKickVector && !from_8259) {
    ++pc.kicks;
    pc.kick_at = ~0ull;
    return;
  }
  ++pc.host_interrupts;
  if (pc.runq.empty()) return;  // no VP here: the interrupt has no one to go to
  const Pcpu::Slot& first = pc.runq[0];
  assert_interrupt(*first.partition, first.vp, vector, /*auto_eoi=*/from_8259);
}

void Hypervisor::kick(Pcpu& pc, uint64_t at_cycle) {
  if (pc.kick_at <= at_cycle) return;  // one already comes sooner
  pc.kick_at = at_cycle;
  cpu::ApicMessage m;
  m.vector = kKickVector;
  pc.cpu->lapic().post(m, Clock(tsc_hz_).time_of(at_cycle));
}

namespace {

/// The register state of a processor after INIT (SDM Vol. 3A Table 9-1), with CS:IP as a
/// start-up IPI with `vector` sets them (9.4.4.1): real mode at vector * 0x1000.
cpu::ArchState startup_state(uint8_t vector) {
  cpu::ArchState s;
  s.rip = 0;
  s.seg[cpu::kCs] = cpu::SegReg{static_cast<uint16_t>(vector << 8),
                                static_cast<uint64_t>(vector) << 12, 0xFFFF, 0x9B};
  for (int k : {cpu::kSs, cpu::kDs, cpu::kEs, cpu::kFs, cpu::kGs})
    s.seg[k] = cpu::SegReg{0, 0, 0xFFFF, 0x93};
  s.ldtr = cpu::SegReg{0, 0, 0xFFFF, 0x82};
  s.tr = cpu::SegReg{0, 0, 0xFFFF, 0x8B};
  s.gdtr = cpu::TableReg{0, 0xFFFF};
  s.idtr = cpu::TableReg{0, 0xFFFF};
  s.gpr[cpu::kRdx] = 0x600;
  return s;
}

}  // namespace

void Hypervisor::init_sipi(Pcpu&, Partition& p, VirtualProcessor& vp) {
  VirtualApic& va = *vp.apic;
  cpu::CoreInterruptState& core = va.core();
  if (core.init_pending) {
    core.init_pending = false;
    ++core.inits;
    va.lapic().init_reset();
    vp.waiting_for_sipi = true;
    vp.halted = false;
    core.sipi_vector = -1;
  }
  va.set_waiting_for_sipi(vp.waiting_for_sipi);
  if (vp.waiting_for_sipi && core.sipi_vector >= 0) {
    set_vp_state(p, vp.index, startup_state(static_cast<uint8_t>(core.sipi_vector)));
    core.sipi_vector = -1;
    ++core.sipis;
    vp.waiting_for_sipi = false;
    va.set_waiting_for_sipi(false);
  }
}

bool Hypervisor::handle_apic_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, bool write,
                                 uint64_t* v, bool* ok) {
  cpu::Lapic& lapic = vp.apic->lapic();
  namespace lr = cpu::lapic;
  // An EOI (x2APIC EOI or the Hyper-V EOI MSR) is also when the SynIC retries delivery into
  // freed message slots (TLFS "Messages": on queueing, APIC EOI and EOM).
  if (write && (msr == 0x80B || msr == static_cast<uint32_t>(spec::SyntheticMsr::HV_X64_MSR_EOI)))
    vp.synic->apic_eoi();
  if (msr == 0x1B) {  // IA32_APIC_BASE
    *ok = write ? lapic.write_apic_base(*v) : (*v = vp.apic->apic_base(), true);
    return true;
  }
  if (cpu::Lapic::is_msr(msr)) {
    *ok = write ? lapic.write_msr(msr, *v) : lapic.read_msr(msr, v);
    return true;
  }
  using M = spec::SyntheticMsr;
  auto m = static_cast<M>(msr);
  if (m != M::HV_X64_MSR_EOI && m != M::HV_X64_MSR_ICR && m != M::HV_X64_MSR_TPR) return false;
  // The Hyper-V APIC MSRs (dossier §2): the xAPIC's EOI, ICR and TPR without MMIO. In x2APIC
  // mode they are the x2APIC MSRs.
  *ok = (p.cpuid.privileges & spec::privilege::kAccessIntrCtrlRegs) && lapic.hw_enabled();
  if (!*ok) return true;
  if (lapic.x2apic()) {
    uint32_t x2 = m == M::HV_X64_MSR_EOI ? 0x80B : m == M::HV_X64_MSR_ICR ? 0x830 : 0x808;
    *ok = write ? lapic.write_msr(x2, *v) : lapic.read_msr(x2, v);
    return true;
  }
  auto reg = [](lr::Reg r) { return static_cast<uint64_t>(r); };
  switch (m) {
    case M::HV_X64_MSR_EOI:
      if (!write) return *ok = false, true;  // write-only
      lapic.mmio_write(reg(lr::Reg::kEoi), 4, 0);
      break;
    case M::HV_X64_MSR_ICR:
      if (write) {
        lapic.mmio_write(reg(lr::Reg::kIcrHigh), 4, *v >> 32);
        lapic.mmio_write(reg(lr::Reg::kIcrLow), 4, *v & 0xFFFFFFFF);
      } else {
        *v = (lapic.mmio_read(reg(lr::Reg::kIcrHigh), 4) << 32) |
             lapic.mmio_read(reg(lr::Reg::kIcrLow), 4);
      }
      break;
    default:
      if (write) {
        if (*v >> 8) return *ok = false, true;
        lapic.set_tpr(static_cast<uint32_t>(*v));
      } else {
        *v = lapic.tpr();
      }
      break;
  }
  return true;
}

spec::HvStatus Hypervisor::send_ipi_call(Partition& p, uint64_t vector_word, uint64_t mask) {
  // A fixed interrupt to each VP of the mask (TLFS "HvCallSendSyntheticClusterIpi"): vectors
  // 0x10-0xFF, the reserved half zero, no VP beyond the partition's.
  auto vector = static_cast<uint32_t>(vector_word);
  if (vector < 0x10 || vector > 0xFF || (vector_word >> 32) ||
      (p.vps.size() < 64 && (mask >> p.vps.size())))
    return spec::HvStatus::HV_STATUS_INVALID_PARAMETER;
  for (uint32_t k = 0; k < p.vps.size() && k < 64; ++k)
    if (mask >> k & 1) assert_interrupt(p, k, static_cast<uint8_t>(vector));
  return spec::HvStatus::HV_STATUS_SUCCESS;
}

bool Hypervisor::handle_cr8(Pcpu& pc, VirtualProcessor& vp, bool to_cr8, unsigned reg) {
  cpu::ArchState& s = pc.cpu->state();
  cpu::Lapic& lapic = vp.apic->lapic();
  if (!to_cr8) {
    s.gpr[reg] = lapic.tpr() >> 4;
    return true;
  }
  if (s.gpr[reg] >> 4) return false;  // CR8 bits 63:4 are reserved (#GP)
  lapic.set_tpr(static_cast<uint32_t>(s.gpr[reg]) << 4);
  return true;
}

}  // namespace hvsim::hv
