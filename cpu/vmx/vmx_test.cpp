// Unit tests of the VMX engine through the C++ front door (cpu/vmx/vmx_api.h) and through
// guest VMX instructions (Intel SDM Vol. 3C ch. 24-28, 31).
#include <gtest/gtest.h>

#include "core/state.h"
#include "cpu/lapic/lapic.h"
#include "cpu/spec/debug.h"
#include "cpu/test_support.h"
#include "cpu/vmx/spec/controls.h"
#include "cpu/vmx/vmx_api.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx {
namespace {

using namespace testing_vmx;

TEST_F(VmxTest, CpuidAndCapabilityMsrs) {
  enter_long_mode();
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(1)})(ZYDIS_MNEMONIC_CPUID)(ZYDIS_MNEMONIC_HLT);
  load(Layout::kCode, a);
  run();
  EXPECT_TRUE(st().gpr[kRcx] & (1u << 5)) << "CPUID.1:ECX.VMX";
  uint64_t basic = Vmx::capability(spec::VmxMsr::IA32_VMX_BASIC);
  EXPECT_EQ(basic & 0x7FFFFFFF, caps::kRevisionId);
  EXPECT_EQ((basic >> 32) & 0x1FFF, 4096u);
  EXPECT_EQ((basic >> 50) & 0xF, 6u);
  EXPECT_TRUE(basic & (1ull << 55));
  // Default1 bits are reported as required in the non-true MSRs.
  uint64_t proc = Vmx::capability(spec::VmxMsr::IA32_VMX_PROCBASED_CTLS);
  EXPECT_EQ(static_cast<uint32_t>(proc), spec::proc::kDefault1);
  uint64_t tproc = Vmx::capability(spec::VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS);
  EXPECT_EQ(static_cast<uint32_t>(tproc), spec::proc::kTrueDefault1);
  // EPT, VPID and unrestricted guest (cpu/vmx/ept_test.cpp, unrestricted_test.cpp).
  uint64_t p2 = Vmx::capability(spec::VmxMsr::IA32_VMX_PROCBASED_CTLS2);
  constexpr uint32_t kWant =
      spec::proc2::kEnableEpt | spec::proc2::kEnableVpid | spec::proc2::kUnrestrictedGuest;
  EXPECT_EQ(p2 >> 32 & kWant, kWant);
  uint64_t v;
  EXPECT_FALSE(cpu_->vmx().read_msr(0x491, &v)) << "IA32_VMX_VMFUNC does not exist";
  EXPECT_FALSE(cpu_->vmx().write_msr(0x480, 0)) << "capability MSRs are read-only";
  EXPECT_EQ(Vmx::capability(spec::VmxMsr::IA32_VMX_VMCS_ENUM), 0x2Eu);
}

TEST_F(VmxTest, FeatureControlLock) {
  Vmx& x = cpu_->vmx();
  uint64_t v = 1;
  ASSERT_TRUE(x.read_msr(0x3A, &v));
  EXPECT_EQ(v, 0u) << "unlocked at power-on";
  EXPECT_FALSE(x.write_msr(0x3A, 2)) << "no SMX: bit 1 is reserved";
  EXPECT_TRUE(x.write_msr(0x3A, 4));
  EXPECT_TRUE(x.write_msr(0x3A, 5));
  EXPECT_FALSE(x.write_msr(0x3A, 1)) << "locked";
  cpu_->reset();
  ASSERT_TRUE(x.read_msr(0x3A, &v));
  EXPECT_EQ(v, 0u);
}

