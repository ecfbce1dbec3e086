// Partition reference counter and reference TSC page (dossier §5.1-5.2).
#include "hv/reference_time.h"

namespace hvsim::hv {

namespace {

using u128 = unsigned __int128;

uint64_t mul_shr64(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<u128>(a) * b) >> 64);
}

}  // namespace

ReferenceTime::ReferenceTime(uint64_t tsc_hz, uint64_t tsc_at_creation)
    : tsc_hz_(tsc_hz == 0 ? 1 : tsc_hz), tsc0_(tsc_at_creation), scale_(0), offset_(0) {
  // Why rounded up: the counter then never runs behind the ideal floor((tsc - tsc0) * 10^7 / f)
  // and is exact at whole multiples of 100 ns when tsc0 * 10^7 / f is whole (docs/hv.md).
  // tsc_hz > 10^7 keeps the quotient below 2^64.
  if (tsc_hz_ > spec::kReferenceCounterHz) {
    u128 numerator = static_cast<u128>(spec::kReferenceCounterHz) << 64;
    scale_ = static_cast<uint64_t>((numerator + tsc_hz_ - 1) / tsc_hz_);
    offset_ = uint64_t{0} - mul_shr64(tsc0_, scale_);
  }
}

uint64_t ReferenceTime::counter_at_tsc(uint64_t tsc) const {
  if (tsc < tsc0_) return 0;
  if (scale_ != 0) return mul_shr64(tsc, scale_) + offset_;
  return ideal_reference_counter(tsc_hz_, tsc0_, tsc);
}

uint64_t ReferenceTime::tsc_at_counter(uint64_t counter) const {
  if (counter_at_tsc(UINT64_MAX) < counter) return UINT64_MAX;
  uint64_t lo = tsc0_, hi = UINT64_MAX;  // counter_at_tsc(hi) >= counter
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (counter_at_tsc(mid) >= counter)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

spec::HvReferenceTscPage ReferenceTime::tsc_page(uint32_t sequence) const {
  spec::HvReferenceTscPage page{};
  if (scale_ == 0) return page;  // TscSequence 0: use TIME_REF_COUNT
  page.tsc_sequence = sequence;
  page.tsc_scale = scale_;
  page.tsc_offset = static_cast<int64_t>(offset_);
  return page;
}

uint64_t ReferenceTime::page_time(const spec::HvReferenceTscPage& page, uint64_t tsc) {
  return mul_shr64(tsc, page.tsc_scale) + static_cast<uint64_t>(page.tsc_offset);
}

uint32_t next_tsc_sequence(uint32_t previous) {
  uint32_t next = previous + 1;
  while (next == spec::kTscSequenceInvalid || next == spec::kTscSequenceLegacyInvalid) ++next;
  return next;
}

uint64_t ideal_reference_counter(uint64_t tsc_hz, uint64_t tsc0, uint64_t tsc) {
  if (tsc < tsc0 || tsc_hz == 0) return 0;
  u128 ticks = static_cast<u128>(tsc - tsc0) * spec::kReferenceCounterHz / tsc_hz;
  // Only a TSC slower than 10 MHz can leave 64 bits; saturate rather than wrap backwards.
  return ticks > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(ticks);
}

}  // namespace hvsim::hv
