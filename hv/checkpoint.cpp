// Checkpoints of the hypervisor (docs/hv.md "Checkpoints"; DESIGN.md: a run restored from a
// checkpoint continues exactly as the saved one would). Sections, all version 1:
//   hv                 hypervisor-wide state, the partition count
//   hv.pages           system page ownership (SystemPages)
//   hv.cpu<N>          per physical CPU: VMXON region, run queue, current VP, slice, kick
//   hv.p<K>            partition K (creation order): identity, CPUID, synthetic MSRs, stats
//   hv.p<K>.gpa        its GpaSpace bookkeeping (the EPT tables are in RAM)
//   hv.p<K>.vp<J>      VP J: VMCS, run state, saved registers, counters
//   hv.p<K>.vp<J>.apic / .apic.lapic / .synic / .stimers   its virtual LAPIC, SynIC, timers
//   hv.ports           ports and connections (host ports too: their handlers are bound
//                      again by their owners, Hypervisor::bind_host_port)
// RAM and the processors (their VMX state: VMXON, current VMCS, root/non-root, the VMCS
// contents) are saved by the machine. Observers are host-side and not saved.
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/state.h"
#include "cpu/lapic/apic_bus.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {

namespace {

constexpr uint32_t kVersion = 1;

[[noreturn]] void bad(const std::string& section, const std::string& what) {
  throw InputError("checkpoint section " + section + ": " + what);
}

uint32_t open(StateReader& r, const std::string& section) {
  uint32_t v = r.begin_section(section);
  if (v != kVersion) bad(section, "unsupported version " + std::to_string(v));
  return v;
}

std::string partition_section(size_t k) {
  return "hv.p" + std::to_string(k);
}
std::string vp_section(size_t k, size_t j) {
  return partition_section(k) + ".vp" + std::to_string(j);
}

void save_regs(StateWriter& w, const GuestRegisters& g) {
  w.bytes("regs.gpr", g.gpr, sizeof g.gpr);
  w.u64("regs.cr2", g.cr2);
  w.bytes("regs.dr", g.dr, sizeof g.dr);
  w.u64("regs.dr6", g.dr6);
  w.u64("regs.star", g.star);
  w.u64("regs.lstar", g.lstar);
  w.u64("regs.cstar", g.cstar);
  w.u64("regs.sfmask", g.sfmask);
  w.u64("regs.kernel_gs_base", g.kernel_gs_base);
  w.u64("regs.tsc_aux", g.tsc_aux);
  cpu::save_fpu_fields(w, g.fpu, "regs.fpu.");
}

void restore_regs(StateReader& r, GuestRegisters& g) {
  r.bytes_into("regs.gpr", g.gpr, sizeof g.gpr);
  g.cr2 = r.u64("regs.cr2");
  r.bytes_into("regs.dr", g.dr, sizeof g.dr);
  g.dr6 = r.u64("regs.dr6");
  g.star = r.u64("regs.star");
  g.lstar = r.u64("regs.lstar");
  g.cstar = r.u64("regs.cstar");
  g.sfmask = r.u64("regs.sfmask");
  g.kernel_gs_base = r.u64("regs.kernel_gs_base");
  g.tsc_aux = r.u64("regs.tsc_aux");
  cpu::restore_fpu_fields(r, g.fpu, "regs.fpu.");
}

}  // namespace

