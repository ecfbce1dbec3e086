// Unit tests of "unrestricted guest" (Intel SDM Vol. 3C 25.6.2, 27.2.1.1, 27.3.1.1-27.3.1.2):
// a real-mode guest (CR0.PE = PG = 0) under EPT runs and exits on CPUID, OUT and HLT; the
// control requires EPT; without it the same guest state fails the guest-state checks.
#include "cpu/vmx/spec/ept.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx {
namespace {

using namespace testing_vmx;
using namespace spec;

constexpr uint64_t kEptPml4 = 0x600000, kEptPdpt = 0x601000, kEptPd = 0x602000;
constexpr uint16_t kRealCs = 0x4000, kRealSs = 0x5000;  // bases 0x40000 and 0x50000

class UnrestrictedGuestTest : public VmxTest {
 public:
  /// EPT identity map of [0, 16 MiB) with 2 MiB pages; a real-mode guest at CS:IP 4000:0100.
  RunResult launch(uint32_t proc2) {
    build_vmcs(kGuestCode, 0, proc::kHltExiting | proc::kUnconditionalIoExiting, proc2);
    put64(kEptPml4, kEptPdpt | 7);
    put64(kEptPdpt, kEptPd | 7);
    for (uint64_t k = 0; k < 8; ++k)
      put64(kEptPd + 8 * k, (k << 21) | kEptLargePage | (6ull << kEptMemoryTypeShift) | 7);
    w(F::EPT_POINTER, kEptPml4 | 6 | (3 << kEptpWalkLengthShift));
    real_mode_guest(kRealCs, kRealSs, 0x100, 0xFFF0);
    // MOV AX, 1234h; MOV [200h], AX; CPUID; OUT 80h, AL; HLT
    const uint8_t code[] = {0xB8, 0x34, 0x12, 0xA3, 0x00, 0x02, 0x0F, 0xA2, 0xE6, 0x80, 0xF4};
    mem_.write(0x40100, code, sizeof code);
    return api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  }
};

TEST_F(UnrestrictedGuestTest, Advertised) {
  uint64_t p2 = Vmx::capability(VmxMsr::IA32_VMX_PROCBASED_CTLS2);
  EXPECT_TRUE(p2 >> 32 & proc2::kUnrestrictedGuest);
  EXPECT_TRUE(Vmx::capability(VmxMsr::IA32_VMX_MISC) & (1u << 5)) << "stores EFER.LMA";
}

TEST_F(UnrestrictedGuestTest, RealModeGuestRunsAndExits) {
  RunResult x = launch(proc2::kEnableEpt | proc2::kUnrestrictedGuest);
  ASSERT_EQ(x.kind, Kind::kExit);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID) << x.exit.reason;
  EXPECT_EQ(r(F::GUEST_RIP), 0x106u);
  EXPECT_EQ(x.exit.instruction_length, 2u);
  EXPECT_EQ(mem_.load<uint16_t>(0x40200), 0x1234) << "DS:200h written through EPT";
  EXPECT_EQ(r(F::GUEST_CR0) & (kCr0PE | kCr0PG), 0u);
  EXPECT_EQ(r(F::GUEST_CS_BASE), 0x40000u);
  EXPECT_FALSE(r(F::VM_ENTRY_CONTROLS) & entry_ctl::kIa32eModeGuest);
  x = resume_after(x);
  ASSERT_EQ(x.kind, Kind::kExit);
  ASSERT_EQ(x.exit.basic(), ExitReason::IO_INSTRUCTION);
  // 1 byte, OUT, immediate operand, port 80h (SDM Table 28-5).
  EXPECT_EQ(x.exit.qualification, (0x80u << 16) | (1u << 6));
  x = resume_after(x);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::HLT);
  EXPECT_EQ(r(F::GUEST_RIP), 0x10Au);
}

TEST_F(UnrestrictedGuestTest, WithoutTheControlCr0PeIsFixed) {
  RunResult x = launch(proc2::kEnableEpt);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_TRUE(x.exit.entry_failure());
  EXPECT_EQ(x.exit.basic(), ExitReason::VM_ENTRY_FAILURE_INVALID_GUEST_STATE);
}

TEST_F(UnrestrictedGuestTest, RequiresEpt) {
  RunResult x = launch(proc2::kUnrestrictedGuest);
  ASSERT_EQ(x.kind, Kind::kEntryFailed);
  EXPECT_EQ(x.entry.error, VmInstructionError::VM_ENTRY_WITH_INVALID_CONTROL_FIELDS);
}

TEST_F(UnrestrictedGuestTest, PagingWithoutProtectionFails) {
  RunResult x = launch(proc2::kEnableEpt | proc2::kUnrestrictedGuest);
  ASSERT_EQ(x.kind, Kind::kExit);
  ASSERT_TRUE(api_.vmclear(kVmcs).ok());
  ASSERT_TRUE(api_.vmptrld(kVmcs).ok());
  w(F::GUEST_CR0, kCr0NE | kCr0ET | kCr0PG);
  w(F::GUEST_RIP, 0x100);
  x = api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_TRUE(x.exit.entry_failure());
}

}  // namespace
}  // namespace hvsim::cpu::vmx
