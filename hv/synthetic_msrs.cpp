// The synthetic MSRs a partition is given (TLFS; spec/hyperv-interfaces.md §2, §3.1, §4, §5):
// GUEST_OS_ID, HYPERCALL with its overlay page, VP_INDEX, TIME_REF_COUNT, REFERENCE_TSC with
// its overlay page, TSC_FREQUENCY and APIC_FREQUENCY, the SynIC MSRs with the SIM and SIEF
// overlay pages (hv/synic.h) and the synthetic timer MSRs (hv/synthetic_timers.h). Each needs
// its privilege in CPUID 0x40000003 (Partition::cpuid); anything else, and any write the TLFS
// forbids, is #GP(0).
#include "core/phys_mem.h"
#include "cpu/vmx/spec/ept.h"
#include "hv/hypervisor.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

using cpu::vmx::VmcsField;
using F = VmcsField;
using M = spec::SyntheticMsr;
namespace pv = spec::privilege;

namespace {

// Overlay owners, for overlay_conflict: the partition's two pages, then two per VP.
constexpr unsigned kHypercallOverlay = 0, kTscOverlay = 1;
constexpr unsigned simp_overlay(uint32_t vp) {
  return 2 + 2 * vp;
}
constexpr unsigned siefp_overlay(uint32_t vp) {
  return 3 + 2 * vp;
}

/// Whether `msr` enables an overlay at a GPFN where another enabled overlay of the partition
/// (any but `self`) already sits. Overlapping overlays are undefined (TLFS "SIM Page");
/// hvsim refuses them (#GP), so that removing one can never uncover another's page.
bool overlay_conflict(const Partition& p, uint64_t msr, unsigned self) {
  using namespace spec::overlay_msr;
  if (!(msr & kEnable)) return false;
  auto at = [&](unsigned owner, uint64_t m) {
    return owner != self && (m & kEnable) && (m & kGpfnMask) == (msr & kGpfnMask);
  };
  if (at(kHypercallOverlay, p.hypercall_msr) || at(kTscOverlay, p.reference_tsc_msr)) return true;
  for (const VirtualProcessor& vp : p.vps)
    if (at(simp_overlay(vp.index), vp.synic->simp()) ||
        at(siefp_overlay(vp.index), vp.synic->siefp()))
      return true;
  return false;
}

}  // namespace

void Hypervisor::set_overlay(Partition& p, uint64_t page, uint64_t* saved, uint64_t old_msr,
                             uint64_t new_msr, uint8_t rwx) {
  constexpr uint64_t kEnable = 1, kGpfn = ~uint64_t{0xFFF};
  bool was = old_msr & kEnable, now = new_msr & kEnable;
  if (was && (!now || (old_msr & kGpfn) != (new_msr & kGpfn))) {
    p.gpa->remove_overlay(old_msr & kGpfn, *saved);
    *saved = 0;
  }
  if (now && (!was || (old_msr & kGpfn) != (new_msr & kGpfn)))
    p.gpa->overlay(new_msr & kGpfn, page, rwx, saved);
  if (was != now || (old_msr & kGpfn) != (new_msr & kGpfn)) {
    // The VP's combined mappings of the old page must go (SDM 29.4.3.1).
    for (const VirtualProcessor& vp : p.vps)
      pcpus_[vp.pcpu].api->invept(static_cast<uint64_t>(cpu::vmx::spec::InveptType::kSingleContext),
                                  p.gpa->eptp());
  }
}

