// Tests of the JSON writing helpers.
#include "core/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace hvsim {
namespace {

std::string str(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string micros(uint64_t ps) {
  std::string out;
  append_micros_from_ps(out, ps);
  return out;
}

std::string real(double v) {
  std::string out;
  append_json_real(out, v);
  return out;
}

TEST(Json, EscapesSpecialCharacters) {
  EXPECT_EQ(str("plain"), "\"plain\"");
  EXPECT_EQ(str("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(str("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(str(std::string_view("\x00\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f\u007f")");
}

TEST(Json, PassesValidUtf8AndEscapesInvalidBytes) {
  EXPECT_EQ(str("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  EXPECT_EQ(str("\xFF"), R"("\u00ff")");
  EXPECT_EQ(str("\xC3"), R"("\u00c3")");                                // truncated sequence
  EXPECT_EQ(str("\xC0\xAF"), R"("\u00c0\u00af")");                      // overlong
  EXPECT_EQ(str("\xED\xA0\x80"), R"("\u00ed\u00a0\u0080")");            // surrogate
  EXPECT_EQ(str("\xF4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");  // above U+10FFFF
}

TEST(Json, Integers) {
  std::string out;
  append_json_u64(out, 18446744073709551615ull);
  out += ' ';
  append_json_i64(out, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(out, "18446744073709551615 -9223372036854775808");
}

TEST(Json, RealsNeverNanOrInf) {
  EXPECT_EQ(real(1.5), "1.5");
  EXPECT_EQ(real(0), "0");
  EXPECT_EQ(real(std::nan("")), "null");
  EXPECT_EQ(real(INFINITY), "null");
  EXPECT_EQ(real(-INFINITY), "null");
  EXPECT_EQ(real(123456789.0), "123456789");
  EXPECT_EQ(real(1e300), "1e+300");
}

TEST(Json, MicrosFromPicosIsExact) {
  EXPECT_EQ(micros(0), "0");
  EXPECT_EQ(micros(1), "0.000001");
  EXPECT_EQ(micros(1'000'000), "1");
  EXPECT_EQ(micros(1'500'000), "1.5");
  EXPECT_EQ(micros(123'456'789), "123.456789");
  EXPECT_EQ(micros(10'000'010), "10.00001");
  // Exact even where a double would round.
  EXPECT_EQ(micros(18446744073709551615ull), "18446744073709.551615");
  EXPECT_EQ(micros(9007199254740993000ull), "9007199254740.993");
}

}  // namespace
}  // namespace hvsim
