// The hypervisor's side of instruction emulation (hv/insn_emulator.h): guest registers from
// the VMCS and the processor, the partition's RAM through its EPT space, MMIO to the
// machine's devices or to the virtual local APIC, and the result back into the VMCS (Intel
// SDM Vol. 3C 28.2.1 exit qualifications of EPT violations, Table 28-7; 26.3.2 injection;
// spec/hyperv-interfaces.md §3.7 MMIO intercepts, which Hyper-V serves by emulation).
#include <cstdio>

#include "core/io_bus.h"
#include "core/phys_mem.h"
#include "cpu/lapic/spec/regs.h"
#include "cpu/vmx/spec/vmcs_layouts.h"
#include "cpu/vmx/vmcs.h"
#include "hv/hypervisor.h"
#include "hv/insn_emulator.h"
#include "hv/synic.h"

namespace hvsim::hv {

using cpu::vmx::VmcsField;
using F = VmcsField;
namespace vs = cpu::vmx::spec;

namespace {

/// A partition's RAM as guest-physical memory: what its EPT maps, with the EPT's rights.
class PartitionRam final : public GuestPhysMemory {
 public:
  PartitionRam(const GpaSpace& space, PhysicalMemory& mem) : space_(space), mem_(mem) {}
  bool read(uint64_t gpa, void* out, unsigned len) override {
    uint8_t rwx = 0;
    auto spa = space_.translate(gpa, &rwx);
    if (!spa || !(rwx & 1) || (gpa & 0xFFF) + len > kPageSize) return false;
    mem_.read(*spa, out, len);
    return true;
  }
  bool write(uint64_t gpa, const void* in, unsigned len) override {
    uint8_t rwx = 0;
    auto spa = space_.translate(gpa, &rwx);
    if (!spa || !(rwx & 2) || (gpa & 0xFFF) + len > kPageSize) return false;
    mem_.write(*spa, in, len);
    return true;
  }
  bool is_ram(uint64_t gpa) const override { return space_.translate(gpa).has_value(); }

 private:
  const GpaSpace& space_;
  PhysicalMemory& mem_;
};

/// MMIO of a VP: its local APIC page (in xAPIC mode, at its IA32_APIC_BASE) to its virtual
/// LAPIC, the rest to the machine's devices at the same address (the root's device
/// emulation).
class PartitionMmio final : public MmioTarget {
 public:
  PartitionMmio(MmioBus& bus, cpu::Lapic& apic, Synic& synic)
      : bus_(bus), apic_(apic), synic_(synic) {}
  uint64_t read(uint64_t gpa, unsigned size) override {
    return apic_.mmio_hit(gpa) ? apic_.mmio_read(gpa & 0xFFF, size) : bus_.read(gpa, size);
  }
  void write(uint64_t gpa, unsigned size, uint64_t value) override {
    if (!apic_.mmio_hit(gpa)) {
      bus_.write(gpa, size, value);
      return;
    }
    apic_.mmio_write(gpa & 0xFFF, size, value);
    // An EOI makes the SynIC retry messages waiting for a free slot (dossier §4.5), as
    // the x2APIC and Hyper-V EOI MSRs do (hv/interrupts.cpp).
    if ((gpa & 0xFF0) == static_cast<uint64_t>(cpu::lapic::Reg::kEoi)) synic_.apic_eoi();
  }

