#include "machine/params.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace hvsim {
namespace {

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(parse_size("256M"), uint64_t{256} << 20);
  EXPECT_EQ(parse_size("1G"), uint64_t{1} << 30);
  EXPECT_EQ(parse_size("2GiB"), uint64_t{2} << 30);
  EXPECT_EQ(parse_size("4096k"), uint64_t{4096} << 10);
  EXPECT_EQ(parse_size("65536"), 65536u);
}

TEST(ParseSize, BadInputNamesTheText) {
  for (const char* bad : {"", "M", "12X", "-5M", "0", "1.5G", "99999999999999999999", "1048577G"}) {
    try {
      parse_size(bad, "memory size");
      FAIL() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("memory size"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(parse_duration("10ms"), 10 * kPicosPerMilli);
  EXPECT_EQ(parse_duration("5us"), 5 * kPicosPerMicro);
  EXPECT_EQ(parse_duration("2s"), 2 * kPicosPerSecond);
  EXPECT_EQ(parse_duration("100"), 100 * kPicosPerNano);
  EXPECT_THROW(parse_duration("5 min"), InputError);
  EXPECT_THROW(parse_duration("ms"), InputError);
}

TEST(Validate, RejectsBadFields) {
  MachineParams p;
  p.cpus = 0;
  EXPECT_THROW(validate(p), InputError);
  p = {};
  p.memory = 4096;
  EXPECT_THROW(validate(p), InputError);
  p = {};
  p.memory = (uint64_t{256} << 20) + 1;
  EXPECT_THROW(validate(p), InputError);
  p = {};
  EXPECT_NO_THROW(validate(p));
}

}  // namespace
}  // namespace hvsim
