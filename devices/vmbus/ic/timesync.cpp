// The time synchronization VSP (shared/spec/hyperv-interfaces.md §9.5).
#include "devices/vmbus/ic/timesync.h"

#include "core/inspect.h"

namespace hvsim::vmbus::ic {

TimeSync::TimeSync(Server& s, uint32_t relid, std::function<uint64_t()> parent_time,
                   std::function<uint64_t()> reference_time)
    : IcChannel(s, relid, "timesync", {{4, 0}, {3, 0}, {1, 0}}),
      parent_time_(std::move(parent_time)),
      reference_time_(std::move(reference_time)) {}

void TimeSync::on_ready() {
  send_sample(kFlagSync);
}

void TimeSync::tick() {
  if (state() == State::kReady) send_sample(kFlagSample);
}

bool TimeSync::sync_now() {
  if (state() != State::kReady) return false;
  uint64_t before = samples_;
  send_sample(kFlagSync);
  return samples_ != before;
}

void TimeSync::send_sample(uint8_t flags) {
  uint64_t parent = parent_time_(), ref = reference_time_();
  std::vector<uint8_t> body;
  if (message_version().major >= 4) {
    body.assign(24, 0);  // parent_time, vm_reference_time, flags, leap, stratum, reserved[3]
    wr64(body, 0, parent);
    wr64(body, 8, ref);
    body[16] = flags;
    body[18] = 1;  // stratum: the host's clock is the reference
  } else {
    body.assign(25, 0);  // parent_time, child_time, round_trip_time, flags
    wr64(body, 0, parent);
    body[24] = flags;
  }
  if (!send_request(kMsgTimeSync, body)) return;
  ++samples_;
  last_parent_ = parent;
  last_reference_ = ref;
}

void TimeSync::on_answer(uint16_t msgtype, uint32_t, std::span<const uint8_t>) {
  if (msgtype != kMsgTimeSync) return drop("wrong message type");
  ++answered_;
}

void TimeSync::inspect(InspectNode& n) const {
  IcChannel::inspect(n);
  n.counter("samples", samples_);
  n.counter("samples_answered", answered_);
  n.counter("last_parent_time", last_parent_);
  n.counter("last_reference_time", last_reference_);
}

}  // namespace hvsim::vmbus::ic
