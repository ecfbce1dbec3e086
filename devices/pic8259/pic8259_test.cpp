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
