// Unit tests of the 82093AA model: registers, edge and level delivery, remote IRR.
#include "devices/ioapic/ioapic.h"

#include <gtest/gtest.h>

#include <vector>

namespace hvsim {
namespace {

struct Rig {
  std::vector<IoApicMessage> sent;
  IoApic io{[this](const IoApicMessage& m) { sent.push_back(m); }};
  void write(uint32_t reg, uint32_t v) {
    io.mmio_write(0, 4, reg);
    io.mmio_write(0x10, 4, v);
  }
  uint32_t read(uint32_t reg) {
    io.mmio_write(0, 4, reg);
    return static_cast<uint32_t>(io.mmio_read(0x10, 4));
  }
};

TEST(IoApic, VersionAndMaskedAtReset) {
  Rig r;
  EXPECT_EQ(r.read(1), 0x170011u);
  EXPECT_EQ(r.read(0x10), 0x10000u);
  r.io.set_irq(2, true);
  EXPECT_TRUE(r.sent.empty());
}

TEST(IoApic, EdgeDeliversOncePerRisingEdge) {
  Rig r;
  r.write(0x15, 3u << 24);  // pin 2 high dword: destination 3
  r.write(0x14, 0x833);     // vector 0x33, logical
  r.io.set_irq(2, true);
  r.io.set_irq(2, true);
  r.io.set_irq(2, false);
  ASSERT_EQ(r.sent.size(), 1u);
  EXPECT_EQ(r.sent[0].vector, 0x33);
  EXPECT_EQ(r.sent[0].dest, 3);
  EXPECT_TRUE(r.sent[0].logical);
  EXPECT_FALSE(r.sent[0].level);
}

TEST(IoApic, LevelUsesRemoteIrrUntilEoi) {
  Rig r;
  r.write(0x10 + 2 * 9, 0x8041);  // pin 9: level, vector 0x41
  r.io.set_irq(9, true);
  r.io.set_irq(9, true);
  EXPECT_EQ(r.sent.size(), 1u);
  EXPECT_TRUE(r.read(0x10 + 2 * 9) & (1u << 14));  // remote IRR
  r.io.eoi(0x41);                                  // still asserted: again
  EXPECT_EQ(r.sent.size(), 2u);
  r.io.set_irq(9, false);
  r.io.eoi(0x41);
  EXPECT_EQ(r.sent.size(), 2u);
  EXPECT_FALSE(r.read(0x10 + 2 * 9) & (1u << 14));
}

}  // namespace
}  // namespace hvsim
