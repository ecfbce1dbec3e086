// EPT and VPID: the EPT walk of guest-physical addresses (the second dimension of every
// guest page walk), EPT violations and misconfigurations, A/D flags for EPT, the VM-entry
// checks of the EPT pointer and VPID, guest PDPTEs under EPT, INVEPT and INVVPID (Intel SDM
// Vol. 3C ch. 29 "VMX support for address translation": 29.1 VPID, 29.3 EPT, 29.4 "Caching
// translation information"; 27.2.1.1, 27.3.1.6, 28.3.4; Vol. 2 "INVEPT", "INVVPID").
//
// TLB: the software TLB holds the running context's translations; with "enable VPID" VM
// entries and exits park it and bring back the next one's, tagged by (VPID, EP4TA)
// (cpu/tlb_context.cpp). INVEPT and INVVPID invalidate the contexts they name.
#include "cpu/vmx/spec/ept.h"
#include "core/inspect.h"
#include "cpu/cpu_impl.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu::vmx {

using namespace spec;
using F = VmcsField;

namespace {
/// Address bits of EPT entries and the EPTP: 39:12 (MAXPHYADDR 40); bits 51:40 reserved.
constexpr uint64_t kAddrMask = ((1ull << cpu::spec::kMaxPhysAddrBits) - 1) & ~0xFFFull;
constexpr uint64_t kHighReserved =
    ((1ull << 52) - 1) & ~((1ull << cpu::spec::kMaxPhysAddrBits) - 1);
}  // namespace