TEST_F(VmxTest, VmxonChecks) {
  enter_long_mode();
  EXPECT_EQ(api_.vmxon(kVmxon).status, VmStatus::kFault) << "CR4.VMXE = 0: #UD";
  EXPECT_EQ(api_.vmxon(kVmxon).vector, 6);
  st().cr4 |= kCr4VMXE;
  cpu_->state_changed();
  VmResult r = api_.vmxon(kVmxon);
  EXPECT_EQ(r.status, VmStatus::kFault) << "IA32_FEATURE_CONTROL not locked: #GP";
  EXPECT_EQ(r.vector, 13);
  ASSERT_TRUE(cpu_->vmx().write_msr(0x3A, 5));
  EXPECT_EQ(api_.vmxon(kVmxon + 8).status, VmStatus::kFailInvalid) << "unaligned";
  EXPECT_EQ(api_.vmxon(kVmxon).status, VmStatus::kFailInvalid) << "wrong revision id";
  mem_.store<uint32_t>(kVmxon, caps::kRevisionId);
  EXPECT_TRUE(api_.vmxon(kVmxon).ok());
  EXPECT_TRUE(cpu_->vmx().in_operation());
  EXPECT_EQ(api_.vmxon(kVmxon).status, VmStatus::kFailInvalid) << "in root, no current VMCS";
  // CR4.VMXE and CR0.PE/PG/NE are fixed to 1 in VMX operation.
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_CR4)})(
      ZYDIS_MNEMONIC_BTR, {R(ZYDIS_REGISTER_RAX), I(13)})(
      ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_RAX)});
  load(Layout::kCode, a);
  run();
  EXPECT_EQ(st().rip, Layout::kHandlers + 13 * 16 + 1) << "#GP (its handler halted)";
  EXPECT_TRUE(api_.vmxoff().ok());
  EXPECT_FALSE(cpu_->vmx().in_operation());
  EXPECT_EQ(api_.vmclear(kVmcs).vector, 6) << "outside VMX operation: #UD";
}

TEST_F(VmxTest, VmcsInstructionsAndErrors) {
  enable_vmx();
  ASSERT_TRUE(api_.vmxon(kVmxon).ok());
  EXPECT_EQ(api_.vmptrst(), ~0ull);
  uint64_t v;
  EXPECT_EQ(api_.vmread(F::GUEST_RIP, &v).status, VmStatus::kFailInvalid);
  ASSERT_TRUE(api_.vmptrld(kVmcs).ok());
  EXPECT_EQ(api_.vmptrst(), kVmcs);
  auto err = [&] { return static_cast<VmInstructionError>(api_.read(F::VM_INSTRUCTION_ERROR)); };
  EXPECT_EQ(api_.vmptrld(kVmxon).status, VmStatus::kFailValid);
  EXPECT_EQ(err(), VmInstructionError::VMPTRLD_WITH_VMXON_POINTER);
  mem_.store<uint32_t>(kVmcs2, 0x1234);
  EXPECT_EQ(api_.vmptrld(kVmcs2).status, VmStatus::kFailValid);
  EXPECT_EQ(err(), VmInstructionError::VMPTRLD_WITH_INCORRECT_VMCS_REVISION_IDENTIFIER);
  EXPECT_EQ(api_.vmptrld(kVmcs2 + 0x10).status, VmStatus::kFailValid);
  EXPECT_EQ(err(), VmInstructionError::VMPTRLD_WITH_INVALID_PHYSICAL_ADDRESS);
  EXPECT_EQ(api_.vmclear(kVmxon).status, VmStatus::kFailValid);
  EXPECT_EQ(err(), VmInstructionError::VMCLEAR_WITH_VMXON_POINTER);
  EXPECT_EQ(api_.vmread(0x6C18, &v).status, VmStatus::kFailValid);
  EXPECT_EQ(err(), VmInstructionError::VMREAD_VMWRITE_UNSUPPORTED_VMCS_COMPONENT);
  EXPECT_EQ(api_.vmread(F::POSTED_INTERRUPT_DESCRIPTOR_ADDRESS, &v).status, VmStatus::kFailValid)
      << "no posted interrupts";
  EXPECT_EQ(api_.vmwrite(F::EXIT_REASON, 1).status, VmStatus::kFailValid);
  EXPECT_EQ(err(), VmInstructionError::VMWRITE_TO_READ_ONLY_VMCS_COMPONENT);
  // Widths: 16-bit fields keep 16 bits; the high access of a 64-bit field.
  EXPECT_TRUE(api_.vmwrite(F::GUEST_CS_SELECTOR, 0x12345).ok());
  EXPECT_EQ(api_.read(F::GUEST_CS_SELECTOR), 0x2345u);
  EXPECT_TRUE(api_.vmwrite(F::TSC_OFFSET, 0x1111222233334444ull).ok());
  EXPECT_TRUE(api_.vmread(static_cast<uint64_t>(F::TSC_OFFSET) + 1, &v).ok());
  EXPECT_EQ(v, 0x11112222u);
  EXPECT_TRUE(api_.vmwrite(static_cast<uint64_t>(F::TSC_OFFSET) + 1, 0xAAAA).ok());
  EXPECT_EQ(api_.read(F::TSC_OFFSET), 0x0000AAAA33334444ull);
  EXPECT_EQ(api_.vmread(static_cast<uint64_t>(F::GUEST_RIP) + 1, &v).status, VmStatus::kFailValid)
      << "no high access to natural-width fields";
  // The VMCS lives in memory: VMCLEAR writes it back, VMPTRLD reads it again.
  EXPECT_TRUE(api_.vmclear(kVmcs).ok());
  EXPECT_EQ(api_.vmptrst(), ~0ull);
  mem_.store<uint32_t>(kVmcs2, caps::kRevisionId);
  ASSERT_TRUE(api_.vmptrld(kVmcs2).ok());
  EXPECT_EQ(api_.read(F::TSC_OFFSET), 0u);
  ASSERT_TRUE(api_.vmptrld(kVmcs).ok());
  EXPECT_EQ(api_.read(F::TSC_OFFSET), 0x0000AAAA33334444ull);
  // VMRESUME of a clear VMCS; VMCALL in root operation.
  RunResult x = api_.vm_enter(VmxApi::Entry::kResume);
  EXPECT_EQ(x.kind, Kind::kEntryFailed);
  EXPECT_EQ(x.entry.error, VmInstructionError::VMRESUME_WITH_NON_LAUNCHED_VMCS);
}

