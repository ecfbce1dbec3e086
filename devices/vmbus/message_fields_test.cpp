// The decoded fields of channel messages, as the trace and `hvsim timeline` show them.
#include "devices/vmbus/message_fields.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "devices/vmbus/spec/vmbus.h"

namespace hvsim::vmbus {
namespace {

std::map<std::string, std::string> decode(const std::vector<uint8_t>& m) {
  std::map<std::string, std::string> out;
  for (const MessageField& f : message_fields(m.data(), static_cast<uint32_t>(m.size())))
    out[f.key] = f.text.empty() ? std::to_string(f.number) : f.text;
  return out;
}

void put(std::vector<uint8_t>& m, uint32_t off, uint64_t v, uint32_t n) {
  std::memcpy(m.data() + off, &v, n);
}

TEST(MessageFields, InitiateContactShowsTheRequestedVersionAndSint) {
  std::vector<uint8_t> m(spec::initiate_contact::kSize);
  put(m, 0, static_cast<uint32_t>(spec::MessageType::kInitiateContact), 4);
  put(m, 8, spec::kVersionWin10V5_3, 4);
  put(m, 12, 1, 4);
  put(m, 16, 2, 1);
  put(m, 32, 0x5000, 8);
  auto f = decode(m);
  EXPECT_EQ(f["requested"], "5.3");
  EXPECT_EQ(f["target_vcpu"], "1");
  EXPECT_EQ(f["msg_sint"], "2");
  EXPECT_EQ(f["monitor_page2"], "0x5000");
  EXPECT_EQ(f.count("interrupt_page"), 0u);
  // Before 5.0 the word at 16 is the interrupt page.
  put(m, 8, spec::kVersionWin8, 4);
  f = decode(m);
  EXPECT_EQ(f["requested"], "2.4");
  EXPECT_EQ(f["interrupt_page"], "0x2");
  // 6.0 asks for feature flags at 20.
  put(m, 8, spec::kVersionWin10V6_0, 4);
  put(m, 16, 2, 4);
  put(m, 20, 0x41, 4);
  f = decode(m);
  EXPECT_EQ(f["features"], "0x41");
  EXPECT_EQ(f["msg_sint"], "2");
}

TEST(MessageFields, OfferNamesKnownDevicesAndShowsOtherGuids) {
  std::vector<uint8_t> m(spec::offer_channel::kSize);
  put(m, 0, static_cast<uint32_t>(spec::MessageType::kOfferChannel), 4);
  std::memcpy(m.data() + spec::offer_channel::kInterfaceType, spec::kHeartbeatIc.b, 16);
  m[spec::offer_channel::kInterfaceInstance] = 0x01;
  put(m, spec::offer_channel::kChildRelid, 7, 4);
  put(m, spec::offer_channel::kConnectionId, 7 | 2 << 12, 4);
  m[spec::offer_channel::kMonitorId] = 0xFF;
  auto f = decode(m);
  EXPECT_EQ(f["relid"], "7");
  EXPECT_EQ(f["device"], "heartbeat");
  EXPECT_EQ(f["instance"], "00000001-0000-0000-0000-000000000000");
  EXPECT_EQ(f["connection_id"], std::to_string(7 | 2 << 12));
  EXPECT_EQ(f["monitor_id"], "255");
  m[spec::offer_channel::kInterfaceType] ^= 1;  // no longer a known class
  EXPECT_EQ(decode(m)["device"].size(), 36u);
}

TEST(MessageFields, GpadlMessagesCountTheirPfns) {
  std::vector<uint8_t> h(spec::gpadl_header::kRanges + 8 + 3 * 8);
  put(h, 0, static_cast<uint32_t>(spec::MessageType::kGpadlHeader), 4);
  put(h, spec::gpadl_header::kGpadl, 0xE1E10, 4);
  auto f = decode(h);
  EXPECT_EQ(f["gpadl"], "0xe1e10");
  EXPECT_EQ(f["pfns"], "3");
  std::vector<uint8_t> b(spec::gpadl_body::kPfns + 5 * 8);
  put(b, 0, static_cast<uint32_t>(spec::MessageType::kGpadlBody), 4);
  EXPECT_EQ(decode(b)["pfns"], "5");
}

TEST(MessageFields, ShortMessagesGiveOnlyTheFieldsTheyHold) {
  std::vector<uint8_t> m(10);  // an OpenChannel cut after two bytes of its relid
  put(m, 0, static_cast<uint32_t>(spec::MessageType::kOpenChannel), 4);
  EXPECT_TRUE(decode(m).empty());
  m.resize(16);
  auto f = decode(m);
  EXPECT_EQ(f.size(), 2u);  // relid and openid
  EXPECT_TRUE(message_fields(m.data(), 4).empty());
}

TEST(MessageFields, NothingPastTheMessageIsRead) {
  // Every type with every length up to the largest message: decoding the same bytes
  // followed by different garbage gives the same fields, so nothing past `size` is used.
  std::mt19937_64 rng(6);
  auto text = [](const std::vector<MessageField>& fs) {
    std::string s;
    for (const MessageField& f : fs)
      s += std::string(f.key) + "=" + (f.text.empty() ? std::to_string(f.number) : f.text) + ";";
    return s;
  };
  for (uint32_t type = 0; type < 40; ++type)
    for (uint32_t size = 0; size <= spec::kMaxMessageSize; ++size) {
      std::vector<uint8_t> a(size + 64), b;
      for (auto& x : a) x = static_cast<uint8_t>(rng());
      if (size >= 4) put(a, 0, type, 4);
      b = a;
      for (uint32_t k = size; k < b.size(); ++k) b[k] = static_cast<uint8_t>(~b[k]);
      EXPECT_EQ(text(message_fields(a.data(), size)), text(message_fields(b.data(), size)))
          << "type " << type << " size " << size;
    }
}

TEST(MessageFields, VersionStrings) {
  EXPECT_EQ(version_string(spec::kVersionWs2008), "0.13");
  EXPECT_EQ(version_string(spec::kVersionWin10V6_0), "6.0");
}

}  // namespace
}  // namespace hvsim::vmbus
