// ACPI power-management timer (ACPI Specification 6.5, 4.8.3.3 "Power Management Timer").
#pragma once

#include <cstdint>
#include <functional>

#include "core/io_bus.h"
#include "core/time.h"
#include "devices/device.h"

namespace hvsim {

/// Parameters of the PM timer.
struct AcpiPmTimerParams {
  /// The PM_TMR_BLK port. Why 0x608: QEMU's PIIX4/ICH9 put PMBASE at 0x600 and PM_TMR at
  /// PMBASE+8, so kernels and test suites that probe there find it. Until hvsim has a FADT,
  /// this port is the documented contract.
  uint16_t port = 0x608;
};

/// A free-running 24-bit counter at 3.579545 MHz (TMR_VAL_EXT = 0), read as a 32-bit
/// register; the value is computed from simulated time, so it needs no events. The
/// overflow status/interrupt (TMR_STS/TMR_EN) is not modelled.
class AcpiPmTimer : public Device, public PortIoHandler {
 public:
  static constexpr uint64_t kHz = 3'579'545;
  AcpiPmTimer(const AcpiPmTimerParams& params, std::function<SimTime()> now)
      : params_(params), now_(std::move(now)) {}
  std::string_view name() const override { return "acpi_pm"; }
  PortIoHandler* port_io() override { return this; }
  uint16_t port() const { return params_.port; }
  uint32_t io_read(uint16_t port, unsigned size) override {
    ++reads_;
    uint32_t v = static_cast<uint32_t>(clock_.ticks_at(now_()) & 0xFFFFFF);
    unsigned shift = 8 * ((port - params_.port) & 3);
    v >>= shift;
    return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
  }
  void io_write(uint16_t port, unsigned size, uint32_t value) override {}  // read-only
  void inspect(InspectNode& node) const override;

 private:
  AcpiPmTimerParams params_;
  std::function<SimTime()> now_;
  Clock clock_{kHz};
  uint64_t reads_ = 0;
};

}  // namespace hvsim
