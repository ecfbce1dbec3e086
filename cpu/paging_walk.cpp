// The paging-structure walk: 32-bit (PSE, PSE-36), PAE (PDPTEs cached at CR3 load),
// 4-level and 5-level paging with 2 MiB/4 MiB/1 GiB pages; reserved bits relative to
// MAXPHYADDR, U/S, R/W, NX, WP, SMEP, SMAP, A/D updates and #PF error codes
// (Intel SDM Vol. 3A ch. 4: 4.3-4.8, 4.4.1 PDPTE registers).
#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

using namespace spec;

bool CpuImpl::load_pdptes(uint64_t cr3, uint64_t out[4]) {
  uint64_t base = cr3 & 0xFFFFFFE0;
  for (unsigned k = 0; k < 4; ++k) {
    uint64_t pa = base + 8 * k;
    // Under EPT the PDPTEs are read at guest-physical addresses (no linear address).
    if (ept_active()) [[unlikely]]
      pa = vmx_->ept_pdpte(pa);
    uint64_t e = phys_read(pa, 8);
    if ((e & kPteP) && (e & kPdpteReserved)) return false;
    out[k] = e;
  }
  return true;
}

namespace {

/// One entry used by the walk: where it is and what it held.
struct Used {
  uint64_t pa;  ///< guest-physical under EPT
  uint64_t hpa;
  uint64_t value;
};

}  // namespace