bool Vmx::ept_enabled() const {
  auto proc_c = static_cast<uint32_t>(vmcs_.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  if (!(proc_c & proc::kActivateSecondaryControls)) return false;
  auto p2 = static_cast<uint32_t>(vmcs_.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  return p2 & proc2::kEnableEpt;
}

bool Vmx::ept_controls_ok() const {
  auto proc_c = static_cast<uint32_t>(vmcs_.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  uint32_t p2 =
      (proc_c & proc::kActivateSecondaryControls)
          ? static_cast<uint32_t>(vmcs_.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS))
          : 0;
  if ((p2 & proc2::kEnableVpid) && vmcs_.get(F::VIRTUAL_PROCESSOR_ID) == 0) return false;
  if (p2 & proc2::kEnableEpt) {
    uint64_t eptp = vmcs_.get(F::EPT_POINTER);
    uint64_t mt = eptp & kEptpMemoryTypeMask;
    if (mt != static_cast<uint64_t>(EptMemoryType::kUncacheable) &&
        mt != static_cast<uint64_t>(EptMemoryType::kWriteBack))
      return false;
    uint64_t pwl = (eptp & kEptpWalkLengthMask) >> kEptpWalkLengthShift;
    if (pwl != 3 && pwl != 4) return false;
    if (eptp & (kEptpSupervisorShadowStack | kEptpReserved11_8 |
                ~((1ull << cpu::spec::kMaxPhysAddrBits) - 1)))
      return false;
  }
  return true;
}

void Vmx::ept_enter() {
  c_.vmx_ept_ = ept_enabled();
  eptp_ = vmcs_.get(F::EPT_POINTER);
  ept_levels_ = ((eptp_ & kEptpWalkLengthMask) >> kEptpWalkLengthShift) + 1;
  ept_ad_ = eptp_ & kEptpAccessedDirty;
  auto proc_c = static_cast<uint32_t>(vmcs_.get(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  auto p2 = static_cast<uint32_t>(vmcs_.get(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS));
  bool vpid_on = (proc_c & proc::kActivateSecondaryControls) && (p2 & proc2::kEnableVpid);
  vpid_ = vpid_on ? static_cast<uint16_t>(vmcs_.get(F::VIRTUAL_PROCESSOR_ID)) : 0;
}

bool Vmx::ept_load_pdptes(bool load) const {
  const F fields[4] = {F::GUEST_PDPTE0, F::GUEST_PDPTE1, F::GUEST_PDPTE2, F::GUEST_PDPTE3};
  for (unsigned k = 0; k < 4; ++k) {
    uint64_t e = vmcs_.get(fields[k]);
    if ((e & cpu::spec::kPteP) && (e & cpu::spec::kPdpteReserved)) return false;
    if (load) c_.s_.pdpte[k] = e;
  }
  return true;
}

void Vmx::ept_save_pdptes() {
  if (!ept_enabled() || c_.paging_mode() != cpu::spec::PagingMode::kPae) return;
  const F fields[4] = {F::GUEST_PDPTE0, F::GUEST_PDPTE1, F::GUEST_PDPTE2, F::GUEST_PDPTE3};
  for (unsigned k = 0; k < 4; ++k) vmcs_.set(fields[k], c_.s_.pdpte[k]);
}

void Vmx::ept_exit(ExitReason r, uint64_t qualification, uint64_t gpa, uint64_t gla) {
  ExitInfo e;
  e.reason = static_cast<uint32_t>(r);
  e.qualification = qualification;
  e.guest_physical_address = gpa;
  e.guest_linear_address = gla;
  pending_exit_ = e;
  throw Fault{kVmExitVector, false, 0};
}

void Vmx::take_pending_exit() {
  ExitInfo e = pending_exit_;
  pending_exit_ = ExitInfo{};
  if (e.basic() != ExitReason::EPT_VIOLATION && e.basic() != ExitReason::EPT_MISCONFIGURATION)
    return;  // nothing pending (cannot happen: only ept_exit throws kVmExitVector)
  vmcs_.set(F::GUEST_PHYSICAL_ADDRESS, e.guest_physical_address);
  vm_exit(e);
}

EptTranslation Vmx::ept_walk(uint64_t gpa, uint64_t need, uint64_t la, uint64_t qual_flags) {
  ++ept_walks_;
  PhysicalMemory& mem = *c_.env_.mem;
  struct Used {
    uint64_t hpa, value;
  } used[5];
  int n = 0;
  uint64_t allowed = kEptRwx;
  auto violation = [&] {
    ++ept_violations_;
    uint64_t q = need | (allowed << ept_qual::kAllowedShift) | qual_flags;
    if (nmi_unblocked_by_iret()) q |= ept_qual::kNmiUnblocking;
    ept_exit(ExitReason::EPT_VIOLATION, q, gpa, (qual_flags & ept_qual::kLinearValid) ? la : 0);
  };
  auto misconfig = [&] {
    ++ept_misconfigs_;
    ept_exit(ExitReason::EPT_MISCONFIGURATION, 0, gpa, 0);
  };
  uint64_t table = eptp_ & kAddrMask;
  uint64_t page_size = 4096, page = 0;
  for (int level = static_cast<int>(ept_levels_) - 1;; --level) {
    uint64_t epa = table + ((gpa >> (12 + 9 * level)) & 0x1FF) * 8;
    ++ept_walk_refs_;
    c_.cycles_ += c_.timing_.walk_reference;
    // Why: an EPT table outside RAM is non-existent memory, which reads as all ones (a
    // misconfiguration below), never a device access.
    uint64_t e = mem.contains(epa, 8) ? c_.phys_read(epa, 8) : ~0ull;
    uint64_t rwx = e & kEptRwx;
    allowed &= rwx;
    if (rwx == 0) violation();  // not present (SDM 29.3.2)
    // Misconfigurations (SDM 29.3.3.1): W without R, X without R (no execute-only
    // support), reserved bits, a reserved memory type in the leaf.
    if ((rwx & kEptRead) == 0) misconfig();
    bool leaf = level == 0 || ((level == 1 || level == 2) && (e & kEptLargePage));
    uint64_t rsvd = kHighReserved;
    if (level >= 3)
      rsvd |= kEptPml4Reserved;
    else if (!leaf)
      rsvd |= kEptDirReserved;
    else if (level == 2)
      rsvd |= kEpt1GReserved;
    else if (level == 1)
      rsvd |= kEpt2MReserved;
    if (e & rsvd) misconfig();
    if (leaf && ept_memory_type_reserved((e >> kEptMemoryTypeShift) & 7)) misconfig();
    used[n++] = Used{epa, e};
    if (leaf) {
      page_size = 1ull << (12 + 9 * level);
      page = e & kAddrMask & ~(page_size - 1);
      break;
    }
    table = e & kAddrMask;
  }
  if (need & ~allowed) violation();
  bool dirty = true;
  if (ept_ad_) {
    // A on every entry used, D on the leaf for writes (SDM 29.3.5).
    for (int k = 0; k < n; ++k) {
      uint64_t ne = used[k].value | kEptAccessed;
      if (k == n - 1 && (need & kEptWrite)) ne |= kEptDirty;
      if (ne != used[k].value) c_.phys_write(used[k].hpa, 8, ne);
    }
    dirty = (need & kEptWrite) || (used[n - 1].value & kEptDirty);
  }
  return EptTranslation{page | (gpa & (page_size - 1)), static_cast<uint8_t>(allowed), dirty};
}

EptTranslation Vmx::ept_final(uint64_t gpa, cpu::Access acc, uint64_t la) {
  uint64_t need = acc == cpu::Access::kWrite   ? ept_qual::kWrite
                  : acc == cpu::Access::kFetch ? ept_qual::kFetch
                                               : ept_qual::kRead;
  return ept_walk(gpa, need, la, ept_qual::kLinearValid | ept_qual::kFinalTranslation);
}

uint64_t Vmx::ept_paging(uint64_t gpa, uint64_t la, bool write) {
  // With A/D flags for EPT, guest paging-structure accesses are writes and report both
  // bits 0 and 1 (SDM 29.3.3.2, Table 28-7 note).
  uint64_t need = ept_ad_ ? (ept_qual::kRead | ept_qual::kWrite)
                  : write ? ept_qual::kWrite
                          : ept_qual::kRead;
  return ept_walk(gpa, need, la, ept_qual::kLinearValid).hpa;
}

uint64_t Vmx::ept_pdpte(uint64_t gpa) {
  return ept_walk(gpa, ept_qual::kRead, 0, 0).hpa;
}

// ---- INVEPT, INVVPID ----

bool Vmx::invept_type_supported(uint64_t type) {
  return type == static_cast<uint64_t>(InveptType::kSingleContext) ||
         type == static_cast<uint64_t>(InveptType::kAllContext);
}

bool Vmx::invvpid_type_supported(uint64_t type) {
  return type <= static_cast<uint64_t>(InvvpidType::kSingleContextRetainingGlobals);
}

VmResult Vmx::invept_desc(uint64_t type, uint64_t lo, uint64_t hi) {
  (void)hi;  // bits 127:64 are reserved and not checked (SDM Vol. 2 "INVEPT")
  if (!invept_type_supported(type))
    return fail_valid(VmInstructionError::INVALID_OPERAND_TO_INVEPT_INVVPID);
  if (type == static_cast<uint64_t>(InveptType::kSingleContext)) {
    // The EPTP must pass the VM-entry checks (memory type, walk length, reserved bits).
    uint64_t mt = lo & kEptpMemoryTypeMask;
    uint64_t pwl = (lo & kEptpWalkLengthMask) >> kEptpWalkLengthShift;
    bool ok = (mt == 0 || mt == 6) && (pwl == 3 || pwl == 4) &&
              !(lo & (kEptpSupervisorShadowStack | kEptpReserved11_8 |
                      ~((1ull << cpu::spec::kMaxPhysAddrBits) - 1)));
    if (!ok) return fail_valid(VmInstructionError::INVALID_OPERAND_TO_INVEPT_INVVPID);
  }
  ++invepts_;
  // Combined mappings of every VPID tagged with the EP4TA, or with any EP4TA; guest-
  // physical mappings are not cached apart from them.
  if (type == static_cast<uint64_t>(InveptType::kSingleContext))
    c_.tlb_invalidate_contexts(kTlbKeyEp4ta | 1, (lo & kTlbKeyEp4ta) | 1, ~0ull, false);
  else
    c_.tlb_invalidate_contexts(1, 1, ~0ull, false);
  return succeed();
}

VmResult Vmx::invvpid_desc(uint64_t type, uint64_t lo, uint64_t hi) {
  if (!invvpid_type_supported(type))
    return fail_valid(VmInstructionError::INVALID_OPERAND_TO_INVEPT_INVVPID);
  if (lo >> 16) return fail_valid(VmInstructionError::INVALID_OPERAND_TO_INVEPT_INVVPID);
  uint16_t vpid = static_cast<uint16_t>(lo);
  auto t = static_cast<InvvpidType>(type);
  if (t == InvvpidType::kIndividualAddress && (vpid == 0 || !c_.canonical(hi)))
    return fail_valid(VmInstructionError::INVALID_OPERAND_TO_INVEPT_INVVPID);
  if ((t == InvvpidType::kSingleContext || t == InvvpidType::kSingleContextRetainingGlobals) &&
      vpid == 0)
    return fail_valid(VmInstructionError::INVALID_OPERAND_TO_INVEPT_INVVPID);
  ++invvpids_;
  // Linear and combined mappings of the VPID (any EP4TA); all-context: every VPID but 0.
  constexpr uint64_t kVpidMask = 0xFFFFull << kTlbKeyVpidShift;
  uint64_t value = static_cast<uint64_t>(vpid) << kTlbKeyVpidShift;
  switch (t) {
    case InvvpidType::kIndividualAddress:
      c_.tlb_invalidate_contexts(kVpidMask, value, hi, false);
      break;
    case InvvpidType::kSingleContext:
      c_.tlb_invalidate_contexts(kVpidMask, value, ~0ull, false);
      break;
    case InvvpidType::kAllContext: c_.tlb_invalidate_contexts(0, 0, ~0ull, false); break;
    case InvvpidType::kSingleContextRetainingGlobals:
      c_.tlb_invalidate_contexts(kVpidMask, value, ~0ull, true);
      break;
  }
  return succeed();
}

void Vmx::ept_inspect(InspectNode& n) const {
  InspectNode& e = n.child("ept");
  e.value("active", c_.ept_active() ? "yes" : "no");
  e.counter("eptp", eptp_);
  e.counter("vpid", vpid_);
  e.counter("ept_walks", ept_walks_);
  e.counter("ept_walk_refs", ept_walk_refs_);
  e.counter("violations", ept_violations_);
  e.counter("misconfigurations", ept_misconfigs_);
  e.counter("invept", invepts_);
  e.counter("invvpid", invvpids_);
}

}  // namespace hvsim::cpu::vmx
