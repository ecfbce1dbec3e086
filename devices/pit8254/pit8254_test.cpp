// Unit tests of the 8254 model: counting from simulated time, latch, read-back, gate 2 and
// OUT2, IRQ 0 events and their re-creation after restore.
#include "devices/pit8254/pit8254.h"

#include <gtest/gtest.h>

#include "core/state.h"

namespace hvsim {
namespace {

struct Counter : IrqSink {
  int edges = 0;
  bool level = false;
  void set_irq(unsigned, bool l) override {
    if (l && !level) ++edges;
    level = l;
  }
};

struct Rig {
  EventQueue events;
  SimTime now = 0;
  Counter irq;
  Pit8254 pit{events, [this] { return now; }, IrqLine{&irq, 0}};
  /// Tick k of the 1.193182 MHz clock, as a time.
  SimTime tick(uint64_t k) {
    Clock c(1193182);
    SimTime t = c.time_of(k);
    while (c.ticks_at(t) < k) ++t;
    return t;
  }
};

TEST(Pit8254, Mode2PeriodicIrq0) {
  Rig r;
  r.pit.io_write(0x43, 1, 0x34);
  r.pit.io_write(0x40, 1, 100);
  r.pit.io_write(0x40, 1, 0);
  r.events.run_until(r.tick(100) - 1);
  EXPECT_EQ(r.irq.edges, 0);
  r.events.run_until(r.tick(1000));
  EXPECT_EQ(r.irq.edges, 10);
}

TEST(Pit8254, LatchAndReadBack) {
  Rig r;
  r.pit.io_write(0x43, 1, 0x30);  // channel 0, mode 0
  r.pit.io_write(0x40, 1, 0x00);
  r.pit.io_write(0x40, 1, 0x10);  // 4096
  r.now = r.tick(96);
  r.pit.io_write(0x43, 1, 0x00);  // latch
  r.now = r.tick(500);
  EXPECT_EQ(r.pit.io_read(0x40, 1), 0xA0u);  // 4000 = 0x0FA0, latched at tick 96
  EXPECT_EQ(r.pit.io_read(0x40, 1), 0x0Fu);
  r.pit.io_write(0x43, 1, 0xE2);             // read-back status of channel 0
  EXPECT_EQ(r.pit.io_read(0x40, 1), 0x30u);  // OUT low, LSB/MSB, mode 0, binary
  r.now = r.tick(5000);
  r.pit.io_write(0x43, 1, 0xE2);
  EXPECT_EQ(r.pit.io_read(0x40, 1), 0xB0u);  // terminal count: OUT high
}

TEST(Pit8254, Gate2AndOut2ForCalibration) {
  Rig r;
  r.pit.io_write(0x61, 1, 0x01);  // gate 2 on
  r.pit.io_write(0x43, 1, 0xB0);  // channel 2, mode 0
  r.pit.io_write(0x42, 1, 0xE8);
  r.pit.io_write(0x42, 1, 0x03);  // 1000
  r.now = r.tick(999);
  EXPECT_EQ(r.pit.io_read(0x61, 1) & 0x20, 0u);
  r.now = r.tick(1000);
  EXPECT_EQ(r.pit.io_read(0x61, 1) & 0x21, 0x21u);
}

TEST(Pit8254, RestoreRecreatesTheIrqEvent) {
  Rig a;
  a.pit.io_write(0x43, 1, 0x34);
  a.pit.io_write(0x40, 1, 50);
  a.pit.io_write(0x40, 1, 0);
  a.events.run_until(a.tick(120));
  StateWriter w;
  a.pit.save(w);
  Rig b;
  b.events.restore_clock(a.events.now(), a.events.next_seq());
  StateReader rd(w.finish(), "test");
  b.pit.restore(rd);
  a.events.run_until(a.tick(1000));
  b.events.run_until(b.tick(1000));
  EXPECT_EQ(a.irq.edges, 20);
  EXPECT_EQ(b.irq.edges, 20 - 2);  // b saw only the edges after the checkpoint
}

}  // namespace
}  // namespace hvsim
