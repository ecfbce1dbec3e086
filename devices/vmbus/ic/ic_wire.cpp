// IC framing and negotiation bodies (shared/spec/hyperv-interfaces.md §9.1-9.2).
#include "devices/vmbus/ic/ic_wire.h"

#include <algorithm>

namespace hvsim::vmbus::ic {

std::vector<uint8_t> build_message(uint16_t msgtype, Version msg_version, uint8_t transaction,
                                   std::span<const uint8_t> body) {
  std::vector<uint8_t> b(kHeaderSize + body.size(), 0);
  wr32(b, 0, 1);  // pipe packet type DATA
  wr32(b, 4, static_cast<uint32_t>(b.size() - kPipeHeaderSize));
  wr16(b, kOffFrameVersion, 3);  // framework 3.0 (what the answer to negotiation settles)
  wr16(b, kOffFrameVersion + 2, 0);
  wr16(b, kOffMsgType, msgtype);
  wr16(b, kOffMsgVersion, msg_version.major);
  wr16(b, kOffMsgVersion + 2, msg_version.minor);
  wr16(b, kOffMsgSize, static_cast<uint16_t>(body.size()));
  b[kOffTransaction] = transaction;
  b[kOffFlags] = kFlagTransaction | kFlagRequest;
  std::copy(body.begin(), body.end(), b.begin() + kHeaderSize);
  return b;
}

std::vector<uint8_t> build_negotiate_body(std::span<const Version> frameworks,
                                          std::span<const Version> messages) {
  std::vector<uint8_t> b(8 + 4 * (frameworks.size() + messages.size()), 0);
  wr16(b, 0, static_cast<uint16_t>(frameworks.size()));
  wr16(b, 2, static_cast<uint16_t>(messages.size()));
  uint32_t off = 8;
  for (const auto& list : {frameworks, messages})
    for (const Version& v : list) {
      wr16(b, off, v.major);
      wr16(b, off + 2, v.minor);
      off += 4;
    }
  return b;
}

NegotiateAnswer parse_negotiate_answer(std::span<const uint8_t> body,
                                       std::span<const Version> frameworks,
                                       std::span<const Version> messages) {
  NegotiateAnswer a;
  if (body.size() < 8) return a;
  uint32_t fc = rd16(body, 0), mc = rd16(body, 2);
  if (fc > kMaxVersions || mc > kMaxVersions || fc + mc > kMaxVersions) return a;
  if (8 + 4 * uint64_t{fc + mc} > body.size()) return a;
  if (fc > 1 || mc > 1 || fc != mc) return a;
  a.ok = true;
  if (fc == 0) return a;  // no version in common
  a.framework = {rd16(body, 8), rd16(body, 10)};
  a.message = {rd16(body, 12), rd16(body, 14)};
  bool f = std::find(frameworks.begin(), frameworks.end(), a.framework) != frameworks.end();
  bool m = std::find(messages.begin(), messages.end(), a.message) != messages.end();
  if (!f || !m) {
    a.ok = false;
    return a;
  }
  a.agreed = true;
  return a;
}

}  // namespace hvsim::vmbus::ic
