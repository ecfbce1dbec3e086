// The VMBus server: connection, offers, channels, unload (shared/spec/hyperv-interfaces.md
// §6.2-6.4, §6.6, §6.8). GPADL messages are in server_gpadl.cpp.
#include "devices/vmbus/server.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/inspect.h"
#include "core/trace.h"
#include "devices/vmbus/message_fields.h"

namespace hvsim::vmbus {

using spec::MessageType;

namespace {

uint32_t rd32(const uint8_t* m, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, m + off, 4);
  return v;
}
void wr32(uint8_t* m, uint32_t off, uint32_t v) {
  std::memcpy(m + off, &v, 4);
}
void put_type(uint8_t* m, MessageType t) {
  wr32(m, 0, static_cast<uint32_t>(t));
}

}  // namespace

const char* to_string(Server::ChannelState s) {
  switch (s) {
    case Server::ChannelState::kOffered: return "offered";
    case Server::ChannelState::kOpen: return "open";
    case Server::ChannelState::kRescinded: return "rescinded";
  }
  return "unknown";
}

std::string guid_string(const spec::Guid& g) {
  const uint8_t* b = g.b;
  char s[40];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15]);
  return s;
}

spec::Guid parse_guid(const std::string& s) {
  // Text order: 4 bytes, 2, 2 (each little-endian on the wire), then 8 bytes as written.
  static constexpr int kWire[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  spec::Guid g{};
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
    throw InputError("GUID '" + s + "': expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
  std::string hex;
  for (char c : s)
    if (c != '-') hex += c;
  for (int k = 0; k < 16; ++k) {
    unsigned v = 0;
    for (int d = 0; d < 2; ++d) {
      char c = hex[2 * k + d];
      unsigned x = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : 16;
      if (x > 15) throw InputError("GUID '" + s + "': not hexadecimal");
      v = v * 16 + x;
    }
    g.b[kWire[k]] = static_cast<uint8_t>(v);
  }
  return g;
}

Server::Server(Transport& t, const ServerParams& p, std::string name, Tracer* tracer,
               std::function<SimTime()> now)
    : t_(t),
      params_(p),
      name_(std::move(name)),
      track_("vmbus:" + name_),
      tracer_(tracer),
      now_(std::move(now)) {}

Server::~Server() = default;

uint64_t Server::rejected(const std::string& reason) const {
  auto it = rejected_.find(reason);
  return it == rejected_.end() ? 0 : it->second;
}

void Server::trace(const char* dir, const uint8_t* m, uint32_t size) {
  if (!tracer_ || !tracer_->enabled()) return;
  uint32_t type = size >= 4 ? rd32(m, 0) : 0;
  const char* name = type < static_cast<uint32_t>(MessageType::kCount)
                         ? spec::to_string(static_cast<MessageType>(type))
                         : "Unknown";
  // dir, type and size, then the message's own fields (relid, gpadl, version, status...).
  std::vector<MessageField> fields = message_fields(m, size);
  std::vector<TraceArg> args = {{"dir", dir}, {"type", type}, {"size", size}};
  for (const MessageField& f : fields) {
    if (f.text.empty())
      args.emplace_back(f.key, f.number);
    else
      args.emplace_back(f.key, std::string_view(f.text));
  }
  tracer_->instant(now_ ? now_() : 0, track_, "vmbus", name, args);
}

void Server::reject(const char* reason, uint32_t type) {
  ++rejected_total_;
  ++rejected_[reason];
  if (tracer_ && tracer_->enabled())
    tracer_->instant(now_ ? now_() : 0, track_, "vmbus", "rejected",
                     {{"reason", reason}, {"type", type}});
}

void Server::send(const uint8_t* msg, uint32_t size) {
  trace("out", msg, size);
  // Replies keep their order: nothing goes straight out while older ones wait.
  if (queue_.empty() && t_.post(target_vcpu_, msg_sint_, msg, size)) {
    ++sent_;
    return;
  }
  if (queue_.size() >= params_.max_queued) {
    ++dropped_replies_;
    return;
  }
  queue_.emplace_back(msg, msg + size);
  if (queue_.size() == 1 && on_queued_) on_queued_();
}

void Server::drop_queued() {
  dropped_replies_ += queue_.size();
  queue_.clear();
}

void Server::flush() {
  size_t k = 0;
  while (k < queue_.size() && t_.post(target_vcpu_, msg_sint_, queue_[k].data(),
                                      static_cast<uint32_t>(queue_[k].size())))
    ++k;
  sent_ += k;
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(k));
}

void Server::on_message(uint32_t connection_id, uint32_t vp, const uint8_t* m, uint32_t size) {
  (void)vp;
  ++received_;
  flush();
  if (size < spec::kHeaderSize || size > spec::kMaxMessageSize) {
    trace("in", m, size);
    return reject("short message", 0);
  }
  uint32_t type = rd32(m, 0);
  trace("in", m, size);
  if (type < static_cast<uint32_t>(MessageType::kCount)) ++received_by_type_[type];
  bool contact = type == static_cast<uint32_t>(MessageType::kInitiateContact);
  // Before contact only InitiateContact (and Unload, which resets) mean anything.
  if (!contact && type != static_cast<uint32_t>(MessageType::kUnload) && !connected())
    return reject("not connected", type);
  switch (static_cast<MessageType>(type)) {
    case MessageType::kInitiateContact: return initiate_contact(connection_id, m, size);
    case MessageType::kRequestOffers: return request_offers(size);
    case MessageType::kGpadlHeader: return gpadl_header(m, size);
    case MessageType::kGpadlBody: return gpadl_body(m, size);
    case MessageType::kGpadlTeardown: return gpadl_teardown(m, size);
    case MessageType::kOpenChannel: return open_channel(m, size);
    case MessageType::kCloseChannel: return close_channel_msg(m, size);
    case MessageType::kRelIdReleased: return relid_released(m, size);
    case MessageType::kModifyChannel: return modify_channel(m, size);
    case MessageType::kUnload: return unload(size);
    default:
      // Host -> guest types, reserved channels, hv_sock and anything unknown.
      return reject("unsupported type", type);
  }
}

void Server::on_event(uint32_t connection_id) {
  ++guest_events_;
  flush();
  for (auto& [relid, c] : channels_) {
    if (c.connection_id != connection_id) continue;
    if (c.state != ChannelState::kOpen) break;
    ++c.guest_signals;
    if (tracer_ && tracer_->enabled())
      tracer_->instant(now_ ? now_() : 0, track_, "vmbus", "guest_signal", {{"relid", relid}});
    auto h = signal_handlers_.find(relid);
    if (h != signal_handlers_.end() && h->second) h->second();
    return;
  }
  ++unknown_events_;
}

// ---- §6.2 version negotiation ----

void Server::initiate_contact(uint32_t connection_id, const uint8_t* m, uint32_t size) {
  namespace ic = spec::initiate_contact;
  namespace vr = spec::version_response;
  if (size < ic::kSize) return reject("bad length", 14);
  if (connected()) return reject("already connected", 14);
  uint32_t version = rd32(m, ic::kVersionRequested), vcpu = rd32(m, ic::kTargetVcpu);
  unsigned sint = version >= spec::kVersionWin10V5 ? m[ic::kMsgSint] : spec::kMessageSint;
  ++contacts_;
  bool known = std::find(params_.versions.begin(), params_.versions.end(), version) !=
               params_.versions.end();
  // The reply goes to the VP the guest names, if it exists, else to VP 0.
  bool target_ok = vcpu < t_.vp_count() && sint < 16;
  uint32_t saved_vcpu = target_vcpu_;
  unsigned saved_sint = msg_sint_;
  target_vcpu_ = target_ok ? vcpu : 0;
  msg_sint_ = target_ok ? sint : spec::kMessageSint;
  uint8_t r[vr::kSizeV6MonitorPages] = {};
  put_type(r, MessageType::kVersionResponse);
  if (!known || !target_ok) {
    // Hyper-V's only answer to a version it does not speak: version_supported = 0; the guest
    // tries its next one (Linux connection.c).
    if (!target_ok) reject("bad target vcpu", 14);
    r[vr::kVersionSupported] = 0;
    r[vr::kConnectionState] = target_ok ? 0 : 2;
    send(r, vr::kSize);
    target_vcpu_ = saved_vcpu;
    msg_sint_ = saved_sint;
    return;
  }
  (void)connection_id;  // 1 and 4 are both accepted (dossier §6.2 recommendation)
  version_ = version;
  offers_requested_ = false;
  take_monitor_pages(m);
  send(r, version_response(r, version, m, size));
}

// ---- offers ----

void Server::send_offer(Channel& c) {
  namespace oc = spec::offer_channel;
  uint8_t o[oc::kSize] = {};
  put_type(o, MessageType::kOfferChannel);
  std::memcpy(o + oc::kInterfaceType, c.offer.interface_type.b, 16);
  std::memcpy(o + oc::kInterfaceInstance, c.offer.instance.b, 16);
  std::memcpy(o + oc::kFlags, &c.offer.flags, 2);
  wr32(o, oc::kChildRelid, c.relid);
  c.monitored = offer_monitored(c);  // else monitor_allocated = 0: the guest hypercalls
  o[oc::kMonitorId] = c.monitored ? c.monitor_id : oc::kNoMonitor;
  o[oc::kMonitorAllocated] = c.monitored ? 1 : 0;
  o[oc::kIsDedicatedInterrupt] = 1;
  wr32(o, oc::kConnectionId, c.connection_id);
  c.offered_to_guest = true;
  send(o, sizeof o);
}

void Server::request_offers(uint32_t size) {
  if (size != spec::kHeaderSize) return reject("bad length", 3);
  if (offers_requested_) return reject("offers already requested", 3);
  offers_requested_ = true;
  for (auto& [relid, c] : channels_)
    if (c.state != ChannelState::kRescinded) send_offer(c);
  uint8_t a[spec::kHeaderSize] = {};
  put_type(a, MessageType::kAllOffersDelivered);
  send(a, sizeof a);
}

uint32_t Server::add_offer(const OfferParams& o) {
  uint32_t relid = 1;
  while (channels_.count(relid)) ++relid;
  if (relid > spec::kMaxRelid) throw InputError("vmbus: no free relid (2047 channels)");
  Channel& c = channels_[relid];
  c.relid = relid;
  c.offer = o;
  if (o.monitored) c.monitor_id = free_monitor_id();
  // OpenVMM's choice: relid | SINT << 12 (VTL 0); unique per channel.
  c.connection_id = relid | (spec::kMessageSint << 12);
  t_.connect_event(c.connection_id);
  if (tracer_ && tracer_->enabled())
    tracer_->instant(now_ ? now_() : 0, track_, "vmbus", "add_offer",
                     {{"relid", relid}, {"name", std::string_view(o.name)}});
  if (connected() && offers_requested_) send_offer(c);
  return relid;
}

void Server::rescind(uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end() || it->second.state == ChannelState::kRescinded)
    throw InputError("vmbus: no channel with relid " + std::to_string(relid));
  Channel& c = it->second;
  if (c.state == ChannelState::kOpen) close_channel(c);
  if (!(connected() && c.offered_to_guest)) {
    t_.disconnect_event(c.connection_id);
    signal_handlers_.erase(relid);
    open_handlers_.erase(relid);
    channels_.erase(it);
    return;
  }
  c.state = ChannelState::kRescinded;
  uint8_t r[spec::rescind_offer::kSize] = {};
  put_type(r, MessageType::kRescindChannelOffer);
  wr32(r, spec::rescind_offer::kChildRelid, relid);
  send(r, sizeof r);
}

