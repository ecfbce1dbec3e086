// VMBus channel messages (shared/spec/hyperv-interfaces.md §6.1-6.5; Linux
// include/linux/hyperv.h, OpenVMM vmbus_core protocol.rs): transport constants, message
// types, version words, the byte layout of every message the server handles (offsets
// include the 8-byte header) and the device-class GUIDs. Header-only; no behaviour.
#pragma once

#include <cstdint>

namespace hvsim::vmbus::spec {

// ---- §6.1 transport ----
constexpr unsigned kMessageSint = 2;           ///< VMBUS_MESSAGE_SINT
constexpr uint32_t kMessageConnectionId = 1;   ///< VMBUS_MESSAGE_CONNECTION_ID
constexpr uint32_t kMessageConnectionId4 = 4;  ///< VMBUS_MESSAGE_CONNECTION_ID_4 (>= 5.0)
constexpr uint32_t kEventConnectionId = 2;     ///< VMBUS_EVENT_CONNECTION_ID (WS2008)
constexpr uint32_t kMonitorConnectionId = 3;   ///< VMBUS_MONITOR_CONNECTION_ID
constexpr uint32_t kChannelMessageType = 1;    ///< HV_MESSAGE.MessageType of VMBus messages
constexpr uint32_t kMaxMessageSize = 240;      ///< one SynIC message payload
constexpr uint32_t kMaxRelid = 2047;           ///< relids are 1..2047
constexpr uint32_t kHeaderSize = 8;            ///< u32 msgtype, u32 padding
constexpr uint64_t kPageSize = 4096;

// ---- §6.3 message types ----
enum class MessageType : uint32_t {
  kInvalid = 0,
  kOfferChannel = 1,
  kRescindChannelOffer = 2,
  kRequestOffers = 3,
  kAllOffersDelivered = 4,
  kOpenChannel = 5,
  kOpenChannelResult = 6,
  kCloseChannel = 7,
  kGpadlHeader = 8,
  kGpadlBody = 9,
  kGpadlCreated = 10,
  kGpadlTeardown = 11,
  kGpadlTorndown = 12,
  kRelIdReleased = 13,
  kInitiateContact = 14,
  kVersionResponse = 15,
  kUnload = 16,
  kUnloadResponse = 17,
  kOpenReservedChannel = 18,
  kCloseReservedChannel = 19,
  kCloseReservedResponse = 20,
  kTlConnectRequest = 21,
  kModifyChannel = 22,
  kTlConnectResult = 23,
  kModifyChannelResponse = 24,
  kCount = 25,  ///< Linux's CHANNELMSG_COUNT
};

inline const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::kInvalid: return "Invalid";
    case MessageType::kOfferChannel: return "OfferChannel";
    case MessageType::kRescindChannelOffer: return "RescindChannelOffer";
    case MessageType::kRequestOffers: return "RequestOffers";
    case MessageType::kAllOffersDelivered: return "AllOffersDelivered";
    case MessageType::kOpenChannel: return "OpenChannel";
    case MessageType::kOpenChannelResult: return "OpenChannelResult";
    case MessageType::kCloseChannel: return "CloseChannel";
    case MessageType::kGpadlHeader: return "GpadlHeader";
    case MessageType::kGpadlBody: return "GpadlBody";
    case MessageType::kGpadlCreated: return "GpadlCreated";
    case MessageType::kGpadlTeardown: return "GpadlTeardown";
    case MessageType::kGpadlTorndown: return "GpadlTorndown";
    case MessageType::kRelIdReleased: return "RelIdReleased";
    case MessageType::kInitiateContact: return "InitiateContact";
    case MessageType::kVersionResponse: return "VersionResponse";
    case MessageType::kUnload: return "Unload";
    case MessageType::kUnloadResponse: return "UnloadResponse";
    case MessageType::kOpenReservedChannel: return "OpenReservedChannel";
    case MessageType::kCloseReservedChannel: return "CloseReservedChannel";
    case MessageType::kCloseReservedResponse: return "CloseReservedResponse";
    case MessageType::kTlConnectRequest: return "TlConnectRequest";
    case MessageType::kModifyChannel: return "ModifyChannel";
    case MessageType::kTlConnectResult: return "TlConnectResult";
    case MessageType::kModifyChannelResponse: return "ModifyChannelResponse";
    case MessageType::kCount: break;
  }
  return "Unknown";
}

