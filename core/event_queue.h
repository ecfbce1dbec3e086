// The event queue: callbacks at simulated times, fired in a deterministic total order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/time.h"

namespace hvsim {

class InspectNode;

using EventId = uint64_t;

/// Events fire in order of (time, sequence number of scheduling): two events at the same
/// time fire in the order they were scheduled. Ids are never reused. Events are not saved
/// in checkpoints: each component saves the times of its own pending events and schedules
/// them again on restore; the queue saves only its clock and sequence counter.
class EventQueue {
 public:
  /// Schedules `fn` at absolute time `when` (>= now(); earlier throws InternalError).
  /// `name` is for the trace/inspect. Callbacks may schedule and cancel events.
  EventId schedule(SimTime when, std::function<void()> fn, std::string_view name);
  /// Restore support: schedules `fn` again with the id it had when it was saved (so it keeps
  /// its place among events at the same time). InputError if `id` is not one this queue has
  /// handed out (>= next_seq(), 0) or is pending, or `when` is before now().
  EventId schedule_restored(SimTime when, EventId id, std::function<void()> fn,
                            std::string_view name);
  /// Cancels a pending event; false if it already fired or was cancelled.
  bool cancel(EventId id);
  /// Time of the earliest pending event, or kNever.
  SimTime next_time() const;
  /// Fires, in order, every event with time <= t (including ones scheduled meanwhile
  /// for times <= t), then sets now() = t (t >= now()).
  void run_until(SimTime t);
  SimTime now() const { return now_; }
  /// Number of events scheduled and neither fired nor cancelled (exact).
  size_t pending() const;
  uint64_t fired() const { return fired_; }
  /// Restore support: sets the clock and sequence counter (queue must be empty).
  void restore_clock(SimTime now, uint64_t next_seq);
  uint64_t next_seq() const { return next_seq_; }
  /// Publishes now, pending, fired and the next event's time and name.
  void inspect(InspectNode& node) const;

 private:
  struct Event {
    SimTime when;
    uint64_t seq;  // also the EventId
    std::function<void()> fn;
    std::string name;
  };
  static bool later(const Event& a, const Event& b);
  void drop_cancelled_top();
  // Binary min-heap on (when, seq). Cancelled events stay until they reach the top or
  // a compaction, but the top is always a live event.
  std::vector<Event> heap_;
  // Ids scheduled and neither fired nor cancelled. Why a hash set: it is only looked
  // up, never iterated, so its host-dependent order cannot reach simulated state.
  std::unordered_set<EventId> live_;
  size_t cancelled_in_heap_ = 0;
  SimTime now_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t fired_ = 0;
};

}  // namespace hvsim
