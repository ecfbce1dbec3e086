// Unit tests of the x87, MMX, SSE-SSE4.2, XSAVE and BMI instructions: known results,
// MXCSR/FSW flags, #UD/#NM/#XM/#MF/#GP rules, FXSAVE/XSAVE layouts and save/restore
// (Intel SDM Vol. 1 ch. 8-13; Vol. 2 instruction pages).
#include <sys/mman.h>

#include <cmath>

#include "core/hash.h"
#include "core/rng.h"
#include "core/state.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class SimdTest : public CpuFixture {
 protected:
  /// Long mode with SSE enabled (CR4.OSFXSR/OSXMMEXCPT/OSXSAVE, CR0.MP/NE, EM clear) and a
  /// freshly initialised x87 (FNINIT state).
  void setup(uint64_t cr4_extra = kCr4OSFXSR | kCr4OSXMMEXCPT | kCr4OSXSAVE) {
    enter_long_mode();
    st().cr4 |= cr4_extra;
    st().cr0 |= kCr0MP | kCr0NE;
    st().fpu = FpuState{};
    st().fpu.fcw = 0x037F;
    st().fpu.ftw = 0;
    st().gpr[kRbx] = L::kData;
    cpu_->state_changed();
    cpu_->set_run_state(RunState::kRunning);
  }
  void go(Asm& a) {
    a(ZYDIS_MNEMONIC_HLT);
    load(L::kCode, a);
    run();
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  bool finished(const Asm& a) { return st().rip == L::kCode + a.size(); }
  void put_xmm(unsigned r, uint64_t lo, uint64_t hi) { st().fpu.xmm[r] = Xmm{lo, hi}; }
  ZydisEncoderOperand X(unsigned r) {
    return R(static_cast<ZydisRegister>(ZYDIS_REGISTER_XMM0 + r));
  }
  ZydisEncoderOperand D(unsigned size, int64_t disp = 0) {
    return M(size, ZYDIS_REGISTER_RBX, disp);
  }
  double get_double(uint64_t pa) {
    double d;
    uint64_t v = get64(pa);
    std::memcpy(&d, &v, 8);
    return d;
  }
  void put_double(uint64_t pa, double d) {
    uint64_t v;
    std::memcpy(&v, &d, 8);
    put64(pa, v);
  }
};

TEST_F(SimdTest, Sse2IntegerArithmeticAndShuffles) {
  setup();
  for (int k = 0; k < 4; ++k) mem_.store<uint32_t>(L::kData + 4 * k, 10 * (k + 1));
  Asm a;
  a(ZYDIS_MNEMONIC_MOVDQA, {X(0), D(16)});
  a(ZYDIS_MNEMONIC_PADDD, {X(0), X(0)});
  a(ZYDIS_MNEMONIC_PSHUFD, {X(1), X(0), I(0x1B)});
  a(ZYDIS_MNEMONIC_MOVDQU, {D(16, 0x21), X(1)});
  a(ZYDIS_MNEMONIC_PMOVMSKB, {R(ZYDIS_REGISTER_EAX), X(2)});
  setup();
  put_xmm(2, 0x8000000000000080ull, 0x80);
  go(a);
  ASSERT_TRUE(finished(a));
  for (int k = 0; k < 4; ++k)
    EXPECT_EQ(mem_.load<uint32_t>(L::kData + 0x21 + 4 * k), 20u * (4 - k));
  EXPECT_EQ(st().gpr[kRax], 0x0181u);
}

TEST_F(SimdTest, MisalignedMovdqaIsGp) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_MOVDQA, {X(0), D(16, 8)});
  go(a);
  EXPECT_TRUE(in_handler(13));
}

