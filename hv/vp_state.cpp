// A VP's architectural state as the VMCS and the saved registers hold it (Intel SDM Vol. 3C
// 25.4 "Guest-state area"): given to the VMCS when a loader, a start-up IPI or a parent sets
// it (apply_state, write_vp_state), and read back for a parent's HvCallGetVpRegisters or a
// host-side inspection (read_vp_state). The VMCS of a VP that is not current on its physical
// CPU is reached by VMPTRLD there and the processor's current VMCS is put back after, as a
// hypervisor does; a processor that is running a guest right now (mid-slice, between two
// of the machine's quanta) issues no VMX instruction, so its VPs' state is out of reach until
// it exits.
#include "core/error.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/spec/vmcs_layouts.h"
#include "cpu/vmx/vmx.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {

using cpu::vmx::VmcsField;
using cpu::vmx::VmxApi;
using F = VmcsField;
namespace vs = cpu::vmx::spec;

namespace {

void must(const cpu::vmx::VmResult& r, const char* what) {
  if (!r.ok()) throw InternalError(std::string("hypervisor: ") + what + " failed");
}

/// The guest-state fields of the current VMCS from `s` (and the entry control that follows
/// EFER.LMA); the owned bits CR0.NE and CR4.VMXE keep the guest's view in the read shadows.
void write_fields(VmxApi& api, const cpu::ArchState& s) {
  auto w = [&](F f, uint64_t v) { must(api.vmwrite(f, v), "VMWRITE"); };
  bool ia32e = s.efer & cpu::kEferLMA;
  w(F::GUEST_CR0, s.cr0 | cpu::kCr0NE | cpu::kCr0ET);
  w(F::CR0_READ_SHADOW, s.cr0 & cpu::kCr0NE);
  w(F::GUEST_CR3, s.cr3);
  w(F::GUEST_CR4, s.cr4 | cpu::kCr4VMXE);
  w(F::CR4_READ_SHADOW, s.cr4 & cpu::kCr4VMXE);
  w(F::GUEST_IA32_EFER, s.efer);
  w(F::VM_ENTRY_CONTROLS,
    cpu::vmx::Vmx::allowed_controls(
        vs::VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS,
        vs::entry_ctl::kLoadIa32Efer | (ia32e ? vs::entry_ctl::kIa32eModeGuest : 0)));
  w(F::GUEST_RSP, s.gpr[cpu::kRsp]);
  w(F::GUEST_RIP, s.rip);
  w(F::GUEST_RFLAGS, s.rflags | 2);
  for (int k = 0; k < 8; ++k) {
    const cpu::vmx::GuestSegmentFields& g = cpu::vmx::kGuestSegmentFields[k];
    const cpu::SegReg& r = k < cpu::kNumSegs ? s.seg[k] : k == 6 ? s.ldtr : s.tr;
    uint32_t ar = r.attr & 0x1F0FF;
    // Usable code and data segments have been accessed (loading one sets the bit).
    if (!(ar & 0x10000) && (ar & 0x10)) ar |= 1;
    w(g.selector, r.selector);
    w(g.base, r.base);
    w(g.limit, r.limit);
    w(g.access_rights, ar);
  }
  w(F::GUEST_GDTR_BASE, s.gdtr.base);
  w(F::GUEST_GDTR_LIMIT, s.gdtr.limit);
  w(F::GUEST_IDTR_BASE, s.idtr.base);
  w(F::GUEST_IDTR_LIMIT, s.idtr.limit);
}

/// `s` from the current VMCS's guest-state fields (GPRs other than RSP are not there).
void read_fields(VmxApi& api, cpu::ArchState& s) {
  uint64_t cr0 = api.read(F::GUEST_CR0), cr4 = api.read(F::GUEST_CR4);
  s.cr0 = (cr0 & ~cpu::kCr0NE) | (api.read(F::CR0_READ_SHADOW) & cpu::kCr0NE);
  s.cr3 = api.read(F::GUEST_CR3);
  s.cr4 = (cr4 & ~cpu::kCr4VMXE) | (api.read(F::CR4_READ_SHADOW) & cpu::kCr4VMXE);
  s.efer = api.read(F::GUEST_IA32_EFER);
  s.gpr[cpu::kRsp] = api.read(F::GUEST_RSP);
  s.rip = api.read(F::GUEST_RIP);
  s.rflags = api.read(F::GUEST_RFLAGS);
  for (int k = 0; k < 8; ++k) {
    const cpu::vmx::GuestSegmentFields& g = cpu::vmx::kGuestSegmentFields[k];
    cpu::SegReg& r = k < cpu::kNumSegs ? s.seg[k] : k == 6 ? s.ldtr : s.tr;
    r.selector = static_cast<uint16_t>(api.read(g.selector));
    r.base = api.read(g.base);
    r.limit = static_cast<uint32_t>(api.read(g.limit));
    r.attr = static_cast<uint32_t>(api.read(g.access_rights));
  }
  s.gdtr = cpu::TableReg{api.read(F::GUEST_GDTR_BASE),
                         static_cast<uint16_t>(api.read(F::GUEST_GDTR_LIMIT))};
  s.idtr = cpu::TableReg{api.read(F::GUEST_IDTR_BASE),
                         static_cast<uint16_t>(api.read(F::GUEST_IDTR_LIMIT))};
}

}  // namespace

