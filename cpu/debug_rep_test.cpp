// Unit tests of single-step and data breakpoints over REP string instructions: one trap
// per iteration, RIP at the REP instruction until the last, exact RCX/RSI/RDI and DR6
// (Intel SDM Vol. 3A 17.3.1.4 single-step, 17.3.1.2 data breakpoints; Vol. 2 "REP").
#include "cpu/spec/debug.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class DebugRepTest : public CpuFixture {
 protected:
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }

  /// Loads `a` (followed by HLT) at kCode in 64-bit mode with the given RFLAGS.
  void start(Asm& a, uint64_t rflags) {
    a(ZYDIS_MNEMONIC_HLT);
    enter_long_mode();
    load(L::kCode, a);
    st().rflags = rflags;
    cpu_->state_changed();
  }
  /// Returns from the #DB handler as IRETQ would, clearing DR6 first.
  void resume() {
    st().rip = frame(0);
    st().rflags = frame(2);
    st().gpr[kRsp] = frame(3);
    st().dr[6] = spec::kDr6Fixed1;
    cpu_->set_run_state(RunState::kRunning);
    cpu_->state_changed();
  }
};

TEST_F(DebugRepTest, SingleStepTrapsAfterEachRepMovsIteration) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOVSB, {}, ZYDIS_ATTRIB_HAS_REP);
  uint64_t after = L::kCode + a.size();
  start(a, 2 | kFlagTF);
  for (uint64_t k = 0; k < 64; ++k) mem_.store<uint8_t>(L::kData + k, static_cast<uint8_t>(k + 1));
  st().gpr[kRsi] = L::kData;
  st().gpr[kRdi] = L::kData + 0x800;
  st().gpr[kRcx] = 5;
  cpu_->state_changed();
  for (uint64_t k = 1; k <= 5; ++k) {
    run();
    ASSERT_TRUE(in_handler(1)) << "iteration " << k;
    EXPECT_EQ(frame(0), k < 5 ? L::kCode : after) << "iteration " << k;
    EXPECT_EQ(st().gpr[kRcx], 5 - k);
    EXPECT_EQ(st().gpr[kRsi], L::kData + k);
    EXPECT_EQ(st().gpr[kRdi], L::kData + 0x800 + k);
    EXPECT_EQ(mem_.load<uint8_t>(L::kData + 0x800 + k - 1), k);
    EXPECT_EQ(mem_.load<uint8_t>(L::kData + 0x800 + k), 0u);  // not yet copied
    EXPECT_EQ(st().dr[6], spec::kDr6Fixed1 | spec::kDr6Bs);
    EXPECT_TRUE(frame(2) & kFlagTF);
    resume();
  }
}

TEST_F(DebugRepTest, RepStosWithZeroCountStepsOnce) {
  Asm a;
  a(ZYDIS_MNEMONIC_STOSQ, {}, ZYDIS_ATTRIB_HAS_REP);
  uint64_t after = L::kCode + a.size();
  start(a, 2 | kFlagTF);
  st().gpr[kRdi] = L::kData;
  st().gpr[kRcx] = 0;
  cpu_->state_changed();
  run();
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), after);
  EXPECT_EQ(st().gpr[kRdi], L::kData);
}

TEST_F(DebugRepTest, RepeCmpsStopsStepping) {
  Asm a;
  a(ZYDIS_MNEMONIC_CMPSB, {}, ZYDIS_ATTRIB_HAS_REPE);
  uint64_t after = L::kCode + a.size();
  start(a, 2 | kFlagTF);
  const char x[] = "abcX", y[] = "abcY";
  mem_.write(L::kData, x, 4);
  mem_.write(L::kData + 0x100, y, 4);
  st().gpr[kRsi] = L::kData;
  st().gpr[kRdi] = L::kData + 0x100;
  st().gpr[kRcx] = 10;
  cpu_->state_changed();
  for (uint64_t k = 1; k <= 4; ++k) {
    run();
    ASSERT_TRUE(in_handler(1));
    // The mismatch in iteration 4 ends the instruction with RCX = 6.
    EXPECT_EQ(frame(0), k < 4 ? L::kCode : after) << "iteration " << k;
    EXPECT_EQ(st().gpr[kRcx], 10 - k);
    resume();
  }
}

TEST_F(DebugRepTest, WithoutTfRepRunsToTheEndInOneInstruction) {
  Asm a;
  a(ZYDIS_MNEMONIC_STOSB, {}, ZYDIS_ATTRIB_HAS_REP);
  start(a, 2);
  st().gpr[kRdi] = L::kData;
  st().gpr[kRcx] = 300;
  st().gpr[kRax] = 0xAB;
  cpu_->state_changed();
  EXPECT_EQ(run(), 2u);  // REP STOSB, HLT
  EXPECT_EQ(st().gpr[kRcx], 0u);
  EXPECT_EQ(mem_.load<uint8_t>(L::kData + 299), 0xABu);
}

TEST_F(DebugRepTest, DataBreakpointTrapsAfterTheIterationThatHitsIt) {
  Asm a;
  a(ZYDIS_MNEMONIC_STOSB, {}, ZYDIS_ATTRIB_HAS_REP);
  start(a, 2);
  st().dr[0] = L::kData + 0x102;
  st().dr[7] = spec::kDr7Fixed1 | 1u | (1u << 16);  // L0, write, 1 byte
  st().gpr[kRdi] = L::kData + 0x100;
  st().gpr[kRcx] = 8;
  st().gpr[kRax] = 0x11;
  cpu_->state_changed();
  run();
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), L::kCode);
  EXPECT_EQ(st().gpr[kRcx], 5u);  // three bytes stored, the third hit DR0
  EXPECT_EQ(st().gpr[kRdi], L::kData + 0x103);
  EXPECT_EQ(st().dr[6], spec::kDr6Fixed1 | 1u);
  EXPECT_EQ(mem_.load<uint8_t>(L::kData + 0x103), 0u);
}

}  // namespace
}  // namespace hvsim::cpu::testing
