// Checkpoints of the integration services (docs/vmbus.md "Checkpoints"): each channel's
// state, negotiated versions, outstanding request, counters and ring ends, and each
// service's fields. Why the ring ends' private positions are saved although the VSPs commit
// before returning: a guest may scribble on the ring's control page after the VSP attached,
// and a re-attach would read that instead of the positions the uninterrupted run keeps.
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/state.h"
#include "devices/vmbus/ic/services.h"
#include "devices/vmbus/ring_checkpoint.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus::ic {

namespace {

constexpr uint32_t kVersion = 1;
const Version kFrameworks[] = {{3, 0}, {1, 0}};

[[noreturn]] void bad(const std::string& section, const std::string& what) {
  throw InputError("checkpoint section " + section + ": " + what);
}

Version read_version(StateReader& r, const std::string& field) {
  uint32_t v = r.u32(field);
  return Version{static_cast<uint16_t>(v >> 16), static_cast<uint16_t>(v)};
}

void write_version(StateWriter& w, const std::string& field, Version v) {
  w.u32(field, uint32_t{v.major} << 16 | v.minor);
}

}  // namespace

void IcChannel::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, kVersion);
  w.u32("relid", relid_);
  w.boolean("bound", server_.has_handlers(relid_));
  w.u8("state", static_cast<uint8_t>(state_));
  write_version(w, "framework", framework_);
  write_version(w, "message_version", msg_version_);
  w.boolean("attached", reader_ != nullptr);
  if (reader_) {
    save_ring_end(w, "reader", reader_->saved());
    save_ring_end(w, "writer", writer_->saved());
  }
  w.boolean("outstanding", outstanding_);
  w.u32("outstanding_type", outstanding_type_);
  w.u8("next_transaction", next_transaction_);
  w.u8("outstanding_transaction", outstanding_transaction_);
  w.u64("opens", opens_);
  w.u64("requests", requests_);
  w.u64("answers", answers_);
  w.u64("unanswered", unanswered_);
  w.u64("ring_full", ring_full_);
  w.u64("dropped_total", dropped_total_);
  w.u32("dropped_reasons", static_cast<uint32_t>(dropped_.size()));
  unsigned k = 0;
  for (const auto& [reason, count] : dropped_) {
    std::string n = "dropped" + std::to_string(k++);
    w.str(n + ".reason", reason);
    w.u64(n + ".count", count);
  }
  w.str("ring_error", ring_error_);
  save_service(w);
  w.end_section();
}

void IcChannel::restore(StateReader& r, const std::string& section) {
  if (reader_ || opens_ || requests_) throw InternalError("IcChannel::restore needs a new channel");
  if (uint32_t v = r.begin_section(section); v != kVersion)
    bad(section, "unsupported version " + std::to_string(v));
  if (r.u32("relid") != relid_) bad(section, "relid: not the channel's");
  bool bound = r.boolean("bound");
  uint8_t state = r.u8("state");
  if (state > static_cast<uint8_t>(State::kFailed)) bad(section, "state: unknown");
  state_ = static_cast<State>(state);
  framework_ = read_version(r, "framework");
  msg_version_ = read_version(r, "message_version");
  bool attached = r.boolean("attached");
  auto ch = server_.channels().find(relid_);
  bool exists = ch != server_.channels().end();
  if (bound && !exists) bad(section, "bound: the server has no channel " + std::to_string(relid_));
  if (!bound && exists) {
    // The channel's relid was rescinded and given to another offer: not this VSP's.
    server_.set_signal_handler(relid_, {});
    server_.set_open_handler(relid_, {});
  }
  bool open = bound && ch->second.state == Server::ChannelState::kOpen;
  if (attached != open) bad(section, "attached: does not match the server's channel state");
  if (attached) {
    RingEndState rs = restore_ring_end(r, "reader"), ws = restore_ring_end(r, "writer");
    reader_ =
        std::make_unique<RingReader>(*ch->second.outbound, server_.host_ring_stats(relid_, false));
    writer_ =
        std::make_unique<RingWriter>(*ch->second.inbound, server_.host_ring_stats(relid_, true));
    if (RingError e = reader_->restore(rs); e != RingError::kOk)
      bad(section, std::string("reader: ") + to_string(e));
    if (RingError e = writer_->restore(ws); e != RingError::kOk)
      bad(section, std::string("writer: ") + to_string(e));
  }
  bool live =
      state_ == State::kNegotiating || state_ == State::kReady || state_ == State::kNoVersion;
  if (live && !attached) bad(section, "state: " + std::string(to_string(state_)) + " unattached");
  if (state_ == State::kClosed && attached) bad(section, "state: closed but attached");
  auto known = [](const auto& list, Version v) {
    return v == Version{} || std::find(std::begin(list), std::end(list), v) != std::end(list);
  };
  if (!known(kFrameworks, framework_)) bad(section, "framework: not one the host offers");
  if (!known(msg_versions_, msg_version_)) bad(section, "message_version: not one offered");
  outstanding_ = r.boolean("outstanding");
  uint32_t type = r.u32("outstanding_type");
  next_transaction_ = r.u8("next_transaction");
  outstanding_transaction_ = r.u8("outstanding_transaction");
  if (type > 0xFFFF) bad(section, "outstanding_type: wider than 16 bits");
  outstanding_type_ = static_cast<uint16_t>(type);
  if (outstanding_ && state_ != State::kNegotiating && state_ != State::kReady)
    bad(section, "outstanding: a request on a channel that is not live");
  if (next_transaction_ == 0) bad(section, "next_transaction: zero");
  opens_ = r.u64("opens");
  requests_ = r.u64("requests");
  answers_ = r.u64("answers");
  unanswered_ = r.u64("unanswered");
  ring_full_ = r.u64("ring_full");
  dropped_total_ = r.u64("dropped_total");
  uint32_t reasons = r.u32("dropped_reasons");
  if (reasons > 64) bad(section, "dropped_reasons: too many");
  uint64_t sum = 0;
  for (uint32_t k = 0; k < reasons; ++k) {
    std::string n = "dropped" + std::to_string(k);
    std::string reason = r.str(n + ".reason");
    uint64_t count = r.u64(n + ".count");
    if (reason.empty() || count == 0 || !dropped_.emplace(reason, count).second)
      bad(section, n + ": empty, zero or repeated");
    sum += count;
  }
  if (sum != dropped_total_) bad(section, "dropped_total: not the sum of the reasons");
  ring_error_ = r.str("ring_error");
  restore_service(r, section);
  r.end_section();
}

