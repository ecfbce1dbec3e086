// Unit tests of fused pairs (a flag-setting instruction and the Jcc after it, run as one
// decoded record): at every boundary they must behave as two instructions (Intel SDM Vol. 3A
// 6.9 for boundaries, 17.3.1.4 for single-step; Vol. 2 "Jcc" for the #GP of a
// non-canonical target).
#include <vector>

#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

/// The registers the test programs change, and the counters.
struct Snapshot {
  uint64_t rip, rcx, rdx, rsi, rdi, flags, instructions, cycles;
  bool operator==(const Snapshot&) const = default;
};

class FusedTest : public CpuFixture {
 protected:
  /// Long mode at kCode with `a` loaded and the general registers (but RSP) zero.
  void start(const Asm& a) {
    enter_long_mode();
    load(L::kCode, a);
    for (unsigned r = 0; r < 16; ++r)
      if (r != kRsp) st().gpr[r] = 0;
    cpu_->set_run_state(RunState::kRunning);
  }
  Snapshot snap() {
    const ArchState& s = st();
    return Snapshot{s.rip,       s.gpr[kRcx], s.gpr[kRdx],          s.gpr[kRsi],
                    s.gpr[kRdi], s.rflags,    cpu_->instructions(), cpu_->cycles()};
  }
  /// True if `rip` is the address of one of the program's instructions.
  static bool at_start(const std::vector<uint64_t>& starts, uint64_t rip) {
    for (uint64_t s : starts)
      if (s == rip) return true;
    return false;
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
};

/// A counted loop whose body is all fusable pairs (register, immediate and memory forms,
/// CMP/TEST/SUB/DEC, taken and not taken), ending in HLT. `starts` receives the address of
/// every instruction (in program order, not execution order).
Asm fused_loop(std::vector<uint64_t>* starts) {
  Asm a;
  auto at = [&] { starts->push_back(L::kCode + a.size()); };
  // A short Jcc (opcode `op`) over one instruction, and that instruction.
  auto skip = [&](uint8_t op, ZydisMnemonic m, std::initializer_list<ZydisEncoderOperand> ops) {
    Asm body;
    body(m, ops);
    a.raw({op, static_cast<uint8_t>(body.size())});
    at();
    a(m, ops);
  };
  at();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(6)});
  at();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(static_cast<int64_t>(L::kData))});
  size_t loop = a.size();
  at();
  a(ZYDIS_MNEMONIC_MOV, {M(4, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_ECX)});
  at();
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_ECX), I(3)});
  at();
  skip(0x74, ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_RDX), I(7)});  // je over the add
  at();
  a(ZYDIS_MNEMONIC_CMP, {M(4, ZYDIS_REGISTER_RBX), I(4)});
  at();
  skip(0x72, ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_RSI), I(1)});  // jb
  at();
  a(ZYDIS_MNEMONIC_TEST, {R(ZYDIS_REGISTER_ECX), I(1)});
  at();
  skip(0x75, ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_RDI), I(1)});  // jnz
  at();
  a(ZYDIS_MNEMONIC_SUB, {R(ZYDIS_REGISTER_RDX), R(ZYDIS_REGISTER_RSI)});
  at();
  a.raw({0x7C, 0x00});  // jl +0 (either way the same next instruction)
  at();
  a(ZYDIS_MNEMONIC_DEC, {R(ZYDIS_REGISTER_ECX)});
  at();
  int8_t back =
      static_cast<int8_t>(static_cast<int64_t>(loop) - static_cast<int64_t>(a.size() + 2));
  a.raw({0x75, static_cast<uint8_t>(back)});  // jnz loop
  at();
  a(ZYDIS_MNEMONIC_HLT);
  return a;
}

TEST_F(FusedTest, SingleSteppingThroughFusedPairsMatchesRunningStraightThrough) {
  std::vector<uint64_t> starts;
  Asm a = fused_loop(&starts);
  start(a);
  uint64_t n = run();
  Snapshot straight = snap();
  ASSERT_EQ(st().rip, starts.back() + 1);
  // The same program one instruction at a time: every pair splits, every RIP is an
  // instruction start, and the end state, instruction count and cycles are the same.
  start(a);
  uint64_t base_insns = cpu_->instructions(), base_cycles = cpu_->cycles();
  for (uint64_t k = 0; k < n; ++k) {
    ASSERT_EQ(cpu_->step(1), 1u) << k;
    if (k + 1 < n) {
      ASSERT_TRUE(at_start(starts, st().rip)) << std::hex << st().rip;
    }
  }
  Snapshot stepped = snap();
  stepped.instructions -= base_insns;
  stepped.cycles -= base_cycles;
  EXPECT_EQ(stepped, straight);
}

