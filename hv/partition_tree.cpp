// The partition tree (issue 5; TLFS "Partition Properties", dossier §1.2 CreatePartitions):
// the host creates top-level partitions, a partition with CreatePartitions creates children
// of its own (hv/root_hypercalls.cpp), and deleting a partition deletes its subtree and
// returns every page it held. Also where a partition and its VPs are put together.
#include <algorithm>

#include "core/error.h"
#include "core/phys_mem.h"
#include "cpu/lapic/apic_bus.h"
#include "cpu/vmx/spec/ept.h"
#include "hv/hypervisor.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

void Hypervisor::invept_all(uint64_t eptp) {
  for (Pcpu& pc : pcpus_)
    pc.api->invept(static_cast<uint64_t>(cpu::vmx::spec::InveptType::kSingleContext), eptp);
}

Partition& Hypervisor::new_partition(const std::string& name, PartitionId parent, bool root) {
  auto p = std::make_unique<Partition>();
  p->id = next_id_++;
  p->name = name;
  p->parent = parent;
  p->gpa = std::make_unique<GpaSpace>(pages_, mem_, p->id);
  namespace pv = spec::privilege;
  // Privileges and features only for what is implemented (hv/synthetic_msrs.cpp,
  // hv/hypercalls.cpp, hv/interrupts.cpp, hv/root_hypercalls.cpp). A root gets the
  // partition-management privileges of dossier §1.2 but not CpuManagement (bit 12 of EBX
  // makes Linux take the physical-root paths, which hvsim does not model).
  p->cpuid.privileges = pv::kAccessHypercallMsrs | pv::kAccessVpIndex |
                        pv::kAccessPartitionReferenceCounter | pv::kAccessPartitionReferenceTsc |
                        pv::kAccessFrequencyRegs | pv::kAccessIntrCtrlRegs | pv::kAccessSynicRegs |
                        pv::kAccessSyntheticTimerRegs | pv::kPostMessages | pv::kSignalEvents |
                        pv::kAccessResetReg;
  if (root)
    p->cpuid.privileges |=
        pv::kCreatePartitions | pv::kAccessPartitionId | pv::kCreatePort | pv::kConnectPort;
  p->cpuid.features = spec::feature::kFrequencyMsrsAvailable |
                      spec::feature::kGuestCrashMsrsAvailable | spec::feature::kSintPollingMode |
                      spec::feature::kDirectSyntheticTimers;
  // Linux sends IPIs with HvCallSendSyntheticClusterIpi when recommended (dossier §1.4).
  p->cpuid.recommendations = spec::recommend::kSyntheticClusterIpi;
  p->hypercall_page = pages_.allocate(kHypervisorOwned).value();
  mem_.write(p->hypercall_page, spec::kHypercallPageVmcall, sizeof spec::kHypercallPageVmcall);
  p->tsc_page = pages_.allocate(kHypervisorOwned).value();
  p->apic_bus = std::make_unique<cpu::ApicBus>();
  p->time = std::make_unique<ReferenceTime>(tsc_hz_, pcpus_[0].cpu->cycles());
  if (Partition* up = partition_by_id(parent)) up->children.push_back(p->id);
  partitions_.push_back(std::move(p));
  return *partitions_.back();
}

bool Hypervisor::add_vp(Partition& p) {
  if (pages_.free_pages() < 3) return false;
  // Placement: the least-loaded physical CPU, preferring one without a VP of this
  // partition, ties to the lowest index (a function of the creation history only).
  auto key = [&](uint32_t c) {
    bool mine = std::any_of(p.vps.begin(), p.vps.end(),
                            [c](const VirtualProcessor& v) { return v.pcpu == c; });
    return std::make_pair(mine, pcpus_[c].runq.size());
  };
  uint32_t best = 0;
  for (uint32_t c = 1; c < pcpus_.size(); ++c)
    if (key(c) < key(best)) best = c;
  auto k = static_cast<uint32_t>(p.vps.size());
  Pcpu& pc = pcpus_[best];
  p.vps.emplace_back();
  VirtualProcessor& vp = p.vps.back();
  vp.index = k;
  vp.pcpu = best;
  vp.vpid = next_vpid_++;
  vp.vmcs = pages_.allocate(kHypervisorOwned).value();
  vp.waiting_for_sipi = k != 0;  // application processors wait for their start-up IPI
  pc.runq.push_back(Pcpu::Slot{&p, k});
  // The SynIC's message and event-flags pages: zero at VP creation (TLFS "SIM Page"); the
  // virtual LAPIC, SynIC and timers (make_vp_models, also what a restore rebuilds).
  uint64_t sim = pages_.allocate(kHypervisorOwned).value();
  uint64_t sief = pages_.allocate(kHypervisorOwned).value();
  make_vp_models(p, k, sim, sief);
  return true;
}

