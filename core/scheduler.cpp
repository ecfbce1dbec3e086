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
      SimTime end = std::min(events_.next_time(), until);
      if (!components_.empty()) {
        SimTime q = now() > kNever - quantum_ ? kNever : now() + quantum_;
        end = std::min(end, q);
      }
      round_end_ = end;
    }
    for (Clocked* c : components_) {
      while (c->local_time() < round_end_) {
        SimTime before = c->local_time();
        c->advance(round_end_);
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

}  // namespace hvsim
