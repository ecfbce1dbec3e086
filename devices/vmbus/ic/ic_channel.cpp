// The integration-component channel base (shared/spec/hyperv-interfaces.md §9.1-9.2,
// §6.6-6.8).
#include "devices/vmbus/ic/ic_channel.h"

#include "core/inspect.h"
#include "core/trace.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus::ic {

namespace {
// Framework versions the host offers (Linux knows 3.0 and 1.0; §9.2).
const Version kFrameworks[] = {{3, 0}, {1, 0}};
// An IC answer never needs more than a shutdown request's 2 KiB message plus headers.
constexpr size_t kMaxAnswer = 4096;
}  // namespace

const char* to_string(IcChannel::State s) {
  switch (s) {
    case IcChannel::State::kClosed: return "closed";
    case IcChannel::State::kNegotiating: return "negotiating";
    case IcChannel::State::kReady: return "ready";
    case IcChannel::State::kNoVersion: return "no version";
    case IcChannel::State::kFailed: return "failed";
  }
  return "?";
}

IcChannel::IcChannel(Server& s, uint32_t relid, std::string name, std::vector<Version> msg_versions)
    : name_(std::move(name)), server_(s), relid_(relid), msg_versions_(std::move(msg_versions)) {
  // Why the check: a checkpoint may restore services whose channel was rescinded since.
  if (!server_.channels().count(relid_)) return;
  server_.set_signal_handler(relid_, [this] { on_signal(); });
  server_.set_open_handler(relid_, [this](bool open) { opened(open); });
}

IcChannel::~IcChannel() {
  // Why the check: a rescinded channel is gone from the server with its handlers.
  if (server_.channels().count(relid_)) {
    server_.set_signal_handler(relid_, {});
    server_.set_open_handler(relid_, {});
  }
}

void IcChannel::stop(State s) {
  bool was_ready = state_ == State::kReady;
  state_ = s;
  outstanding_ = false;
  if (was_ready) on_stop();
}

void IcChannel::opened(bool open) {
  if (!open) {
    reader_.reset();
    writer_.reset();
    stop(State::kClosed);
    return;
  }
  ++opens_;
  const Server::Channel& c = server_.channels().at(relid_);
  reader_ = std::make_unique<RingReader>(*c.outbound, server_.host_ring_stats(relid_, false));
  writer_ = std::make_unique<RingWriter>(*c.inbound, server_.host_ring_stats(relid_, true));
  RingError e = reader_->attach();
  if (e == RingError::kOk) e = writer_->attach();
  if (e != RingError::kOk) {
    ring_error_ = to_string(e);
    return stop(State::kFailed);
  }
  state_ = State::kNegotiating;
  framework_ = msg_version_ = {};
  std::vector<uint8_t> body = build_negotiate_body(kFrameworks, msg_versions_);
  state_ = State::kReady;  // send_request needs a usable channel
  bool sent = send_request(kMsgNegotiate, body);
  state_ = sent ? State::kNegotiating : State::kFailed;
}

bool IcChannel::send_request(uint16_t msgtype, std::span<const uint8_t> body) {
  if (state_ != State::kReady || !writer_) return false;
  if (outstanding_) ++unanswered_;
  uint8_t txn = next_transaction_++;
  if (next_transaction_ == 0) next_transaction_ = 1;
  std::vector<uint8_t> msg = build_message(msgtype, msg_version_, txn, body);
  RingError e = writer_->write_inband(msg, txn, true);
  if (e == RingError::kFull) {
    ++ring_full_;
    return false;
  }
  if (e != RingError::kOk) {
    ring_error_ = to_string(e);
    stop(State::kFailed);
    return false;
  }
  ++requests_;
  trace("out", msgtype, msg.size(), txn);
  outstanding_ = true;
  outstanding_type_ = msgtype;
  outstanding_transaction_ = txn;
  if (writer_->commit_write().signal) server_.signal_guest(relid_);
  return true;
}

void IcChannel::drop(const std::string& reason) {
  ++dropped_[reason];
  ++dropped_total_;
  if (tracer_ && tracer_->enabled())
    tracer_->instant(now_ ? now_() : 0, track_, "vmbus_ic", name_ + ":dropped",
                     {{"reason", reason}});
}

