// The heartbeat VSP (shared/spec/hyperv-interfaces.md §9.3): after negotiation, a heartbeat
// (icmsgtype 1, body u64 sequence + reserved) on every tick of its period in simulated time;
// the guest is alive while each echo carries sequence + 1.
#pragma once

#include "devices/vmbus/ic/ic_channel.h"

namespace hvsim::vmbus::ic {

class Heartbeat final : public IcChannel {
 public:
  static constexpr uint32_t kBodySize = 40;  ///< u64 seq_num; u32 reserved[8]
  Heartbeat(Server& s, uint32_t relid);
  /// One period passed: sends the next heartbeat if the channel is ready (a heartbeat still
  /// unanswered is counted as missed and the guest is no longer alive).
  void tick();
  bool alive() const { return alive_; }
  uint64_t sent() const { return sent_; }
  uint64_t acked() const { return acked_; }
  void inspect(InspectNode& n) const;

 private:
  void on_ready() override;
  void on_stop() override { alive_ = false; }
  void on_answer(uint16_t msgtype, uint32_t status, std::span<const uint8_t> body) override;
  void save_service(StateWriter& w) const override;
  void restore_service(StateReader& r, const std::string& section) override;

  uint64_t sequence_ = 0;  ///< of the last heartbeat sent
  uint64_t sent_ = 0, acked_ = 0, missed_ = 0, bad_sequence_ = 0;
  uint64_t last_echo_ = 0;
  bool alive_ = false;
};

}  // namespace hvsim::vmbus::ic
