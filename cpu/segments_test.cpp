// Unit tests of protected-mode segmentation checks in 32-bit code: expand-down limits,
// read-only and execute-only segments, null selectors, segment-load privilege and
// presence checks with their error codes, stack limits (Intel SDM Vol. 3A 3.4, 5.3-5.6).
#include "cpu/spec/exceptions.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

constexpr uint64_t kIdt32 = 0x12000;
constexpr uint64_t kGdt32 = 0x13000;
// Selectors of the 32-bit GDT below.
constexpr uint16_t kCode = 0x08, kData = 0x10, kExpandDown = 0x18, kReadOnly = 0x20,
                   kDpl3Data = 0x28, kNotPresent = 0x30, kExecOnly = 0x38, kSmallStack = 0x40;

class SegmentsTest : public CpuFixture {
 protected:
  /// Runs 32-bit code at kCode in protected mode (no paging) until HLT.
  void go(Asm& a) {
    a(ZYDIS_MNEMONIC_HLT);
    build_tables();
    put64(kGdt32 + 0x00, 0);
    put64(kGdt32 + kCode, 0x00CF9A000000FFFFull);
    put64(kGdt32 + kData, 0x00CF92000000FFFFull);
    put64(kGdt32 + kExpandDown, 0x0040960000000FFFull);  // expand-down, limit 0xFFF, B=1
    put64(kGdt32 + kReadOnly, 0x00CF90000000FFFFull);
    put64(kGdt32 + kDpl3Data, 0x00CFF2000000FFFFull);
    put64(kGdt32 + kNotPresent, 0x00CF12000000FFFFull);
    put64(kGdt32 + kExecOnly, 0x00CF98000000FFFFull);
    put64(kGdt32 + kSmallStack, 0x0040920000000FFFull);  // limit 0xFFF, B=1
    for (uint64_t v = 0; v < 32; ++v) {
      uint64_t off = L::kHandlers + v * 16;
      put64(kIdt32 + v * 8, (off & 0xFFFF) | (uint64_t{kCode} << 16) | (0x8Eull << 40) |
                                (((off >> 16) & 0xFFFF) << 48));
    }
    load(L::kCode, a);
    ArchState& s = st();
    s.cr0 = kCr0PE | kCr0ET;
    s.cr4 = 0;
    s.efer = 0;
    s.seg[kCs] = SegReg{kCode, 0, 0xFFFFFFFF, 0xC09B};
    for (int k : {kSs, kDs, kEs, kFs, kGs}) s.seg[k] = SegReg{kData, 0, 0xFFFFFFFF, 0xC093};
    s.gdtr = TableReg{kGdt32, 0x47};
    s.idtr = TableReg{kIdt32, 0xFF};
    s.rip = L::kCode;
    s.gpr[kRsp] = L::kStackTop;
    s.rflags = 2;
    cpu_->set_run_state(RunState::kRunning);
    cpu_->state_changed();
    run();
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint32_t frame(unsigned slot) { return mem_.load<uint32_t>(st().gpr[kRsp] + 4 * slot); }
  /// mov ax, sel ; mov seg, ax
  static void load_seg(Asm& a, ZydisRegister seg, uint16_t sel) {
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AX), I(sel)});
    a(ZYDIS_MNEMONIC_MOV, {R(seg), R(ZYDIS_REGISTER_AX)});
  }
};

TEST_F(SegmentsTest, ExpandDownLimitFaultsBelowTheLimit) {
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(a, ZYDIS_REGISTER_ES, kExpandDown);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, 0x2000)},
    ZYDIS_ATTRIB_HAS_SEGMENT_ES);  // valid: above the limit
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBX), I(0x800)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_EBX)},
    ZYDIS_ATTRIB_HAS_SEGMENT_ES);  // invalid: at or below the limit
  go(a);
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(frame(1), faulting);
}

TEST_F(SegmentsTest, WriteToReadOnlyAndReadOfExecuteOnly) {
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(a, ZYDIS_REGISTER_FS, kReadOnly);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, 0x2000)},
    ZYDIS_ATTRIB_HAS_SEGMENT_FS);
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {M(4, ZYDIS_REGISTER_NONE, 0x2000), R(ZYDIS_REGISTER_EAX)},
    ZYDIS_ATTRIB_HAS_SEGMENT_FS);
  go(a);
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(1), faulting);

  Asm b(ZYDIS_MACHINE_MODE_LEGACY_32);
  uint64_t load = L::kCode + 4;  // mov ax, imm16 (4 bytes) then mov ds, ax
  load_seg(b, ZYDIS_REGISTER_DS, kExecOnly);
  go(b);
  ASSERT_TRUE(in_handler(13));  // execute-only code cannot be loaded into DS
  EXPECT_EQ(frame(0), kExecOnly);
  EXPECT_EQ(frame(1), load);
}

TEST_F(SegmentsTest, NullSelectorLoadsButUseFaults) {
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(a, ZYDIS_REGISTER_DS, 0);
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, 0x2000)});
  go(a);
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(frame(1), faulting);
}

TEST_F(SegmentsTest, SegmentLoadPrivilegeAndPresence) {
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(a, ZYDIS_REGISTER_DS, kNotPresent);
  go(a);
  ASSERT_TRUE(in_handler(11));
  EXPECT_EQ(frame(0), kNotPresent);

  Asm b(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(b, ZYDIS_REGISTER_SS, kDpl3Data | 3);  // SS: RPL and DPL must equal CPL
  go(b);
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(0), kDpl3Data);

  Asm c(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(c, ZYDIS_REGISTER_SS, 0);  // null SS outside 64-bit mode
  go(c);
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(0), 0u);

  Asm d(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(d, ZYDIS_REGISTER_ES, 0x400);  // beyond the GDT limit
  go(d);
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(0), 0x400u);
}

TEST_F(SegmentsTest, StackLimitRaisesStackFault) {
  // SS with a 4 KiB limit: an EBP-based (SS) access beyond it is #SS(0); the stack itself
  // stays valid for the delivery.
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  load_seg(a, ZYDIS_REGISTER_SS, kSmallStack);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ESP), I(0xF00)});
  a(ZYDIS_MNEMONIC_PUSH, {R(ZYDIS_REGISTER_EAX)});  // within the limit
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBP), I(0x1000)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_EBP)});
  go(a);
  ASSERT_TRUE(in_handler(12)) << st().rip;
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(frame(1), faulting);
  EXPECT_EQ(st().gpr[kRsp], 0xF00u - 4 - 16);
}

}  // namespace
}  // namespace hvsim::cpu::testing
