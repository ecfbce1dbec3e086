// Unit tests of instruction semantics and flags (Intel SDM Vol. 1 ch. 7, Appendix A).
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

constexpr uint64_t kArith = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;

class ExecTest : public CpuFixture {
 protected:
  /// Runs `a` (a HLT is appended) in 64-bit mode and returns the final state.
  ArchState& exec(Asm& a) {
    a(ZYDIS_MNEMONIC_HLT);
    enter_long_mode();
    load(Layout::kCode, a);
    run();
    EXPECT_EQ(cpu_->run_state(), RunState::kHalted);
    EXPECT_EQ(st().rip, Layout::kCode + a.size()) << "stopped early (exception?)";
    return st();
  }
};

TEST_F(ExecTest, AddSetsCarryOverflowAuxiliary) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(0x7FFFFFFF)});
  a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_EAX), I(1)});
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kRax], 0x80000000u);
  EXPECT_EQ(s.rflags & kArith, kFlagOF | kFlagSF | kFlagAF | kFlagPF);
}

TEST_F(ExecTest, AddByteWrapsAndSetsCarryZero) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(0x1234FF)});
  a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_AL), I(1)});
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kRax], 0x123400u);
  EXPECT_EQ(s.rflags & kArith, kFlagCF | kFlagZF | kFlagAF | kFlagPF);
}

TEST_F(ExecTest, SubBorrowAndAdcSbbChain) {
  Asm a;
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_SUB, {R(ZYDIS_REGISTER_RAX), I(1)});  // rax = -1, CF=1
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(5)});
  a(ZYDIS_MNEMONIC_ADC, {R(ZYDIS_REGISTER_RBX), I(0)});  // rbx = 6, CF=0
  a(ZYDIS_MNEMONIC_STC);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), I(0)});
  a(ZYDIS_MNEMONIC_SBB, {R(ZYDIS_REGISTER_RCX), I(0)});  // rcx = -1, CF=1
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kRax], ~0ull);
  EXPECT_EQ(s.gpr[kRbx], 6u);
  EXPECT_EQ(s.gpr[kRcx], ~0ull);
  EXPECT_EQ(s.rflags & kArith, kFlagCF | kFlagSF | kFlagPF | kFlagAF);
}

TEST_F(ExecTest, ThirtyTwoBitWritesZeroExtend) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(-1)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(-1)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), I(-1)});
  a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_EAX), I(0)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_BX), I(7)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CH), I(0)});
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kRax], 0xFFFFFFFFu);
  EXPECT_EQ(s.gpr[kRbx], 0xFFFFFFFFFFFF0007u);
  EXPECT_EQ(s.gpr[kRcx], 0xFFFFFFFFFFFF00FFu);
}

TEST_F(ExecTest, ShiftsAndRotates) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(static_cast<int32_t>(0x80000001))});
  a(ZYDIS_MNEMONIC_SHL, {R(ZYDIS_REGISTER_EAX), I(1)});  // 2, CF=1, OF=1
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBX), I(-16)});
  a(ZYDIS_MNEMONIC_SAR, {R(ZYDIS_REGISTER_EBX), I(2)});  // -4, CF=0
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CL), I(4)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_DX), I(0x1234)});
  a(ZYDIS_MNEMONIC_ROL, {R(ZYDIS_REGISTER_DX), R(ZYDIS_REGISTER_CL)});  // 0x2341, CF=1
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_CLC);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_SI), I(static_cast<int16_t>(0x8001))});
  a(ZYDIS_MNEMONIC_RCR, {R(ZYDIS_REGISTER_SI), I(1)});  // 0x4000, CF=1, OF=1
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R8), I(0x0123456789ABCDEFll)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R9), I(-1)});
  a(ZYDIS_MNEMONIC_SHLD, {R(ZYDIS_REGISTER_R8), R(ZYDIS_REGISTER_R9), I(8)});
  a(ZYDIS_MNEMONIC_SHR, {R(ZYDIS_REGISTER_R9), I(60)});
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kRax], 2u);
  EXPECT_EQ(s.gpr[kRbx], 0xFFFFFFFCu);
  EXPECT_EQ(s.gpr[kRdx] & 0xFFFF, 0x2341u);
  EXPECT_EQ(s.gpr[kRsi] & 0xFFFF, 0x4000u);
  EXPECT_EQ(s.gpr[kR8], 0x23456789ABCDEFFFull);
  EXPECT_EQ(s.gpr[kR9], 0xFu);
  uint64_t sp = s.gpr[kRsp];
  EXPECT_EQ(get64(sp + 24) & (kFlagCF | kFlagOF), kFlagCF | kFlagOF);  // shl
  EXPECT_EQ(get64(sp + 16) & (kFlagCF | kFlagOF | kFlagSF), kFlagSF);  // sar
  EXPECT_EQ(get64(sp + 8) & kFlagCF, kFlagCF);                         // rol
  EXPECT_EQ(get64(sp + 0) & (kFlagCF | kFlagOF), kFlagCF | kFlagOF);   // rcr
}

