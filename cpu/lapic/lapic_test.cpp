// Unit tests of the local APIC and interrupt acceptance (Intel SDM Vol. 3A ch. 10; 6.7 NMI;
// 6.8.3 interrupt shadows; 9.4 INIT/SIPI).
#include "cpu/lapic/lapic.h"

#include "core/state.h"
#include "cpu/lapic/apic_bus.h"
#include "cpu/test_support.h"
#include "cpu/timing.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class LapicTest : public CpuFixture {
 protected:
  Lapic& apic() { return cpu_->lapic(); }
  void wr(uint32_t reg, uint32_t v) { apic().mmio_write(reg, 4, v); }
  uint32_t rd(uint32_t reg) { return static_cast<uint32_t>(apic().mmio_read(reg, 4)); }
  /// Code at kCode: `a`, then a jump to itself.
  void start(Asm& a) {
    a.raw({0xEB, 0xFE});  // jmp $
    enter_long_mode();
    load(L::kCode, a);
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
};

TEST_F(LapicTest, ResetValues) {
  EXPECT_EQ(rd(0x30), 0x50014u);  // version
  EXPECT_EQ(rd(0x20), 0u);        // id 0
  EXPECT_EQ(rd(0xF0), 0xFFu);     // SVR: software disabled
  EXPECT_EQ(rd(0xE0), 0xFFFFFFFFu);
  EXPECT_EQ(rd(0x320), 0x10000u);  // timer masked
  EXPECT_EQ(rd(0x350), 0x700u);    // BSP LINT0: ExtINT (virtual wire)
  EXPECT_TRUE(apic().mmio_hit(0xFEE00000));
  EXPECT_FALSE(apic().mmio_hit(0xFED00000));
}

TEST_F(LapicTest, OneShotTimerInterruptsAtItsDeadline) {
  // Unit costs: the bound below measures the timer's precision, not delivery costs.
  timing::Table unit;
  for (const auto& e : timing::entries()) unit.*e.field = 1;
  cpu_->set_timing(unit);
  Asm a;
  a(ZYDIS_MNEMONIC_STI);
  start(a);
  wr(0xF0, 0x1FF);
  wr(0x3E0, 0xB);  // divide by 1
  wr(0x320, 0x30);
  wr(0x380, 100);  // 100 ticks at 1 GHz = 200 cycles at 2 GHz
  EXPECT_EQ(rd(0x390), 100u);
  run(10000);
  ASSERT_TRUE(in_handler(0x30));
  EXPECT_GE(cpu_->cycles(), 200u);
  EXPECT_LT(cpu_->cycles(), 200u + 30);
  EXPECT_EQ(rd(0x390), 0u);
  EXPECT_EQ(rd(0x100 + 0x10), 1u << 16);  // ISR bit 0x30
  wr(0xB0, 0);                            // EOI
  EXPECT_EQ(rd(0x100 + 0x10), 0u);
}

TEST_F(LapicTest, HaltedProcessorWakesOnTimer) {
  Asm a;
  a(ZYDIS_MNEMONIC_STI);
  a(ZYDIS_MNEMONIC_HLT);
  start(a);
  wr(0xF0, 0x1FF);
  wr(0x3E0, 0xB);
  wr(0x320, 0x31);
  wr(0x380, 5000);  // 10000 cycles = 5 us
  cpu_->advance(20 * kPicosPerMicro);
  ASSERT_TRUE(in_handler(0x31));
  EXPECT_EQ(frame(0), L::kCode + 2);  // return after the HLT
}

TEST_F(LapicTest, IfClearHoldsTheInterruptInIrr) {
  Asm a;
  a(ZYDIS_MNEMONIC_CLI);
  start(a);
  wr(0xF0, 0x1FF);
  wr(0x3E0, 0xB);
  wr(0x320, 0x30);
  wr(0x380, 10);
  run(1000);
  EXPECT_EQ(st().rip, L::kCode + 1);       // still looping
  EXPECT_EQ(rd(0x200 + 0x10), 1u << 16);   // IRR bit 0x30
  EXPECT_TRUE(cpu_->can_wake() == false);  // running, nothing queued
}

