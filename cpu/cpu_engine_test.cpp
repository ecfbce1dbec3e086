// Unit tests of the block engine and its exactness guarantees: self-modifying code inside
// the running block, blocks at page ends, instruction limits and stop requests landing
// mid-block, lazy flags at exception delivery, bulk REP MOVS/STOS (overlap semantics,
// faults midway, chunking) and the timing table (Intel SDM Vol. 3A 11.6; Vol. 2 MOVS).
#include <vector>

#include "core/inspect.h"
#include "core/rng.h"
#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class EngineTest : public CpuFixture {
 protected:
  void go(Asm& a, uint64_t at = L::kCode) {
    a(ZYDIS_MNEMONIC_HLT);
    enter_long_mode();
    load(at, a);
    st().rip = at;
    run();
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
  std::string inspect_json() {
    InspectNode n;
    cpu_->inspect(n);
    return n.to_json();
  }
};

TEST_F(EngineTest, StoreIntoTheRunningBlockTakesEffectAtTheNextInstruction) {
  // mov byte [rip+1], 0x42 ; mov al, 0x11 (its immediate is patched) ; mov bl, 0x22 ; hlt
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {M(1, ZYDIS_REGISTER_RIP, 1), I(0x42)});
  a.raw({0xB0, 0x11});
  a.raw({0xB3, 0x22});
  go(a);
  EXPECT_EQ(st().gpr[kRax] & 0xFF, 0x42u);
  EXPECT_EQ(st().gpr[kRbx] & 0xFF, 0x22u);
  EXPECT_EQ(cpu_->instructions(), 4u);
  EXPECT_NE(inspect_json().find("\"invalidations\": 1"), std::string::npos) << inspect_json();
}

TEST_F(EngineTest, StoreIntoALaterBlockOfTheSamePageInALoop) {
  // Two iterations of a loop whose second pass runs patched code after the store.
  Asm a;
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDX), R(ZYDIS_REGISTER_EDX)});
  size_t loop = a.size();
  a.raw({0x83, 0xC2, 0x01});  // add edx, 1   (the immediate becomes 5)
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_ECX)});
  // mov byte [rip + disp], 5 -> patches the add's immediate
  size_t here = a.size();
  int64_t disp = static_cast<int64_t>(loop + 2) - static_cast<int64_t>(here + 7);
  a(ZYDIS_MNEMONIC_MOV, {M(1, ZYDIS_REGISTER_RIP, disp), I(5)});
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_ECX), I(3)});
  int8_t back =
      static_cast<int8_t>(static_cast<int64_t>(loop) - static_cast<int64_t>(a.size() + 2));
  a.raw({0x75, static_cast<uint8_t>(back)});  // jne loop
  go(a);
  EXPECT_EQ(st().gpr[kRcx], 3u);
  EXPECT_EQ(st().gpr[kRdx], 1u + 5 + 5);
}

TEST_F(EngineTest, CodeAcrossAPageBoundaryAndAnInstructionStraddlingIt) {
  // Code in the 4 KiB-paged data area: a block ends at the page end; a 10-byte MOV
  // straddles the boundary and runs through the uncached path.
  uint64_t start = L::kData + 0x1000 - 12;
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(7)});                   // 5 bytes
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_ECX)});                         // 2 bytes -> 7 bytes used
  a(ZYDIS_MNEMONIC_NOP);                                                  // 1 byte  -> 8
  a(ZYDIS_MNEMONIC_NOP);                                                  // 9
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(0x1122334455667788)});  // 10: straddles
  a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_ECX)});
  go(a, start);
  EXPECT_EQ(st().gpr[kRax], 0x1122334455667788u + 8);
  EXPECT_EQ(st().gpr[kRcx], 9u);
  EXPECT_EQ(st().rip, start + a.size());
  EXPECT_NE(inspect_json().find("\"uncached\": 1"), std::string::npos) << inspect_json();
}

Asm straight_line(std::vector<uint64_t>* starts) {
  Asm a;
  for (int k = 0; k < 40; ++k) {
    starts->push_back(L::kCode + a.size());
    a(k % 3 ? ZYDIS_MNEMONIC_ADD : ZYDIS_MNEMONIC_XOR,
      {R(static_cast<ZydisRegister>(ZYDIS_REGISTER_RAX + k % 8)), I(k + 1)});
  }
  starts->push_back(L::kCode + a.size());
  return a;
}