TEST_F(SimdTest, SseWithoutOsfxsrIsUdAndWithTsIsNm) {
  setup(0);
  Asm a;
  a(ZYDIS_MNEMONIC_PXOR, {X(0), X(0)});
  go(a);
  EXPECT_TRUE(in_handler(6));
  setup();
  st().cr0 |= kCr0TS;
  cpu_->state_changed();
  run();
  Asm b;
  b(ZYDIS_MNEMONIC_PXOR, {X(0), X(0)});
  load(L::kCode, b);
  st().rip = L::kCode;
  cpu_->set_run_state(RunState::kRunning);
  run();
  EXPECT_TRUE(in_handler(7));
}

TEST_F(SimdTest, FloatDivideByZeroSetsFlagOrRaisesXm) {
  setup();
  put_xmm(0, 0x3F800000, 0);  // 1.0f
  put_xmm(1, 0, 0);
  Asm a;
  a(ZYDIS_MNEMONIC_DIVSS, {X(0), X(1)});
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(st().fpu.xmm[0].lo & 0xFFFFFFFF, 0x7F800000u);  // +inf
  EXPECT_EQ(st().fpu.mxcsr, kMxcsrDefault | 4u);            // ZE
  // Unmasked ZE: #XM with OSXMMEXCPT, the destination unchanged.
  setup();
  st().fpu.mxcsr = kMxcsrDefault & ~(1u << 9);
  put_xmm(0, 0x3F800000, 0);
  put_xmm(1, 0, 0);
  load(L::kCode, a);
  cpu_->set_run_state(RunState::kRunning);
  run();
  EXPECT_TRUE(in_handler(19));
  EXPECT_EQ(st().fpu.xmm[0].lo, 0x3F800000u);
  // Without OSXMMEXCPT the same exception is #UD.
  setup(kCr4OSFXSR);
  st().fpu.mxcsr = kMxcsrDefault & ~(1u << 9);
  put_xmm(0, 0x3F800000, 0);
  run();
  EXPECT_TRUE(in_handler(6));
}

TEST_F(SimdTest, ConversionsFollowMxcsrRounding) {
  setup();
  put_double(L::kData, 2.5);
  Asm a;
  a(ZYDIS_MNEMONIC_CVTSD2SI, {R(ZYDIS_REGISTER_RAX), D(8)});
  a(ZYDIS_MNEMONIC_CVTTSD2SI, {R(ZYDIS_REGISTER_RCX), D(8)});
  a(ZYDIS_MNEMONIC_LDMXCSR, {D(4, 8)});
  a(ZYDIS_MNEMONIC_CVTSD2SI, {R(ZYDIS_REGISTER_RDX), D(8)});
  mem_.store<uint32_t>(L::kData + 8, kMxcsrDefault | (2u << 13));  // round up
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(st().gpr[kRax], 2u);  // nearest even
  EXPECT_EQ(st().gpr[kRcx], 2u);
  EXPECT_EQ(st().gpr[kRdx], 3u);
  EXPECT_TRUE(st().fpu.mxcsr & 0x20);  // PE
}

TEST_F(SimdTest, LdmxcsrReservedBitIsGp) {
  setup();
  mem_.store<uint32_t>(L::kData, 0x10000);
  Asm a;
  a(ZYDIS_MNEMONIC_LDMXCSR, {D(4)});
  go(a);
  EXPECT_TRUE(in_handler(13));
}

