// 8259A programming interface (Intel 8259A data sheet: ICW1-4, OCW1-3).
#include "devices/pic8259/pic8259.h"

#include "core/inspect.h"
#include "core/state.h"

namespace hvsim {

void Pic8259::reset() {
  chips_[0] = Chip{};
  chips_[1] = Chip{};
}

void Pic8259::command(Chip& c, uint8_t v) {
  if (v & 0x10) {  // ICW1: start initialization
    c.icw_step = 2;
    c.icw4_needed = v & 0x01;
    c.single = v & 0x02;
    c.imr = 0;
    return;
  }
  if ((v & 0x18) == 0x08 && (v & 0x02)) c.read_isr = v & 0x01;  // OCW3 read register select
  // OCW2 (EOI, rotation) has no effect while no interrupt is ever in service.
}

void Pic8259::data(Chip& c, uint8_t v) {
  switch (c.icw_step) {
    case 0: c.imr = v; return;  // OCW1
    case 2:
      c.vector_base = v & 0xF8;
      c.icw_step = c.single ? (c.icw4_needed ? 4 : 0) : 3;
      return;
    case 3: c.icw_step = c.icw4_needed ? 4 : 0; return;
    case 4: c.icw_step = 0; return;
  }
}

uint32_t Pic8259::io_read(uint16_t port, unsigned size) {
  Chip& c = chips_[port >= 0xA0 ? 1 : 0];
  if (port & 1) return c.imr;
  return 0;  // IRR and ISR: nothing is ever requested or in service in this model
}

void Pic8259::io_write(uint16_t port, unsigned size, uint32_t value) {
  ++writes_;
  Chip& c = chips_[port >= 0xA0 ? 1 : 0];
  if (port & 1)
    data(c, static_cast<uint8_t>(value));
  else
    command(c, static_cast<uint8_t>(value));
}

void Pic8259::save(StateWriter& w) const {
  w.begin_section("pic", 1);
  for (int i = 0; i < 2; ++i) {
    const Chip& c = chips_[i];
    std::string p = i ? "slave_" : "master_";
    w.u8(p + "imr", c.imr);
    w.u8(p + "vector_base", c.vector_base);
    w.u8(p + "icw_step", c.icw_step);
    w.boolean(p + "icw4_needed", c.icw4_needed);
    w.boolean(p + "single", c.single);
    w.u8(p + "read_isr", c.read_isr);
  }
  w.end_section();
}

void Pic8259::restore(StateReader& r) {
  r.begin_section("pic");
  for (int i = 0; i < 2; ++i) {
    Chip& c = chips_[i];
    std::string p = i ? "slave_" : "master_";
    c.imr = r.u8(p + "imr");
    c.vector_base = r.u8(p + "vector_base");
    c.icw_step = r.u8(p + "icw_step");
    c.icw4_needed = r.boolean(p + "icw4_needed");
    c.single = r.boolean(p + "single");
    c.read_isr = r.u8(p + "read_isr");
  }
  r.end_section();
}

void Pic8259::inspect(InspectNode& node) const {
  node.counter("writes", writes_);
  node.counter("master_imr", chips_[0].imr);
  node.counter("master_vector_base", chips_[0].vector_base);
  node.counter("slave_imr", chips_[1].imr);
  node.counter("slave_vector_base", chips_[1].vector_base);
}

}  // namespace hvsim