TEST_F(EngineTest, InstructionLimitLandsExactlyInsideABlock) {
  std::vector<uint64_t> starts;
  Asm a = straight_line(&starts);
  a(ZYDIS_MNEMONIC_HLT);
  for (uint64_t k = 1; k < 40; k += 3) {
    enter_long_mode();
    load(L::kCode, a);
    cpu_->set_run_state(RunState::kRunning);
    uint64_t base = cpu_->instructions();
    cpu_->set_instruction_limit(base + k);
    cpu_->step(1000);
    EXPECT_EQ(cpu_->instructions() - base, k);
    EXPECT_EQ(st().rip, starts[k]) << "limit " << k;
    cpu_->set_instruction_limit(Cpu::kNoLimit);
    // Continuing from mid-block gives the same end state as running straight through.
    cpu_->step(1000);
    EXPECT_EQ(st().rip, starts.back() + 1);
  }
}

TEST_F(EngineTest, StepCountsMatchSingleSteppingEverywhere) {
  std::vector<uint64_t> starts;
  Asm a = straight_line(&starts);
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  load(L::kCode, a);
  for (size_t k = 1; k < starts.size(); ++k) {
    ASSERT_EQ(cpu_->step(1), 1u);
    ASSERT_EQ(st().rip, starts[k]);
  }
}

TEST_F(EngineTest, StopRequestDuringAnMmioStoreEndsTheBlockAfterIt) {
  struct Dev : MmioHandler {
    bool* stop;
    uint64_t mmio_read(uint64_t, unsigned) override { return 0; }
    void mmio_write(uint64_t, unsigned, uint64_t) override { *stop = true; }
  } dev;
  dev.stop = &stop_;
  mmio_.map(0x2000000, 0x1000, &dev, "stopper");
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(0x2000000)});
  a(ZYDIS_MNEMONIC_MOV, {M(4, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_EAX)});
  uint64_t after = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_ECX)});
  enter_long_mode();
  put64(L::kPd + 16 * 8, 0x2000000 | 0x83);
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  EXPECT_EQ(cpu_->step(100), 2u);
  EXPECT_EQ(st().rip, after);
  EXPECT_EQ(st().gpr[kRcx], 0u);
}

TEST_F(EngineTest, LazyFlagsAreMaterializedForExceptionDelivery) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(1)});
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_EAX), I(2)});  // flags of 1 - 2
  a(ZYDIS_MNEMONIC_UD2);
  go(a);
  ASSERT_TRUE(in_handler(6));
  uint64_t pushed = frame(2);
  constexpr uint64_t kArith = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;
  EXPECT_EQ(pushed & kArith, kFlagCF | kFlagPF | kFlagAF | kFlagSF);
}

TEST_F(EngineTest, LazyFlagsThroughIncDecAdcAndConditions) {
  // stc-free carry: sub produces CF=1, inc keeps it, adc consumes it, setb/setl read it.
  Asm a;
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_SUB, {R(ZYDIS_REGISTER_EAX), I(1)});  // CF=1
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_EBX)});        // CF kept
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(10)});
  a(ZYDIS_MNEMONIC_ADC, {R(ZYDIS_REGISTER_ECX), I(0)});  // 11
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_ECX), I(20)});
  a(ZYDIS_MNEMONIC_SETL, {R(ZYDIS_REGISTER_DL)});
  a(ZYDIS_MNEMONIC_SETB, {R(ZYDIS_REGISTER_DH)});
  a(ZYDIS_MNEMONIC_TEST, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_SETNLE, {R(ZYDIS_REGISTER_SIL)});
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_POP, {R(ZYDIS_REGISTER_R8)});
  go(a);
  EXPECT_EQ(st().gpr[kRcx], 11u);
  EXPECT_EQ(st().gpr[kRdx] & 0xFFFF, 0x0101u);
  EXPECT_EQ(st().gpr[kRsi] & 0xFF, 1u);
  EXPECT_EQ(st().gpr[kR8] & (kFlagCF | kFlagZF | kFlagSF | kFlagOF), 0u);
  EXPECT_EQ(st().gpr[kR8] & kFlagPF, 0u);  // 11 = 0b1011: three bits, odd
}

// ---- lazy flags across instruction boundaries ----

