// The VMX unit-test fixture: a long-mode processor with VMX enabled and a VMCS whose guest
// shares the host's identity-mapped tables (Intel SDM Vol. 3C ch. 24-28).
#pragma once

#include <gtest/gtest.h>

#include "core/state.h"
#include "cpu/test_support.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx_api.h"

namespace hvsim::cpu::vmx::testing_vmx {

using testing::Asm;
using testing::CpuFixture;
using testing::I;
using testing::Layout;
using testing::M;
using testing::R;
using F = VmcsField;
using Kind = RunResult::Kind;

constexpr uint64_t kVmxon = 0x400000, kVmcs = 0x401000, kVmcs2 = 0x402000;
constexpr uint64_t kIoBitmapA = 0x403000, kIoBitmapB = 0x404000, kMsrBitmap = 0x405000;
constexpr uint64_t kMsrList = 0x406000;
constexpr uint64_t kGuestCode = 0x500000, kGuestStack = 0x580000;

class VmxTest : public CpuFixture {
 public:
  VmxTest() : api_(*cpu_) {}

  /// Long mode with CR4.VMXE, IA32_FEATURE_CONTROL locked with VMX enabled, and the
  /// revision id in the VMXON and VMCS regions.
  void enable_vmx() {
    enter_long_mode();
    st().cr4 |= kCr4VMXE;
    cpu_->state_changed();
    ASSERT_TRUE(cpu_->vmx().write_msr(0x3A, 5));
    uint64_t basic = Vmx::capability(spec::VmxMsr::IA32_VMX_BASIC);
    for (uint64_t r : {kVmxon, kVmcs, kVmcs2}) mem_.store<uint32_t>(r, basic & 0x7FFFFFFF);
  }

  static uint32_t ctl(spec::VmxMsr m, uint32_t want) { return Vmx::allowed_controls(m, want); }

  /// VMXON, VMCLEAR + VMPTRLD of kVmcs, controls with the given extra bits, host state from
  /// the processor, and a 64-bit guest sharing the host's tables at `rip`.
  void build_vmcs(uint64_t rip, uint32_t pin = 0, uint32_t proc = 0, uint32_t proc2 = 0) {
    enable_vmx();
    ASSERT_TRUE(api_.vmxon(kVmxon).ok());
    ASSERT_TRUE(api_.vmclear(kVmcs).ok());
    ASSERT_TRUE(api_.vmptrld(kVmcs).ok());
    using namespace spec;
    w(F::PIN_BASED_VM_EXECUTION_CONTROLS, ctl(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS, pin));
    if (proc2) proc |= proc::kActivateSecondaryControls;
    w(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
      ctl(VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS, proc));
    w(F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, proc2);
    w(F::PRIMARY_VM_EXIT_CONTROLS,
      ctl(VmxMsr::IA32_VMX_TRUE_EXIT_CTLS,
          exit_ctl::kHostAddressSpaceSize | exit_ctl::kSaveIa32Efer | exit_ctl::kLoadIa32Efer));
    w(F::VM_ENTRY_CONTROLS,
      ctl(VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS, entry_ctl::kIa32eModeGuest | entry_ctl::kLoadIa32Efer));
    ASSERT_TRUE(api_.write_host_state_from_current().ok());
    const ArchState& s = st();
    w(F::GUEST_CR0, s.cr0);
    w(F::GUEST_CR3, s.cr3);
    w(F::GUEST_CR4, s.cr4);
    w(F::GUEST_IA32_EFER, s.efer);
    w(F::GUEST_DR7, 0x400);
    struct {
      F sel, base, limit, ar;
      const SegReg& r;
    } segs[] = {
        {F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_ACCESS_RIGHTS,
         s.seg[kEs]},
        {F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_ACCESS_RIGHTS,
         s.seg[kCs]},
        {F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_ACCESS_RIGHTS,
         s.seg[kSs]},
        {F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_ACCESS_RIGHTS,
         s.seg[kDs]},
        {F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_ACCESS_RIGHTS,
         s.seg[kFs]},
        {F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_ACCESS_RIGHTS,
         s.seg[kGs]},
        {F::GUEST_TR_SELECTOR, F::GUEST_TR_BASE, F::GUEST_TR_LIMIT, F::GUEST_TR_ACCESS_RIGHTS,
         s.tr},
    };
    for (auto& g : segs) {
      w(g.sel, g.r.selector);
      w(g.base, g.r.base);
      w(g.limit, g.r.limit);
      // Data segments must be marked accessed; the TR a busy TSS.
      uint32_t ar = g.r.attr | ((g.r.attr & 0x10) ? 1 : 0);
      w(g.ar, ar);
    }
    w(F::GUEST_LDTR_ACCESS_RIGHTS, 0x10000);
    w(F::GUEST_GDTR_BASE, s.gdtr.base);
    w(F::GUEST_GDTR_LIMIT, s.gdtr.limit);
    w(F::GUEST_IDTR_BASE, s.idtr.base);
    w(F::GUEST_IDTR_LIMIT, s.idtr.limit);
    w(F::GUEST_RSP, kGuestStack);
    w(F::GUEST_RIP, rip);
    w(F::GUEST_RFLAGS, 2);
    w(F::VMCS_LINK_POINTER, ~0ull);
  }

