// Scheduling of VPs on one physical CPU (hv/scheduler.cpp): two partitions' VPs share it in
// turns of the time slice, each keeping its own registers across switches; a VP that halts
// gives the processor to the other for good; the same run schedules the same way.
#include <gtest/gtest.h>

#include "core/hash.h"
#include "hv/hypervisor_test_fixture.h"

namespace hvsim::hv {
namespace {

using testing::HypervisorTest;

// loop: inc ecx; mov [0x2000], ecx; pause; jmp loop
const std::vector<uint8_t> kCount = {0x41, 0x89, 0x0D, 0x00, 0x20, 0x00,
                                     0x00, 0xF3, 0x90, 0xEB, 0xF5};

class SchedulerTest : public HypervisorTest {
 public:
  uint32_t counter(const Partition& p) {
    uint32_t n = 0;
    EXPECT_TRUE(hv_->read_guest(p, 0x2000, &n, 4));
    return n;
  }
  /// Two counting partitions; b's ECX starts at 0x10000000.
  std::pair<Partition*, Partition*> two() {
    Partition& a = partition(kCount, {0, 0}, "a");
    cpu::ArchState s = flat32();
    s.gpr[cpu::kRcx] = 0x10000000;
    Partition& b = partition_with(kCount, s, "b");
    return {&a, &b};
  }
};

TEST_F(SchedulerTest, TwoPartitionsTakeTurnsAndKeepTheirRegisters) {
  make();  // time slice 1 ms
  auto [a, b] = two();
  hv_->advance(0, cpu_->local_time() + 10 * kPicosPerMilli);
  ASSERT_FALSE(a->crashed || b->crashed) << a->crash_reason << b->crash_reason;
  uint32_t na = counter(*a), nb = counter(*b) - 0x10000000;
  EXPECT_GT(counter(*b), 0x10000000u) << "b counts on from its own ECX";
  EXPECT_LT(counter(*a), 0x10000000u) << "a never sees b's ECX";
  EXPECT_GT(na, 1000u);
  EXPECT_GT(nb, 1000u);
  // 10 turns of 1 ms: each gets 5, so their counts are within a turn's worth.
  EXPECT_LT(std::max(na, nb) - std::min(na, nb), std::max(na, nb) / 4);
  EXPECT_GE(a->vps[0].turns, 4u);
  EXPECT_GE(b->vps[0].turns, 4u);
  EXPECT_LE(a->vps[0].turns + b->vps[0].turns, 11u);
}

TEST_F(SchedulerTest, HltGivesTheProcessorAway) {
  make();
  Partition& idle = partition({0xFA, 0xF4}, {0, 0}, "idle");  // cli; hlt
  Partition& busy = partition(kCount, {0, 0}, "busy");
  hv_->advance(0, cpu_->local_time() + 5 * kPicosPerMilli);
  ASSERT_FALSE(busy.crashed) << busy.crash_reason;
  EXPECT_TRUE(idle.vps[0].halted);
  EXPECT_EQ(idle.vps[0].turns, 1u);
  // busy ran the rest of the 5 ms: about as much as it counts alone (checked below).
  uint32_t shared = counter(busy);
  EXPECT_GT(shared, 1000u);
  EXPECT_EQ(hv_->activity(), Hypervisor::Activity::kBusy);
}

TEST_F(SchedulerTest, Deterministic) {
  auto run = [](SchedulerTest& t) {
    t.make();
    auto [a, b] = t.two();
    t.hv_->advance(0, t.cpu_->local_time() + 3 * kPicosPerMilli + 12345);
    Hasher h;
    t.cpu_->hash_into(h);
    t.hv_->hash_into(h);
    h.bytes(t.mem_.read_ptr(0), 16 << 20);
    return std::make_tuple(h.digest(), t.counter(*a), t.counter(*b), t.cpu_->cycles());
  };
  struct Other : SchedulerTest {
    void TestBody() override {}
  } other;
  EXPECT_EQ(run(*this), run(other));
}

}  // namespace
}  // namespace hvsim::hv