/// Random flag producers and consumers (conditions, ADC/SBB, CMOVcc, SETcc, Jcc, PUSHF,
/// LAHF) whose flags cross instruction boundaries. Run in one go (lazy flags stay pending
/// inside blocks) and single-stepped (RFLAGS materialized after every instruction, the
/// form the Unicorn differential test checks), the results must be identical, bit for bit.
Asm flag_program(uint64_t seed) {
  Rng rng(seed);
  auto r = [&](uint64_t n) { return rng.next() % n; };
  static const ZydisRegister kRegs8[] = {ZYDIS_REGISTER_AL, ZYDIS_REGISTER_BL,  ZYDIS_REGISTER_CL,
                                         ZYDIS_REGISTER_DL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_R8B};
  auto reg = [&](unsigned size) {
    unsigned k = static_cast<unsigned>(r(6));
    static const unsigned kIdx[] = {0, 3, 1, 2, 6, 8};
    switch (size) {
      case 1: return R(kRegs8[k]);
      case 2: return R(static_cast<ZydisRegister>(ZYDIS_REGISTER_AX + kIdx[k]));
      case 4: return R(static_cast<ZydisRegister>(ZYDIS_REGISTER_EAX + kIdx[k]));
      default: return R(static_cast<ZydisRegister>(ZYDIS_REGISTER_RAX + kIdx[k]));
    }
  };
  static const ZydisMnemonic kProducers[] = {
      ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_SUB, ZYDIS_MNEMONIC_ADC,
      ZYDIS_MNEMONIC_SBB, ZYDIS_MNEMONIC_AND, ZYDIS_MNEMONIC_OR,
      ZYDIS_MNEMONIC_XOR, ZYDIS_MNEMONIC_CMP, ZYDIS_MNEMONIC_TEST};
  static const ZydisMnemonic kShifts[] = {ZYDIS_MNEMONIC_SHL, ZYDIS_MNEMONIC_SHR,
                                          ZYDIS_MNEMONIC_SAR};
  Asm a;
  for (int k = 0; k < 3000; ++k) {
    unsigned size = 1u << r(4);
    switch (r(11)) {
      case 0:
      case 1:
      case 2:
        if (r(2))
          a(kProducers[r(9)], {reg(size), reg(size)});
        else
          a(kProducers[r(9)], {reg(size), I(static_cast<int8_t>(r(256)))});
        break;
      case 3: a(r(2) ? ZYDIS_MNEMONIC_INC : ZYDIS_MNEMONIC_DEC, {reg(size)}); break;
      case 4: a(kShifts[r(3)], {reg(size), I(static_cast<int64_t>(r(size * 8)))}); break;
      case 5:
        a.raw({0x0F, static_cast<uint8_t>(0x90 + r(16)), 0xC1});  // setcc cl
        a(ZYDIS_MNEMONIC_LEA,
          {R(ZYDIS_REGISTER_R14), M(8, ZYDIS_REGISTER_RCX, 0, ZYDIS_REGISTER_R14, 2)});
        break;
      case 6:
        a.raw({0x48, 0x0F, static_cast<uint8_t>(0x40 + r(16)), 0xD3});  // cmovcc rdx, rbx
        a(ZYDIS_MNEMONIC_LEA,
          {R(ZYDIS_REGISTER_R15), M(8, ZYDIS_REGISTER_RDX, 0, ZYDIS_REGISTER_R15, 2)});
        break;
      case 10:  // small values make equal operands (ZF, BE, LE) common
        a(ZYDIS_MNEMONIC_MOV, {reg(4), I(static_cast<int64_t>(r(3)))});
        break;
      case 7:
        a.raw({static_cast<uint8_t>(0x70 + r(16)), 3, 0x49, 0xFF, 0xC5});  // jcc +3; inc r13
        break;
      case 8:
        a(ZYDIS_MNEMONIC_PUSHFQ);
        a(ZYDIS_MNEMONIC_POP, {R(ZYDIS_REGISTER_R12)});
        a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_R14), R(ZYDIS_REGISTER_R12)});
        break;
      default:
        a(ZYDIS_MNEMONIC_LAHF);
        a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_R14), R(ZYDIS_REGISTER_RAX)});
        break;
    }
  }
  a(ZYDIS_MNEMONIC_HLT);
  return a;
}

TEST_F(EngineTest, LazyFlagsAcrossBoundariesMatchMaterializedFlags) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    Asm a = flag_program(seed);
    struct Other : CpuFixture {
      void TestBody() override {}
    } stepped, whole;
    for (CpuFixture* f : {static_cast<CpuFixture*>(&stepped), static_cast<CpuFixture*>(&whole)}) {
      f->enter_long_mode();
      f->load(L::kCode, a);
      Rng v(seed * 77);
      for (int k : {0, 1, 2, 3, 6, 8}) f->st().gpr[k] = v.next();
    }
    while (stepped.cpu_->run_state() == RunState::kRunning) stepped.cpu_->step(1);
    whole.run(1'000'000);
    ASSERT_EQ(whole.cpu_->run_state(), RunState::kHalted);
    EXPECT_EQ(whole.cpu_->instructions(), stepped.cpu_->instructions()) << seed;
    for (int k = 0; k < 16; ++k)
      EXPECT_EQ(whole.st().gpr[k], stepped.st().gpr[k]) << seed << " r" << k;
    EXPECT_EQ(whole.st().rflags, stepped.st().rflags) << seed;
    EXPECT_EQ(whole.st().rip, stepped.st().rip) << seed;
  }
}