Partition* Hypervisor::partition_by_id(PartitionId id) {
  for (auto& p : partitions_)
    if (p->id == id) return p.get();
  return nullptr;
}

bool Hypervisor::deletable(const Partition& p) const {
  // Why only this: the machine runs one physical CPU at a time, and advance() may return
  // with a VP still in VMX non-root operation (its quantum ended inside the guest). Such a
  // VP's VMCS is active on its processor and cannot be cleared from outside; everything
  // else (a VP that exited, or is descheduled) can go at once. A hypercall exit of the
  // deleting partition never has its own VP in the guest, and on a single physical CPU no
  // other VP is then; with several, a VP of the target left in the guest on another
  // processor makes the delete fail (HV_STATUS_INVALID_PARTITION_STATE) until it exits.
  for (const Pcpu& pc : pcpus_)
    if (pc.api->in_guest() && pc.current != Pcpu::kNone && pc.runq[pc.current].partition == &p)
      return false;
  for (PartitionId c : p.children)
    for (const auto& q : partitions_)
      if (q->id == c && !deletable(*q)) return false;
  return true;
}

void Hypervisor::delete_partition(PartitionId id) {
  Partition* p = partition_by_id(id);
  if (!p) throw InputError("delete_partition: no partition " + std::to_string(id));
  if (!deletable(*p))
    throw InputError("delete_partition: partition '" + p->name + "' is running in a VM entry");
  // Children first (a copy: each deletion edits this list).
  std::vector<PartitionId> kids = p->children;
  for (PartitionId c : kids) delete_partition(c);
  if (Partition* up = partition_by_id(p->parent)) std::erase(up->children, id);
  destroy_partition(*p);
  std::erase_if(partitions_, [p](const std::unique_ptr<Partition>& q) { return q.get() == p; });
}

void Hypervisor::destroy_partition(Partition& p) {
  // Off the run queues: a current VP's VMCS is cleared (its state written back and the
  // processor's current-VMCS pointer invalid, SDM 24.11.3) so that schedule() starts afresh
  // and nothing refers to the freed page again.
  // VMCLEAR every VMCS of the partition that a processor may hold (SDM 24.11.3): the
  // processor keeps nothing of a page that is freed next. A processor in the guest holds
  // only its current VMCS (another partition's: deletable()).
  for (VirtualProcessor& vp : p.vps)
    if (vp.vmcs_ready && !pcpus_[vp.pcpu].api->in_guest()) pcpus_[vp.pcpu].api->vmclear(vp.vmcs);
  for (Pcpu& pc : pcpus_) {
    Partition* current = pc.current != Pcpu::kNone ? pc.runq[pc.current].partition : nullptr;
    if (current == &p) {
      pc.current = Pcpu::kNone;
    }
    size_t before = pc.current;
    Pcpu::Slot keep{};
    if (before != Pcpu::kNone) keep = pc.runq[before];
    std::erase_if(pc.runq, [&p](const Pcpu::Slot& s) { return s.partition == &p; });
    if (before != Pcpu::kNone)
      for (size_t k = 0; k < pc.runq.size(); ++k)
        if (pc.runq[k].partition == keep.partition && pc.runq[k].vp == keep.vp) pc.current = k;
  }
  ports_.remove_partition(p.id);
  // Lent pages go back to the parent at the GPAs they came from, with what they hold.
  if (Partition* up = partition_by_id(p.parent)) {
    for (const auto& [gpa, l] : p.lent) {
      pages_.transfer(l.spa, p.id, up->id);
      up->gpa->map(l.parent_gpa, l.spa, 7);
    }
    invept_all(up->gpa->eptp());
  }
  p.lent.clear();
  for (uint64_t spa : pages_.owned_by(p.id)) pages_.free(spa);
  for (VirtualProcessor& vp : p.vps) {
    pages_.free(vp.vmcs);
    pages_.free(vp.synic->message_page());
    pages_.free(vp.synic->event_flags_page());
  }
  pages_.free(p.hypercall_page);
  pages_.free(p.tsc_page);
  // Its EPT tables are freed: no processor may keep translations of them (a later
  // partition's EPT may start at the same page).
  invept_all(p.gpa->eptp());
  p.gpa.reset();
}

}  // namespace hvsim::hv