void Server::relid_released(const uint8_t* m, uint32_t size) {
  if (size < spec::relid_released::kSize) return reject("bad length", 13);
  uint32_t relid = rd32(m, spec::relid_released::kChildRelid);
  auto it = channels_.find(relid);
  if (it == channels_.end() || it->second.state != ChannelState::kRescinded)
    return reject("relid not rescinded", 13);
  t_.disconnect_event(it->second.connection_id);
  signal_handlers_.erase(relid);
  open_handlers_.erase(relid);
  channels_.erase(it);
}

// ---- channels ----

void Server::open_channel(const uint8_t* m, uint32_t size) {
  namespace oc = spec::open_channel;
  namespace res = spec::open_result;
  if (size < oc::kSize) return reject("bad length", 5);
  uint32_t relid = rd32(m, oc::kChildRelid), open_id = rd32(m, oc::kOpenId);
  uint32_t handle = rd32(m, oc::kRingGpadl), vp = rd32(m, oc::kTargetVp);
  uint32_t offset = rd32(m, oc::kDownstreamPageOffset);
  auto it = channels_.find(relid);
  if (it == channels_.end() || !it->second.offered_to_guest) return reject("unknown relid", 5);
  Channel& c = it->second;
  if (c.state != ChannelState::kOffered) return reject("channel not closed", 5);
  uint8_t r[res::kSize] = {};
  put_type(r, MessageType::kOpenChannelResult);
  wr32(r, res::kChildRelid, relid);
  wr32(r, res::kOpenId, open_id);
  // The ring GPADL: complete, this channel's, whole pages; each ring a control page and
  // at least one data page.
  auto g = gpadls_.find(handle);
  const char* bad = nullptr;
  if (g == gpadls_.end() || !g->second.complete())
    bad = "open: no such GPADL";
  else if (g->second.relid != relid)
    bad = "open: GPADL of another channel";
  else if (g->second.byte_offset != 0 || g->second.byte_count % 4096)
    bad = "open: GPADL not whole pages";
  else if (offset < 2 || offset + 2 > g->second.pfns.size())
    bad = "open: bad downstream offset";
  else if (vp >= t_.vp_count())
    bad = "open: bad target VP";
  else
    for (const auto& [relid2, c2] : channels_)
      if (c2.state == ChannelState::kOpen && c2.ring_gpadl == handle) bad = "open: GPADL in use";
  if (bad) {
    reject(bad, 5);
    wr32(r, res::kStatus, 0xC0000001u);  // STATUS_UNSUCCESSFUL: the guest's probe fails
    send(r, sizeof r);
    return;
  }
  const Gpadl& gp = g->second;
  c.state = ChannelState::kOpen;
  c.open_id = open_id;
  c.ring_gpadl = handle;
  c.target_vp = vp;
  c.downstream_offset = offset;
  c.outbound = std::make_unique<GpadlView>(t_, gp, 0, offset);
  c.inbound =
      std::make_unique<GpadlView>(t_, gp, offset, static_cast<uint32_t>(gp.pfns.size()) - offset);
  ++c.opens;
  send(r, sizeof r);
  auto h = open_handlers_.find(c.relid);
  if (h != open_handlers_.end() && h->second) h->second(true);
  if (c.monitored && on_monitor_) on_monitor_();
}

