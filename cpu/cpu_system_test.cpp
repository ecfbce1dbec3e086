// Unit tests of paging, exception delivery, #DF/triple fault, mode switches, the decode
// cache, determinism and save/restore (Intel SDM Vol. 3A ch. 4, 6, 9.8-9.9).
#include "core/hash.h"
#include "core/inspect.h"
#include "core/state.h"
#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class SystemTest : public CpuFixture {
 protected:
  /// Runs `a` at kCode in 64-bit mode until HLT.
  void go(Asm& a) {
    a(ZYDIS_MNEMONIC_HLT);
    enter_long_mode();
    load(L::kCode, a);
    run();
  }
  /// True if the processor halted in the handler of `vector`.
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
};

TEST_F(SystemTest, PageFaultNotPresentRead) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData + 0x3008)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  enter_long_mode();
  put64(pte_addr(L::kData + 0x3000), 0);
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(st().cr2, L::kData + 0x3008);
  EXPECT_EQ(frame(0), 0u);        // error code: not present, read, supervisor
  EXPECT_EQ(frame(1), faulting);  // RIP of the faulting MOV
  EXPECT_EQ(frame(2), L::kCode64);
}

TEST_F(SystemTest, PageFaultWriteToReadOnlyWithWp) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {M(4, ZYDIS_REGISTER_RBX), I(1)});
  enter_long_mode();
  put64(pte_addr(L::kData), L::kData | 5);  // present, user, read-only
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), spec::kPfP | spec::kPfW);
  EXPECT_EQ(mem_.load<uint32_t>(L::kData), 0u);
}

TEST_F(SystemTest, PageFaultInstructionFetchFromNxPage) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_JMP, {R(ZYDIS_REGISTER_RBX)});
  enter_long_mode();
  put64(pte_addr(L::kData), L::kData | 7 | spec::kPteXD);
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), spec::kPfP | spec::kPfI);
  EXPECT_EQ(frame(1), L::kData);
  EXPECT_EQ(st().cr2, L::kData);
}

TEST_F(SystemTest, PageFaultReservedBitAndAccessedDirtyBits) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RBX)});          // sets A and D
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX, 0x1000)});  // A only
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX, 0x2000), R(ZYDIS_REGISTER_RAX)});  // RSVD
  enter_long_mode();
  put64(pte_addr(L::kData + 0x2000), (L::kData + 0x2000) | 7 | (1ull << 50));
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), spec::kPfP | spec::kPfW | spec::kPfRsvd);
  EXPECT_EQ(get64(pte_addr(L::kData)) & 0x60, 0x60u);
  EXPECT_EQ(get64(pte_addr(L::kData + 0x1000)) & 0x60, 0x20u);
}

TEST_F(SystemTest, UserModeFaultSwitchesToRsp0) {
  // Kernel: IRETQ to user code at kUserCode; user code executes HLT -> #GP(0) at CPL 3.
  Asm k;
  k(ZYDIS_MNEMONIC_PUSH, {I(L::kUserData)});
  k(ZYDIS_MNEMONIC_PUSH, {I(0x3F0000)});
  k(ZYDIS_MNEMONIC_PUSH, {I(0x202)});
  k(ZYDIS_MNEMONIC_PUSH, {I(L::kUserCode64)});
  k(ZYDIS_MNEMONIC_PUSH, {I(L::kUserCode)});
  k(ZYDIS_MNEMONIC_IRETQ);
  Asm u;
  u(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(42)});
  u(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  load(L::kCode, k);
  load(L::kUserCode, u);
  run();
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(st().gpr[kRax], 42u);
  EXPECT_EQ(st().gpr[kRsp], L::kRsp0 - 48);
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(frame(1), L::kUserCode + 5);
  EXPECT_EQ(frame(2), L::kUserCode64);
  EXPECT_EQ(frame(3), 0x202u | kFlagRF);  // faults save RF = 1 (SDM 17.3.1.1)
  EXPECT_EQ(frame(4), 0x3F0000u);
  EXPECT_EQ(frame(5), L::kUserData);
  EXPECT_EQ(st().seg[kCs].selector, L::kCode64);
  EXPECT_FALSE(st().rflags & kFlagIF);
}

TEST_F(SystemTest, InterruptStackTable) {
  Asm a;
  a(ZYDIS_MNEMONIC_INT3);
  enter_long_mode();
  put64(L::kIdt + 3 * 16, get64(L::kIdt + 3 * 16) | (1ull << 32));  // IST1
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(3));
  EXPECT_EQ(st().gpr[kRsp], L::kIst1 - 40);
  EXPECT_EQ(frame(0), L::kCode + 1);  // INT3 is a trap: RIP after it
  EXPECT_EQ(frame(3), L::kStackTop);
}

TEST_F(SystemTest, NotPresentPageFaultHandlerGivesDoubleFault) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_NONE, 0x7000000)});
  enter_long_mode();
  put64(L::kIdt + 14 * 16, get64(L::kIdt + 14 * 16) & ~(1ull << 47));
  put64(L::kPdpt, 0);  // nothing mapped...
  put64(L::kPdpt, L::kPd | 7);
  put64(L::kPd + 56 * 8, 0);
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(8));
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(frame(1), L::kCode);
  InspectNode n;
  cpu_->inspect(n);
  EXPECT_NE(n.to_json().find("\"#DF\": 1"), std::string::npos) << n.to_json();
}