TEST_F(VmxTest, ExitsThroughTheApi) {
  // cpuid; hlt; out 0x80, al; in al, 0x81; rdmsr; vmcall; mov cr3, rax; mov rax, cr0
  Asm g;
  g(ZYDIS_MNEMONIC_CPUID)(ZYDIS_MNEMONIC_HLT)(ZYDIS_MNEMONIC_OUT, {I(0x80), R(ZYDIS_REGISTER_AL)})(
      ZYDIS_MNEMONIC_IN, {R(ZYDIS_REGISTER_AL), I(0x81)})(ZYDIS_MNEMONIC_MOV,
                                                          {R(ZYDIS_REGISTER_ECX), I(0x174)})(
      ZYDIS_MNEMONIC_RDMSR)(ZYDIS_MNEMONIC_VMCALL)(ZYDIS_MNEMONIC_MOV,
                                                   {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_CR0)})(
      ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_RAX)});
  load(kGuestCode, g);
  using namespace spec;
  build_vmcs(
      kGuestCode, 0,
      proc::kHltExiting | proc::kUseIoBitmaps | proc::kUseMsrBitmaps | proc::kCr3LoadExiting);
  w(F::ADDRESS_OF_IO_BITMAP_A, kIoBitmapA);
  w(F::ADDRESS_OF_IO_BITMAP_B, kIoBitmapB);
  w(F::ADDRESS_OF_MSR_BITMAPS, kMsrBitmap);
  mem_.store<uint8_t>(kIoBitmapA + 0x80 / 8, 1);                   // port 0x80 exits, 0x81 does not
  mem_.store<uint8_t>(kMsrBitmap + 0x174 / 8, 1u << (0x174 % 8));  // RDMSR 0x174 exits
  w(F::CR0_GUEST_HOST_MASK, kCr0TS);
  w(F::CR0_READ_SHADOW, kCr0TS);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
  EXPECT_EQ(x.exit.instruction_length, 2u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  EXPECT_TRUE(api_.vmwrite(F::GUEST_RIP, 0).ok());
  EXPECT_EQ(st().rip, r(F::HOST_RIP)) << "host state loaded";
  w(F::GUEST_RIP, kGuestCode);
  x = resume_after(x);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  x = resume_after(x);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::IO_INSTRUCTION);
  EXPECT_EQ(x.exit.qualification, spec::io_qualification(1, false, false, false, true, 0x80));
  x = resume_after(x);  // IN from 0x81 does not exit; RDMSR 0x174 does
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::RDMSR);
  x = resume_after(x);
  EXPECT_EQ(x.exit.basic(), ExitReason::VMCALL);
  EXPECT_EQ(x.exit.instruction_length, 3u);
  x = resume_after(x);  // MOV from CR0 reads the shadow; MOV to CR3 exits
  ASSERT_EQ(x.exit.basic(), ExitReason::CONTROL_REGISTER_ACCESSES);
  EXPECT_EQ(x.exit.qualification, spec::cr_access_qualification(3, CrAccessType::kMovToCr, 0));
  EXPECT_EQ(st().gpr[kRax] & kCr0TS, kCr0TS) << "CR0.TS read from the shadow";
  EXPECT_EQ(cpu_->vmx().exits(), 6u);
}

