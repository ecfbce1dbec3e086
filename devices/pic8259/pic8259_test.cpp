#include "devices/pic8259/pic8259.h"

#include <gtest/gtest.h>

namespace hvsim {
namespace {

TEST(Pic8259, StandardInitializationThenMask) {
  Pic8259 p;
  // The classic remap: ICW1 0x11, ICW2 vector base, ICW3 cascade, ICW4 8086 mode.
  p.io_write(0x20, 1, 0x11);
  p.io_write(0x21, 1, 0x20);
  p.io_write(0x21, 1, 0x04);
  p.io_write(0x21, 1, 0x01);
  p.io_write(0xA0, 1, 0x11);
  p.io_write(0xA1, 1, 0x28);
  p.io_write(0xA1, 1, 0x02);
  p.io_write(0xA1, 1, 0x01);
  EXPECT_EQ(p.chip(0).vector_base, 0x20);
  EXPECT_EQ(p.chip(1).vector_base, 0x28);
  p.io_write(0x21, 1, 0xFF);
  p.io_write(0xA1, 1, 0xFB);
  EXPECT_EQ(p.io_read(0x21, 1), 0xFFu);
  EXPECT_EQ(p.io_read(0xA1, 1), 0xFBu);
  EXPECT_EQ(p.io_read(0x20, 1), 0u);
}

TEST(Pic8259, MaskedAtReset) {
  Pic8259 p;
  EXPECT_EQ(p.io_read(0x21, 1), 0xFFu);
  EXPECT_EQ(p.io_read(0xA1, 1), 0xFFu);
}

}  // namespace
}  // namespace hvsim

namespace hvsim {
namespace {

/// The classic remap to 0x20/0x28 with everything unmasked.
Pic8259 remapped() {
  Pic8259 p;
  for (uint16_t base : {0x20, 0xA0}) {
    p.io_write(base, 1, 0x11);
    p.io_write(base + 1, 1, base == 0x20 ? 0x20 : 0x28);
    p.io_write(base + 1, 1, base == 0x20 ? 0x04 : 0x02);
    p.io_write(base + 1, 1, 0x01);
  }
  return p;
}

TEST(Pic8259, EdgeRequestAcknowledgeAndEoi) {
  Pic8259 p = remapped();
  int changes = 0;
  p.set_output([&](bool) { ++changes; });
  p.set_irq(0, true);
  p.set_irq(0, false);
  EXPECT_TRUE(p.output());
  EXPECT_EQ(p.io_read(0x20, 1), 1u);  // IRR
  EXPECT_EQ(p.acknowledge(), 0x20);
  EXPECT_FALSE(p.output());
  p.io_write(0x20, 1, 0x0B);  // read ISR
  EXPECT_EQ(p.io_read(0x20, 1), 1u);
  p.set_irq(0, true);  // a new edge while in service: waits for the EOI
  p.set_irq(0, false);
  EXPECT_FALSE(p.output());
  p.io_write(0x20, 1, 0x20);  // non-specific EOI
  EXPECT_TRUE(p.output());
  EXPECT_EQ(p.acknowledge(), 0x20);
  EXPECT_EQ(changes, 4);  // up, down (INTA), up (EOI), down (INTA)
}

TEST(Pic8259, PriorityMaskAndCascade) {
  Pic8259 p = remapped();
  p.io_write(0x21, 1, 0x01);  // mask IRQ 0
  p.set_irq(0, true);
  p.set_irq(3, true);
  p.set_irq(9, true);
  EXPECT_EQ(p.acknowledge(), 0x29);  // IRQ 9 via IR2 outranks IRQ 3
  p.io_write(0xA0, 1, 0x20);
  p.io_write(0x20, 1, 0x20);
  EXPECT_EQ(p.acknowledge(), 0x23);
  p.io_write(0x20, 1, 0x20);
  EXPECT_FALSE(p.output());  // IRQ 0 is masked
  p.io_write(0x21, 1, 0x00);
  EXPECT_TRUE(p.output());
}

TEST(Pic8259, SpuriousAutoEoiPollAndLevel) {
  Pic8259 p = remapped();
  EXPECT_EQ(p.acknowledge(), 0x27);  // nothing pending: spurious IRQ 7
  p.io_write(0x20, 1, 0x11);         // re-init with AEOI
  p.io_write(0x21, 1, 0x20);
  p.io_write(0x21, 1, 0x04);
  p.io_write(0x21, 1, 0x03);
  p.set_irq(1, true);
  EXPECT_EQ(p.acknowledge(), 0x21);
  p.io_write(0x20, 1, 0x0B);
  EXPECT_EQ(p.io_read(0x20, 1), 0u);  // AEOI: nothing in service
  p.set_irq(4, true);
  p.io_write(0x20, 1, 0x0C);             // poll
  EXPECT_EQ(p.io_read(0x20, 1), 0x84u);  // IRQ 4
  p.io_write(0x4D1, 1, 0x02);            // IRQ 9 level-triggered
  p.set_irq(9, true);
  EXPECT_EQ(p.acknowledge(), 0x29);
  p.io_write(0xA0, 1, 0x20);
  p.io_write(0x20, 1, 0x20);
  EXPECT_TRUE(p.output());  // still asserted: requests again
  p.set_irq(9, false);
  // The request went away after the master latched IR2: a spurious slave IRQ 15.
  EXPECT_EQ(p.acknowledge(), 0x2F);
  EXPECT_FALSE(p.output());
}

}  // namespace
}  // namespace hvsim
