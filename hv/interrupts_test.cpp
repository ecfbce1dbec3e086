// Virtual interrupts of a partition's VP (hv/interrupts.cpp): its x2APIC self-IPI is held
// while IF=0 and delivered after STI's shadow; its LAPIC timer wakes it from HLT on time; a
// TPR set through the Hyper-V TPR MSR holds back a lower-class vector until it drops;
// interrupts the host asserts (assert_interrupt) reach the guest, with auto-EOI leaving
// nothing in service; CLI;HLT stays halted; the run is deterministic.
#include <gtest/gtest.h>

#include "core/hash.h"
#include "cpu/encoder_asm.h"
#include "hv/hypervisor_test_fixture.h"

namespace hvsim::hv {
namespace {

using cpu::encoder::I;
using cpu::encoder::M;
using cpu::encoder::R;
using testing::HypervisorTest;

constexpr uint64_t kIdt = 0x4000;
constexpr uint64_t kCounters = 0x2000;  // one dword per vector 0x40.. (handler counts)

class InterruptsTest : public HypervisorTest {
 public:
  /// Emits one instruction (a test failure if Zydis cannot encode it).
  void e(ZydisMnemonic m, std::initializer_list<ZydisEncoderOperand> ops) {
    ASSERT_TRUE(a_.try_emit(m, ops)) << "cannot encode mnemonic " << m;
  }
  void wrmsr(uint32_t msr, uint32_t value) {
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(msr)});
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(value)});
    e(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDX), R(ZYDIS_REGISTER_EDX)});
    e(ZYDIS_MNEMONIC_WRMSR, {});
  }
  /// Stores EAX at `addr`.
  void store_eax(uint32_t addr) {
    e(ZYDIS_MNEMONIC_MOV, {M(4, ZYDIS_REGISTER_NONE, addr), R(ZYDIS_REGISTER_EAX)});
  }
  /// Builds the partition with the main program assembled so far, and an interrupt
  /// handler for vectors 0x40-0x47 that counts into kCounters + 4 * (vector - 0x40), writes
  /// the x2APIC EOI unless the vector is `no_eoi`, and returns.
  Partition& build(uint8_t no_eoi = 0) {
    std::vector<uint8_t> code = a_.bytes();
    std::vector<uint64_t> idt(0x48);
    Partition& p = partition(code, cpu::TableReg{kIdt, static_cast<uint16_t>(idt.size() * 8 - 1)});
    for (unsigned v = 0x40; v < 0x48; ++v) {
      uint32_t at = 0x6000 + (v - 0x40) * 0x40;
      cpu::encoder::Assembler h(ZYDIS_MACHINE_MODE_LONG_COMPAT_32);
      h.try_emit(ZYDIS_MNEMONIC_PUSHAD, {});
      h.try_emit(ZYDIS_MNEMONIC_INC,
                 {M(4, ZYDIS_REGISTER_NONE, static_cast<int64_t>(kCounters + 4 * (v - 0x40)))});
      if (v != no_eoi) {
        h.try_emit(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(0x80B)});
        h.try_emit(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EAX)});
        h.try_emit(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDX), R(ZYDIS_REGISTER_EDX)});
        h.try_emit(ZYDIS_MNEMONIC_WRMSR, {});
      }
      h.try_emit(ZYDIS_MNEMONIC_POPAD, {});
      h.try_emit(ZYDIS_MNEMONIC_IRETD, {});
      EXPECT_TRUE(hv_->write_guest(p, at, h.bytes().data(), h.bytes().size()));
      idt[v] = (at & 0xFFFF) | (uint64_t{0x08} << 16) | (uint64_t{0x8E00} << 32) |
               (uint64_t{at >> 16} << 48);
    }
    EXPECT_TRUE(hv_->write_guest(p, kIdt, idt.data(), idt.size() * 8));
    return p;
  }
  uint32_t count(const Partition& p, uint8_t vector) {
    uint32_t n = 0;
    EXPECT_TRUE(hv_->read_guest(p, kCounters + 4 * (vector - 0x40), &n, 4));
    return n;
  }
  uint32_t dword(const Partition& p, uint64_t gpa) {
    uint32_t n = 0;
    EXPECT_TRUE(hv_->read_guest(p, gpa, &n, 4));
    return n;
  }
  /// x2APIC on, software-enabled.
  void x2apic_on() {
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(0x1B)});
    e(ZYDIS_MNEMONIC_RDMSR, {});
    e(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(0xC00)});
    e(ZYDIS_MNEMONIC_WRMSR, {});
    wrmsr(0x80F, 0x1FF);  // SVR
  }
  cpu::encoder::Assembler a_{ZYDIS_MACHINE_MODE_LONG_COMPAT_32};
};

