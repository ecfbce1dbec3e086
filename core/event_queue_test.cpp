// Tests of the event queue: ordering, ties, cancellation, callbacks that reschedule.
#include "core/event_queue.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "core/inspect.h"
#include "core/rng.h"

namespace hvsim {
namespace {

TEST(EventQueue, FiresInTimeThenSchedulingOrder) {
  EventQueue q;
  std::string log;
  q.schedule(
      30, [&] { log += 'c'; }, "c");
  q.schedule(
      10, [&] { log += 'a'; }, "a");
  q.schedule(
      20, [&] { log += 'b'; }, "b1");
  q.schedule(
      20, [&] { log += 'B'; }, "b2");
  q.schedule(
      20, [&] { log += '2'; }, "b3");
  EXPECT_EQ(q.next_time(), 10u);
  EXPECT_EQ(q.pending(), 5u);
  q.run_until(25);
  EXPECT_EQ(log, "abB2");
  EXPECT_EQ(q.now(), 25u);
  EXPECT_EQ(q.fired(), 4u);
  EXPECT_EQ(q.pending(), 1u);
  q.run_until(30);
  EXPECT_EQ(log, "abB2c");
  EXPECT_EQ(q.next_time(), kNever);
}

TEST(EventQueue, NowDuringCallbackIsTheEventTime) {
  EventQueue q;
  std::vector<SimTime> seen;
  q.schedule(
      5, [&] { seen.push_back(q.now()); }, "x");
  q.schedule(
      9, [&] { seen.push_back(q.now()); }, "y");
  q.run_until(100);
  EXPECT_EQ(seen, (std::vector<SimTime>{5, 9}));
}

TEST(EventQueue, CallbacksScheduleEventsThatFireInTheSameRun) {
  EventQueue q;
  std::string log;
  q.schedule(
      10,
      [&] {
        log += 'a';
        q.schedule(
            10, [&] { log += 'c'; }, "same time, after b");
        q.schedule(
            15, [&] { log += 'd'; }, "later, in range");
        q.schedule(
            50, [&] { log += 'x'; }, "out of range");
      },
      "a");
  q.schedule(
      10, [&] { log += 'b'; }, "b");
  q.run_until(20);
  EXPECT_EQ(log, "abcd");
  EXPECT_EQ(q.pending(), 1u);
}

TEST(EventQueue, SchedulingInThePastThrows) {
  EventQueue q;
  q.run_until(100);
  EXPECT_THROW(q.schedule(
                   99, [] {}, "late"),
               InternalError);
  EXPECT_NO_THROW(q.schedule(
      100, [] {}, "now"));
  EXPECT_THROW(q.run_until(50), InternalError);
}

TEST(EventQueue, Cancel) {
  EventQueue q;
  std::string log;
  EventId a = q.schedule(
      10, [&] { log += 'a'; }, "a");
  EventId b = q.schedule(
      20, [&] { log += 'b'; }, "b");
  EventId c = q.schedule(
      30, [&] { log += 'c'; }, "c");
  EXPECT_NE(a, b);
  EXPECT_TRUE(q.cancel(b));
  EXPECT_FALSE(q.cancel(b));
  EXPECT_EQ(q.pending(), 2u);
  EXPECT_TRUE(q.cancel(a));  // the earliest: next_time moves on
  EXPECT_EQ(q.next_time(), 30u);
  EXPECT_EQ(q.pending(), 1u);
  q.run_until(100);
  EXPECT_EQ(log, "c");
  EXPECT_FALSE(q.cancel(c));    // already fired
  EXPECT_FALSE(q.cancel(999));  // never existed
  EXPECT_EQ(q.pending(), 0u);
}

TEST(EventQueue, CallbackCancelsAnother) {
  EventQueue q;
  std::string log;
  EventId victim = 0;
  q.schedule(
      10,
      [&] {
        log += 'a';
        EXPECT_TRUE(q.cancel(victim));
      },
      "a");
  victim = q.schedule(
      10, [&] { log += 'v'; }, "victim");
  q.schedule(
      11, [&] { log += 'b'; }, "b");
  q.run_until(20);
  EXPECT_EQ(log, "ab");
}

TEST(EventQueue, CallbackCancelsItselfHarmlessly) {
  EventQueue q;
  EventId self = 0;
  bool result = true;
  self = q.schedule(
      1, [&] { result = q.cancel(self); }, "self");
  q.run_until(2);
  EXPECT_FALSE(result);
  EXPECT_EQ(q.pending(), 0u);
}

TEST(EventQueue, ManyRearmedTimersStayExactAndOrdered) {
  // A timer cancelled and re-armed many times, mixed with random events; the heap is
  // compacted along the way and the firing order must match a sorted reference.
  EventQueue q;
  Rng rng(42);
  std::vector<int> fired;
  std::vector<std::pair<SimTime, int>> expected;  // (time, scheduling order)
  EventId timer = 0;
  for (int i = 0; i < 5000; ++i) {
    if (timer) {
      EXPECT_TRUE(q.cancel(timer));
    }
    timer = q.schedule(
        1'000'000 + i, [] {}, "timer");
    SimTime when = rng.below(1000);  // many ties
    q.schedule(
        when, [&fired, i] { fired.push_back(i); }, "r");
    expected.emplace_back(when, i);
  }
  EXPECT_EQ(q.pending(), 5001u);
  std::sort(expected.begin(), expected.end());
  q.run_until(999'999);
  ASSERT_EQ(fired.size(), expected.size());
  for (size_t k = 0; k < fired.size(); ++k) EXPECT_EQ(fired[k], expected[k].second) << k;
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(q.next_time(), 1'000'000u + 4999);
}

TEST(EventQueue, RandomCancellationsKeepOrderAndCount) {
  // Cancelling most events forces the heap to be compacted; the survivors must still
  // fire in (time, scheduling) order and pending() must stay exact throughout.
  EventQueue q;
  Rng rng(7);
  std::vector<EventId> ids;
  std::vector<std::pair<SimTime, int>> expected;
  std::vector<int> fired;
  for (int i = 0; i < 2000; ++i) {
    SimTime when = rng.below(500);
    ids.push_back(q.schedule(
        when, [&fired, i] { fired.push_back(i); }, "e"));
    expected.emplace_back(when, i);
  }
  std::vector<bool> cancelled(ids.size());
  size_t live = ids.size();
  for (int k = 0; k < 1800; ++k) {
    size_t i = rng.below(ids.size());
    EXPECT_EQ(q.cancel(ids[i]), !cancelled[i]);
    if (!cancelled[i]) --live;
    cancelled[i] = true;
    ASSERT_EQ(q.pending(), live);
  }
  std::erase_if(expected, [&](const auto& e) { return cancelled[e.second]; });
  std::sort(expected.begin(), expected.end());
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(q.next_time(), expected.front().first);
  q.run_until(1000);
  ASSERT_EQ(fired.size(), expected.size());
  for (size_t k = 0; k < fired.size(); ++k) EXPECT_EQ(fired[k], expected[k].second);
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(q.fired(), expected.size());
}

TEST(EventQueue, RestoreClock) {
  EventQueue q;
  EventId id = q.schedule(
      10, [] {}, "x");
  EXPECT_THROW(q.restore_clock(0, 1), InternalError);
  q.cancel(id);
  q.restore_clock(500, 77);
  EXPECT_EQ(q.now(), 500u);
  EXPECT_EQ(q.next_seq(), 77u);
  EXPECT_EQ(q.schedule(
                600, [] {}, "y"),
            77u);
  EXPECT_EQ(q.next_time(), 600u);
}

TEST(EventQueue, Inspect) {
  EventQueue q;
  q.schedule(
      10, [] {}, "tick");
  InspectNode n;
  q.inspect(n);
  EXPECT_EQ(n.to_json(0), R"({"now_ps":0,"pending":1,"fired":0,"next_ps":10,"next":"tick"})");
}

}  // namespace
}  // namespace hvsim