TEST_F(FusedTest, InstructionLimitBetweenTheHalvesSplitsThePair) {
  std::vector<uint64_t> starts;
  Asm a = fused_loop(&starts);
  start(a);
  uint64_t total = run();
  uint64_t total_cycles = cpu_->cycles();
  // Every limit, including those that fall between a flag-setting instruction and its
  // Jcc, stops exactly there; continuing ends in the same state as one run.
  for (uint64_t k = 1; k < total; ++k) {
    start(a);
    Cpu* c = cpu_.get();
    uint64_t base = c->instructions(), base_cycles = c->cycles();
    c->set_instruction_limit(base + k);
    c->step(100000);
    ASSERT_EQ(c->instructions() - base, k);
    ASSERT_TRUE(at_start(starts, st().rip)) << "limit " << k << " rip " << std::hex << st().rip;
    c->set_instruction_limit(Cpu::kNoLimit);
    c->step(100000);
    ASSERT_EQ(c->instructions() - base, total) << "limit " << k;
    ASSERT_EQ(c->cycles() - base_cycles, total_cycles) << "limit " << k;
  }
}

TEST_F(FusedTest, TimeSlicesEndingBetweenTheHalvesSplitThePair) {
  std::vector<uint64_t> starts;
  Asm a = fused_loop(&starts);
  start(a);
  run();
  Snapshot straight = snap();
  // Time slices of one cycle: the cycle target falls after every instruction, also
  // between the halves of each pair.
  start(a);
  uint64_t base_insns = cpu_->instructions(), base_cycles = cpu_->cycles();
  while (cpu_->run_state() == RunState::kRunning) {
    cpu_->advance(cpu_->local_time() + 1);
    if (cpu_->run_state() == RunState::kRunning) {
      ASSERT_TRUE(at_start(starts, st().rip)) << std::hex << st().rip;
    }
  }
  Snapshot sliced = snap();
  sliced.instructions -= base_insns;
  // HLT ends the last slice by idling to its end: cycles agree up to that slice.
  EXPECT_LE(sliced.cycles - base_cycles - straight.cycles, 1u);
  sliced.cycles = straight.cycles;
  EXPECT_EQ(sliced, straight);
}

TEST_F(FusedTest, SingleStepTrapArrivesBetweenTheHalves) {
  // With TF set, the #DB trap after CMP is delivered with the Jcc's address.
  Asm a;
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EAX)});
  uint64_t jcc = L::kCode + a.size();
  a.raw({0x74, 0x00});  // je +0
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  load(L::kCode, a);
  st().rflags = 2 | kFlagTF;
  cpu_->state_changed();
  run();
  ASSERT_TRUE(in_handler(1));
  EXPECT_EQ(frame(0), jcc);
}

TEST_F(FusedTest, FaultInTheFirstHalfIsPreciseAndRunsNoJcc) {
  // cmp dword [rbx], 1 with rbx unmapped: #PF at the CMP; the Jcc never runs.
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(0x40000000)});  // beyond the mapped 16 MiB
  uint64_t cmp = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_CMP, {M(4, ZYDIS_REGISTER_RBX), I(1)});
  a.raw({0x75, 0x00});  // jne +0
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(1), cmp);  // error code, then RIP
  EXPECT_EQ(st().cr2, 0x40000000u);
  EXPECT_EQ(cpu_->instructions(), 2u);  // mov, then the handler's hlt
}

TEST_F(FusedTest, NonCanonicalJccTargetFaultsAtTheJccAfterTheFirstHalf) {
  // Code in the last page of the lower canonical half: "cmp eax, eax; je +0x1000" jumps
  // to a non-canonical address, a #GP(0) at the Jcc after the CMP retired.
  constexpr uint64_t kTop = 0x00007FFFFFFFF000ull, kPdpt = 0x400000, kPd = 0x401000, kPt = 0x402000,
                     kPage = 0x403000;
  enter_long_mode();
  put64(L::kPml4 + 255 * 8, kPdpt | 7);
  put64(kPdpt + 511 * 8, kPd | 7);
  put64(kPd + 511 * 8, kPt | 7);
  put64(kPt + 511 * 8, kPage | 7);
  Asm a;
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EAX)});
  uint64_t jcc = kTop + 0x800 + a.size();
  a.raw({0x0F, 0x84, 0x00, 0x10, 0x00, 0x00});  // je +0x1000
  a(ZYDIS_MNEMONIC_HLT);
  load(kPage + 0x800, a);
  st().rip = kTop + 0x800;
  cpu_->state_changed();
  run();
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(0), 0u);  // error code
  EXPECT_EQ(frame(1), jcc);
  // CMP retired (1), then the handler's HLT (1); the Jcc did not.
  EXPECT_EQ(cpu_->instructions(), 2u);
}

}  // namespace
}  // namespace hvsim::cpu::testing