// ---- REP MOVS / STOS ----

/// Byte-exact model of REP MOVS over a flat buffer (element by element, as the SDM says).
void model_movs(std::vector<uint8_t>& m, uint64_t base, uint64_t si, uint64_t di, uint64_t n,
                unsigned size, bool down) {
  for (uint64_t k = 0; k < n; ++k) {
    uint8_t tmp[8];
    std::memcpy(tmp, &m[si - base], size);
    std::memcpy(&m[di - base], tmp, size);
    si += down ? -static_cast<int64_t>(size) : size;
    di += down ? -static_cast<int64_t>(size) : size;
  }
}

struct RepCase {
  uint64_t si_off, di_off, count;
  unsigned size;
  bool down;
};

class RepTest : public EngineTest, public ::testing::WithParamInterface<RepCase> {};

TEST_P(RepTest, RepMovsMatchesTheElementByElementModel) {
  const RepCase& p = GetParam();
  constexpr uint64_t kBuf = L::kData, kLen = 0x6000;
  std::vector<uint8_t> data(kLen);
  for (uint64_t k = 0; k < kLen; ++k) data[k] = static_cast<uint8_t>(k * 7 + (k >> 8));
  Asm a;
  if (p.down) a(ZYDIS_MNEMONIC_STD);
  ZydisMnemonic m = p.size == 1   ? ZYDIS_MNEMONIC_MOVSB
                    : p.size == 2 ? ZYDIS_MNEMONIC_MOVSW
                    : p.size == 4 ? ZYDIS_MNEMONIC_MOVSD
                                  : ZYDIS_MNEMONIC_MOVSQ;
  a(m, {}, ZYDIS_ATTRIB_HAS_REP);
  a(ZYDIS_MNEMONIC_CLD);
  enter_long_mode();
  mem_.write(kBuf, data.data(), kLen);
  st().gpr[kRsi] = kBuf + p.si_off;
  st().gpr[kRdi] = kBuf + p.di_off;
  st().gpr[kRcx] = p.count;
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  std::vector<uint8_t> want = data;
  model_movs(want, kBuf, kBuf + p.si_off, kBuf + p.di_off, p.count, p.size, p.down);
  std::vector<uint8_t> got(kLen);
  mem_.read(kBuf, got.data(), kLen);
  EXPECT_EQ(got, want);
  int64_t delta = static_cast<int64_t>(p.count * p.size) * (p.down ? -1 : 1);
  EXPECT_EQ(st().gpr[kRcx], 0u);
  EXPECT_EQ(st().gpr[kRsi], kBuf + p.si_off + delta);
  EXPECT_EQ(st().gpr[kRdi], kBuf + p.di_off + delta);
  // Chunking: the REP instruction retires once per started 4096 iterations.
  uint64_t chunks = (p.count + 4095) / 4096;
  EXPECT_EQ(cpu_->instructions(), (p.down ? 1u : 0u) + chunks + 2);
}

INSTANTIATE_TEST_SUITE_P(
    Overlaps, RepTest,
    ::testing::Values(RepCase{0x100, 0x101, 300, 1, false},     // forward, replicating
                      RepCase{0xF80, 0xF83, 3000, 1, false},    // replicating across pages
                      RepCase{0x101, 0x100, 3000, 1, false},    // forward, dst below src
                      RepCase{0x900, 0x8FE, 500, 1, true},      // backward, replicating
                      RepCase{0x2900, 0x2A00, 2000, 1, true},   // backward, dst above src
                      RepCase{0x100, 0x103, 600, 8, false},     // qwords overlapping by 3
                      RepCase{0x1F00, 0x1EFD, 300, 4, true},    // dwords backward overlap
                      RepCase{0x0, 0x3000, 10000, 1, false},    // more than one chunk
                      RepCase{0x10, 0x2FF1, 1300, 2, false}));  // misaligned words, pages

