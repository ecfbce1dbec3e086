// Unit tests of the VMX activity states and the INIT and SIPI signals (Intel SDM Vol. 3C
// 24.8 "Restrictions on VMX operation", 26.2 "Other causes of VM exits", 27.3.1.5 "Checks
// on guest non-register state", 27.7.2 "Activity state", 28.3.4 "Saving non-register
// state"): INIT blocked in root operation until VMXOFF, INIT and SIPI VM exits, the
// shutdown and wait-for-SIPI states, checkpoint and determinism of a scenario.
#include "core/hash.h"
#include "cpu/lapic/lapic.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx {
namespace {

using namespace testing_vmx;
using namespace spec;
using lapic::DeliveryMode;

constexpr uint64_t kActive = 0, kHlt = 1, kShutdown = 2, kWaitForSipi = 3;
constexpr uint32_t kEntryFailureGuest = 33u | 0x80000000u;

class ActivityTest : public VmxTest {
 public:
  /// An interrupt message to this processor's LAPIC, due now (accepted at the next
  /// instruction boundary).
  static void signal(Cpu& cpu, DeliveryMode m, uint8_t vector = 0) {
    cpu.lapic().post(ApicMessage{m, vector}, cpu.local_time());
  }
  void signal(DeliveryMode m, uint8_t vector = 0) { signal(*cpu_, m, vector); }
  /// The guest: CPUID (exit 10). Host code at the host RIP: three NOPs, then HLT.
  void build(uint32_t pin = 0, uint32_t proc = 0) {
    Asm g;
    g(ZYDIS_MNEMONIC_CPUID);
    load(kGuestCode, g);
    Asm h;
    h(ZYDIS_MNEMONIC_NOP)(ZYDIS_MNEMONIC_NOP)(ZYDIS_MNEMONIC_NOP)(ZYDIS_MNEMONIC_HLT);
    load(Layout::kCode, h);
    build_vmcs(kGuestCode, pin, proc);
  }
  /// Application processor: INIT outside VMX operation puts it in wait-for-SIPI instead of
  /// restarting it at the reset vector.
  void make_ap() {
    st().apic_base &= ~lapic::kBaseBsp;
    cpu_->state_changed();
  }
  /// Launches (VMCLEAR + VMPTRLD first) in the given activity state.
  RunResult launch(uint64_t activity, uint64_t max = 1000) {
    EXPECT_TRUE(api_.vmclear(kVmcs).ok());
    EXPECT_TRUE(api_.vmptrld(kVmcs).ok());
    w(F::GUEST_ACTIVITY_STATE, activity);
    return api_.vm_enter(VmxApi::Entry::kLaunch, max);
  }
};

TEST_F(ActivityTest, MiscReportsEveryActivityState) {
  uint64_t misc = Vmx::capability(VmxMsr::IA32_VMX_MISC);
  EXPECT_EQ(misc & (kMiscActivityHlt | kMiscActivityShutdown | kMiscActivityWaitForSipi), 0x1C0u);
}

TEST_F(ActivityTest, EntryChecksOnActivityState) {
  build(pin::kNmiExiting, proc::kHltExiting);
  struct Case {
    const char* what;
    uint64_t activity;
    uint32_t inject;  ///< VM-entry interruption information (0 = none)
    uint64_t interruptibility;
  };
  const Case bad[] = {
      {"state 4 is not defined", 4, 0, 0},
      {"HLT with blocking by STI", kHlt, 0, kBlockingBySti},
      {"shutdown with blocking by MOV SS", kShutdown, 0, kBlockingByMovSs},
      {"wait-for-SIPI with blocking by STI", kWaitForSipi, 0, kBlockingBySti},
      {"shutdown: external interrupt", kShutdown, 0x80000020, 0},
      {"shutdown: #DB", kShutdown, 0x80000301, 0},
      {"shutdown: #UD", kShutdown, 0x80000306, 0},
      {"HLT: #UD", kHlt, 0x80000306, 0},
      {"wait-for-SIPI: NMI", kWaitForSipi, 0x80000202, 0},
      {"wait-for-SIPI: #MC", kWaitForSipi, 0x80000312, 0},
      {"wait-for-SIPI: pending MTF", kWaitForSipi, 0x80000700, 0},
  };
  for (const Case& c : bad) {
    w(F::GUEST_RFLAGS, 0x202);  // IF = 1: STI blocking and external injection need it
    w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, c.inject);
    w(F::GUEST_INTERRUPTIBILITY_STATE, c.interruptibility);
    RunResult x = launch(c.activity);
    ASSERT_EQ(x.kind, Kind::kExit) << c.what;
    EXPECT_EQ(x.exit.reason, kEntryFailureGuest) << c.what;
    EXPECT_EQ(x.exit.qualification, 0u) << c.what;
  }
  w(F::GUEST_INTERRUPTIBILITY_STATE, 0);
  w(F::GUEST_RFLAGS, 2);
  // Shutdown with an injected NMI: a vectoring entry, so the guest is active in the NMI
  // handler (a HLT, which exits) instead of in shutdown.
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000202);
  RunResult x = launch(kShutdown);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 2 * 16);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kActive);
  // Shutdown with an injected #MC is allowed too.
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000312);
  x = launch(kShutdown);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 18 * 16);
}

