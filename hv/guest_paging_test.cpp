// Tests of the guest page-table walk and segmentation used by the instruction emulator
// (Intel SDM Vol. 3A 4.3-4.8, 3.4.5, 5.3): every paging mode, large pages, rights, A/D.
#include "hv/guest_paging.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"

namespace hvsim::hv {
namespace {

using namespace cpu::spec;

/// 8 MiB of guest RAM at GPA 0; everything above is "device memory".
class Ram final : public GuestPhysMemory {
 public:
  std::vector<uint8_t> b = std::vector<uint8_t>(8 << 20);
  uint64_t next = 0x10000;  ///< bump allocator for tables
  bool read(uint64_t gpa, void* out, unsigned len) override {
    if (!is_ram(gpa)) return false;
    std::memcpy(out, &b[gpa], len);
    return true;
  }
  bool write(uint64_t gpa, const void* in, unsigned len) override {
    if (!is_ram(gpa)) return false;
    std::memcpy(&b[gpa], in, len);
    return true;
  }
  bool is_ram(uint64_t gpa) const override { return gpa + 8 <= b.size(); }
  uint64_t table() {
    uint64_t t = next;
    next += 4096;
    return t;
  }
  uint64_t q(uint64_t a) const {
    uint64_t v;
    std::memcpy(&v, &b[a], 8);
    return v;
  }
  void set_q(uint64_t a, uint64_t v) { std::memcpy(&b[a], &v, 8); }
  uint32_t d(uint64_t a) const {
    uint32_t v;
    std::memcpy(&v, &b[a], 4);
    return v;
  }
  void set_d(uint64_t a, uint32_t v) { std::memcpy(&b[a], &v, 4); }
};

constexpr uint64_t kPRW = kPteP | kPteRW, kPRWU = kPteP | kPteRW | kPteUS;

/// Builds 4-/5-level (or PAE below the PDPT) tables mapping `la` to `pa`, leaf at `level`
/// (0: 4 KiB, 1: 2 MiB, 2: 1 GiB), with `leaf_bits` on the leaf and `upper` on the others.
uint64_t map_long(Ram& m, uint64_t root, unsigned levels, uint64_t la, uint64_t pa,
                  unsigned leaf_level, uint64_t leaf_bits, uint64_t upper = kPRWU) {
  uint64_t table = root;
  for (int level = static_cast<int>(levels) - 1;; --level) {
    uint64_t slot = table + ((la >> (12 + 9 * level)) & 0x1FF) * 8;
    if (level == static_cast<int>(leaf_level)) {
      m.set_q(slot, pa | leaf_bits | (level ? kPtePS : 0));
      return slot;
    }
    uint64_t e = m.q(slot);
    if (!(e & kPteP)) {
      e = m.table() | upper;
      m.set_q(slot, e);
    }
    table = e & kPteAddrMask;
  }
}

PagingRegs long_regs(uint64_t cr3, bool la57 = false) {
  PagingRegs r;
  r.cr0 = 0x80010011;  // PG, WP, ET, PE
  r.cr4 = 0x20 | (la57 ? 0x1000 : 0);
  r.efer = 0xD00;  // LME, LMA, NXE
  r.cr3 = cr3;
  return r;
}

TEST(GuestPaging, NoPagingIsIdentityWithin4GiB) {
  Ram m;
  PagingRegs r;
  r.cr0 = 1;
  GuestTranslation t = translate_linear(m, r, 0x1'2345'6789, GuestAccess::kWrite);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0x2345'6789u);
  EXPECT_EQ(guest_paging_mode(r), PagingMode::kNone);
}

TEST(GuestPaging, ThirtyTwoBitSmallAndLargePagesSetAccessedAndDirty) {
  Ram m;
  uint64_t pd = m.table(), pt = m.table();
  m.set_d(pd + (0x00400000 >> 22) * 4, static_cast<uint32_t>(pt | kPRWU));
  m.set_d(pt + ((0x00401000 >> 12) & 0x3FF) * 4, 0x00123000 | kPRWU);
  // 4 MiB page at 0x0C000000 -> 0x1'0080'0000 (PSE-36: PDE bits 20:13 = PA bits 39:32)
  m.set_d(pd + (0x0C000000 >> 22) * 4, 0x00800000 | (1u << 13) | kPRW | kPtePS);
  PagingRegs r;
  r.cr0 = 0x80000011;
  r.cr4 = 0x10;  // PSE
  r.cr3 = pd;
  EXPECT_EQ(guest_paging_mode(r), PagingMode::k32Bit);
  GuestTranslation t = translate_linear(m, r, 0x00401ABC, GuestAccess::kRead);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0x00123ABCu);
  EXPECT_TRUE(m.d(pt + 1 * 4) & kPteA);
  EXPECT_FALSE(m.d(pt + 1 * 4) & kPteD);  // a read sets no D
  t = translate_linear(m, r, 0x00401ABC, GuestAccess::kWrite);
  EXPECT_TRUE(m.d(pt + 1 * 4) & kPteD);
  EXPECT_FALSE(m.d(pd + 4) & kPteD);  // D only on the leaf
  t = translate_linear(m, r, 0x0C345678, GuestAccess::kRead);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0x1'00B4'5678u);
  // Without CR4.PSE the same PDE points at a page table.
  r.cr4 = 0;
  t = translate_linear(m, r, 0x0C000000, GuestAccess::kRead);
  EXPECT_NE(t.gpa, 0x1'0080'0000u);
}