void Hypervisor::save(StateWriter& w) const {
  // Host ports are saved with the other ports (hv.ports); their handlers are host-side code
  // that the owner (the machine's VMBus servers) binds again after restore (bind_host_port).
  w.begin_section("hv", kVersion);
  w.u32("pcpus", static_cast<uint32_t>(pcpus_.size()));
  w.u64("tsc_hz", tsc_hz_);
  w.u64("apic_hz", apic_hz_);
  w.u64("slice_cycles", slice_cycles_);
  w.u64("msr_bitmap", msr_bitmap_);
  w.u32("pin_controls", pin_controls_);
  w.u32("proc_controls", proc_controls_);
  w.u32("next_id", next_id_);
  w.u32("next_vpid", next_vpid_);
  w.u32("partitions", static_cast<uint32_t>(partitions_.size()));
  w.end_section();
  pages_.save(w, "hv.pages");

  for (size_t k = 0; k < partitions_.size(); ++k) {
    const Partition& p = *partitions_[k];
    std::string ps = partition_section(k);
    w.begin_section(ps, kVersion);
    w.u32("id", p.id);
    w.str("name", p.name);
    w.u64("memory", p.memory);
    w.u32("vcpus", static_cast<uint32_t>(p.vps.size()));
    const SyntheticCpuidParams& c = p.cpuid;
    w.u32("cpuid.max_leaf", c.max_leaf);
    w.u32("cpuid.build_number", c.build_number);
    w.u32("cpuid.major_version", c.major_version);
    w.u32("cpuid.minor_version", c.minor_version);
    w.u32("cpuid.service_pack", c.service_pack);
    w.u8("cpuid.service_branch", c.service_branch);
    w.u32("cpuid.service_number", c.service_number);
    w.u64("cpuid.privileges", c.privileges);
    w.u32("cpuid.misc_features", c.misc_features);
    w.u32("cpuid.features", c.features);
    w.u32("cpuid.recommendations", c.recommendations);
    w.u32("cpuid.spinlock_retries", c.spinlock_retries);
    w.u8("cpuid.physical_address_bits", c.physical_address_bits);
    w.u32("cpuid.max_virtual_processors", c.max_virtual_processors);
    w.u32("cpuid.max_logical_processors", c.max_logical_processors);
    w.u32("cpuid.max_interrupt_vectors", c.max_interrupt_vectors);
    w.u32("cpuid.hardware_features", c.hardware_features);
    w.u32("cpuid.cpu_management", c.cpu_management);
    w.u32("cpuid.nested_optimizations", c.nested_optimizations);
    w.boolean("cpuid.root", c.root);
    w.u64("guest_os_id", p.guest_os_id);
    w.u64("hypercall_msr", p.hypercall_msr);
    w.u64("reference_tsc_msr", p.reference_tsc_msr);
    w.u64("hypercall_page", p.hypercall_page);
    w.u64("hypercall_saved", p.hypercall_saved);
    w.u64("tsc_page", p.tsc_page);
    w.u64("tsc_page_saved", p.tsc_page_saved);
    w.u32("tsc_sequence", p.tsc_sequence);
    w.u64("time.tsc0", p.time->tsc_at_creation());
    w.u64("hypercalls", p.hypercalls);
    w.bytes("hypercalls_by_status", p.hypercalls_by_status, sizeof p.hypercalls_by_status);
    std::vector<uint8_t> codes;
    for (const auto& [code, n] : p.hypercalls_by_code) {
      uint8_t rec[10];
      std::memcpy(rec, &code, 2);
      std::memcpy(rec + 2, &n, 8);
      codes.insert(codes.end(), rec, rec + 10);
    }
    w.bytes("hypercalls_by_code", codes.data(), codes.size());
    w.boolean("crashed", p.crashed);
    w.str("crash_reason", p.crash_reason);
    w.bytes("crash_params", p.crash_params, sizeof p.crash_params);
    w.u64("guest_crashes", p.guest_crashes);
    std::vector<uint16_t> routes(p.testdev_routes.begin(), p.testdev_routes.end());
    w.bytes("testdev_routes", routes.data(), routes.size() * 2);
    w.u64("testdev_commands", p.testdev_commands);
    w.u64("testdev_refused", p.testdev_refused);
    // The partition tree (hv/partition_tree.cpp).
    w.u32("parent", p.parent);
    w.bytes("children", p.children.data(), p.children.size() * sizeof(PartitionId));
    w.boolean("initialized", p.initialized);
    std::vector<uint64_t> lent;
    for (const auto& [gpa, l] : p.lent) lent.insert(lent.end(), {gpa, l.parent_gpa, l.spa});
    w.bytes("lent", lent.data(), lent.size() * 8);
    w.bytes("cpuid_intercepts", p.cpuid_intercepts.data(), p.cpuid_intercepts.size() * 4);
    std::vector<uint8_t> io;
    for (const auto& [port, access] : p.io_intercepts)
      io.insert(io.end(), {static_cast<uint8_t>(port), static_cast<uint8_t>(port >> 8), access});
    w.bytes("io_intercepts", io.data(), io.size());
    w.end_section();
    p.gpa->save(w, ps + ".gpa");

    for (size_t j = 0; j < p.vps.size(); ++j) {
      const VirtualProcessor& vp = p.vps[j];
      std::string vs = vp_section(k, j);
      w.begin_section(vs, kVersion);
      w.u32("vpid", vp.vpid);
      w.u32("pcpu", vp.pcpu);
      w.u64("vmcs", vp.vmcs);
      w.boolean("vmcs_ready", vp.vmcs_ready);
      w.boolean("launched", vp.launched);
      w.boolean("pending", vp.pending_state != nullptr);
      if (vp.pending_state) cpu::save_arch_fields(w, *vp.pending_state, "pending.");
      save_regs(w, vp.regs);
      w.boolean("halted", vp.halted);
      w.boolean("halted_with_if", vp.halted_with_if);
      w.boolean("waiting_for_sipi", vp.waiting_for_sipi);
      w.bytes("auto_eoi", vp.auto_eoi, sizeof vp.auto_eoi);
      w.u64("timer_armed", vp.timer_armed);
      w.u32("window_bits", vp.window_bits);
      w.u64("exits", vp.exits);
      w.bytes("exits_by_reason", vp.exits_by_reason, sizeof vp.exits_by_reason);
      w.u64("interrupts_injected", vp.interrupts_injected);
      w.u64("nmis_injected", vp.nmis_injected);
      w.u64("wakeups", vp.wakeups);
      w.u64("turns", vp.turns);
      w.u64("emulated_mmio", vp.emulated_mmio);
      w.u64("string_io", vp.string_io);
      w.u64("sim_page", vp.synic->message_page());
      w.u64("sief_page", vp.synic->event_flags_page());
      w.u64("simp_saved", vp.simp_saved);
      w.u64("siefp_saved", vp.siefp_saved);
      w.u64("assist_page_msr", vp.assist_page_msr);
      w.u64("stimer_cycle", vp.stimer_cycle);
      w.end_section();
      vp.apic->save(w, vs + ".apic");
      vp.synic->save(w, vs + ".synic");
      vp.timers->save(w, vs + ".stimers");
    }
  }

  for (size_t n = 0; n < pcpus_.size(); ++n) {
    const Pcpu& pc = pcpus_[n];
    w.begin_section("hv.cpu" + std::to_string(n), kVersion);
    w.u64("vmxon", pc.vmxon);
    // The run queue as (partition index, VP index) pairs.
    std::vector<uint32_t> q;
    for (const Pcpu::Slot& s : pc.runq) {
      uint32_t pi = 0;
      while (partitions_[pi].get() != s.partition) ++pi;
      q.push_back(pi);
      q.push_back(s.vp);
    }
    w.bytes("runq", q.data(), q.size() * sizeof(uint32_t));
    w.u64("current", pc.current);
    w.u64("slice_end", pc.slice_end);
    w.u64("kick_at", pc.kick_at);
    w.u64("host_interrupts", pc.host_interrupts);
    w.u64("kicks", pc.kicks);
    w.u64("switches", pc.switches);
    w.end_section();
  }
  ports_.save(w, "hv.ports");
}

