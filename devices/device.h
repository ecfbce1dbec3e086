// The device interface: a name, optional capabilities, save/restore and inspect.
#pragma once

#include <string_view>

namespace hvsim {

class PortIoHandler;
class MmioHandler;
class StateWriter;
class StateReader;
class InspectNode;

/// A device model. Capabilities are optional: a device returns its port I/O or MMIO
/// handler, or nullptr if it has none; machine/ maps what is offered. Stateful devices
/// override save/restore (one section named after the device) and every device publishes
/// its counters through inspect.
class Device {
 public:
  virtual ~Device() = default;
  /// Unique name; also the checkpoint section and inspect node name.
  virtual std::string_view name() const = 0;
  virtual PortIoHandler* port_io() { return nullptr; }
  virtual MmioHandler* mmio() { return nullptr; }
  /// Power-on state.
  virtual void reset() {}
  virtual void save(StateWriter& w) const {}
  virtual void restore(StateReader& r) {}
  virtual void inspect(InspectNode& node) const {}
};

}  // namespace hvsim
