// The VMBus server's VersionResponse, including the 6.0 variant with feature flags
// (shared/spec/hyperv-interfaces.md §6.2).
#include <cstring>

#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

namespace {

// The 6.0 features this server implements: none yet (docs/vmbus.md "Not built yet"), so it
// grants none, whatever the guest asks.
constexpr uint32_t kBuiltFeatures = 0;

}  // namespace

uint32_t Server::version_response(uint8_t* r, uint32_t version, const uint8_t* m, uint32_t size) {
  namespace ic = spec::initiate_contact;
  namespace vr = spec::version_response;
  (void)size;  // >= 40 (checked); a 6.0 client id (56 bytes) is never granted
  r[vr::kVersionSupported] = 1;
  r[vr::kConnectionState] = 0;
  uint32_t conn = version >= spec::kVersionWin10V5 ? spec::kMessageConnectionId : version;
  std::memcpy(r + vr::kMsgConnId, &conn, 4);
  features_ = 0;
  if (version < spec::kVersionWin10V6_0) return vr::kSize;
  uint32_t requested;
  std::memcpy(&requested, m + ic::kFeatureFlags, 4);
  features_ = requested & kBuiltFeatures;
  std::memcpy(r + vr::kSupportedFeatures, &features_, 4);
  return vr::kSizeV6;
}

}  // namespace hvsim::vmbus
