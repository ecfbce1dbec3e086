// Linear-to-physical translation through the software TLB, TLB invalidation (INVLPG,
// INVPCID, PCIDs) (Intel SDM Vol. 3A ch. 4, 4.10); the walk itself is in paging_walk.cpp;
// physical access to RAM and MMIO; segment checks outside 64-bit mode (SDM 5.3, 5.4).
#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

using namespace spec;

PagingMode CpuImpl::paging_mode() const {
  if (!(s_.cr0 & kCr0PG)) return PagingMode::kNone;
  if (s_.efer & kEferLMA) return (s_.cr4 & kCr4LA57) ? PagingMode::k5Level : PagingMode::k4Level;
  if (s_.cr4 & kCr4PAE) return PagingMode::kPae;
  return PagingMode::k32Bit;
}

// Why: the TLB holds translations of the current PCID and global ones only. Switching to
// another PCID drops the non-global entries (write_cr), which the SDM allows (4.10.4: a
// processor may invalidate any cached translation at any time); no stale entry of another
// PCID can then survive an invalidation that should have removed it.
void CpuImpl::tlb_flush(bool include_global) {
  ++tlb_flushes_;
  tlb_flush_context(tlb_cur_, ~0ull, !include_global);
}

void CpuImpl::tlb_flush_page(uint64_t la) {
  tlb_flush_context(tlb_cur_, la, false);
}

void CpuImpl::invpcid(InvpcidType type, uint16_t id, uint64_t la) {
  switch (type) {
    case InvpcidType::kIndividualAddress:
      if (id == pcid()) tlb_flush_page(la);
      return;
    case InvpcidType::kSingleContext:
      if (id == pcid()) tlb_flush(false);
      return;
    case InvpcidType::kAllContextsWithGlobal: tlb_flush(true); return;
    case InvpcidType::kAllContexts: tlb_flush(false); return;
  }
}

void CpuImpl::revoke_host_writes() {
  for (auto& e : tlb_) e.perm &= static_cast<uint16_t>(~kTlbHostWrite);
  protect_gen_ = env_.mem->protect_generation();
}

uint16_t tlb_host_access(PhysicalMemory& mem, uint64_t page_pa, uint8_t** host) {
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

void CpuImpl::tlb_restore_entry(unsigned k, uint64_t tag, uint64_t pa, uint16_t perm) {
  bool itlb = k >= kTlbEntries;
  TlbEntry& e = itlb ? itlb_[(k - kTlbEntries) % kItlbEntries] : tlb_[k % kTlbEntries];
  if (tag == ~0ull || (tag >> kTlbCtxShift) >= kTlbContexts ||
      (itlb ? itlb_index(tag) + kTlbEntries : tlb_index(tag)) != k) {
    e = TlbEntry{};
    return;
  }
  uint8_t* host;
  perm &= static_cast<uint16_t>(~(kTlbHostRead | kTlbHostWrite));
  perm |= tlb_host_access(*env_.mem, pa & ~0xFFFull, &host);
  e = TlbEntry{tag, pa & ~0xFFFull, host, perm};
  tlb_fills_ = kTlbFillLog + 1;  // not logged: the next flush sweeps everything
}

void CpuImpl::grant_host_write(uint64_t la) {
  TlbEntry& e = tlb_[tlb_index(tlb_tag(la))];
  if (e.tag != tlb_tag(la) || !e.host || env_.mem->protect_generation() != protect_gen_) return;
  uint64_t pfn = e.pa >> PhysicalMemory::kPageShift;
  const PhysicalMemory& m = *env_.mem;
  if (m.touched(pfn) && m.dirty(pfn) && !m.is_code_page(pfn)) e.perm |= kTlbHostWrite;
}

uint64_t CpuImpl::translate_slow(uint64_t la, Access acc, bool user, bool implicit) {
  ++tlb_misses_;
  uint64_t vpn = la >> 12;
  uint64_t tag = tlb_tag(la);
  TlbEntry& slot = tlb_slot(tag, acc);
  note_tlb_fill(acc == Access::kFetch ? kTlbEntries + itlb_index(tag) : tlb_index(tag));
  if (env_.mem->protect_generation() != protect_gen_) revoke_host_writes();
  uint8_t* host;
  WalkResult w;
  if (!(s_.cr0 & kCr0PG)) {
    w = WalkResult{la, static_cast<uint16_t>(kTlbUser | kTlbWrite | kTlbExec | kTlbDirty |
                                             kTlbSupData | kTlbSupFetch)};
  } else {
    w = walk(la, acc, user, implicit);
  }
  if (ept_active()) [[unlikely]] {
    // The combined guest-linear -> host-physical entry (SDM 29.4.2): the EPT rights of the
    // final guest-physical address are folded in; a write that must set the EPT dirty flag
    // first takes this path again.
    vmx::EptTranslation t = vmx_->ept_final(w.pa, acc, la);
    w.pa = t.hpa;
    if (!(t.rwx & 2) || !t.dirty) w.perm &= static_cast<uint16_t>(~kTlbDirty);
    if (!(t.rwx & 4)) w.perm &= static_cast<uint16_t>(~kTlbExec);
  }
  uint16_t hb = tlb_host_access(*env_.mem, w.pa & ~0xFFFull, &host);
  slot = TlbEntry{tag, w.pa & ~0xFFFull, host, static_cast<uint16_t>(w.perm | hb)};
  return w.pa;
}

// ---- physical access outside RAM ----

uint64_t CpuImpl::phys_read_slow(uint64_t pa, unsigned size) {
  if (lapic_->mmio_hit(pa)) return lapic_->mmio_read(pa & 0xFFF, size);  // per-CPU page
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
  if (lapic_->mmio_hit(pa)) return lapic_->mmio_write(pa & 0xFFF, size, v);  // per-CPU page
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
  uint64_t pa1 = translate(la, acc, user, sys);
  uint64_t pa2 = translate(la2, acc, user, sys);
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
  uint64_t pa1 = translate(la, Access::kWrite, user, sys);
  uint64_t pa2 = translate(la2, Access::kWrite, user, sys);
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
  translate(la, Access::kWrite, user, sys);
  uint64_t last = la + size - 1;
  if (!long_mode_) last &= 0xFFFFFFFF;
  if ((last >> 12) != (la >> 12)) translate(last, Access::kWrite, user, sys);
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