void IcChannel::set_trace(Tracer* tracer, std::function<SimTime()> now, std::string track) {
  tracer_ = tracer;
  now_ = std::move(now);
  track_ = std::move(track);
}

namespace {
const char* msg_name(uint16_t t) {
  switch (t) {
    case kMsgNegotiate: return "negotiate";
    case kMsgHeartbeat: return "heartbeat";
    case kMsgShutdown: return "shutdown";
    case kMsgTimeSync: return "timesync";
  }
  return "other";
}
}  // namespace

void IcChannel::trace(const char* dir, uint16_t msgtype, size_t size, uint8_t transaction) {
  if (!tracer_ || !tracer_->enabled()) return;
  tracer_->instant(now_ ? now_() : 0, track_, "vmbus_ic", name_ + ":" + msg_name(msgtype),
                   {{"dir", dir},
                    {"type", uint64_t{msgtype}},
                    {"size", uint64_t{size}},
                    {"transaction", uint64_t{transaction}}});
}

void IcChannel::on_signal() {
  if (!reader_ || state_ == State::kFailed || state_ == State::kClosed) return;
  for (;;) {
    RingError e = reader_->read(packet_);
    if (e == RingError::kEmpty) break;
    if (e != RingError::kOk) {
      ring_error_ = to_string(e);
      drop("ring error");
      stop(State::kFailed);
      return;
    }
    handle(packet_);
    if (state_ == State::kFailed || state_ == State::kClosed) return;
  }
  if (reader_->commit_read().signal) server_.signal_guest(relid_);
}

void IcChannel::handle(const Packet& p) {
  if (p.type == spec::PacketType::kCompletion) return drop("completion");  // not asked for
  if (p.type != spec::PacketType::kDataInBand) return drop("packet type");
  std::span<const uint8_t> m = p.payload();
  if (m.size() < kHeaderSize) return drop("short packet");
  if (m.size() > kMaxAnswer) return drop("long packet");
  uint16_t type = rd16(m, kOffMsgType), size = rd16(m, kOffMsgSize);
  if (size > m.size() - kHeaderSize) return drop("bad icmsgsize");
  if (!(m[kOffFlags] & kFlagResponse)) return drop("not a response");
  if (!outstanding_) return drop("unexpected answer");
  if (type != outstanding_type_) return drop("wrong message type");
  if (m[kOffTransaction] != outstanding_transaction_ ||
      p.transaction_id != outstanding_transaction_)
    return drop("wrong transaction");
  outstanding_ = false;
  ++answers_;
  trace("in", type, m.size(), m[kOffTransaction]);
  std::span<const uint8_t> body = m.subspan(kHeaderSize, size);
  uint32_t status = rd32(m, kOffStatus);
  if (type == kMsgNegotiate) {
    if (state_ != State::kNegotiating) return drop("negotiation not pending");
    NegotiateAnswer a = parse_negotiate_answer(body, kFrameworks, msg_versions_);
    if (!a.ok) {
      drop("bad negotiation");
      return stop(State::kNoVersion);
    }
    if (!a.agreed) return stop(State::kNoVersion);
    framework_ = a.framework;
    msg_version_ = a.message;
    state_ = State::kReady;
    on_ready();
    return;
  }
  if (state_ != State::kReady) return drop("not ready");
  on_answer(type, status, body);
}

void IcChannel::inspect(InspectNode& n) const {
  n.counter("relid", relid_);
  n.value("state", to_string(state_));
  n.value("version", std::to_string(msg_version_.major) + "." + std::to_string(msg_version_.minor));
  n.value("framework", std::to_string(framework_.major) + "." + std::to_string(framework_.minor));
  n.counter("opens", opens_);
  n.counter("requests", requests_);
  n.counter("answers", answers_);
  n.counter("unanswered", unanswered_);
  n.counter("ring_full", ring_full_);
  n.counter("dropped", dropped_total_);
  InspectNode& d = n.child("dropped_by_reason");
  for (const auto& [reason, count] : dropped_) d.counter(reason, count);
  if (!ring_error_.empty()) n.value("ring_error", ring_error_);
}

}  // namespace hvsim::vmbus::ic
