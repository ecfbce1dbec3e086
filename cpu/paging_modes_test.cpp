// Unit tests of paging features and control-register legality: SMEP, SMAP with AC and
// implicit accesses, PCID/INVPCID, LA57 rules, PAE PDPTE loading, A/D bits on faulting
// walks, walk reference counts (Intel SDM Vol. 3A ch. 4, 2.5; Vol. 2 "MOV CR").
#include "core/inspect.h"
#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"
#include "cpu/test_support.h"

namespace hvsim::cpu::testing {
namespace {

using L = Layout;

class PagingModesTest : public CpuFixture {
 protected:
  void go(Asm& a, uint64_t cr4_extra = 0) {
    a(ZYDIS_MNEMONIC_HLT);
    enter_long_mode();
    put64(L::kPd, 0x83);  // [0, 2 MiB): kernel code, tables, handlers: supervisor
    st().cr4 |= cr4_extra;
    cpu_->set_run_state(RunState::kRunning);
    cpu_->state_changed();
    load(L::kCode, a);
    run();
  }
  bool in_handler(uint8_t vector) { return st().rip == L::kHandlers + vector * 16u + 1; }
  uint64_t frame(unsigned slot) { return get64(st().gpr[kRsp] + 8 * slot); }
};

TEST_F(PagingModesTest, SmepBlocksSupervisorFetchFromUserPage) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_JMP, {R(ZYDIS_REGISTER_RBX)});
  mem_.store<uint8_t>(L::kData, 0xF4);
  go(a, kCr4SMEP);
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), spec::kPfP | spec::kPfI);
  EXPECT_EQ(st().cr2, L::kData);
}

TEST_F(PagingModesTest, SmapNeedsAcForSupervisorDataAccess) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_STAC);
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RBX)});  // allowed
  a(ZYDIS_MNEMONIC_CLAC);
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});  // #PF
  go(a, kCr4SMAP);
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(get64(L::kData), L::kData);
  EXPECT_EQ(frame(0), spec::kPfP);
  EXPECT_EQ(frame(1), faulting);
}

TEST_F(PagingModesTest, SmapBlocksImplicitAccessEvenWithAc) {
  // The GDT sits on a user page: a segment load reads it implicitly -> #PF even with AC.
  // Delivering that #PF needs the GDT as well, so the processor ends in a triple fault.
  Asm a;
  a(ZYDIS_MNEMONIC_STAC);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_AX), I(L::kData0)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_DS), R(ZYDIS_REGISTER_AX)});
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  for (uint64_t k = 0; k < 0x40; k += 8) put64(L::kData + k, get64(L::kGdt + k));
  st().gdtr.base = L::kData;
  put64(L::kPd, 0x83);
  st().cr4 |= kCr4SMAP;
  cpu_->state_changed();
  load(L::kCode, a);
  run();
  ASSERT_EQ(cpu_->run_state(), RunState::kShutdown);
  EXPECT_EQ(cpu_->shutdown_info()->rip, faulting);
  EXPECT_EQ(cpu_->shutdown_info()->vector, 14);
}

TEST_F(PagingModesTest, StacIsUndefinedInUserMode) {
  Asm k;
  k(ZYDIS_MNEMONIC_PUSH, {I(L::kUserData)});
  k(ZYDIS_MNEMONIC_PUSH, {I(0x3F0000)});
  k(ZYDIS_MNEMONIC_PUSH, {I(0x2)});
  k(ZYDIS_MNEMONIC_PUSH, {I(L::kUserCode64)});
  k(ZYDIS_MNEMONIC_PUSH, {I(L::kUserCode)});
  k(ZYDIS_MNEMONIC_IRETQ);
  Asm u;
  u(ZYDIS_MNEMONIC_STAC);
  load(L::kUserCode, u);
  go(k);
  ASSERT_TRUE(in_handler(6));
  EXPECT_EQ(frame(0), L::kUserCode);
}

TEST_F(PagingModesTest, NotPresentLeafSetsAccessedOnlyAbove) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData + 0x5000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  enter_long_mode();
  put64(pte_addr(L::kData + 0x5000), (L::kData + 0x5000) | 6);  // not present
  put64(L::kPd + 8, L::kPt | 7);                                // PDE: A clear
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), 0u);
  EXPECT_EQ(get64(L::kPd + 8) & spec::kPteA, spec::kPteA);
  EXPECT_EQ(get64(pte_addr(L::kData + 0x5000)), (L::kData + 0x5000) | 6);
}

