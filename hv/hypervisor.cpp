// The hypervisor: root operation on every physical CPU, partitions and their virtual
// processors, the VMCS of each VP, the run loop of a physical CPU (Intel SDM Vol. 3C ch.
// 24-28 through cpu/vmx/vmx_api.h). Exit handlers are in hv/exits.cpp.
#include "hv/hypervisor.h"

#include <algorithm>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/phys_mem.h"
#include "cpu/lapic/apic_bus.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/spec/ept.h"
#include "cpu/vmx/vmx.h"
#include "hv/insn_emulator.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

using cpu::vmx::VmcsField;
using cpu::vmx::VmxApi;
using F = VmcsField;
namespace vs = cpu::vmx::spec;

namespace {

void must(const cpu::vmx::VmResult& r, const char* what) {
  if (!r.ok()) throw InternalError(std::string("hypervisor: ") + what + " failed");
}

// Host-context GDT selectors.
constexpr uint16_t kHostCode = 0x08, kHostData = 0x10, kHostTss = 0x18;

}  // namespace

Hypervisor::Hypervisor(std::vector<cpu::Cpu*> cpus, PhysicalMemory& mem, PortIoBus& io,
                       MmioBus& mmio, const HypervisorParams& p)
    : mem_(mem),
      io_(io),
      mmio_(mmio),
      pages_(mem, p.system_base, p.system_size),
      tsc_hz_(p.tsc_hz),
      apic_hz_(p.apic_hz),
      slice_cycles_(std::max<uint64_t>(1, Clock(p.tsc_hz).ticks_at(p.vp_time_slice))),
      testdev_(p.testdev) {
  msr_bitmap_ = pages_.allocate(kHypervisorOwned).value();
  // RDMSR/WRMSR exit for IA32_FEATURE_CONTROL and the VMX capability MSRs (no nested VMX);
  // every other MSR in the two bitmap ranges is the guest's own (SDM 25.6.9). MSRs outside
  // those ranges, the synthetic ones among them, always exit.
  auto trap = [&](uint32_t msr) {
    for (uint64_t base : {uint64_t{0}, uint64_t{0x800}}) {  // read low, write low
      uint64_t byte = msr_bitmap_ + base + msr / 8;
      mem_.store<uint8_t>(byte, static_cast<uint8_t>(mem_.load<uint8_t>(byte) | (1u << (msr % 8))));
    }
  };
  trap(0x3A);
  for (uint32_t m = 0x480; m <= 0x491; ++m) trap(m);
  // The VP's local APIC is virtual (hv/interrupts.cpp): IA32_APIC_BASE, IA32_TSC_DEADLINE
  // and the x2APIC MSRs.
  trap(0x1B);
  trap(0x6E0);
  for (uint32_t m = 0x800; m <= 0x8FF; ++m) trap(m);
  for (cpu::Cpu* c : cpus) {
    Pcpu pc;
    pc.cpu = c;
    pc.api = std::make_unique<VmxApi>(*c);
    pcpus_.push_back(std::move(pc));
    enter_root_operation(pcpus_.back());
  }
}

Hypervisor::~Hypervisor() = default;

