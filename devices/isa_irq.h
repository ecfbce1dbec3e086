// ISA interrupt routing of a PC: each IRQ goes to the 8259 pair and to an IOAPIC pin
// (ACPI "Interrupt Source Override": ISA IRQ 0 on IOAPIC pin 2, the rest identity).
#pragma once

#include "core/irq.h"

namespace hvsim {

/// Fans ISA IRQ n out to the PIC's input n and the IOAPIC's pin n (IRQ 0 to pin 2, as the
/// MADT of every PC says). Either sink may be null.
class IsaIrqRouter : public IrqSink {
 public:
  IsaIrqRouter(IrqSink* pic, IrqSink* ioapic) : pic_(pic), ioapic_(ioapic) {}
  void set_irq(unsigned irq, bool level) override {
    if (pic_) pic_->set_irq(irq, level);
    if (ioapic_) ioapic_->set_irq(irq == 0 ? 2 : irq, level);
  }
  /// The line of ISA IRQ `irq`.
  IrqLine line(unsigned irq) { return IrqLine{this, irq}; }

 private:
  IrqSink* pic_;
  IrqSink* ioapic_;
};

}  // namespace hvsim