TEST_F(InterruptsTest, SelfIpiWaitsForIfAndTimerWakesHlt) {
  make();
  x2apic_on();
  wrmsr(0x83F, 0x40);  // self IPI, vector 0x40, while IF=0
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, kCounters)});
  store_eax(0x2100);  // the count before STI: 0
  e(ZYDIS_MNEMONIC_STI, {});
  e(ZYDIS_MNEMONIC_NOP, {});  // in STI's shadow: nothing yet
  e(ZYDIS_MNEMONIC_NOP, {});
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, kCounters)});
  store_eax(0x2104);  // after: 1
  // One-shot LAPIC timer (vector 0x41), divide by 1, 10000 ticks of the 1 GHz APIC clock
  // = 20000 cycles at 2 GHz; HLT until it fires.
  wrmsr(0x83E, 0xB);
  wrmsr(0x832, 0x41);
  e(ZYDIS_MNEMONIC_RDTSC, {});
  store_eax(0x2108);
  wrmsr(0x838, 10000);
  e(ZYDIS_MNEMONIC_HLT, {});
  e(ZYDIS_MNEMONIC_RDTSC, {});
  store_eax(0x210C);
  e(ZYDIS_MNEMONIC_CLI, {});
  e(ZYDIS_MNEMONIC_HLT, {});
  Partition& p = build();
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_EQ(dword(p, 0x2100), 0u) << "held while IF=0";
  EXPECT_EQ(dword(p, 0x2104), 1u) << "delivered after STI's shadow";
  EXPECT_EQ(count(p, 0x41), 1u) << "the timer fired once";
  uint32_t slept = dword(p, 0x210C) - dword(p, 0x2108);
  // From RDTSC before the WRMSR that starts the count to RDTSC after HLT: the timer's 20000
  // cycles, plus the WRMSR's own exit, the HLT exit, the wake-up entry and the handler with
  // its EOI exit (about 1900 cycles in all; an exit round trip costs a few hundred).
  EXPECT_GE(slept, 20000u);
  EXPECT_LT(slept, 20000u + 2500);
  const VirtualProcessor& vp = p.vps[0];
  EXPECT_EQ(vp.interrupts_injected, 2u);
  EXPECT_EQ(vp.wakeups, 1u);
  EXPECT_TRUE(vp.halted) << "CLI; HLT stays halted";
  EXPECT_TRUE(hv_->all_stopped());
}

TEST_F(InterruptsTest, TprHoldsBackLowerClassesUntilItDrops) {
  make();
  x2apic_on();
  wrmsr(0x40000072, 0x50);  // HV_X64_MSR_TPR: class 5
  e(ZYDIS_MNEMONIC_STI, {});
  wrmsr(0x83F, 0x42);  // class 4: held back
  e(ZYDIS_MNEMONIC_NOP, {});
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, kCounters + 8)});
  store_eax(0x2100);
  wrmsr(0x40000072, 0);  // TPR 0: delivered
  e(ZYDIS_MNEMONIC_NOP, {});
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), M(4, ZYDIS_REGISTER_NONE, kCounters + 8)});
  store_eax(0x2104);
  e(ZYDIS_MNEMONIC_CLI, {});
  e(ZYDIS_MNEMONIC_HLT, {});
  Partition& p = build();
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_EQ(dword(p, 0x2100), 0u);
  EXPECT_EQ(dword(p, 0x2104), 1u);
}

TEST_F(InterruptsTest, HostAssertedInterruptsWakeTheVpAndAutoEoiLeavesNothingInService) {
  make();
  x2apic_on();
  e(ZYDIS_MNEMONIC_STI, {});
  e(ZYDIS_MNEMONIC_HLT, {});  // woken by 0x43 (auto-EOI: its handler writes no EOI)
  e(ZYDIS_MNEMONIC_HLT, {});  // woken by 0x42: lower than 0x43, so only deliverable
                              // because nothing stayed in service
  e(ZYDIS_MNEMONIC_CLI, {});
  e(ZYDIS_MNEMONIC_HLT, {});
  Partition& p = build(/*no_eoi=*/0x43);
  hv_->advance(0, cpu_->local_time() + 100 * kPicosPerMicro);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_TRUE(p.vps[0].halted);
  hv_->assert_interrupt(p, 0, 0x43, /*auto_eoi=*/true);
  hv_->advance(0, cpu_->local_time() + 100 * kPicosPerMicro);
  EXPECT_EQ(count(p, 0x43), 1u);
  hv_->assert_interrupt(p, 0, 0x42);
  hv_->advance(0, cpu_->local_time() + 100 * kPicosPerMicro);
  EXPECT_EQ(count(p, 0x42), 1u);
  EXPECT_EQ(p.vps[0].wakeups, 2u);
  EXPECT_TRUE(hv_->all_stopped());
}

