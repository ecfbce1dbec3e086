// vmx_roundtrip: host time and simulated cycles of a simple VM-exit round trip through the
// C++ front door (cpu/vmx/vmx_api.h; Intel SDM Vol. 3C ch. 26-28): a 64-bit guest loops on
// CPUID, the C++ "hypervisor" answers each CPUID exit, advances the guest RIP and resumes.
// One round trip = VMRESUME (VM entry), guest JMP + CPUID, VM exit, 4 VMREAD/VMWRITEs.
// Usage: vmx_roundtrip [--quick] [--json]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/io_bus.h"
#include "core/phys_mem.h"
#include "core/trace.h"
#include "cpu/cpu.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx_api.h"

namespace {

using namespace hvsim;
using namespace hvsim::cpu;
using hvsim::cpu::vmx::VmcsField;
using F = VmcsField;

constexpr uint64_t kPml4 = 0x20000, kPdpt = 0x21000, kPd = 0x22000;
constexpr uint64_t kGdt = 0x30000, kTss = 0x31000, kIdt = 0x32000;
constexpr uint64_t kHostStack = 0x70000, kGuestStack = 0x90000;
constexpr uint64_t kVmxon = 0x400000, kVmcs = 0x401000;
constexpr uint64_t kGuestCode = 0x500000;
constexpr uint64_t kRam = 16 << 20;

int fail(const char* what) {
  std::fprintf(stderr, "vmx_roundtrip: %s\n", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, json = false;
  for (int k = 1; k < argc; ++k) {
    if (!std::strcmp(argv[k], "--quick")) quick = true;
    if (!std::strcmp(argv[k], "--json")) json = true;
  }
  const uint64_t n = quick ? 20000 : 1000000;
  PhysicalMemory mem(kRam);
  PortIoBus io;
  MmioBus mmio;
  Tracer tracer;
  bool stop = false;
  CpuEnv env{&mem, &io, &mmio, &tracer, &stop};
  auto cpu = std::make_unique<Cpu>(CpuParams{}, env);

  // Identity map of the first 16 MiB with 2 MiB pages, a GDT (64-bit code, data, TSS).
  mem.store<uint64_t>(kPml4, kPdpt | 3);
  mem.store<uint64_t>(kPdpt, kPd | 3);
  for (uint64_t k = 0; k < 8; ++k) mem.store<uint64_t>(kPd + k * 8, (k << 21) | 0x83);
  mem.store<uint64_t>(kGdt + 0x08, 0x00AF9A000000FFFFull);
  mem.store<uint64_t>(kGdt + 0x10, 0x00CF92000000FFFFull);
  mem.store<uint64_t>(kGdt + 0x18, 0x67 | (kTss << 16) | (0x89ull << 40));
  // Guest: cpuid; jmp $-4.
  const uint8_t code[] = {0x0F, 0xA2, 0xEB, 0xFC};
  mem.write(kGuestCode, code, sizeof code);

  ArchState& s = cpu->state();
  s.cr0 = kCr0PE | kCr0PG | kCr0ET | kCr0WP | kCr0NE;
  s.cr4 = kCr4PAE | kCr4VMXE;
  s.cr3 = kPml4;
  s.efer = kEferLME | kEferLMA | kEferNXE;
  s.seg[kCs] = SegReg{0x08, 0, 0xFFFFFFFF, 0xA09B};
  for (int k : {kSs, kDs, kEs, kFs, kGs}) s.seg[k] = SegReg{0x10, 0, 0xFFFFFFFF, 0xC093};
  s.gdtr = TableReg{kGdt, 0x1F};
  s.idtr = TableReg{kIdt, 0xFFF};
  s.tr = SegReg{0x18, kTss, 0x67, 0x8B};
  s.gpr[kRsp] = kHostStack;
  s.rflags = 2;
  cpu->state_changed();
  if (!cpu->vmx().write_msr(0x3A, 5)) return fail("IA32_FEATURE_CONTROL");
  uint32_t rev = vmx::Vmx::capability(vmx::spec::VmxMsr::IA32_VMX_BASIC) & 0x7FFFFFFF;
  mem.store<uint32_t>(kVmxon, rev);
  mem.store<uint32_t>(kVmcs, rev);

  vmx::VmxApi api(*cpu);
  if (!api.vmxon(kVmxon).ok() || !api.vmclear(kVmcs).ok() || !api.vmptrld(kVmcs).ok())
    return fail("VMXON/VMCLEAR/VMPTRLD");
  using namespace vmx::spec;
  bool ok = true;
  auto w = [&](F f, uint64_t v) { ok &= api.vmwrite(f, v).ok(); };
  w(F::PIN_BASED_VM_EXECUTION_CONTROLS,
    vmx::Vmx::allowed_controls(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS, 0));
  w(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
    vmx::Vmx::allowed_controls(VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS, 0));
  w(F::PRIMARY_VM_EXIT_CONTROLS,
    vmx::Vmx::allowed_controls(VmxMsr::IA32_VMX_TRUE_EXIT_CTLS, exit_ctl::kHostAddressSpaceSize |
                                                                    exit_ctl::kSaveIa32Efer |
                                                                    exit_ctl::kLoadIa32Efer));
  w(F::VM_ENTRY_CONTROLS,
    vmx::Vmx::allowed_controls(VmxMsr::IA32_VMX_TRUE_ENTRY_CTLS,
                               entry_ctl::kIa32eModeGuest | entry_ctl::kLoadIa32Efer));
  ok &= api.write_host_state_from_current().ok();
  w(F::GUEST_CR0, s.cr0);
  w(F::GUEST_CR3, s.cr3);
  w(F::GUEST_CR4, s.cr4);
  w(F::GUEST_IA32_EFER, s.efer);
  w(F::GUEST_DR7, 0x400);
  const F segs[][4] = {
      {F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_ACCESS_RIGHTS},
      {F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_ACCESS_RIGHTS},
      {F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_ACCESS_RIGHTS},
      {F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_ACCESS_RIGHTS},
      {F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_ACCESS_RIGHTS},
      {F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_ACCESS_RIGHTS},
  };
  const SegReg* regs[] = {&s.seg[kEs], &s.seg[kCs], &s.seg[kSs],
                          &s.seg[kDs], &s.seg[kFs], &s.seg[kGs]};
  for (int k = 0; k < 6; ++k) {
    w(segs[k][0], regs[k]->selector);
    w(segs[k][1], regs[k]->base);
    w(segs[k][2], regs[k]->limit);
    w(segs[k][3], regs[k]->attr | ((regs[k]->attr & 0x10) ? 1 : 0));  // accessed
  }
  w(F::GUEST_TR_SELECTOR, 0x18);
  w(F::GUEST_TR_BASE, kTss);
  w(F::GUEST_TR_LIMIT, 0x67);
  w(F::GUEST_TR_ACCESS_RIGHTS, 0x8B);
  w(F::GUEST_LDTR_ACCESS_RIGHTS, 0x10000);
  w(F::GUEST_GDTR_BASE, kGdt);
  w(F::GUEST_GDTR_LIMIT, 0x1F);
  w(F::GUEST_IDTR_BASE, kIdt);
  w(F::GUEST_IDTR_LIMIT, 0xFFF);
  w(F::GUEST_RSP, kGuestStack);
  w(F::GUEST_RIP, kGuestCode);
  w(F::GUEST_RFLAGS, 2);
  w(F::VMCS_LINK_POINTER, ~0ull);
  if (!ok) return fail("VMWRITE");

  // Warm up (decode the guest code), then time n round trips.
  auto round_trip = [&](vmx::VmxApi::Entry e) {
    vmx::RunResult r = api.vm_enter(e, 1000);
    if (r.kind != vmx::RunResult::Kind::kExit || r.exit.basic() != vmx::ExitReason::CPUID)
      return false;
    uint64_t rip = 0, len = 0;
    api.vmread(F::GUEST_RIP, &rip);
    api.vmread(F::VM_EXIT_INSTRUCTION_LENGTH, &len);
    s.gpr[kRax] = 0;  // the host's CPUID answer
    s.gpr[kRbx] = 0x756E6547;
    s.gpr[kRdx] = 0x49656E69;
    s.gpr[kRcx] = 0x6C65746E;
    return api.vmwrite(F::GUEST_RIP, rip + len).ok();
  };
  if (!round_trip(vmx::VmxApi::Entry::kLaunch)) return fail("first CPUID exit");
  uint64_t c0 = cpu->cycles();
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t k = 0; k < n; ++k)
    if (!round_trip(vmx::VmxApi::Entry::kResume)) return fail("CPUID exit");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double ns = secs * 1e9 / static_cast<double>(n);
  double cycles = static_cast<double>(cpu->cycles() - c0) / static_cast<double>(n);
  if (json)
    std::printf(
        "[{\"workload\": \"vmx-cpuid-exit-api\", \"round_trips\": %llu, \"host_seconds\": %.4f, "
        "\"ns_per_round_trip\": %.1f, \"cycles_per_round_trip\": %.1f}]\n",
        static_cast<unsigned long long>(n), secs, ns, cycles);
  else
    std::printf("vmx_roundtrip: %llu CPUID exit round trips, %.1f ns each, %.1f cycles each\n",
                static_cast<unsigned long long>(n), ns, cycles);
  return 0;
}