TEST_F(PagingModesTest, ProtectionFaultLeavesLeafAccessedClear) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData + 0x6000)});
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX), I(1)});
  enter_long_mode();
  put64(pte_addr(L::kData + 0x6000), (L::kData + 0x6000) | 5);  // read-only
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), spec::kPfP | spec::kPfW);
  EXPECT_EQ(get64(pte_addr(L::kData + 0x6000)) & spec::kPteA, 0u);
}

TEST_F(PagingModesTest, ReservedBitAboveMaxPhysAddr) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData + 0x7000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  enter_long_mode();
  put64(pte_addr(L::kData + 0x7000), (L::kData + 0x7000) | 7 | (1ull << spec::kMaxPhysAddrBits));
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(frame(0), spec::kPfP | spec::kPfRsvd);
}

TEST_F(PagingModesTest, WalkReferencesAreCounted) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData + 0x8000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  go(a);
  InspectNode n;
  cpu_->inspect(n);
  std::string j = n.to_json(0);
  EXPECT_NE(j.find("\"page_walks\":"), std::string::npos) << j;
  // kCode (2 MiB page: 3 entries) and kData+0x8000 (4 KiB page: 4 entries), plus the
  // handler-free run: at least 7 references.
  const InspectNode* tlb = n.find("tlb");
  ASSERT_NE(tlb, nullptr);
  uint64_t refs = 0, walks = 0;
  for (const auto& e : tlb->entries()) {
    if (e.name == "walk_refs") refs = e.counter;
    if (e.name == "page_walks") walks = e.counter;
  }
  EXPECT_GE(walks, 2u);
  EXPECT_GE(refs, 7u);
}

TEST_F(PagingModesTest, Cr4RulesInLongMode) {
  // LA57 cannot change in IA-32e mode; PCIDE needs CR3[11:0] = 0; reserved bits #GP.
  for (uint64_t bad : {kCr4LA57, uint64_t{1} << 11, uint64_t{1} << 25}) {
    Asm a;
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_CR4)});
    a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_RAX), I(static_cast<int64_t>(bad))});
    a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_RAX)});
    go(a);
    EXPECT_TRUE(in_handler(13)) << bad << " rip " << st().rip << " cr4 " << st().cr4;
  }
  Asm b;
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(L::kPml4 | 5)});
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_RAX)});
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_CR4)});
  b(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(static_cast<int64_t>(kCr4PCIDE))});
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_RAX)});
  go(b);
  EXPECT_TRUE(in_handler(13));
}

TEST_F(PagingModesTest, PcidNoFlushAndInvpcid) {
  // PCIDE on with PCID 0, then CR3 with PCID 1 and bit 63 set; INVPCID type 4 is #GP.
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_CR4)});
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(static_cast<int64_t>(kCr4PCIDE))});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_MOV,
    {R(ZYDIS_REGISTER_RAX), I(static_cast<int64_t>(L::kPml4 | 1 | (1ull << 63)))});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDX), R(ZYDIS_REGISTER_CR3)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX), I(1)});  // descriptor: PCID 1
  a(ZYDIS_MNEMONIC_MOV, {M(8, ZYDIS_REGISTER_RBX, 8), I(0)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(1)});
  a(ZYDIS_MNEMONIC_INVPCID, {R(ZYDIS_REGISTER_RCX), M(16, ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(4)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_INVPCID, {R(ZYDIS_REGISTER_RCX), M(16, ZYDIS_REGISTER_RBX)});
  go(a);
  EXPECT_EQ(st().gpr[kRdx], L::kPml4 | 1);  // bit 63 is not stored
  ASSERT_TRUE(in_handler(13));
  EXPECT_EQ(frame(1), faulting);
}

TEST_F(PagingModesTest, LeavingLongModeNeedsCompatibilityMode) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_CR0)});
  a(ZYDIS_MNEMONIC_BTR, {R(ZYDIS_REGISTER_EAX), I(31)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR0), R(ZYDIS_REGISTER_RAX)});
  go(a);
  EXPECT_TRUE(in_handler(13));
  EXPECT_TRUE(st().efer & kEferLMA);
}