TEST_F(ActivityTest, InitIsBlockedInRootOperationUntilVmxoff) {
  build();
  make_ap();
  signal(DeliveryMode::kInit);
  EXPECT_EQ(run(100), 4u) << "the host runs on: three NOPs and HLT";
  EXPECT_TRUE(cpu_->vmx().in_operation());
  EXPECT_EQ(st().rip, Layout::kCode + 4);
  EXPECT_TRUE(st().cr0 & kCr0PG);
  EXPECT_EQ(cpu_->run_state(), RunState::kHalted);
  EXPECT_FALSE(cpu_->can_wake()) << "a blocked INIT does not wake the processor";
  // VMXOFF unblocks it: the INIT that stayed pending is taken at the next boundary.
  st().rflags = 2;
  cpu_->set_run_state(RunState::kRunning);
  ASSERT_TRUE(api_.vmxoff().ok());
  EXPECT_TRUE(cpu_->can_wake());
  run(1);
  EXPECT_FALSE(cpu_->vmx().in_operation());
  EXPECT_EQ(cpu_->run_state(), RunState::kWaitForSipi);
  EXPECT_EQ(st().cr0, 0x60000010u) << "the INIT state";
  EXPECT_FALSE(cpu_->can_wake()) << "the INIT was consumed";
}

TEST_F(ActivityTest, InitCausesVmExitInNonRootOperation) {
  build();
  // Pending across root operation, it exits at the guest's first boundary: no guest
  // instruction runs, no register changes, the processor stays in VMX operation.
  signal(DeliveryMode::kInit);
  EXPECT_EQ(run(2), 2u);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.reason, 3u);
  EXPECT_EQ(x.exit.qualification, 0u);
  EXPECT_EQ(x.exit.instruction_length, 0u);
  EXPECT_EQ(x.exit.idt_vectoring_info, 0u);
  EXPECT_EQ(x.instructions, 0u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kActive);
  EXPECT_TRUE(cpu_->vmx().in_operation());
  EXPECT_EQ(st().rip, r(F::HOST_RIP));
  // Consumed: the next entry runs the guest to its CPUID exit.
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
  // In the HLT state the INIT exits too and the state is saved as HLT.
  w(F::GUEST_ACTIVITY_STATE, kHlt);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  signal(DeliveryMode::kInit);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::INIT_SIGNAL);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kHlt);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
}

TEST_F(ActivityTest, InitInterruptsARunningGuest) {
  Asm g;
  g(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_RBX)}).raw({0xEB, 0xFB});  // inc rbx; jmp back
  load(kGuestCode, g);
  build_vmcs(kGuestCode);
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 101);
  ASSERT_EQ(x.kind, Kind::kLimit);
  signal(DeliveryMode::kInit);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::INIT_SIGNAL);
  EXPECT_EQ(x.instructions, 0u) << "taken at the first boundary";
  EXPECT_EQ(st().gpr[kRbx], 51u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode + 3) << "before the JMP";
}