void Hypervisor::apply_state(Pcpu& pc, VirtualProcessor&, const cpu::ArchState& s) {
  VmxApi& api = *pc.api;
  write_fields(api, s);
  must(api.vmwrite(F::GUEST_DR7, 0x400), "VMWRITE");
  must(api.vmwrite(F::GUEST_ACTIVITY_STATE, 0), "VMWRITE");
  must(api.vmwrite(F::GUEST_INTERRUPTIBILITY_STATE, 0), "VMWRITE");
  for (int k = 0; k < 16; ++k) pc.cpu->state().gpr[k] = s.gpr[k];
  pc.cpu->state_changed();
}

bool Hypervisor::with_vp_vmcs(VirtualProcessor& vp, const std::function<void(VmxApi&)>& fn) {
  Pcpu& pc = pcpus_[vp.pcpu];
  if (!vp.vmcs_ready || pc.api->in_guest()) return false;
  uint64_t current = 0;
  if (pc.current != Pcpu::kNone) {
    const Pcpu::Slot& slot = pc.runq[pc.current];
    current = slot.partition->vps[slot.vp].vmcs;
  }
  if (current != vp.vmcs) must(pc.api->vmptrld(vp.vmcs), "VMPTRLD");
  fn(*pc.api);
  if (current && current != vp.vmcs) must(pc.api->vmptrld(current), "VMPTRLD");
  return true;
}

/// The registers of `vp` that are not in the VMCS: live in its physical CPU while it is the
/// current VP there, else where the last switch saved them.
static uint64_t* gprs_of(cpu::Cpu& cpu, bool current, VirtualProcessor& vp) {
  return current ? cpu.state().gpr : vp.regs.gpr;
}

bool Hypervisor::read_vp_state(VirtualProcessor& vp, cpu::ArchState* out) {
  if (vp.pending_state) {
    *out = *vp.pending_state;
    return true;
  }
  Pcpu& pc = pcpus_[vp.pcpu];
  bool current = pc.current != Pcpu::kNone &&
                 &pc.runq[pc.current].partition->vps[pc.runq[pc.current].vp] == &vp;
  return with_vp_vmcs(vp, [&](VmxApi& api) {
    const uint64_t* g = gprs_of(*pc.cpu, current, vp);
    for (int k = 0; k < 16; ++k)
      if (k != cpu::kRsp) out->gpr[k] = g[k];
    read_fields(api, *out);
  });
}

bool Hypervisor::write_vp_state(VirtualProcessor& vp, const cpu::ArchState& s) {
  if (vp.pending_state || !vp.vmcs_ready) {
    vp.pending_state = std::make_unique<cpu::ArchState>(s);
    return true;
  }
  Pcpu& pc = pcpus_[vp.pcpu];
  bool current = pc.current != Pcpu::kNone &&
                 &pc.runq[pc.current].partition->vps[pc.runq[pc.current].vp] == &vp;
  return with_vp_vmcs(vp, [&](VmxApi& api) {
    write_fields(api, s);
    uint64_t* g = gprs_of(*pc.cpu, current, vp);
    for (int k = 0; k < 16; ++k)
      if (k != cpu::kRsp) g[k] = s.gpr[k];
    if (current) pc.cpu->state_changed();
  });
}

}  // namespace hvsim::hv
