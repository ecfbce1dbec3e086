// Synthetic timers (TLFS timers.md "Synthetic Timers"; dossier §5.3).
#include "hv/synthetic_timers.h"

#include <string>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/state.h"
#include "hv/synic.h"

namespace hvsim::hv {

namespace sc = spec::stimer_config;

namespace {

uint64_t saturating(unsigned __int128 v) {
  // Deadlines beyond 2^64 - 2 (about 58,000 years of reference time) never come.
  return v >= SyntheticTimers::kNever ? SyntheticTimers::kNever - 1 : static_cast<uint64_t>(v);
}

uint8_t vector_of(uint64_t config) {
  return static_cast<uint8_t>((config & sc::kApicVectorMask) >> sc::kApicVectorShift);
}

}  // namespace

SyntheticTimers::SyntheticTimers(Synic& synic, std::function<void(uint8_t)> raise_direct,
                                 bool direct_available)
    : synic_(synic), raise_direct_(std::move(raise_direct)), direct_available_(direct_available) {}

bool SyntheticTimers::is_timer_msr(uint32_t msr) {
  return msr >= spec::stimer_config_msr(0) && msr <= spec::stimer_count_msr(spec::kStimerCount - 1);
}

bool SyntheticTimers::read_msr(uint32_t msr, uint64_t* value) const {
  if (!is_timer_msr(msr)) return false;
  unsigned n = (msr - spec::stimer_config_msr(0)) / 2;
  *value = (msr - spec::stimer_config_msr(0)) % 2 ? t_[n].count : t_[n].config;
  return true;
}

bool SyntheticTimers::write_msr(uint32_t msr, uint64_t v, uint64_t now) {
  if (!is_timer_msr(msr)) return false;
  unsigned n = (msr - spec::stimer_config_msr(0)) / 2;
  Timer& t = t_[n];
  if ((msr - spec::stimer_config_msr(0)) % 2 == 0) {
    if (v & (sc::kReserved15_13 | sc::kReserved63_20)) return false;  // RsvdZ
    if ((v & sc::kDirectMode) && !direct_available_) return false;
    // A direct-mode timer interrupts on ApicVector; 0-15 are not interrupt vectors (the
    // same rule as SINTx, TLFS "SINTx Registers"). Checked when it is enabled, as for SINTs.
    if ((v & sc::kDirectMode) && (v & sc::kEnable) && vector_of(v) < spec::sint::kMinVector)
      return false;
    t.config = v;
  } else {
    t.count = v;
    // Zero stops the timer whatever AutoEnable says; with AutoEnable a non-zero count
    // enables it (TLFS "Synthetic Timer Count Register").
    if (v == 0)
      t.config &= ~sc::kEnable;
    else if (t.config & sc::kAutoEnable)
      t.config |= sc::kEnable;
  }
  rearm(t, now);
  return true;
}

void SyntheticTimers::rearm(Timer& t, uint64_t now) {
  // An enabled message-mode timer aimed at SINT0 is disabled at once (TLFS).
  if ((t.config & sc::kEnable) && !(t.config & sc::kDirectMode) && !(t.config & sc::kSintxMask))
    t.config &= ~sc::kEnable;
  t.armed = (t.config & sc::kEnable) && t.count != 0;
  if (!t.armed) return;
  // One-shot: COUNT is the absolute expiry; periodic: the period, the first one starting now.
  t.deadline = (t.config & sc::kPeriodic)
                   ? saturating(static_cast<unsigned __int128>(now) + t.count)
                   : t.count;
}

uint64_t SyntheticTimers::next_expiry() const {
  uint64_t next = kNever;
  for (const Timer& t : t_)
    if (t.armed && t.deadline < next) next = t.deadline;
  return next;
}

void SyntheticTimers::poll(uint64_t now) {
  for (unsigned n = 0; n < spec::kStimerCount; ++n)
    if (t_[n].armed && t_[n].deadline <= now) fire(n, now);
}

void SyntheticTimers::fire(unsigned n, uint64_t now) {
  Timer& t = t_[n];
  uint64_t expiration = t.deadline;
  if (t.config & sc::kPeriodic) {
    // Boundaries deadline + i * period for i = 0..late have all passed (docs/hv.md).
    uint64_t late = (now - t.deadline) / t.count;
    t.missed += late;
    if (t.config & sc::kLazy)
      expiration = saturating(t.deadline + static_cast<unsigned __int128>(late) * t.count);
    t.deadline = saturating(t.deadline + static_cast<unsigned __int128>(late + 1) * t.count);
  } else {
    t.config &= ~sc::kEnable;  // a one-shot timer disables itself when it expires
    t.armed = false;
  }
  if (t.config & sc::kDirectMode) {
    ++t.fired;
    if (raise_direct_) raise_direct_(vector_of(t.config));
    return;
  }
  unsigned sint = static_cast<unsigned>((t.config & sc::kSintxMask) >> sc::kSintxShift);
  if (synic_.post_timer_message(n, sint, expiration))
    ++t.fired;
  else
    ++t.missed;
}

void SyntheticTimers::inspect(InspectNode& n) const {
  for (unsigned k = 0; k < spec::kStimerCount; ++k) {
    InspectNode& c = n.child("stimer" + std::to_string(k));
    c.counter("config", t_[k].config);
    c.counter("count", t_[k].count);
    c.counter("expirations", t_[k].fired);
    c.counter("missed", t_[k].missed);
  }
}

void SyntheticTimers::hash_into(Hasher& h) const {
  for (const Timer& t : t_) {
    h.u64(t.config);
    h.u64(t.count);
    h.u64(t.armed);
    h.u64(t.deadline);
    h.u64(t.fired);
    h.u64(t.missed);
  }
}

// ---- checkpoints ----

void SyntheticTimers::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  for (unsigned n = 0; n < spec::kStimerCount; ++n) {
    const Timer& t = t_[n];
    std::string k = "stimer" + std::to_string(n);
    w.u64(k + ".config", t.config);
    w.u64(k + ".count", t.count);
    w.boolean(k + ".armed", t.armed);
    w.u64(k + ".deadline", t.deadline);
    w.u64(k + ".fired", t.fired);
    w.u64(k + ".missed", t.missed);
  }
  w.end_section();
}

void SyntheticTimers::restore(StateReader& r, const std::string& section) {
  if (uint32_t v = r.begin_section(section); v != 1)
    throw InputError("checkpoint section " + section + ": unsupported version " +
                     std::to_string(v));
  Timer t[spec::kStimerCount];
  for (unsigned n = 0; n < spec::kStimerCount; ++n) {
    std::string k = "stimer" + std::to_string(n);
    t[n].config = r.u64(k + ".config");
    t[n].count = r.u64(k + ".count");
    t[n].armed = r.boolean(k + ".armed");
    t[n].deadline = r.u64(k + ".deadline");
    t[n].fired = r.u64(k + ".fired");
    t[n].missed = r.u64(k + ".missed");
    if (t[n].armed && (!(t[n].config & sc::kEnable) || t[n].count == 0))
      throw InputError("checkpoint section " + section + ": " + k +
                       " armed while disabled or without a count");
  }
  r.end_section();
  for (unsigned n = 0; n < spec::kStimerCount; ++n) t_[n] = t[n];
}

}  // namespace hvsim::hv
