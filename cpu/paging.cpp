// Linear-to-physical translation: 32-bit, PAE and 4-level paging walks with A/D updates,
// permission checks and the software TLB (Intel SDM Vol. 3A ch. 4); physical access to
// RAM and MMIO; segment checks outside 64-bit mode (SDM 5.3, 5.4).
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

using namespace spec;

PagingMode CpuImpl::paging_mode() const {
  if (!(s_.cr0 & kCr0PG)) return PagingMode::kNone;
  if (s_.efer & kEferLMA) return PagingMode::k4Level;
  if (s_.cr4 & kCr4PAE) return PagingMode::kPae;
  return PagingMode::k32Bit;
}

void CpuImpl::tlb_flush(bool include_global) {
  ++tlb_flushes_;
  for (auto& e : tlb_) {
    if (include_global || !(e.perm & kTlbGlobal)) e.tag = ~0ull;
  }
  for (auto& e : itlb_) {
    if (include_global || !(e.perm & kTlbGlobal)) e.tag = ~0ull;
  }
}

void CpuImpl::tlb_flush_page(uint64_t la) {
  TlbEntry& e = tlb_[tlb_index(la >> 12)];
  if (e.tag == (la >> 12)) e.tag = ~0ull;
  TlbEntry& i = itlb_[itlb_index(la >> 12)];
  if (i.tag == (la >> 12)) i.tag = ~0ull;
}

namespace {

/// Accumulates a walk: permissions are the AND of every level (NX the OR).
struct WalkState {
  bool user = true, write = true, nx = false;
  void add(uint64_t e) {
    user &= (e & kPteUS) != 0;
    write &= (e & kPteRW) != 0;
    nx |= (e & kPteXD) != 0;
  }
};

}  // namespace

void CpuImpl::revoke_host_writes() {
  for (auto& e : tlb_) e.perm &= static_cast<uint8_t>(~kTlbHostWrite);
  protect_gen_ = env_.mem->protect_generation();
}

namespace {

/// Host address and direct-access bits of the physical page at `page_pa`.
uint8_t host_access(PhysicalMemory& mem, uint64_t page_pa, uint8_t** host) {
  if (!mem.contains(page_pa, PhysicalMemory::kPageSize)) {
    *host = nullptr;
    return 0;
  }
  // Why: read_ptr is the one accessor for the host address; writes through it are made
  // only under kTlbHostWrite, when note_write would have nothing left to record.
  *host = const_cast<uint8_t*>(mem.read_ptr(page_pa));
  uint64_t pfn = page_pa >> PhysicalMemory::kPageShift;
  bool direct_write = mem.touched(pfn) && mem.dirty(pfn) && !mem.is_code_page(pfn);
  return kTlbHostRead | (direct_write ? kTlbHostWrite : 0);
}

}  // namespace

void CpuImpl::tlb_restore_entry(unsigned k, uint64_t tag, uint64_t pa, uint8_t perm) {
  bool itlb = k >= kTlbEntries;
  TlbEntry& e = itlb ? itlb_[(k - kTlbEntries) % kItlbEntries] : tlb_[k % kTlbEntries];
  if (tag == ~0ull || (itlb ? itlb_index(tag) + kTlbEntries : tlb_index(tag)) != k) {
    e = TlbEntry{};
    return;
  }
  uint8_t* host;
  perm &= static_cast<uint8_t>(~(kTlbHostRead | kTlbHostWrite));
  perm |= host_access(*env_.mem, pa & ~0xFFFull, &host);
  e = TlbEntry{tag, pa & ~0xFFFull, host, perm};
}

void CpuImpl::grant_host_write(uint64_t la) {
  TlbEntry& e = tlb_[tlb_index(la >> 12)];
  if (e.tag != (la >> 12) || !e.host || env_.mem->protect_generation() != protect_gen_) return;
  uint64_t pfn = e.pa >> PhysicalMemory::kPageShift;
  const PhysicalMemory& m = *env_.mem;
  if (m.touched(pfn) && m.dirty(pfn) && !m.is_code_page(pfn)) e.perm |= kTlbHostWrite;
}

