// Unit tests of TLB contexts tagged by VPID and EP4TA (Intel SDM Vol. 3C 29.4 "Caching
// translation information"; Vol. 2 "INVVPID", "INVEPT"): stale translations that survive VM
// exits and entries until invalidated, isolation of VPIDs, flushes without VPID, checkpoints.
#include "cpu/vmx/spec/ept.h"
#include "cpu/vmx/vmx.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx {
namespace {

using namespace testing_vmx;
using namespace spec;

/// The guest reads this page (mapped by a 4 KiB PTE of Layout::kPt) into RAX, then CPUID.
constexpr uint64_t kTarget = 0x201000, kOther = 0x202000;
constexpr uint64_t kOld = 0x1111, kNew = 0x2222;
// Identity EPT: 2 MiB pages, except GPA [2 MiB, 4 MiB) through a 4 KiB table.
constexpr uint64_t kEptPml4 = 0x600000, kEptPdpt = 0x601000, kEptPd = 0x602000;
constexpr uint64_t kEptPt = 0x603000;
constexpr uint64_t kWb = 6ull << kEptMemoryTypeShift;
constexpr uint64_t kEptp = kEptPml4 | 6 | (3 << kEptpWalkLengthShift);

class VpidTest : public VmxTest {
 public:
  /// Guest: RAX = [kTarget]; CPUID. VPID `vpid` (0: "enable VPID" off).
  RunResult launch(uint16_t vpid, bool ept = false) {
    Asm a;
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(static_cast<int64_t>(kTarget))})(
        ZYDIS_MNEMONIC_MOV,
        {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)})(ZYDIS_MNEMONIC_CPUID);
    load(kGuestCode, a);
    mem_.store<uint64_t>(kTarget, kOld);
    mem_.store<uint64_t>(kOther, kNew);
    uint32_t p2 = (vpid ? proc2::kEnableVpid : 0) | (ept ? proc2::kEnableEpt : 0);
    build_vmcs(kGuestCode, 0, 0, p2);
    if (vpid) w(F::VIRTUAL_PROCESSOR_ID, vpid);
    if (ept) {
      put64(kEptPml4, kEptPdpt | 7);
      put64(kEptPdpt, kEptPd | 7);
      for (uint64_t k = 0; k < 8; ++k) put64(kEptPd + 8 * k, (k << 21) | kEptLargePage | kWb | 7);
      put64(kEptPd + 8, kEptPt | 7);
      for (uint64_t k = 0; k < 512; ++k) put64(kEptPt + 8 * k, (0x200000 + (k << 12)) | kWb | 7);
      w(F::EPT_POINTER, kEptp);
    }
    return api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  }
  /// Runs the guest once more from the start: the RAX it read.
  uint64_t again(const RunResult&) {
    w(F::GUEST_RIP, kGuestCode);
    RunResult y = api_.vm_enter(VmxApi::Entry::kResume, 1000);
    EXPECT_EQ(y.kind, Kind::kExit);
    EXPECT_EQ(y.exit.basic(), ExitReason::CPUID);
    last_ = y;
    return st().gpr[kRax];
  }
  /// Remaps kTarget to kOther in the guest's page table, without invalidation.
  void remap() { put64(pte_addr(kTarget), kOther | 7); }
  void invvpid(InvvpidType t, uint16_t vpid, uint64_t la = 0) {
    EXPECT_TRUE(cpu_->vmx().invvpid_desc(static_cast<uint64_t>(t), vpid, la).ok());
  }
  void invept(InveptType t, uint64_t eptp) {
    EXPECT_TRUE(cpu_->vmx().invept_desc(static_cast<uint64_t>(t), eptp, 0).ok());
  }

  RunResult last_;
};

TEST_F(VpidTest, WithoutVpidEntryAndExitFlush) {
  RunResult x = launch(0);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  EXPECT_EQ(st().gpr[kRax], kOld);
  remap();
  EXPECT_EQ(again(x), kNew) << "the round trip flushed the guest's translation";
}

TEST_F(VpidTest, StaleTranslationSurvivesUntilInvvpid) {
  struct Case {
    InvvpidType type;
    uint64_t la;
  } cases[] = {{InvvpidType::kIndividualAddress, kTarget},
               {InvvpidType::kSingleContext, 0},
               {InvvpidType::kAllContext, 0},
               {InvvpidType::kSingleContextRetainingGlobals, 0}};
  RunResult x = launch(1);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  for (const Case& c : cases) {
    SCOPED_TRACE(to_string(c.type));
    put64(pte_addr(kTarget), kTarget | 7);
    invvpid(InvvpidType::kSingleContext, 1);
    EXPECT_EQ(again(x), kOld);
    remap();
    EXPECT_EQ(again(x), kOld) << "VPID 1's translation survives the round trip";
    // Invalidations that do not name it leave it.
    invvpid(InvvpidType::kIndividualAddress, 1, kOther);
    invvpid(InvvpidType::kSingleContext, 2);
    EXPECT_EQ(again(last_), kOld);
    invvpid(c.type, 1, c.la);
    EXPECT_EQ(again(last_), kNew);
  }
}

