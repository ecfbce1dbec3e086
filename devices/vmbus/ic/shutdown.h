// The shutdown VSP (shared/spec/hyperv-interfaces.md §9.4): after negotiation, on a host
// request, a shutdown message (icmsgtype 3: reason, timeout, flags, display message); the
// guest's answer (S_OK or E_FAIL) is recorded.
#pragma once

#include "devices/vmbus/ic/ic_channel.h"

namespace hvsim::vmbus::ic {

class Shutdown final : public IcChannel {
 public:
  static constexpr uint32_t kBodySize = 12 + 2048;
  static constexpr uint32_t kFlagForce = 1, kFlagRestart = 2, kFlagHibernate = 4;
  Shutdown(Server& s, uint32_t relid);
  /// Asks the guest to shut down; false if the channel is not ready (or its ring is full).
  bool request(uint32_t flags, uint32_t reason, uint32_t timeout_seconds);
  /// "none" (no answer yet), "ok", "fail" or "other".
  const char* result() const;
  void inspect(InspectNode& n) const;

 private:
  void on_answer(uint16_t msgtype, uint32_t status, std::span<const uint8_t> body) override;
  void save_service(StateWriter& w) const override;
  void restore_service(StateReader& r, const std::string& section) override;
  uint64_t requests_ = 0, answered_ok_ = 0, answered_fail_ = 0, answered_other_ = 0;
  bool answered_ = false;
  uint32_t last_status_ = 0;
};

}  // namespace hvsim::vmbus::ic