// Synthetic timers are a timed source of the VP (hv/synthetic_timers.h): a direct-mode
// STIMER0 (vector 0x44) armed 1000 reference ticks (100 us) ahead wakes HLT at its deadline,
// through the VMX-preemption timer, not at some later exit.
TEST_F(InterruptsTest, DirectSyntheticTimerWakesHltAtItsDeadline) {
  make();
  x2apic_on();
  wrmsr(0x400000B0, (1u << 12) | (0x44u << 4) | (1u << 3));       // direct, vector, AutoEnable
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(0x40000020)});  // TIME_REF_COUNT
  e(ZYDIS_MNEMONIC_RDMSR, {});
  e(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_EAX), I(1000)});
  store_eax(0x2100);                                              // the deadline
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(0x400000B1)});  // STIMER0_COUNT
  e(ZYDIS_MNEMONIC_WRMSR, {});
  e(ZYDIS_MNEMONIC_STI, {});
  e(ZYDIS_MNEMONIC_HLT, {});
  e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(0x40000020)});
  e(ZYDIS_MNEMONIC_RDMSR, {});
  store_eax(0x2104);  // the reference time after waking
  e(ZYDIS_MNEMONIC_CLI, {});
  e(ZYDIS_MNEMONIC_HLT, {});
  Partition& p = build();
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_EQ(count(p, 0x44), 1u);
  uint32_t deadline = dword(p, 0x2100), woke = dword(p, 0x2104);
  EXPECT_GE(woke, deadline);
  // After the deadline: the wake-up entry, the handler's EOI exit and the RDMSR exit, about
  // 1 us (10 ticks) in all. A halted VP nothing armed for would never wake.
  EXPECT_LE(woke, deadline + 20);
  const VirtualProcessor& vp = p.vps[0];
  EXPECT_EQ(vp.timers->expirations(0), 1u);
  EXPECT_EQ(vp.wakeups, 1u);
  EXPECT_EQ(vp.stimer_cycle, ~0ull) << "a one-shot timer is disarmed after it fired";
  EXPECT_TRUE(hv_->all_stopped());
}

TEST_F(InterruptsTest, Deterministic) {
  auto run = [](InterruptsTest& t) {
    t.make();
    t.x2apic_on();
    t.wrmsr(0x83E, 0xB);
    t.wrmsr(0x832, 0x20041);  // periodic, vector 0x41
    t.wrmsr(0x838, 3000);
    t.e(ZYDIS_MNEMONIC_STI, {});
    for (int k = 0; k < 200; ++k) t.e(ZYDIS_MNEMONIC_PAUSE, {});
    t.e(ZYDIS_MNEMONIC_HLT, {});
    t.e(ZYDIS_MNEMONIC_JMP, {I(-3)});
    Partition& p = t.build();
    t.hv_->advance(0, t.cpu_->local_time() + kPicosPerMilli);
    EXPECT_FALSE(p.crashed) << p.crash_reason;
    Hasher h;
    t.cpu_->hash_into(h);
    t.hv_->hash_into(h);
    h.bytes(t.mem_.read_ptr(0), 16 << 20);
    return std::make_tuple(h.digest(), t.cpu_->cycles(), t.count(p, 0x41));
  };
  struct Other : InterruptsTest {
    void TestBody() override {}
  } other;
  auto a = run(*this), b = run(other);
  EXPECT_EQ(a, b);
  EXPECT_GT(std::get<2>(a), 300u) << "a periodic timer of 6000 cycles over 2M cycles";
}

TEST_F(InterruptsTest, SyntheticClusterIpiReachesTheMaskedVps) {
  make();
  x2apic_on();
  // Fast HvCallSendSyntheticClusterIpi, 32-bit convention: EDX:EAX input value, EBX:ECX
  // Vector | reserved << 32, EDI:ESI the VP mask.
  auto ipi = [&](uint32_t vector, uint32_t reserved, uint32_t mask, uint32_t status_at) {
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(0x1000B)});
    e(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDX), R(ZYDIS_REGISTER_EDX)});
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(vector)});
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBX), I(reserved)});
    e(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ESI), I(mask)});
    e(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EDI), R(ZYDIS_REGISTER_EDI)});
    e(ZYDIS_MNEMONIC_VMCALL, {});
    store_eax(status_at);
  };
  ipi(0x44, 0, 1, 0x2100);  // to VP 0 (itself): pending until STI
  ipi(0x0F, 0, 1, 0x2104);  // vector below 16
  ipi(0x45, 0, 2, 0x2108);  // VP 1 does not exist
  ipi(0x45, 1, 1, 0x210C);  // reserved half set
  e(ZYDIS_MNEMONIC_STI, {});
  e(ZYDIS_MNEMONIC_NOP, {});
  e(ZYDIS_MNEMONIC_NOP, {});
  e(ZYDIS_MNEMONIC_CLI, {});
  e(ZYDIS_MNEMONIC_HLT, {});
  Partition& p = build();
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_EQ(dword(p, 0x2100), 0u) << "HV_STATUS_SUCCESS";
  for (uint32_t at : {0x2104u, 0x2108u, 0x210Cu})
    EXPECT_EQ(dword(p, at), 5u) << "INVALID_PARAMETER";
  EXPECT_EQ(count(p, 0x44), 1u);
  EXPECT_EQ(count(p, 0x45), 0u);
}

}  // namespace
}  // namespace hvsim::hv
