// The scheduler: clocked components (processors) advance in deterministic quanta of
// simulated time, interleaved with the event queue, on one host thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/event_queue.h"
#include "core/time.h"

namespace hvsim {

/// Something that advances with simulated time by itself (a processor).
class Clocked {
 public:
  virtual ~Clocked() = default;
  /// Advances this component's local time towards `limit` and returns the time reached
  /// (>= the previous local time; may exceed limit by at most one instruction). Returns
  /// early when stop is requested. A component with nothing to do (halted) jumps to limit.
  virtual SimTime advance(SimTime limit) = 0;
  /// This component's local time.
  virtual SimTime local_time() const = 0;
};

/// Runs the machine. Each round: t = min(global time + quantum, next event time); every
/// component advances to t in the order added; then events up to t fire. A stop request
/// (from a device or a limit) ends the round early but at an instruction boundary, and so
/// does reaching run()'s `until`: the round's end is kept (and saved in checkpoints via
/// round_end()/restore_round()), and the next run() finishes that round before starting
/// another, so a run cut anywhere continues exactly as an uninterrupted one would. With no
/// components a round ends at the next event or `until`.
class Scheduler {
 public:
  /// quantum: the longest round in picoseconds (nonzero).
  Scheduler(EventQueue& events, SimTime quantum);
  /// Adds a component (not owned); components advance in the order added.
  void add(Clocked* component);
  /// Asks the run to stop at the next instruction boundary. Processors poll stop_flag().
  void request_stop() { stop_ = true; }
  bool stop_requested() const { return stop_; }
  const bool* stop_flag() const { return &stop_; }
  /// Runs until position() >= `until` or a stop request; clears the stop request on return
  /// and returns true if one was made (also when it came with the last round's events). A
  /// stop requested before the call returns true at once.
  bool run(SimTime until);
  /// The end of the round in progress (interrupted by a stop), or kNever between rounds.
  SimTime round_end() const { return round_end_; }
  /// Restore support: sets the round in progress (kNever: none), as saved by round_end().
  void restore_round(SimTime round_end) { round_end_ = round_end; }
  /// Global time: every component has reached at least this time.
  SimTime now() const { return events_.now(); }
  /// How far the run has got in order: inside a round, the local time of the first
  /// component that has not finished it; else now(). run(until) returns at once when
  /// position() >= until.
  SimTime position() const;
  SimTime quantum() const { return quantum_; }

 private:
  EventQueue& events_;
  SimTime quantum_;
  std::vector<Clocked*> components_;
  SimTime round_end_ = kNever;  // kNever: no round in progress
  bool stop_ = false;
};

}  // namespace hvsim
