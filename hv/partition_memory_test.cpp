// Unit tests of partition memory: system-page ownership (lowest-first allocation, zeroing
// on free, exhaustion), guest-physical spaces (map/unmap/translate and every refusal), the
// EPT they build as the processor walks it (a real-mode guest's stores land in the system
// pages its partition owns; an unmapped page is an EPT violation; unmap + INVEPT takes a
// mapping away), isolation between two partitions, and checkpoints.
#include "hv/partition_memory.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "cpu/vmx/spec/ept.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::hv {
namespace {

using namespace cpu::vmx;
using namespace cpu::vmx::testing_vmx;
using cpu::vmx::spec::InveptType;
namespace proc = cpu::vmx::spec::proc;
namespace proc2 = cpu::vmx::spec::proc2;

constexpr uint64_t kRegion = 0x800000, kRegionSize = 0x400000;  // 1,024 system pages
constexpr PartitionId kP1 = 1, kP2 = 2;

class PartitionMemoryTest : public VmxTest {
 public:
  SystemPages pages_{mem_, kRegion, kRegionSize};
};

TEST_F(PartitionMemoryTest, SystemPagesAllocateLowestFirstAndZeroOnFree) {
  EXPECT_EQ(pages_.total_pages(), 1024u);
  uint64_t a = *pages_.allocate(kP1), b = *pages_.allocate(kP1), c = *pages_.allocate(kP2);
  EXPECT_EQ(a, kRegion);
  EXPECT_EQ(b, kRegion + 0x1000);
  EXPECT_EQ(c, kRegion + 0x2000);
  EXPECT_EQ(pages_.owner(b), kP1);
  EXPECT_EQ(pages_.owner(c), kP2);
  EXPECT_EQ(pages_.owner(kRegion + 0x3000), kFreePage);
  EXPECT_EQ(pages_.owner(0x1000), kFreePage) << "outside the region";
  EXPECT_EQ(pages_.pages_of(kP1), 2u);
  EXPECT_EQ(pages_.free_pages(), 1021u);
  mem_.store<uint64_t>(b + 0x800, 0x5EC2E7);
  pages_.free(b);
  EXPECT_EQ(mem_.load<uint64_t>(b + 0x800), 0u) << "zeroed for its next owner";
  EXPECT_EQ(*pages_.allocate(kP2), b) << "the lowest free page again";
  EXPECT_EQ(pages_.owner(b), kP2);
  while (pages_.allocate(kP2)) {
  }
  EXPECT_EQ(pages_.free_pages(), 0u);
  EXPECT_FALSE(pages_.allocate(kP1).has_value());
  pages_.free(a);
  EXPECT_EQ(pages_.allocate(kP1).value_or(0), a);
}

TEST_F(PartitionMemoryTest, MappingRulesAndRefusals) {
  GpaSpace space(pages_, mem_, kP1);
  ASSERT_TRUE(space.valid());
  uint64_t mine = *pages_.allocate(kP1), theirs = *pages_.allocate(kP2);
  EXPECT_EQ(space.map(0x1000, mine + 8, 7), MapError::kUnaligned);
  EXPECT_EQ(space.map(0x1008, mine, 7), MapError::kUnaligned);
  EXPECT_EQ(space.map(1ull << 40, mine, 7), MapError::kOutOfRange);
  EXPECT_EQ(space.map(0x1000, theirs, 7), MapError::kNotOwner);
  EXPECT_EQ(space.map(0x1000, kRegion + 0x100000, 7), MapError::kNotOwner) << "a free page";
  EXPECT_EQ(space.map(0x1000, 0x1000, 7), MapError::kNotOwner) << "outside the region";
  EXPECT_EQ(space.map(0x1000, mine, 7), MapError::kOk);
  EXPECT_EQ(space.map(0x1000, mine, 3), MapError::kAlreadyMapped);
  EXPECT_EQ(space.unmap(0x2000), MapError::kNotMapped);
  EXPECT_EQ(space.unmap(0x123000000), MapError::kNotMapped) << "no tables there at all";
  uint8_t rwx = 0;
  EXPECT_EQ(space.translate(0x1234, &rwx).value_or(0), mine + 0x234);
  EXPECT_EQ(rwx, 7);
  EXPECT_FALSE(space.translate(0x2000).has_value());
  // One mapping needs the PML4, a PDPT, a PD and a PT, all the hypervisor's.
  EXPECT_EQ(space.table_pages(), 4u);
  EXPECT_EQ(pages_.pages_of(kHypervisorOwned), 4u);
  // A second mapping in another PML4 slot: three more tables; for_each lists both in order.
  uint64_t mine2 = *pages_.allocate(kP1);
  EXPECT_EQ(space.map(0x8000000000, mine2, 5), MapError::kOk);
  EXPECT_EQ(space.table_pages(), 7u);
  std::vector<std::tuple<uint64_t, uint64_t, uint8_t>> seen;
  space.for_each([&](uint64_t g, uint64_t s, uint8_t r) { seen.emplace_back(g, s, r); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_tuple(uint64_t{0x1000}, mine, uint8_t{7}));
  EXPECT_EQ(seen[1], std::make_tuple(uint64_t{0x8000000000}, mine2, uint8_t{5}));
  uint64_t back = 0;
  EXPECT_EQ(space.unmap(0x1000, &back), MapError::kOk);
  EXPECT_EQ(back, mine);
  EXPECT_EQ(space.mapped_pages(), 1u);
  uint64_t free_before = pages_.free_pages();
  {
    GpaSpace other(pages_, mem_, kP2);
    EXPECT_EQ(other.map(0x1000, mine, 7), MapError::kNotOwner) << "partition 1's page";
    EXPECT_EQ(other.map(0x1000, theirs, 7), MapError::kOk);
  }
  EXPECT_EQ(pages_.free_pages(), free_before) << "a space's tables go back when it goes";
}

// The processor walks the tables: a real-mode guest (unrestricted guest under EPT) whose
// code, data and stack pages are system pages of its partition.
TEST_F(PartitionMemoryTest, TheProcessorWalksThePartitionsEpt) {
  GpaSpace space(pages_, mem_, kP1);
  uint64_t code = *pages_.allocate(kP1), stack = *pages_.allocate(kP1);
  ASSERT_EQ(space.map(0x40000, code, 7), MapError::kOk);
  ASSERT_EQ(space.map(0x5F000, stack, 3), MapError::kOk);
  // MOV AX, 1234h; MOV [200h], AX; CPUID; MOV [1000h], AX; HLT (CS = DS = 4000h)
  const uint8_t prog[] = {0xB8, 0x34, 0x12, 0xA3, 0x00, 0x02, 0x0F, 0xA2, 0xA3, 0x00, 0x10, 0xF4};
  mem_.write(code + 0x100, prog, sizeof prog);
  build_vmcs(kGuestCode, 0, proc::kHltExiting, proc2::kEnableEpt | proc2::kUnrestrictedGuest);
  real_mode_guest(0x4000, 0x5000, 0x100, 0xFFF0);
  w(F::EPT_POINTER, space.eptp());
  RunResult x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID) << x.exit.reason;
  EXPECT_EQ(mem_.load<uint16_t>(code + 0x200), 0x1234) << "GPA 40200h is the system page";
  EXPECT_EQ(mem_.load<uint16_t>(0x40200), 0) << "not the identity address";
  // GPA 41000h is not mapped: an EPT violation naming it, a data write to a missing page.
  x = resume_after(x);
  ASSERT_EQ(x.exit.basic(), ExitReason::EPT_VIOLATION) << x.exit.reason;
  EXPECT_EQ(x.exit.guest_physical_address, 0x41000u);
  EXPECT_EQ(x.exit.qualification & 0x3F, spec::ept_qual::kWrite);
  // The hypervisor maps it on demand; the store is retried and lands there.
  uint64_t data = *pages_.allocate(kP1);
  ASSERT_EQ(space.map(0x41000, data, 3), MapError::kOk);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.exit.basic(), ExitReason::HLT) << x.exit.reason;
  EXPECT_EQ(mem_.load<uint16_t>(data), 0x1234);
  // Unmapped and invalidated, the page is gone for the guest again.
  ASSERT_EQ(space.unmap(0x41000), MapError::kOk);
  ASSERT_TRUE(api_.invept(static_cast<uint64_t>(InveptType::kSingleContext), space.eptp()).ok());
  w(F::GUEST_RIP, 0x108);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.exit.basic(), ExitReason::EPT_VIOLATION) << x.exit.reason;
  EXPECT_EQ(x.exit.guest_physical_address, 0x41000u);
}

