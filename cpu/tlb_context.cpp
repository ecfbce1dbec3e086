// TLB contexts tagged by VPID and EP4TA: switching on VM entry and exit, invalidation of
// one context (flushes, INVLPG) or of several (INVVPID, INVEPT), checkpoints (Intel SDM
// Vol. 3C 29.4 "Caching translation information"; Vol. 2 "INVEPT", "INVVPID").
//
// Each context owns a slot number, XOR-ed into its entries' tags (tlb_ctx_salt), so every
// context's entries live in the one TLB and a VM entry or exit only changes the bits the
// hit paths OR into the tag they compare (CpuImpl::tlb_tag).
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/state.h"
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

namespace {

constexpr unsigned kAll = kTlbEntries + kItlbEntries;

bool guest_key(uint64_t key) {
  return key != kTlbRootContext && !(key >> 56);
}

}  // namespace

void CpuImpl::tlb_flush_context(unsigned ctx, uint64_t la, bool keep_global) {
  auto entry = [&](unsigned k) -> TlbEntry& {
    return k < kTlbEntries ? tlb_[k] : itlb_[k - kTlbEntries];
  };
  // An invalid tag (~0) has 0xFFF above bit 52: never a context's.
  auto mine = [&](const TlbEntry& e) { return (e.tag >> kTlbCtxShift) == ctx; };
  if (la != ~0ull) {
    uint64_t tag = (la >> 12) ^ tlb_ctx_salt(ctx);
    TlbEntry& e = tlb_[tlb_index(tag)];
    if (e.tag == tag) e.tag = ~0ull;
    TlbEntry& i = itlb_[itlb_index(tag)];
    if (i.tag == tag) i.tag = ~0ull;
    // A large page is cached as 4 KiB pieces in many slots: drop every large-page piece
    // of the context (more than the SDM requires, never less).
    for (unsigned k = 0; k < kAll; ++k) {
      TlbEntry& x = entry(k);
      if ((x.perm & kTlbLarge) && mine(x)) x.tag = ~0ull;
    }
    return;
  }
  auto drop = [&](const TlbEntry& e) { return mine(e) && !(keep_global && (e.perm & kTlbGlobal)); };
  if (tlb_fills_ <= kTlbFillLog) {
    // Only logged slots can be valid: drop this context's, keep (and re-log) the rest.
    unsigned keep = 0;
    for (unsigned n = 0; n < tlb_fills_; ++n) {
      unsigned k = tlb_fill_[n];
      TlbEntry& e = entry(k);
      if (e.tag == ~0ull) continue;
      if (drop(e))
        e.tag = ~0ull;
      else
        tlb_fill_[keep++] = static_cast<uint16_t>(k);
    }
    tlb_fills_ = keep;
    return;
  }
  tlb_fills_ = 0;
  for (unsigned k = 0; k < kAll; ++k) {
    TlbEntry& e = entry(k);
    if (drop(e)) e.tag = ~0ull;
    if (e.tag != ~0ull) note_tlb_fill(k);
  }
}

void CpuImpl::tlb_switch_context(uint64_t key) {
  if (key == tlb_ctx_) return;
  unsigned slot = 0;
  if (tlb_ctx_ == kTlbUntaggedContext || key == kTlbUntaggedContext) {
    // No VPID: VM entries and exits invalidate VPID 0's mappings (29.4.3.3), and the
    // untagged guest and root operation share slot 0 (both are VPID 0).
    ++tlb_flushes_;
    tlb_flush_context(0, ~0ull, false);
  } else if (key != kTlbRootContext) {
    // The key's slot, else a free one, else the least recently used (emptied first).
    unsigned free = 0, lru = 0;
    for (unsigned n = 1; n < kTlbContexts; ++n) {
      const TlbContextSlot& c = tlb_ctxs_[n];
      if (c.key == key) {
        slot = n;
        break;
      }
      if (!free && c.key == kTlbNoContext) free = n;
      if (n != tlb_cur_ && (!lru || c.lru < tlb_ctxs_[lru].lru)) lru = n;
    }
    if (!slot) {
      slot = free ? free : lru;
      if (!free) tlb_flush_context(slot, ~0ull, false);
      tlb_ctxs_[slot].key = key;
    }
  }
  tlb_ctxs_[slot].lru = ++tlb_clock_;
  tlb_ctx_ = key;
  tlb_cur_ = slot;
  tlb_tag_bits_ = tlb_ctx_salt(slot);
}

void CpuImpl::tlb_invalidate_contexts(uint64_t mask, uint64_t value, uint64_t la,
                                      bool keep_global) {
  for (unsigned n = 1; n < kTlbContexts; ++n) {
    uint64_t key = tlb_ctxs_[n].key;
    if (key == kTlbNoContext || !guest_key(key) || (key & mask) != value) continue;
    if (n == tlb_cur_ && la == ~0ull) ++tlb_flushes_;
    tlb_flush_context(n, la, keep_global);
  }
}