void Hypervisor::restore(StateReader& r) {
  if (!partitions_.empty())
    throw InternalError("Hypervisor::restore needs a hypervisor without partitions");
  open(r, "hv");
  if (r.u32("pcpus") != pcpus_.size()) bad("hv", "a different number of processors");
  if (r.u64("tsc_hz") != tsc_hz_ || r.u64("apic_hz") != apic_hz_ ||
      r.u64("slice_cycles") != slice_cycles_)
    bad("hv", "different clock frequencies or time slice");
  uint64_t msr_bitmap = r.u64("msr_bitmap");
  uint32_t pin = r.u32("pin_controls"), proc = r.u32("proc_controls");
  uint32_t next_id = r.u32("next_id"), next_vpid = r.u32("next_vpid");
  uint32_t count = r.u32("partitions");
  r.end_section();
  if (msr_bitmap != msr_bitmap_) bad("hv", "the MSR bitmap is elsewhere");
  if (next_vpid > 0xFFFF || next_id == 0 || count >= next_id) bad("hv", "bad id counters");
  pages_.restore(r, "hv.pages");
  auto owned = [&](const std::string& s, const char* what, uint64_t spa) {
    if ((spa & (kPageSize - 1)) || pages_.owner(spa) != kHypervisorOwned)
      bad(s, std::string(what) + " is not a hypervisor page");
  };
  owned("hv", "the MSR bitmap", msr_bitmap);

  for (uint32_t k = 0; k < count; ++k) {
    std::string ps = partition_section(k);
    open(r, ps);
    auto p = std::make_unique<Partition>();
    p->id = r.u32("id");
    p->name = r.str("name");
    p->memory = r.u64("memory");
    uint32_t vcpus = r.u32("vcpus");
    SyntheticCpuidParams& c = p->cpuid;
    c.max_leaf = r.u32("cpuid.max_leaf");
    c.build_number = r.u32("cpuid.build_number");
    c.major_version = static_cast<uint16_t>(r.u32("cpuid.major_version"));
    c.minor_version = static_cast<uint16_t>(r.u32("cpuid.minor_version"));
    c.service_pack = r.u32("cpuid.service_pack");
    c.service_branch = r.u8("cpuid.service_branch");
    c.service_number = r.u32("cpuid.service_number");
    c.privileges = r.u64("cpuid.privileges");
    c.misc_features = r.u32("cpuid.misc_features");
    c.features = r.u32("cpuid.features");
    c.recommendations = r.u32("cpuid.recommendations");
    c.spinlock_retries = r.u32("cpuid.spinlock_retries");
    c.physical_address_bits = r.u8("cpuid.physical_address_bits");
    c.max_virtual_processors = r.u32("cpuid.max_virtual_processors");
    c.max_logical_processors = r.u32("cpuid.max_logical_processors");
    c.max_interrupt_vectors = r.u32("cpuid.max_interrupt_vectors");
    c.hardware_features = r.u32("cpuid.hardware_features");
    c.cpu_management = r.u32("cpuid.cpu_management");
    c.nested_optimizations = r.u32("cpuid.nested_optimizations");
    c.root = r.boolean("cpuid.root");
    p->guest_os_id = r.u64("guest_os_id");
    p->hypercall_msr = r.u64("hypercall_msr");
    p->reference_tsc_msr = r.u64("reference_tsc_msr");
    p->hypercall_page = r.u64("hypercall_page");
    p->hypercall_saved = r.u64("hypercall_saved");
    p->tsc_page = r.u64("tsc_page");
    p->tsc_page_saved = r.u64("tsc_page_saved");
    p->tsc_sequence = r.u32("tsc_sequence");
    uint64_t tsc0 = r.u64("time.tsc0");
    p->hypercalls = r.u64("hypercalls");
    r.bytes_into("hypercalls_by_status", p->hypercalls_by_status, sizeof p->hypercalls_by_status);
    std::vector<uint8_t> codes = r.bytes("hypercalls_by_code");
    if (codes.size() % 10) bad(ps, "bad hypercalls_by_code");
    for (size_t i = 0; i < codes.size(); i += 10) {
      uint16_t code;
      uint64_t n;
      std::memcpy(&code, &codes[i], 2);
      std::memcpy(&n, &codes[i + 2], 8);
      p->hypercalls_by_code[code] = n;
    }
    p->crashed = r.boolean("crashed");
    p->crash_reason = r.str("crash_reason");
    r.bytes_into("crash_params", p->crash_params, sizeof p->crash_params);
    p->guest_crashes = r.u64("guest_crashes");
    std::vector<uint8_t> routes = r.bytes("testdev_routes");
    if (routes.size() % 2) bad(ps, "bad testdev_routes");
    for (size_t i = 0; i < routes.size(); i += 2) {
      uint16_t route;
      std::memcpy(&route, &routes[i], 2);
      if ((route & 0xFF) >= 16) bad(ps, "bad testdev route");
      p->testdev_routes.insert(route);
    }
    p->testdev_commands = r.u64("testdev_commands");
    p->testdev_refused = r.u64("testdev_refused");
    p->parent = r.u32("parent");
    std::vector<uint8_t> children = r.bytes("children");
    if (children.size() % sizeof(PartitionId)) bad(ps, "bad children");
    p->children.resize(children.size() / sizeof(PartitionId));
    if (!children.empty()) std::memcpy(p->children.data(), children.data(), children.size());
    p->initialized = r.boolean("initialized");
    std::vector<uint8_t> lent = r.bytes("lent");
    if (lent.size() % 24) bad(ps, "bad lent pages");
    for (size_t i = 0; i < lent.size(); i += 24) {
      uint64_t rec[3];
      std::memcpy(rec, &lent[i], 24);
      if ((rec[0] | rec[1] | rec[2]) & 0xFFF) bad(ps, "lent page not page-aligned");
      p->lent[rec[0]] = Partition::Lent{rec[1], rec[2]};
    }
    std::vector<uint8_t> intercepts = r.bytes("cpuid_intercepts");
    if (intercepts.size() % 4) bad(ps, "bad cpuid_intercepts");
    p->cpuid_intercepts.resize(intercepts.size() / 4);
    if (!intercepts.empty())
      std::memcpy(p->cpuid_intercepts.data(), intercepts.data(), intercepts.size());
    std::vector<uint8_t> io = r.bytes("io_intercepts");
    if (io.size() % 3) bad(ps, "bad io_intercepts");
    for (size_t i = 0; i < io.size(); i += 3) {
      if (!io[i + 2] || (io[i + 2] & ~3)) bad(ps, "bad I/O intercept access");
      p->io_intercepts[static_cast<uint16_t>(io[i] | io[i + 1] << 8)] = io[i + 2];
    }
    r.end_section();
    if (p->id == 0 || p->id >= next_id || p->id >= kHypervisorOwned) bad(ps, "bad partition id");
    for (const auto& q : partitions_)
      if (q->id == p->id || q->name == p->name) bad(ps, "a partition id or name twice");
    // A partition a root created by hypercall may have no memory or VP yet (its parent maps
    // pages and creates VPs later: hv/root_hypercalls.cpp).
    if (p->memory % kPageSize) bad(ps, "bad memory size");
    if (vcpus > 64) bad(ps, "bad number of virtual processors");
    owned(ps, "the hypercall page", p->hypercall_page);
    owned(ps, "the TSC page", p->tsc_page);
    p->time = std::make_unique<ReferenceTime>(tsc_hz_, tsc0);
    p->gpa = std::make_unique<GpaSpace>(pages_, mem_, p->id, /*allocate_root=*/false);
    p->gpa->restore(r, ps + ".gpa");
    p->apic_bus = std::make_unique<cpu::ApicBus>();
    p->vps.resize(vcpus);
    Partition& part = *p;
    partitions_.push_back(std::move(p));

    for (uint32_t j = 0; j < vcpus; ++j) {
      VirtualProcessor& vp = part.vps[j];
      std::string vs = vp_section(k, j);
      open(r, vs);
      vp.index = j;
      uint32_t vpid = r.u32("vpid");
      vp.pcpu = r.u32("pcpu");
      vp.vmcs = r.u64("vmcs");
      vp.vmcs_ready = r.boolean("vmcs_ready");
      vp.launched = r.boolean("launched");
      if (r.boolean("pending")) {
        vp.pending_state = std::make_unique<cpu::ArchState>();
        cpu::restore_arch_fields(r, *vp.pending_state, "pending.");
      }
      restore_regs(r, vp.regs);
      vp.halted = r.boolean("halted");
      vp.halted_with_if = r.boolean("halted_with_if");
      vp.waiting_for_sipi = r.boolean("waiting_for_sipi");
      r.bytes_into("auto_eoi", vp.auto_eoi, sizeof vp.auto_eoi);
      vp.timer_armed = r.u64("timer_armed");
      vp.window_bits = r.u32("window_bits");
      vp.exits = r.u64("exits");
      r.bytes_into("exits_by_reason", vp.exits_by_reason, sizeof vp.exits_by_reason);
      vp.interrupts_injected = r.u64("interrupts_injected");
      vp.nmis_injected = r.u64("nmis_injected");
      vp.wakeups = r.u64("wakeups");
      vp.turns = r.u64("turns");
      vp.emulated_mmio = r.u64("emulated_mmio");
      vp.string_io = r.u64("string_io");
      uint64_t sim = r.u64("sim_page"), sief = r.u64("sief_page");
      vp.simp_saved = r.u64("simp_saved");
      vp.siefp_saved = r.u64("siefp_saved");
      vp.assist_page_msr = r.u64("assist_page_msr");
      vp.stimer_cycle = r.u64("stimer_cycle");
      r.end_section();
      if (vpid == 0 || vpid >= next_vpid) bad(vs, "bad VPID");
      vp.vpid = static_cast<uint16_t>(vpid);
      if (vp.pcpu >= pcpus_.size()) bad(vs, "a physical CPU that does not exist");
      owned(vs, "the VMCS", vp.vmcs);
      owned(vs, "the message page", sim);
      owned(vs, "the event-flags page", sief);
      if (vp.launched && !vp.vmcs_ready) bad(vs, "launched without a VMCS");
      make_vp_models(part, j, sim, sief);
      vp.apic->restore(r, vs + ".apic");
      vp.synic->restore(r, vs + ".synic");
      vp.timers->restore(r, vs + ".stimers");
    }
  }
  next_id_ = next_id;
  next_vpid_ = static_cast<uint16_t>(next_vpid);
  pin_controls_ = pin;
  proc_controls_ = proc;

  for (size_t n = 0; n < pcpus_.size(); ++n) {
    Pcpu& pc = pcpus_[n];
    std::string cs = "hv.cpu" + std::to_string(n);
    open(r, cs);
    uint64_t vmxon = r.u64("vmxon");
    std::vector<uint8_t> q = r.bytes("runq");
    uint64_t current = r.u64("current");
    pc.slice_end = r.u64("slice_end");
    pc.kick_at = r.u64("kick_at");
    pc.host_interrupts = r.u64("host_interrupts");
    pc.kicks = r.u64("kicks");
    pc.switches = r.u64("switches");
    r.end_section();
    if (vmxon != pc.vmxon) bad(cs, "the VMXON region is elsewhere");
    if (q.size() % 8) bad(cs, "bad run queue");
    pc.runq.clear();
    for (size_t i = 0; i < q.size(); i += 8) {
      uint32_t pi, vi;
      std::memcpy(&pi, &q[i], 4);
      std::memcpy(&vi, &q[i + 4], 4);
      if (pi >= partitions_.size() || vi >= partitions_[pi]->vps.size() ||
          partitions_[pi]->vps[vi].pcpu != n)
        bad(cs, "the run queue names a VP that is not placed here");
      pc.runq.push_back(Pcpu::Slot{partitions_[pi].get(), vi});
    }
    if (current != Pcpu::kNone && current >= pc.runq.size()) bad(cs, "bad current VP");
    pc.current = static_cast<size_t>(current);
  }
  // Every VP is in exactly one run queue (that of its physical CPU, checked above).
  std::set<std::pair<const Partition*, uint32_t>> seen;
  size_t vps = 0;
  for (const auto& p : partitions_) vps += p->vps.size();
  for (const Pcpu& pc : pcpus_)
    for (const Pcpu::Slot& s : pc.runq)
      if (!seen.emplace(s.partition, s.vp).second) bad("hv.cpu*", "a VP in a run queue twice");
  if (seen.size() != vps) bad("hv.cpu*", "a VP in no run queue");
  // The tree names only partitions that exist, and each child names its parent.
  for (const auto& p : partitions_) {
    if (p->parent && !partition_by_id(p->parent)) bad("hv.p*", "a parent that does not exist");
    for (PartitionId c : p->children) {
      const Partition* child = partition_by_id(c);
      if (!child || child->parent != p->id) bad("hv.p*", "a child that is not one");
    }
  }
  ports_.restore(r, "hv.ports");
}

}  // namespace hvsim::hv
