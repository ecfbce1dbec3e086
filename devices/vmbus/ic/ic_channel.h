// The base of the integration-component VSPs (shared/spec/hyperv-interfaces.md §9.1-9.2,
// §6.6-6.8; docs/vmbus.md "Integration services"): once the guest opens the channel it
// attaches to the channel's rings, negotiates versions (icmsgtype 0), and then carries the
// service's requests (host -> guest, one outstanding at a time) and the guest's answers.
// Every answer is checked (packet type, sizes, transaction, message type, state); a bad one
// is dropped and counted by reason, a ring error stops the channel until it is reopened.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/time.h"
#include "devices/vmbus/ic/ic_wire.h"
#include "devices/vmbus/ring.h"

namespace hvsim {
class InspectNode;
class StateReader;
class StateWriter;
class Tracer;
}  // namespace hvsim

namespace hvsim::vmbus {
class Server;
}

namespace hvsim::vmbus::ic {

class IcChannel {
 public:
  enum class State : uint8_t { kClosed, kNegotiating, kReady, kNoVersion, kFailed };

  /// `msg_versions`: the message versions the host offers, preferred first.
  IcChannel(Server& s, uint32_t relid, std::string name, std::vector<Version> msg_versions);
  virtual ~IcChannel();
  IcChannel(const IcChannel&) = delete;
  IcChannel& operator=(const IcChannel&) = delete;

  uint32_t relid() const { return relid_; }
  State state() const { return state_; }
  Version message_version() const { return msg_version_; }
  uint64_t dropped() const { return dropped_total_; }
  void inspect(InspectNode& n) const;
  /// Traces every IC message (category "vmbus_ic", named "<service>:<message type>", args
  /// dir, type, size, transaction) and every dropped answer ("dropped", reason) on `track`.
  void set_trace(Tracer* tracer, std::function<SimTime()> now, std::string track);
  /// Checkpoints (ic_checkpoint.cpp): the state, versions, outstanding request, counters,
  /// the private ring positions, whether the channel's handlers are bound, then the
  /// service's own fields. restore() needs the channel's server restored first (its ring
  /// views) and a new IcChannel; it checks every value (InputError naming `section`).
  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

 protected:
  /// Sends a request of `msgtype` with `body`; false if the channel is not ready or the ring
  /// is full. A request still unanswered is given up (counted as unanswered).
  bool send_request(uint16_t msgtype, std::span<const uint8_t> body);
  /// The channel became ready (negotiation agreed).
  virtual void on_ready() {}
  /// The channel left the ready state (closed or failed).
  virtual void on_stop() {}
  /// A checked answer to the outstanding request: `status` its HRESULT, `body` the bytes
  /// after the headers (icmsgsize of them).
  virtual void on_answer(uint16_t msgtype, uint32_t status, std::span<const uint8_t> body) = 0;
  /// Counts a dropped answer by reason.
  void drop(const std::string& reason);
  /// True while a request waits for its answer.
  bool outstanding() const { return outstanding_; }
  /// The service's fields in checkpoints (inside the channel's section).
  virtual void save_service(StateWriter& w) const = 0;
  virtual void restore_service(StateReader& r, const std::string& section) = 0;

  std::string name_;

 private:
  void opened(bool open);
  void on_signal();
  void handle(const Packet& p);
  void stop(State s);
  void trace(const char* dir, uint16_t msgtype, size_t size, uint8_t transaction);

  Server& server_;
  uint32_t relid_;
  std::vector<Version> msg_versions_;
  State state_ = State::kClosed;
  Version framework_, msg_version_;
  std::unique_ptr<RingReader> reader_;
  std::unique_ptr<RingWriter> writer_;
  Packet packet_;
  bool outstanding_ = false;
  uint16_t outstanding_type_ = 0;
  uint8_t next_transaction_ = 1;
  uint8_t outstanding_transaction_ = 0;
  uint64_t opens_ = 0, requests_ = 0, answers_ = 0, unanswered_ = 0, ring_full_ = 0;
  uint64_t dropped_total_ = 0;
  std::map<std::string, uint64_t> dropped_;  ///< reason -> count (ordered)
  std::string ring_error_;
  Tracer* tracer_ = nullptr;
  std::function<SimTime()> now_;
  std::string track_;
};

const char* to_string(IcChannel::State s);

}  // namespace hvsim::vmbus::ic