TEST_F(PartitionMemoryTest, OverlaysReplaceAndPutBack) {
  GpaSpace space(pages_, mem_, kP1);
  uint64_t mine = *pages_.allocate(kP1), hv_page = *pages_.allocate(kHypervisorOwned);
  ASSERT_EQ(space.map(0x5000, mine, 7), MapError::kOk);
  uint64_t saved = 0;
  EXPECT_EQ(space.overlay(0x5000, mine, 5, &saved), MapError::kNotOwner)
      << "only hypervisor pages are overlays";
  ASSERT_EQ(space.overlay(0x5000, hv_page, 5, &saved), MapError::kOk);
  uint8_t rwx = 0;
  EXPECT_EQ(space.translate(0x5010, &rwx).value_or(0), hv_page + 0x10);
  EXPECT_EQ(rwx, 5);
  ASSERT_EQ(space.remove_overlay(0x5000, saved), MapError::kOk);
  EXPECT_EQ(space.translate(0x5010, &rwx).value_or(0), mine + 0x10) << "the guest's page again";
  EXPECT_EQ(rwx, 7);
  // Over a page with no memory: removing leaves it unmapped again.
  ASSERT_EQ(space.overlay(0x9000000, hv_page, 1, &saved), MapError::kOk);
  EXPECT_EQ(saved, 0u);
  EXPECT_TRUE(space.translate(0x9000000).has_value());
  ASSERT_EQ(space.remove_overlay(0x9000000, saved), MapError::kOk);
  EXPECT_FALSE(space.translate(0x9000000).has_value());
  EXPECT_EQ(space.mapped_pages(), 1u) << "overlays are not partition memory";
}

