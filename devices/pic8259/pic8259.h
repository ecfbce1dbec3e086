// 8259A programmable interrupt controller pair (Intel 8259A data sheet; ELCR: Intel
// 82371AB PIIX4 data sheet 12.2.1.3 "ELCR1/ELCR2").
#pragma once

#include <cstdint>
#include <functional>

#include "core/io_bus.h"
#include "core/irq.h"
#include "devices/device.h"

namespace hvsim {

/// The master/slave 8259A pair at 0x20/0x21 and 0xA0/0xA1, cascaded through master IR2,
/// with the edge/level control registers at 0x4D0/0x4D1. Inputs are ISA IRQ 0-15
/// (set_irq); the master's INT output goes to the bootstrap processor's LINT0 (virtual
/// wire), and the processor's interrupt acknowledge calls acknowledge() for the vector.
/// Implements IRR/ISR/IMR, fully nested priority with rotation, specific and non-specific
/// EOI, automatic EOI, special mask mode, OCW3 register reads and poll mode.
class Pic8259 : public Device, public PortIoHandler, public IrqSink {
 public:
  std::string_view name() const override { return "pic"; }
  PortIoHandler* port_io() override { return this; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;

  /// ISA IRQ input 0-15 (8-15 on the slave; IRQ 2 is the cascade and ignored).
  void set_irq(unsigned pin, bool level) override;
  /// Called whenever the master's INT output changes level.
  void set_output(std::function<void(bool)> fn) { output_ = std::move(fn); }
  /// The INTA cycle pair: returns the vector of the highest-priority request and marks it in
  /// service (spurious IRQ 7 / 15 if the request went away).
  uint8_t acknowledge();
  /// The master's INT output level.
  bool output() const { return out_; }

  /// One 8259A chip.
  struct Chip {
    uint8_t irr = 0, isr = 0;
    uint8_t imr = 0xFF;       ///< interrupt mask register (all masked at reset)
    uint8_t lines = 0;        ///< input levels (for edge detection)
    uint8_t elcr = 0;         ///< 1 = level-triggered input
    uint8_t vector_base = 0;  ///< ICW2
    uint8_t icw_step = 0;     ///< 0 = operational; else the next ICW expected (2..4)
    bool icw4_needed = false;
    bool single = false;
    bool auto_eoi = false;
    bool rotate_on_aeoi = false;
    bool special_mask = false;
    bool poll = false;
    uint8_t priority_base = 0;  ///< the IR with the highest priority is (priority_base) & 7
    uint8_t read_isr = 0;       ///< OCW3 RR/RIS: which register a command-port read returns
  };
  const Chip& chip(int i) const { return chips_[i]; }

 private:
  void command(int c, uint8_t v);
  void data(int c, uint8_t v);
  void set_line(int c, unsigned pin, bool level);
  /// Highest-priority IR that can interrupt now, or -1.
  int pending(int c) const;
  /// Highest-priority IR in service, or -1 (special mask mode ignores masked ones).
  int in_service(int c) const;
  uint8_t ack_chip(int c, bool* spurious);
  void eoi(int c, int ir, bool rotate);
  void update();
  uint8_t poll_read(int c);

  Chip chips_[2];
  bool out_ = false;
  std::function<void(bool)> output_;
  uint64_t writes_ = 0, acks_ = 0, spurious_ = 0, eois_ = 0;
  uint64_t raised_[16] = {};
};

}  // namespace hvsim