bool Hypervisor::handle_msr(Pcpu& pc, Partition& p, VirtualProcessor& vp, bool write) {
  cpu::ArchState& s = pc.cpu->state();
  auto msr = static_cast<uint32_t>(s.gpr[cpu::kRcx]);
  uint64_t v = (s.gpr[cpu::kRdx] << 32) | static_cast<uint32_t>(s.gpr[cpu::kRax]);
  uint64_t priv = p.cpuid.privileges;
  uint64_t out = 0;
  auto has = [&](uint64_t bit) { return (priv & bit) != 0; };
  switch (static_cast<M>(msr)) {
    case M::HV_X64_MSR_GUEST_OS_ID:
      if (!has(pv::kAccessHypercallMsrs)) return false;
      if (!write) {
        out = p.guest_os_id;
        break;
      }
      p.guest_os_id = v;
      // GUEST_OS_ID 0 disables the hypercall page (TLFS).
      if (v == 0 && (p.hypercall_msr & spec::hypercall_msr::kEnable)) {
        uint64_t off = p.hypercall_msr & ~spec::hypercall_msr::kEnable;
        set_overlay(p, p.hypercall_page, &p.hypercall_saved, p.hypercall_msr, off, 5);
        p.hypercall_msr = off;
      }
      return true;
    case M::HV_X64_MSR_HYPERCALL: {
      if (!has(pv::kAccessHypercallMsrs)) return false;
      if (!write) {
        out = p.hypercall_msr;
        break;
      }
      using namespace spec::hypercall_msr;
      // Reserved bits fault (OpenVMM's policy, dossier §2); a locked MSR keeps its value
      // until the partition is reset; without a guest OS id the page stays disabled.
      if (v & kReservedMask) return false;
      if (p.hypercall_msr & kLocked) return v == p.hypercall_msr;
      if ((v & kEnable) && p.guest_os_id == 0) v &= ~kEnable;
      if (overlay_conflict(p, v, kHypercallOverlay)) return false;
      set_overlay(p, p.hypercall_page, &p.hypercall_saved, p.hypercall_msr, v, 5);
      p.hypercall_msr = v;
      return true;
    }
    case M::HV_X64_MSR_VP_INDEX:
      if (!has(pv::kAccessVpIndex) || write) return false;
      out = vp.index;
      break;
    case M::HV_X64_MSR_TIME_REF_COUNT:
      if (!has(pv::kAccessPartitionReferenceCounter) || write) return false;
      out = p.time->counter_at_tsc(pc.cpu->cycles());
      break;
    case M::HV_X64_MSR_REFERENCE_TSC: {
      if (!has(pv::kAccessPartitionReferenceTsc)) return false;
      if (!write) {
        out = p.reference_tsc_msr;
        break;
      }
      if (v & spec::reference_tsc_msr::kReservedMask) return false;
      if (overlay_conflict(p, v, kTscOverlay)) return false;
      if (v & spec::reference_tsc_msr::kEnable) {
        // The page the guest reads: (TSC * scale >> 64) + offset = TIME_REF_COUNT.
        p.tsc_sequence = next_tsc_sequence(p.tsc_sequence);
        spec::HvReferenceTscPage page = p.time->tsc_page(p.tsc_sequence);
        mem_.write(p.tsc_page, &page, sizeof page);
      }
      set_overlay(p, p.tsc_page, &p.tsc_page_saved, p.reference_tsc_msr, v, 1);
      p.reference_tsc_msr = v;
      return true;
    }
    case M::HV_X64_MSR_TSC_FREQUENCY:
      if (!has(pv::kAccessFrequencyRegs) || write) return false;
      out = tsc_hz_;
      break;
    case M::HV_X64_MSR_APIC_FREQUENCY:
      if (!has(pv::kAccessFrequencyRegs) || write) return false;
      out = apic_hz_;
      break;
    default:
      if (Synic::is_synic_msr(msr)) {
        if (!has(pv::kAccessSynicRegs)) return false;
        if (write) return write_synic_msr(p, vp, msr, v);
        if (!vp.synic->read_msr(msr, &out)) return false;
      } else if (SyntheticTimers::is_timer_msr(msr)) {
        if (!has(pv::kAccessSyntheticTimerRegs)) return false;
        if (write) {
          if (!vp.timers->write_msr(msr, v, reference_time(p, vp))) return false;
          poll_timers(p, vp);  // a deadline already past fires before the guest resumes
          return true;
        }
        if (!vp.timers->read_msr(msr, &out)) return false;
      } else {
        return false;
      }
      break;
  }
  s.gpr[cpu::kRax] = static_cast<uint32_t>(out);
  s.gpr[cpu::kRdx] = out >> 32;
  return true;
}

bool Hypervisor::write_synic_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, uint64_t v) {
  uint64_t simp = vp.synic->simp(), siefp = vp.synic->siefp();
  if (msr == static_cast<uint32_t>(M::HV_X64_MSR_SIMP) &&
      overlay_conflict(p, v, simp_overlay(vp.index)))
    return false;
  if (msr == static_cast<uint32_t>(M::HV_X64_MSR_SIEFP) &&
      overlay_conflict(p, v, siefp_overlay(vp.index)))
    return false;
  if (!vp.synic->write_msr(msr, v)) return false;
  // The SIM and SIEF pages behave like RAM for the guest (TLFS "SIM Page"): read/write
  // overlays of the hypervisor's pages at the GPFNs, moved or removed as the MSRs change.
  set_overlay(p, vp.synic->message_page(), &vp.simp_saved, simp, vp.synic->simp(), 3);
  set_overlay(p, vp.synic->event_flags_page(), &vp.siefp_saved, siefp, vp.synic->siefp(), 3);
  return true;
}

bool Hypervisor::overlay_write(Pcpu& pc, const Partition& p, const cpu::vmx::ExitInfo& e) {
  uint64_t page = e.guest_physical_address & ~uint64_t{0xFFF};
  bool hc = (p.hypercall_msr & 1) && (p.hypercall_msr & ~uint64_t{0xFFF}) == page;
  bool tsc = (p.reference_tsc_msr & 1) && (p.reference_tsc_msr & ~uint64_t{0xFFF}) == page;
  if (!hc && !tsc) return false;
  (void)pc;
  return true;
}

}  // namespace hvsim::hv