void Hypervisor::enter_root_operation(Pcpu& pc) {
  auto page = [&] { return pages_.allocate(kHypervisorOwned).value(); };
  uint64_t pml4 = page(), pdpt = page(), gdt = page(), tss = page();
  pc.vmxon = page();
  // The host context a VM exit returns to: 64-bit mode, identity-mapped with 1 GiB pages.
  // No host instruction ever runs in it (exits return to this C++ code), but VM entries
  // check it and VM exits load it, so it is a real one.
  mem_.store<uint64_t>(pml4, pdpt | 3);
  for (uint64_t k = 0; k < 512; ++k) mem_.store<uint64_t>(pdpt + 8 * k, (k << 30) | 0x83);
  mem_.store<uint64_t>(gdt + kHostCode, 0x00AF9A000000FFFFull);
  mem_.store<uint64_t>(gdt + kHostData, 0x00CF92000000FFFFull);
  uint64_t tss_lo =
      0x67 | ((tss & 0xFFFFFF) << 16) | (0x89ull << 40) | (((tss >> 24) & 0xFF) << 56);
  mem_.store<uint64_t>(gdt + kHostTss, tss_lo);
  mem_.store<uint64_t>(gdt + kHostTss + 8, tss >> 32);
  cpu::Cpu& c = *pc.cpu;
  cpu::ArchState& s = c.state();
  s.cr0 = cpu::kCr0PE | cpu::kCr0PG | cpu::kCr0ET | cpu::kCr0NE | cpu::kCr0WP;
  s.cr4 = cpu::kCr4PAE | cpu::kCr4VMXE;
  s.cr3 = pml4;
  s.efer = cpu::kEferLME | cpu::kEferLMA | cpu::kEferNXE;
  s.seg[cpu::kCs] = cpu::SegReg{kHostCode, 0, 0xFFFFFFFF, 0xA09B};
  for (int k : {cpu::kSs, cpu::kDs, cpu::kEs, cpu::kFs, cpu::kGs})
    s.seg[k] = cpu::SegReg{kHostData, 0, 0xFFFFFFFF, 0xC093};
  s.gdtr = cpu::TableReg{gdt, 0x27};
  s.idtr = cpu::TableReg{0, 0};
  s.tr = cpu::SegReg{kHostTss, tss, 0x67, 0x8B};
  s.ldtr = cpu::SegReg{0, 0, 0, 0x10000};
  s.rflags = 2;
  s.rip = 0x1000;  // never fetched
  s.gpr[cpu::kRsp] = 0;
  c.state_changed();
  c.set_run_state(cpu::RunState::kRunning);
  // The host's LAPIC takes kicks and the machine's device interrupts (hv/interrupts.cpp):
  // software-enabled, spurious vector 0xFF (SDM 10.9).
  c.lapic().mmio_write(0xF0, 4, 0x1FF);
  if (!c.vmx().write_msr(0x3A, 5)) throw InternalError("hypervisor: IA32_FEATURE_CONTROL");
  uint32_t rev =
      static_cast<uint32_t>(cpu::vmx::Vmx::capability(vs::VmxMsr::IA32_VMX_BASIC)) & 0x7FFFFFFF;
  mem_.store<uint32_t>(pc.vmxon, rev);
  must(pc.api->vmxon(pc.vmxon), "VMXON");
}

Partition& Hypervisor::create_partition(const std::string& name, uint64_t memory, uint32_t vcpus) {
  return create_partition(name, memory, vcpus, 0, false);
}

Partition& Hypervisor::create_partition(const std::string& name, uint64_t memory, uint32_t vcpus,
                                        PartitionId parent, bool root) {
  if (memory == 0 || memory % kPageSize)
    throw InputError("partition '" + name + "': memory must be a nonzero multiple of 4 KiB");
  if (vcpus == 0 || vcpus > 64)
    throw InputError("partition '" + name + "': " + std::to_string(vcpus) +
                     " virtual processors (1 to 64)");
  if (parent && !partition_by_id(parent))
    throw InputError("partition '" + name + "': no parent partition " + std::to_string(parent));
  // Memory, tables and the VMCS must all fit: refuse up front rather than half-build.
  uint64_t need = memory / kPageSize + memory / kPageSize / 512 + 16 + 3 * vcpus;
  if (pages_.free_pages() < need)
    throw InputError("partition '" + name + "': " + std::to_string(memory >> 20) +
                     " MiB does not fit in the hypervisor's " +
                     std::to_string(pages_.free_pages() * kPageSize >> 20) + " MiB left");
  if (find_partition(name))
    throw InputError("partition '" + name + "': a partition of that name exists already");
  Partition& p = new_partition(name, parent, root);
  p.memory = memory;
  for (uint64_t gpa = 0; gpa < memory; gpa += kPageSize) {
    uint64_t spa = pages_.allocate(p.id).value();
    MapError e = p.gpa->map(gpa, spa, 7);
    if (e != MapError::kOk) throw InternalError(std::string("partition map: ") + to_string(e));
  }
  for (uint32_t k = 0; k < vcpus; ++k)
    if (!add_vp(p)) throw InternalError("partition: no page for a VP");
  // The partition's reference time starts now, on its first VP's processor's TSC.
  p.time = std::make_unique<ReferenceTime>(tsc_hz_, pcpus_[p.vps[0].pcpu].cpu->cycles());
  return p;
}