TEST_F(EngineTest, RepStosFillsAcrossPages) {
  Asm a;
  a(ZYDIS_MNEMONIC_STOSD, {}, ZYDIS_ATTRIB_HAS_REP);
  enter_long_mode();
  st().gpr[kRdi] = L::kData + 0xFF0;
  st().gpr[kRcx] = 2000;
  st().gpr[kRax] = 0xA1B2C3D4;
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  for (uint64_t k = 0; k < 2000; ++k)
    ASSERT_EQ(mem_.load<uint32_t>(L::kData + 0xFF0 + 4 * k), 0xA1B2C3D4u) << k;
  EXPECT_EQ(mem_.load<uint32_t>(L::kData + 0xFF0 + 4 * 2000), 0u);
  EXPECT_EQ(st().gpr[kRdi], L::kData + 0xFF0 + 8000);
}

TEST_F(EngineTest, RepMovsFaultsAtTheFirstUnmappedByteWithExactRegisters) {
  for (unsigned size : {1u, 8u}) {
    Asm a;
    uint64_t rep_at = L::kCode + a.size();
    a(size == 1 ? ZYDIS_MNEMONIC_MOVSB : ZYDIS_MNEMONIC_MOVSQ, {}, ZYDIS_ATTRIB_HAS_REP);
    enter_long_mode();
    cpu_->set_run_state(RunState::kRunning);
    put64(pte_addr(L::kData + 0x5000), 0);  // the destination runs into this page
    st().gpr[kRsi] = L::kData;
    st().gpr[kRdi] = L::kData + 0x4F00;
    st().gpr[kRcx] = 0x200;
    a(ZYDIS_MNEMONIC_HLT);
    load(L::kCode, a);
    run();
    ASSERT_TRUE(in_handler(14)) << size;
    EXPECT_EQ(st().cr2, L::kData + 0x5000);
    EXPECT_EQ(frame(0), spec::kPfW);  // not present, write
    EXPECT_EQ(frame(1), rep_at);
    uint64_t done = 0x100 / size;
    EXPECT_EQ(st().gpr[kRcx], 0x200 - done);
    EXPECT_EQ(st().gpr[kRsi], L::kData + done * size);
    EXPECT_EQ(st().gpr[kRdi], L::kData + 0x4F00 + done * size);
  }
}

TEST_F(EngineTest, RepMovsFromAnUnmappedSourceFaultsOnTheRead) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOVSB, {}, ZYDIS_ATTRIB_HAS_REP);
  enter_long_mode();
  put64(pte_addr(L::kData + 0x3000), 0);
  st().gpr[kRsi] = L::kData + 0x2FF0;
  st().gpr[kRdi] = L::kData + 0x1000;
  st().gpr[kRcx] = 0x40;
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(st().cr2, L::kData + 0x3000);
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(st().gpr[kRcx], 0x30u);
}

// ---- timing ----

TEST_F(EngineTest, TimingTableOverrideChangesCyclesByExactlyTheDifference) {
  auto cycles_with = [&](const timing::Table& t) {
    struct Other : CpuFixture {
      void TestBody() override {}
    } f;
    f.cpu_->set_timing(t);
    Asm a;
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(7)});
    for (int k = 0; k < 10; ++k) {
      a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(100)});
      a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDX), R(ZYDIS_REGISTER_EDX)});
      a(ZYDIS_MNEMONIC_DIV, {R(ZYDIS_REGISTER_RCX)});
    }
    a(ZYDIS_MNEMONIC_HLT);
    f.enter_long_mode();
    f.load(L::kCode, a);
    f.run();
    return f.cpu_->cycles();
  };
  timing::Table base;
  timing::Table slow = base;
  timing::set(slow, "divide64", base.divide64 + 13);
  uint64_t c0 = cycles_with(base), c1 = cycles_with(slow);
  EXPECT_EQ(c1 - c0, 130u);
  EXPECT_EQ(cycles_with(slow), c1);  // deterministic
  EXPECT_THROW(timing::set(slow, "no_such_entry", 1), std::exception);
}

TEST_F(EngineTest, PageWalksAreCountedAndCharged) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData + 0x7000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  go(a);
  std::string j = inspect_json();
  // Code page (2 MiB: 3 references) and the data page (4 KiB: 4 references).
  EXPECT_NE(j.find("\"page_walks\": 2"), std::string::npos) << j;
  EXPECT_NE(j.find("\"walk_refs\": 7"), std::string::npos) << j;
  const timing::Table& t = cpu_->timing();
  uint64_t expect = 2 * t.tlb_miss + 7 * t.walk_reference + (t.alu) + (t.alu + t.memory) +
                    t.system;  // two MOVs and HLT
  EXPECT_EQ(cpu_->cycles(), expect);
}

}  // namespace
}  // namespace hvsim::cpu::testing