TEST(GuestPaging, ThirtyTwoBitRightsAndErrorCodes) {
  Ram m;
  uint64_t pd = m.table(), pt = m.table();
  m.set_d(pd, static_cast<uint32_t>(pt | kPRWU));
  m.set_d(pt + 4 * 1, 0x5000 | kPteP | kPteUS);  // user, read-only
  m.set_d(pt + 4 * 2, 0x6000 | kPRW);            // supervisor
  PagingRegs r;
  r.cr0 = 0x80000011;
  r.cr3 = pd;
  r.cpl = 3;
  GuestTranslation t = translate_linear(m, r, 0x1000, GuestAccess::kWrite);
  ASSERT_FALSE(t.ok);
  EXPECT_EQ(t.fault.vector, 14);
  EXPECT_EQ(t.fault.error, kPfP | kPfW | kPfU);
  EXPECT_EQ(t.fault.cr2, 0x1000u);
  EXPECT_FALSE(m.d(pt + 4) & kPteA);  // the faulting leaf is left alone
  EXPECT_TRUE(m.d(pd) & kPteA);       // the PDE above it was used
  t = translate_linear(m, r, 0x2000, GuestAccess::kRead);
  EXPECT_EQ(t.fault.error, kPfP | kPfU);
  t = translate_linear(m, r, 0x3000, GuestAccess::kRead);  // not present
  EXPECT_EQ(t.fault.error, kPfU);
  // Supervisor writes to read-only pages: allowed with CR0.WP = 0, #PF with WP = 1.
  r.cpl = 0;
  EXPECT_TRUE(translate_linear(m, r, 0x1000, GuestAccess::kWrite).ok);
  r.cr0 |= cpu::kCr0WP;
  t = translate_linear(m, r, 0x1000, GuestAccess::kWrite);
  EXPECT_EQ(t.fault.error, kPfP | kPfW);
  // Implicit supervisor accesses ignore CPL.
  r.cpl = 3;
  EXPECT_TRUE(translate_linear(m, r, 0x2000, GuestAccess::kRead, true).ok);
}

TEST(GuestPaging, PaeUsesPdpteRegistersLargePagesNxAndReservedBits) {
  Ram m;
  uint64_t pd = m.table(), pt = m.table();
  PagingRegs r;
  r.cr0 = 0x80000011;
  r.cr4 = 0x20;
  r.efer = cpu::kEferNXE;
  r.pdpte[1] = pd | kPteP;
  EXPECT_EQ(guest_paging_mode(r), PagingMode::kPae);
  m.set_q(pd + 8 * 0, pt | kPRWU);
  m.set_q(pt + 8 * 3, 0x7000 | kPRW | kPteXD);
  m.set_q(pd + 8 * 5, 0x00A00000 | kPRW | kPtePS);  // 2 MiB
  m.set_q(pd + 8 * 6, 0x00C00000 | kPRW | kPtePS | (1ull << 62));
  GuestTranslation t = translate_linear(m, r, 0x40003123, GuestAccess::kRead);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0x7123u);
  t = translate_linear(m, r, 0x40003123, GuestAccess::kFetch);
  EXPECT_EQ(t.fault.error, kPfP | kPfI);
  t = translate_linear(m, r, 0x40A12345, GuestAccess::kRead);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0xA12345u);
  t = translate_linear(m, r, 0x40C00000, GuestAccess::kRead);  // bit 62 reserved with PAE
  EXPECT_EQ(t.fault.error, kPfP | kPfRsvd);
  t = translate_linear(m, r, 0x00000000, GuestAccess::kRead);  // PDPTE 0 not present
  EXPECT_EQ(t.fault.error, 0u);
  // XD without EFER.NXE is a reserved bit.
  r.efer = 0;
  t = translate_linear(m, r, 0x40003123, GuestAccess::kRead);
  EXPECT_EQ(t.fault.error, kPfP | kPfRsvd);
}

