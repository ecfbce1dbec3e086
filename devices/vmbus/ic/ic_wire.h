// Integration-component message framing (shared/spec/hyperv-interfaces.md §9.1-9.2): the
// pipe header and the IC message header that start every IC packet's payload, and the
// version negotiation body. Offsets are from the start of the packet payload.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace hvsim::vmbus::ic {

inline constexpr uint32_t kPipeHeaderSize = 8;
inline constexpr uint32_t kHeaderSize = 28;  ///< pipe header + IC message header
// IC message header fields (§9.1).
inline constexpr uint32_t kOffFrameVersion = 8;  // u16 major, u16 minor
inline constexpr uint32_t kOffMsgType = 12;      // u16
inline constexpr uint32_t kOffMsgVersion = 14;   // u16 major, u16 minor
inline constexpr uint32_t kOffMsgSize = 18;      // u16: bytes after the 28-byte headers
inline constexpr uint32_t kOffStatus = 20;       // u32 HRESULT
inline constexpr uint32_t kOffTransaction = 24;  // u8
inline constexpr uint32_t kOffFlags = 25;        // u8

inline constexpr uint16_t kMsgNegotiate = 0;
inline constexpr uint16_t kMsgHeartbeat = 1;
inline constexpr uint16_t kMsgShutdown = 3;
inline constexpr uint16_t kMsgTimeSync = 4;

inline constexpr uint8_t kFlagTransaction = 1;
inline constexpr uint8_t kFlagRequest = 2;
inline constexpr uint8_t kFlagResponse = 4;

inline constexpr uint32_t kStatusOk = 0;
inline constexpr uint32_t kStatusFail = 0x80004005u;

/// Negotiation lists longer than this are refused (as Linux does, §9.2).
inline constexpr uint32_t kMaxVersions = 100;

/// A version word: major in the low 16 bits, minor in the high 16 bits (u16 major, u16 minor).
struct Version {
  uint16_t major = 0, minor = 0;
  bool operator==(const Version&) const = default;
};

inline uint16_t rd16(std::span<const uint8_t> b, uint32_t off) {
  uint16_t v;
  std::memcpy(&v, b.data() + off, 2);
  return v;
}
inline uint32_t rd32(std::span<const uint8_t> b, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
inline uint64_t rd64(std::span<const uint8_t> b, uint32_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
inline void wr16(std::vector<uint8_t>& b, uint32_t off, uint16_t v) {
  std::memcpy(b.data() + off, &v, 2);
}
inline void wr32(std::vector<uint8_t>& b, uint32_t off, uint32_t v) {
  std::memcpy(b.data() + off, &v, 4);
}
inline void wr64(std::vector<uint8_t>& b, uint32_t off, uint64_t v) {
  std::memcpy(b.data() + off, &v, 8);
}

/// What a guest's negotiation answer says.
struct NegotiateAnswer {
  bool ok = false;      ///< well formed (counts <= 1 each, entries inside the body)
  bool agreed = false;  ///< one framework and one message version chosen
  Version framework, message;
};

/// Builds an IC packet payload: headers (pipe type DATA, flags transaction|request) + body.
std::vector<uint8_t> build_message(uint16_t msgtype, Version msg_version, uint8_t transaction,
                                   std::span<const uint8_t> body);
/// Negotiation body offering `frameworks` then `messages` (§9.2).
std::vector<uint8_t> build_negotiate_body(std::span<const Version> frameworks,
                                          std::span<const Version> messages);
/// Parses the negotiation body of a guest's answer (`body`: the bytes after the headers);
/// the chosen versions must be among `frameworks` / `messages`.
NegotiateAnswer parse_negotiate_answer(std::span<const uint8_t> body,
                                       std::span<const Version> frameworks,
                                       std::span<const Version> messages);

}  // namespace hvsim::vmbus::ic
