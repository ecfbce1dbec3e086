// The APIC bus: interrupt messages between local APICs, IOAPICs and MSIs (Intel SDM Vol. 3A
// 10.6 "Issuing interprocessor interrupts", 10.6.2 "Determining IPI destination").
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/time.h"
#include "cpu/lapic/lapic.h"

namespace hvsim::cpu {

/// Connects the local APICs of one machine. Delivery is immediate in host terms but
/// timed in simulated terms: a message sent at simulated time t is queued at each target
/// and takes effect at the target's first instruction boundary at or after t (or at its
/// next boundary if it has already run past t). Processors run in a fixed order, so the
/// result is deterministic.
class ApicBus {
 public:
  /// Adds a local APIC (not owned). Order = processor index; lowest-priority delivery
  /// picks the first matching APIC in this order.
  void attach(Lapic* lapic) { lapics_.push_back(lapic); }
  /// Sends `m` to the targets of `d`. `source` is the sending LAPIC (nullptr for an IOAPIC
  /// or MSI), needed for the self shorthands. Returns the number of targets.
  unsigned send(const ApicMessage& m, const ApicDestination& d, Lapic* source, SimTime at);
  /// Called with the vector when a LAPIC EOIs a level-triggered interrupt (IOAPICs clear
  /// their remote IRR).
  void set_eoi_listener(std::function<void(uint8_t)> fn) { eoi_listener_ = std::move(fn); }
  void broadcast_eoi(uint8_t vector) {
    if (eoi_listener_) eoi_listener_(vector);
  }
  size_t size() const { return lapics_.size(); }
  Lapic* lapic(size_t i) const { return lapics_[i]; }

 private:
  std::vector<Lapic*> lapics_;
  std::function<void(uint8_t)> eoi_listener_;
};

}  // namespace hvsim::cpu
