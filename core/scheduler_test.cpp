// Tests of the scheduler: round boundaries, stops, and resume-equivalence.
#include "core/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/rng.h"

namespace hvsim {
namespace {

// A processor stand-in: executes "instructions" of pseudo-random cost, logs each one,
// schedules events now and then (which log, may halt/wake a CPU, may request stops),
// and requests a stop after the instruction counts in `stops`.
class MockCpu : public Clocked {
 public:
  MockCpu(EventQueue& q, Scheduler*& sched, std::vector<std::string>& log, std::string name,
          uint64_t seed, std::set<uint64_t> stops)
      : q_(q), sched_(sched), log_(log), name_(std::move(name)), rng_(seed), stops_(stops) {}

  SimTime advance(SimTime limit) override {
    if (halted_) {
      t_ = std::max(t_, limit);
      return t_;
    }
    while (t_ < limit) {
      t_ += 1 + rng_.below(97);
      ++insns_;
      log_.push_back(name_ + " insn " + std::to_string(insns_) + " at " + std::to_string(t_));
      if (insns_ % 7 == 0) {
        SimTime when = t_ + rng_.below(700);
        uint64_t n = insns_;
        q_.schedule(
            when,
            [this, n] {
              log_.push_back(name_ + " event " + std::to_string(n) + " at " +
                             std::to_string(q_.now()));
              if (n % 5 == 0 && peer_) peer_->halted_ = !peer_->halted_;
              if (event_stops_.count(n)) sched_->request_stop();
            },
            "mock");
      }
      if (stops_.count(insns_)) sched_->request_stop();
      if (sched_->stop_requested()) break;
    }
    return t_;
  }
  SimTime local_time() const override { return t_; }

  MockCpu* peer_ = nullptr;
  std::set<uint64_t> event_stops_;

