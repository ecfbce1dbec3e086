// Unit tests of debug registers and #DB: single-step, instruction breakpoints and RF,
// data breakpoints, general detect, ICEBP, MOV SS blocking, DR4/DR5 aliasing
// (Intel SDM Vol. 3B ch. 17).
#include "cpu/spec/debug.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class DebugTest : public CpuFixture {
 protected:
  void go(Asm& a) {
    a(ZYDIS_MNEMONIC_HLT);
    enter_long_mode();
    load(L::kCode, a);
    run();
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
  /// Emits: mov rax, v ; mov drN, rax
  static void set_dr(Asm& a, ZydisRegister dr, uint64_t v) {
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(static_cast<int64_t>(v))});
    a(ZYDIS_MNEMONIC_MOV, {R(dr), R(ZYDIS_REGISTER_RAX)});
  }
  /// Emits: pushfq ; or qword [rsp], TF ; popfq
  static void set_tf(Asm& a) {
    a(ZYDIS_MNEMONIC_PUSHFQ);
    a(ZYDIS_MNEMONIC_OR, {M(8, ZYDIS_REGISTER_RSP), I(0x100)});
    a(ZYDIS_MNEMONIC_POPFQ);
  }
};

TEST_F(DebugTest, SingleStepTrapsAfterTheInstructionFollowingPopf) {
  Asm a;
  set_tf(a);
  uint64_t first = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_NOP);
  a(ZYDIS_MNEMONIC_NOP);
  go(a);
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), first + 1);  // trap: after the first NOP
  EXPECT_TRUE(frame(2) & kFlagTF);
  EXPECT_EQ(st().dr[6], spec::kDr6Fixed1 | spec::kDr6Bs);
  EXPECT_FALSE(st().rflags & kFlagTF);
}

TEST_F(DebugTest, InstructionBreakpointIsAFaultAndRfSkipsIt) {
  Asm a;
  set_dr(a, ZYDIS_REGISTER_DR0, 0);  // patched below
  set_dr(a, ZYDIS_REGISTER_DR7, 0x1);
  a(ZYDIS_MNEMONIC_NOP);
  uint64_t target = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_EBX)});
  Asm b;
  set_dr(b, ZYDIS_REGISTER_DR0, target);
  ASSERT_EQ(b.size(), 10u);
  go(a);
  // Re-run with the right address in DR0 (both encodings of the MOVs are 10 bytes).
  load(L::kCode, b);
  cpu_->set_run_state(RunState::kRunning);
  enter_long_mode();
  st().gpr[kRbx] = 0;
  cpu_->state_changed();
  run();
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), target);
  EXPECT_FALSE(frame(2) & kFlagRF);  // instruction breakpoints leave RF clear
  EXPECT_EQ(st().dr[6] & 0xF, 1u);
  EXPECT_EQ(st().gpr[kRbx], 0u);
  // Return with RF=1: the breakpoint is skipped once, INC runs.
  st().rip = target;
  st().rflags = 2 | kFlagRF;
  st().gpr[kRsp] = L::kStackTop;
  cpu_->set_run_state(RunState::kRunning);
  cpu_->state_changed();
  run();
  EXPECT_EQ(st().gpr[kRbx], 1u);
  EXPECT_FALSE(st().rflags & kFlagRF);
}

TEST_F(DebugTest, DataWriteBreakpointTrapsAfterTheStore) {
  Asm a;
  set_dr(a, ZYDIS_REGISTER_DR1, L::kData + 4);
  // DR7: L1, R/W1 = 01 (write), LEN1 = 11 (4 bytes)
  set_dr(a, ZYDIS_REGISTER_DR7, (1u << 2) | (1u << 20) | (3u << 22));
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), M(8, ZYDIS_REGISTER_RBX)});  // read: no trap
  a(ZYDIS_MNEMONIC_MOV, {M(1, ZYDIS_REGISTER_RBX, 3), I(7)});                // miss
  uint64_t store = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {M(1, ZYDIS_REGISTER_RBX, 6), I(9)});  // hit
  uint64_t after = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_NOP);
  go(a);
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), after);
  EXPECT_GT(after, store);
  EXPECT_EQ(mem_.load<uint8_t>(L::kData + 6), 9u);  // the store happened first
  EXPECT_EQ(st().dr[6], spec::kDr6Fixed1 | 2u);
}

TEST_F(DebugTest, GeneralDetectFaultsOnMovDr) {
  Asm a;
  set_dr(a, ZYDIS_REGISTER_DR7, spec::kDr7Gd);
  uint64_t mov = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_DR0)});
  go(a);
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), mov);
  EXPECT_TRUE(st().dr[6] & spec::kDr6Bd);
  EXPECT_FALSE(st().dr[7] & spec::kDr7Gd);
}

TEST_F(DebugTest, IcebpIsATrapWithoutDr6Bits) {
  Asm a;
  a.raw({0xF1});
  uint64_t after = L::kCode + a.size();
  go(a);
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), after);
  EXPECT_EQ(st().dr[6], spec::kDr6Fixed1);
}

TEST_F(DebugTest, MovSsDefersSingleStepByOneInstruction) {
  Asm a;
  set_tf(a);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AX), R(ZYDIS_REGISTER_SS)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_SS), R(ZYDIS_REGISTER_AX)});
  a(ZYDIS_MNEMONIC_NOP);
  uint64_t after = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_NOP);
  go(a);
  ASSERT_TRUE(in_handler(1));
  // The trap of "mov ax, ss" comes first; redo the run starting at mov ss with TF set.
  enter_long_mode();
  st().rip = after - 1 - 2;  // mov ss, ax (2 bytes), then the NOP
  st().rflags = 2 | kFlagTF;
  st().gpr[kRax] = L::kData0;
  cpu_->set_run_state(RunState::kRunning);
  cpu_->state_changed();
  run();
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), after);  // after the NOP following MOV SS, not after MOV SS
}

TEST_F(DebugTest, Dr4AliasesDr6WithoutCr4De) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_DR4)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_CR4)});
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EBX), I(8)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_RBX)});
  uint64_t ud = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_DR5)});
  go(a);
  ASSERT_TRUE(in_handler(6));
  EXPECT_EQ(st().gpr[kRax], spec::kDr6Fixed1);
  EXPECT_EQ(frame(0), ud);
}

}  // namespace
}  // namespace hvsim::cpu::testing