TEST_F(ExecTest, MultiplyAndDivide) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(-1)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(2)});
  a(ZYDIS_MNEMONIC_MUL, {R(ZYDIS_REGISTER_RBX)});  // rdx:rax = 1:fffffffffffffffe, CF=OF=1
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R8), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R9), R(ZYDIS_REGISTER_RDX)});
  a(ZYDIS_MNEMONIC_DIV, {R(ZYDIS_REGISTER_RBX)});  // back to -1 rem 0
  a(ZYDIS_MNEMONIC_IMUL, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_EBX), I(-3)});  // -6
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EDI), I(-7)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ESI), I(2)});
  a(ZYDIS_MNEMONIC_XCHG, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EDI)});
  a(ZYDIS_MNEMONIC_CDQ);
  a(ZYDIS_MNEMONIC_IDIV, {R(ZYDIS_REGISTER_ESI)});  // -3 rem -1
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kR8], 0xFFFFFFFFFFFFFFFEull);
  EXPECT_EQ(s.gpr[kR9], 1u);
  EXPECT_EQ(get64(s.gpr[kRsp]) & (kFlagCF | kFlagOF), kFlagCF | kFlagOF);
  EXPECT_EQ(s.gpr[kRdi], 0xFFFFFFFFu);  // 32-bit XCHG zero-extends
  EXPECT_EQ(s.gpr[kRcx], 0xFFFFFFFAu);
  EXPECT_EQ(s.gpr[kRax], 0xFFFFFFFDu);
  EXPECT_EQ(s.gpr[kRdx], 0xFFFFFFFFu);
}

TEST_F(ExecTest, DivideByZeroRaisesDE) {
  Asm a;
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_DIV, {R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  load(Layout::kCode, a);
  run();
  EXPECT_EQ(st().rip, Layout::kHandlers + 0 * 16 + 1);
  EXPECT_EQ(get64(st().gpr[kRsp]), Layout::kCode + 2);  // RIP of the DIV
}

TEST_F(ExecTest, RepMovsAndStosForwardAndBackward) {
  using L = Layout;
  for (uint64_t k = 0; k < 64; ++k) mem_.store<uint8_t>(L::kData + k, static_cast<uint8_t>(k));
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RSI), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDI), I(L::kData + 0x100)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(8)});
  a(ZYDIS_MNEMONIC_MOVSQ, {}, ZYDIS_ATTRIB_HAS_REP);
  a(ZYDIS_MNEMONIC_STD);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDI), I(L::kData + 0x20F)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AL), I(static_cast<int8_t>(0xAB))});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(16)});
  a(ZYDIS_MNEMONIC_STOSB, {}, ZYDIS_ATTRIB_HAS_REP);
  a(ZYDIS_MNEMONIC_CLD);
  // repne scasb for 0x20 in the copied block
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDI), I(L::kData + 0x100)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AL), I(0x20)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(64)});
  a(ZYDIS_MNEMONIC_SCASB, {}, ZYDIS_ATTRIB_HAS_REPNE);
  auto& s = exec(a);
  for (uint64_t k = 0; k < 64; ++k) EXPECT_EQ(mem_.load<uint8_t>(L::kData + 0x100 + k), k);
  for (uint64_t k = 0; k < 16; ++k) EXPECT_EQ(mem_.load<uint8_t>(L::kData + 0x200 + k), 0xAB);
  EXPECT_EQ(mem_.load<uint8_t>(L::kData + 0x1FF), 0);
  EXPECT_EQ(s.gpr[kRdi], L::kData + 0x100 + 0x21);
  EXPECT_EQ(s.gpr[kRcx], 64u - 0x21);
  EXPECT_TRUE(s.rflags & kFlagZF);
}

TEST_F(ExecTest, RepMovsFaultLeavesCompletedIterations) {
  using L = Layout;
  put64(pte_addr(L::kData + 0x1000), 0);  // second data page not present
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RSI), I(L::kCode)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDI), I(L::kData + 0xFF0)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(32)});
  a(ZYDIS_MNEMONIC_MOVSB, {}, ZYDIS_ATTRIB_HAS_REP);
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  put64(pte_addr(L::kData + 0x1000), 0);
  load(L::kCode, a);
  run();
  EXPECT_EQ(st().rip, L::kHandlers + 14 * 16 + 1);
  EXPECT_EQ(st().cr2, L::kData + 0x1000);
  EXPECT_EQ(st().gpr[kRcx], 16u);
  EXPECT_EQ(st().gpr[kRdi], L::kData + 0x1000);
  EXPECT_EQ(get64(st().gpr[kRsp]), 2u);  // W, not present, supervisor
}

TEST_F(ExecTest, CmpxchgAndXadd) {
  using L = Layout;
  put64(L::kData, 100);
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(100)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(200)});
  a(ZYDIS_MNEMONIC_CMPXCHG, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RCX)},
    ZYDIS_ATTRIB_HAS_LOCK);  // equal: [rbx] = 200, ZF=1
  a(ZYDIS_MNEMONIC_SETZ, {R(ZYDIS_REGISTER_R8B)});
  a(ZYDIS_MNEMONIC_CMPXCHG, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RCX)});  // rax = 200
  a(ZYDIS_MNEMONIC_SETZ, {R(ZYDIS_REGISTER_R9B)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EDX), I(5)});
  a(ZYDIS_MNEMONIC_XADD, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RDX)});
  auto& s = exec(a);
  EXPECT_EQ(s.gpr[kR8] & 0xFF, 1u);
  EXPECT_EQ(s.gpr[kR9] & 0xFF, 0u);
  EXPECT_EQ(s.gpr[kRax], 200u);  // the second compare failed: rax <- [rbx]
  EXPECT_EQ(s.gpr[kRdx], 200u);
  EXPECT_EQ(get64(Layout::kData), 205u);
}

}  // namespace
}  // namespace hvsim::cpu::testing