TEST_F(PagingModesTest, PaePdpteReservedBitsFaultOnMovCr3) {
  // 32-bit protected mode with PAE paging: a PDPT with a reserved bit -> #GP on MOV CR3.
  build_tables();
  const uint64_t pdpt = 0x40000, pd = 0x41000;
  for (uint64_t k = 0; k < 4; ++k) put64(pdpt + 8 * k, (pd + 0x1000 * k) | 1);
  for (uint64_t k = 0; k < 4; ++k)
    for (uint64_t e = 0; e < 512; ++e)
      put64(pd + 0x1000 * k + 8 * e, ((k << 30) + (e << 21)) | 0x83);
  const uint64_t bad = 0x42000;
  put64(bad, pd | 1 | (1ull << 5));  // PDPTE bit 5 is reserved
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(pdpt)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(0x20)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_CR0)});
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(static_cast<int32_t>(0x80000000))});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR0), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBX), M(4, ZYDIS_REGISTER_NONE, 0x200000)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(bad)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  mem_.store<uint32_t>(0x200000, 0xFEEDF00D);
  ArchState& s = st();
  s.cr0 = kCr0PE | kCr0ET;
  s.seg[kCs] = SegReg{L::kCode32, 0, 0xFFFFFFFF, 0xC09B};
  for (int k : {kSs, kDs, kEs, kFs, kGs}) s.seg[k] = SegReg{L::kData0, 0, 0xFFFFFFFF, 0xC093};
  s.gdtr = TableReg{L::kGdt, 0x3F};
  s.idtr = TableReg{0, 0};  // any exception -> triple fault, RIP recorded
  s.rip = L::kCode;
  s.gpr[kRsp] = L::kStackTop;
  cpu_->state_changed();
  run();
  EXPECT_EQ(st().gpr[kRbx], 0xFEEDF00Du);  // PAE paging works
  ASSERT_EQ(cpu_->run_state(), RunState::kShutdown);
  EXPECT_EQ(cpu_->shutdown_info()->rip, faulting);
  EXPECT_EQ(st().cr3, pdpt);  // unchanged
  InspectNode n;
  cpu_->inspect(n);
  EXPECT_NE(n.to_json(0).find("\"paging\":\"PAE\""), std::string::npos) << n.to_json(0);
}

TEST_F(PagingModesTest, PaeBits62To52AreReservedButIgnoredWith4Level) {
  // SDM Tables 4-9 to 4-11: with PAE paging, bits 62:MAXPHYADDR of a PDE/PTE are reserved;
  // with 4-level paging bits 62:52 are ignored (Tables 4-15 to 4-20).
  build_tables();
  const uint64_t pdpt = 0x40000, pd = 0x41000;
  for (uint64_t k = 0; k < 4; ++k) put64(pdpt + 8 * k, (pd + 0x1000 * k) | 1);
  for (uint64_t k = 0; k < 4; ++k)
    for (uint64_t e = 0; e < 512; ++e)
      put64(pd + 0x1000 * k + 8 * e, ((k << 30) + (e << 21)) | 0x83);
  put64(pd + 8, 0x200000 | 0x83 | (1ull << 52));  // [2 MiB, 4 MiB): bit 52 set
  Asm a(ZYDIS_MACHINE_MODE_LEGACY_32);
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(pdpt)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR3), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(0x20)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR4), R(ZYDIS_REGISTER_EAX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_CR0)});
  a(ZYDIS_MNEMONIC_OR, {R(ZYDIS_REGISTER_EAX), I(static_cast<int32_t>(0x80000000))});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_CR0), R(ZYDIS_REGISTER_EAX)});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBX), M(4, ZYDIS_REGISTER_NONE, 0x200010)});
  a(ZYDIS_MNEMONIC_HLT);
  load(L::kCode, a);
  ArchState& s = st();
  s.cr0 = kCr0PE | kCr0ET;
  s.seg[kCs] = SegReg{L::kCode32, 0, 0xFFFFFFFF, 0xC09B};
  for (int k : {kSs, kDs, kEs, kFs, kGs}) s.seg[k] = SegReg{L::kData0, 0, 0xFFFFFFFF, 0xC093};
  s.gdtr = TableReg{L::kGdt, 0x3F};
  s.idtr = TableReg{0, 0};  // the #PF -> triple fault, RIP recorded
  s.rip = L::kCode;
  s.gpr[kRsp] = L::kStackTop;
  cpu_->state_changed();
  run();
  ASSERT_EQ(cpu_->run_state(), RunState::kShutdown);
  EXPECT_EQ(cpu_->shutdown_info()->rip, faulting);
  EXPECT_EQ(st().cr2, 0x200010u);  // a #PF started the triple fault

  // 4-level paging: the same bit in a PTE is ignored.
  Asm b;
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  b(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  cpu_->set_run_state(RunState::kRunning);
  put64(pte_addr(L::kData), L::kData | 7 | (1ull << 52) | (1ull << 62));
  put64(L::kData, 0x5151);
  cpu_->state_changed();
  load(L::kCode, b);
  run();
  EXPECT_EQ(st().gpr[kRax], 0x5151u);
  EXPECT_EQ(st().rip, L::kCode + b.size());
}

