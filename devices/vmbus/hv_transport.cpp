// A VMBus server bound to a partition through hv/'s host ports and host post API
// (shared/spec/hyperv-interfaces.md §4.7, §6.1, §6.6).
#include "devices/vmbus/hv_transport.h"

#include "core/error.h"
#include "core/state.h"
#include "hv/hypervisor.h"

namespace hvsim::vmbus {

using hv::spec::HvStatus;

PartitionVmbus::PartitionVmbus(hv::Hypervisor& hv, hv::Partition& p, const ServerParams& params,
                               Tracer* tracer, std::function<SimTime()> now)
    : hv_(hv), partition_(p.id) {
  for (uint32_t c : {spec::kMessageConnectionId, spec::kMessageConnectionId4})
    if (hv.ports().connection(p.id, c))
      throw InputError("vmbus: connection " + std::to_string(c) + " of partition '" + p.name +
                       "' is taken");
  server_ = std::make_unique<Server>(*this, params, p.name, tracer, std::move(now));
  message_port_ = hv.create_host_port(message_handler());
  event_port_ = hv.create_host_port(event_handler());
  hv.connect(p, spec::kMessageConnectionId, message_port_);
  hv.connect(p, spec::kMessageConnectionId4, message_port_);
}

std::function<HvStatus(const hv::HostDelivery&)> PartitionVmbus::message_handler() {
  return [this](const hv::HostDelivery& d) {
    if (d.message_type != spec::kChannelMessageType || d.event)
      return HvStatus::HV_STATUS_INVALID_PARAMETER;
    server_->on_message(d.connection_id, d.vp, d.payload, d.size);
    return HvStatus::HV_STATUS_SUCCESS;
  };
}

std::function<HvStatus(const hv::HostDelivery&)> PartitionVmbus::event_handler() {
  return [this](const hv::HostDelivery& d) {
    if (!d.event) return HvStatus::HV_STATUS_INVALID_PORT_ID;
    if (d.flag != 0) return HvStatus::HV_STATUS_INVALID_PARAMETER;
    server_->on_event(d.connection_id);
    return HvStatus::HV_STATUS_SUCCESS;
  };
}

PartitionVmbus::PartitionVmbus(hv::Hypervisor& hv, hv::Partition& p, const ServerParams& params,
                               Tracer* tracer, std::function<SimTime()> now, StateReader& r,
                               const std::string& section)
    : hv_(hv), partition_(p.id) {
  auto bad = [&](const std::string& what) {
    throw InputError("checkpoint section " + section + ": " + what);
  };
  if (uint32_t v = r.begin_section(section); v != 1)
    bad("unsupported version " + std::to_string(v));
  uint32_t message_port = r.u32("message_port"), event_port = r.u32("event_port");
  r.end_section();
  if (message_port == event_port) bad("one port for messages and events");
  auto bound_to = [&](uint32_t connection, uint32_t port) {
    const uint32_t* c = hv.ports().connection(p.id, connection);
    return c && *c == port;
  };
  for (uint32_t c : {spec::kMessageConnectionId, spec::kMessageConnectionId4})
    if (!bound_to(c, message_port))
      bad("connection " + std::to_string(c) + " is not bound to the message port");
  server_ = std::make_unique<Server>(*this, params, p.name, tracer, std::move(now));
  server_->restore(r, section + ".server");
  for (const auto& [relid, ch] : server_->channels())
    if (!bound_to(ch.connection_id, event_port))
      bad("the event connection of channel " + std::to_string(relid) +
          " is not bound to the event port");
  try {
    hv.bind_host_port(message_port, message_handler());
    hv.bind_host_port(event_port, event_handler());
  } catch (const InputError& e) {
    bad(e.what());
  }
  // Set last: the destructor deletes them (a restore that failed leaves them to the
  // hypervisor, which goes with the half-built machine).
  message_port_ = message_port;
  event_port_ = event_port;
}

void PartitionVmbus::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  w.u32("message_port", message_port_);
  w.u32("event_port", event_port_);
  w.end_section();
  server_->save(w, section + ".server");
}

PartitionVmbus::~PartitionVmbus() {
  // The partition may be gone already (its connections went with it).
  if (hv::Partition* p = partition()) {
    for (uint32_t c : {spec::kMessageConnectionId, spec::kMessageConnectionId4})
      if (hv_.ports().connection(p->id, c)) hv_.disconnect(*p, c);
    for (const auto& [relid, ch] : server_->channels())
      if (hv_.ports().connection(p->id, ch.connection_id)) hv_.disconnect(*p, ch.connection_id);
  }
  hv_.delete_port(message_port_);
  hv_.delete_port(event_port_);
}

hv::Partition* PartitionVmbus::partition() const {
  return hv_.partition_by_id(partition_);
}

bool PartitionVmbus::post(uint32_t vp, unsigned sint, const uint8_t* msg, uint32_t size) {
  hv::Partition* p = partition();
  if (!p || vp >= p->vps.size()) return false;
  return hv_.post_message(*p, vp, sint, spec::kChannelMessageType, msg, size, message_port_) ==
         HvStatus::HV_STATUS_SUCCESS;
}

bool PartitionVmbus::signal(uint32_t vp, unsigned sint, unsigned flag) {
  hv::Partition* p = partition();
  if (!p || vp >= p->vps.size()) return false;
  return hv_.signal_event(*p, vp, sint, flag) == HvStatus::HV_STATUS_SUCCESS;
}

void PartitionVmbus::connect_event(uint32_t connection_id) {
  if (hv::Partition* p = partition()) hv_.connect(*p, connection_id, event_port_);
}

void PartitionVmbus::disconnect_event(uint32_t connection_id) {
  hv::Partition* p = partition();
  if (p && hv_.ports().connection(p->id, connection_id)) hv_.disconnect(*p, connection_id);
}

uint32_t PartitionVmbus::vp_count() const {
  hv::Partition* p = partition();
  return p ? static_cast<uint32_t>(p->vps.size()) : 0;
}

uint64_t PartitionVmbus::memory_size() const {
  hv::Partition* p = partition();
  return p ? p->memory : 0;
}

bool PartitionVmbus::read_guest(uint64_t gpa, void* out, uint64_t n) const {
  hv::Partition* p = partition();
  return p && hv_.read_guest(*p, gpa, out, n);
}

bool PartitionVmbus::write_guest(uint64_t gpa, const void* in, uint64_t n) {
  hv::Partition* p = partition();
  return p && hv_.write_guest(*p, gpa, in, n);
}

}  // namespace hvsim::vmbus
