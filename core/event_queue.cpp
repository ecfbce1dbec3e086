// The event queue: a binary heap on (time, sequence) with lazy cancellation.
#include "core/event_queue.h"

#include <algorithm>

#include "core/error.h"
#include "core/inspect.h"

namespace hvsim {

bool EventQueue::later(const Event& a, const Event& b) {
  return a.when != b.when ? a.when > b.when : a.seq > b.seq;
}

EventId EventQueue::schedule(SimTime when, std::function<void()> fn, std::string_view name) {
  if (when < now_)
    throw InternalError("event '" + std::string(name) + "' scheduled at " + std::to_string(when) +
                        " ps, before now (" + std::to_string(now_) + " ps)");
  EventId id = next_seq_++;
  heap_.push_back(Event{when, id, std::move(fn), std::string(name)});
  std::push_heap(heap_.begin(), heap_.end(), later);
  live_.insert(id);
  return id;
}

EventId EventQueue::schedule_restored(SimTime when, EventId id, std::function<void()> fn,
                                      std::string_view name) {
  std::string what = "event '" + std::string(name) + "' " + std::to_string(id) + ": ";
  if (id == 0 || id >= next_seq_) throw InputError(what + "an id the queue never gave");
  if (live_.count(id)) throw InputError(what + "an id already pending");
  if (when < now_) throw InputError(what + "a time before now");
  heap_.push_back(Event{when, id, std::move(fn), std::string(name)});
  std::push_heap(heap_.begin(), heap_.end(), later);
  live_.insert(id);
  return id;
}

bool EventQueue::cancel(EventId id) {
  if (live_.erase(id) == 0) return false;
  ++cancelled_in_heap_;
  drop_cancelled_top();
  // Why: a timer re-armed over and over would otherwise grow the heap without bound.
  if (cancelled_in_heap_ > 64 && cancelled_in_heap_ > heap_.size() / 2) {
    std::erase_if(heap_, [&](const Event& e) { return !live_.count(e.seq); });
    std::make_heap(heap_.begin(), heap_.end(), later);
    cancelled_in_heap_ = 0;
  }
  return true;
}

void EventQueue::drop_cancelled_top() {
  while (!heap_.empty() && !live_.count(heap_.front().seq)) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    --cancelled_in_heap_;
  }
}

SimTime EventQueue::next_time() const {
  return heap_.empty() ? kNever : heap_.front().when;
}

size_t EventQueue::pending() const {
  return live_.size();
}

void EventQueue::run_until(SimTime t) {
  if (t < now_)
    throw InternalError("event queue run to " + std::to_string(t) + " ps, before now (" +
                        std::to_string(now_) + " ps)");
  while (!heap_.empty() && heap_.front().when <= t) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    Event ev = std::move(heap_.back());
    heap_.pop_back();
    live_.erase(ev.seq);
    drop_cancelled_top();
    now_ = ev.when;
    ++fired_;
    ev.fn();
  }
  now_ = t;
}

void EventQueue::restore_clock(SimTime now, uint64_t next_seq) {
  if (pending() != 0) throw InternalError("EventQueue::restore_clock with events pending");
  heap_.clear();
  cancelled_in_heap_ = 0;
  now_ = now;
  next_seq_ = next_seq;
}

void EventQueue::inspect(InspectNode& node) const {
  node.counter("now_ps", now_);
  node.counter("pending", pending());
  node.counter("fired", fired_);
  if (!heap_.empty()) {
    node.counter("next_ps", heap_.front().when);
    node.value("next", heap_.front().name);
  }
}

}  // namespace hvsim