TEST_F(SimdTest, X87ArithmeticAndStores) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_FLD1);
  a(ZYDIS_MNEMONIC_FLDPI);
  a(ZYDIS_MNEMONIC_FADDP, {R(ZYDIS_REGISTER_ST1), R(ZYDIS_REGISTER_ST0)});
  a(ZYDIS_MNEMONIC_FSTP, {D(8)});
  a(ZYDIS_MNEMONIC_FILD, {D(4, 16)});
  a(ZYDIS_MNEMONIC_FSQRT);
  a(ZYDIS_MNEMONIC_FISTP, {D(4, 24)});
  a(ZYDIS_MNEMONIC_FLD, {D(8, 32)});
  a(ZYDIS_MNEMONIC_FLDZ);
  a(ZYDIS_MNEMONIC_FCOMIP, {R(ZYDIS_REGISTER_ST0), R(ZYDIS_REGISTER_ST1)});
  a(ZYDIS_MNEMONIC_FSTP, {R(ZYDIS_REGISTER_ST0)});
  a(ZYDIS_MNEMONIC_FNSTSW, {R(ZYDIS_REGISTER_AX)});
  mem_.store<uint32_t>(L::kData + 16, 144);
  put_double(L::kData + 32, -3.0);
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(get_double(L::kData), 1.0 + M_PI);
  EXPECT_EQ(mem_.load<uint32_t>(L::kData + 24), 12u);
  // 0 > -3: ZF = PF = CF = 0.
  EXPECT_EQ(st().rflags & (kFlagZF | kFlagPF | kFlagCF), 0u);
  EXPECT_EQ((st().fpu.fsw >> 11) & 7, 0u);  // stack empty again
  EXPECT_EQ(st().fpu.ftw, 0u);
  EXPECT_EQ(st().gpr[kRax] & 0xFFFF, st().fpu.fsw);
}

TEST_F(SimdTest, X87StackUnderflowGivesIndefiniteAndUnmaskedRaisesMf) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_FADD, {R(ZYDIS_REGISTER_ST0), R(ZYDIS_REGISTER_ST1)});
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(st().fpu.fsw & 0x41, 0x41);  // IE + SF
  EXPECT_EQ(st().fpu.st[0].se, 0xFFFF);
  EXPECT_EQ(st().fpu.st[0].mant, 0xC000000000000000ull);
  // Unmasked IE: ES is set and the next waiting instruction takes #MF.
  setup();
  st().fpu.fcw = 0x037E;
  Asm b;
  b(ZYDIS_MNEMONIC_FADD, {R(ZYDIS_REGISTER_ST0), R(ZYDIS_REGISTER_ST1)});
  b(ZYDIS_MNEMONIC_FWAIT);
  go(b);
  EXPECT_TRUE(in_handler(16)) << std::hex << st().rip << " fsw " << st().fpu.fsw;
  EXPECT_TRUE(st().fpu.fsw & 0x80);
}

TEST_F(SimdTest, X87WithEmOrTsIsNm) {
  setup();
  st().cr0 |= kCr0EM;
  Asm a;
  a(ZYDIS_MNEMONIC_FLD1);
  go(a);
  EXPECT_TRUE(in_handler(7));
}

TEST_F(SimdTest, FxsaveLayoutAndFxrstorRoundTrip) {
  setup();
  put_xmm(0, 0x1111111122222222ull, 0x3333333344444444ull);
  put_xmm(15, 0x5555, 0x6666);
  Asm a;
  a(ZYDIS_MNEMONIC_FLD1);
  a(ZYDIS_MNEMONIC_FXSAVE64, {D(512)});
  a(ZYDIS_MNEMONIC_PXOR, {X(0), X(0)});
  a(ZYDIS_MNEMONIC_FNINIT);
  a(ZYDIS_MNEMONIC_FXRSTOR64, {D(512)});
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(mem_.load<uint16_t>(L::kData), 0x037F);        // FCW
  EXPECT_EQ(mem_.load<uint16_t>(L::kData + 2), 7u << 11);  // FSW: TOP = 7
  EXPECT_EQ(mem_.load<uint8_t>(L::kData + 4), 0x80);       // abridged tag: R7 valid
  EXPECT_EQ(mem_.load<uint32_t>(L::kData + 24), kMxcsrDefault);
  EXPECT_EQ(mem_.load<uint32_t>(L::kData + 28), kMxcsrMask);
  EXPECT_EQ(get64(L::kData + 32), 0x8000000000000000ull);  // ST0 = 1.0
  EXPECT_EQ(mem_.load<uint16_t>(L::kData + 40), 0x3FFF);
  EXPECT_EQ(get64(L::kData + 160), 0x1111111122222222ull);
  EXPECT_EQ(get64(L::kData + 160 + 15 * 16 + 8), 0x6666u);
  EXPECT_EQ(st().fpu.xmm[0].hi, 0x3333333344444444ull);
  EXPECT_EQ(st().fpu.ftw, 0x80);
}

