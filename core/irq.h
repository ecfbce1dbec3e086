// Interrupt lines between devices and interrupt controllers (wires with a level).
#pragma once

namespace hvsim {

/// Something that receives interrupt request lines: an interrupt controller (8259 PIC,
/// IOAPIC) or a router that fans one line out to several controllers.
class IrqSink {
 public:
  virtual ~IrqSink() = default;
  /// Sets the level of input `pin` (true = asserted). Edge-triggered inputs latch on the
  /// rising edge; level-triggered inputs follow the level. Setting the same level twice
  /// is harmless.
  virtual void set_irq(unsigned pin, bool level) = 0;
};

/// One wire from a device to a pin of an IrqSink. A default-constructed line is not
/// connected and ignores what it is told.
struct IrqLine {
  IrqSink* sink = nullptr;
  unsigned pin = 0;
  /// Drives the line to `level`.
  void set(bool level) const {
    if (sink) sink->set_irq(pin, level);
  }
  /// A rising then a falling edge: what an edge-triggered ISA device does once per event.
  void pulse() const {
    set(true);
    set(false);
  }
};

}  // namespace hvsim