void CpuImpl::tlb_reset_contexts() {
  tlb_fills_ = kTlbFillLog + 1;  // sweep everything
  for (unsigned n = 0; n < kTlbContexts; ++n) tlb_flush_context(n, ~0ull, false);
  for (auto& c : tlb_ctxs_) c = TlbContextSlot{};
  tlb_ctxs_[0].key = kTlbRootContext;
  tlb_ctx_ = kTlbRootContext;
  tlb_cur_ = 0;
  tlb_tag_bits_ = 0;
}

void CpuImpl::tlb_drop_contexts() {
  for (unsigned n = 0; n < kTlbContexts; ++n) {
    if (n == tlb_cur_) continue;
    if (tlb_ctxs_[n].key != kTlbNoContext || n == 0) tlb_flush_context(n, ~0ull, false);
    if (n != 0) tlb_ctxs_[n] = TlbContextSlot{};
  }
  tlb_ctxs_[0].key = kTlbRootContext;
}

// Why saved: the entries (in the cpu section, tags with their slot bits) and the slots'
// keys decide the walks (and cycles) after the next VM entry or exit.
void CpuImpl::tlb_save_contexts(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 2);
  w.u64("context", tlb_ctx_);
  w.u64("clock", tlb_clock_);
  w.u8("slot", static_cast<uint8_t>(tlb_cur_));
  for (unsigned n = 0; n < kTlbContexts; ++n) {
    std::string p = "slot" + std::to_string(n) + ".";
    w.u64(p + "key", tlb_ctxs_[n].key);
    w.u64(p + "lru", tlb_ctxs_[n].lru);
  }
  w.end_section();
}

void CpuImpl::tlb_restore_contexts(StateReader& r, const std::string& section) {
  // The cpu section restored the entries, tags with slot bits; the slots come from here.
  for (auto& c : tlb_ctxs_) c = TlbContextSlot{};
  tlb_ctxs_[0].key = kTlbRootContext;
  uint64_t key = kTlbRootContext;
  unsigned cur = 0;
  tlb_clock_ = 0;
  auto bad = [&](const char* what) {
    return InputError("checkpoint section " + section + ": " + what);
  };
  if (r.has_section(section)) {  // older checkpoints: root operation only
    uint32_t v = r.begin_section(section);
    if (v != 1 && v != 2)
      throw InputError("checkpoint section " + section + ": unsupported version " +
                       std::to_string(v));
    key = r.u64("context");
    tlb_clock_ = r.u64("clock");
    if (v == 1) {
      // Parked banks, and entries tagged without slot bits (the running context's). The
      // banks are dropped (a TLB may lose entries at any time); the running context's
      // entries move to slot 1 if it is a guest's.
      for (unsigned n = 0; n < 4; ++n) {
        std::string p = "bank" + std::to_string(n) + ".";
        uint64_t k = r.u64(p + "key");
        (void)r.u64(p + "lru");
        if (k != kTlbNoContext) (void)r.bytes(p + "entries");
      }
      if (key != kTlbRootContext && key != kTlbUntaggedContext) {
        // The guest's entries move to slot 1's tags, and so to other TLB slots.
        cur = 1;
        tlb_ctxs_[1].key = key;
        std::vector<std::pair<unsigned, TlbEntry>> live;
        for (unsigned k = 0; k < kAll; ++k) {
          TlbEntry& e = k < kTlbEntries ? tlb_[k] : itlb_[k - kTlbEntries];
          if (e.tag != ~0ull) live.push_back({k, e});
          e.tag = ~0ull;
        }
        for (auto& [k, e] : live) {
          e.tag ^= tlb_ctx_salt(1);
          if (k < kTlbEntries)
            tlb_[tlb_index(e.tag)] = e;
          else
            itlb_[itlb_index(e.tag)] = e;
        }
        tlb_fills_ = kTlbFillLog + 1;
      }
    } else {
      cur = r.u8("slot");
      for (unsigned n = 0; n < kTlbContexts; ++n) {
        std::string p = "slot" + std::to_string(n) + ".";
        tlb_ctxs_[n].key = r.u64(p + "key");
        tlb_ctxs_[n].lru = r.u64(p + "lru");
      }
      if (cur >= kTlbContexts) throw bad("running slot out of range");
      if (tlb_ctxs_[0].key != kTlbRootContext) throw bad("slot 0 is not VPID 0");
      bool vpid0 = key == kTlbUntaggedContext || key == kTlbRootContext;
      if (vpid0 ? cur != 0 : tlb_ctxs_[cur].key != key)
        throw bad("the running context's slot holds another key");
    }
    r.end_section();
  }
  tlb_ctx_ = key;
  tlb_cur_ = cur;
  tlb_tag_bits_ = tlb_ctx_salt(cur);
  // Entries of free slots can never hit; drop them (older or edited checkpoints).
  for (unsigned k = 0; k < kAll; ++k) {
    TlbEntry& e = k < kTlbEntries ? tlb_[k] : itlb_[k - kTlbEntries];
    if (e.tag != ~0ull && tlb_ctxs_[e.tag >> kTlbCtxShift].key == kTlbNoContext) e.tag = ~0ull;
  }
}

}  // namespace hvsim::cpu
