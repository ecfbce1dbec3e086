// The scheduler: deterministic rounds of clocked components interleaved with events.
#include "core/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace hvsim {

Scheduler::Scheduler(EventQueue& events, SimTime quantum) : events_(events), quantum_(quantum) {
  if (quantum == 0) throw InternalError("scheduler quantum must be nonzero");
}

void Scheduler::add(Clocked* component) {
  if (!component) throw InternalError("Scheduler::add(nullptr)");
  components_.push_back(component);
}

bool Scheduler::run(SimTime until) {
  for (;;) {
    if (stop_) {
      stop_ = false;
      return true;
    }
    if (round_end_ == kNever) {
      if (now() >= until) return false;
      // The round's end does not depend on `until`: where a run is cut must not change how
      // the processors interleave (a run to `until` pauses inside the round instead).
      SimTime end = events_.next_time();
      if (!components_.empty()) {
        SimTime q = now() > kNever - quantum_ ? kNever : now() + quantum_;
        end = std::min(end, q);
      } else {
        end = std::min(end, until);
      }
      round_end_ = end;
    }
    for (Clocked* c : components_) {
      while (c->local_time() < round_end_) {
        // `until` reached inside the round: pause here, before the components after this
        // one; the next run goes on from exactly this point.
        if (c->local_time() >= until) return false;
        SimTime before = c->local_time();
        c->advance(std::min(round_end_, until));
        if (stop_) {
          stop_ = false;
          return true;
        }
        if (c->local_time() <= before)
          throw InternalError("a component made no progress towards " + std::to_string(round_end_) +
                              " ps without a stop request");
      }
    }
    SimTime end = round_end_;
    round_end_ = kNever;
    events_.run_until(end);
  }
}

SimTime Scheduler::position() const {
  if (round_end_ == kNever) return now();
  for (const Clocked* c : components_)
    if (c->local_time() < round_end_) return c->local_time();
  return round_end_;
}

}  // namespace hvsim