TEST_F(VmxTest, EntryCheckMatrix) {
  Asm g;
  g(ZYDIS_MNEMONIC_CPUID);
  load(kGuestCode, g);
  build_vmcs(kGuestCode);
  struct Case {
    const char* what;
    F field;
    uint64_t bad;
    int expect;  ///< 7, 8: VMfailValid error; 33: entry-failure exit
  };
  uint64_t cr0 = st().cr0;
  Case cases[] = {
      {"pin-based reserved bit", F::PIN_BASED_VM_EXECUTION_CONTROLS, 0x16 | (1u << 30), 7},
      {"proc-based default1 cleared", F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, 0, 7},
      {"CR3-target count 5", F::CR3_TARGET_COUNT, 5, 7},
      {"injection of type 1", F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000100, 7},
      {"entry to SMM", F::VM_ENTRY_CONTROLS, 0x11FB | (1u << 9) | (1u << 10), 7},
      {"host CR0.PE = 0", F::HOST_CR0, cr0 & ~1ull, 8},
      {"host CS selector 0", F::HOST_CS_SELECTOR, 0, 8},
      {"host TR with TI", F::HOST_TR_SELECTOR, 0x2C, 8},
      {"host RIP not canonical", F::HOST_RIP, 0x0000800000000000ull, 8},
      {"guest CR0.NE = 0", F::GUEST_CR0, cr0 & ~kCr0NE, 33},
      {"guest CS type data", F::GUEST_CS_ACCESS_RIGHTS, 0xA093, 33},
      {"guest RFLAGS bit 1 clear", F::GUEST_RFLAGS, 0, 33},
      {"guest activity state 4", F::GUEST_ACTIVITY_STATE, 4, 33},
      {"guest TR unusable", F::GUEST_TR_ACCESS_RIGHTS, 0x10000, 33},
      {"guest VMCS link pointer", F::VMCS_LINK_POINTER, 0, 33},
  };
  for (const Case& c : cases) {
    uint64_t old = r(c.field);
    w(c.field, c.bad);
    RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
    if (c.expect == 33) {
      ASSERT_EQ(x.kind, Kind::kExit) << c.what;
      EXPECT_EQ(x.exit.reason, 33u | 0x80000000u) << c.what;
      EXPECT_EQ(x.exit.qualification, c.field == F::VMCS_LINK_POINTER ? 4u : 0u) << c.what;
      EXPECT_EQ(st().rip, r(F::HOST_RIP)) << c.what;
    } else {
      ASSERT_EQ(x.kind, Kind::kEntryFailed) << c.what;
      EXPECT_EQ(static_cast<int>(x.entry.error), c.expect) << c.what;
    }
    w(c.field, old);
  }
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
  x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  EXPECT_EQ(x.entry.error, VmInstructionError::VMLAUNCH_WITH_NON_CLEAR_VMCS);
}

TEST_F(VmxTest, ExceptionBitmapAndInjection) {
  // ud2 in the guest; then an injected #GP through the guest IDT (HLT handlers).
  Asm g;
  g.raw({0x0F, 0x0B});
  load(kGuestCode, g);
  build_vmcs(kGuestCode);
  w(F::EXCEPTION_BITMAP, 1u << 6);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::EXCEPTION_OR_NMI);
  EXPECT_EQ(x.exit.interruption_info, 0x80000306u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  // Inject #GP(0x10) and let the guest handler (HLT) run; HLT exiting is off, MTF on.
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000B0D);
  w(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0x10);
  w(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
    r(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) | spec::proc::kMonitorTrapFlag);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::MONITOR_TRAP_FLAG);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 13 * 16) << "in the #GP handler";
  EXPECT_EQ(get64(kGuestStack - 48), 0x10u) << "error code pushed";
  EXPECT_EQ(r(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD) >> 31, 0u) << "valid bit cleared";
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);  // HLT, then MTF exit with HLT state
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::MONITOR_TRAP_FLAG);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), 1u);
}