uint64_t CpuImpl::translate_slow(uint64_t la, Access acc, bool user) {
  ++tlb_misses_;
  PagingMode pm = paging_mode();
  uint64_t vpn = la >> 12;
  TlbEntry& slot = tlb_slot(vpn, acc);
  if (env_.mem->protect_generation() != protect_gen_) revoke_host_writes();
  if (pm == PagingMode::kNone) {
    uint8_t* host;
    uint8_t hb = host_access(*env_.mem, la & ~0xFFFull, &host);
    slot = TlbEntry{vpn, la & ~0xFFFull, host,
                    static_cast<uint8_t>(kTlbUser | kTlbWrite | kTlbExec | kTlbDirty | hb)};
    return la;
  }
  // A page walk: its memory references are counted and charged (timing table).
  ++page_walks_;
  cycles_ += timing_.tlb_miss;
  bool write = acc == Access::kWrite, fetch = acc == Access::kFetch;
  bool nxe = (s_.efer & kEferNXE) != 0;
  uint32_t err = (write ? kPfW : 0) | (user ? kPfU : 0) | (fetch && nxe ? kPfI : 0);
  auto fault = [&](uint32_t bits) -> uint64_t {
    s_.cr2 = la;
    raise_fault(Vector::kPF, err | bits);
  };
  // Reads one entry; returns it or faults (not present / reserved bits).
  auto read_entry = [&](uint64_t pa, unsigned size) {
    ++walk_references_;
    cycles_ += timing_.walk_reference;
    return phys_read(pa, size);
  };
  uint64_t xd_reserved = nxe ? 0 : kPteXD;

  WalkState ws;
  uint64_t entries_pa[5];
  uint64_t entries[5];
  int levels = 0;
  uint64_t page_pa, page_size;
  bool global = false;

  if (pm == PagingMode::k32Bit) {
    uint64_t pde_pa = (s_.cr3 & 0xFFFFF000) + ((la >> 22) & 0x3FF) * 4;
    uint64_t pde = read_entry(pde_pa, 4);
    if (!(pde & kPteP)) return fault(0);
    ws.add(pde);
    entries_pa[levels] = pde_pa;
    entries[levels++] = pde;
    if ((pde & kPtePS) && (s_.cr4 & kCr4PSE)) {
      // 4 MiB page; bits 20:13 hold physical-address bits 39:32 (PSE-36).
      if (pde & (1ull << 21)) return fault(kPfP | kPfRsvd);
      page_pa = (pde & 0xFFC00000) | (((pde >> 13) & 0xFF) << 32);
      page_size = 4ull << 20;
      global = pde & kPteG;
    } else {
      uint64_t pte_pa = (pde & 0xFFFFF000) + ((la >> 12) & 0x3FF) * 4;
      uint64_t pte = read_entry(pte_pa, 4);
      if (!(pte & kPteP)) return fault(0);
      ws.add(pte);
      entries_pa[levels] = pte_pa;
      entries[levels++] = pte;
      page_pa = pte & 0xFFFFF000;
      page_size = 4096;
      global = pte & kPteG;
    }
  } else {
    // PAE or 4-level: 8-byte entries, 9 bits per level.
    uint64_t table;
    int top;
    if (pm == PagingMode::kPae) {
      // Why: PDPTEs are read at walk time rather than cached at CR3 load (a documented
      // simplification; SDM 4.4.1 lets them be cached, software reloads CR3 after edits).
      uint64_t pdpte_pa = (s_.cr3 & 0xFFFFFFE0) + ((la >> 30) & 3) * 8;
      uint64_t pdpte = read_entry(pdpte_pa, 8);
      if (!(pdpte & kPteP)) return fault(0);
      if (pdpte & (kPteHighReserved | 0x1E6)) return fault(kPfP | kPfRsvd);
      table = pdpte & kPteAddrMask;
      top = 1;
    } else {
      table = s_.cr3 & kPteAddrMask;
      top = 3;
    }
    for (int level = top;; --level) {
      uint64_t epa = table + ((la >> (12 + 9 * level)) & 0x1FF) * 8;
      uint64_t e = read_entry(epa, 8);
      if (!(e & kPteP)) return fault(0);
      uint64_t rsvd = kPteHighReserved | xd_reserved;
      bool leaf = level == 0 || (e & kPtePS);
      if (level == 3 && (e & kPtePS)) rsvd |= kPtePS;  // PML4E.PS is reserved
      if (leaf && level == 2) rsvd |= 0x3FFFE000;      // 1 GiB page: bits 29:13
      if (leaf && level == 1) rsvd |= 0x1FE000;        // 2 MiB page: bits 20:13
      if (e & rsvd) return fault(kPfP | kPfRsvd);
      ws.add(e);
      entries_pa[levels] = epa;
      entries[levels++] = e;
      if (leaf) {
        page_size = 1ull << (12 + 9 * level);
        page_pa = e & kPteAddrMask & ~(page_size - 1);
        global = e & kPteG;
        break;
      }
      table = e & kPteAddrMask;
    }
  }
  uint64_t leaf = entries[levels - 1];
  // Permission checks (SDM 4.6).
  bool wp = (s_.cr0 & kCr0WP) != 0;
  if (user && !ws.user) return fault(kPfP);
  if (write && !ws.write && (user || wp)) return fault(kPfP);
  if (fetch && nxe && ws.nx) return fault(kPfP);
  // Accessed and dirty bits (SDM 4.8).
  unsigned esize = pm == PagingMode::k32Bit ? 4 : 8;
  for (int k = 0; k < levels; ++k) {
    uint64_t e = entries[k];
    uint64_t ne = e | kPteA;
    if (k == levels - 1 && write) ne |= kPteD;
    if (ne != e) phys_write(entries_pa[k], esize, ne);
  }
  bool dirty = write || (leaf & kPteD);
  uint64_t pa = page_pa | (la & (page_size - 1));
  uint8_t perm = (ws.user ? kTlbUser : 0) | (ws.write ? kTlbWrite : 0) |
                 ((ws.nx && nxe) ? 0 : kTlbExec) | (dirty ? kTlbDirty : 0) |
                 ((global && (s_.cr4 & kCr4PGE)) ? kTlbGlobal : 0);
  uint8_t* host;
  perm |= host_access(*env_.mem, pa & ~0xFFFull, &host);
  slot = TlbEntry{vpn, pa & ~0xFFFull, host, perm};
  return pa;
}

