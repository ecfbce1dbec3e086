// Firmware configuration device: read-only items selected through port 0x510, read at 0x511.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/io_bus.h"
#include "devices/device.h"

namespace hvsim {

/// Parameters: the machine facts the device reports.
struct FwCfgParams {
  uint64_t ram_size = 0;  ///< bytes of RAM
  uint16_t cpus = 1;      ///< processors present
  uint16_t max_cpus = 1;  ///< processors possible
  uint64_t max_ram = 0;   ///< RAM limit in bytes, 0 = none
};

/// The legacy I/O interface of a firmware-configuration device. Selecting a key resets the
/// read offset; reads past an item's end, or of an unknown key, return 0.
class FwCfg : public Device, public PortIoHandler {
 public:
  explicit FwCfg(const FwCfgParams& params);
  std::string_view name() const override { return "fw_cfg"; }
  PortIoHandler* port_io() override { return this; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override { selector_ = 0, offset_ = 0; }
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;

 private:
  void add(uint16_t key, uint64_t value, unsigned width);
  std::map<uint16_t, std::vector<uint8_t>> items_;  // ordered: deterministic inspect
  uint16_t selector_ = 0;
  uint32_t offset_ = 0;
  uint64_t selects_ = 0, reads_ = 0;
};

}  // namespace hvsim
