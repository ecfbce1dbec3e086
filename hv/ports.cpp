// Ports and connections (TLFS "Ports and Connections"; dossier §4.7).
#include "hv/ports.h"

#include <map>
#include <string>

#include "core/error.h"
#include "core/inspect.h"
#include "core/state.h"
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
  if (p.type != PortType::kHost && p.sint >= spec::kSintCount) return PortError::kBadSint;
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
    c.value("type", p.type == PortType::kMessage      ? "message"
                    : p.type == PortType::kEvent      ? "event"
                    : p.type == PortType::kSintAssert ? "sint-assert"
                                                      : "host");
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

// ---- checkpoints ----

void PortTable::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  w.u32("ports", static_cast<uint32_t>(ports_.size()));
  unsigned k = 0;
  for (const auto& [id, p] : ports_) {
    std::string n = "port" + std::to_string(k++);
    w.u32(n + ".id", p.id);
    w.u8(n + ".type", static_cast<uint8_t>(p.type));
    w.u32(n + ".partition", p.partition);
    w.u32(n + ".vp", p.vp);
    w.u32(n + ".sint", p.sint);
    w.u32(n + ".base_flag", p.base_flag);
    w.u32(n + ".flag_count", p.flag_count);
  }
  w.u32("connections", static_cast<uint32_t>(connections_.size()));
  k = 0;
  for (const auto& [key, port] : connections_) {
    std::string n = "connection" + std::to_string(k++);
    w.u32(n + ".sender", key.first);
    w.u32(n + ".id", key.second);
    w.u32(n + ".port", port);
  }
  w.end_section();
}

void PortTable::restore(StateReader& r, const std::string& section) {
  auto bad = [&](const std::string& what) {
    throw InputError("checkpoint section " + section + ": " + what);
  };
  if (uint32_t v = r.begin_section(section); v != 1)
    bad("unsupported version " + std::to_string(v));
  PortTable t;
  uint32_t ports = r.u32("ports");
  for (uint32_t k = 0; k < ports; ++k) {
    std::string n = "port" + std::to_string(k);
    Port p;
    p.id = r.u32(n + ".id");
    uint8_t type = r.u8(n + ".type");
    // Host ports are saved as any port; their handlers are bound again by their owners
    // (Hypervisor::bind_host_port).
    if (type > static_cast<uint8_t>(PortType::kHost)) bad(n + ": bad type");
    p.type = static_cast<PortType>(type);
    p.partition = r.u32(n + ".partition");
    p.vp = r.u32(n + ".vp");
    p.sint = r.u32(n + ".sint");
    uint32_t base = r.u32(n + ".base_flag"), count = r.u32(n + ".flag_count");
    if (base > 0xFFFF || count > 0xFFFF) bad(n + ": bad flag range");
    p.base_flag = static_cast<uint16_t>(base);
    p.flag_count = static_cast<uint16_t>(count);
    if (p.type == PortType::kHost && (p.partition || p.vp || p.sint))
      bad(n + ": a host port aimed at a partition");
    if (PortError e = t.create_port(p); e != PortError::kOk) bad(n + ": " + to_string(e));
  }
  uint32_t connections = r.u32("connections");
  for (uint32_t k = 0; k < connections; ++k) {
    std::string n = "connection" + std::to_string(k);
    PartitionId sender = r.u32(n + ".sender");
    uint32_t id = r.u32(n + ".id"), port = r.u32(n + ".port");
    // The port may have been deleted since (the connection stays, TLFS): no lookup here.
    if (id == 0 || (id & ~kIdMask) || port == 0 || (port & ~kIdMask)) bad(n + ": bad id");
    if (!t.connections_.emplace(std::make_pair(sender, id), port).second)
      bad(n + ": " + to_string(PortError::kIdInUse));
  }
  r.end_section();
  *this = std::move(t);
}

}  // namespace hvsim::hv
