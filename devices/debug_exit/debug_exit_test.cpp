#include "devices/debug_exit/debug_exit.h"

#include <gtest/gtest.h>

namespace hvsim {
namespace {

TEST(DebugExit, WriteReportsValue) {
  std::vector<uint32_t> seen;
  DebugExit d({}, [&](uint32_t v) { seen.push_back(v); });
  EXPECT_FALSE(d.value().has_value());
  d.io_write(0xF4, 4, 0x2A);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], 0x2Au);
  EXPECT_EQ(d.value(), 0x2Au);
  d.io_write(0xF5, 1, 7);  // other ports of the range do nothing
  EXPECT_EQ(seen.size(), 1u);
}

}  // namespace
}  // namespace hvsim
