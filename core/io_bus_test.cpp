// Tests of the port I/O and MMIO buses.
#include "core/io_bus.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/inspect.h"

namespace hvsim {
namespace {

struct Dev : PortIoHandler, MmioHandler {
  uint32_t io_read(uint16_t port, unsigned size) override {
    last = port;
    return 0x1000 + port + size;
  }
  void io_write(uint16_t port, unsigned size, uint32_t value) override {
    last = port;
    written = value;
  }
  uint64_t mmio_read(uint64_t offset, unsigned size) override {
    last = offset;
    return 0xAB00 + offset + size;
  }
  void mmio_write(uint64_t offset, unsigned size, uint64_t value) override {
    last = offset;
    written = value;
  }
  uint64_t last = 0, written = 0;
};

TEST(PortIoBus, RoutesClaimedPorts) {
  PortIoBus bus;
  Dev uart, pic;
  bus.map(0x3F8, 8, &uart, "uart");
  bus.map(0x20, 2, &pic, "pic");
  EXPECT_EQ(bus.read(0x3FD, 1), 0x1000u + 0x3FD + 1);
  EXPECT_EQ(uart.last, 0x3FDu);  // absolute port
  bus.write(0x21, 1, 0xFB);
  EXPECT_EQ(pic.written, 0xFBu);
  bus.write(0x3F8, 1, 'A');
  EXPECT_EQ(uart.written, uint64_t{'A'});
}

TEST(PortIoBus, UnclaimedReadsAllOnes) {
  PortIoBus bus;
  EXPECT_EQ(bus.read(0x80, 1), 0xFFu);
  EXPECT_EQ(bus.read(0x80, 2), 0xFFFFu);
  EXPECT_EQ(bus.read(0x80, 4), 0xFFFFFFFFu);
  bus.write(0x80, 1, 0);
  InspectNode n;
  bus.inspect(n);
  EXPECT_EQ(n.to_json(0), R"({"unclaimed_reads":3,"unclaimed_writes":1})");
}

TEST(PortIoBus, RejectsOverlapAndBadRanges) {
  PortIoBus bus;
  Dev a, b;
  bus.map(0x60, 1, &a, "kbd");
  EXPECT_THROW(bus.map(0x5F, 2, &b, "x"), InternalError);
  EXPECT_THROW(bus.map(0x60, 1, &b, "x"), InternalError);
  EXPECT_THROW(bus.map(0x10, 0, &b, "x"), InternalError);
  EXPECT_THROW(bus.map(0xFFFF, 2, &b, "x"), InternalError);
  EXPECT_THROW(bus.map(1, 0xFFFFFFFFu, &b, "x"), InternalError);
  EXPECT_NO_THROW(bus.map(0xFFFF, 1, &b, "last"));
  EXPECT_NO_THROW(bus.map(0x61, 1, &b, "adjacent"));
}

TEST(PortIoBus, CountsPerRange) {
  PortIoBus bus;
  Dev d;
  bus.map(0x70, 2, &d, "rtc");
  bus.write(0x70, 1, 0x0A);
  bus.read(0x71, 1);
  bus.read(0x71, 1);
  InspectNode n;
  bus.inspect(n);
  EXPECT_EQ(n.to_json(0), R"({"unclaimed_reads":0,"unclaimed_writes":0,)"
                          R"("rtc":{"first_port":112,"ports":2,"reads":2,"writes":1}})");
}

TEST(MmioBus, RoutesByOffsetAndFindsBoundaries) {
  MmioBus bus;
  Dev hpet, lapic;
  bus.map(0xFEE00000, 0x1000, &lapic, "lapic");
  bus.map(0xFED00000, 0x400, &hpet, "hpet");
  EXPECT_TRUE(bus.claimed(0xFED00000));
  EXPECT_TRUE(bus.claimed(0xFED003FF));
  EXPECT_FALSE(bus.claimed(0xFED00400));
  EXPECT_FALSE(bus.claimed(0xFECFFFFF));
  EXPECT_EQ(bus.read(0xFEE00020, 4), 0xAB00u + 0x20 + 4);
  EXPECT_EQ(lapic.last, 0x20u);
  bus.write(0xFED000F0, 8, 0x123456789ull);
  EXPECT_EQ(hpet.written, 0x123456789ull);
  EXPECT_EQ(hpet.last, 0xF0u);
}

TEST(MmioBus, UnclaimedReadsAllOnes) {
  MmioBus bus;
  EXPECT_EQ(bus.read(0x1000, 1), 0xFFu);
  EXPECT_EQ(bus.read(0x1000, 2), 0xFFFFu);
  EXPECT_EQ(bus.read(0x1000, 4), 0xFFFFFFFFu);
  EXPECT_EQ(bus.read(0x1000, 8), ~uint64_t{0});
  bus.write(0x1000, 4, 1);
  InspectNode n;
  bus.inspect(n);
  EXPECT_EQ(n.to_json(0), R"({"unclaimed_reads":4,"unclaimed_writes":1})");
}

TEST(MmioBus, RejectsOverlapAndBadRanges) {
  MmioBus bus;
  Dev d;
  bus.map(0x1000, 0x1000, &d, "a");
  EXPECT_THROW(bus.map(0x1FFF, 1, &d, "x"), InternalError);
  EXPECT_THROW(bus.map(0x0, 0x1001, &d, "x"), InternalError);
  EXPECT_THROW(bus.map(0x800, 0x10000, &d, "x"), InternalError);  // covers a
  EXPECT_THROW(bus.map(0x5000, 0, &d, "x"), InternalError);
  EXPECT_THROW(bus.map(~uint64_t{0} - 10, 100, &d, "x"), InternalError);
  EXPECT_NO_THROW(bus.map(0x2000, 0x10, &d, "b"));
  EXPECT_NO_THROW(bus.map(0x0, 0x1000, &d, "c"));
  InspectNode n;
  bus.read(0x2004, 4);
  bus.inspect(n);
  // Children listed by base address.
  EXPECT_EQ(n.children()[0].first, "c");
  EXPECT_EQ(n.children()[1].first, "a");
  EXPECT_EQ(n.find("b")->entries()[2].counter, 1u);  // reads
}

}  // namespace
}  // namespace hvsim
