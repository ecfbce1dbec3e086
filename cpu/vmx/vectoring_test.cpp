// Unit tests of the exit information of EPT violations during event delivery (Intel SDM
// Vol. 3C 28.2.1 "Basic VM-exit information" Table 28-7, 28.2.4 "Information for VM exits
// during event delivery", 27.6.1.1 "Details of vectoring-event injection"): an injected
// event, an external interrupt, INT n and INT3 whose delivery through the guest IDT
// touches an EPT-protected IDT, GDT or stack page; "NMI unblocking due to IRET" in the
// qualification of an EPT violation.
#include "cpu/lapic/lapic.h"
#include "cpu/vmx/spec/ept.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx {
namespace {

using namespace testing_vmx;
using namespace spec;

// EPT tables: identity for [0, 16 MiB), 4 KiB pages in [0, 2 MiB) so that single pages
// of the guest's IDT (Layout::kIdt), GDT (Layout::kGdt) and stack can be protected.
constexpr uint64_t kEptPml4 = 0x600000, kEptPdpt = 0x601000, kEptPd = 0x602000;
constexpr uint64_t kEptPt0 = 0x603000;
constexpr uint64_t kWb = 6ull << kEptMemoryTypeShift;
/// The guest's stack top: its pushes land in the 4 KiB page below, kStackPage.
constexpr uint64_t kStack = 0x1F8000, kStackPage = 0x1F7000;
/// Qualification bits of a final-translation access with a valid guest-linear address.
constexpr uint64_t kLinear = ept_qual::kLinearValid | ept_qual::kFinalTranslation;

class VectoringTest : public VmxTest {
 public:
  /// The guest at kGuestCode (`code`), EPT on, RSP = kStack, CPUID and HLT exiting off.
  void build(const Asm& code, uint32_t pin = 0) {
    load(kGuestCode, code);
    build_vmcs(kGuestCode, pin, 0, proc2::kEnableEpt);
    put64(kEptPml4, kEptPdpt | 7);
    put64(kEptPdpt, kEptPd | 7);
    put64(kEptPd, kEptPt0 | 7);
    for (uint64_t k = 1; k < 8; ++k) put64(kEptPd + 8 * k, (k << 21) | kEptLargePage | kWb | 7);
    for (uint64_t k = 0; k < 512; ++k) put64(kEptPt0 + 8 * k, (k << 12) | kWb | 7);
    w(F::EPT_POINTER, kEptPml4 | 6 | (3 << kEptpWalkLengthShift));
    w(F::GUEST_RSP, kStack);
  }
  /// Sets the EPT rights (bits 2:0) of the 4 KiB guest-physical page at `gpa` < 2 MiB.
  void protect(uint64_t gpa, uint64_t rwx) {
    put64(kEptPt0 + (gpa >> 12) * 8, (gpa & ~0xFFFull) | kWb | rwx);
  }
  RunResult launch() { return api_.vm_enter(VmxApi::Entry::kLaunch, 1000); }
  /// The exit is an EPT violation during delivery of the event `vectoring` (error code
  /// `error`), at `gla` (= the guest-physical address: identity maps) with `qualification`.
  void expect_violation(const RunResult& x, uint32_t vectoring, uint32_t error, uint64_t gla,
                        uint64_t qualification) {
    ASSERT_EQ(x.kind, Kind::kExit);
    EXPECT_EQ(x.exit.reason, static_cast<uint32_t>(ExitReason::EPT_VIOLATION));
    EXPECT_EQ(x.exit.qualification, qualification);
    EXPECT_EQ(x.exit.guest_linear_address, gla);
    EXPECT_EQ(r(F::GUEST_PHYSICAL_ADDRESS), gla);
    EXPECT_EQ(x.exit.idt_vectoring_info, vectoring);
    EXPECT_EQ(r(F::IDT_VECTORING_INFORMATION_FIELD), vectoring);
    EXPECT_EQ(x.exit.idt_vectoring_error, error);
    EXPECT_EQ(r(F::IDT_VECTORING_ERROR_CODE), error);
    EXPECT_EQ(r(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD) & kIntrInfoValid, 0u);
  }
};

TEST_F(VectoringTest, InjectedEventReadingANonReadableIdt) {
  Asm g;
  g(ZYDIS_MNEMONIC_CPUID);
  build(g);
  protect(Layout::kIdt, 0);
  // An injected #GP with error code 0x1234: the IDT read of its gate (vector 13) exits.
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000B0D);
  w(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0x1234);
  RunResult x = launch();
  expect_violation(x, 0x80000B0D, 0x1234, Layout::kIdt + 13 * 16, ept_qual::kRead | kLinear);
  EXPECT_EQ(x.exit.instruction_length, 0u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode) << "nothing delivered";
  EXPECT_EQ(r(F::GUEST_RSP), kStack);
  // An injected software interrupt: the VM-entry instruction length is reported.
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000421);
  w(F::VM_ENTRY_INSTRUCTION_LENGTH, 3);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  expect_violation(x, 0x80000421, 0, Layout::kIdt + 0x21 * 16, ept_qual::kRead | kLinear);
  EXPECT_EQ(x.exit.instruction_length, 3u);
  // With the IDT readable again the injected event reaches its handler (a HLT): the guest
  // halts, no exit.
  protect(Layout::kIdt, 7);
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000B0D);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  EXPECT_EQ(x.kind, Kind::kHalted);
  EXPECT_EQ(st().rip, Layout::kHandlers + 13 * 16 + 1);
}