TEST_F(SimdTest, FxsaveMisalignedIsGp) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_FXSAVE, {D(512, 8)});
  go(a);
  EXPECT_TRUE(in_handler(13));
}

TEST_F(SimdTest, XsaveXrstorAndXsetbv) {
  setup();
  put_xmm(3, 0xABCD, 0xEF01);
  Asm a;
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(3)});
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDX), R(ZYDIS_REGISTER_EDX)});
  a(ZYDIS_MNEMONIC_XSETBV);
  a(ZYDIS_MNEMONIC_XSAVE64, {D(576)});
  a(ZYDIS_MNEMONIC_PXOR, {X(3), X(3)});
  a(ZYDIS_MNEMONIC_XRSTOR64, {D(576)});
  a(ZYDIS_MNEMONIC_XGETBV);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(5)});  // AVX without SSE: #GP
  a(ZYDIS_MNEMONIC_XSETBV);
  go(a);
  EXPECT_TRUE(in_handler(13));
  EXPECT_EQ(st().fpu.xcr0, 3u);
  EXPECT_EQ(get64(L::kData + 512), 3u);  // XSTATE_BV
  EXPECT_EQ(get64(L::kData + 160 + 3 * 16), 0xABCDu);
  EXPECT_EQ(st().fpu.xmm[3].hi, 0xEF01u);
}

TEST_F(SimdTest, BmiPopcntLzcntCrc32) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), I(0xF0F0)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDX), I(0xFF00FF)});
  a(ZYDIS_MNEMONIC_ANDN, {R(ZYDIS_REGISTER_R8), R(ZYDIS_REGISTER_RCX), R(ZYDIS_REGISTER_RDX)});
  a(ZYDIS_MNEMONIC_PDEP, {R(ZYDIS_REGISTER_R9), R(ZYDIS_REGISTER_RCX), R(ZYDIS_REGISTER_RDX)});
  a(ZYDIS_MNEMONIC_PEXT, {R(ZYDIS_REGISTER_R10), R(ZYDIS_REGISTER_RDX), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_POPCNT, {R(ZYDIS_REGISTER_R11), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_LZCNT, {R(ZYDIS_REGISTER_R12), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_TZCNT, {R(ZYDIS_REGISTER_R13), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(-1)});
  for (int k = 0; k < 9; ++k) a(ZYDIS_MNEMONIC_CRC32, {R(ZYDIS_REGISTER_EAX), D(1, k)});
  a(ZYDIS_MNEMONIC_NOT, {R(ZYDIS_REGISTER_EAX)});
  mem_.write(L::kData, "123456789", 9);
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(st().gpr[kR8], 0xFF000Full);
  EXPECT_EQ(st().gpr[kR9], 0xF000F0ull);  // source bytes 0, 1 into mask bytes 0, 2
  EXPECT_EQ(st().gpr[kR10], 0x0Full);     // source bits 4-7 and 12-15
  EXPECT_EQ(st().gpr[kR11], 8u);
  EXPECT_EQ(st().gpr[kR12], 48u);
  EXPECT_EQ(st().gpr[kR13], 4u);
  EXPECT_EQ(st().gpr[kRax], 0xE3069283u);  // CRC-32C check value
}

TEST_F(SimdTest, Pcmpistri) {
  setup();
  mem_.write(L::kData, "hello world\0\0\0\0\0", 16);
  mem_.write(L::kData + 16, "wo\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  Asm a;
  a(ZYDIS_MNEMONIC_MOVDQU, {X(1), D(16, 16)});
  a(ZYDIS_MNEMONIC_PCMPISTRI, {X(1), D(16), I(0x0C)});  // equal ordered, unsigned bytes
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(st().gpr[kRcx], 6u);
  EXPECT_TRUE(st().rflags & kFlagCF);
  EXPECT_TRUE(st().rflags & kFlagZF);
  EXPECT_TRUE(st().rflags & kFlagSF);
}

TEST_F(SimdTest, CpuidAdvertisesExactlyTheImplementedSet) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(1)});
  a(ZYDIS_MNEMONIC_CPUID);
  go(a);
  uint32_t ecx = static_cast<uint32_t>(st().gpr[kRcx]), edx = static_cast<uint32_t>(st().gpr[kRdx]);
  EXPECT_TRUE(edx & (1u << 25));   // SSE
  EXPECT_TRUE(edx & (1u << 26));   // SSE2
  EXPECT_TRUE(ecx & (1u << 20));   // SSE4.2
  EXPECT_TRUE(ecx & (1u << 27));   // OSXSAVE follows CR4
  EXPECT_FALSE(ecx & (1u << 28));  // no AVX
  EXPECT_FALSE(ecx & (1u << 30));  // no RDRAND
}