namespace {

/// Calls fn(system address, offset into the buffer, bytes) for each page-sized piece of
/// [gpa, gpa + len) of `space`; false (nothing done) if any page is not mapped.
template <typename Fn>
bool for_each_piece(const GpaSpace& space, uint64_t gpa, uint64_t len, Fn fn) {
  for (uint64_t g = gpa & ~(kPageSize - 1); g < gpa + len; g += kPageSize)
    if (!space.translate(g)) return false;
  for (uint64_t done = 0; done < len;) {
    uint64_t n = std::min(len - done, kPageSize - ((gpa + done) & (kPageSize - 1)));
    fn(*space.translate(gpa + done), done, n);
    done += n;
  }
  return true;
}

}  // namespace

bool Hypervisor::write_guest(Partition& p, uint64_t gpa, const void* data, uint64_t len) {
  auto* in = static_cast<const uint8_t*>(data);
  return for_each_piece(*p.gpa, gpa, len, [&](uint64_t spa, uint64_t off, uint64_t n) {
    mem_.write(spa, in + off, n);
  });
}

bool Hypervisor::read_guest(const Partition& p, uint64_t gpa, void* out, uint64_t len) const {
  auto* o = static_cast<uint8_t*>(out);
  return for_each_piece(*p.gpa, gpa, len, [&](uint64_t spa, uint64_t off, uint64_t n) {
    mem_.read(spa, o + off, n);
  });
}

void Hypervisor::make_vp_models(Partition& p, uint32_t k, uint64_t sim, uint64_t sief) {
  VirtualProcessor& vp = p.vps[k];
  Partition* part = &p;
  vp.apic =
      std::make_unique<VirtualApic>(*pcpus_[vp.pcpu].cpu, p.apic_bus.get(), k, tsc_hz_, apic_hz_);
  vp.apic->set_waiting_for_sipi(vp.waiting_for_sipi);
  p.apic_bus->attach(&vp.apic->lapic());
  // The SynIC and the synthetic timers raise interrupts at the VP's local APIC.
  SynicHooks hooks;
  hooks.raise = [this, part, k](uint8_t vector, bool auto_eoi) {
    assert_interrupt(*part, k, vector, auto_eoi);
  };
  hooks.now = [this, part, k] { return reference_time(*part, part->vps[k]); };
  vp.synic = std::make_unique<Synic>(mem_, sim, sief, std::move(hooks),
                                     p.cpuid.features & spec::feature::kSintPollingMode);
  vp.timers = std::make_unique<SyntheticTimers>(
      *vp.synic, [this, part, k](uint8_t vector) { assert_interrupt(*part, k, vector); },
      p.cpuid.features & spec::feature::kDirectSyntheticTimers);
}