TEST_F(PagingModesTest, FiveLevelPagingWalksAndWidensCanonicalAddresses) {
  // CR3 -> PML5 whose entry 0 is the fixture's PML4. 1 << 48 is canonical with LA57 and
  // walks PML5[1] (not present: #PF); 1 << 56 is not canonical (#GP).
  const uint64_t pml5 = 0x24000;
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(L::kData)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), M(8, ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(static_cast<int64_t>(1ull << 48))});
  uint64_t faulting = L::kCode + a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), M(8, ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  put64(pml5, L::kPml4 | 7);
  put64(L::kData, 0xABCD);
  st().cr3 = pml5;
  st().cr4 |= kCr4LA57;
  cpu_->state_changed();
  load(L::kCode, a);
  run();
  EXPECT_EQ(st().gpr[kRax], 0xABCDu);
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(st().cr2, 1ull << 48);
  EXPECT_EQ(frame(1), faulting);
  InspectNode n;
  cpu_->inspect(n);
  EXPECT_NE(n.to_json(0).find("\"paging\":\"5-level\""), std::string::npos);

  Asm b;
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), I(static_cast<int64_t>(1ull << 56))});
  b(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RCX), M(8, ZYDIS_REGISTER_RBX)});
  b(ZYDIS_MNEMONIC_HLT);
  enter_long_mode();
  st().cr3 = pml5;
  st().cr4 |= kCr4LA57;
  cpu_->set_run_state(RunState::kRunning);
  cpu_->state_changed();
  load(L::kCode, b);
  run();
  EXPECT_TRUE(in_handler(13));
}

TEST_F(PagingModesTest, IretTargetIsCanonicalFor57BitsWithLa57) {
  // IRETQ to 1 << 48: canonical with LA57 (the fetch then walks PML5[1], not present: #PF),
  // where the 48-bit rule would give #GP(0) (SDM Vol. 2 IRET, 3.3.7.1).
  const uint64_t pml5 = 0x24000, target = 1ull << 48;
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RSP)});
  a(ZYDIS_MNEMONIC_PUSH, {I(L::kData0)});
  a(ZYDIS_MNEMONIC_PUSH, {R(ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_PUSHFQ);
  a(ZYDIS_MNEMONIC_PUSH, {I(L::kCode64)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RAX), I(static_cast<int64_t>(target))});
  a(ZYDIS_MNEMONIC_PUSH, {R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_IRETQ);
  enter_long_mode();
  put64(pml5, L::kPml4 | 7);
  st().cr3 = pml5;
  st().cr4 |= kCr4LA57;
  cpu_->state_changed();
  load(L::kCode, a);
  run();
  ASSERT_TRUE(in_handler(14));
  EXPECT_EQ(st().cr2, target);
  EXPECT_EQ(frame(1), target);
}

TEST_F(PagingModesTest, CpuidAdvertisesImplementedPagingFeatures) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(7)});
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_ECX), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_CPUID);
  go(a);
  EXPECT_TRUE(st().gpr[kRbx] & (1u << 7));   // SMEP
  EXPECT_TRUE(st().gpr[kRbx] & (1u << 10));  // INVPCID
  EXPECT_TRUE(st().gpr[kRbx] & (1u << 20));  // SMAP
  EXPECT_TRUE(st().gpr[kRcx] & (1u << 16));  // LA57
  EXPECT_FALSE(st().gpr[kRcx] & (1u << 3));  // no PKU
}

}  // namespace
}  // namespace hvsim::cpu::testing