TEST_F(LapicTest, StiShadowDelaysTheInterruptByOneInstruction) {
  Asm a;
  a(ZYDIS_MNEMONIC_CLI);
  a(ZYDIS_MNEMONIC_STI);
  a(ZYDIS_MNEMONIC_NOP);
  start(a);
  wr(0xF0, 0x1FF);
  ApicMessage m;
  m.vector = 0x40;
  apic().post(m, 0);  // pending from the start
  run(1000);
  ASSERT_TRUE(in_handler(0x40));
  EXPECT_EQ(frame(0), L::kCode + 3);  // taken after the NOP that follows STI
}

TEST_F(LapicTest, PopfThatSetsIfTakesTheHeldInterruptAtTheNextBoundary) {
  // IF=0 holds the interrupt without boundary work on every instruction; the POPF that
  // sets IF must still open it at once (no shadow for POPF, SDM 6.8.3).
  Asm a;
  a(ZYDIS_MNEMONIC_CLI);
  for (int k = 0; k < 20; ++k) a(ZYDIS_MNEMONIC_NOP);
  a(ZYDIS_MNEMONIC_PUSH, {I(0x202)});
  size_t popf_at = a.size();
  a(ZYDIS_MNEMONIC_POPFQ);
  size_t after = a.size();
  a(ZYDIS_MNEMONIC_NOP);
  start(a);
  wr(0xF0, 0x1FF);
  ApicMessage m;
  m.vector = 0x41;
  apic().post(m, 0);
  run(1000);
  ASSERT_TRUE(in_handler(0x41));
  EXPECT_EQ(frame(0), L::kCode + after) << "POPFQ at +" << popf_at;
}

TEST_F(LapicTest, TprBlocksLowerPriorityClasses) {
  Asm a;
  a(ZYDIS_MNEMONIC_STI);
  start(a);
  wr(0xF0, 0x1FF);
  wr(0x80, 0x50);
  ApicMessage m;
  m.vector = 0x45;
  apic().post(m, 0);
  run(100);
  EXPECT_EQ(rd(0xA0), 0x50u);  // PPR = TPR
  EXPECT_FALSE(in_handler(0x45));
  EXPECT_EQ(st().cr8, 5u);
  wr(0x80, 0x30);
  run(100);
  EXPECT_TRUE(in_handler(0x45));
  EXPECT_EQ(rd(0xA0), 0x40u);  // PPR = ISR class
}

TEST_F(LapicTest, NmiIsBlockedUntilIret) {
  Asm a;
  a(ZYDIS_MNEMONIC_CLI);  // NMI ignores IF
  start(a);
  wr(0xF0, 0x1FF);
  wr(0x300, 0x40400);  // self NMI
  run(100);
  ASSERT_TRUE(in_handler(2));
  wr(0x300, 0x40400);  // a second NMI stays pending: no IRET yet
  cpu_->advance(cpu_->local_time() + kPicosPerMicro);
  EXPECT_TRUE(in_handler(2));
  EXPECT_TRUE(cpu_->can_wake());
}

TEST_F(LapicTest, TimerStormWhileHaltedWithIfClearCostsNothing) {
  Asm a;
  a(ZYDIS_MNEMONIC_CLI);
  a(ZYDIS_MNEMONIC_HLT);
  start(a);
  wr(0xF0, 0x1FF);
  wr(0x3E0, 0xB);
  wr(0x320, 0x20030);  // periodic, 1 tick
  wr(0x380, 1);
  cpu_->advance(100 * kPicosPerMilli);  // 200 million cycles, no wake-up possible
  EXPECT_EQ(cpu_->run_state(), RunState::kHalted);
  EXPECT_FALSE(cpu_->can_wake());
  EXPECT_EQ(cpu_->cycles(), 200'000'000u);
}

TEST_F(LapicTest, IllegalVectorSetsErrorStatus) {
  wr(0xF0, 0x1FF);
  wr(0x300, 0x40005);  // self IPI vector 5
  wr(0x280, 0);
  EXPECT_EQ(rd(0x280), 0x20u);  // send illegal vector
  wr(0x280, 0);
  EXPECT_EQ(rd(0x280), 0u);
}

