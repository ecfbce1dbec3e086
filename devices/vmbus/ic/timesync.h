// The time synchronization VSP (shared/spec/hyperv-interfaces.md §9.5): after negotiation,
// a sample (icmsgtype 4) on every tick; with message version 4 the body is parent time
// (100 ns since 1601) + the partition's reference time, flags (the first is SYNC, then
// SAMPLE), leap flags, stratum. Older versions get the v1/v3 body.
#pragma once

#include <functional>

#include "devices/vmbus/ic/ic_channel.h"

namespace hvsim::vmbus::ic {

class TimeSync final : public IcChannel {
 public:
  static constexpr uint8_t kFlagProbe = 0, kFlagSync = 1, kFlagSample = 2;
  /// 100 ns units between 1601-01-01 and 1970-01-01.
  static constexpr uint64_t kEpochDelta = 116444736000000000ull;
  /// `parent_time`: host time in 100 ns since 1601; `reference_time`: the partition's
  /// reference counter (100 ns). Both read at sampling time.
  TimeSync(Server& s, uint32_t relid, std::function<uint64_t()> parent_time,
           std::function<uint64_t()> reference_time);
  void tick();
  /// Sends a SYNC sample now (the guest sets its clock at once rather than slewing, as
  /// after a restore or a host clock change); false if the channel is not ready or its
  /// ring is full.
  bool sync_now();
  uint64_t samples() const { return samples_; }
  void inspect(InspectNode& n) const;

 private:
  void on_ready() override;
  void on_answer(uint16_t msgtype, uint32_t status, std::span<const uint8_t> body) override;
  void save_service(StateWriter& w) const override;
  void restore_service(StateReader& r, const std::string& section) override;
  void send_sample(uint8_t flags);

  std::function<uint64_t()> parent_time_, reference_time_;
  uint64_t samples_ = 0, answered_ = 0, last_parent_ = 0, last_reference_ = 0;
};

}  // namespace hvsim::vmbus::ic