TEST_F(VmxTest, PreemptionTimerAndTscOffset) {
  // rdtsc; jmp $-2 (loops forever)
  Asm g;
  g(ZYDIS_MNEMONIC_RDTSC).raw({0xEB, 0xFC});
  load(kGuestCode, g);
  using namespace spec;
  build_vmcs(kGuestCode, pin::kActivateVmxPreemptionTimer, proc::kUseTscOffsetting);
  w(F::PRIMARY_VM_EXIT_CONTROLS,
    r(F::PRIMARY_VM_EXIT_CONTROLS) | exit_ctl::kSaveVmxPreemptionTimerValue);
  w(F::VMX_PREEMPTION_TIMER_VALUE, 100);
  w(F::TSC_OFFSET, 1ull << 40);
  uint64_t start = cpu_->cycles();
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::VMX_PREEMPTION_TIMER_EXPIRED);
  EXPECT_EQ(r(F::VMX_PREEMPTION_TIMER_VALUE), 0u);
  uint64_t ran = cpu_->cycles() - start;
  EXPECT_GE(ran, 99u << caps::kPreemptionTimerRate);
  EXPECT_LT(ran, (101u << caps::kPreemptionTimerRate) + 1000);
  EXPECT_GE(st().gpr[kRax] | (st().gpr[kRdx] << 32), 1ull << 40) << "TSC offset applied";
}

TEST_F(VmxTest, GuestVmxInstructionsSetFlags) {
  enable_vmx();
  mem_.store<uint64_t>(0x210000, kVmxon);
  mem_.store<uint64_t>(0x210008, kVmcs);
  // vmxon [0x210000]; pushfq; vmxon (again: VMfailInvalid) ; vmptrld [0x210008];
  // vmread rbx, rcx (rcx = bad field: VMfailValid); vmptrst [0x210010]; hlt
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RSI), I(0x210000)})(ZYDIS_MNEMONIC_VMXON,
                                                              {M(8, ZYDIS_REGISTER_RSI)})(
      ZYDIS_MNEMONIC_PUSHFQ)(ZYDIS_MNEMONIC_VMXON, {M(8, ZYDIS_REGISTER_RSI)})(
      ZYDIS_MNEMONIC_PUSHFQ)(ZYDIS_MNEMONIC_VMPTRLD, {M(8, ZYDIS_REGISTER_RSI, 8)})(
      ZYDIS_MNEMONIC_PUSHFQ)(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), I(0x6C18)})(
      ZYDIS_MNEMONIC_VMREAD, {R(ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RCX)})(
      ZYDIS_MNEMONIC_PUSHFQ)(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), I(0x4400)})(
      ZYDIS_MNEMONIC_VMREAD, {R(ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RCX)})(
      ZYDIS_MNEMONIC_VMPTRST, {M(8, ZYDIS_REGISTER_RSI, 16)})(ZYDIS_MNEMONIC_HLT);
  load(Layout::kCode, a);
  run();
  uint64_t sp = Layout::kStackTop;
  EXPECT_EQ(get64(sp - 8) & 0x41, 0u) << "VMXON: VMsucceed";
  EXPECT_EQ(get64(sp - 16) & 0x41, 1u) << "second VMXON: VMfailInvalid";
  EXPECT_EQ(get64(sp - 24) & 0x41, 0u) << "VMPTRLD: VMsucceed";
  EXPECT_EQ(get64(sp - 32) & 0x41, 0x40u) << "VMREAD of an unsupported field: VMfailValid";
  EXPECT_EQ(st().gpr[kRbx], 12u) << "VM-instruction error 12";
  EXPECT_EQ(get64(0x210010), kVmcs);
}

