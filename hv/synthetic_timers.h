// The four synthetic timers of one virtual processor (TLFS timers.md "Synthetic Timers";
// dossier shared/spec/hyperv-interfaces.md §5.3): STIMERn_CONFIG and STIMERn_COUNT, one-shot
// and periodic, lazy, AutoEnable, direct mode (an interrupt on ApicVector) and message mode
// (an HvMessageTimerExpired message to SINTx through the VP's SynIC, in the timer's dedicated
// buffer). Time is the partition's reference time in 100 ns units (hv/reference_time.h); the
// caller says what time it is (`now`), so the model has no clock of its own.
//
// Missed periods (docs/hv.md "Synthetic timers"): a periodic timer that is polled after one or
// more further period boundaries have passed signals once and skips the others (TLFS: "some
// timer expiration signals may be skipped completely"); its next expiry is the first boundary
// after `now`, so the period grid never shifts. A non-lazy timer's one signal carries the
// earliest overdue boundary as ExpirationTime (the catch-up signal); a lazy timer's carries the
// latest one (its deferred signal, the older ones skipped entirely). A timer whose previous
// message is still undelivered skips the expiry too (the buffer is its only one).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "hv/spec/tlfs.h"

namespace hvsim {
class InspectNode;
class Hasher;
class StateWriter;
class StateReader;
}  // namespace hvsim

namespace hvsim::hv {

class Synic;

class SyntheticTimers {
 public:
  /// No expiry pending (next_expiry()).
  static constexpr uint64_t kNever = ~uint64_t{0};

  /// synic: the same VP's SynIC (message mode). raise_direct: asks the VP's interrupt
  /// controller for `vector` (direct mode, no AutoEOI). direct_available: DirectMode may be
  /// set (CPUID 0x40000003.EDX bit 19).
  SyntheticTimers(Synic& synic, std::function<void(uint8_t vector)> raise_direct,
                  bool direct_available);

  static bool is_timer_msr(uint32_t msr);
  /// RDMSR: false means #GP(0).
  bool read_msr(uint32_t msr, uint64_t* value) const;
  /// WRMSR at reference time `now`: false means #GP(0) and nothing changed. Arming a timer
  /// whose time has already come does not fire it: the next poll() does.
  bool write_msr(uint32_t msr, uint64_t value, uint64_t now);

  /// The earliest reference time at which an enabled timer expires; kNever if none.
  uint64_t next_expiry() const;
  /// Fires every timer due at `now` (expiry <= now), in timer-index order.
  void poll(uint64_t now);

  uint64_t config(unsigned n) const { return t_[n].config; }
  uint64_t count(unsigned n) const { return t_[n].count; }
  uint64_t expirations(unsigned n) const { return t_[n].fired; }
  /// Expiry signals skipped: further periods that passed before a poll, or an expiry while
  /// the timer's previous message was still undelivered.
  uint64_t missed(unsigned n) const { return t_[n].missed; }
  void inspect(InspectNode& n) const;
  void hash_into(Hasher& h) const;
  /// Checkpoints (docs/hv.md "Checkpoints"): the four timers in one section; restore throws
  /// InputError naming `section` if a timer is inconsistent (armed without being enabled).
  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

 private:
  struct Timer {
    uint64_t config = 0, count = 0;
    bool armed = false;
    uint64_t deadline = 0;  ///< reference time of the next expiry while armed
    uint64_t fired = 0, missed = 0;
  };
  /// Applies the TLFS rules after a CONFIG or COUNT write and (re)arms or disarms the timer.
  void rearm(Timer& t, uint64_t now);
  void fire(unsigned n, uint64_t now);

  Synic& synic_;
  std::function<void(uint8_t)> raise_direct_;
  bool direct_available_;
  Timer t_[spec::kStimerCount];
};

}  // namespace hvsim::hv
