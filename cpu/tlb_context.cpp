// TLB contexts tagged by VPID and EP4TA: parking and restoring on VM entry and exit,
// INVVPID / INVEPT on parked contexts, checkpoints (Intel SDM Vol. 3C 29.4 "Caching
// translation information"; Vol. 2 "INVEPT", "INVVPID").
//
// Why banks, not tags in entries: the TLB-hit fast paths compare one tag and stay as they
// are; a switch costs copying the slots the fill log names (as a flush already did).
#include <algorithm>

#include "core/error.h"
#include "core/state.h"
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

namespace {

constexpr size_t kRecord = 17;  ///< checkpoint bytes per entry: tag, pa, perm (as cpu.cpp)
constexpr unsigned kAll = kTlbEntries + kItlbEntries;

TlbEntry& slot(TlbEntry* tlb, TlbEntry* itlb, unsigned k) {
  return k < kTlbEntries ? tlb[k] : itlb[k - kTlbEntries];
}
TlbEntry& slot(TlbBank& b, unsigned k) {
  return slot(b.tlb, b.itlb, k);
}

bool guest_key(uint64_t key) {
  return key != kTlbRootContext && !(key >> 56);
}

/// Drops the entries of `b` for linear address `la` (~0: all; `keep_global`: all but
/// global ones), as tlb_flush_page / tlb_flush do for the running context.
void flush_bank(TlbBank& b, uint64_t la, bool keep_global) {
  if (la != ~0ull) {
    uint64_t vpn = la >> 12;
    if (b.tlb[tlb_index(vpn)].tag == vpn) b.tlb[tlb_index(vpn)].tag = ~0ull;
    if (b.itlb[itlb_index(vpn)].tag == vpn) b.itlb[itlb_index(vpn)].tag = ~0ull;
    for (unsigned k = 0; k < kAll; ++k)
      if (slot(b, k).perm & kTlbLarge) slot(b, k).tag = ~0ull;
    return;
  }
  bool all = b.fills > kTlbFillLog;
  unsigned count = all ? kAll : b.fills, keep = 0;
  for (unsigned n = 0; n < count && keep_global; ++n) {
    unsigned k = all ? n : b.fill[n];
    TlbEntry& e = slot(b, k);
    if (e.tag == ~0ull) continue;
    if (!(e.perm & kTlbGlobal)) {
      e.tag = ~0ull;
      continue;
    }
    if (keep < kTlbFillLog) b.fill[keep] = static_cast<uint16_t>(k);
    ++keep;
  }
  b.fills = std::min(keep, kTlbFillLog + 1);
  if (b.fills == 0) b.key = kTlbNoContext;
}

}  // namespace

void CpuImpl::tlb_switch_context(uint64_t key) {
  if (key == tlb_ctx_) return;
  if (tlb_ctx_ == kTlbUntaggedContext || key == kTlbUntaggedContext) {
    tlb_flush(true);  // no VPID: entry and exit invalidate VPID 0's mappings (29.4.3.3)
  } else if (tlb_fills_ != 0) {
    // Park the running context: a free bank, else the least recently parked one.
    TlbBank* b = &tlb_banks_[0];
    for (unsigned n = 0; n < kTlbBanks; ++n) {
      TlbBank& c = tlb_banks_[n];
      if (c.key == kTlbNoContext) {
        b = &c;
        break;
      }
      if (c.lru < b->lru) b = &c;
    }
    if (tlb_fills_ <= kTlbFillLog) {
      for (unsigned n = 0; n < tlb_fills_; ++n) {
        TlbEntry& e = slot(tlb_, itlb_, tlb_fill_[n]);
        slot(*b, tlb_fill_[n]) = e;
        e.tag = ~0ull;
      }
      std::copy_n(tlb_fill_, tlb_fills_, b->fill);
    } else {
      for (unsigned k = 0; k < kAll; ++k) {
        TlbEntry& e = slot(tlb_, itlb_, k);
        slot(*b, k) = e;
        e.tag = ~0ull;
      }
    }
    b->fills = tlb_fills_;
    b->key = tlb_ctx_;
    b->lru = ++tlb_clock_;
    b->protect_gen = protect_gen_;
    tlb_fills_ = 0;
  }
  tlb_ctx_ = key;
  for (unsigned n = 0; n < kTlbBanks; ++n) {
    TlbBank& b = tlb_banks_[n];
    if (b.key != key) continue;
    // Bring it back (the running TLB is empty). Host writes granted under an older
    // protection generation are dropped (revoke_host_writes).
    bool stale = b.protect_gen != env_.mem->protect_generation();
    bool all = b.fills > kTlbFillLog;
    unsigned count = all ? kAll : b.fills;
    for (unsigned i = 0; i < count; ++i) {
      unsigned k = all ? i : b.fill[i];
      TlbEntry& e = slot(tlb_, itlb_, k);
      e = slot(b, k);
      if (stale) e.perm &= static_cast<uint16_t>(~kTlbHostWrite);
    }
    std::copy_n(b.fill, std::min(b.fills, kTlbFillLog), tlb_fill_);
    tlb_fills_ = b.fills;
    b.key = kTlbNoContext;
    return;
  }
}