void Heartbeat::save_service(StateWriter& w) const {
  w.u64("heartbeat.sequence", sequence_);
  w.u64("heartbeat.sent", sent_);
  w.u64("heartbeat.acked", acked_);
  w.u64("heartbeat.missed", missed_);
  w.u64("heartbeat.bad_sequence", bad_sequence_);
  w.u64("heartbeat.last_echo", last_echo_);
  w.boolean("heartbeat.alive", alive_);
}

void Heartbeat::restore_service(StateReader& r, const std::string& section) {
  sequence_ = r.u64("heartbeat.sequence");
  sent_ = r.u64("heartbeat.sent");
  acked_ = r.u64("heartbeat.acked");
  missed_ = r.u64("heartbeat.missed");
  bad_sequence_ = r.u64("heartbeat.bad_sequence");
  last_echo_ = r.u64("heartbeat.last_echo");
  alive_ = r.boolean("heartbeat.alive");
  if (alive_ && state() != State::kReady) bad(section, "heartbeat.alive: channel not ready");
}

void Shutdown::save_service(StateWriter& w) const {
  w.u64("shutdown.requests", requests_);
  w.u64("shutdown.answered_ok", answered_ok_);
  w.u64("shutdown.answered_fail", answered_fail_);
  w.u64("shutdown.answered_other", answered_other_);
  w.boolean("shutdown.answered", answered_);
  w.u32("shutdown.last_status", last_status_);
}

void Shutdown::restore_service(StateReader& r, const std::string& section) {
  requests_ = r.u64("shutdown.requests");
  answered_ok_ = r.u64("shutdown.answered_ok");
  answered_fail_ = r.u64("shutdown.answered_fail");
  answered_other_ = r.u64("shutdown.answered_other");
  answered_ = r.boolean("shutdown.answered");
  last_status_ = r.u32("shutdown.last_status");
  if (answered_ != (answered_ok_ + answered_fail_ + answered_other_ > 0))
    bad(section, "shutdown.answered: does not match the answer counters");
}

void TimeSync::save_service(StateWriter& w) const {
  w.u64("timesync.samples", samples_);
  w.u64("timesync.answered", answered_);
  w.u64("timesync.last_parent", last_parent_);
  w.u64("timesync.last_reference", last_reference_);
}

void TimeSync::restore_service(StateReader& r, const std::string&) {
  samples_ = r.u64("timesync.samples");
  answered_ = r.u64("timesync.answered");
  last_parent_ = r.u64("timesync.last_parent");
  last_reference_ = r.u64("timesync.last_reference");
}

void IntegrationServices::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, kVersion);
  w.u64("ticks", ticks_);
  w.u32("heartbeat", heartbeat_->relid());
  w.u32("shutdown", shutdown_->relid());
  w.u32("timesync", timesync_->relid());
  w.end_section();
  heartbeat_->save(w, section + ".heartbeat");
  shutdown_->save(w, section + ".shutdown");
  timesync_->save(w, section + ".timesync");
}

std::unique_ptr<IntegrationServices> IntegrationServices::restore(
    Server& s, std::function<uint64_t()> parent_time, std::function<uint64_t()> reference_time,
    StateReader& r, const std::string& section) {
  if (uint32_t v = r.begin_section(section); v != kVersion)
    bad(section, "unsupported version " + std::to_string(v));
  uint64_t ticks = r.u64("ticks");
  Relids relids{r.u32("heartbeat"), r.u32("shutdown"), r.u32("timesync")};
  r.end_section();
  for (uint32_t relid : {relids.heartbeat, relids.shutdown, relids.timesync})
    if (relid == 0 || relid > spec::kMaxRelid) bad(section, "a relid outside 1..2047");
  if (relids.heartbeat == relids.shutdown || relids.heartbeat == relids.timesync ||
      relids.shutdown == relids.timesync)
    bad(section, "a relid twice");
  std::unique_ptr<IntegrationServices> ics(
      new IntegrationServices(s, std::move(parent_time), std::move(reference_time), relids));
  ics->ticks_ = ticks;
  ics->heartbeat_->restore(r, section + ".heartbeat");
  ics->shutdown_->restore(r, section + ".shutdown");
  ics->timesync_->restore(r, section + ".timesync");
  return ics;
}

}  // namespace hvsim::vmbus::ic