TEST_F(VmxTest, CheckpointInGuest) {
  // A guest loop of RDMSR exits under the API, checkpointed between exits.
  Asm g;
  g(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_RBX)})(ZYDIS_MNEMONIC_CPUID).raw({0xEB, 0xF9});
  load(kGuestCode, g);
  build_vmcs(kGuestCode, 0, 0);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 3);
  ASSERT_EQ(x.kind, Kind::kExit);
  x = resume_after(x);
  // Stop in the middle of the guest (non-root), save, restore into a second processor.
  w(F::GUEST_RIP, r(F::GUEST_RIP) + x.exit.instruction_length);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1);
  ASSERT_EQ(x.kind, Kind::kLimit);
  ASSERT_TRUE(api_.in_guest());
  auto other = twin();
  auto run_to_exit = [](Cpu& cpu, VmxApi& api) {
    RunResult y = api.run();
    std::vector<uint64_t> out{static_cast<uint64_t>(y.exit.reason), cpu.instructions(),
                              cpu.cycles(), cpu.state().gpr[kRbx]};
    return out;
  };
  auto a = run_to_exit(*cpu_, api_);
  VmxApi api2(*other->cpu_);
  ASSERT_TRUE(api2.in_guest());
  auto b = run_to_exit(*other->cpu_, api2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a[0], 10u);
}

TEST_F(VmxTest, ApiGuardsAndHaltedGuest) {
  // cli; hlt: a guest nothing can wake (no HLT exiting, IF = 0, no timer).
  Asm g;
  g(ZYDIS_MNEMONIC_CLI)(ZYDIS_MNEMONIC_HLT);
  load(kGuestCode, g);
  build_vmcs(kGuestCode);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch);
  EXPECT_EQ(x.kind, Kind::kHalted);
  EXPECT_TRUE(api_.in_guest());
  // While the guest runs, the operations are refused (#UD), never a nested entry.
  EXPECT_EQ(api_.vmwrite(F::GUEST_RIP, 0).vector, 6);
  EXPECT_EQ(api_.vm_enter(VmxApi::Entry::kResume).kind, Kind::kEntryFailed);
}

TEST_F(VmxTest, PreemptionTimerWakesHaltedGuest) {
  Asm g;
  g(ZYDIS_MNEMONIC_CLI)(ZYDIS_MNEMONIC_HLT);
  load(kGuestCode, g);
  build_vmcs(kGuestCode, spec::pin::kActivateVmxPreemptionTimer);
  w(F::VMX_PREEMPTION_TIMER_VALUE, 10);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::VMX_PREEMPTION_TIMER_EXPIRED);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), 1u) << "saved in the HLT state";
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode + 2);
}

// ---- exit information of exceptions and event delivery (SDM 28.1, 28.2) ----

TEST_F(VmxTest, PageFaultExitLeavesCr2AndDebugExitLeavesDr6) {
  using namespace spec;
  constexpr uint64_t kUnmapped = 0x700000000000ull;
  Asm g;
  g(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  g(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_DR0)});
  load(kGuestCode, g);
  build_vmcs(kGuestCode, 0, proc::kHltExiting);
  w(F::EXCEPTION_BITMAP, (1u << 14) | (1u << 1));
  st().cr2 = 0x1234;
  st().gpr[kRbx] = kUnmapped;
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Eu);
  EXPECT_EQ(x.exit.qualification, kUnmapped) << "the linear address is in the qualification";
  EXPECT_EQ(st().cr2, 0x1234u) << "CR2 unchanged by a #PF that exits";
  // General detect: MOV from DR0 with DR7.GD raises #DB (BD); the exit leaves DR6 and GD.
  w(F::GUEST_RIP, kGuestCode + 3);
  w(F::VM_ENTRY_CONTROLS, r(F::VM_ENTRY_CONTROLS) | entry_ctl::kLoadDebugControls);
  w(F::PRIMARY_VM_EXIT_CONTROLS, r(F::PRIMARY_VM_EXIT_CONTROLS) | exit_ctl::kSaveDebugControls);
  w(F::GUEST_DR7, 0x400 | cpu::spec::kDr7Gd);
  uint64_t dr6 = st().dr[6];
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000301u);
  EXPECT_EQ(x.exit.qualification, cpu::spec::kDr6Bd);
  EXPECT_EQ(st().dr[6], dr6) << "DR6 unchanged by a #DB that exits";
  EXPECT_TRUE(r(F::GUEST_DR7) & cpu::spec::kDr7Gd) << "GD not cleared";
  // Without the bitmap the same #DB is delivered: DR6.BD set, GD cleared, HLT handler.
  w(F::EXCEPTION_BITMAP, 0);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 1 * 16);
  EXPECT_TRUE(r(F::GUEST_DR7) == 0x400);
  // And a #PF delivered through the guest IDT writes CR2.
  w(F::GUEST_RIP, kGuestCode);
  w(F::GUEST_RSP, kGuestStack);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 14 * 16);
  EXPECT_EQ(st().cr2, kUnmapped) << "written at delivery";
}