TEST_F(SimdTest, FpuStateIsSavedRestoredAndHashed) {
  setup();
  put_xmm(7, 42, 43);
  st().fpu.mxcsr = 0x1F80 | (1u << 13);
  Hasher h1;
  cpu_->hash_into(h1);
  StateWriter w;
  cpu_->save(w);
  StateReader r(w.finish(), "test");
  st().fpu.xmm[7] = Xmm{};
  Hasher h2;
  cpu_->hash_into(h2);
  EXPECT_NE(h1.digest(), h2.digest());
  cpu_->restore(r);
  EXPECT_EQ(st().fpu.xmm[7].hi, 43u);
  EXPECT_EQ(st().fpu.mxcsr, 0x1F80u | (1u << 13));
  Hasher h3;
  cpu_->hash_into(h3);
  EXPECT_EQ(h1.digest(), h3.digest());
}

TEST_F(SimdTest, MmxArithmeticAliasesX87RegistersAndEmmsEmptiesTags) {
  setup();
  Asm a;
  a(ZYDIS_MNEMONIC_MOVQ, {R(ZYDIS_REGISTER_MM1), D(8)});
  a(ZYDIS_MNEMONIC_MOVQ, {R(ZYDIS_REGISTER_MM2), D(8, 8)});
  a(ZYDIS_MNEMONIC_PADDUSB, {R(ZYDIS_REGISTER_MM1), R(ZYDIS_REGISTER_MM2)});
  a(ZYDIS_MNEMONIC_PMADDWD, {R(ZYDIS_REGISTER_MM2), D(8)});
  a(ZYDIS_MNEMONIC_MOVQ, {D(8, 16), R(ZYDIS_REGISTER_MM1)});
  a(ZYDIS_MNEMONIC_MOVD, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_MM2)});
  put64(L::kData, 0x00FF7F0102030405ull);
  put64(L::kData + 8, 0x0101010101010101ull);
  go(a);
  ASSERT_TRUE(finished(a));
  EXPECT_EQ(get64(L::kData + 16), 0x01FF800203040506ull);  // unsigned saturation
  // MM1 is the significand of physical register 1; its exponent field is all ones.
  EXPECT_EQ(st().fpu.st[1].mant, 0x01FF800203040506ull);
  EXPECT_EQ(st().fpu.st[1].se, 0xFFFF);
  EXPECT_EQ(st().fpu.ftw, 0xFF);            // MMX marks every register valid
  EXPECT_EQ((st().fpu.fsw >> 11) & 7, 0u);  // and TOP = 0
  // 0x0203 * 0x0101 + 0x0405 * 0x0101 in the low doubleword.
  EXPECT_EQ(st().gpr[kRax], 0x0203u * 0x0101u + 0x0405u * 0x0101u);
  Asm b;
  b(ZYDIS_MNEMONIC_EMMS);
  load(L::kCode + a.size(), b);
  st().rip = L::kCode + a.size();
  b(ZYDIS_MNEMONIC_HLT);
  load(L::kCode + a.size(), b);
  cpu_->set_run_state(RunState::kRunning);
  run();
  EXPECT_EQ(st().fpu.ftw, 0u);
}

