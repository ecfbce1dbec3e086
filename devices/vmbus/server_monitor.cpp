// The VMBus server's monitor pages (MNF; shared/spec/hyperv-interfaces.md §6.6, docs/vmbus.md
// "Monitored channels"): the two pages InitiateContact names, monitor ids of monitored
// offers, the parameters the host writes into the pages, and the poll of the child->parent
// page. Guest memory is reached here only at those two pages, through the Transport.
#include <cstring>

#include "core/inspect.h"
#include "core/trace.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

namespace mp = spec::monitor_page;

namespace {

uint64_t rd64(const uint8_t* m, uint32_t off) {
  uint64_t v;
  std::memcpy(&v, m + off, 8);
  return v;
}

}  // namespace

bool Server::take_monitor_pages(const uint8_t* m) {
  namespace ic = spec::initiate_contact;
  monitor_gpa_[0] = monitor_gpa_[1] = 0;
  uint64_t p1 = rd64(m, ic::kMonitorPage1), p2 = rd64(m, ic::kMonitorPage2);
  if (p1 == 0 && p2 == 0) return true;  // the guest wants no monitored channels
  uint64_t mem = t_.memory_size();
  auto inside = [mem](uint64_t gpa) { return gpa < mem && mem - gpa >= spec::kPageSize; };
  const char* bad = nullptr;
  if (p1 == 0 || p2 == 0)
    bad = "monitor pages: only one given";
  else if (p1 % spec::kPageSize || p2 % spec::kPageSize)
    bad = "monitor pages: not page-aligned";
  else if (p1 == p2)
    bad = "monitor pages: same page";
  else if (!inside(p1) || !inside(p2))
    bad = "monitor pages: outside memory";
  if (bad) {
    // Why connect anyway: the pages only matter to monitored offers, which then go out
    // as plain ones; the guest keeps working through hypercalls.
    reject(bad, static_cast<uint32_t>(spec::MessageType::kInitiateContact));
    return false;
  }
  monitor_gpa_[0] = p1;
  monitor_gpa_[1] = p2;
  return true;
}

bool Server::is_monitor_pfn(uint64_t pfn) const {
  for (uint64_t gpa : monitor_gpa_)
    if (gpa && gpa / spec::kPageSize == pfn) return true;
  return false;
}

uint8_t Server::free_monitor_id() const {
  bool used[mp::kMaxMonitors] = {};
  for (const auto& [relid, c] : channels_)
    if (c.monitor_id < mp::kMaxMonitors) used[c.monitor_id] = true;
  for (unsigned id = 0; id < mp::kMaxMonitors; ++id)
    if (!used[id]) return static_cast<uint8_t>(id);
  return spec::offer_channel::kNoMonitor;
}

bool Server::offer_monitored(Channel& c) {
  if (c.monitor_id >= mp::kMaxMonitors || !monitor_gpa_[1]) return false;
  unsigned group = c.monitor_id / mp::kPerGroup, slot = c.monitor_id % mp::kPerGroup;
  // What the host writes, in both pages (Linux's sysfs reads latency and connection id of
  // the parent->child page as "server_monitor_*", of the child->parent page as
  // "client_monitor_*"): the group enabled in trigger_state, the poll latency (100 ns
  // units) and the parameter {connection id, flag 0} the guest's signal stands for.
  SimTime units = params_.monitor_latency / (100 * kPicosPerNano);
  uint16_t latency = static_cast<uint16_t>(units > 0xFFFF ? 0xFFFF : units);
  uint8_t param[mp::kParameterSize] = {};
  std::memcpy(param, &c.connection_id, 4);
  for (uint64_t page : monitor_gpa_) {
    uint32_t state = 0;
    bool ok = t_.read_guest(page + mp::kTriggerState, &state, 4);
    state |= 1u << group;
    ok = ok && t_.write_guest(page + mp::kTriggerState, &state, 4) &&
         t_.write_guest(page + mp::kLatency + 2 * (group * mp::kPerGroup + slot), &latency, 2) &&
         t_.write_guest(page + mp::kParameter + mp::kParameterSize * (group * mp::kPerGroup + slot),
                        param, sizeof param);
    if (!ok) return false;  // not reachable (checked at InitiateContact; never expected)
  }
  return true;
}

bool Server::monitor_active() const {
  if (!connected() || !monitor_gpa_[1]) return false;
  for (const auto& [relid, c] : channels_)
    if (c.monitored && c.state == ChannelState::kOpen) return true;
  return false;
}

bool Server::monitor_pending() const {
  if (!connected() || !monitor_gpa_[1]) return false;
  for (unsigned g = 0; g < mp::kGroups; ++g) {
    uint32_t pending = 0;
    uint64_t gpa = monitor_gpa_[1] + mp::kTriggerGroup + g * mp::kTriggerGroupStride + mp::kPending;
    if (t_.read_guest(gpa, &pending, 4) && pending) return true;
  }
  return false;
}

void Server::poll_monitor() {
  ++monitor_polls_;
  if (!connected() || !monitor_gpa_[1]) return;
  // Monitor id -> relid of the channels offered monitored in this connection.
  std::map<unsigned, uint32_t> by_id;
  for (const auto& [relid, c] : channels_)
    if (c.monitored) by_id[c.monitor_id] = relid;
  for (unsigned g = 0; g < mp::kGroups; ++g) {
    uint32_t pending = 0;
    uint64_t gpa = monitor_gpa_[1] + mp::kTriggerGroup + g * mp::kTriggerGroupStride + mp::kPending;
    if (!t_.read_guest(gpa, &pending, 4) || !pending) continue;
    // Why clear every bit read, garbage too: a bit nobody consumes would stay pending for
    // ever. The poll runs between guest instructions, so no set bit is lost to the clear.
    uint32_t zero = 0;
    t_.write_guest(gpa, &zero, 4);
    for (unsigned b = 0; b < mp::kPerGroup; ++b) {
      if (!(pending >> b & 1)) continue;
      auto it = by_id.find(g * mp::kPerGroup + b);
      if (it == by_id.end()) {
        reject("monitor: unallocated id", 0);
        continue;
      }
      Channel& c = channels_.at(it->second);
      if (c.state != ChannelState::kOpen) {
        reject("monitor: channel not open", 0);
        continue;
      }
      signal_monitored(c);
    }
  }
}

void Server::signal_monitored(Channel& c) {
  ++c.monitor_signals;
  ++monitor_signals_;
  if (tracer_ && tracer_->enabled())
    tracer_->instant(now_ ? now_() : 0, track_, "vmbus", "monitor_signal",
                     {{"relid", c.relid}, {"monitor_id", c.monitor_id}});
  auto h = signal_handlers_.find(c.relid);
  if (h != signal_handlers_.end() && h->second) h->second();
}

void Server::inspect_monitor(InspectNode& n) const {
  n.counter("monitor_page1", monitor_gpa_[0]);
  n.counter("monitor_page2", monitor_gpa_[1]);
  n.counter("monitor_polls", monitor_polls_);
  n.counter("monitor_signals", monitor_signals_);
  n.counter("features", features_);
}

}  // namespace hvsim::vmbus