TEST_F(VpidTest, TwoVpidsDoNotShareEntries) {
  RunResult x = launch(1);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  remap();
  w(F::VIRTUAL_PROCESSOR_ID, 2);
  EXPECT_EQ(again(x), kNew) << "VPID 2 never cached the old mapping";
  put64(pte_addr(kTarget), kTarget | 7);
  w(F::VIRTUAL_PROCESSOR_ID, 1);
  EXPECT_EQ(again(last_), kOld) << "VPID 1 still holds its own translation";
  remap();
  w(F::VIRTUAL_PROCESSOR_ID, 2);
  EXPECT_EQ(again(last_), kNew) << "and VPID 2 its own";
  // More contexts than slots (7 besides root's): the least recently used is emptied and
  // taken, never shared. VPID 1 still holds the stale translation until then.
  put64(pte_addr(kTarget), kTarget | 7);
  w(F::VIRTUAL_PROCESSOR_ID, 1);
  EXPECT_EQ(again(last_), kOld);
  remap();
  for (uint16_t v = 3; v < 10; ++v) {
    w(F::VIRTUAL_PROCESSOR_ID, v);
    EXPECT_EQ(again(last_), kNew);
  }
  w(F::VIRTUAL_PROCESSOR_ID, 1);
  EXPECT_EQ(again(last_), kNew) << "VPID 1 was the least recently used: evicted";
}

TEST_F(VpidTest, InveptInvalidatesCombinedMappings) {
  RunResult x = launch(1, true);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "all-context" : "single-context");
    put64(kEptPt + 8 * 1, kTarget | kWb | 7);
    invept(InveptType::kAllContext, 0);
    EXPECT_EQ(again(x), kOld);
    put64(kEptPt + 8 * 1, kOther | kWb | 7);  // GPA kTarget -> HPA kOther
    EXPECT_EQ(again(x), kOld) << "the combined mapping survives";
    invept(InveptType::kSingleContext, kEptp + 0x100000);  // another EP4TA
    invvpid(InvvpidType::kSingleContext, 2);
    EXPECT_EQ(again(last_), kOld);
    invept(all ? InveptType::kAllContext : InveptType::kSingleContext, kEptp);
    EXPECT_EQ(again(last_), kNew);
  }
}

TEST_F(VpidTest, EptpIsPartOfTheTag) {
  RunResult x = launch(1, true);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  put64(kEptPt + 8 * 1, kOther | kWb | 7);
  // The same tables under another EP4TA: a context of its own, filled afresh.
  put64(0x610000, kEptPdpt | 7);
  w(F::EPT_POINTER, 0x610000 | 6 | (3 << kEptpWalkLengthShift));
  EXPECT_EQ(again(x), kNew);
  w(F::EPT_POINTER, kEptp);
  EXPECT_EQ(again(last_), kOld);
}

TEST_F(VpidTest, CheckpointKeepsOtherContexts) {
  RunResult x = launch(1);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  remap();
  // Stop inside the guest with root's context cached, save, restore into a second machine.
  w(F::GUEST_RIP, kGuestCode);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1);
  ASSERT_EQ(x.kind, Kind::kLimit);
  auto other = twin();
  // Two exits: through the guest's context, then (after VPID 2) VPID 1's again.
  auto run = [](Cpu& cpu, VmxApi& api) {
    RunResult y = api.run();
    std::vector<uint64_t> out{static_cast<uint64_t>(y.exit.reason), cpu.state().gpr[kRax]};
    EXPECT_TRUE(api.vmwrite(F::VIRTUAL_PROCESSOR_ID, 2).ok());
    EXPECT_TRUE(api.vmwrite(F::GUEST_RIP, kGuestCode).ok());
    y = api.vm_enter(VmxApi::Entry::kResume, 1000);
    EXPECT_TRUE(api.vmwrite(F::VIRTUAL_PROCESSOR_ID, 1).ok());
    EXPECT_TRUE(api.vmwrite(F::GUEST_RIP, kGuestCode).ok());
    y = api.vm_enter(VmxApi::Entry::kResume, 1000);
    out.insert(out.end(), {cpu.state().gpr[kRax], cpu.instructions(), cpu.cycles()});
    return out;
  };
  auto a = run(*cpu_, api_);
  EXPECT_EQ(a[1], kOld);
  EXPECT_EQ(a[2], kOld) << "VPID 1's stale entry came back after VPID 2 ran";
  VmxApi api2(*other->cpu_);
  ASSERT_TRUE(api2.in_guest());
  EXPECT_EQ(run(*other->cpu_, api2), a);
}

}  // namespace
}  // namespace hvsim::cpu::vmx