TEST_F(SystemTest, TripleFaultShutsDown) {
  tracer_.open(std::string(HVSIM_BINARY_DIR) + "/cpu_triple_fault_trace.jsonl");
  Asm a;
  a(ZYDIS_MNEMONIC_NOP);
  a(ZYDIS_MNEMONIC_UD2);
  enter_long_mode();
  st().idtr.limit = 0;
  cpu_->state_changed();
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  EXPECT_EQ(cpu_->run_state(), RunState::kShutdown);
  ASSERT_TRUE(cpu_->shutdown_info().has_value());
  EXPECT_EQ(cpu_->shutdown_info()->rip, L::kCode + 1);
  EXPECT_EQ(cpu_->shutdown_info()->vector, 13);
  EXPECT_EQ(cpu_->shutdown_info()->reason, "triple fault: #GP while delivering #DF");
  EXPECT_GE(tracer_.records(), 4u);  // #UD, #GP, #DF, triple_fault
  tracer_.close();
  // A shut-down processor jumps to the time limit.
  SimTime t = cpu_->advance(1'000'000);
  EXPECT_GE(t, 1'000'000u);
}

TEST_F(SystemTest, ProtectedModeStubEntersLongMode) {
  build_tables();
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_CR4)});
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(0x20)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(L::kPml4)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(static_cast<int32_t>(0xC0000080))});
  a(ZYDIS_MNEMONIC_RDMSR);
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(0x100)});
  a(ZYDIS_MNEMONIC_WRMSR);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_CR0)});
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(static_cast<int32_t>(0x80000001))});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR0), R(ZYDIS_REGISTER_EAX)});
  uint64_t entry = L::kCode + a.size() + 7;
  a.raw({0xEA, static_cast<uint8_t>(entry), static_cast<uint8_t>(entry >> 8),
         static_cast<uint8_t>(entry >> 16), static_cast<uint8_t>(entry >> 24), L::kCode64, 0});
  Asm b;
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(0x123456789ll)});
  b(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  load(entry, b);
  // The entry state a Multiboot loader sets (Multiboot spec 3.2) plus a flat GDT.
  ArchState& s = st();
  s.cr0 = kCr0PE | kCr0ET;
  s.seg[kCs] = SegReg{L::kCode32, 0, 0xFFFFFFFF, 0xC09B};
  for (int k : {kSs, kDs, kEs, kFs, kGs}) s.seg[k] = SegReg{L::kData0, 0, 0xFFFFFFFF, 0xC093};
  s.gdtr = TableReg{L::kGdt, 0x3F};
  s.rip = L::kCode;
  s.gpr[kRsp] = L::kStackTop;
  cpu_->state_changed();
  run();
  EXPECT_EQ(st().gpr[kRax], 0x123456789u);
  EXPECT_TRUE(st().efer & kEferLMA);
  EXPECT_EQ(st().rip, entry + b.size());
  InspectNode n;
  cpu_->inspect(n);
  EXPECT_NE(n.to_json().find("long-64"), std::string::npos);
}

TEST_F(SystemTest, SelfModifyingCodeInvalidatesDecodeCache) {
  // loop: mov eax, 1 ; inc ecx ; cmp ecx, 2 ; je done ; mov byte [rbx+1], 2 ; jmp loop
  Asm a;
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_ECX)});
  uint64_t loop = L::kCode + a.size() + 10;
  a.raw({0x48, 0xBB});  // mov rbx, imm64 = loop
  for (int k = 0; k < 8; ++k) a.raw({static_cast<uint8_t>(loop >> (8 * k))});
  a.raw({0xB8, 1, 0, 0, 0});  // loop: mov eax, 1
  a(ZYDIS_MNEMONIC_INC, {R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_ECX), I(2)});
  a.raw({0x74, 6});                                            // je +6 -> hlt
  a(ZYDIS_MNEMONIC_MOV, {M(1, ZYDIS_REGISTER_RBX, 1), I(2)});  // 4 bytes
  int8_t back = static_cast<int8_t>(loop - (L::kCode + a.size() + 2));
  a.raw({0xEB, static_cast<uint8_t>(back)});
  go(a);
  EXPECT_EQ(st().gpr[kRax], 2u);
  EXPECT_EQ(st().gpr[kRcx], 2u);
  InspectNode n;
  cpu_->inspect(n);
  EXPECT_NE(n.to_json().find("\"invalidations\": 1"), std::string::npos) << n.to_json();
}