TEST_F(VmxTest, IdtVectoringInformationForGuestDelivery) {
  using namespace spec;
  constexpr uint64_t kUnmapped = 0x700000000000ull;
  // int 0x30 with the IDT limit below vector 0x30: #GP(0x182) while delivering it.
  Asm g;
  g(ZYDIS_MNEMONIC_INT, {I(0x30)});
  g(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  load(kGuestCode, g);
  build_vmcs(kGuestCode, 0, proc::kHltExiting);
  w(F::EXCEPTION_BITMAP, 1u << 13);
  w(F::GUEST_IDTR_LIMIT, 0x30 * 16 - 1);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du);
  EXPECT_EQ(x.exit.interruption_error, 0x30u * 8 + 2);
  EXPECT_EQ(x.exit.idt_vectoring_info, 0x80000430u) << "software interrupt 0x30";
  EXPECT_EQ(x.exit.instruction_length, 2u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  // A #PF whose delivery faults (#GP: vector 14 beyond the IDT limit): the #GP exits with
  // the #PF (and its error code) as IDT-vectoring information.
  st().gpr[kRbx] = kUnmapped;
  w(F::GUEST_RIP, kGuestCode + 2);
  w(F::GUEST_IDTR_LIMIT, 14 * 16 - 1);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du);
  EXPECT_EQ(x.exit.interruption_error, 14u * 8 + 3) << "IDT and EXT bits";
  EXPECT_EQ(x.exit.idt_vectoring_info, 0x80000B0Eu);
  EXPECT_EQ(x.exit.idt_vectoring_error, 0u);
  // Without #GP in the bitmap the pair becomes #DF, which exits directly: no vectoring.
  w(F::EXCEPTION_BITMAP, 1u << 8);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B08u);
  EXPECT_EQ(x.exit.idt_vectoring_info, 0u);
  EXPECT_EQ(st().cr2, kUnmapped) << "the #PF was delivered before it became #DF";
}

TEST_F(VmxTest, FaultDuringInjectionEscalatesToDoubleFault) {
  using namespace spec;
  Asm g;
  g(ZYDIS_MNEMONIC_NOP);
  load(kGuestCode, g);
  build_vmcs(kGuestCode, 0, proc::kHltExiting);
  w(F::GUEST_IDTR_LIMIT, 13 * 16 - 1);  // gates 0-12: injecting #GP faults with #GP
  auto inject_gp = [&] {
    w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000B0D);
    w(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0);
  };
  inject_gp();
  w(F::EXCEPTION_BITMAP, 1u << 13);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du);
  EXPECT_EQ(x.exit.interruption_error, 13u * 8 + 3);
  EXPECT_EQ(x.exit.idt_vectoring_info, 0x80000B0Du) << "the injected #GP";
  // Contributory + contributory: #DF, delivered through gate 8 (a HLT handler).
  inject_gp();
  w(F::EXCEPTION_BITMAP, 0);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 8 * 16);
  // Injected #DF whose delivery faults: triple fault, no IDT-vectoring information.
  w(F::GUEST_RIP, kGuestCode);
  w(F::GUEST_RSP, kGuestStack);
  w(F::GUEST_IDTR_LIMIT, 0);
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000B08);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::TRIPLE_FAULT);
  EXPECT_EQ(x.exit.idt_vectoring_info, 0u);
}

