// Ports and connections (TLFS inter-partition-communication.md "Ports and Connections";
// dossier shared/spec/hyperv-interfaces.md §4.7): a port is the receiving end, owned by a
// target partition and aimed at one of its VPs and SINTs (an event port also has a base flag
// number and a flag count); a connection is the sending end, an id in the sender partition's
// name space bound to a port. HvCallPostMessage and HvCallSignalEvent look the connection up
// here. Pure bookkeeping: no memory, no SynIC; ordered maps, so iteration is deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "hv/partition_memory.h"

namespace hvsim {
class InspectNode;
class StateWriter;
class StateReader;
}  // namespace hvsim

namespace hvsim::hv {

/// kSintAssert: an event port that asserts its SINT on every signal, with no flag (the event
/// connections of QEMU's hyperv-testdev, hv/test_device.cpp).
/// kHost: a port whose receiver is a host-side handler (the root's virtualization stack in
/// devices/, e.g. the VMBus server), not a partition's SINT: messages and events posted on
/// connections to it go to the handler registered with Hypervisor::create_host_port. Its
/// partition is 0 (the host); vp, sint and the flag range are unused.
enum class PortType : uint8_t { kMessage, kEvent, kSintAssert, kHost };

struct Port {
  uint32_t id = 0;  ///< 24-bit port id (HV_PORT_ID), unique machine-wide
  PortType type = PortType::kMessage;
  PartitionId partition = 0;  ///< the receiving partition
  uint32_t vp = 0;            ///< its target virtual processor
  unsigned sint = 0;          ///< target SINTx, 0-15
  uint16_t base_flag = 0;     ///< event ports: first flag of the range in SINTx's bitmap
  uint16_t flag_count = 0;    ///< event ports: flags in the range (>= 1)
};

enum class PortError : uint8_t {
  kOk,
  kBadId,         ///< 0 or wider than 24 bits
  kIdInUse,       ///< a port (or, for connect, a connection of that partition) has this id
  kBadSint,       ///< SINTx above 15
  kBadFlagRange,  ///< event port: no flags, or the range passes flag 2047
  kNoSuchPort,    ///< connect: the port does not exist
  kNoSuchConnection,
};
const char* to_string(PortError e);

class PortTable {
 public:
  static constexpr uint32_t kIdMask = 0xFFFFFF;  ///< ports and connections: 24-bit ids

  PortError create_port(const Port& p);
  PortError delete_port(uint32_t id);
  /// Connection `connection_id` of partition `sender` to port `port_id`.
  PortError connect(PartitionId sender, uint32_t connection_id, uint32_t port_id);
  PortError disconnect(PartitionId sender, uint32_t connection_id);

  /// Removes the ports partition `id` receives on and the connections it sends on (its
  /// deletion); connections of others to its ports stay and find no port (as delete_port).
  void remove_partition(PartitionId id);

  const Port* port(uint32_t id) const;
  /// The port id a sender's connection is bound to, or nullptr for an unknown connection.
  /// The port may since have been deleted (port() then gives nullptr: INVALID_PORT_ID).
  const uint32_t* connection(PartitionId sender, uint32_t connection_id) const;

  size_t ports() const { return ports_.size(); }
  /// Every port by id.
  const std::map<uint32_t, Port>& all() const { return ports_; }
  size_t connections() const { return connections_.size(); }
  void inspect(InspectNode& n) const;
  /// Checkpoints (docs/hv.md "Checkpoints"): ports and connections in one section; restore
  /// validates each (as create_port does) and throws InputError naming `section`.
  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

 private:
  std::map<uint32_t, Port> ports_;
  std::map<std::pair<PartitionId, uint32_t>, uint32_t> connections_;
};

}  // namespace hvsim::hv
