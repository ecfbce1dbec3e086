// Unit tests of segment state around privilege returns and SS loads in 64-bit mode: IRET
// to ring 3 nulls DPL-0 data segments but keeps their hidden base (SDM Vol. 2 IRET
// pseudo-code: only the selector becomes 0); a MOV SS that faults sets no interrupt shadow
// (SDM Vol. 3A 6.8.3: the blocking follows a completed MOV SS).
#include "cpu/spec/descriptors.h"
#include "cpu/spec/exceptions.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class SegmentsReturnTest : public CpuFixture {
 protected:
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
  /// Emits: mov ecx, msr ; mov eax, lo ; mov edx, hi ; wrmsr
  static void wrmsr(Asm& a, uint32_t msr, uint64_t v) {
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(static_cast<int32_t>(msr))});
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(static_cast<int32_t>(v))});
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EDX), I(static_cast<int32_t>(v >> 32))});
    a(ZYDIS_MNEMONIC_WRMSR);
  }
};

TEST_F(SegmentsReturnTest, IretToRing3NullsFsButKeepsItsBase) {
  const uint64_t fs_base = 0x123000, gs_base = 0x456000;
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AX), I(L::kData0)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_FS), R(ZYDIS_REGISTER_AX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_GS), R(ZYDIS_REGISTER_AX)});
  wrmsr(a, 0xC0000100, fs_base);  // IA32_FS_BASE
  wrmsr(a, 0xC0000101, gs_base);  // IA32_GS_BASE
  a(ZYDIS_MNEMONIC_PUSH, {I(L::kUserData)});
  a(ZYDIS_MNEMONIC_PUSH, {I(L::kStackTop - 0x1000)});
  a(ZYDIS_MNEMONIC_PUSH, {I(2)});
  a(ZYDIS_MNEMONIC_PUSH, {I(L::kUserCode64)});
  a(ZYDIS_MNEMONIC_PUSH, {I(L::kUserCode)});
  a(ZYDIS_MNEMONIC_IRETQ);
  Asm u;
  u(ZYDIS_MNEMONIC_HLT);  // privileged at CPL 3: #GP(0)
  enter_long_mode();
  load(L::kCode, a);
  load(L::kUserCode, u);
  run();
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(1), L::kUserCode);
  EXPECT_EQ(st().seg[kFs].selector, 0u);
  EXPECT_TRUE(st().seg[kFs].attr & spec::kAttrUnusable);
  EXPECT_EQ(st().seg[kFs].base, fs_base);
  EXPECT_EQ(st().seg[kGs].selector, 0u);
  EXPECT_EQ(st().seg[kGs].base, gs_base);
}

TEST_F(SegmentsReturnTest, FaultingMovSsSetsNoInterruptShadow) {
  // x2APIC self-IPI (vector 0x40) pending while IF = 0; STI; a MOV SS that faults (#GP
  // through a trap gate, so IF stays 1). The interrupt must arrive before the #GP
  // handler's first instruction, not after it.
  Asm a;
  wrmsr(a, 0x1B, 0xFEE00000 | (1u << 11) | (1u << 10) | (1u << 8));  // APIC base: EN, EXTD
  wrmsr(a, 0x80F, 0x1FF);                                            // SVR: enabled
  wrmsr(a, 0x83F, 0x40);                                             // SELF IPI
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AX), I(L::kUserCode64)});  // code: not for SS
  a(ZYDIS_MNEMONIC_STI);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_SS), R(ZYDIS_REGISTER_AX)});
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  uint64_t gp_gate = L::kIdt + 13 * 16;
  put64(gp_gate, (get64(gp_gate) & ~(0xFFull << 40)) | (0x8Full << 40));  // trap gate
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(0x40));
  EXPECT_EQ(frame(0), L::kHandlers + 13 * 16);  // the #GP handler had not started
}

}  // namespace
}  // namespace hvsim::cpu::testing
