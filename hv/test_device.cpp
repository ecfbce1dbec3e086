// The Hyper-V test device at I/O port 0x3000, compatible with QEMU's hyperv-testdev
// (hw/misc/hyperv_testdev.c), so that Hyper-V test kernels written for it (kvm-unit-tests'
// hyperv_synic and hyperv_connections) can drive hvsim's SynIC from inside a partition. On
// when HypervisorParams::testdev is set (Machine(hyperv_testdev=True), --hyperv-testdev).
//
// A 32-bit OUT to the port is a command: (conn_id << 24) | (command << 16) | (vp << 8) | sint.
//   1 create a SINT route to (vp, sint)      2 destroy it
//   3 assert that SINT on that VP (through a route created before)
//   4 create message connection conn_id to (vp, sint): HvPostMessage on it delivers the message
//     into that VP's SINT slot                5 destroy it
//   6 create event connection conn_id to (vp, sint): HvSignalEvent on it asserts the SINT
//     (no event flag, as QEMU's)              7 destroy it
// Commands refer to the VPs of the partition that wrote them; a bad command, VP or SINT is
// ignored (counted as refused in the inspect tree), as a device ignores a bad register write.
#include "hv/hypervisor.h"
#include "hv/synic.h"

namespace hvsim::hv {

namespace {

enum Command : uint8_t {
  kSintRouteCreate = 1,
  kSintRouteDestroy = 2,
  kSintRouteSetSint = 3,
  kMsgConnCreate = 4,
  kMsgConnDestroy = 5,
  kEvtConnCreate = 6,
  kEvtConnDestroy = 7,
};

/// The port behind a test-device connection: a machine-wide 24-bit id made of the partition
/// id and the connection id (ids of ports the host creates are theirs to choose; these sit in
/// a block of their own, 0xFxxxxx).
uint32_t port_id(PartitionId p, uint8_t conn) {
  return 0xF00000u | ((p & 0xFFF) << 8) | conn;
}

}  // namespace

bool Hypervisor::testdev_write(Partition& p, uint32_t value) {
  auto sint = static_cast<uint8_t>(value), vp = static_cast<uint8_t>(value >> 8);
  auto cmd = static_cast<uint8_t>(value >> 16), conn = static_cast<uint8_t>(value >> 24);
  if (sint >= 16 || vp >= p.vps.size()) return false;
  uint16_t route = static_cast<uint16_t>(vp << 8 | sint);
  switch (cmd) {
    case kSintRouteCreate: return p.testdev_routes.insert(route).second;
    case kSintRouteDestroy: return p.testdev_routes.erase(route) == 1;
    case kSintRouteSetSint:
      if (!p.testdev_routes.count(route)) return false;
      return p.vps[vp].synic->assert_sint(sint);
    case kMsgConnCreate:
    case kEvtConnCreate: {
      Port port;
      port.id = port_id(p.id, conn);
      port.type = cmd == kMsgConnCreate ? PortType::kMessage : PortType::kSintAssert;
      port.partition = p.id;
      port.vp = vp;
      port.sint = sint;
      if (ports_.create_port(port) != PortError::kOk) return false;
      if (ports_.connect(p.id, conn, port.id) == PortError::kOk) return true;
      ports_.delete_port(port.id);
      return false;
    }
    case kMsgConnDestroy:
    case kEvtConnDestroy: {
      const uint32_t* id = ports_.connection(p.id, conn);
      if (!id || *id != port_id(p.id, conn)) return false;
      ports_.disconnect(p.id, conn);
      ports_.delete_port(port_id(p.id, conn));
      return true;
    }
    default: return false;
  }
}

}  // namespace hvsim::hv
