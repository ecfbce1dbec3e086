// Checkpoints of a VMBus server (docs/vmbus.md "Checkpoints"): the connection, every channel
// and GPADL, the replies waiting for a message buffer, and every counter, in one section.
// Restore checks each value as the message handlers would have (relids, states, GPADL sizes
// and pages inside the partition, ring layout of open channels) and rebuilds what follows
// from the rest: the PFN owners and the open channels' ring views. Handlers (VSPs) and the
// transport's event connections are the owner's: not saved here.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/error.h"
#include "core/state.h"
#include "devices/vmbus/ring_checkpoint.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

namespace {
constexpr uint32_t kVersion = 1;
}  // namespace

void Server::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, kVersion);
  w.u32("version", version_);
  w.u32("target_vcpu", target_vcpu_);
  w.u32("msg_sint", msg_sint_);
  w.boolean("offers_requested", offers_requested_);
  w.u64("monitor_page1", monitor_gpa_[0]);
  w.u64("monitor_page2", monitor_gpa_[1]);
  w.u32("features", features_);
  w.u64("monitor_polls", monitor_polls_);
  w.u64("monitor_signals", monitor_signals_);
  w.u64("received", received_);
  w.u64("sent", sent_);
  w.u64("dropped_replies", dropped_replies_);
  w.u64("guest_events", guest_events_);
  w.u64("unknown_events", unknown_events_);
  w.u64("contacts", contacts_);
  w.u64("unloads", unloads_);
  w.bytes("received_by_type", received_by_type_, sizeof received_by_type_);
  w.u64("rejected_total", rejected_total_);
  w.u32("rejected_reasons", static_cast<uint32_t>(rejected_.size()));
  unsigned k = 0;
  for (const auto& [reason, count] : rejected_) {
    std::string n = "rejected" + std::to_string(k++);
    w.str(n + ".reason", reason);
    w.u64(n + ".count", count);
  }
  w.u32("channels", static_cast<uint32_t>(channels_.size()));
  k = 0;
  for (const auto& [relid, c] : channels_) {
    std::string n = "channel" + std::to_string(k++);
    w.u32(n + ".relid", relid);
    w.bytes(n + ".interface_type", c.offer.interface_type.b, 16);
    w.bytes(n + ".instance", c.offer.instance.b, 16);
    w.u32(n + ".flags", c.offer.flags);
    w.str(n + ".name", c.offer.name);
    w.u32(n + ".connection_id", c.connection_id);
    w.u8(n + ".state", static_cast<uint8_t>(c.state));
    w.boolean(n + ".offered_to_guest", c.offered_to_guest);
    w.u32(n + ".open_id", c.open_id);
    w.u32(n + ".ring_gpadl", c.ring_gpadl);
    w.u32(n + ".target_vp", c.target_vp);
    w.u32(n + ".downstream_offset", c.downstream_offset);
    w.u64(n + ".opens", c.opens);
    w.u64(n + ".closes", c.closes);
    w.u64(n + ".guest_signals", c.guest_signals);
    w.u64(n + ".host_signals", c.host_signals);
    w.boolean(n + ".offer_monitored", c.offer.monitored);
    w.u8(n + ".monitor_id", c.monitor_id);
    w.boolean(n + ".monitored", c.monitored);
    w.u64(n + ".monitor_signals", c.monitor_signals);
    save_ring_stats(w, n + ".host_reader", c.host_reader);
    save_ring_stats(w, n + ".host_writer", c.host_writer);
  }
  w.u32("gpadls", static_cast<uint32_t>(gpadls_.size()));
  k = 0;
  for (const auto& [handle, g] : gpadls_) {
    std::string n = "gpadl" + std::to_string(k++);
    w.u32(n + ".handle", handle);
    w.u32(n + ".relid", g.relid);
    w.u32(n + ".byte_count", g.byte_count);
    w.u32(n + ".byte_offset", g.byte_offset);
    w.u32(n + ".pfn_total", g.pfn_total);
    w.bytes(n + ".pfns", g.pfns.data(), g.pfns.size() * 8);
  }
  w.u32("queued", static_cast<uint32_t>(queue_.size()));
  k = 0;
  for (const auto& m : queue_) w.bytes("queued" + std::to_string(k++), m.data(), m.size());
  w.end_section();
}