TEST_F(PartitionMemoryTest, CheckpointKeepsOwnersAndMappings) {
  auto space = std::make_unique<GpaSpace>(pages_, mem_, kP1);
  for (uint64_t k = 0; k < 5; ++k)
    ASSERT_EQ(space->map(k << 21, *pages_.allocate(kP1), k % 2 ? 5 : 7), MapError::kOk);
  StateWriter sw;
  pages_.save(sw, "pages");
  space->save(sw, "space");
  std::vector<uint8_t> bytes = sw.finish();
  std::vector<std::tuple<uint64_t, uint64_t, uint8_t>> before, after;
  space->for_each([&](uint64_t g, uint64_t s, uint8_t r) { before.emplace_back(g, s, r); });

  SystemPages pages2(mem_, kRegion, kRegionSize);
  StateReader sr(bytes, "test");
  pages2.restore(sr, "pages");
  EXPECT_EQ(pages2.free_pages(), pages_.free_pages());
  EXPECT_EQ(pages2.pages_of(kP1), 5u);
  GpaSpace space2(pages2, mem_, kP1);
  space2.restore(sr, "space");
  space2.for_each([&](uint64_t g, uint64_t s, uint8_t r) { after.emplace_back(g, s, r); });
  EXPECT_EQ(before, after);
  EXPECT_EQ(space2.eptp(), space->eptp());
  EXPECT_EQ(space2.mapped_pages(), 5u);
  // A checkpoint of another region is refused with the reason.
  SystemPages elsewhere(mem_, kRegion, kRegionSize / 2);
  StateReader sr2(bytes, "test");
  try {
    elsewhere.restore(sr2, "pages");
    ADD_FAILURE() << "restored into a different region";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("different system-page region"), std::string::npos);
  }
}

}  // namespace
}  // namespace hvsim::hv