void Hypervisor::build_vmcs(Partition& p, VirtualProcessor& vp) {
  Pcpu& pc = pcpus_[vp.pcpu];
  VmxApi& api = *pc.api;
  uint32_t rev =
      static_cast<uint32_t>(cpu::vmx::Vmx::capability(vs::VmxMsr::IA32_VMX_BASIC)) & 0x7FFFFFFF;
  mem_.store<uint32_t>(vp.vmcs, rev);
  must(api.vmclear(vp.vmcs), "VMCLEAR");
  must(api.vmptrld(vp.vmcs), "VMPTRLD");
  auto w = [&](F f, uint64_t v) { must(api.vmwrite(f, v), "VMWRITE"); };
  using vs::VmxMsr;
  // External interrupts and NMIs belong to the host (kicks, device interrupts); the VP's
  // own NMIs are virtual (blocking tracked by the processor, NMI-window exits).
  pin_controls_ = static_cast<uint32_t>(cpu::vmx::Vmx::allowed_controls(
      VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS,
      vs::pin::kExternalInterruptExiting | vs::pin::kNmiExiting | vs::pin::kVirtualNmis));
  w(F::PIN_BASED_VM_EXECUTION_CONTROLS, pin_controls_);
  // Every port access exits to the device emulation; MSRs exit as the bitmap says; HLT
  // exits so that the hypervisor knows the VP is idle; CR8 is the virtual LAPIC's TPR.
  proc_controls_ = static_cast<uint32_t>(cpu::vmx::Vmx::allowed_controls(
      VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS,
      vs::proc::kHltExiting | vs::proc::kUnconditionalIoExiting | vs::proc::kUseMsrBitmaps |
          vs::proc::kCr8LoadExiting | vs::proc::kCr8StoreExiting |
          vs::proc::kActivateSecondaryControls));
  w(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, proc_controls_);
  w(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
    vs::proc2::kEnableEpt | vs::proc2::kEnableVpid | vs::proc2::kUnrestrictedGuest);
  w(F::PRIMARY_VM_EXIT_CONTROLS,
    cpu::vmx::Vmx::allowed_controls(VmxMsr::IA32_VMX_TRUE_EXIT_CTLS,
                                    vs::exit_ctl::kHostAddressSpaceSize |
                                        vs::exit_ctl::kSaveIa32Efer | vs::exit_ctl::kLoadIa32Efer |
                                        vs::exit_ctl::kAcknowledgeInterruptOnExit));
  w(F::VM_ENTRY_CONTROLS, cpu::vmx::Vmx::allowed_controls(VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS,
                                                          vs::entry_ctl::kLoadIa32Efer));
  w(F::ADDRESS_OF_MSR_BITMAPS, msr_bitmap_);
  w(F::EPT_POINTER, p.gpa->eptp());
  w(F::VIRTUAL_PROCESSOR_ID, vp.vpid);
  w(F::VMCS_LINK_POINTER, ~0ull);
  // The guest sees the CR0.NE and CR4.VMXE it wrote; VMX operation needs them set (SDM
  // 25.8), so the hypervisor owns them.
  w(F::CR0_GUEST_HOST_MASK, cpu::kCr0NE);
  w(F::CR4_GUEST_HOST_MASK, cpu::kCr4VMXE);
  must(api.write_host_state_from_current(), "host state");
}

void Hypervisor::set_vp_state(Partition& p, uint32_t vp_index, const cpu::ArchState& s) {
  VirtualProcessor& vp = p.vps.at(vp_index);
  vp.pending_state = std::make_unique<cpu::ArchState>(s);
}

SimTime Hypervisor::advance(uint32_t pcpu, SimTime limit) {
  Pcpu& pc = pcpus_[pcpu];
  cpu::Cpu& c = *pc.cpu;
  VmxApi& api = *pc.api;
  uint64_t cycle_target = c.cycle_at(limit);
  while (c.cycles() < cycle_target) {
    cpu::vmx::RunResult r;
    if (!api.in_guest()) {
      if (!schedule(pc)) {
        idle(pc, cycle_target);
        continue;
      }
      const Pcpu::Slot& slot = pc.runq[pc.current];
      VirtualProcessor& vp = slot.partition->vps[slot.vp];
      prepare_entry(pc, *slot.partition, vp);
      c.set_run_state(cpu::RunState::kRunning);
      r = api.vm_enter(vp.launched ? VmxApi::Entry::kResume : VmxApi::Entry::kLaunch, 0);
      if (r.kind == cpu::vmx::RunResult::Kind::kEntryFailed) {
        crash(*slot.partition, "VM entry failed: VM-instruction error " +
                                   std::to_string(static_cast<int>(r.entry.error)));
        continue;
      }
      vp.launched = true;
      if (r.kind == cpu::vmx::RunResult::Kind::kLimit) r = api.run_until(cycle_target);
    } else {
      // Between slices another VP or the host may have given this VP's LAPIC something
      // (an IPI, a message) that the armed timer does not know of: kick the guest out.
      const Pcpu::Slot& slot = pc.runq[pc.current];
      VirtualProcessor& vp = slot.partition->vps[slot.vp];
      uint64_t next = vp_next_event(vp);
      if (vp.apic->attention())
        kick(pc, c.cycles());
      else if (next < vp.timer_armed)
        kick(pc, std::max(c.cycles(), next));
      r = api.run_until(cycle_target);
    }
    // A copy: a root call (hv/root_hypercalls.cpp) may change the run queue.
    const Pcpu::Slot slot = pc.runq[pc.current];
    Partition& p = *slot.partition;
    switch (r.kind) {
      case cpu::vmx::RunResult::Kind::kExit:
        if (r.exit.entry_failure()) {
          crash(p, "VM entry failed on guest state (exit reason " +
                       std::to_string(r.exit.reason & 0xFFFF) + ")");
          break;
        }
        handle_exit(pc, p, p.vps[slot.vp], r.exit);
        if (exit_observer_) exit_observer_(ExitEvent{&p, slot.vp, &r.exit, api.read(F::GUEST_RIP)});
        break;
      case cpu::vmx::RunResult::Kind::kShutdown: crash(p, "VMX abort"); break;
      case cpu::vmx::RunResult::Kind::kHalted:
      case cpu::vmx::RunResult::Kind::kLimit:
      case cpu::vmx::RunResult::Kind::kEntryFailed: return c.local_time();
    }
  }
  return c.local_time();
}

