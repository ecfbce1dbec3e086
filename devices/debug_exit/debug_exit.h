// Debug-exit port: a guest write stops the machine with the written value.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/io_bus.h"
#include "devices/device.h"

namespace hvsim {

/// Parameters of the debug-exit device.
struct DebugExitParams {
  uint16_t port = 0xF4;  ///< the port (4 bytes wide, as QEMU's isa-debug-exit)
};

/// A write of value v stops the machine; the CLI then exits with status (v << 1) | 1.
/// The stop is requested through the callback and takes effect at the end of the OUT
/// instruction, so the guest state is exact.
class DebugExit : public Device, public PortIoHandler {
 public:
  explicit DebugExit(const DebugExitParams& params, std::function<void(uint32_t)> on_exit)
      : params_(params), on_exit_(std::move(on_exit)) {}
  std::string_view name() const override { return "debug_exit"; }
  PortIoHandler* port_io() override { return this; }
  uint16_t port() const { return params_.port; }
  uint32_t io_read(uint16_t port, unsigned size) override { return 0; }
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override { value_.reset(); }
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;
  /// The value of the last exit write since reset.
  std::optional<uint32_t> value() const { return value_; }

 private:
  DebugExitParams params_;
  std::function<void(uint32_t)> on_exit_;
  std::optional<uint32_t> value_;
};

}  // namespace hvsim