TEST(GuestPaging, FourLevelPagesOfEverySize) {
  Ram m;
  uint64_t root = m.table();
  uint64_t leaf4k = map_long(m, root, 4, 0x7F00'1234'5000, 0x3000, 0, kPRWU);
  map_long(m, root, 4, 0x7F00'4000'0000 + (3 << 21), 0x600000, 1, kPRWU);
  map_long(m, root, 4, 0xFFFF'8000'4000'0000, 0x40000000, 2, kPRW);
  PagingRegs r = long_regs(root);
  EXPECT_EQ(guest_paging_mode(r), PagingMode::k4Level);
  GuestTranslation t = translate_linear(m, r, 0x7F00'1234'5678, GuestAccess::kWrite);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0x3678u);
  EXPECT_EQ(m.q(leaf4k) & (kPteA | kPteD), kPteA | kPteD);
  t = translate_linear(m, r, 0x7F00'4000'0000 + (3 << 21) + 0x1234, GuestAccess::kRead);
  EXPECT_EQ(t.gpa, 0x601234u);
  t = translate_linear(m, r, 0xFFFF'8000'4ABC'DEF0, GuestAccess::kRead);
  EXPECT_EQ(t.gpa, 0x4ABC'DEF0u);
  // A PS bit in a PML4E is reserved.
  uint64_t pml4e = root + ((0xFFFF'8000'4000'0000 >> 39) & 0x1FF) * 8;
  m.set_q(pml4e, m.q(pml4e) | kPtePS);
  t = translate_linear(m, r, 0xFFFF'8000'4ABC'DEF0, GuestAccess::kRead);
  EXPECT_EQ(t.fault.error, kPfP | kPfRsvd);
  // Physical-address bits at or above MAXPHYADDR are reserved.
  m.set_q(leaf4k, m.q(leaf4k) | (1ull << kMaxPhysAddrBits));
  t = translate_linear(m, r, 0x7F00'1234'5678, GuestAccess::kRead);
  EXPECT_EQ(t.fault.error, kPfP | kPfRsvd);
}

TEST(GuestPaging, FiveLevelUsesBits56To48) {
  Ram m;
  uint64_t root = m.table();
  uint64_t la = 0x00AB'CDEF'1234'5000;  // bits 56:48 non-zero
  map_long(m, root, 5, la, 0x9000, 0, kPRW);
  PagingRegs r = long_regs(root, true);
  EXPECT_EQ(guest_paging_mode(r), PagingMode::k5Level);
  GuestTranslation t = translate_linear(m, r, la + 0x10, GuestAccess::kRead);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.gpa, 0x9010u);
  // The same address under 4-level paging would use other tables: the walk fails.
  r.cr4 &= ~cpu::kCr4LA57;
  EXPECT_FALSE(translate_linear(m, r, la + 0x10, GuestAccess::kRead).ok);
}

TEST(GuestPaging, SmepAndSmap) {
  Ram m;
  uint64_t root = m.table();
  map_long(m, root, 4, 0x400000, 0x5000, 0, kPRWU);  // a user page
  PagingRegs r = long_regs(root);
  r.cr4 |= cpu::kCr4SMEP | cpu::kCr4SMAP;
  GuestTranslation t = translate_linear(m, r, 0x400000, GuestAccess::kFetch);
  EXPECT_EQ(t.fault.error, kPfP | kPfI);
  t = translate_linear(m, r, 0x400000, GuestAccess::kRead);
  EXPECT_EQ(t.fault.error, kPfP);
  r.rflags |= cpu::kFlagAC;  // explicit supervisor access with AC = 1: allowed
  EXPECT_TRUE(translate_linear(m, r, 0x400000, GuestAccess::kWrite).ok);
  EXPECT_FALSE(translate_linear(m, r, 0x400000, GuestAccess::kRead, true).ok);  // implicit
  r.cpl = 3;
  EXPECT_TRUE(translate_linear(m, r, 0x400000, GuestAccess::kFetch).ok);
}

TEST(GuestPaging, TablesOutsideRamStopTheWalk) {
  Ram m;
  uint64_t root = m.table();
  m.set_q(root, 0xF000'0000 | kPRW);  // PML4E pointing at device memory
  bool not_ram = false;
  GuestTranslation t =
      translate_linear(m, long_regs(root), 0x1000, GuestAccess::kRead, false, &not_ram);
  EXPECT_FALSE(t.ok);
  EXPECT_TRUE(not_ram);
}

TEST(GuestSegments, LimitsTypesAndCanonicalAddresses) {
  uint64_t la = 0;
  GuestFault f;
  cpu::SegReg ds{0x10, 0x1000, 0xFFF, 0xC093};  // writable data, limit 4 KiB
  EXPECT_TRUE(segment_linear(ds, cpu::kDs, false, 0xFFC, 4, 4, GuestAccess::kWrite, 48, &la, &f));
  EXPECT_EQ(la, 0x1FFCu);
  EXPECT_FALSE(segment_linear(ds, cpu::kDs, false, 0xFFD, 4, 4, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(f.vector, 13);
  cpu::SegReg ss = ds;
  EXPECT_FALSE(segment_linear(ss, cpu::kSs, false, 0x1000, 1, 4, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(f.vector, 12);
  cpu::SegReg ro{0x10, 0, 0xFFFFFFFF, 0xC091};  // read-only data
  EXPECT_FALSE(segment_linear(ro, cpu::kEs, false, 0, 1, 4, GuestAccess::kWrite, 48, &la, &f));
  cpu::SegReg xo{0x8, 0, 0xFFFFFFFF, 0xC099};  // execute-only code
  EXPECT_FALSE(segment_linear(xo, cpu::kCs, false, 0, 1, 4, GuestAccess::kRead, 48, &la, &f));
  EXPECT_TRUE(segment_linear(xo, cpu::kCs, false, 0, 1, 4, GuestAccess::kFetch, 48, &la, &f));
  cpu::SegReg down{0x10, 0, 0xFFF, 0xC097};  // expand-down: offsets above the limit
  EXPECT_FALSE(segment_linear(down, cpu::kDs, false, 0xFFF, 1, 4, GuestAccess::kRead, 48, &la, &f));
  EXPECT_TRUE(segment_linear(down, cpu::kDs, false, 0x1000, 1, 4, GuestAccess::kRead, 48, &la, &f));
  cpu::SegReg unusable{0, 0, 0, 0x10000};
  EXPECT_FALSE(segment_linear(unusable, cpu::kDs, false, 0, 1, 4, GuestAccess::kRead, 48, &la, &f));
  // 16-bit address size wraps the offset.
  cpu::SegReg real{0x1000, 0x10000, 0xFFFF, 0x93};
  EXPECT_TRUE(
      segment_linear(real, cpu::kDs, false, 0x1'0010, 2, 2, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(la, 0x10010u);
  // 64-bit mode: no limits, FS/GS bases only, canonical addresses.
  cpu::SegReg fs{0, 0x7000'0000'0000, 0, 0x10000};
  EXPECT_TRUE(segment_linear(fs, cpu::kFs, true, 0x10, 8, 8, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(la, 0x7000'0000'0010u);
  EXPECT_TRUE(segment_linear(ds, cpu::kDs, true, 0x10, 8, 8, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(la, 0x10u);
  EXPECT_FALSE(
      segment_linear(fs, cpu::kFs, true, 0x1000'0000'0000, 8, 8, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(f.vector, 13);
  EXPECT_TRUE(
      segment_linear(fs, cpu::kFs, true, 0x1000'0000'0000, 8, 8, GuestAccess::kRead, 57, &la, &f));
  EXPECT_FALSE(
      segment_linear(ss, cpu::kSs, true, 0x8000'0000'0000, 8, 8, GuestAccess::kRead, 48, &la, &f));
  EXPECT_EQ(f.vector, 12);
}

}  // namespace
}  // namespace hvsim::hv