void CpuImpl::tlb_invalidate_contexts(uint64_t mask, uint64_t value, uint64_t la,
                                      bool keep_global) {
  auto hit = [&](uint64_t key) { return guest_key(key) && (key & mask) == value; };
  for (unsigned n = 0; n < kTlbBanks; ++n)
    if (hit(tlb_banks_[n].key)) flush_bank(tlb_banks_[n], la, keep_global);
  if (!hit(tlb_ctx_)) return;
  if (la != ~0ull)
    tlb_flush_page(la);
  else
    tlb_flush(!keep_global);
}

void CpuImpl::tlb_drop_contexts() {
  for (unsigned n = 0; n < kTlbBanks; ++n) tlb_banks_[n].key = kTlbNoContext;
}

// Why saved: parked entries decide the walks (and cycles) after the next VM entry or exit.
void CpuImpl::tlb_save_contexts(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  w.u64("context", tlb_ctx_);
  w.u64("clock", tlb_clock_);
  std::vector<uint8_t> rec(kAll * kRecord);
  for (unsigned n = 0; n < kTlbBanks; ++n) {
    TlbBank& b = tlb_banks_[n];
    std::string p = "bank" + std::to_string(n) + ".";
    w.u64(p + "key", b.key);
    w.u64(p + "lru", b.lru);
    if (b.key == kTlbNoContext) continue;
    std::fill(rec.begin(), rec.end(), uint8_t{0xFF});  // tag ~0: invalid
    bool all = b.fills > kTlbFillLog;
    for (unsigned i = 0; i < (all ? kAll : b.fills); ++i) {
      unsigned k = all ? i : b.fill[i];
      const TlbEntry& e = slot(b, k);
      uint8_t* q = rec.data() + k * kRecord;
      std::memcpy(q, &e.tag, 8);
      std::memcpy(q + 8, &e.pa, 8);
      q[16] = static_cast<uint8_t>(e.perm & ~(kTlbHostRead | kTlbHostWrite));
    }
    w.bytes(p + "entries", rec.data(), rec.size());
  }
  w.end_section();
}

void CpuImpl::tlb_restore_contexts(StateReader& r, const std::string& section) {
  tlb_drop_contexts();
  tlb_ctx_ = kTlbRootContext;
  if (!r.has_section(section)) return;  // older checkpoints: nothing parked
  if (uint32_t v = r.begin_section(section); v != 1)
    throw InputError("checkpoint section " + section + ": unsupported version " +
                     std::to_string(v));
  tlb_ctx_ = r.u64("context");
  tlb_clock_ = r.u64("clock");
  std::vector<uint8_t> rec(kAll * kRecord);
  for (unsigned n = 0; n < kTlbBanks; ++n) {
    TlbBank& b = tlb_banks_[n];
    std::string p = "bank" + std::to_string(n) + ".";
    b.key = r.u64(p + "key");
    b.lru = r.u64(p + "lru");
    if (b.key == kTlbNoContext) continue;
    r.bytes_into(p + "entries", rec.data(), rec.size());
    for (unsigned k = 0; k < kAll; ++k) {
      const uint8_t* q = rec.data() + k * kRecord;
      TlbEntry& e = slot(b, k);
      std::memcpy(&e.tag, q, 8);
      std::memcpy(&e.pa, q + 8, 8);
      bool itlb = k >= kTlbEntries;
      if (e.tag != ~0ull && (itlb ? itlb_index(e.tag) + kTlbEntries : tlb_index(e.tag)) != k)
        e.tag = ~0ull;
      e.pa &= ~0xFFFull;
      e.perm = static_cast<uint16_t>(q[16]) | tlb_host_access(*env_.mem, e.pa, &e.host);
    }
    b.fills = kTlbFillLog + 1;  // not logged: the whole bank is copied back
    b.protect_gen = env_.mem->protect_generation();
  }
  r.end_section();
}

}  // namespace hvsim::cpu
