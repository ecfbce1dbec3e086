#include "devices/vmbus/message_fields.h"

#include <cstdio>
#include <cstring>

#include "devices/vmbus/server.h"
#include "devices/vmbus/spec/vmbus.h"

namespace hvsim::vmbus {
namespace {

using spec::MessageType;

/// Appends fields read at fixed offsets, skipping those past the end of the message.
class Decoder {
 public:
  Decoder(const uint8_t* m, uint32_t size, std::vector<MessageField>& out)
      : m_(m), size_(size), out_(out) {}
  bool has(uint32_t off, uint32_t n) const { return off + n <= size_; }
  uint64_t get(uint32_t off, uint32_t n) const {
    uint64_t v = 0;
    std::memcpy(&v, m_ + off, n);  // little-endian host, as the wire
    return v;
  }
  void u(const char* key, uint32_t off, uint32_t n) {
    if (has(off, n)) out_.push_back({key, get(off, n), {}});
  }
  void hex(const char* key, uint32_t off, uint32_t n) {
    if (!has(off, n)) return;
    char s[24];
    std::snprintf(s, sizeof s, "0x%llx", static_cast<unsigned long long>(get(off, n)));
    out_.push_back({key, 0, s});
  }
  void version(const char* key, uint32_t off) {
    if (has(off, 4)) out_.push_back({key, 0, version_string(static_cast<uint32_t>(get(off, 4)))});
  }
  void guid(const char* key, uint32_t off, bool device) {
    if (!has(off, 16)) return;
    spec::Guid g;
    std::memcpy(g.b, m_ + off, 16);
    const char* name = device ? device_name(g) : nullptr;
    out_.push_back({key, 0, name ? std::string(name) : guid_string(g)});
  }

 private:
  static const char* device_name(const spec::Guid& g) {
    static const struct {
      const spec::Guid* guid;
      const char* name;
    } kNames[] = {{&spec::kHeartbeatIc, "heartbeat"},
                  {&spec::kShutdownIc, "shutdown"},
                  {&spec::kTimeSyncIc, "timesync"},
                  {&spec::kSyntheticScsi, "scsi"},
                  {&spec::kSyntheticNetwork, "network"}};
    for (const auto& n : kNames)
      if (std::memcmp(n.guid->b, g.b, 16) == 0) return n.name;
    return nullptr;
  }
  const uint8_t* m_;
  uint32_t size_;
  std::vector<MessageField>& out_;
};

}  // namespace

std::string version_string(uint32_t version) {
  return std::to_string(version >> 16) + "." + std::to_string(version & 0xFFFF);
}

std::vector<MessageField> message_fields(const uint8_t* m, uint32_t size) {
  std::vector<MessageField> f;
  if (size < spec::kHeaderSize) return f;
  Decoder d(m, size, f);
  uint32_t type;
  std::memcpy(&type, m, 4);
  namespace s = spec;
  switch (static_cast<MessageType>(type)) {
    case MessageType::kInitiateContact: {
      namespace ic = s::initiate_contact;
      d.version("requested", ic::kVersionRequested);
      d.u("target_vcpu", ic::kTargetVcpu, 4);
      bool v5 =
          d.has(ic::kVersionRequested, 4) && d.get(ic::kVersionRequested, 4) >= s::kVersionWin10V5;
      if (v5)
        d.u("msg_sint", ic::kMsgSint, 1);
      else
        d.hex("interrupt_page", ic::kInterruptPage, 8);
      d.hex("monitor_page1", ic::kMonitorPage1, 8);
      d.hex("monitor_page2", ic::kMonitorPage2, 8);
      if (d.has(ic::kVersionRequested, 4) &&
          d.get(ic::kVersionRequested, 4) >= s::kVersionWin10V6_0)
        d.hex("features", ic::kFeatureFlags, 4);
      break;
    }
    case MessageType::kVersionResponse: {
      namespace vr = s::version_response;
      d.u("supported", vr::kVersionSupported, 1);
      d.u("connection_state", vr::kConnectionState, 1);
      d.u("msg_conn_id", vr::kMsgConnId, 4);
      d.hex("features", vr::kSupportedFeatures, 4);  // 6.0 responses only (24 bytes)
      break;
    }
    case MessageType::kOfferChannel: {
      namespace o = s::offer_channel;
      d.u("relid", o::kChildRelid, 4);
      d.guid("device", o::kInterfaceType, true);
      d.guid("instance", o::kInterfaceInstance, false);
      d.u("connection_id", o::kConnectionId, 4);
      d.hex("flags", o::kFlags, 2);
      d.u("monitor_id", o::kMonitorId, 1);
      d.u("monitor_allocated", o::kMonitorAllocated, 1);
      d.u("sub_channel", o::kSubChannelIndex, 2);
      break;
    }
    case MessageType::kRescindChannelOffer:
    case MessageType::kCloseChannel:
    case MessageType::kRelIdReleased: d.u("relid", 8, 4); break;
    case MessageType::kOpenChannel: {
      namespace o = s::open_channel;
      d.u("relid", o::kChildRelid, 4);
      d.u("openid", o::kOpenId, 4);
      d.hex("gpadl", o::kRingGpadl, 4);
      d.u("target_vp", o::kTargetVp, 4);
      d.u("downstream_offset", o::kDownstreamPageOffset, 4);
      break;
    }
    case MessageType::kOpenChannelResult: {
      namespace o = s::open_result;
      d.u("relid", o::kChildRelid, 4);
      d.u("openid", o::kOpenId, 4);
      d.hex("status", o::kStatus, 4);
      break;
    }
    case MessageType::kGpadlHeader: {
      namespace g = s::gpadl_header;
      d.u("relid", g::kChildRelid, 4);
      d.hex("gpadl", g::kGpadl, 4);
      d.u("range_buflen", g::kRangeBuflen, 2);
      d.u("rangecount", g::kRangeCount, 2);
      d.u("byte_count", g::kRanges, 4);
      d.u("byte_offset", g::kRanges + 4, 4);
      uint32_t first = g::kRanges + g::kRangeHeaderSize;
      if (size >= first) f.push_back({"pfns", (size - first) / 8, {}});
      break;
    }
    case MessageType::kGpadlBody: {
      namespace g = s::gpadl_body;
      d.u("msgnumber", g::kMsgNumber, 4);
      d.hex("gpadl", g::kGpadl, 4);
      if (size >= g::kPfns) f.push_back({"pfns", (size - g::kPfns) / 8, {}});
      break;
    }
    case MessageType::kGpadlCreated: {
      namespace g = s::gpadl_created;
      d.u("relid", g::kChildRelid, 4);
      d.hex("gpadl", g::kGpadl, 4);
      d.hex("status", g::kStatus, 4);
      break;
    }
    case MessageType::kGpadlTeardown:
      d.u("relid", s::gpadl_teardown::kChildRelid, 4);
      d.hex("gpadl", s::gpadl_teardown::kGpadl, 4);
      break;
    case MessageType::kGpadlTorndown: d.hex("gpadl", s::gpadl_torndown::kGpadl, 4); break;
    case MessageType::kModifyChannel:
      d.u("relid", 8, 4);
      d.u("target_vp", 12, 4);
      break;
    case MessageType::kModifyChannelResponse:
      d.u("relid", 8, 4);
      d.hex("status", 12, 4);
      break;
    default: break;
  }
  return f;
}

}  // namespace hvsim::vmbus
