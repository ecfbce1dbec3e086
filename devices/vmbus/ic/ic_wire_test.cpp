// IC framing and the checks on a guest's negotiation answer
// (shared/spec/hyperv-interfaces.md §9.1-9.2).
#include "devices/vmbus/ic/ic_wire.h"

#include <gtest/gtest.h>

namespace hvsim::vmbus::ic {
namespace {

const Version kFw[] = {{3, 0}, {1, 0}};
const Version kMsg[] = {{3, 2}, {3, 0}};

std::vector<uint8_t> answer(uint16_t fc, uint16_t mc, std::vector<Version> v) {
  std::vector<uint8_t> b(8 + 4 * v.size(), 0);
  wr16(b, 0, fc);
  wr16(b, 2, mc);
  for (size_t k = 0; k < v.size(); ++k) {
    wr16(b, static_cast<uint32_t>(8 + 4 * k), v[k].major);
    wr16(b, static_cast<uint32_t>(10 + 4 * k), v[k].minor);
  }
  return b;
}

TEST(IcWire, MessageHeaders) {
  const uint8_t body[40] = {7};
  std::vector<uint8_t> m = build_message(kMsgHeartbeat, {3, 0}, 9, body);
  ASSERT_EQ(m.size(), kHeaderSize + 40);
  EXPECT_EQ(rd32(m, 0), 1u);  // pipe DATA
  EXPECT_EQ(rd32(m, 4), m.size() - 8);
  EXPECT_EQ(rd16(m, kOffMsgType), kMsgHeartbeat);
  EXPECT_EQ(rd16(m, kOffMsgVersion), 3);
  EXPECT_EQ(rd16(m, kOffMsgSize), 40);
  EXPECT_EQ(m[kOffTransaction], 9);
  EXPECT_EQ(m[kOffFlags], kFlagTransaction | kFlagRequest);
  EXPECT_EQ(m[kHeaderSize], 7);
}

TEST(IcWire, NegotiateBodyListsFrameworksFirst) {
  std::vector<uint8_t> b = build_negotiate_body(kFw, kMsg);
  ASSERT_EQ(b.size(), 8u + 16);
  EXPECT_EQ(rd16(b, 0), 2);
  EXPECT_EQ(rd16(b, 2), 2);
  EXPECT_EQ(rd16(b, 8), 3);
  EXPECT_EQ(rd16(b, 12), 1);
  EXPECT_EQ(rd16(b, 16), 3);
  EXPECT_EQ(rd16(b, 18), 2);
}

TEST(IcWire, AgreedAnswer) {
  NegotiateAnswer a = parse_negotiate_answer(answer(1, 1, {{3, 0}, {3, 2}}), kFw, kMsg);
  EXPECT_TRUE(a.ok && a.agreed);
  EXPECT_EQ(a.framework, (Version{3, 0}));
  EXPECT_EQ(a.message, (Version{3, 2}));
}

TEST(IcWire, NoVersionInCommon) {
  NegotiateAnswer a = parse_negotiate_answer(answer(0, 0, {}), kFw, kMsg);
  EXPECT_TRUE(a.ok);
  EXPECT_FALSE(a.agreed);
}

TEST(IcWire, BadAnswersAreRefused) {
  // Shorter than the counts.
  EXPECT_FALSE(parse_negotiate_answer(std::vector<uint8_t>(6), kFw, kMsg).ok);
  // Counts beyond the body.
  EXPECT_FALSE(parse_negotiate_answer(answer(1, 1, {{3, 0}}), kFw, kMsg).ok);
  // More than 100 versions.
  std::vector<Version> many(101, Version{3, 0});
  EXPECT_FALSE(parse_negotiate_answer(answer(101, 0, many), kFw, kMsg).ok);
  EXPECT_FALSE(parse_negotiate_answer(answer(60, 41, many), kFw, kMsg).ok);
  // An answer must choose one of each.
  EXPECT_FALSE(
      parse_negotiate_answer(answer(2, 2, {{3, 0}, {1, 0}, {3, 2}, {3, 0}}), kFw, kMsg).ok);
  EXPECT_FALSE(parse_negotiate_answer(answer(1, 0, {{3, 0}}), kFw, kMsg).ok);
  // A version the host did not offer.
  EXPECT_FALSE(parse_negotiate_answer(answer(1, 1, {{2, 0}, {3, 2}}), kFw, kMsg).ok);
  EXPECT_FALSE(parse_negotiate_answer(answer(1, 1, {{3, 0}, {4, 0}}), kFw, kMsg).ok);
}

}  // namespace
}  // namespace hvsim::vmbus::ic