  void w(F f, uint64_t v) { ASSERT_TRUE(api_.vmwrite(f, v).ok()) << to_string(f); }
  uint64_t r(F f) { return api_.read(f); }
  /// A second processor with its own copy of this one's memory, restored from a checkpoint
  /// of this one taken now: determinism tests run both on and compare.
  struct Twin : CpuFixture {
    void TestBody() override {}
  };
  std::unique_ptr<Twin> twin() {
    StateWriter sw;
    cpu_->save(sw);
    std::vector<uint8_t> bytes = sw.finish();
    auto t = std::make_unique<Twin>();
    t->mem_.write(0, mem_.read_ptr(0), Layout::kRamSize);
    StateReader sr(bytes, "twin");
    t->cpu_->restore(sr);
    return t;
  }
  /// Real-mode guest state (CR0.PE = PG = 0, for "unrestricted guest" under EPT): CS:IP and
  /// SS:SP as given, DS = CS, ES/FS/GS 0, IDTR the real-mode IVT.
  void real_mode_guest(uint16_t cs, uint16_t ss, uint16_t ip, uint16_t sp) {
    using namespace spec;
    w(F::VM_ENTRY_CONTROLS, ctl(VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS, entry_ctl::kLoadIa32Efer));
    w(F::GUEST_IA32_EFER, 0);
    w(F::GUEST_CR0, kCr0NE | kCr0ET);
    w(F::GUEST_CR4, kCr4VMXE);
    struct {
      F sel, base, limit, ar;
      uint16_t selector;
      uint32_t attr;
    } segs[] = {
        {F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_ACCESS_RIGHTS, cs,
         0x9B},
        {F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_ACCESS_RIGHTS, ss,
         0x93},
        {F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_ACCESS_RIGHTS, cs,
         0x93},
        {F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_ACCESS_RIGHTS, 0,
         0x93},
        {F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_ACCESS_RIGHTS, 0,
         0x93},
        {F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_ACCESS_RIGHTS, 0,
         0x93},
        {F::GUEST_TR_SELECTOR, F::GUEST_TR_BASE, F::GUEST_TR_LIMIT, F::GUEST_TR_ACCESS_RIGHTS, 0,
         0x8B},
    };
    for (auto& s : segs) {
      w(s.sel, s.selector);
      w(s.base, uint64_t{s.selector} << 4);
      w(s.limit, 0xFFFF);
      w(s.ar, s.attr);
    }
    w(F::GUEST_GDTR_BASE, 0);
    w(F::GUEST_GDTR_LIMIT, 0);
    w(F::GUEST_IDTR_BASE, 0);
    w(F::GUEST_IDTR_LIMIT, 0x3FF);
    w(F::GUEST_RSP, sp);
    w(F::GUEST_RIP, ip);
  }
  /// Advances the guest past the exiting instruction and resumes.
  RunResult resume_after(const RunResult& x) {
    w(F::GUEST_RIP, r(F::GUEST_RIP) + x.exit.instruction_length);
    return api_.vm_enter(VmxApi::Entry::kResume, 100000);
  }

  VmxApi api_;
};

}  // namespace hvsim::cpu::vmx::testing_vmx
