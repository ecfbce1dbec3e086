// The integration services of one partition's VMBus server (shared/spec/hyperv-interfaces.md
// §9.3-9.5; docs/vmbus.md "Integration services"): offers the heartbeat, shutdown and time
// sync channels with their class GUIDs and runs their VSPs. The owner calls tick() once per
// period of simulated time (Machine: an event on its queue), which paces heartbeats and
// time samples.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "devices/vmbus/ic/heartbeat.h"
#include "devices/vmbus/ic/shutdown.h"
#include "devices/vmbus/ic/timesync.h"

namespace hvsim::vmbus::ic {

inline constexpr const char* kHeartbeatGuid = "57164f39-9115-4e78-ab55-382f3bd5422d";
inline constexpr const char* kShutdownGuid = "0e0b6031-5213-4934-818b-38d90ced39db";
inline constexpr const char* kTimeSyncGuid = "9527e630-d0ae-497b-adce-e80ab0175caf";

class IntegrationServices {
 public:
  /// Adds the three offers to `s` (in the order heartbeat, shutdown, time sync).
  IntegrationServices(Server& s, std::function<uint64_t()> parent_time,
                      std::function<uint64_t()> reference_time);
  /// Checkpoints (ic_checkpoint.cpp): sections `section` (ticks, the three relids) and
  /// `section`.heartbeat/.shutdown/.timesync. restore() rebuilds the services of a server
  /// restored before (no new offers), checking every value (InputError naming the section).
  void save(StateWriter& w, const std::string& section) const;
  static std::unique_ptr<IntegrationServices> restore(Server& s,
                                                      std::function<uint64_t()> parent_time,
                                                      std::function<uint64_t()> reference_time,
                                                      StateReader& r, const std::string& section);
  void tick();
  /// True while a tick has nothing to do: neither the heartbeat nor the time sync channel is
  /// ready (a tick only sends on ready channels; a channel becomes ready only through the
  /// guest's answer, so an idle machine cannot leave this state by itself).
  bool idle() const;
  Heartbeat& heartbeat() { return *heartbeat_; }
  Shutdown& shutdown() { return *shutdown_; }
  TimeSync& timesync() { return *timesync_; }
  const Heartbeat& heartbeat() const { return *heartbeat_; }
  uint64_t ticks() const { return ticks_; }
  void inspect(InspectNode& n) const;
  /// Traces the three channels' messages on `track` (IcChannel::set_trace).
  void set_trace(Tracer* tracer, std::function<SimTime()> now, const std::string& track);

 private:
  struct Relids {
    uint32_t heartbeat, shutdown, timesync;
  };
  IntegrationServices(Server& s, std::function<uint64_t()> parent_time,
                      std::function<uint64_t()> reference_time, Relids relids);
  std::unique_ptr<Heartbeat> heartbeat_;
  std::unique_ptr<Shutdown> shutdown_;
  std::unique_ptr<TimeSync> timesync_;
  uint64_t ticks_ = 0;
};

}  // namespace hvsim::vmbus::ic
