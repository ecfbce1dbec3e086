// The host side of SynIC communication (TLFS inter-partition-communication.md "Ports and
// Connections"; dossier §4.7): ports, connections, and messages and events sent straight to
// a VP's SINT. The guest side, HvCallPostMessage and HvCallSignalEvent, is in
// hv/hypercalls.cpp; both end in the target VP's Synic.
#include <cstring>
#include <string>

#include "core/error.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {

using spec::HvStatus;

VirtualProcessor* Hypervisor::port_target(const Port& port) {
  for (auto& p : partitions_)
    if (p->id == port.partition) return port.vp < p->vps.size() ? &p->vps[port.vp] : nullptr;
  return nullptr;
}

void Hypervisor::create_port(const Port& port) {
  std::string what = "port " + std::to_string(port.id) + ": ";
  if (port.type == PortType::kHost)
    throw InputError(what + "host ports are made by create_host_port (they need a handler)");
  if (!port_target(port))
    throw InputError(what + "no virtual processor " + std::to_string(port.vp) + " in partition " +
                     std::to_string(port.partition));
  PortError e = ports_.create_port(port);
  if (e != PortError::kOk) throw InputError(what + to_string(e));
}

void Hypervisor::delete_port(uint32_t port_id) {
  PortError e = ports_.delete_port(port_id);
  if (e != PortError::kOk)
    throw InputError("port " + std::to_string(port_id) + ": " + to_string(e));
  host_ports_.erase(port_id);
}

uint32_t Hypervisor::create_host_port(HostPortHandler handler) {
  if (!handler) throw InputError("host port: no handler");
  for (uint32_t id = PortTable::kIdMask; id > 0; --id) {
    if (ports_.port(id)) continue;
    Port port;
    port.id = id;
    port.type = PortType::kHost;
    port.partition = 0;
    if (PortError e = ports_.create_port(port); e != PortError::kOk)
      throw InputError("host port " + std::to_string(id) + ": " + to_string(e));
    host_ports_.emplace(id, std::move(handler));
    return id;
  }
  throw InputError("host port: no free port id");
}

void Hypervisor::bind_host_port(uint32_t port_id, HostPortHandler handler) {
  const Port* port = ports_.port(port_id);
  std::string what = "host port " + std::to_string(port_id) + ": ";
  if (!port || port->type != PortType::kHost) throw InputError(what + "no such host port");
  if (!handler) throw InputError(what + "no handler");
  if (!host_ports_.emplace(port_id, std::move(handler)).second)
    throw InputError(what + "already has a handler");
}

std::vector<uint32_t> Hypervisor::unbound_host_ports() const {
  std::vector<uint32_t> out;
  for (const auto& [id, port] : ports_.all())
    if (port.type == PortType::kHost && !host_ports_.count(id)) out.push_back(id);
  return out;
}

void Hypervisor::disconnect(const Partition& sender, uint32_t connection_id) {
  PortError e = ports_.disconnect(sender.id, connection_id);
  if (e != PortError::kOk)
    throw InputError("connection " + std::to_string(connection_id) + " of partition '" +
                     sender.name + "': " + to_string(e));
}

HvStatus Hypervisor::deliver_to_host(uint32_t port, const HostDelivery& d) {
  auto it = host_ports_.find(port);
  if (it == host_ports_.end()) return HvStatus::HV_STATUS_INVALID_PORT_ID;
  // Why a copy: the handler may post to partitions and so reach code that changes the map.
  HostPortHandler fn = it->second;
  return fn(d);
}

void Hypervisor::connect(const Partition& sender, uint32_t connection_id, uint32_t port_id) {
  PortError e = ports_.connect(sender.id, connection_id, port_id);
  if (e != PortError::kOk)
    throw InputError("connection " + std::to_string(connection_id) + " of partition '" +
                     sender.name + "' to port " + std::to_string(port_id) + ": " + to_string(e));
}

HvStatus Hypervisor::post_message(Partition& target, uint32_t vp, unsigned sint,
                                  uint32_t message_type, const void* payload, uint32_t size,
                                  uint64_t sender) {
  if (vp >= target.vps.size()) throw InputError("post_message: no such virtual processor");
  if (size > spec::kHvMessagePayloadSize)
    throw InputError("post_message: payload of " + std::to_string(size) + " bytes (at most 240)");
  if (message_type == 0) throw InputError("post_message: message type 0 means an empty slot");
  spec::HvMessage m{};
  m.header.message_type = message_type;
  m.header.payload_size = static_cast<uint8_t>(size);
  m.header.sender = sender;
  if (size) std::memcpy(m.payload, payload, size);
  // Host messages draw on one pool per sender id (16 buffers, like a port's), apart from the
  // ports' pools (which are numbered by port id, below 2^24).
  uint32_t pool = (1u << 31) | static_cast<uint32_t>(sender & 0x7FFFFFFF);
  return target.vps[vp].synic->post_message(sint, m, pool);
}

HvStatus Hypervisor::signal_event(Partition& target, uint32_t vp, unsigned sint, unsigned flag) {
  if (vp >= target.vps.size()) throw InputError("signal_event: no such virtual processor");
  return target.vps[vp].synic->signal_event(sint, flag);
}

}  // namespace hvsim::hv
