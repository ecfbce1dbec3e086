// Guest page-table walk and segmentation for the instruction emulator (Intel SDM Vol. 3A
// 4.3-4.8 paging, 3.4.5 and 5.3 segment limits and types, 3.3.7.1 canonical addresses).
// The rules are those of the processor's walk, cpu/paging_walk.cpp, applied to tables read
// through the partition's guest-physical memory.
#include "hv/guest_paging.h"

#include <initializer_list>

#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"

namespace hvsim::hv {

using namespace cpu::spec;
using cpu::spec::PagingMode;

PagingMode guest_paging_mode(const PagingRegs& r) {
  if (!(r.cr0 & cpu::kCr0PG)) return PagingMode::kNone;
  if (!(r.cr4 & cpu::kCr4PAE)) return PagingMode::k32Bit;
  if (!(r.efer & cpu::kEferLME)) return PagingMode::kPae;
  return (r.cr4 & cpu::kCr4LA57) ? PagingMode::k5Level : PagingMode::k4Level;
}

namespace {

struct Used {
  uint64_t gpa, value;
};

}  // namespace

GuestTranslation translate_linear(GuestPhysMemory& mem, const PagingRegs& r, uint64_t la,
                                  GuestAccess acc, bool implicit, bool* table_not_ram) {
  GuestTranslation t;
  if (table_not_ram) *table_not_ram = false;
  const PagingMode pm = guest_paging_mode(r);
  if (pm == PagingMode::kNone) {
    t.ok = true;
    t.gpa = la & 0xFFFFFFFF;
    return t;
  }
  const bool write = acc == GuestAccess::kWrite, fetch = acc == GuestAccess::kFetch;
  const bool user = !implicit && r.cpl == 3;
  const bool legacy = pm == PagingMode::k32Bit;
  const bool nxe = !legacy && (r.efer & cpu::kEferNXE);  // no NX with 32-bit paging (4.3)
  const bool smep = r.cr4 & cpu::kCr4SMEP, smap = r.cr4 & cpu::kCr4SMAP;
  const unsigned esize = legacy ? 4 : 8;
  Used used[5];
  int n = 0;
  bool us = true, rw = true, xd = false;
  bool broken = false;

  auto write_entry = [&](const Used& u, uint64_t v) { mem.write(u.gpa, &v, esize); };
  // A faulting walk sets A in the entries above the faulting one (SDM 4.7, 4.8).
  auto fault = [&](uint32_t bits, int accessed) {
    for (int k = 0; k < accessed; ++k)
      if (!(used[k].value & kPteA)) write_entry(used[k], used[k].value | kPteA);
    uint32_t err = bits | (write ? kPfW : 0) | (user ? kPfU : 0);
    if (fetch && (nxe || smep)) err |= kPfI;
    t.ok = false;
    t.fault = GuestFault{static_cast<uint8_t>(Vector::kPF), true, err, la};
    return t;
  };
  auto read = [&](uint64_t gpa) {
    uint64_t v = 0;
    if (!mem.read(gpa, &v, esize)) broken = true;
    return v;
  };
  auto use = [&](uint64_t gpa, uint64_t e) {
    used[n++] = Used{gpa, e};
    us &= (e & kPteUS) != 0;
    rw &= (e & kPteRW) != 0;
    xd |= (e & kPteXD) != 0;
  };
  auto stop = [&] {
    if (table_not_ram) *table_not_ram = true;
    t.ok = false;
    return t;
  };

  uint64_t page_pa = 0, page_size = 4096;
  if (legacy) {
    la &= 0xFFFFFFFF;
    uint64_t pde_pa = (r.cr3 & 0xFFFFF000) + ((la >> 22) & 0x3FF) * 4;
    uint64_t pde = read(pde_pa);
    if (broken) return stop();
    if (!(pde & kPteP)) return fault(0, n);
    if ((pde & kPtePS) && (r.cr4 & cpu::kCr4PSE)) {
      if (pde & kPde4MReserved) return fault(kPfP | kPfRsvd, n);
      use(pde_pa, pde);
      page_size = 4ull << 20;
      page_pa = (pde & 0xFFC00000) | (((pde >> 13) & 0xFF) << 32);
    } else {
      use(pde_pa, pde);
      uint64_t pte_pa = (pde & 0xFFFFF000) + ((la >> 12) & 0x3FF) * 4;
      uint64_t pte = read(pte_pa);
      if (broken) return stop();
      if (!(pte & kPteP)) return fault(0, n);
      use(pte_pa, pte);
      page_pa = pte & 0xFFFFF000;
    }
  } else {
    uint64_t table;
    int level;
    if (pm == PagingMode::kPae) {
      la &= 0xFFFFFFFF;
      uint64_t pdpte = r.pdpte[(la >> 30) & 3];  // registers: no memory access (4.4.1)
      if (!(pdpte & kPteP)) return fault(0, n);
      table = pdpte & kPteAddrMask;
      level = 1;
    } else {
      table = r.cr3 & kPteAddrMask;
      level = pm == PagingMode::k5Level ? 4 : 3;
    }
    const uint64_t xd_reserved = nxe ? 0 : kPteXD;
    const uint64_t pae_reserved = pm == PagingMode::kPae ? kPtePaeHighReserved : 0;
    for (;; --level) {
      uint64_t epa = table + ((la >> (12 + 9 * level)) & 0x1FF) * 8;
      uint64_t e = read(epa);
      if (broken) return stop();
      if (!(e & kPteP)) return fault(0, n);
      bool leaf = level == 0 || (e & kPtePS);
      uint64_t rsvd = kPteHighReserved | pae_reserved | xd_reserved;
      if (level >= 3) rsvd |= kPtePS;              // PML5E/PML4E.PS is reserved
      if (leaf && level == 2) rsvd |= 0x3FFFE000;  // 1 GiB page: bits 29:13
      if (leaf && level == 1) rsvd |= 0x1FE000;    // 2 MiB page: bits 20:13
      if (e & rsvd) return fault(kPfP | kPfRsvd, n);
      use(epa, e);
      if (leaf) {
        page_size = 1ull << (12 + 9 * level);
        page_pa = e & kPteAddrMask & ~(page_size - 1);
        break;
      }
      table = e & kPteAddrMask;
    }
  }
  const bool nx = nxe && xd;
  // Access rights (SDM 4.6); every denial reports P = 1 and sets A only above the leaf.
  const bool wp = r.cr0 & cpu::kCr0WP, ac = r.rflags & cpu::kFlagAC;
  if (user) {
    if (!us || (write && !rw) || (fetch && nx)) return fault(kPfP, n - 1);
  } else if (fetch) {
    if (nx || (smep && us)) return fault(kPfP, n - 1);
  } else {
    if (smap && us && (implicit || r.cpl == 3 || !ac)) return fault(kPfP, n - 1);
    if (write && !rw && wp) return fault(kPfP, n - 1);
  }
  for (int k = 0; k < n; ++k) {
    uint64_t e = used[k].value, ne = e | kPteA;
    if (k == n - 1 && write) ne |= kPteD;
    if (ne != e) write_entry(used[k], ne);
  }
  t.ok = true;
  t.gpa = page_pa | (la & (page_size - 1));
  return t;
}

bool segment_linear(const cpu::SegReg& s, unsigned seg, bool long64, uint64_t offset, unsigned size,
                    unsigned addr_bytes, GuestAccess acc, unsigned la_bits, uint64_t* la,
                    GuestFault* fault) {
  const uint8_t vec = static_cast<uint8_t>(seg == cpu::kSs ? Vector::kSS : Vector::kGP);
  *fault = GuestFault{vec, true, 0, 0};
  if (addr_bytes < 8) offset &= addr_bytes == 2 ? 0xFFFF : 0xFFFFFFFF;
  if (long64) {
    // Only FS and GS have bases in 64-bit mode; the address must be canonical (3.3.7.1).
    uint64_t a = offset + ((seg == cpu::kFs || seg == cpu::kGs) ? s.base : 0);
    for (uint64_t end : {a, a + size - 1}) {
      auto sx =
          static_cast<uint64_t>(static_cast<int64_t>(end << (64 - la_bits)) >> (64 - la_bits));
      if (sx != end) return false;
    }
    *la = a;
    return true;
  }
  if (s.attr & 0x10000) return false;  // unusable (null selector)
  unsigned type = s.attr & 0xF;
  bool code = type & 8;
  if (acc == GuestAccess::kWrite && (code || !(type & 2))) return false;
  if (acc == GuestAccess::kRead && code && !(type & 2)) return false;
  uint64_t last = offset + size - 1;
  if (!code && (type & 4)) {  // expand-down: offsets above the limit are valid
    uint64_t upper = (s.attr & 0x4000) ? 0xFFFFFFFF : 0xFFFF;
    if (offset <= s.limit || last > upper) return false;
  } else if (last > s.limit) {
    return false;
  }
  *la = (s.base + offset) & 0xFFFFFFFF;
  return true;
}

}  // namespace hvsim::hv