uint64_t Hypervisor::reference_time(const Partition& p, const VirtualProcessor& vp) const {
  return p.time->counter_at_tsc(pcpus_[vp.pcpu].cpu->cycles());
}

void Hypervisor::poll_timers(Partition& p, VirtualProcessor& vp) {
  // Due timers fire at the VP's reference time now; the next expiry becomes a cycle of the
  // VP's physical CPU (vp_next_event), which arms the VMX-preemption timer or wakes the VP.
  if (vp.timers->next_expiry() != SyntheticTimers::kNever) vp.timers->poll(reference_time(p, vp));
  uint64_t next = vp.timers->next_expiry();
  vp.stimer_cycle = next == SyntheticTimers::kNever ? ~0ull : p.time->tsc_at_counter(next);
}

uint64_t Hypervisor::next_timer_expiry(const Partition& p, uint32_t vp) const {
  return p.vps.at(vp).timers->next_expiry();
}

Partition* Hypervisor::find_partition(const std::string& name) {
  for (auto& p : partitions_)
    if (p->name == name) return p.get();
  return nullptr;
}

void Hypervisor::crash(Partition& p, const std::string& reason) {
  if (p.crashed) return;
  p.crashed = true;
  p.crash_reason = reason;
}

Hypervisor::Activity Hypervisor::activity() const {
  Activity a = Activity::kStopped;
  for (const auto& p : partitions_) {
    if (p->crashed) continue;
    for (const VirtualProcessor& vp : p->vps) {
      if (!vp.halted && !vp.waiting_for_sipi) return Activity::kBusy;
      const cpu::Lapic& l = vp.apic->lapic();
      const cpu::CoreInterruptState& q = vp.apic->core();
      if (q.nmi_pending || q.init_pending || q.sipi_vector >= 0 || l.has_queued())
        return Activity::kBusy;
      if (vp.halted && vp.halted_with_if) {
        // An armed synthetic timer will expire and may raise an interrupt that wakes it.
        if (l.timer_can_fire() || l.intr_pending() || vp.stimer_cycle != ~0ull)
          return Activity::kBusy;
        a = Activity::kDeviceCanWake;
      }
    }
  }
  return a;
}

const Partition* Hypervisor::crashed_partition() const {
  for (const auto& p : partitions_)
    if (p->crashed) return p.get();
  return nullptr;
}