// ---- the host processor as oracle ----
// Instructions where Unicorn 2.0.1 (QEMU 5) is known to be wrong (see the header of
// cpu_unicorn_sse_test.cpp) are compared with the host processor instead: the same
// instruction bytes run natively in an executable page, with the same register inputs.

/// Registers exchanged with the native run.
struct HostRegs {
  uint64_t rax, rcx, rdx, rflags;
  Xmm xmm[3];
};

/// Runs one register-only instruction natively: loads RAX, RCX, RDX, XMM0-2 from a
/// HostRegs, executes, stores them and RFLAGS back.
class HostRunner {
 public:
  HostRunner() {
    page_ =
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  ~HostRunner() {
    if (page_ != MAP_FAILED) munmap(page_, 4096);
  }
  bool ok() const { return page_ != MAP_FAILED; }
  void run(const std::vector<uint8_t>& insn, HostRegs* r) {
    Asm a;
    auto rdi = [](int64_t d, unsigned size) { return M(size, ZYDIS_REGISTER_RDI, d); };
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), rdi(0, 8)});
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), rdi(8, 8)});
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDX), rdi(16, 8)});
    for (int k = 0; k < 3; ++k)
      a(ZYDIS_MNEMONIC_MOVDQU,
        {R(static_cast<ZydisRegister>(ZYDIS_REGISTER_XMM0 + k)), rdi(32 + 16 * k, 16)});
    for (uint8_t b : insn) a.raw({b});
    a(ZYDIS_MNEMONIC_MOV, {rdi(0, 8), R(ZYDIS_REGISTER_RAX)});
    a(ZYDIS_MNEMONIC_MOV, {rdi(8, 8), R(ZYDIS_REGISTER_RCX)});
    a(ZYDIS_MNEMONIC_MOV, {rdi(16, 8), R(ZYDIS_REGISTER_RDX)});
    for (int k = 0; k < 3; ++k)
      a(ZYDIS_MNEMONIC_MOVDQU,
        {rdi(32 + 16 * k, 16), R(static_cast<ZydisRegister>(ZYDIS_REGISTER_XMM0 + k))});
    a(ZYDIS_MNEMONIC_PUSHFQ);
    a(ZYDIS_MNEMONIC_POP, {R(ZYDIS_REGISTER_RAX)});
    a(ZYDIS_MNEMONIC_MOV, {rdi(24, 8), R(ZYDIS_REGISTER_RAX)});
    a(ZYDIS_MNEMONIC_RET);
    std::memcpy(page_, a.bytes().data(), a.size());
    reinterpret_cast<void (*)(HostRegs*)>(page_)(r);
  }

 private:
  void* page_;
};

class HostOracleTest : public SimdTest {
 protected:
  /// Runs `insn` on hvsim and natively from the same inputs; compares RAX, RCX, RDX,
  /// XMM0-2 and the arithmetic flags.
  void compare(const std::vector<uint8_t>& insn, const HostRegs& in, const char* what,
               bool flags = true) {
    HostRegs host = in;
    runner_.run(insn, &host);
    setup();
    st().gpr[kRax] = in.rax;
    st().gpr[kRcx] = in.rcx;
    st().gpr[kRdx] = in.rdx;
    for (int k = 0; k < 3; ++k) st().fpu.xmm[k] = in.xmm[k];
    Asm a;
    for (uint8_t b : insn) a.raw({b});
    go(a);
    ASSERT_TRUE(finished(a)) << what;
    EXPECT_EQ(st().gpr[kRcx], host.rcx) << what;
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(st().fpu.xmm[k].lo, host.xmm[k].lo) << what << " xmm" << k;
      EXPECT_EQ(st().fpu.xmm[k].hi, host.xmm[k].hi) << what << " xmm" << k;
    }
    if (flags) {
      EXPECT_EQ(st().rflags & 0x8D5, host.rflags & 0x8D5) << what;
    }
  }
  HostRunner runner_;
};