void Server::restore(StateReader& r, const std::string& section) {
  auto bad = [&](const std::string& what) {
    throw InputError("checkpoint section " + section + ": " + what);
  };
  if (!pristine() || received_ || !queue_.empty())
    throw InternalError("Server::restore needs a new server");
  if (uint32_t v = r.begin_section(section); v != kVersion)
    bad("unsupported version " + std::to_string(v));
  uint32_t version = r.u32("version"), target_vcpu = r.u32("target_vcpu");
  uint32_t msg_sint = r.u32("msg_sint");
  bool offers_requested = r.boolean("offers_requested");
  uint64_t monitor1 = r.u64("monitor_page1"), monitor2 = r.u64("monitor_page2");
  uint32_t features = r.u32("features");
  monitor_polls_ = r.u64("monitor_polls");
  monitor_signals_ = r.u64("monitor_signals");
  if (version && std::find(params_.versions.begin(), params_.versions.end(), version) ==
                     params_.versions.end())
    bad("version: " + std::to_string(version >> 16) + "." + std::to_string(version & 0xFFFF) +
        " is not one this server accepts");
  if (target_vcpu >= std::max<uint32_t>(t_.vp_count(), 1)) bad("target_vcpu: no such VP");
  if (msg_sint >= 16) bad("msg_sint: above 15");
  if (!version && offers_requested) bad("offers_requested: not connected");
  // Monitor pages as take_monitor_pages() accepts them: both or none, page-aligned, inside
  // the partition, distinct.
  if ((monitor1 == 0) != (monitor2 == 0) || monitor1 % spec::kPageSize ||
      monitor2 % spec::kPageSize || (monitor1 && monitor1 == monitor2) ||
      monitor1 >= t_.memory_size() || monitor2 >= t_.memory_size() || (monitor1 && !version))
    bad("monitor_page1/2: not a pair of distinct pages inside the partition");
  if (features && version < spec::kVersionWin10V6_0) bad("features: granted before 6.0");
  received_ = r.u64("received");
  sent_ = r.u64("sent");
  dropped_replies_ = r.u64("dropped_replies");
  guest_events_ = r.u64("guest_events");
  unknown_events_ = r.u64("unknown_events");
  contacts_ = r.u64("contacts");
  unloads_ = r.u64("unloads");
  r.bytes_into("received_by_type", received_by_type_, sizeof received_by_type_);
  rejected_total_ = r.u64("rejected_total");
  uint32_t reasons = r.u32("rejected_reasons");
  if (reasons > 256) bad("rejected_reasons: too many");
  uint64_t sum = 0;
  for (uint32_t k = 0; k < reasons; ++k) {
    std::string n = "rejected" + std::to_string(k);
    std::string reason = r.str(n + ".reason");
    uint64_t count = r.u64(n + ".count");
    if (reason.empty() || count == 0 || !rejected_.emplace(reason, count).second)
      bad(n + ": empty, zero or repeated");
    sum += count;
  }
  if (sum != rejected_total_) bad("rejected_total: not the sum of the reasons");

  uint32_t channels = r.u32("channels");
  if (channels > spec::kMaxRelid) bad("channels: more than 2047");
  for (uint32_t k = 0; k < channels; ++k) {
    std::string n = "channel" + std::to_string(k);
    Channel c;
    c.relid = r.u32(n + ".relid");
    r.bytes_into(n + ".interface_type", c.offer.interface_type.b, 16);
    r.bytes_into(n + ".instance", c.offer.instance.b, 16);
    uint32_t flags = r.u32(n + ".flags");
    c.offer.name = r.str(n + ".name");
    c.connection_id = r.u32(n + ".connection_id");
    uint8_t state = r.u8(n + ".state");
    c.offered_to_guest = r.boolean(n + ".offered_to_guest");
    c.open_id = r.u32(n + ".open_id");
    c.ring_gpadl = r.u32(n + ".ring_gpadl");
    c.target_vp = r.u32(n + ".target_vp");
    c.downstream_offset = r.u32(n + ".downstream_offset");
    c.opens = r.u64(n + ".opens");
    c.closes = r.u64(n + ".closes");
    c.guest_signals = r.u64(n + ".guest_signals");
    c.host_signals = r.u64(n + ".host_signals");
    c.offer.monitored = r.boolean(n + ".offer_monitored");
    c.monitor_id = r.u8(n + ".monitor_id");
    c.monitored = r.boolean(n + ".monitored");
    c.monitor_signals = r.u64(n + ".monitor_signals");
    c.host_reader = restore_ring_stats(r, n + ".host_reader");
    c.host_writer = restore_ring_stats(r, n + ".host_writer");
    if (c.monitor_id != spec::offer_channel::kNoMonitor &&
        (c.monitor_id >= spec::monitor_page::kMaxMonitors || !c.offer.monitored))
      bad(n + ".monitor_id: outside 0..127 or on a channel not offered monitored");
    if (c.monitored && (c.monitor_id == spec::offer_channel::kNoMonitor || !monitor2))
      bad(n + ".monitored: without a monitor id or monitor pages");
    if (c.relid == 0 || c.relid > spec::kMaxRelid) bad(n + ".relid: outside 1..2047");
    if (channels_.count(c.relid)) bad(n + ".relid: " + std::to_string(c.relid) + " twice");
    if (flags > 0xFFFF) bad(n + ".flags: wider than 16 bits");
    c.offer.flags = static_cast<uint16_t>(flags);
    if (c.connection_id != (c.relid | (spec::kMessageSint << 12)))
      bad(n + ".connection_id: not the channel's");
    if (state > static_cast<uint8_t>(ChannelState::kRescinded)) bad(n + ".state: unknown");
    c.state = static_cast<ChannelState>(state);
    if (c.offered_to_guest && !version) bad(n + ".offered_to_guest: not connected");
    if (c.state == ChannelState::kRescinded && !c.offered_to_guest)
      bad(n + ".state: rescinded but never offered");
    if (c.state == ChannelState::kOpen && !c.offered_to_guest)
      bad(n + ".state: open but never offered");
    if (c.state != ChannelState::kOpen &&
        (c.open_id || c.ring_gpadl || c.target_vp || c.downstream_offset))
      bad(n + ": open fields on a channel that is not open");
    channels_.emplace(c.relid, std::move(c));
  }
  std::set<uint8_t> monitor_ids;
  for (const auto& [relid, c] : channels_)
    if (c.monitor_id != spec::offer_channel::kNoMonitor && !monitor_ids.insert(c.monitor_id).second)
      bad("channel relid " + std::to_string(relid) + ".monitor_id: used twice");

  uint32_t gpadls = r.u32("gpadls");
  if (gpadls > params_.max_gpadls) bad("gpadls: more than max_gpadls");
  if (gpadls && !version) bad("gpadls: not connected");
  const uint64_t pages = t_.memory_size() / spec::kPageSize;
  for (uint32_t k = 0; k < gpadls; ++k) {
    std::string n = "gpadl" + std::to_string(k);
    Gpadl g;
    g.handle = r.u32(n + ".handle");
    g.relid = r.u32(n + ".relid");
    g.byte_count = r.u32(n + ".byte_count");
    g.byte_offset = r.u32(n + ".byte_offset");
    g.pfn_total = r.u32(n + ".pfn_total");
    std::vector<uint8_t> raw = r.bytes(n + ".pfns");
    if (g.handle == 0 || gpadls_.count(g.handle)) bad(n + ".handle: zero or twice");
    if (g.byte_count == 0 || g.byte_offset >= spec::kPageSize)
      bad(n + ": bad byte_count or byte_offset");
    uint64_t need =
        (uint64_t{g.byte_offset} + g.byte_count + spec::kPageSize - 1) / spec::kPageSize;
    if (g.pfn_total != need || need > params_.max_gpadl_pages)
      bad(n + ".pfn_total: does not match the range");
    if (raw.size() % 8 || raw.size() / 8 > g.pfn_total) bad(n + ".pfns: more than pfn_total");
    g.pfns.resize(raw.size() / 8);
    if (!raw.empty()) std::memcpy(g.pfns.data(), raw.data(), raw.size());
    std::set<uint64_t> seen;
    for (uint64_t pfn : g.pfns)
      if (pfn >= pages || !seen.insert(pfn).second)
        bad(n + ".pfns: a page outside the partition or twice");
    for (uint64_t pfn : g.pfns)
      if (monitor2 && (pfn == monitor1 / spec::kPageSize || pfn == monitor2 / spec::kPageSize))
        bad(n + ".pfns: a monitor page");
    if (g.complete())
      for (uint64_t pfn : g.pfns) {
        if (pfn_owner_.count(pfn)) bad(n + ".pfns: a page of another complete GPADL");
        pfn_owner_[pfn] = g.handle;
      }
    gpadls_.emplace(g.handle, std::move(g));
  }

  // Open channels: their ring GPADL as open_channel() checked it, and their ring views.
  std::set<uint32_t> rings;
  for (auto& [relid, c] : channels_) {
    if (c.state != ChannelState::kOpen) continue;
    std::string n = "channel relid " + std::to_string(relid);
    auto g = gpadls_.find(c.ring_gpadl);
    if (g == gpadls_.end() || !g->second.complete() || g->second.relid != relid)
      bad(n + ": its ring GPADL is not a complete GPADL of the channel");
    const Gpadl& gp = g->second;
    if (gp.byte_offset != 0 || gp.byte_count % spec::kPageSize)
      bad(n + ": its ring GPADL is not whole pages");
    if (c.downstream_offset < 2 || c.downstream_offset + 2 > gp.pfns.size())
      bad(n + ": bad downstream offset");
    if (c.target_vp >= t_.vp_count()) bad(n + ": bad target VP");
    if (!rings.insert(c.ring_gpadl).second) bad(n + ": its ring GPADL is in use twice");
    c.outbound = std::make_unique<GpadlView>(t_, gp, 0, c.downstream_offset);
    c.inbound = std::make_unique<GpadlView>(
        t_, gp, c.downstream_offset, static_cast<uint32_t>(gp.pfns.size()) - c.downstream_offset);
  }

  uint32_t queued = r.u32("queued");
  if (queued > params_.max_queued) bad("queued: more than max_queued");
  for (uint32_t k = 0; k < queued; ++k) {
    std::vector<uint8_t> m = r.bytes("queued" + std::to_string(k));
    if (m.size() < spec::kHeaderSize || m.size() > spec::kMaxMessageSize)
      bad("queued" + std::to_string(k) + ": not a channel message's size");
    queue_.push_back(std::move(m));
  }
  r.end_section();
  version_ = version;
  monitor_gpa_[0] = monitor1;
  monitor_gpa_[1] = monitor2;
  features_ = features;
  target_vcpu_ = target_vcpu;
  msg_sint_ = msg_sint;
  offers_requested_ = offers_requested;
}

bool Server::has_handlers(uint32_t relid) const {
  auto s = signal_handlers_.find(relid);
  auto o = open_handlers_.find(relid);
  return (s != signal_handlers_.end() && s->second) || (o != open_handlers_.end() && o->second);
}

}  // namespace hvsim::vmbus
