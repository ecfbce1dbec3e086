// Unit tests of the MC146818 model: calendar arithmetic, data modes, SET, periodic IRQ 8.
#include "devices/rtc_cmos/rtc_cmos.h"

#include <gtest/gtest.h>

namespace hvsim {
namespace {

struct Line : IrqSink {
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
  Line irq;
  RtcCmos rtc;
  explicit Rig(int64_t start = 1704067200)
      : rtc(
            RtcCmosParams{start, 256u << 20, 4}, events, [this] { return now; }, IrqLine{&irq, 8}) {
  }
  uint8_t rd(uint8_t reg) {
    rtc.io_write(0x70, 1, reg);
    return static_cast<uint8_t>(rtc.io_read(0x71, 1));
  }
  void wr(uint8_t reg, uint8_t v) {
    rtc.io_write(0x70, 1, reg);
    rtc.io_write(0x71, 1, v);
  }
};

TEST(RtcCmos, CalendarRoundTrip) {
  for (int64_t e : {0ll, 951782400ll, 1704067200ll, 4102444799ll}) {
    EXPECT_EQ(RtcCmos::to_epoch(RtcCmos::to_datetime(e)), e);
  }
  RtcCmos::DateTime d = RtcCmos::to_datetime(951782400);  // 2000-02-29
  EXPECT_EQ(d.year, 2000);
  EXPECT_EQ(d.month, 2);
  EXPECT_EQ(d.day, 29);
  EXPECT_EQ(d.weekday, 3);  // Tuesday
}

TEST(RtcCmos, TimeFromStartAndSimulatedTime) {
  Rig r;
  EXPECT_EQ(r.rd(9), 0x24);  // BCD year
  EXPECT_EQ(r.rd(8), 0x01);
  EXPECT_EQ(r.rd(0x32), 0x20);
  r.now = 3723 * kPicosPerSecond;  // 01:02:03
  EXPECT_EQ(r.rd(4), 0x01);
  EXPECT_EQ(r.rd(2), 0x02);
  EXPECT_EQ(r.rd(0), 0x03);
  r.wr(0x0B, 0x04);  // binary, 12 hour
  EXPECT_EQ(r.rd(0), 3);
  EXPECT_EQ(r.rd(4), 1);  // 1 AM
  r.now += 12 * 3600 * kPicosPerSecond;
  EXPECT_EQ(r.rd(4), 0x81);  // 1 PM
  EXPECT_EQ(r.rd(0x0D), 0x80);
  EXPECT_EQ(r.rd(0x15) | r.rd(0x16) << 8, 640);
  EXPECT_EQ(r.rd(0x5F), 3);
}

TEST(RtcCmos, SetBitAndWrites) {
  Rig r;
  r.wr(0x0B, 0x82);  // SET, BCD, 24 h
  r.wr(9, 0x30);     // 2030
  r.now = 10 * kPicosPerSecond;
  EXPECT_EQ(r.rd(0), 0x00);  // frozen while SET
  r.wr(0x0B, 0x02);
  r.now = 15 * kPicosPerSecond;
  EXPECT_EQ(r.rd(9), 0x30);
  EXPECT_EQ(r.rd(0), 0x05);
}

TEST(RtcCmos, PeriodicInterruptUntilRegisterCIsRead) {
  Rig r;
  r.wr(0x0A, 0x26);  // 1024 Hz
  r.wr(0x0B, 0x42);  // PIE
  r.events.run_until(kPicosPerMilli);
  EXPECT_EQ(r.irq.edges, 1);
  r.events.run_until(3 * kPicosPerMilli);
  EXPECT_EQ(r.irq.edges, 1);  // line still high: register C not read
  EXPECT_EQ(r.rd(0x0C), 0xC0);
  EXPECT_FALSE(r.irq.level);
  r.events.run_until(4 * kPicosPerMilli);
  EXPECT_EQ(r.irq.edges, 2);
}

}  // namespace
}  // namespace hvsim