// ---- physical access outside RAM ----

uint64_t CpuImpl::phys_read_slow(uint64_t pa, unsigned size) {
  if (env_.mem->contains(pa, 1) || env_.mem->contains(pa + size - 1, 1) || (pa & (size - 1))) {
    // Straddles the RAM end or is unaligned across MMIO: assemble bytewise.
    uint64_t v = 0;
    for (unsigned k = 0; k < size; ++k) {
      uint64_t b = env_.mem->contains(pa + k, 1) ? *env_.mem->read_ptr(pa + k)
                                                 : env_.mmio->read(pa + k, 1) & 0xFF;
      v |= b << (8 * k);
    }
    return v;
  }
  return env_.mmio->read(pa, size) & size_mask(size);
}

void CpuImpl::phys_write_slow(uint64_t pa, unsigned size, uint64_t v) {
  if (env_.mem->contains(pa, 1) || env_.mem->contains(pa + size - 1, 1) || (pa & (size - 1))) {
    for (unsigned k = 0; k < size; ++k) {
      uint8_t b = static_cast<uint8_t>(v >> (8 * k));
      if (env_.mem->contains(pa + k, 1))
        *env_.mem->write_ptr(pa + k, 1) = b;
      else
        env_.mmio->write(pa + k, 1, b);
    }
    return;
  }
  env_.mmio->write(pa, size, v);
}

// ---- linear accesses crossing a page ----

uint64_t CpuImpl::read_lin_split(uint64_t la, unsigned size, Access acc, bool sys) {
  bool user = user_access(sys);
  unsigned first = 4096 - (la & 0xFFF);
  uint64_t la2 = long_mode_ ? la + first : (la + first) & 0xFFFFFFFF;
  uint64_t pa1 = translate(la, acc, user);
  uint64_t pa2 = translate(la2, acc, user);
  uint64_t v = 0;
  for (unsigned k = 0; k < size; ++k) {
    uint64_t b = k < first ? phys_read(pa1 + k, 1) : phys_read(pa2 + (k - first), 1);
    v |= b << (8 * k);
  }
  return v;
}

void CpuImpl::write_lin_split(uint64_t la, unsigned size, uint64_t v, bool sys) {
  bool user = user_access(sys);
  unsigned first = 4096 - (la & 0xFFF);
  uint64_t la2 = long_mode_ ? la + first : (la + first) & 0xFFFFFFFF;
  uint64_t pa1 = translate(la, Access::kWrite, user);
  uint64_t pa2 = translate(la2, Access::kWrite, user);
  for (unsigned k = 0; k < size; ++k) {
    uint8_t b = static_cast<uint8_t>(v >> (8 * k));
    if (k < first)
      phys_write(pa1 + k, 1, b);
    else
      phys_write(pa2 + (k - first), 1, b);
  }
}

void CpuImpl::probe_write_lin(uint64_t la, unsigned size, bool sys) {
  if (!long_mode_) la &= 0xFFFFFFFF;
  bool user = user_access(sys);
  translate(la, Access::kWrite, user);
  uint64_t last = la + size - 1;
  if (!long_mode_) last &= 0xFFFFFFFF;
  if ((last >> 12) != (la >> 12)) translate(last, Access::kWrite, user);
}

// ---- segmentation outside 64-bit mode ----

uint64_t CpuImpl::linear_legacy(unsigned seg, uint64_t off, unsigned size, Access acc) {
  const SegReg& sr = s_.seg[seg];
  if (protected_) {
    if (sr.attr & kAttrUnusable) seg_fault(seg, 0);
    uint32_t type = attr_type(sr.attr);
    if (type & kTypeCode) {
      if (acc == Access::kWrite || !(type & kTypeReadable)) seg_fault(seg, 0);
    } else if (acc == Access::kWrite && !(type & kTypeWritable)) {
      seg_fault(seg, 0);
    }
    uint64_t last = off + size - 1;
    if (!(type & kTypeCode) && (type & kTypeExpandDown)) {
      uint64_t upper = (sr.attr & kAttrDB) ? 0xFFFFFFFF : 0xFFFF;
      if (off <= sr.limit || last > upper) seg_fault(seg, 0);
    } else if (last > sr.limit) {
      seg_fault(seg, 0);
    }
  } else if (off + size - 1 > sr.limit) {
    seg_fault(seg, 0);
  }
  return (sr.base + off) & 0xFFFFFFFF;
}

}  // namespace hvsim::cpu