TEST_F(SystemTest, PortIoMmioCpuidRdtsc) {
  struct Dev : PortIoHandler, MmioHandler {
    uint32_t last = 0;
    uint64_t mlast = 0;
    uint32_t io_read(uint16_t, unsigned) override { return 0x5A; }
    void io_write(uint16_t, unsigned, uint32_t v) override { last = v; }
    uint64_t mmio_read(uint64_t off, unsigned) override { return 0x1000 + off; }
    void mmio_write(uint64_t, unsigned, uint64_t v) override { mlast = v; }
  } dev;
  io_.map(0x80, 1, &dev, "test");
  mmio_.map(0x2000000, 0x1000, &dev, "test");  // just past 16 MiB... mapped by PD[16]
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AL), I(0x33)});
  a(ZYDIS_MNEMONIC_OUT, {I(0x80), R(ZYDIS_REGISTER_AL)});
  a(ZYDIS_MNEMONIC_IN, {R(ZYDIS_REGISTER_AL), I(0x80)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R8), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(0x2000000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R9D), M(4, ZYDIS_REGISTER_RBX, 8)});
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX, 16), R(ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_CPUID);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R10), R(ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_RDTSC);
  enter_long_mode();
  put64(L::kPd + 16 * 8, 0x2000000 | 0x83);
  // One cycle per instruction, nothing for TLB misses: the TSC then counts instructions.
  timing::Table unit;
  for (const auto& e : timing::entries()) unit.*e.field = 1;
  unit.memory = unit.tlb_miss = unit.walk_reference = unit.branch_taken = 0;
  cpu_->set_timing(unit);
  go(a);
  EXPECT_EQ(dev.last, 0x33u);
  EXPECT_EQ(st().gpr[kR8] & 0xFF, 0x5Au);
  EXPECT_EQ(st().gpr[kR9], 0x1008u);
  EXPECT_EQ(dev.mlast, 0x2000000u);
  EXPECT_EQ(st().gpr[kR10], 0x756E6547u);  // "Genu"
  EXPECT_EQ(st().gpr[kRax], 10u);          // 10 instructions retired before RDTSC
}

TEST_F(SystemTest, ResetStateRunsWithoutRomWithoutCrashing) {
  // Power-on state fetches F000:FFF0 from unclaimed MMIO (all ones): #UD through the real
  // mode IVT into zeroed RAM. The guest misbehaves; the simulator must not.
  cpu_->reset();
  EXPECT_EQ(st().seg[kCs].base + st().rip, 0xFFFFFFF0u);
  cpu_->step(10000);
  EXPECT_NE(cpu_->run_state(), RunState::kWaitForSipi);
  SimTime t = cpu_->advance(5 * kPicosPerMicro);
  EXPECT_GE(t, 5 * kPicosPerMicro);
}

/// A loop that mixes arithmetic, memory and calls, for determinism and checkpoints.
Asm busy_program() {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(3000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  size_t loop = a.size();
  a(ZYDIS_MNEMONIC_IMUL, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_RCX), I(0x9E37)});
  a(ZYDIS_MNEMONIC_ADD, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_ROL, {R(ZYDIS_REGISTER_RDX), I(7)});
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_RDX), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_RDTSC);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RSI), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_AND, {R(ZYDIS_REGISTER_ESI), I(0xFF)});
  a(ZYDIS_MNEMONIC_MOV,
    {M(8, ZYDIS_REGISTER_RBX, 8, ZYDIS_REGISTER_RSI, 8), R(ZYDIS_REGISTER_RDX)});
  int8_t back = static_cast<int8_t>(loop - (a.size() + 2));
  a.raw({0xE2, static_cast<uint8_t>(back)});  // loop
  return a;
}

uint64_t digest(const Cpu& cpu, const PhysicalMemory& mem) {
  Hasher h;
  cpu.hash_into(h);
  mem.hash_into(h);
  return h.digest();
}

TEST_F(SystemTest, DeterministicAndCheckpointRoundTrip) {
  Asm a = busy_program();
  go(a);
  ASSERT_EQ(cpu_->run_state(), RunState::kHalted);
  uint64_t reference = digest(*cpu_, mem_);
  uint64_t total = cpu_->instructions();

  // Same program again: same hash.
  CpuFixture* self = this;
  (void)self;
  struct Other : CpuFixture {
    void TestBody() override {}
  };
  Other second;
  Asm b = busy_program();
  b(ZYDIS_MNEMONIC_HLT);
  second.enter_long_mode();
  second.load(L::kCode, b);
  second.run();
  EXPECT_EQ(digest(*second.cpu_, second.mem_), reference);

  // Interrupted run: checkpoint mid-way, restore into a fresh machine, finish.
  Other third;
  third.enter_long_mode();
  third.load(L::kCode, b);
  third.cpu_->step(total / 2);
  StateWriter w;
  third.cpu_->save(w);
  std::vector<uint8_t> ram(L::kRamSize);
  third.mem_.read(0, ram.data(), ram.size());
  StateReader r(w.finish(), "test");
  Other fourth;
  fourth.cpu_->restore(r);
  for (uint64_t pfn : third.mem_.touched_list())
    fourth.mem_.write(pfn << 12, ram.data() + (pfn << 12), 4096);
  fourth.run();
  EXPECT_EQ(fourth.cpu_->instructions(), total);
  EXPECT_EQ(digest(*fourth.cpu_, fourth.mem_), reference);
  EXPECT_EQ(fourth.cpu_->cycles(), cpu_->cycles());
}

}  // namespace
}  // namespace hvsim::cpu::testing