// ---- §6.2 version words: (major << 16) | minor ----
constexpr uint32_t kVersionWs2008 = 0x0000000D;
constexpr uint32_t kVersionWin7 = 0x00010001;
constexpr uint32_t kVersionWin8 = 0x00020004;
constexpr uint32_t kVersionWin8_1 = 0x00030000;
constexpr uint32_t kVersionWin10 = 0x00040000;
constexpr uint32_t kVersionWin10V4_1 = 0x00040001;
constexpr uint32_t kVersionWin10V5 = 0x00050000;
constexpr uint32_t kVersionWin10V5_1 = 0x00050001;
constexpr uint32_t kVersionWin10V5_2 = 0x00050002;
constexpr uint32_t kVersionWin10V5_3 = 0x00050003;
constexpr uint32_t kVersionWin10V6_0 = 0x00060000;

// ---- §6.4 layouts (offsets include the header) ----
namespace header {
constexpr uint32_t kMsgType = 0, kPadding = 4;
}
namespace initiate_contact {
constexpr uint32_t kSize = 40;
constexpr uint32_t kVersionRequested = 8, kTargetVcpu = 12;
constexpr uint32_t kInterruptPage = 16;          ///< < 5.0: the interrupt page GPA
constexpr uint32_t kMsgSint = 16, kMsgVtl = 17;  ///< >= 5.0
constexpr uint32_t kMonitorPage1 = 24, kMonitorPage2 = 32;
constexpr uint32_t kFeatureFlags = 20;  ///< 6.0: u32 requested feature flags (OVMM TargetInfo)
constexpr uint32_t kClientId = 40;      ///< 6.0 with kFeatureClientId: 16-byte client GUID
constexpr uint32_t kSizeWithClientId = 56;
}  // namespace initiate_contact
namespace version_response {
constexpr uint32_t kSize = 16;
constexpr uint32_t kVersionSupported = 8, kConnectionState = 9, kMsgConnId = 12;
constexpr uint32_t kSupportedFeatures = 16;  ///< 6.0: u32 feature flags the server speaks
constexpr uint32_t kSizeV6 = 24;             ///< 6.0 (header, fields, features, padding)
constexpr uint32_t kMonitorPages = 24;       ///< 6.0 + kFeatureServerSpecifiedMonitorPages
constexpr uint32_t kSizeV6MonitorPages = 40;
}  // namespace version_response
/// §6.2 VMBus 6.0 feature flags (InitiateContact bytes 20-23, VersionResponse bytes 16-19).
namespace feature {
constexpr uint32_t kGuestSpecifiedSignalParameters = 1u << 0;
constexpr uint32_t kChannelInterruptRedirection = 1u << 1;
constexpr uint32_t kModifyConnection = 1u << 2;
constexpr uint32_t kClientId = 1u << 3;
constexpr uint32_t kConfidentialChannels = 1u << 4;
constexpr uint32_t kPauseResume = 1u << 5;
constexpr uint32_t kServerSpecifiedMonitorPages = 1u << 6;
constexpr uint32_t kGpaPinning = 1u << 7;
}  // namespace feature
namespace offer_channel {
constexpr uint32_t kSize = 196;
constexpr uint32_t kInterfaceType = 8, kInterfaceInstance = 24, kFlags = 56, kMmioMegabytes = 58;
constexpr uint32_t kUserDefined = 60, kSubChannelIndex = 180, kChildRelid = 184;
constexpr uint32_t kMonitorId = 188, kMonitorAllocated = 189, kIsDedicatedInterrupt = 190;
constexpr uint32_t kConnectionId = 192;
constexpr uint16_t kFlagEnumerateDeviceInterface = 0x1;
constexpr uint16_t kFlagSupportsGpadls = 0x4;
constexpr uint8_t kNoMonitor = 0xFF;
}  // namespace offer_channel
namespace rescind_offer {
constexpr uint32_t kSize = 12, kChildRelid = 8;
}
namespace open_channel {
constexpr uint32_t kSize = 148;
constexpr uint32_t kChildRelid = 8, kOpenId = 12, kRingGpadl = 16, kTargetVp = 20;
constexpr uint32_t kDownstreamPageOffset = 24, kUserData = 28;
/// 6.0: guest-specified signal parameters (used only with kGuestSpecifiedSignalParameters).
constexpr uint32_t kSizeV6 = 156;
constexpr uint32_t kGuestConnectionId = 148, kEventFlag = 152, kOpenFlags = 154;
}  // namespace open_channel
/// §6.6 the monitor (MNF) page, 4 KiB (Linux hyperv_vmbus.h `hv_monitor_page`).
namespace monitor_page {
constexpr uint32_t kTriggerState = 0x000;  ///< u32: bits 3:0 group enable
constexpr uint32_t kTriggerGroup = 0x008;  ///< [4] {u32 pending, u32 armed}
constexpr uint32_t kTriggerGroupStride = 8, kPending = 0, kArmed = 4;
constexpr uint32_t kNextCheckTime = 0x040;  ///< s32 [4][32]
constexpr uint32_t kLatency = 0x240;        ///< u16 [4][32], 100 ns units
constexpr uint32_t kParameter = 0x440;      ///< [4][32] {u32 connection id, u16 flag, u16 rsvd}
constexpr uint32_t kParameterSize = 8;
constexpr unsigned kGroups = 4, kPerGroup = 32, kMaxMonitors = 128;
}  // namespace monitor_page
namespace open_result {
constexpr uint32_t kSize = 20, kChildRelid = 8, kOpenId = 12, kStatus = 16;
}
namespace close_channel {
constexpr uint32_t kSize = 12, kChildRelid = 8;
}
namespace gpadl_header {
constexpr uint32_t kFixedSize = 20;  ///< header + relid + gpadl + range_buflen + rangecount
constexpr uint32_t kChildRelid = 8, kGpadl = 12, kRangeBuflen = 16, kRangeCount = 18;
constexpr uint32_t kRanges = 20;
/// One gpa_range: u32 byte_count, u32 byte_offset, then u64 pfn[].
constexpr uint32_t kRangeHeaderSize = 8;
}  // namespace gpadl_header
namespace gpadl_body {
constexpr uint32_t kFixedSize = 16, kMsgNumber = 8, kGpadl = 12, kPfns = 16;
}
namespace gpadl_created {
constexpr uint32_t kSize = 20, kChildRelid = 8, kGpadl = 12, kStatus = 16;
}
namespace gpadl_teardown {
constexpr uint32_t kSize = 16, kChildRelid = 8, kGpadl = 12;
}
namespace gpadl_torndown {
constexpr uint32_t kSize = 12, kGpadl = 8;
}
namespace relid_released {
constexpr uint32_t kSize = 12, kChildRelid = 8;
}

