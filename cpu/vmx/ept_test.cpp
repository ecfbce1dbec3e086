// Unit tests of EPT and VPID (Intel SDM Vol. 3C ch. 29 "VMX support for address
// translation"): the permission matrix over R/W/X x 4 KiB/2 MiB/1 GiB pages x read, write,
// fetch and guest paging-structure accesses with exact qualifications, misconfigurations,
// A/D flags, EPTP/VPID entry checks, INVEPT/INVVPID operands, checkpoint and determinism.
#include "cpu/vmx/spec/ept.h"

#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx {
namespace {

using namespace testing_vmx;
using namespace spec;

// EPT tables (host-physical), identity for [0, 16 MiB) except the entries a test changes.
constexpr uint64_t kEptPml4 = 0x600000, kEptPdpt = 0x601000, kEptPd = 0x602000;
constexpr uint64_t kEptPt0 = 0x603000, kEptPt1 = 0x604000;
constexpr uint64_t kWb = 6ull << kEptMemoryTypeShift;
/// Linear = guest-physical targets: a guest 4 KiB page (EPT 4 KiB), a 2 MiB page (EPT
/// 2 MiB), and a guest 1 GiB page at 1 GiB (EPT 1 GiB page -> host 0).
constexpr uint64_t kTarget4K = 0x201000, kTarget2M = 0x800000, kTarget1G = 0x40800000;

class EptTest : public VmxTest {
 public:
  void build_ept(uint64_t eptp_extra = 0) {
    put64(kEptPml4, kEptPdpt | 7);
    put64(kEptPdpt, kEptPd | 7);
    put64(kEptPdpt + 8, 0 | kEptLargePage | kWb | 7);  // GPA 1 GiB -> HPA 0 (1 GiB page)
    put64(kEptPd, kEptPt0 | 7);
    put64(kEptPd + 8, kEptPt1 | 7);
    for (uint64_t k = 2; k < 8; ++k) put64(kEptPd + 8 * k, (k << 21) | kEptLargePage | kWb | 7);
    for (uint64_t k = 0; k < 512; ++k) {
      put64(kEptPt0 + 8 * k, (k << 12) | kWb | 7);
      put64(kEptPt1 + 8 * k, (0x200000 + (k << 12)) | kWb | 7);
    }
    // The guest's 1 GiB page at linear 1 GiB.
    put64(Layout::kPdpt + 8, 0x40000000 | 0x87);
    w(F::EPT_POINTER, kEptPml4 | 6 | (3 << kEptpWalkLengthShift) | eptp_extra);
  }
  /// The guest: RBX = target; `kind` 0 read, 1 write, 2 fetch; then CPUID (exit 10).
  void guest(uint64_t target, int kind) {
    Asm a;
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(static_cast<int64_t>(target))});
    if (kind == 0) a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
    if (kind == 1) a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RAX)});
    if (kind == 2) a(ZYDIS_MNEMONIC_JMP, {R(ZYDIS_REGISTER_RBX)});
    a(ZYDIS_MNEMONIC_CPUID);
    load(kGuestCode, a);
  }
  RunResult enter(uint64_t eptp_extra = 0, uint32_t proc2 = proc2::kEnableEpt) {
    build_vmcs(kGuestCode, 0, 0, proc2);
    build_ept(eptp_extra);
    return api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  }
  /// Another launch of the same VMCS in a fresh world: guest tables, EPT tables, guest
  /// code; `edit` changes EPT entries before the launch.
  template <typename Edit>
  RunResult relaunch(uint64_t target, int kind, uint64_t eptp_extra, Edit edit) {
    if (!cpu_->vmx().in_operation()) build_vmcs(kGuestCode, 0, 0, proc2::kEnableEpt);
    build_tables();
    build_ept(eptp_extra);
    guest(target, kind);
    edit();
    w(F::GUEST_RIP, kGuestCode);
    w(F::GUEST_RSP, kGuestStack);
    EXPECT_TRUE(api_.vmclear(kVmcs).ok());
    EXPECT_TRUE(api_.vmptrld(kVmcs).ok());
    return api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  }
};

