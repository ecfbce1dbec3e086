// The shutdown VSP (shared/spec/hyperv-interfaces.md §9.4).
#include "devices/vmbus/ic/shutdown.h"

#include "core/inspect.h"

namespace hvsim::vmbus::ic {

Shutdown::Shutdown(Server& s, uint32_t relid)
    : IcChannel(s, relid, "shutdown", {{3, 2}, {3, 1}, {3, 0}, {1, 0}}) {}

bool Shutdown::request(uint32_t flags, uint32_t reason, uint32_t timeout_seconds) {
  std::vector<uint8_t> body(kBodySize, 0);
  wr32(body, 0, reason);
  wr32(body, 4, timeout_seconds);
  wr32(body, 8, flags);
  static const char kMessage[] = "hvsim: shutdown requested by the host";
  std::copy(kMessage, kMessage + sizeof kMessage - 1, body.begin() + 12);
  if (!send_request(kMsgShutdown, body)) return false;
  ++requests_;
  return true;
}

void Shutdown::on_answer(uint16_t msgtype, uint32_t status, std::span<const uint8_t>) {
  if (msgtype != kMsgShutdown) return drop("wrong message type");
  answered_ = true;
  last_status_ = status;
  if (status == kStatusOk)
    ++answered_ok_;
  else if (status == kStatusFail)
    ++answered_fail_;
  else
    ++answered_other_;
}

const char* Shutdown::result() const {
  if (!answered_) return "none";
  if (last_status_ == kStatusOk) return "ok";
  return last_status_ == kStatusFail ? "fail" : "other";
}

void Shutdown::inspect(InspectNode& n) const {
  IcChannel::inspect(n);
  n.counter("shutdown_requests", requests_);
  n.value("result", result());
  n.counter("last_status", last_status_);
  n.counter("answered_ok", answered_ok_);
  n.counter("answered_fail", answered_fail_);
  n.counter("answered_other", answered_other_);
}

}  // namespace hvsim::vmbus::ic