// ---- §6.5 device classes: the wire (Windows GUID) encoding ----
struct Guid {
  uint8_t b[16];
};
/// Shutdown IC 0e0b6031-5213-4934-818b-38d90ced39db.
constexpr Guid kShutdownIc = {{0x31, 0x60, 0x0b, 0x0e, 0x13, 0x52, 0x34, 0x49, 0x81, 0x8b, 0x38,
                               0xd9, 0x0c, 0xed, 0x39, 0xdb}};
/// Time sync IC 9527e630-d0ae-497b-adce-e80ab0175caf.
constexpr Guid kTimeSyncIc = {{0x30, 0xe6, 0x27, 0x95, 0xae, 0xd0, 0x7b, 0x49, 0xad, 0xce, 0xe8,
                               0x0a, 0xb0, 0x17, 0x5c, 0xaf}};
/// Heartbeat IC 57164f39-9115-4e78-ab55-382f3bd5422d.
constexpr Guid kHeartbeatIc = {{0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e, 0xab, 0x55, 0x38,
                                0x2f, 0x3b, 0xd5, 0x42, 0x2d}};
/// Synthetic SCSI ba6163d9-04a1-4d29-b605-72e2ffb1dc7f.
constexpr Guid kSyntheticScsi = {{0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d, 0xb6, 0x05, 0x72,
                                  0xe2, 0xff, 0xb1, 0xdc, 0x7f}};
/// Synthetic network f8615163-df3e-46c5-913f-f2d2f965ed0e.
constexpr Guid kSyntheticNetwork = {{0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46, 0x91, 0x3f,
                                     0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e}};

}  // namespace hvsim::vmbus::spec