TEST_F(EptTest, Capabilities) {
  uint64_t cap = Vmx::capability(VmxMsr::IA32_VMX_EPT_VPID_CAP);
  EXPECT_FALSE(cap & ept_cap::kExecuteOnly);
  for (uint64_t b :
       {ept_cap::kWalkLength4, ept_cap::kWalkLength5, ept_cap::kUncacheable, ept_cap::kWriteBack,
        ept_cap::kPde2M, ept_cap::kPdpte1G, ept_cap::kInvept, ept_cap::kAccessedDirty,
        ept_cap::kInveptSingleContext, ept_cap::kInveptAllContext, ept_cap::kInvvpid,
        ept_cap::kInvvpidIndividualAddress, ept_cap::kInvvpidSingleContext,
        ept_cap::kInvvpidAllContext, ept_cap::kInvvpidSingleContextRetainingGlobals})
    EXPECT_TRUE(cap & b) << b;
}

TEST_F(EptTest, IdentityMappingRunsTheGuest) {
  guest(kTarget2M, 0);
  mem_.store<uint64_t>(kTarget2M, 0x1234);
  RunResult x = enter();
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
  EXPECT_EQ(r(F::GUEST_PHYSICAL_ADDRESS), 0u);
  EXPECT_GT(cpu_->vmx().ept_walks(), 0u);
  // A 2-D walk: every guest paging-structure read is itself an EPT walk.
  EXPECT_GE(cpu_->vmx().ept_walk_refs(), 4u * 5);
}

// The matrix: 7 EPT rights x {4K, 2M, 1G} x {read, write, fetch}.
TEST_F(EptTest, PermissionMatrix) {
  struct Size {
    uint64_t target, entry;  // the EPT leaf mapping the target
    uint64_t leaf_value;     // without rights
  };
  const Size sizes[] = {
      {kTarget4K, kEptPt1 + 8, 0x201000 | kWb},
      {kTarget2M, kEptPd + 8 * 4, 0x800000 | kEptLargePage | kWb},
      {kTarget1G, kEptPdpt + 8, 0 | kEptLargePage | kWb},
  };
  // The fetched target holds CPUID so that an allowed fetch exits with reason 10.
  for (const Size& sz : sizes) {
    for (uint64_t rights = 0; rights < 8; ++rights) {
      for (int kind = 0; kind < 3; ++kind) {
        SCOPED_TRACE(::testing::Message() << "target " << std::hex << sz.target << " rights "
                                          << rights << " kind " << kind);
        uint64_t hpa = sz.target & 0x3FFFFFFF;
        mem_.store<uint16_t>(hpa, 0xA20F);  // cpuid
        RunResult x =
            relaunch(sz.target, kind, 0, [&] { put64(sz.entry, sz.leaf_value | rights); });
        ASSERT_EQ(x.kind, Kind::kExit);
        uint64_t need = kind == 0 ? 1 : kind == 1 ? 2 : 4;
        if (rights != 0 && !(rights & kEptRead)) {
          EXPECT_EQ(x.exit.basic(), ExitReason::EPT_MISCONFIGURATION);
          EXPECT_EQ(r(F::GUEST_PHYSICAL_ADDRESS), sz.target);
        } else if (rights & need) {
          EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
        } else {
          EXPECT_EQ(x.exit.basic(), ExitReason::EPT_VIOLATION);
          EXPECT_EQ(x.exit.qualification,
                    need | (rights << 3) | ept_qual::kLinearValid | ept_qual::kFinalTranslation);
          EXPECT_EQ(r(F::GUEST_PHYSICAL_ADDRESS), sz.target);
          EXPECT_EQ(r(F::GUEST_LINEAR_ADDRESS), sz.target);
          EXPECT_EQ(r(F::GUEST_RIP), kind == 2 ? sz.target : kGuestCode + 7)
              << "the faulting instruction (after the 7-byte MOV RBX, imm32) is not executed";
        }
      }
    }
  }
}