 private:
  EventQueue& q_;
  Scheduler*& sched_;
  std::vector<std::string>& log_;
  std::string name_;
  Rng rng_;
  std::set<uint64_t> stops_;
  SimTime t_ = 0;
  uint64_t insns_ = 0;
  bool halted_ = false;
};

struct Result {
  std::vector<std::string> log;
  SimTime now;
  int stops;
};

// Runs three mock CPUs to `until`; `interrupted` adds stop requests at many points.
// `swap_scheduler` replaces the scheduler after every stop by a fresh one restored from
// round_end(), as a checkpoint restore would.
Result simulate(SimTime until, bool interrupted, bool swap_scheduler = false) {
  Result r{};
  EventQueue q;
  auto sched = std::make_unique<Scheduler>(q, 1000);
  Scheduler* s = sched.get();
  std::set<uint64_t> none, a, b, c;
  if (interrupted) {
    a = {1, 2, 3, 50, 51, 400, 777, 1500};
    b = {10, 11, 12, 13, 300, 1000};
    c = {5, 700};
  }
  MockCpu cpu0(q, s, r.log, "cpu0", 1, a), cpu1(q, s, r.log, "cpu1", 2, b),
      cpu2(q, s, r.log, "cpu2", 3, c);
  cpu0.peer_ = &cpu2;
  cpu1.peer_ = &cpu0;
  if (interrupted) cpu1.event_stops_ = {70, 140, 700};
  for (MockCpu* cpu : {&cpu0, &cpu1, &cpu2}) s->add(cpu);
  while (s->run(until)) {
    ++r.stops;
    if (swap_scheduler) {
      SimTime end = s->round_end();
      sched = std::make_unique<Scheduler>(q, 1000);
      s = sched.get();
      s->restore_round(end);
      for (MockCpu* cpu : {&cpu0, &cpu1, &cpu2}) s->add(cpu);
    }
  }
  r.now = s->position();
  r.log.push_back("end " + std::to_string(cpu0.local_time()) + " " +
                  std::to_string(cpu1.local_time()) + " " + std::to_string(cpu2.local_time()));
  return r;
}

TEST(Scheduler, StoppedRunsContinueExactlyAsUninterrupted) {
  Result plain = simulate(200'000, false);
  Result stopped = simulate(200'000, true);
  EXPECT_EQ(plain.stops, 0);
  EXPECT_GT(stopped.stops, 10);
  EXPECT_GE(plain.now, 200'000u);
  EXPECT_EQ(stopped.now, plain.now);
  ASSERT_GT(plain.log.size(), 5000u);
  EXPECT_EQ(stopped.log, plain.log);
}

TEST(Scheduler, RestoredRoundContinuesExactly) {
  Result plain = simulate(200'000, false);
  Result restored = simulate(200'000, true, /*swap_scheduler=*/true);
  EXPECT_GT(restored.stops, 10);
  EXPECT_EQ(restored.log, plain.log);
}

TEST(Scheduler, RunsAreRepeatable) {
  EXPECT_EQ(simulate(50'000, true).log, simulate(50'000, true).log);
}

// Records the limits it is asked to reach.
class Recorder : public Clocked {
 public:
  SimTime advance(SimTime limit) override {
    limits.push_back(limit);
    t_ = limit;
    return t_;
  }
  SimTime local_time() const override { return t_; }
  std::vector<SimTime> limits;

 private:
  SimTime t_ = 0;
};

TEST(Scheduler, RoundEndsAtQuantumOrEventAndUntilPausesInside) {
  EventQueue q;
  Scheduler s(q, 1000);
  Recorder rec;
  s.add(&rec);
  std::vector<SimTime> fired_at;
  q.schedule(
      2500, [&] { fired_at.push_back(q.now()); }, "e");
  EXPECT_FALSE(s.run(4200));
  // Rounds end at the quantum or the event, never at `until`: the run pauses inside the
  // round [3500, 4500] at 4200 and the round stays in progress.
  EXPECT_EQ(rec.limits, (std::vector<SimTime>{1000, 2000, 2500, 3500, 4200}));
  EXPECT_EQ(fired_at, (std::vector<SimTime>{2500}));
  EXPECT_EQ(s.now(), 3500u);
  EXPECT_EQ(s.position(), 4200u);
  EXPECT_EQ(s.round_end(), 4500u);
  EXPECT_FALSE(s.run(4200));  // already there
  EXPECT_EQ(rec.limits.size(), 5u);
  EXPECT_FALSE(s.run(5000));  // the round goes on to 4500, the next pauses at 5000
  EXPECT_EQ(rec.limits, (std::vector<SimTime>{1000, 2000, 2500, 3500, 4200, 4500, 5000}));
  EXPECT_EQ(s.position(), 5000u);
}

TEST(Scheduler, RunsCutAtAnyTimeInterleaveAsOneRun) {
  // Where runs are cut (run(until) many times) must not change the interleaving.
  Result whole = simulate(100'000, false);
  for (SimTime step : {SimTime{1}, SimTime{333}, SimTime{1000}, SimTime{4567}}) {
    Result r{};
    EventQueue q;
    auto sched = std::make_unique<Scheduler>(q, 1000);
    Scheduler* s = sched.get();
    MockCpu cpu0(q, s, r.log, "cpu0", 1, {}), cpu1(q, s, r.log, "cpu1", 2, {}),
        cpu2(q, s, r.log, "cpu2", 3, {});
    cpu0.peer_ = &cpu2;
    cpu1.peer_ = &cpu0;
    for (MockCpu* cpu : {&cpu0, &cpu1, &cpu2}) s->add(cpu);
    for (SimTime t = step; t < 100'000; t += step) EXPECT_FALSE(s->run(t));
    EXPECT_FALSE(s->run(100'000));
    r.log.push_back("end " + std::to_string(cpu0.local_time()) + " " +
                    std::to_string(cpu1.local_time()) + " " + std::to_string(cpu2.local_time()));
    EXPECT_EQ(r.log, whole.log) << "runs cut every " << step << " ps";
  }
}

TEST(Scheduler, NoComponentsJumpsToEventsAndUntil) {
  EventQueue q;
  Scheduler s(q, 10);
  EXPECT_FALSE(s.run(1'000'000'000));
  EXPECT_EQ(s.now(), 1'000'000'000u);
  std::vector<SimTime> fired_at;
  q.schedule(
      2'000'000'000, [&] { fired_at.push_back(q.now()); }, "e");
  EXPECT_FALSE(s.run(3'000'000'000));
  EXPECT_EQ(fired_at, (std::vector<SimTime>{2'000'000'000}));
  EXPECT_EQ(s.now(), 3'000'000'000u);
}

TEST(Scheduler, StopFromAnEventEndsTheRunAfterItsRound) {
  EventQueue q;
  Scheduler s(q, 1000);
  Recorder rec;
  s.add(&rec);
  q.schedule(
      1500, [&] { s.request_stop(); }, "stop");
  EXPECT_TRUE(s.run(10'000));
  EXPECT_FALSE(s.stop_requested());
  EXPECT_EQ(s.now(), 1500u);
  EXPECT_FALSE(s.run(10'000));
  EXPECT_EQ(s.position(), 10'000u);
}

TEST(Scheduler, StopBeforeRunReturnsAtOnce) {
  EventQueue q;
  Scheduler s(q, 1000);
  Recorder rec;
  s.add(&rec);
  s.request_stop();
  EXPECT_TRUE(*s.stop_flag());
  EXPECT_TRUE(s.run(5000));
  EXPECT_FALSE(s.stop_requested());
  EXPECT_TRUE(rec.limits.empty());
  EXPECT_EQ(s.now(), 0u);
}

TEST(Scheduler, InterruptedRoundGoesOnFromWhereItStopped) {
  EventQueue q;
  Scheduler* sp = nullptr;
  std::vector<std::string> log;
  MockCpu cpu(q, sp, log, "c", 9, {3});
  Scheduler s(q, 1000);
  sp = &s;
  s.add(&cpu);
  EXPECT_TRUE(s.run(1000));  // stopped after the third instruction
  EXPECT_EQ(s.round_end(), 1000u);
  SimTime stopped_at = cpu.local_time();
  EXPECT_LT(stopped_at, 1000u);
  EXPECT_FALSE(s.run(10));  // behind the position already: nothing runs
  EXPECT_EQ(cpu.local_time(), stopped_at);
  EXPECT_FALSE(s.run(1000));  // the round goes on to its end
  EXPECT_EQ(s.now(), 1000u);
  EXPECT_GE(cpu.local_time(), 1000u);
}

class Stuck : public Clocked {
 public:
  SimTime advance(SimTime) override { return 0; }
  SimTime local_time() const override { return 0; }
};

TEST(Scheduler, Misuse) {
  EventQueue q;
  EXPECT_THROW(Scheduler(q, 0), InternalError);
  Scheduler s(q, 100);
  EXPECT_THROW(s.add(nullptr), InternalError);
  Stuck stuck;
  s.add(&stuck);
  EXPECT_THROW(s.run(1000), InternalError);
}

}  // namespace
}  // namespace hvsim