TEST_F(ActivityTest, WaitForSipiEndsOnlyWithSipi) {
  build(pin::kNmiExiting | pin::kExternalInterruptExiting | pin::kActivateVmxPreemptionTimer);
  cpu_->lapic().mmio_write(0xF0, 4, 0x1FF);  // LAPIC software-enabled
  w(F::VMX_PREEMPTION_TIMER_VALUE, 0);
  RunResult x = launch(kWaitForSipi);
  // The timer (0: would expire at once) does not run in wait-for-SIPI; NMIs, INIT and
  // external interrupts are blocked whatever the pin-based controls say.
  ASSERT_EQ(x.kind, Kind::kHalted);
  signal(DeliveryMode::kNmi);
  signal(DeliveryMode::kInit);
  signal(DeliveryMode::kFixed, 0x40);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  EXPECT_TRUE(api_.in_guest());
  // A SIPI exits with its vector as the qualification; no register changes.
  signal(DeliveryMode::kStartUp, 0x9A);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.reason, 4u);
  EXPECT_EQ(x.exit.qualification, 0x9Au);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kWaitForSipi);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  EXPECT_EQ(r(F::GUEST_CS_SELECTOR), Layout::kCode64);
  EXPECT_TRUE(cpu_->vmx().in_operation()) << "the INIT stays blocked in root operation";
  // SIPIs outside wait-for-SIPI are discarded: an active guest runs to its CPUID exit...
  // (the INIT, no longer blocked, and the NMI exit first; the fixed interrupt waits for
  // RFLAGS.IF).
  w(F::PIN_BASED_VM_EXECUTION_CONTROLS, ctl(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS, pin::kNmiExiting));
  w(F::GUEST_ACTIVITY_STATE, kActive);
  signal(DeliveryMode::kStartUp, 0x9B);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::INIT_SIGNAL);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.interruption_info, 0x80000202u);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
}

TEST_F(ActivityTest, ShutdownEndsWithNmiInitOrTimer) {
  build(pin::kNmiExiting | pin::kExternalInterruptExiting, proc::kHltExiting);
  cpu_->lapic().mmio_write(0xF0, 4, 0x1FF);
  // External interrupts (even with external-interrupt exiting) and SIPIs are blocked.
  RunResult x = launch(kShutdown);
  ASSERT_EQ(x.kind, Kind::kHalted);
  signal(DeliveryMode::kFixed, 0x40);
  signal(DeliveryMode::kStartUp, 0x10);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  // With NMI exiting an NMI exits; the state is saved as shutdown.
  signal(DeliveryMode::kNmi);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::EXCEPTION_OR_NMI);
  EXPECT_EQ(x.exit.interruption_info, 0x80000202u);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kShutdown);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  // An INIT exits.
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  signal(DeliveryMode::kInit);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::INIT_SIGNAL);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kShutdown);
  // The VMX-preemption timer wakes it.
  w(F::PIN_BASED_VM_EXECUTION_CONTROLS,
    ctl(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS, pin::kActivateVmxPreemptionTimer));
  w(F::VMX_PREEMPTION_TIMER_VALUE, 7);
  uint64_t before = cpu_->cycles();
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::VMX_PREEMPTION_TIMER_EXPIRED);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kShutdown);
  EXPECT_GE(cpu_->cycles() - before, 6u << caps::kPreemptionTimerRate);
  // Without NMI exiting the NMI is delivered through the guest's IDT: the guest is active
  // in its handler (a HLT, which exits).
  w(F::PIN_BASED_VM_EXECUTION_CONTROLS, ctl(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS, 0));
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  signal(DeliveryMode::kNmi);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  EXPECT_EQ(r(F::GUEST_RIP), Layout::kHandlers + 2 * 16);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kActive);
  EXPECT_EQ(r(F::GUEST_INTERRUPTIBILITY_STATE), kBlockingByNmi);
  EXPECT_EQ(get64(r(F::GUEST_RSP)), kGuestCode) << "the return RIP pushed by the NMI";
  // Shutdown inside that NMI handler (blocking by NMI): a second NMI stays pending and
  // cannot wake it; the API reports the guest as halted instead of idling forever.
  w(F::GUEST_ACTIVITY_STATE, kShutdown);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  signal(DeliveryMode::kNmi);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kHalted);
  EXPECT_FALSE(cpu_->can_wake());
  signal(DeliveryMode::kInit);
  x = api_.run(1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::INIT_SIGNAL);
  EXPECT_EQ(r(F::GUEST_ACTIVITY_STATE), kShutdown);
}

