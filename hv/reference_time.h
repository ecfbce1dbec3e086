// Partition reference time (TLFS/timers.md; dossier shared/spec/hyperv-interfaces.md §5.1-5.2):
// the reference counter TIME_REF_COUNT in 100 ns units and the reference TSC page that lets
// the guest compute the same counter from RDTSC. Integer arithmetic only.
//
// Construction (docs/hv.md, "Reference time"): with f = TSC frequency in Hz > 10 MHz,
//   TscScale  = ceil(10^7 * 2^64 / f)                       (rounded up)
//   TscOffset = -floor(tsc0 * TscScale / 2^64)              (mod 2^64)
//   counter(tsc) = floor(tsc * TscScale / 2^64) + TscOffset (mod 2^64)
// TIME_REF_COUNT is *defined* by this formula, so the page and the MSR agree for every TSC
// value (difference 0), the counter is 0 at creation and never goes backwards, and against
// the ideal E = floor((tsc - tsc0) * 10^7 / f) it satisfies E <= counter <= E + 2 for every
// TSC below 2^64 (in practice E or E + 1): no drift however long the run.
#pragma once

#include <cstdint>

#include "core/time.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

/// The partition's reference clock. Created once per partition; immutable.
class ReferenceTime {
 public:
  /// tsc_hz: the partition's (virtual) TSC frequency in Hz, nonzero.
  /// tsc_at_creation: the virtual TSC value at partition creation (reference time 0).
  ReferenceTime(uint64_t tsc_hz, uint64_t tsc_at_creation);

  uint64_t tsc_hz() const { return tsc_hz_; }
  uint64_t tsc_at_creation() const { return tsc0_; }

  /// Whether a reference TSC page can express this clock: TscScale must fit in 64 bits, which
  /// needs tsc_hz > 10 MHz. Otherwise the page is published invalid (TscSequence 0) and the
  /// guest falls back to the TIME_REF_COUNT MSR.
  bool tsc_page_available() const { return scale_ != 0; }
  /// TscScale and TscOffset as the page holds them (0 and 0 when !tsc_page_available()).
  uint64_t tsc_scale() const { return scale_; }
  int64_t tsc_offset() const { return static_cast<int64_t>(offset_); }

  /// TIME_REF_COUNT in 100 ns units for a virtual TSC value. For tsc >= tsc_at_creation and a
  /// page-capable frequency this equals ((tsc * TscScale) >> 64) + TscOffset exactly; without
  /// a page it is floor((tsc - tsc0) * 10^7 / tsc_hz). A tsc below tsc_at_creation (before the
  /// partition existed) gives 0.
  uint64_t counter_at_tsc(uint64_t tsc) const;

  /// The first virtual TSC value at which TIME_REF_COUNT reaches `counter` (the counter is
  /// monotonic in the TSC: a binary search over the formula itself, so the two agree
  /// exactly); ~0 if it never does. What a timer deadline in reference time is in cycles.
  uint64_t tsc_at_counter(uint64_t counter) const;

  /// TIME_REF_COUNT at simulated time t for a partition whose virtual TSC is the processor's
  /// TSC (TSC offset 0): tsc = floor(t * tsc_hz / 10^12) (core/time.h Clock::ticks_at).
  uint64_t counter_at_time(SimTime t) const { return counter_at_tsc(Clock(tsc_hz_).ticks_at(t)); }

  /// The page contents to publish with `sequence` (pass next_tsc_sequence(old)); sequence 0
  /// when !tsc_page_available().
  spec::HvReferenceTscPage tsc_page(uint32_t sequence) const;

  /// What a guest computes from a page and a TSC value (Linux hv_read_tsc_page_tsc): the
  /// 128-bit product shifted right by 64, plus the offset, modulo 2^64.
  static uint64_t page_time(const spec::HvReferenceTscPage& page, uint64_t tsc);

 private:
  uint64_t tsc_hz_;
  uint64_t tsc0_;
  uint64_t scale_;   ///< 0 when no page is possible
  uint64_t offset_;  ///< two's complement of floor(tsc0 * scale / 2^64)
};

/// The sequence number to publish after `previous`: previous + 1, skipping 0 (invalid) and
/// 0xFFFFFFFF (invalid to kernels up to about 4.4; dossier §5.2).
uint32_t next_tsc_sequence(uint32_t previous);

/// floor((tsc - tsc0) * 10^7 / tsc_hz): the ideal reference counter, for comparison. Exact for
/// all 64-bit inputs (128-bit product).
uint64_t ideal_reference_counter(uint64_t tsc_hz, uint64_t tsc0, uint64_t tsc);

}  // namespace hvsim::hv