 private:
  MmioBus& bus_;
  cpu::Lapic& apic_;
  Synic& synic_;
};

}  // namespace

bool Hypervisor::emulate(Pcpu& pc, Partition& p, VirtualProcessor& vp, const cpu::vmx::ExitInfo& e,
                         bool string_io) {
  cpu::vmx::VmxApi& api = *pc.api;
  auto where = [&] {
    char buf[96];
    unsigned long long rip = api.read(F::GUEST_RIP);
    if (string_io)
      std::snprintf(buf, sizeof buf, " (port %#llx, RIP %#llx)",
                    static_cast<unsigned long long>(e.qualification >> 16), rip);
    else
      std::snprintf(buf, sizeof buf, " (guest-physical address %#llx, RIP %#llx)",
                    static_cast<unsigned long long>(e.guest_physical_address), rip);
    return std::string(buf);
  };
  if (!string_io) {
    // Only data accesses through a translation are emulated: an instruction fetch from
    // device memory, or guest page tables there, cannot be (SDM Table 28-7: bit 2 fetch,
    // bit 7 linear address valid, bit 8 the access was to the translated address).
    uint64_t q = e.qualification;
    if (q & 4) {
      crash(p, "instruction fetch from device memory" + where());
      return false;
    }
    if ((q & (1u << 7)) && !(q & (1u << 8))) {
      crash(p, "guest page tables in device memory" + where());
      return false;
    }
    // An access made while delivering an event (IDT, stack, TSS in device memory; SDM
    // 28.2.4 IDT-vectoring information) is not the instruction's: nothing to emulate.
    if (e.idt_vectoring_info & vs::kIntrInfoValid) {
      crash(p, "event delivery through device memory" + where());
      return false;
    }
  }
  cpu::ArchState& s = pc.cpu->state();
  GuestCpu g;
  g.gpr = s.gpr;
  g.xmm = s.fpu.xmm;
  g.rip = api.read(F::GUEST_RIP);
  g.rflags = api.read(F::GUEST_RFLAGS);
  for (int k = 0; k < cpu::kNumSegs; ++k) {
    const cpu::vmx::GuestSegmentFields& f = cpu::vmx::kGuestSegmentFields[k];
    g.seg[k] = cpu::SegReg{static_cast<uint16_t>(api.read(f.selector)), api.read(f.base),
                           static_cast<uint32_t>(api.read(f.limit)),
                           static_cast<uint32_t>(api.read(f.access_rights))};
  }
  PagingRegs& pr = g.paging;
  pr.cr0 = api.read(F::GUEST_CR0);
  pr.cr3 = api.read(F::GUEST_CR3);
  pr.cr4 = api.read(F::GUEST_CR4);
  pr.efer = api.read(F::GUEST_IA32_EFER);
  pr.rflags = g.rflags;
  pr.cpl = (g.seg[cpu::kSs].attr >> 5) & 3;
  const F pdpte[4] = {F::GUEST_PDPTE0, F::GUEST_PDPTE1, F::GUEST_PDPTE2, F::GUEST_PDPTE3};
  for (unsigned k = 0; k < 4; ++k) pr.pdpte[k] = api.read(pdpte[k]);

  PartitionRam ram(*p.gpa, mem_);
  PartitionMmio mmio(mmio_, vp.apic->lapic(), *vp.synic);
  EmulationResult r = emulate_instruction(g, ram, mmio, string_io ? &io_ : nullptr);
  vp.emulated_mmio += r.mmio_accesses;
  if (string_io) ++vp.string_io;
  switch (r.kind) {
    case EmulationResult::Kind::kCannotEmulate: crash(p, r.reason + where()); return false;
    case EmulationResult::Kind::kFault: {
      // A REP instruction keeps the iterations done before the fault (RIP unchanged).
      api.vmwrite(F::GUEST_RFLAGS, g.rflags);
      uint32_t info = r.fault.vector |
                      (static_cast<uint32_t>(vs::InterruptionType::kHardwareException)
                       << vs::kIntrInfoTypeShift) |
                      vs::kIntrInfoValid | (r.fault.has_error ? vs::kIntrInfoErrorCodeValid : 0);
      api.vmwrite(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, info);
      api.vmwrite(F::VM_ENTRY_EXCEPTION_ERROR_CODE, r.fault.error);
      if (r.fault.vector == 14) s.cr2 = r.fault.cr2;  // CR2 is not VMCS state (SDM 26.6.1.3)
      return true;
    }
    case EmulationResult::Kind::kDone: break;
  }
  bool advanced = g.rip != api.read(F::GUEST_RIP);
  api.vmwrite(F::GUEST_RIP, g.rip);
  api.vmwrite(F::GUEST_RFLAGS, g.rflags);
  if (advanced) {
    // The emulated instruction completed: blocking by STI or MOV SS ends (SDM 26.3.1.5).
    uint64_t intr = api.read(F::GUEST_INTERRUPTIBILITY_STATE);
    if (intr & 3) api.vmwrite(F::GUEST_INTERRUPTIBILITY_STATE, intr & ~uint64_t{3});
  }
  return true;
}

}  // namespace hvsim::hv
