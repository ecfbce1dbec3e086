// Checkpoints of the machine's VMBus servers and integration services (docs/vmbus.md
// "Checkpoints"). Sections:
//   machine.vmbus          the servers: partition, parameters, pending events (time, id)
//   vmbus.p<ID>            a server's host ports (devices/vmbus/hv_transport.cpp)
//   vmbus.p<ID>.server     the server (devices/vmbus/server_checkpoint.cpp)
//   vmbus.p<ID>.ic[...]    its integration services (devices/vmbus/ic/ic_checkpoint.cpp)
//   vmbus.p<ID>.echo<K>    its echo channels, in relid order (devices/vmbus/echo/
//                          echo_checkpoint.cpp)
// Restore comes after the hypervisor's: the servers bind their handlers to the host ports it
// recreated, and the events are scheduled again with their saved ids, so that they keep
// their order among events at the same time. Host-side Python callbacks are not saved.
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/state.h"
#include "devices/vmbus/echo/echo.h"
#include "devices/vmbus/hv_transport.h"
#include "devices/vmbus/ic/services.h"
#include "hv/hypervisor.h"
#include "machine/machine.h"

namespace hvsim {

namespace {

constexpr uint32_t kVmbusVersion = 2;      // 2: echo channels
constexpr uint32_t kMaxEchoes = 2047;      // one per relid at most
constexpr unsigned kMaxRetryTries = 1000;  // as Machine::enable_vmbus's queued hook

std::string server_section(uint32_t id) {
  return "vmbus.p" + std::to_string(id);
}

}  // namespace

void Machine::save_vmbus(StateWriter& w) const {
  w.begin_section("machine.vmbus", kVmbusVersion);
  w.u32("servers", static_cast<uint32_t>(vmbus_.size()));
  unsigned k = 0;
  for (const auto& [id, v] : vmbus_) {
    std::string n = "server" + std::to_string(k++);
    const vmbus::ServerParams& p = v->server().params();
    const VmbusEvents& ev = vmbus_events_.at(id);
    w.u32(n + ".partition", id);
    w.bytes(n + ".versions", p.versions.data(), p.versions.size() * 4);
    w.u32(n + ".max_gpadls", p.max_gpadls);
    w.u32(n + ".max_gpadl_pages", p.max_gpadl_pages);
    w.u32(n + ".max_queued", p.max_queued);
    w.u64(n + ".monitor_latency", p.monitor_latency);
    w.u64(n + ".monitor_poll", ev.monitor);
    w.u64(n + ".monitor_poll_at", ev.monitor_at);
    w.u64(n + ".retry", ev.retry);
    w.u64(n + ".retry_at", ev.retry_at);
    w.u32(n + ".retry_tries", ev.retry_tries);
    w.boolean(n + ".ic", ics_.count(id) != 0);
    w.u64(n + ".ic_period", ev.ic_period);
    w.u64(n + ".ic_tick", ev.ic_tick);
    w.u64(n + ".ic_at", ev.ic_at);
    auto ec = echoes_.find(id);
    w.u32(n + ".echoes", ec == echoes_.end() ? 0 : static_cast<uint32_t>(ec->second.size()));
  }
  w.end_section();
  for (const auto& [id, v] : vmbus_) {
    v->save(w, server_section(id));
    auto ic = ics_.find(id);
    if (ic != ics_.end()) ic->second->save(w, server_section(id) + ".ic");
    auto ec = echoes_.find(id);
    if (ec == echoes_.end()) continue;
    unsigned e = 0;
    for (const auto& [relid, echo] : ec->second)
      echo->save(w, server_section(id) + ".echo" + std::to_string(e++));
  }
}

void Machine::restore_vmbus(StateReader& r) {
  auto bad = [](const std::string& what) {
    throw InputError("checkpoint section machine.vmbus: " + what);
  };
  if (r.has_section("machine.vmbus")) {
    if (uint32_t v = r.begin_section("machine.vmbus"); v != kVmbusVersion)
      bad("unsupported version " + std::to_string(v));
    uint32_t servers = r.u32("servers");
    if (servers > hv_->partitions().size()) bad("servers: more than partitions");
    struct Saved {
      uint32_t id;
      vmbus::ServerParams params;
      VmbusEvents ev;
      bool ic;
      uint32_t echoes;
    };
    std::vector<Saved> saved;
    for (uint32_t k = 0; k < servers; ++k) {
      std::string n = "server" + std::to_string(k);
      Saved s;
      s.id = r.u32(n + ".partition");
      std::vector<uint8_t> versions = r.bytes(n + ".versions");
      if (versions.size() % 4 || versions.size() > 64 * 4) bad(n + ".versions: bad list");
      s.params.versions.resize(versions.size() / 4);
      if (!versions.empty())
        std::memcpy(s.params.versions.data(), versions.data(), versions.size());
      s.params.max_gpadls = r.u32(n + ".max_gpadls");
      s.params.max_gpadl_pages = r.u32(n + ".max_gpadl_pages");
      s.params.max_queued = r.u32(n + ".max_queued");
      s.params.monitor_latency = r.u64(n + ".monitor_latency");
      s.ev.monitor = r.u64(n + ".monitor_poll");
      s.ev.monitor_at = r.u64(n + ".monitor_poll_at");
      if (s.params.monitor_latency == 0) bad(n + ".monitor_latency: zero");
      s.ev.retry = r.u64(n + ".retry");
      s.ev.retry_at = r.u64(n + ".retry_at");
      s.ev.retry_tries = r.u32(n + ".retry_tries");
      s.ic = r.boolean(n + ".ic");
      s.ev.ic_period = r.u64(n + ".ic_period");
      s.ev.ic_tick = r.u64(n + ".ic_tick");
      s.ev.ic_at = r.u64(n + ".ic_at");
      s.echoes = r.u32(n + ".echoes");
      if (s.echoes > kMaxEchoes) bad(n + ".echoes: more than relids");
      if (!hv_->partition_by_id(s.id)) bad(n + ".partition: no such partition");
      for (const Saved& o : saved)
        if (o.id == s.id) bad(n + ".partition: two servers");
      if (s.ev.retry_tries > kMaxRetryTries || (s.ev.retry && s.ev.retry_tries == 0))
        bad(n + ".retry_tries: outside 1.." + std::to_string(kMaxRetryTries));
      if (s.ic != (s.ev.ic_period != 0)) bad(n + ".ic_period: zero with services or not without");
      if (s.ic && !s.ev.ic_tick) bad(n + ".ic_tick: no tick pending");
      if (!s.ic && s.ev.ic_tick) bad(n + ".ic_tick: a tick without services");
      saved.push_back(std::move(s));
    }
    r.end_section();

    for (const Saved& s : saved) {
      hv::Partition& p = *hv_->partition_by_id(s.id);
      std::string section = server_section(s.id);
      auto v = std::make_unique<vmbus::PartitionVmbus>(
          *hv_, p, s.params, &tracer_, [this] { return now(); }, r, section);
      uint32_t id = s.id;
      v->server().set_queued_hook([this, id] {
        if (!vmbus_events_[id].retry) schedule_vmbus_retry(id, 1000);
      });
      v->server().set_monitor_hook([this, id] { start_vmbus_monitor_poll(id); });
      vmbus::Server& server = v->server();
      vmbus_.emplace(id, std::move(v));
      VmbusEvents& ev = vmbus_events_[id];
      ev = s.ev;
      if (s.ic) {
        auto ics = vmbus::ic::IntegrationServices::restore(
            server, ic_parent_time(), ic_reference_time(id), r, section + ".ic");
        ics->set_trace(
            &tracer_, [this] { return now(); }, "vmbus_ic:" + p.name);
        ics_.emplace(id, std::move(ics));
      }
      // After the server and the services: an echo checks its relid against both.
      for (uint32_t k = 0; k < s.echoes; ++k) {
        std::string es = section + ".echo" + std::to_string(k);
        auto echo = vmbus::EchoChannel::restore(server, r, es);
        uint32_t relid = echo->relid();
        if (!echoes_[id].emplace(relid, std::move(echo)).second)
          throw InputError("checkpoint section " + es + ": relid: two echoes on one channel");
      }
      // The same ids: each event keeps its place among others at the same time.
      if (ev.retry)
        events_.schedule_restored(
            ev.retry_at, ev.retry, [this, id] { vmbus_retry_fired(id); }, "vmbus_retry");
      if (ev.ic_tick)
        events_.schedule_restored(
            ev.ic_at, ev.ic_tick, [this, id] { ic_tick_fired(id); }, "vmbus_ic_tick");
      if (ev.monitor)
        events_.schedule_restored(
            ev.monitor_at, ev.monitor, [this, id] { vmbus_monitor_poll_fired(id); },
            "vmbus_monitor_poll");
    }
  }
  // Every host port has its owner again.
  std::vector<uint32_t> unbound = hv_->unbound_host_ports();
  if (!unbound.empty())
    throw InputError("checkpoint section hv.ports: host port " + std::to_string(unbound.front()) +
                     " has no VMBus server to own it");
}

}  // namespace hvsim