TEST_F(HostOracleTest, StringComparesMatchHostProcessor) {
  if (!runner_.ok() || !__builtin_cpu_supports("sse4.2")) GTEST_SKIP() << "host without SSE4.2";
  Rng rng(99);
  // 66 0F 3A 60..63 /r ib: PCMPESTRM, PCMPESTRI, PCMPISTRM, PCMPISTRI xmm1, xmm2, imm8.
  for (unsigned op = 0x60; op <= 0x63; ++op) {
    for (unsigned imm = 0; imm < 256; ++imm) {
      for (int round = 0; round < 6; ++round) {
        HostRegs in{};
        uint8_t b[32];
        for (auto& x : b)
          x = static_cast<uint8_t>(rng.next() % 4 ? 'a' + rng.next() % 4 : rng.next());
        if (round & 1) b[rng.next() % 16] = 0;
        if (round & 2) b[16 + rng.next() % 16] = 0;
        if (round == 4) std::memcpy(b + 16 + 5, b, 4);   // a needle inside the haystack
        if (round == 5) std::memcpy(b + 16 + 14, b, 2);  // a needle prefix at the end
        std::memcpy(&in.xmm[1], b, 16);
        std::memcpy(&in.xmm[2], b + 16, 16);
        in.rax = rng.next() % 40 - 20;
        in.rdx = rng.next() % 40 - 20;
        std::vector<uint8_t> insn = {0x66, 0x0F,
                                     0x3A, static_cast<uint8_t>(op),
                                     0xCA, static_cast<uint8_t>(imm)};  // xmm1, xmm2
        char what[64];
        std::snprintf(what, sizeof what, "opcode %02x imm8 %02x round %d", op, imm, round);
        compare(insn, in, what);
        if (HasFailure()) return;
      }
    }
  }
}

TEST_F(HostOracleTest, DotProductsMatchHostProcessor) {
  if (!runner_.ok() || !__builtin_cpu_supports("sse4.1")) GTEST_SKIP() << "host without SSE4.1";
  Rng rng(7);
  static const uint32_t kF[] = {0,          0x80000000, 0x3F800000, 0xBF800000, 0x7F7FFFFF,
                                0x00000001, 0x7F800000, 0x7FC00000, 0x7FA00000, 0x3EAAAAAB};
  for (unsigned op : {0x40u, 0x41u}) {  // 66 0F 3A 40 DPPS, 41 DPPD
    for (unsigned imm = 0; imm < 256; ++imm) {
      for (int round = 0; round < 8; ++round) {
        HostRegs in{};
        for (int k = 1; k < 3; ++k) {
          uint32_t v[4];
          for (auto& x : v)
            x = rng.next() % 3 ? kF[rng.next() % 10] : static_cast<uint32_t>(rng.next());
          if (op == 0x41 && round & 1) {
            in.xmm[k].lo = rng.next();
            in.xmm[k].hi = rng.next() % 2 ? 0x8000000000000000ull : 0x3FF0000000000000ull;
          } else {
            std::memcpy(&in.xmm[k], v, 16);
          }
        }
        std::vector<uint8_t> insn = {
            0x66, 0x0F, 0x3A, static_cast<uint8_t>(op), 0xCA, static_cast<uint8_t>(imm)};
        char what[64];
        std::snprintf(what, sizeof what, "opcode %02x imm8 %02x round %d", op, imm, round);
        compare(insn, in, what, false);
        if (HasFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace hvsim::cpu::testing
