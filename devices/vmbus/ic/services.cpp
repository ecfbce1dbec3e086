// The integration services of one partition (shared/spec/hyperv-interfaces.md §9.3-9.5).
#include "devices/vmbus/ic/services.h"

#include "core/inspect.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus::ic {

namespace {
uint32_t offer(Server& s, const char* guid, uint32_t instance, const char* name) {
  OfferParams o;
  o.interface_type = parse_guid(guid);
  // Instance GUIDs: fixed per service, so runs are reproducible.
  o.instance = parse_guid("242ff919-07db-4180-9c2e-b86cb68c8c" + std::to_string(10 + instance));
  o.name = name;
  return s.add_offer(o);
}
}  // namespace

IntegrationServices::IntegrationServices(Server& s, std::function<uint64_t()> parent_time,
                                         std::function<uint64_t()> reference_time)
    // Braced: the offers are made in this order.
    : IntegrationServices(
          s, std::move(parent_time), std::move(reference_time),
          Relids{offer(s, kHeartbeatGuid, 1, "heartbeat"), offer(s, kShutdownGuid, 2, "shutdown"),
                 offer(s, kTimeSyncGuid, 3, "timesync")}) {}

IntegrationServices::IntegrationServices(Server& s, std::function<uint64_t()> parent_time,
                                         std::function<uint64_t()> reference_time, Relids relids) {
  heartbeat_ = std::make_unique<Heartbeat>(s, relids.heartbeat);
  shutdown_ = std::make_unique<Shutdown>(s, relids.shutdown);
  timesync_ = std::make_unique<TimeSync>(s, relids.timesync, std::move(parent_time),
                                         std::move(reference_time));
}

void IntegrationServices::tick() {
  ++ticks_;
  heartbeat_->tick();
  timesync_->tick();
}

bool IntegrationServices::idle() const {
  return heartbeat_->state() != IcChannel::State::kReady &&
         timesync_->state() != IcChannel::State::kReady;
}

void IntegrationServices::set_trace(Tracer* tracer, std::function<SimTime()> now,
                                    const std::string& track) {
  heartbeat_->set_trace(tracer, now, track);
  shutdown_->set_trace(tracer, now, track);
  timesync_->set_trace(tracer, now, track);
}

void IntegrationServices::inspect(InspectNode& n) const {
  n.counter("ticks", ticks_);
  heartbeat_->inspect(n.child("heartbeat"));
  shutdown_->inspect(n.child("shutdown"));
  timesync_->inspect(n.child("timesync"));
}

}  // namespace hvsim::vmbus::ic