// Guest paging-structure accesses: the guest PT page (Layout::kPt) under varied rights. The
// walk reads the PTE (a read) and sets its A flag (a write): qualification bit 8 clear.
TEST_F(EptTest, GuestPagingStructureAccesses) {
  for (uint64_t rights : {0ull, 1ull, 3ull, 5ull, 7ull}) {
    for (bool ad : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "rights " << rights << " ad " << ad);
      uint64_t pt_entry = kEptPt0 + 8 * (Layout::kPt >> 12);
      RunResult x = relaunch(kTarget4K, 0, ad ? kEptpAccessedDirty : 0,
                             [&] { put64(pt_entry, Layout::kPt | kWb | rights); });
      ASSERT_EQ(x.kind, Kind::kExit);
      uint64_t gpa = Layout::kPt + ((kTarget4K >> 12) & 511) * 8;
      bool writable = rights & kEptWrite;
      if (rights == 0 || !writable) {
        // Not present: the read fails (bit 0; bits 0 and 1 with A/D flags). Read-only: the
        // read succeeds without A/D flags and the A-flag write fails (bit 1).
        uint64_t access = ad ? 3 : rights == 0 ? 1 : 2;
        EXPECT_EQ(x.exit.basic(), ExitReason::EPT_VIOLATION);
        EXPECT_EQ(x.exit.qualification, access | (rights << 3) | ept_qual::kLinearValid);
        EXPECT_EQ(r(F::GUEST_PHYSICAL_ADDRESS), gpa);
        EXPECT_EQ(r(F::GUEST_LINEAR_ADDRESS), kTarget4K);
      } else {
        EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
        if (ad) {
          EXPECT_TRUE(get64(pt_entry) & kEptAccessed);
          EXPECT_TRUE(get64(pt_entry) & kEptDirty) << "paging-structure accesses are writes";
        } else {
          EXPECT_FALSE(get64(pt_entry) & (kEptAccessed | kEptDirty));
        }
      }
    }
  }
}

TEST_F(EptTest, AccessedAndDirtyFlags) {
  guest(kTarget2M, 1);
  RunResult x = enter(kEptpAccessedDirty);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID);
  EXPECT_TRUE(get64(kEptPml4) & kEptAccessed);
  EXPECT_FALSE(get64(kEptPml4) & kEptDirty) << "D exists only in leaves";
  EXPECT_TRUE(get64(kEptPd + 8 * 4) & kEptDirty);
  EXPECT_TRUE(get64(kEptPd + 8 * 4) & kEptAccessed);
  // Code page read only: A set, D clear.
  EXPECT_TRUE(get64(kEptPd + 8 * 2) & kEptAccessed);
  EXPECT_FALSE(get64(kEptPd + 8 * 2) & kEptDirty);
}

TEST_F(EptTest, Misconfigurations) {
  struct Case {
    uint64_t entry, value;
  } cases[] = {
      {kEptPd + 8 * 4, 0x800000 | kEptLargePage | (2 << 3) | 7},            // memory type 2
      {kEptPd + 8 * 4, 0x800000 | kEptLargePage | (7 << 3) | 7},            // memory type 7
      {kEptPd + 8 * 4, 0x801000 | kEptLargePage | kWb | 7},                 // 2 MiB reserved bit 12
      {kEptPd + 8 * 4, 0x800000 | kEptLargePage | kWb | (1ull << 45) | 7},  // above MAXPHYADDR
      {kEptPml4, kEptPdpt | (1 << 3) | 7},                                  // PML4E bit 3
      {kEptPml4, kEptPdpt | kEptLargePage | 7},                             // PML4E bit 7
      {kEptPdpt, kEptPd | (1 << 4) | 7},                                    // PDPTE bits 6:3
      {kEptPml4, 0x40000000000ull | 7},                                     // table outside RAM
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << std::hex << c.entry << " " << c.value);
    RunResult x = relaunch(kTarget2M, 0, 0, [&] { put64(c.entry, c.value); });
    ASSERT_EQ(x.kind, Kind::kExit);
    EXPECT_EQ(x.exit.basic(), ExitReason::EPT_MISCONFIGURATION);
  }
}

TEST_F(EptTest, EntryChecksOnEptpAndVpid) {
  guest(kTarget2M, 0);
  build_vmcs(kGuestCode, 0, 0, proc2::kEnableEpt | proc2::kEnableVpid);
  build_ept();
  // VPID 0 with "enable VPID": error 7.
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  EXPECT_EQ(x.kind, Kind::kEntryFailed);
  EXPECT_EQ(x.entry.error, VmInstructionError::VM_ENTRY_WITH_INVALID_CONTROL_FIELDS);
  w(F::VIRTUAL_PROCESSOR_ID, 1);
  for (uint64_t bad : std::initializer_list<uint64_t>{
           kEptPml4 | 1 | (3 << 3), kEptPml4 | 6 | (2 << 3), kEptPml4 | 6 | (3 << 3) | 0x100,
           kEptPml4 | 6 | (3 << 3) | (1ull << 7)}) {
    w(F::EPT_POINTER, bad);
    x = api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
    EXPECT_EQ(x.kind, Kind::kEntryFailed) << std::hex << bad;
  }
  w(F::EPT_POINTER, kEptPml4 | 6 | (3 << 3));
  x = api_.vm_enter(VmxApi::Entry::kLaunch, 100000);
  EXPECT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::CPUID);
}

}  // namespace
}  // namespace hvsim::cpu::vmx