void Server::close_channel(Channel& c) {
  auto h = open_handlers_.find(c.relid);
  if (h != open_handlers_.end() && h->second) h->second(false);
  c.state = ChannelState::kOffered;
  c.outbound.reset();
  c.inbound.reset();
  c.ring_gpadl = c.open_id = c.target_vp = c.downstream_offset = 0;
  ++c.closes;
}

void Server::close_channel_msg(const uint8_t* m, uint32_t size) {
  if (size < spec::close_channel::kSize) return reject("bad length", 7);
  auto it = channels_.find(rd32(m, spec::close_channel::kChildRelid));
  if (it == channels_.end() || it->second.state != ChannelState::kOpen)
    return reject("channel not open", 7);
  close_channel(it->second);
}

void Server::modify_channel(const uint8_t* m, uint32_t size) {
  if (size < 16) return reject("bad length", 22);
  auto it = channels_.find(rd32(m, 8));
  uint32_t vp = rd32(m, 12);
  if (it == channels_.end() || it->second.state != ChannelState::kOpen)
    return reject("channel not open", 22);
  int32_t status = 0;
  if (vp >= t_.vp_count()) {
    reject("bad target vcpu", 22);
    status = static_cast<int32_t>(0xC000000Du);  // STATUS_INVALID_PARAMETER
  } else {
    it->second.target_vp = vp;
  }
  if (version_ >= spec::kVersionWin10V5_3) {
    uint8_t r[16] = {};
    put_type(r, MessageType::kModifyChannelResponse);
    wr32(r, 8, it->first);
    std::memcpy(r + 12, &status, 4);
    send(r, sizeof r);
  }
}

