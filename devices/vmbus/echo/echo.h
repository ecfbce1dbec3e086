// The echo VSP: hvsim's own VMBus test device, not a Hyper-V device (docs/vmbus.md "Echo
// VSP"; the ring rules of shared/spec/hyperv-interfaces.md §6.6-6.7). Offered with its own
// interface GUID (kEchoGuid); once the guest opens the channel, every in-band packet that
// requests a completion is answered with a completion (type 0xB) carrying the same
// transaction id and payload. It drains the guest's outbound ring in batches (one commit and
// at most one signal per batch), waits on a full inbound ring for the guest's signal
// (pending_send_sz) without losing the packet, and fails the channel on a malformed ring
// (counted by reason) until the guest reopens it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "devices/vmbus/ring.h"

namespace hvsim {
class InspectNode;
class StateReader;
class StateWriter;
}  // namespace hvsim

namespace hvsim::vmbus {

class Server;

/// The echo device's interface type (hvsim-specific; no Hyper-V device uses it).
inline constexpr const char* kEchoGuid = "e6c0ec40-45f3-4b27-9a0e-6873766d0001";

class EchoChannel {
 public:
  enum class State : uint8_t { kClosed, kOpen, kFailed };

  /// Drives channel `relid` of `s` (already offered).
  EchoChannel(Server& s, uint32_t relid);
  ~EchoChannel();
  EchoChannel(const EchoChannel&) = delete;
  EchoChannel& operator=(const EchoChannel&) = delete;

  /// Offers a new echo channel on `s` (kEchoGuid, instance numbered by `index`) and drives it.
  static std::unique_ptr<EchoChannel> offer(Server& s, uint32_t index);

  uint32_t relid() const { return relid_; }
  State state() const { return state_; }
  uint64_t requests() const { return requests_; }
  uint64_t replies() const { return replies_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t failures() const { return failures_; }
  /// True while a read request waits for room in the inbound ring.
  bool waiting() const { return waiting_; }
  void inspect(InspectNode& n) const;
  /// Checkpoints (echo_checkpoint.cpp): the relid, whether the channel's handlers are bound,
  /// the state, counters and reasons, the private ring positions while attached, and the
  /// packet waiting for room. restore() needs `s` restored first (its ring views); it checks
  /// every value against the server (InputError naming `section`) and binds the handlers
  /// once.
  void save(StateWriter& w, const std::string& section) const;
  static std::unique_ptr<EchoChannel> restore(Server& s, StateReader& r,
                                              const std::string& section);

  /// Packets handled per drain before the host commits and signals (the batch size).
  static constexpr unsigned kBatch = 64;

 private:
  /// `bind`: set the channel's handlers (not for a restored echo whose channel is gone).
  EchoChannel(Server& s, uint32_t relid, bool bind);
  void opened(bool open);
  void on_signal();
  /// Answers `packet_`; false if the inbound ring is full (the packet is kept) or failed.
  bool answer();
  void fail(const std::string& reason);

  Server& server_;
  uint32_t relid_;
  bool bound_;  ///< this echo set the channel's handlers
  State state_ = State::kClosed;
  std::unique_ptr<RingReader> reader_;
  std::unique_ptr<RingWriter> writer_;
  Packet packet_;
  bool waiting_ = false;  ///< packet_ is read and not answered yet (inbound ring full)
  uint64_t opens_ = 0, requests_ = 0, replies_ = 0, bytes_ = 0, ignored_ = 0;
  uint64_t full_waits_ = 0, batches_ = 0, failures_ = 0;
  std::map<std::string, uint64_t> failures_by_reason_;  ///< reason -> count (ordered)
  std::map<std::string, uint64_t> ignored_by_reason_;
};

const char* to_string(EchoChannel::State s);

}  // namespace hvsim::vmbus
