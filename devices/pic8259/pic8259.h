// 8259A programmable interrupt controller pair: the programming interface (ICW/OCW, IMR).
#pragma once

#include <cstdint>

#include "core/io_bus.h"
#include "devices/device.h"

namespace hvsim {

/// The master/slave 8259A pair at 0x20/0x21 and 0xA0/0xA1. This first model accepts the
/// initialization sequence (ICW1-ICW4) and operation words, keeps the vector base and the
/// interrupt mask register, and reads them back; no interrupt is raised yet (the processor
/// issue adds interrupt delivery). Kernels that mask the PIC at boot see what they expect.
class Pic8259 : public Device, public PortIoHandler {
 public:
  std::string_view name() const override { return "pic"; }
  PortIoHandler* port_io() override { return this; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;

  /// One 8259A chip.
  struct Chip {
    uint8_t imr = 0xFF;       ///< interrupt mask register (all masked at reset)
    uint8_t vector_base = 0;  ///< ICW2
    uint8_t icw_step = 0;     ///< 0 = operational; else the next ICW expected (2..4)
    bool icw4_needed = false;
    bool single = false;
    uint8_t read_isr = 0;  ///< OCW3 RR/RIS: which register a command-port read returns
  };
  const Chip& chip(int i) const { return chips_[i]; }

 private:
  void command(Chip& c, uint8_t v);
  void data(Chip& c, uint8_t v);
  Chip chips_[2];
  uint64_t writes_ = 0;
};

}  // namespace hvsim
