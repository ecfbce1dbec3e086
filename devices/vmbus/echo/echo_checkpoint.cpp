// Checkpoints of the echo VSP (docs/vmbus.md "Checkpoints", "Echo VSP"): the channel's
// state, counters and reasons, the private ring positions while attached, and the packet
// read but not answered because the inbound ring was full (its raw bytes, parsed again on
// restore as the reader parsed them). Why the private positions: as the ICs'
// (ic_checkpoint.cpp), a re-attach would read whatever the guest left on the control page.
#include <cstring>

#include "core/error.h"
#include "core/state.h"
#include "devices/vmbus/echo/echo.h"
#include "devices/vmbus/ring_checkpoint.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

namespace {

constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxReasons = 64;

[[noreturn]] void bad(const std::string& section, const std::string& what) {
  throw InputError("checkpoint section " + section + ": " + what);
}

void save_reasons(StateWriter& w, const std::string& p,
                  const std::map<std::string, uint64_t>& reasons) {
  w.u32(p + "_reasons", static_cast<uint32_t>(reasons.size()));
  unsigned k = 0;
  for (const auto& [reason, count] : reasons) {
    std::string n = p + std::to_string(k++);
    w.str(n + ".reason", reason);
    w.u64(n + ".count", count);
  }
}

/// The reasons of `p` (none empty, zero or repeated), which must add up to `total`.
std::map<std::string, uint64_t> restore_reasons(StateReader& r, const std::string& section,
                                                const std::string& p, uint64_t total) {
  std::map<std::string, uint64_t> reasons;
  uint32_t n = r.u32(p + "_reasons");
  if (n > kMaxReasons) bad(section, p + "_reasons: too many");
  uint64_t sum = 0;
  for (uint32_t k = 0; k < n; ++k) {
    std::string f = p + std::to_string(k);
    std::string reason = r.str(f + ".reason");
    uint64_t count = r.u64(f + ".count");
    if (reason.empty() || count == 0 || !reasons.emplace(reason, count).second)
      bad(section, f + ": empty, zero or repeated");
    sum += count;
  }
  if (sum != total) bad(section, p + ": the reasons do not add up to the counter");
  return reasons;
}

bool is_echo_offer(const Server::Channel& c) {
  spec::Guid echo = parse_guid(kEchoGuid);
  return std::memcmp(c.offer.interface_type.b, echo.b, sizeof echo.b) == 0;
}

}  // namespace

void EchoChannel::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, kVersion);
  w.u32("relid", relid_);
  w.boolean("bound", bound_ && server_.has_handlers(relid_));
  w.u8("state", static_cast<uint8_t>(state_));
  w.boolean("attached", reader_ != nullptr);
  if (reader_) {
    save_ring_end(w, "reader", reader_->saved());
    save_ring_end(w, "writer", writer_->saved());
  }
  w.boolean("waiting", waiting_);
  if (waiting_) w.bytes("packet", packet_.bytes.data(), packet_.bytes.size());
  w.u64("opens", opens_);
  w.u64("requests", requests_);
  w.u64("replies", replies_);
  w.u64("bytes", bytes_);
  w.u64("ignored", ignored_);
  w.u64("full_waits", full_waits_);
  w.u64("batches", batches_);
  w.u64("failures", failures_);
  save_reasons(w, "failed", failures_by_reason_);
  save_reasons(w, "ignored", ignored_by_reason_);
  w.end_section();
}

std::unique_ptr<EchoChannel> EchoChannel::restore(Server& s, StateReader& r,
                                                  const std::string& section) {
  if (uint32_t v = r.begin_section(section); v != kVersion)
    bad(section, "unsupported version " + std::to_string(v));
  uint32_t relid = r.u32("relid");
  if (relid == 0 || relid > spec::kMaxRelid) bad(section, "relid: outside 1..2047");
  bool bound = r.boolean("bound");
  auto ch = s.channels().find(relid);
  bool exists = ch != s.channels().end();
  if (bound) {
    if (!exists) bad(section, "relid: the server has no channel " + std::to_string(relid));
    if (!is_echo_offer(ch->second))
      bad(section, "relid: channel " + std::to_string(relid) + " is not an echo offer");
    // Why: a second echo on the same channel would bind its handlers twice.
    if (s.has_handlers(relid)) bad(section, "relid: the channel is already driven");
  }
  std::unique_ptr<EchoChannel> e(new EchoChannel(s, relid, bound));
  uint8_t state = r.u8("state");
  if (state > static_cast<uint8_t>(State::kFailed)) bad(section, "state: unknown");
  e->state_ = static_cast<State>(state);
  bool attached = r.boolean("attached");
  bool open = bound && ch->second.state == Server::ChannelState::kOpen;
  if (attached != open) bad(section, "attached: does not match the server's channel state");
  if (attached) {
    RingEndState rs = restore_ring_end(r, "reader"), ws = restore_ring_end(r, "writer");
    e->reader_ =
        std::make_unique<RingReader>(*ch->second.outbound, s.host_ring_stats(relid, false));
    e->writer_ = std::make_unique<RingWriter>(*ch->second.inbound, s.host_ring_stats(relid, true));
    if (RingError err = e->reader_->restore(rs); err != RingError::kOk)
      bad(section, std::string("reader: ") + to_string(err));
    if (RingError err = e->writer_->restore(ws); err != RingError::kOk)
      bad(section, std::string("writer: ") + to_string(err));
    if (e->state_ == State::kOpen && (!rs.data_size || !ws.data_size))
      bad(section, "state: open on a ring end that never attached");
  }
  if (e->state_ == State::kOpen && !attached) bad(section, "state: open but unattached");
  if (e->state_ == State::kClosed && attached) bad(section, "state: closed but attached");
  e->waiting_ = r.boolean("waiting");
  if (e->waiting_) {
    if (e->state_ != State::kOpen) bad(section, "waiting: a packet on a channel that is not open");
    std::vector<uint8_t> bytes = r.bytes("packet");
    if (RingError err = RingReader::parse(bytes, e->packet_); err != RingError::kOk)
      bad(section, std::string("packet: ") + to_string(err));
    if (e->packet_.type != spec::PacketType::kDataInBand || !e->packet_.completion_requested())
      bad(section, "packet: not a request that waits for a completion");
    if (uint64_t{bytes.size()} + 8 > e->reader_->data_size() - 8)
      bad(section, "packet: larger than the outbound ring");
  }
  e->opens_ = r.u64("opens");
  e->requests_ = r.u64("requests");
  e->replies_ = r.u64("replies");
  e->bytes_ = r.u64("bytes");
  e->ignored_ = r.u64("ignored");
  e->full_waits_ = r.u64("full_waits");
  e->batches_ = r.u64("batches");
  e->failures_ = r.u64("failures");
  if (e->replies_ > e->requests_) bad(section, "replies: more than requests");
  if (e->waiting_ && e->full_waits_ == 0) bad(section, "full_waits: zero while waiting");
  if (e->state_ != State::kClosed && e->opens_ == 0) bad(section, "opens: zero on a used channel");
  if (e->state_ == State::kFailed && e->failures_ == 0) bad(section, "failures: zero but failed");
  e->failures_by_reason_ = restore_reasons(r, section, "failed", e->failures_);
  e->ignored_by_reason_ = restore_reasons(r, section, "ignored", e->ignored_);
  r.end_section();
  return e;
}

}  // namespace hvsim::vmbus
