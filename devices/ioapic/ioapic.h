// I/O APIC (Intel 82093AA data sheet): 24 interrupt pins routed to local APICs.
#pragma once

#include <cstdint>
#include <functional>

#include "core/io_bus.h"
#include "core/irq.h"
#include "devices/device.h"
#include "devices/ioapic/spec/regs.h"

namespace hvsim {

/// An interrupt message as an IOAPIC sends it on the APIC bus (data sheet 3.2.4 fields).
struct IoApicMessage {
  uint8_t vector = 0;
  uint8_t delivery_mode = 0;  ///< 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT
  bool logical = false;       ///< destination mode
  bool level = false;         ///< trigger mode (the LAPIC sets TMR and broadcasts EOI)
  uint8_t dest = 0;           ///< APIC id or logical destination
};

/// The 82093AA: IOREGSEL/IOWIN at its MMIO base, 24 redirection entries. Edge-triggered
/// pins send one message per rising edge (a masked edge is lost); level-triggered pins
/// send while asserted and remote IRR is clear, and remote IRR clears when a local APIC
/// broadcasts the EOI of the entry's vector (eoi()).
class IoApic : public Device, public MmioHandler, public IrqSink {
 public:
  /// `send` delivers a message to the local APICs (machine/ wires it to the APIC bus).
  explicit IoApic(std::function<void(const IoApicMessage&)> send) : send_(std::move(send)) {
    reset();
  }
  std::string_view name() const override { return "ioapic"; }
  MmioHandler* mmio() override { return this; }
  uint64_t mmio_read(uint64_t offset, unsigned size) override;
  void mmio_write(uint64_t offset, unsigned size, uint64_t value) override;
  void reset() override;
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;

  /// Pin input 0-23 (true = electrically high; active-low entries invert).
  void set_irq(unsigned pin, bool level) override;
  /// EOI broadcast from a local APIC for `vector`: clears matching remote IRR bits.
  void eoi(uint8_t vector);
  uint64_t entry(unsigned pin) const { return redir_[pin]; }

 private:
  bool asserted(unsigned pin) const;
  void service(unsigned pin);
  uint32_t read_reg(uint32_t reg) const;
  void write_reg(uint32_t reg, uint32_t v);

  std::function<void(const IoApicMessage&)> send_;
  uint32_t select_ = 0, id_ = 0;
  uint64_t redir_[ioapic::kPins] = {};
  uint32_t lines_ = 0;  ///< pin input levels
  uint64_t delivered_[ioapic::kPins] = {};
  uint64_t eois_ = 0;
};

}  // namespace hvsim