// ---- checkpoint and determinism ----

/// The scenario: guest in wait-for-SIPI, an INIT (blocked there), a checkpoint, then the
/// SIPI exit; in the active state the INIT exits; the guest's CPUID exit; another INIT,
/// blocked in root operation until VMXOFF.
struct Outcome {
  std::vector<uint64_t> exits;  ///< reason, qualification, activity state per exit
  uint64_t hash = 0, cycles = 0;
  RunState final_state = RunState::kRunning;
  bool operator==(const Outcome&) const = default;
};

Outcome finish(Cpu& cpu, VmxApi& api) {
  Outcome o;
  auto record = [&](const RunResult& x) {
    o.exits.push_back(x.exit.reason);
    o.exits.push_back(x.exit.qualification);
    o.exits.push_back(api.read(F::GUEST_ACTIVITY_STATE));
  };
  ActivityTest::signal(cpu, DeliveryMode::kStartUp, 0x20);
  RunResult x = api.run(1000);
  record(x);
  EXPECT_TRUE(api.vmwrite(F::GUEST_ACTIVITY_STATE, kActive).ok());
  record(api.vm_enter(VmxApi::Entry::kResume, 1000));
  record(api.vm_enter(VmxApi::Entry::kResume, 1000));
  ActivityTest::signal(cpu, DeliveryMode::kInit);
  EXPECT_EQ(cpu.step(2), 2u) << "the host runs on";
  EXPECT_TRUE(api.vmxoff().ok());
  cpu.step(1);
  Hasher h;
  cpu.hash_into(h);
  o.hash = h.digest();
  o.cycles = cpu.cycles();
  o.final_state = cpu.run_state();
  return o;
}

TEST_F(ActivityTest, InitSipiScenarioIsDeterministicAcrossCheckpoint) {
  build();
  make_ap();
  auto hash = [](const Cpu& cpu) {
    Hasher h;
    cpu.hash_into(h);
    return h.digest();
  };
  RunResult x = launch(kWaitForSipi);
  ASSERT_EQ(x.kind, Kind::kHalted);
  uint64_t idle = hash(*cpu_);
  ASSERT_EQ(api_.run(1000).kind, Kind::kHalted);
  EXPECT_EQ(hash(*cpu_), idle) << "waiting changes no state";
  signal(DeliveryMode::kInit);
  ASSERT_EQ(api_.run(1000).kind, Kind::kHalted);
  uint64_t before = hash(*cpu_);
  EXPECT_NE(before, idle) << "the blocked INIT is part of the state hash";
  auto other = twin();
  EXPECT_EQ(hash(*other->cpu_), before);
  VmxApi api2(*other->cpu_);
  ASSERT_TRUE(api2.in_guest());
  EXPECT_EQ(other->cpu_->run_state(), RunState::kWaitForSipi);

  Outcome a = finish(*cpu_, api_);
  Outcome b = finish(*other->cpu_, api2);
  EXPECT_EQ(a, b);
  const std::vector<uint64_t> expect{4, 0x20, kWaitForSipi, 3, 0, kActive, 10, 0, kActive};
  EXPECT_EQ(a.exits, expect);
  EXPECT_EQ(a.final_state, RunState::kWaitForSipi) << "the second INIT, after VMXOFF";
}

}  // namespace
}  // namespace hvsim::cpu::vmx