TEST_F(LapicTest, X2ApicMsrRules) {
  uint64_t v;
  EXPECT_FALSE(apic().read_msr(0x802, &v));                  // xAPIC mode: #GP
  EXPECT_FALSE(apic().write_apic_base(0xFEE00000 | 0x400));  // EXTD without EN
  ASSERT_TRUE(apic().write_apic_base(0xFEE00000 | 0xC00));
  EXPECT_FALSE(apic().mmio_hit(0xFEE00000));  // MMIO not decoded in x2APIC mode
  ASSERT_TRUE(apic().read_msr(0x802, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(apic().read_msr(0x80D, &v));
  EXPECT_EQ(v, 1u);                                          // LDR: cluster 0, bit 0
  EXPECT_FALSE(apic().read_msr(0x80B, &v));                  // EOI is write-only
  EXPECT_FALSE(apic().write_msr(0x802, 1));                  // ID is read-only
  EXPECT_FALSE(apic().write_msr(0x80B, 1));                  // EOI must be written with 0
  EXPECT_FALSE(apic().write_msr(0x808, 0x100));              // TPR reserved bits
  EXPECT_FALSE(apic().read_msr(0x80E, &v));                  // no DFR in x2APIC mode
  EXPECT_FALSE(apic().write_apic_base(0xFEE00000 | 0x800));  // x2APIC -> xAPIC directly
  EXPECT_TRUE(apic().write_apic_base(0xFEE00000));           // -> disabled
  EXPECT_TRUE(apic().write_apic_base(0xFEE00000 | 0x800));   // -> xAPIC
}

TEST_F(LapicTest, TscDeadlineTimer) {
  Asm a;
  a(ZYDIS_MNEMONIC_STI);
  start(a);
  wr(0xF0, 0x1FF);
  uint64_t v;
  ASSERT_TRUE(apic().write_msr(0x6E0, 1000));  // ignored outside TSC-deadline mode
  ASSERT_TRUE(apic().read_msr(0x6E0, &v));
  EXPECT_EQ(v, 0u);
  wr(0x320, 0x40033);
  ASSERT_TRUE(apic().write_msr(0x6E0, 500));
  run(10000);
  ASSERT_TRUE(in_handler(0x33));
  EXPECT_GE(cpu_->cycles(), 500u);
  ASSERT_TRUE(apic().read_msr(0x6E0, &v));
  EXPECT_EQ(v, 0u);
}

TEST_F(LapicTest, InitAndStartupIpiStartAnApInRealMode) {
  ApicBus bus;
  CpuEnv env = env_;
  env.apic_bus = &bus;
  CpuParams p0, p1;
  p1.index = 1;
  Cpu bsp(p0, env), ap(p1, env);
  bus.attach(&bsp.lapic());
  bus.attach(&ap.lapic());
  EXPECT_EQ(ap.run_state(), RunState::kWaitForSipi);
  mem_.store<uint8_t>(0x9000, 0xF4);  // hlt at the start-up address
  bsp.lapic().mmio_write(0x310, 4, 1u << 24);
  bsp.lapic().mmio_write(0x300, 4, 0x4500);  // INIT to APIC 1
  bsp.lapic().mmio_write(0x300, 4, 0x4609);  // SIPI vector 9
  bsp.lapic().mmio_write(0x300, 4, 0x4609);  // a second SIPI is ignored
  ap.advance(kPicosPerMicro);
  EXPECT_EQ(ap.run_state(), RunState::kHalted);
  EXPECT_EQ(ap.state().seg[kCs].selector, 0x900);
  EXPECT_EQ(ap.state().seg[kCs].base, 0x9000u);
  EXPECT_EQ(ap.state().rip, 1u);
  EXPECT_EQ(ap.lapic().id(), 1u);
}

TEST_F(LapicTest, SaveRestoreKeepsPendingState) {
  wr(0xF0, 0x1FF);
  wr(0x320, 0x20035);  // periodic
  wr(0x380, 1000);
  ApicMessage m;
  m.vector = 0x60;
  apic().post(m, 5 * kPicosPerMicro);  // queued for later
  StateWriter w;
  cpu_->save(w);
  StateReader r(w.finish(), "test");
  Cpu other(CpuParams{}, env_);
  other.restore(r);
  EXPECT_EQ(other.lapic().mmio_read(0x320, 4), 0x20035u);
  EXPECT_EQ(other.lapic().wake_cycle(), apic().wake_cycle());
  EXPECT_TRUE(other.lapic().has_queued());
}

}  // namespace
}  // namespace hvsim::cpu::testing