TEST_F(VectoringTest, InjectedNmiReadingANonReadableGdt) {
  Asm g;
  g(ZYDIS_MNEMONIC_CPUID);
  build(g);
  protect(Layout::kGdt, 0);
  w(F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000202);
  RunResult x = launch();
  // The handler's code-segment descriptor (selector 8) is read from the GDT.
  expect_violation(x, 0x80000202, 0, Layout::kGdt + Layout::kCode64, ept_qual::kRead | kLinear);
  // Delivery of the NMI had begun: blocking by NMI is saved as in effect (SDM 28.1); the
  // VMM clears it before injecting the NMI again.
  EXPECT_EQ(r(F::GUEST_INTERRUPTIBILITY_STATE) & kBlockingByNmi, kBlockingByNmi);
}

TEST_F(VectoringTest, ExternalInterruptPushingOnANonWritableStack) {
  Asm g;
  g(ZYDIS_MNEMONIC_CPUID);
  build(g);
  protect(kStackPage, 5);                    // read + execute
  cpu_->lapic().mmio_write(0xF0, 4, 0x1FF);  // LAPIC software-enabled
  cpu_->lapic().post(ApicMessage{lapic::DeliveryMode::kFixed, 0x40}, cpu_->local_time());
  w(F::GUEST_RFLAGS, 0x202);
  RunResult x = launch();
  // The 64-bit frame (RIP, CS, RFLAGS, RSP, SS) is written from its lowest address.
  expect_violation(x, 0x80000040, 0, kStack - 40,
                   ept_qual::kWrite | (5u << ept_qual::kAllowedShift) | kLinear);
  EXPECT_EQ(x.exit.instruction_length, 0u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
  EXPECT_EQ(r(F::GUEST_RSP), kStack);
  EXPECT_EQ(r(F::GUEST_RFLAGS), 0x202u) << "IF not yet cleared by the gate";
}

TEST_F(VectoringTest, SoftwareInterruptsPushingOnANonWritableStack) {
  Asm g;
  g(ZYDIS_MNEMONIC_NOP);
  g(ZYDIS_MNEMONIC_INT, {I(0x31)});
  g(ZYDIS_MNEMONIC_INT3);
  build(g);
  protect(kStackPage, 1);  // read only
  RunResult x = launch();
  // INT n: type 4, the instruction length in VM_EXIT_INSTRUCTION_LENGTH, RIP at the INT.
  expect_violation(x, 0x80000431, 0, kStack - 40,
                   ept_qual::kWrite | (1u << ept_qual::kAllowedShift) | kLinear);
  EXPECT_EQ(x.exit.instruction_length, 2u);
  EXPECT_EQ(r(F::VM_EXIT_INSTRUCTION_LENGTH), 2u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode + 1);
  // INT3: a software exception, type 6, length 1.
  w(F::GUEST_RIP, kGuestCode + 3);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  expect_violation(x, 0x80000603, 0, kStack - 40,
                   ept_qual::kWrite | (1u << ept_qual::kAllowedShift) | kLinear);
  EXPECT_EQ(x.exit.instruction_length, 1u);
  EXPECT_EQ(r(F::GUEST_RIP), kGuestCode + 3);
}

TEST_F(VectoringTest, NmiUnblockingDueToIretInEptViolation) {
  // IRETQ whose frame is on a non-readable page: the EPT violation happens after IRET
  // cleared (virtual-)NMI blocking, which qualification bit 12 reports (Table 28-7).
  Asm g;
  g(ZYDIS_MNEMONIC_IRETQ);
  constexpr uint64_t kRead = ept_qual::kRead | kLinear;
  build(g);
  protect(kStackPage, 0);
  auto run = [&](uint32_t pin, uint64_t interruptibility) {
    EXPECT_TRUE(api_.vmclear(kVmcs).ok());
    EXPECT_TRUE(api_.vmptrld(kVmcs).ok());
    w(F::PIN_BASED_VM_EXECUTION_CONTROLS, ctl(VmxMsr::IA32_VMX_TRUE_PINBASED_CTLS, pin));
    w(F::GUEST_RIP, kGuestCode);
    w(F::GUEST_RSP, kStack - 40);
    w(F::GUEST_INTERRUPTIBILITY_STATE, interruptibility);
    RunResult x = launch();
    EXPECT_EQ(x.exit.reason, static_cast<uint32_t>(ExitReason::EPT_VIOLATION));
    EXPECT_EQ(x.exit.idt_vectoring_info, 0u);
    EXPECT_EQ(x.exit.guest_linear_address, kStack - 40);
    EXPECT_EQ(r(F::GUEST_RIP), kGuestCode);
    return x;
  };
  // Virtual NMIs with virtual-NMI blocking: bit 12 set, the blocking saved as cleared.
  RunResult x = run(pin::kNmiExiting | pin::kVirtualNmis, kBlockingByNmi);
  EXPECT_EQ(x.exit.qualification, kRead | ept_qual::kNmiUnblocking);
  EXPECT_EQ(r(F::GUEST_INTERRUPTIBILITY_STATE) & kBlockingByNmi, 0u);
  // Without blocking before the IRET: bit 12 clear.
  x = run(pin::kNmiExiting | pin::kVirtualNmis, 0);
  EXPECT_EQ(x.exit.qualification, kRead);
  // NMI blocking without NMI exiting: set as well.
  x = run(0, kBlockingByNmi);
  EXPECT_EQ(x.exit.qualification, kRead | ept_qual::kNmiUnblocking);
  EXPECT_EQ(r(F::GUEST_INTERRUPTIBILITY_STATE) & kBlockingByNmi, 0u);
  // NMI exiting without virtual NMIs: IRET leaves NMI blocking alone (SDM 26.3) and the
  // bit is undefined; hvsim reports 0.
  x = run(pin::kNmiExiting, kBlockingByNmi);
  EXPECT_EQ(x.exit.qualification, kRead);
  EXPECT_EQ(r(F::GUEST_INTERRUPTIBILITY_STATE) & kBlockingByNmi, kBlockingByNmi);
}

}  // namespace
}  // namespace hvsim::cpu::vmx