bool Server::signal_guest(uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end() || it->second.state != ChannelState::kOpen) return false;
  ++it->second.host_signals;
  return t_.signal(it->second.target_vp, spec::kMessageSint, relid);
}

void Server::set_signal_handler(uint32_t relid, std::function<void()> fn) {
  if (!channels_.count(relid))
    throw InputError("vmbus: no channel with relid " + std::to_string(relid));
  signal_handlers_[relid] = std::move(fn);
}

void Server::set_open_handler(uint32_t relid, std::function<void(bool)> fn) {
  if (!channels_.count(relid))
    throw InputError("vmbus: no channel with relid " + std::to_string(relid));
  open_handlers_[relid] = std::move(fn);
}

// ---- unload ----

void Server::reset() {
  for (auto it = channels_.begin(); it != channels_.end();) {
    Channel& c = it->second;
    if (c.state == ChannelState::kOpen) close_channel(c);
    c.offered_to_guest = false;
    c.monitored = false;
    if (c.state == ChannelState::kRescinded) {
      t_.disconnect_event(c.connection_id);
      signal_handlers_.erase(it->first);
      open_handlers_.erase(it->first);
      it = channels_.erase(it);
    } else {
      ++it;
    }
  }
  gpadls_.clear();
  pfn_owner_.clear();
  version_ = 0;
  offers_requested_ = false;
  monitor_gpa_[0] = monitor_gpa_[1] = 0;
  features_ = 0;
}