CpuImpl::WalkResult CpuImpl::walk(uint64_t la, Access acc, bool user, bool implicit) {
  const PagingMode pm = paging_mode();
  const bool write = acc == Access::kWrite, fetch = acc == Access::kFetch;
  const bool legacy = pm == PagingMode::k32Bit;
  // EFER.NXE has no effect with 32-bit paging (SDM 4.3).
  const bool nxe = !legacy && (s_.efer & kEferNXE);
  const bool smep = (s_.cr4 & kCr4SMEP) != 0, smap = (s_.cr4 & kCr4SMAP) != 0;
  const unsigned esize = legacy ? 4 : 8;
  ++page_walks_;
  last_walk_refs_ = 0;
  cycles_ += timing_.tlb_miss;  // the walk's references are charged as they are made

  Used used[5];
  int n = 0;  // entries used so far (all present, no reserved bits)
  bool us = true, rw = true, xd = false;

  // Sets A in the entries a faulting walk got through, then raises #PF (SDM 4.7, 4.8:
  // entries above the faulting level were used; the faulting one is left as it was).
  // Under EPT every paging-structure access is a guest-physical access (SDM 29.3.2): reads
  // translate with read rights (write rights with EPT A/D flags, 29.3.5), A/D updates with
  // write rights.
  const bool ept = ept_active();
  uint64_t last_hpa = 0;
  auto write_entry = [&](const Used& u, uint64_t v) {
    uint64_t hpa = u.hpa;
    if (ept) [[unlikely]]
      hpa = vmx_->ept_paging(u.pa, la, true);
    phys_write(hpa, esize, v);
  };
  auto fault = [&](uint32_t bits, int accessed) {
    for (int k = 0; k < accessed; ++k) {
      if (!(used[k].value & kPteA)) write_entry(used[k], used[k].value | kPteA);
    }
    walk_refs_ += last_walk_refs_;
    uint32_t err = bits | (write ? kPfW : 0) | (user ? kPfU : 0);
    // I/D is reported for fetches only if NX or SMEP can cause fetch faults (SDM 4.7).
    if (fetch && (nxe || smep)) err |= kPfI;
    // CR2 is written when the #PF is delivered, not if it causes a VM exit (SDM 28.1).
    throw Fault{static_cast<uint8_t>(Vector::kPF), true, err, false, false, la};
  };
  auto read = [&](uint64_t pa) {
    ++last_walk_refs_;
    cycles_ += timing_.walk_reference;
    last_hpa = ept ? vmx_->ept_paging(pa, la, false) : pa;
    return phys_read(last_hpa, esize);
  };
  auto use = [&](uint64_t pa, uint64_t e) {
    used[n++] = Used{pa, last_hpa, e};
    us &= (e & kPteUS) != 0;
    rw &= (e & kPteRW) != 0;
    xd |= (e & kPteXD) != 0;
  };

  uint64_t page_pa = 0, page_size = 4096;
  bool global = false;
  if (legacy) {
    uint64_t pde_pa = (s_.cr3 & 0xFFFFF000) + ((la >> 22) & 0x3FF) * 4;
    uint64_t pde = read(pde_pa);
    if (!(pde & kPteP)) fault(0, n);
    if ((pde & kPtePS) && (s_.cr4 & kCr4PSE)) {
      // 4 MiB page; bits 20:13 hold physical-address bits 39:32 (PSE-36).
      if (pde & kPde4MReserved) fault(kPfP | kPfRsvd, n);
      use(pde_pa, pde);
      page_size = 4ull << 20;
      page_pa = (pde & 0xFFC00000) | (((pde >> 13) & 0xFF) << 32);
      global = pde & kPteG;
    } else {
      use(pde_pa, pde);
      uint64_t pte_pa = (pde & 0xFFFFF000) + ((la >> 12) & 0x3FF) * 4;
      uint64_t pte = read(pte_pa);
      if (!(pte & kPteP)) fault(0, n);
      use(pte_pa, pte);
      page_pa = pte & 0xFFFFF000;
      global = pte & kPteG;
    }
  } else {
    uint64_t table;
    int level;
    if (pm == PagingMode::kPae) {
      // The PDPTE comes from the registers loaded at the MOV to CR3 (no memory access);
      // its reserved bits were checked then. It has no R/W, U/S or XD bits.
      uint64_t pdpte = s_.pdpte[(la >> 30) & 3];
      if (!(pdpte & kPteP)) fault(0, n);
      table = pdpte & kPteAddrMask;
      level = 1;
    } else {
      table = s_.cr3 & kPteAddrMask;
      level = pm == PagingMode::k5Level ? 4 : 3;
    }
    const uint64_t xd_reserved = nxe ? 0 : kPteXD;
    const uint64_t pae_reserved = pm == PagingMode::kPae ? kPtePaeHighReserved : 0;
    for (;; --level) {
      uint64_t epa = table + ((la >> (12 + 9 * level)) & 0x1FF) * 8;
      uint64_t e = read(epa);
      if (!(e & kPteP)) fault(0, n);
      bool leaf = level == 0 || (e & kPtePS);
      uint64_t rsvd = kPteHighReserved | pae_reserved | xd_reserved;
      if (level >= 3) rsvd |= kPtePS;              // PML5E/PML4E.PS is reserved
      if (leaf && level == 2) rsvd |= 0x3FFFE000;  // 1 GiB page: bits 29:13
      if (leaf && level == 1) rsvd |= 0x1FE000;    // 2 MiB page: bits 20:13
      if (e & rsvd) fault(kPfP | kPfRsvd, n);
      use(epa, e);
      if (leaf) {
        page_size = 1ull << (12 + 9 * level);
        page_pa = e & kPteAddrMask & ~(page_size - 1);
        global = e & kPteG;
        break;
      }
      table = e & kPteAddrMask;
    }
  }
  const bool nx = nxe && xd;

  // Access rights (SDM 4.6). Every denial reports P=1; A is set only above the leaf.
  const bool wp = (s_.cr0 & kCr0WP) != 0;
  const bool ac = (s_.rflags & kFlagAC) != 0;
  if (user) {
    if (!us || (write && !rw) || (fetch && nx)) fault(kPfP, n - 1);
  } else if (fetch) {
    if (nx || (smep && us)) fault(kPfP, n - 1);
  } else {
    // SMAP: supervisor data accesses to user pages need EFLAGS.AC = 1, and implicit
    // supervisor accesses (or any at CPL 3) are never allowed (SDM 4.6.1).
    if (smap && us && (implicit || cpl_ == 3 || !ac)) fault(kPfP, n - 1);
    if (write && !rw && wp) fault(kPfP, n - 1);
  }

  // Accessed flags on every entry used, dirty on the leaf for writes (SDM 4.8).
  for (int k = 0; k < n; ++k) {
    uint64_t e = used[k].value;
    uint64_t ne = e | kPteA;
    if (k == n - 1 && write) ne |= kPteD;
    if (ne != e) write_entry(used[k], ne);
  }
  walk_refs_ += last_walk_refs_;

  const bool dirty = write || (used[n - 1].value & kPteD);
  uint16_t perm = (us ? kTlbUser : 0) | (rw ? kTlbWrite : 0) | (nx ? 0 : kTlbExec) |
                  (dirty ? kTlbDirty : 0) | ((global && (s_.cr4 & kCr4PGE)) ? kTlbGlobal : 0) |
                  (page_size > 4096 ? kTlbLarge : 0);
  if (!us || !smap) perm |= kTlbSupData;
  if (!us || !smep) perm |= kTlbSupFetch;
  return WalkResult{page_pa | (la & (page_size - 1)), perm};
}

}  // namespace hvsim::cpu
