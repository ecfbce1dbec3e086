// The heartbeat VSP (shared/spec/hyperv-interfaces.md §9.3).
#include "devices/vmbus/ic/heartbeat.h"

#include "core/inspect.h"

namespace hvsim::vmbus::ic {

Heartbeat::Heartbeat(Server& s, uint32_t relid)
    : IcChannel(s, relid, "heartbeat", {{3, 0}, {1, 0}}) {}

void Heartbeat::on_ready() {
  // Why not send at once: the first heartbeat goes out one period after negotiation, as
  // every later one does; the owner's tick() paces them.
  alive_ = false;
}

void Heartbeat::tick() {
  if (state() != State::kReady) return;
  if (outstanding()) {
    ++missed_;
    alive_ = false;
  }
  std::vector<uint8_t> body(kBodySize, 0);
  uint64_t seq = sequence_ + 1;
  wr64(body, 0, seq);
  if (!send_request(kMsgHeartbeat, body)) return;
  sequence_ = seq;
  ++sent_;
}

void Heartbeat::on_answer(uint16_t msgtype, uint32_t, std::span<const uint8_t> body) {
  if (msgtype != kMsgHeartbeat) return drop("wrong message type");
  if (body.size() < 8) {
    alive_ = false;
    return drop("short heartbeat");
  }
  last_echo_ = rd64(body, 0);
  if (last_echo_ != sequence_ + 1) {
    ++bad_sequence_;
    alive_ = false;
    return drop("bad sequence");
  }
  ++acked_;
  alive_ = true;
}

void Heartbeat::inspect(InspectNode& n) const {
  IcChannel::inspect(n);
  n.value("alive", alive_ ? "yes" : "no");
  n.counter("sent", sent_);
  n.counter("acked", acked_);
  n.counter("missed", missed_);
  n.counter("bad_sequence", bad_sequence_);
  n.counter("sequence", sequence_);
  n.counter("last_echo", last_echo_);
}

}  // namespace hvsim::vmbus::ic