void Server::unload(uint32_t size) {
  if (size != spec::kHeaderSize) return reject("bad length", 16);
  ++unloads_;
  reset();
  uint8_t r[spec::kHeaderSize] = {};
  put_type(r, MessageType::kUnloadResponse);
  send(r, sizeof r);
}

// ---- observability ----

void Server::inspect(InspectNode& n) const {
  n.value("state", connected() ? "connected" : "disconnected");
  n.counter("version", version_);
  n.counter("target_vcpu", target_vcpu_);
  n.counter("offers_requested", offers_requested_);
  n.counter("received", received_);
  n.counter("sent", sent_);
  n.counter("queued", queue_.size());
  n.counter("dropped_replies", dropped_replies_);
  n.counter("contacts", contacts_);
  n.counter("unloads", unloads_);
  n.counter("guest_events", guest_events_);
  n.counter("unknown_events", unknown_events_);
  n.counter("rejected", rejected_total_);
  inspect_monitor(n);
  InspectNode& rj = n.child("rejected_by_reason");
  for (const auto& [reason, count] : rejected_) rj.counter(reason, count);
  InspectNode& bt = n.child("received_by_type");
  for (unsigned k = 0; k < std::size(received_by_type_); ++k)
    if (received_by_type_[k])
      bt.counter(spec::to_string(static_cast<MessageType>(k)), received_by_type_[k]);
  InspectNode& ch = n.child("channels");
  for (const auto& [relid, c] : channels_) {
    InspectNode& x = ch.child(std::to_string(relid));
    x.value("name", c.offer.name);
    x.value("interface", guid_string(c.offer.interface_type));
    x.value("instance", guid_string(c.offer.instance));
    x.value("state", to_string(c.state));
    x.counter("offered", c.offered_to_guest);
    x.counter("connection_id", c.connection_id);
    x.counter("ring_gpadl", c.ring_gpadl);
    x.counter("target_vp", c.target_vp);
    x.counter("downstream_offset", c.downstream_offset);
    x.counter("opens", c.opens);
    x.counter("closes", c.closes);
    x.counter("guest_signals", c.guest_signals);
    x.counter("host_signals", c.host_signals);
    x.counter("monitor_id", c.monitor_id);
    x.counter("monitored", c.monitored);
    x.counter("monitor_signals", c.monitor_signals);
    inspect_channel_rings(c, x);
  }
  InspectNode& gp = n.child("gpadls");
  for (const auto& [handle, g] : gpadls_) {
    InspectNode& x = gp.child(std::to_string(handle));
    x.counter("relid", g.relid);
    x.counter("pages", g.pfns.size());
    x.counter("pages_expected", g.pfn_total);
    x.counter("byte_count", g.byte_count);
    x.counter("complete", g.complete());
  }
}

}  // namespace hvsim::vmbus
