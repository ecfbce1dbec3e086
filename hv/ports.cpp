// Ports and connections (TLFS "Ports and Connections"; dossier §4.7).
#include "hv/ports.h"

#include <map>
#include <string>

#include "core/inspect.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

const char* to_string(PortError e) {
  switch (e) {
    case PortError::kOk: return "ok";
    case PortError::kBadId: return "id must be 1 to 0xFFFFFF";
    case PortError::kIdInUse: return "id already in use";
    case PortError::kBadSint: return "SINT must be 0 to 15";
    case PortError::kBadFlagRange: return "event flags must be a non-empty range within 0-2047";
    case PortError::kNoSuchPort: return "no such port";
    case PortError::kNoSuchConnection: return "no such connection";
  }
  return "unknown port error";
}

PortError PortTable::create_port(const Port& p) {
  if (p.id == 0 || (p.id & ~kIdMask)) return PortError::kBadId;
  if (ports_.count(p.id)) return PortError::kIdInUse;
  if (p.sint >= spec::kSintCount) return PortError::kBadSint;
  if (p.type == PortType::kEvent &&
      (p.flag_count == 0 || uint32_t{p.base_flag} + p.flag_count > spec::kEventFlagsPerSint))
    return PortError::kBadFlagRange;
  Port q = p;
  if (q.type != PortType::kEvent) q.base_flag = q.flag_count = 0;
  ports_.emplace(p.id, q);
  return PortError::kOk;
}

PortError PortTable::delete_port(uint32_t id) {
  // Connections stay and become useless (TLFS): lookups then find no port.
  return ports_.erase(id) ? PortError::kOk : PortError::kNoSuchPort;
}

void PortTable::remove_partition(PartitionId id) {
  std::erase_if(ports_, [id](const auto& kv) { return kv.second.partition == id; });
  std::erase_if(connections_, [id](const auto& kv) { return kv.first.first == id; });
}

PortError PortTable::connect(PartitionId sender, uint32_t connection_id, uint32_t port_id) {
  if (connection_id == 0 || (connection_id & ~kIdMask)) return PortError::kBadId;
  if (!ports_.count(port_id)) return PortError::kNoSuchPort;
  if (!connections_.emplace(std::make_pair(sender, connection_id), port_id).second)
    return PortError::kIdInUse;
  return PortError::kOk;
}

PortError PortTable::disconnect(PartitionId sender, uint32_t connection_id) {
  return connections_.erase({sender, connection_id}) ? PortError::kOk
                                                     : PortError::kNoSuchConnection;
}

const Port* PortTable::port(uint32_t id) const {
  auto it = ports_.find(id);
  return it == ports_.end() ? nullptr : &it->second;
}

const uint32_t* PortTable::connection(PartitionId sender, uint32_t connection_id) const {
  auto it = connections_.find({sender, connection_id});
  return it == connections_.end() ? nullptr : &it->second;
}

void PortTable::inspect(InspectNode& n) const {
  InspectNode& ps = n.child("ports");
  for (const auto& [id, p] : ports_) {
    InspectNode& c = ps.child(std::to_string(id));
    c.value("type", p.type == PortType::kMessage ? "message"
                    : p.type == PortType::kEvent ? "event"
                                                 : "sint-assert");
    c.counter("partition", p.partition);
    c.counter("vp", p.vp);
    c.counter("sint", p.sint);
    if (p.type == PortType::kEvent) {
      c.counter("base_flag", p.base_flag);
      c.counter("flag_count", p.flag_count);
    }
  }
  InspectNode& cs = n.child("connections");
  for (const auto& [key, port] : connections_)
    cs.counter(std::to_string(key.first) + ":" + std::to_string(key.second), port);
}

}  // namespace hvsim::hv