TEST_F(VmxTest, NmiUnblockingDueToIret) {
  using namespace spec;
  Asm g;
  g(ZYDIS_MNEMONIC_IRETQ);
  load(kGuestCode, g);
  build_vmcs(kGuestCode, pin::kNmiExiting | pin::kVirtualNmis);
  // An IRET frame with CS = 0x50, beyond the GDT limit: #GP(0x50).
  uint64_t frame = kGuestStack - 64;
  for (uint64_t v : {kGuestCode, uint64_t{0x50}, uint64_t{2}, kGuestStack, uint64_t{0x10}})
    put64(frame, v), frame += 8;
  w(F::GUEST_RSP, kGuestStack - 64);
  w(F::GUEST_INTERRUPTIBILITY_STATE, kBlockingByNmi);
  w(F::EXCEPTION_BITMAP, 1u << 13);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du | kIntrInfoNmiUnblockingDueToIret);
  EXPECT_EQ(x.exit.interruption_error, 0x50u);
  EXPECT_EQ(r(F::GUEST_INTERRUPTIBILITY_STATE) & kBlockingByNmi, 0u) << "IRET unblocked";
  // Without virtual-NMI blocking before the IRET the bit stays 0.
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du);
}

// ---- TPR shadow (SDM 30.1.2, 30.3) ----

TEST_F(VmxTest, TprShadow) {
  using namespace spec;
  constexpr uint64_t kVapic = 0x407000;
  EXPECT_TRUE((Vmx::capability(VmxMsr::IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) & proc::kUseTprShadow);
  Asm g;
  g(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR8), R(ZYDIS_REGISTER_RAX)});
  g(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_CR8)});
  size_t third = g.size();
  g(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR8), R(ZYDIS_REGISTER_RCX)});
  size_t after = g.size();
  g(ZYDIS_MNEMONIC_HLT);
  load(kGuestCode, g);
  build_vmcs(kGuestCode, 0, proc::kUseTprShadow | proc::kHltExiting);
  mem_.store<uint32_t>(kVapic + 0x80, 0x30);
  // Entry checks on the virtual-APIC address and the TPR threshold.
  auto entry_error = [&](F f, uint64_t bad, uint64_t good) {
    w(f, bad);
    RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
    w(f, good);
    return x.kind == Kind::kEntryFailed &&
           x.entry.error == VmInstructionError::VM_ENTRY_WITH_INVALID_CONTROL_FIELDS;
  };
  w(F::TPR_THRESHOLD, 3);
  EXPECT_TRUE(entry_error(F::VIRTUAL_APIC_ADDRESS, kVapic + 0x10, kVapic)) << "unaligned";
  EXPECT_TRUE(entry_error(F::VIRTUAL_APIC_ADDRESS, 1ull << 52, kVapic)) << "beyond MAXPHYADDR";
  EXPECT_TRUE(entry_error(F::TPR_THRESHOLD, 0x13, 3)) << "threshold bits 31:4";
  EXPECT_TRUE(entry_error(F::TPR_THRESHOLD, 4, 3)) << "threshold above VTPR[7:4]";
  uint32_t tpr = cpu_->lapic().tpr();
  st().gpr[kRax] = 5;
  st().gpr[kRcx] = 2;
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::TPR_BELOW_THRESHOLD);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode + after) << "trap-like: after the MOV to CR8";
  EXPECT_EQ(st().gpr[kRbx], 5u) << "MOV from CR8 reads VTPR[7:4]";
  EXPECT_EQ(mem_.load<uint32_t>(kVapic + 0x80), 0x20u);
  EXPECT_EQ(cpu_->lapic().tpr(), tpr) << "the real TPR is untouched";
  // A write at or above the threshold does not exit; CR8-store exiting takes priority.
  w(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
    r(F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) | proc::kCr8StoreExiting);
  w(F::TPR_THRESHOLD, 2);
  w(F::GUEST_RIP, kGuestCode);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CONTROL_REGISTER_ACCESSES);
  EXPECT_EQ(x.exit.qualification, 0x318u) << "MOV from CR8 to RBX";
  EXPECT_EQ(mem_.load<uint32_t>(kVapic + 0x80), 0x50u);
  w(F::GUEST_RIP, kGuestCode + third);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT) << "VTPR 2 is not below threshold 2";
}

}  // namespace
}  // namespace hvsim::cpu::vmx
