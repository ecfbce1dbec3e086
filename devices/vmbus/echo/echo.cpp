// The echo VSP (docs/vmbus.md "Echo VSP"; shared/spec/hyperv-interfaces.md §6.6-6.7).
#include "devices/vmbus/echo/echo.h"

#include <cstdio>

#include "core/inspect.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

const char* to_string(EchoChannel::State s) {
  switch (s) {
    case EchoChannel::State::kClosed: return "closed";
    case EchoChannel::State::kOpen: return "open";
    case EchoChannel::State::kFailed: return "failed";
  }
  return "?";
}

EchoChannel::EchoChannel(Server& s, uint32_t relid) : EchoChannel(s, relid, true) {}

EchoChannel::EchoChannel(Server& s, uint32_t relid, bool bind)
    : server_(s), relid_(relid), bound_(bind) {
  if (!bind) return;
  server_.set_signal_handler(relid_, [this] { on_signal(); });
  server_.set_open_handler(relid_, [this](bool open) { opened(open); });
}

EchoChannel::~EchoChannel() {
  // Why the check: a rescinded channel is gone from the server with its handlers.
  if (bound_ && server_.channels().count(relid_)) {
    server_.set_signal_handler(relid_, {});
    server_.set_open_handler(relid_, {});
  }
}

std::unique_ptr<EchoChannel> EchoChannel::offer(Server& s, uint32_t index) {
  OfferParams o;
  o.interface_type = parse_guid(kEchoGuid);
  // Why a fixed instance per index: runs are reproducible.
  char inst[40];
  std::snprintf(inst, sizeof inst, "e6c0ec40-45f3-4b27-9a0e-%012x", index & 0xFFFFFFFFu);
  o.instance = parse_guid(inst);
  o.name = "echo";
  return std::make_unique<EchoChannel>(s, s.add_offer(o));
}

void EchoChannel::fail(const std::string& reason) {
  ++failures_;
  ++failures_by_reason_[reason];
  state_ = State::kFailed;
  waiting_ = false;
}

void EchoChannel::opened(bool open) {
  reader_.reset();
  writer_.reset();
  waiting_ = false;
  if (!open) {
    state_ = State::kClosed;
    return;
  }
  ++opens_;
  const Server::Channel& c = server_.channels().at(relid_);
  reader_ = std::make_unique<RingReader>(*c.outbound, server_.host_ring_stats(relid_, false));
  writer_ = std::make_unique<RingWriter>(*c.inbound, server_.host_ring_stats(relid_, true));
  RingError e = reader_->attach();
  if (e == RingError::kOk) e = writer_->attach();
  if (e != RingError::kOk) return fail(to_string(e));
  state_ = State::kOpen;
  // Why drain at once: the guest may have written requests before it opened the channel.
  on_signal();
}

bool EchoChannel::answer() {
  if (packet_.type != spec::PacketType::kDataInBand) {
    ++ignored_;
    ++ignored_by_reason_["packet type"];
    return true;
  }
  if (!packet_.completion_requested()) {
    ++ignored_;
    ++ignored_by_reason_["no completion requested"];
    return true;
  }
  std::span<const uint8_t> payload = packet_.payload();
  RingError e = writer_->write_completion(payload, packet_.transaction_id);
  if (e == RingError::kFull) {
    if (!waiting_) ++full_waits_;
    waiting_ = true;
    return false;
  }
  if (e != RingError::kOk) {
    // A completion that can never fit (the guest's inbound ring is smaller than its request).
    fail(std::string("reply: ") + to_string(e));
    return false;
  }
  waiting_ = false;
  ++replies_;
  bytes_ += payload.size();
  return true;
}

void EchoChannel::on_signal() {
  if (state_ != State::kOpen || !reader_ || !writer_) return;
  // Why batches: the guest may keep its ring full; one commit (and at most one signal) per
  // kBatch packets bounds the work of one doorbell and the signals it sends.
  for (;;) {
    unsigned n = 0;
    bool stalled = waiting_ && !answer();
    if (state_ != State::kOpen) return;
    while (!stalled && n < kBatch) {
      RingError e = reader_->read(packet_);
      if (e == RingError::kEmpty) break;
      if (e != RingError::kOk) return fail(to_string(e));
      ++n;
      if (packet_.type == spec::PacketType::kDataInBand && packet_.completion_requested())
        ++requests_;
      stalled = !answer();
      if (state_ != State::kOpen) return;
    }
    if (n) ++batches_;  // drains that read something
    bool signal = writer_->commit_write().signal;
    RingReader::Commit rc = reader_->commit_read();
    if (rc.error != RingError::kOk) return fail(to_string(rc.error));
    if (signal || rc.signal) server_.signal_guest(relid_);
    // Stalled: the guest's signal after it read from its inbound ring (pending_send_sz)
    // brings us back here.
    if (stalled || n < kBatch) return;
  }
}

void EchoChannel::inspect(InspectNode& n) const {
  n.counter("relid", relid_);
  n.value("state", to_string(state_));
  n.counter("opens", opens_);
  n.counter("requests", requests_);
  n.counter("replies", replies_);
  n.counter("bytes", bytes_);
  n.counter("ignored", ignored_);
  n.counter("full_waits", full_waits_);
  n.counter("waiting", waiting_);
  n.counter("batches", batches_);
  n.counter("failures", failures_);
  InspectNode& f = n.child("failures_by_reason");
  for (const auto& [reason, count] : failures_by_reason_) f.counter(reason, count);
  InspectNode& ig = n.child("ignored_by_reason");
  for (const auto& [reason, count] : ignored_by_reason_) ig.counter(reason, count);
}

}  // namespace hvsim::vmbus