void Hypervisor::inspect(InspectNode& n) const {
  n.counter("system_pages", pages_.total_pages());
  n.counter("free_pages", pages_.free_pages());
  n.counter("hypervisor_pages", pages_.pages_of(kHypervisorOwned));
  InspectNode& pcs = n.child("pcpus");
  for (size_t k = 0; k < pcpus_.size(); ++k) {
    InspectNode& pn = pcs.child("pcpu" + std::to_string(k));
    std::string runs;
    for (const Pcpu::Slot& slot : pcpus_[k].runq)
      runs += (runs.empty() ? "" : " ") + slot.partition->name + "/vp" + std::to_string(slot.vp);
    pn.value("vps", runs.empty() ? "none" : runs);
    pn.counter("switches", pcpus_[k].switches);
    pn.counter("host_interrupts", pcpus_[k].host_interrupts);
    pn.counter("kicks", pcpus_[k].kicks);
  }
  InspectNode& parts = n.child("partitions");
  for (const auto& p : partitions_) {
    InspectNode& pn = parts.child(p->name);
    pn.counter("id", p->id);
    pn.counter("parent", p->parent);  // 0: created by the host (hv/partition_tree.cpp)
    pn.counter("memory", p->memory);
    pn.counter("pages", pages_.pages_of(p->id));
    pn.value("state", p->crashed ? "crashed: " + p->crash_reason : "running");
    pn.counter("guest_os_id", p->guest_os_id);
    pn.counter("hypercall_msr", p->hypercall_msr);
    pn.counter("reference_tsc_msr", p->reference_tsc_msr);
    pn.counter("hypercalls", p->hypercalls);
    pn.counter("guest_crashes", p->guest_crashes);
    if (testdev_) {
      pn.counter("testdev_commands", p->testdev_commands);
      pn.counter("testdev_refused", p->testdev_refused);
    }
    InspectNode& hc = pn.child("hypercalls_by_code");
    for (const auto& [code, n] : p->hypercalls_by_code)
      hc.counter(spec::to_string(static_cast<spec::HvCallCode>(code)), n);
    InspectNode& hs = pn.child("hypercalls_by_status");
    for (unsigned k = 0; k < std::size(p->hypercalls_by_status); ++k)
      if (p->hypercalls_by_status[k])
        hs.counter(spec::to_string(static_cast<spec::HvStatus>(k)), p->hypercalls_by_status[k]);
    for (const VirtualProcessor& vp : p->vps) {
      InspectNode& v = pn.child("vp" + std::to_string(vp.index));
      v.counter("pcpu", vp.pcpu);
      v.value("state", vp.waiting_for_sipi ? "waiting for SIPI" : vp.halted ? "halted" : "running");
      v.counter("exits", vp.exits);
      v.counter("interrupts_injected", vp.interrupts_injected);
      v.counter("nmis_injected", vp.nmis_injected);
      v.counter("wakeups", vp.wakeups);
      v.counter("turns", vp.turns);
      vp.apic->lapic().inspect(v.child("lapic"));
      v.counter("emulated_mmio", vp.emulated_mmio);
      v.counter("string_io", vp.string_io);
      InspectNode& by = v.child("exits_by_reason");
      for (unsigned k = 0; k < std::size(vp.exits_by_reason); ++k)
        if (vp.exits_by_reason[k])
          by.counter(cpu::vmx::spec::to_string(static_cast<cpu::vmx::ExitReason>(k)),
                     vp.exits_by_reason[k]);
      vp.synic->inspect(v.child("synic"));
      vp.timers->inspect(v.child("stimers"));
    }
  }
  ports_.inspect(n);
}

void Hypervisor::hash_into(Hasher& h) const {
  for (const auto& p : partitions_) {
    h.u64(p->id);
    h.u64(p->crashed);
    h.u64(p->guest_os_id);
    h.u64(p->hypercall_msr);
    h.u64(p->reference_tsc_msr);
    h.u64(p->tsc_sequence);
    for (uint64_t c : p->crash_params) h.u64(c);
    for (uint16_t r : p->testdev_routes) h.u64(r);
    h.u64(p->parent);  // the tree and the pages lent in it
    h.u64(p->initialized);
    for (const auto& [gpa, l] : p->lent) h.u64(gpa ^ (l.parent_gpa << 1) ^ l.spa);
    for (uint32_t leaf : p->cpuid_intercepts) h.u64(leaf);
    for (const auto& [port, access] : p->io_intercepts) h.u64(uint64_t{port} << 8 | access);
    for (const VirtualProcessor& vp : p->vps) {
      h.u64(vp.launched);
      h.u64(vp.halted);
      h.u64(vp.waiting_for_sipi);
      h.u64(vp.interrupts_injected);
      vp.apic->lapic().hash_into(h);
      h.u64(vp.emulated_mmio);
      h.u64(vp.string_io);
      vp.synic->hash_into(h);
      vp.timers->hash_into(h);
    }
  }
}

}  // namespace hvsim::hv
