// 8259A behaviour (Intel 8259A data sheet: interrupt sequence, ICW1-4, OCW1-3, priority
// rotation, AEOI, special mask mode, poll command; cascade through master IR2).
#include "devices/pic8259/pic8259.h"

#include <string>

#include "core/error.h"
#include "core/inspect.h"
#include "core/state.h"

namespace hvsim {

namespace {
constexpr uint8_t kElcrWritable[2] = {0xF8, 0xDE};  // IRQ 0-2, 8 and 13 are always edge
constexpr unsigned kCascadeIr = 2;
}  // namespace

void Pic8259::reset() {
  chips_[0] = Chip{};
  chips_[1] = Chip{};
  bool was = out_;
  out_ = false;
  if (was && output_) output_(false);
}

void Pic8259::set_irq(unsigned pin, bool level) {
  if (pin >= 16 || pin == kCascadeIr) return;
  if (level && !((chips_[pin >> 3].lines >> (pin & 7)) & 1)) ++raised_[pin];
  set_line(pin >> 3, pin & 7, level);
  update();
}

void Pic8259::set_line(int c, unsigned pin, bool level) {
  Chip& ch = chips_[c];
  uint8_t bit = static_cast<uint8_t>(1u << pin);
  if (ch.elcr & bit) {
    ch.irr = level ? ch.irr | bit : ch.irr & ~bit;
  } else if (level && !(ch.lines & bit)) {
    ch.irr |= bit;  // edge: latched on the rising edge, kept until acknowledged
  }
  ch.lines = level ? ch.lines | bit : ch.lines & ~bit;
}

int Pic8259::in_service(int c) const {
  const Chip& ch = chips_[c];
  uint8_t isr = ch.special_mask ? ch.isr & ~ch.imr : ch.isr;
  for (unsigned k = 0; k < 8; ++k) {
    unsigned ir = (ch.priority_base + k) & 7;
    if (isr & (1u << ir)) return static_cast<int>(ir);
  }
  return -1;
}

int Pic8259::pending(int c) const {
  const Chip& ch = chips_[c];
  uint8_t req = ch.irr & ~ch.imr;
  if (!req || ch.icw_step) return -1;
  int s = in_service(c);
  for (unsigned k = 0; k < 8; ++k) {
    unsigned ir = (ch.priority_base + k) & 7;
    if (s >= 0 && static_cast<int>(ir) == s) return -1;  // blocked by an equal/higher one
    if (req & (1u << ir)) return static_cast<int>(ir);
  }
  return -1;
}

void Pic8259::update() {
  set_line(0, kCascadeIr, pending(1) >= 0);
  bool out = pending(0) >= 0;
  if (out != out_) {
    out_ = out;
    if (output_) output_(out);
  }
}

uint8_t Pic8259::ack_chip(int c, bool* spurious) {
  Chip& ch = chips_[c];
  int ir = pending(c);
  if (ir < 0) {
    *spurious = true;
    return 7;
  }
  uint8_t bit = static_cast<uint8_t>(1u << ir);
  if (!(ch.elcr & bit)) ch.irr &= ~bit;
  if (ch.auto_eoi) {
    if (ch.rotate_on_aeoi) ch.priority_base = static_cast<uint8_t>((ir + 1) & 7);
  } else {
    ch.isr |= bit;
  }
  return static_cast<uint8_t>(ir);
}

uint8_t Pic8259::acknowledge() {
  ++acks_;
  bool spurious = false;
  uint8_t ir = ack_chip(0, &spurious);
  uint8_t vector;
  if (!spurious && ir == kCascadeIr && !chips_[0].single) {
    uint8_t sir = ack_chip(1, &spurious);
    vector = static_cast<uint8_t>(chips_[1].vector_base + sir);
    // The slave's INT falls during INTA; a request still pending raises it again.
    set_line(0, kCascadeIr, false);
  } else {
    vector = static_cast<uint8_t>(chips_[0].vector_base + ir);
  }
  if (spurious) ++spurious_;
  update();
  return vector;
}

void Pic8259::eoi(int c, int ir, bool rotate) {
  Chip& ch = chips_[c];
  if (ir < 0) return;
  ++eois_;
  ch.isr &= static_cast<uint8_t>(~(1u << ir));
  if (rotate) ch.priority_base = static_cast<uint8_t>((ir + 1) & 7);
}

void Pic8259::command(int c, uint8_t v) {
  Chip& ch = chips_[c];
  if (v & 0x10) {  // ICW1: start initialization
    ch.icw_step = 2;
    ch.icw4_needed = v & 0x01;
    ch.single = v & 0x02;
    ch.imr = 0;
    ch.isr = 0;
    ch.irr = 0;
    ch.priority_base = 0;
    ch.special_mask = false;
    ch.auto_eoi = false;
    ch.rotate_on_aeoi = false;
    ch.poll = false;
    ch.read_isr = 0;
    return;
  }
  if (v & 0x08) {  // OCW3
    if (v & 0x04) ch.poll = true;
    if (v & 0x02) ch.read_isr = v & 0x01;
    if (v & 0x40) ch.special_mask = v & 0x20;
    return;
  }
  // OCW2: R, SL, EOI in bits 7:5, level in bits 2:0.
  int level = v & 7;
  switch (v >> 5) {
    case 1: eoi(c, in_service(c), false); break;  // non-specific EOI
    case 3: eoi(c, level, false); break;          // specific EOI
    case 5: eoi(c, in_service(c), true); break;   // rotate on non-specific EOI
    case 7: eoi(c, level, true); break;           // rotate on specific EOI
    case 4: ch.rotate_on_aeoi = true; break;
    case 0: ch.rotate_on_aeoi = false; break;
    case 6: ch.priority_base = static_cast<uint8_t>((level + 1) & 7); break;  // set priority
    default: break;                                                           // no operation
  }
}

void Pic8259::data(int c, uint8_t v) {
  Chip& ch = chips_[c];
  switch (ch.icw_step) {
    case 0: ch.imr = v; return;  // OCW1
    case 2:
      ch.vector_base = v & 0xF8;
      ch.icw_step = ch.single ? (ch.icw4_needed ? 4 : 0) : 3;
      return;
    case 3: ch.icw_step = ch.icw4_needed ? 4 : 0; return;
    case 4:
      ch.auto_eoi = v & 0x02;
      ch.icw_step = 0;
      return;
  }
}

uint8_t Pic8259::poll_read(int c) {
  Chip& ch = chips_[c];
  ch.poll = false;
  int ir = pending(c);
  if (ir < 0) return 0;
  bool spurious = false;
  ack_chip(c, &spurious);
  update();
  return static_cast<uint8_t>(0x80 | ir);
}

uint32_t Pic8259::io_read(uint16_t port, unsigned size) {
  if (port == 0x4D0 || port == 0x4D1) return chips_[port & 1].elcr;
  int c = port >= 0xA0 ? 1 : 0;
  Chip& ch = chips_[c];
  if (ch.poll) return poll_read(c);
  if (port & 1) return ch.imr;
  return ch.read_isr ? ch.isr : ch.irr;
}

void Pic8259::io_write(uint16_t port, unsigned size, uint32_t value) {
  ++writes_;
  uint8_t v = static_cast<uint8_t>(value);
  if (port == 0x4D0 || port == 0x4D1) {
    int c = port & 1;
    chips_[c].elcr = v & kElcrWritable[c];
    // A level-triggered input's request follows its line from now on.
    chips_[c].irr = (chips_[c].irr & ~chips_[c].elcr) | (chips_[c].lines & chips_[c].elcr);
  } else if (port & 1) {
    data(port >= 0xA0 ? 1 : 0, v);
  } else {
    command(port >= 0xA0 ? 1 : 0, v);
  }
  update();
}

void Pic8259::save(StateWriter& w) const {
  w.begin_section("pic", 2);
  for (int i = 0; i < 2; ++i) {
    const Chip& c = chips_[i];
    std::string p = i ? "slave_" : "master_";
    w.u8(p + "irr", c.irr);
    w.u8(p + "isr", c.isr);
    w.u8(p + "imr", c.imr);
    w.u8(p + "lines", c.lines);
    w.u8(p + "elcr", c.elcr);
    w.u8(p + "vector_base", c.vector_base);
    w.u8(p + "icw_step", c.icw_step);
    w.boolean(p + "icw4_needed", c.icw4_needed);
    w.boolean(p + "single", c.single);
    w.boolean(p + "auto_eoi", c.auto_eoi);
    w.boolean(p + "rotate_on_aeoi", c.rotate_on_aeoi);
    w.boolean(p + "special_mask", c.special_mask);
    w.boolean(p + "poll", c.poll);
    w.u8(p + "priority_base", c.priority_base);
    w.u8(p + "read_isr", c.read_isr);
  }
  w.boolean("out", out_);
  w.u64("acks", acks_);
  w.u64("spurious", spurious_);
  w.u64("eois", eois_);
  w.bytes("raised", raised_, sizeof raised_);
  w.end_section();
}

void Pic8259::restore(StateReader& r) {
  if (r.begin_section("pic") != 2) throw InputError("checkpoint section pic: unsupported version");
  for (int i = 0; i < 2; ++i) {
    Chip& c = chips_[i];
    std::string p = i ? "slave_" : "master_";
    c.irr = r.u8(p + "irr");
    c.isr = r.u8(p + "isr");
    c.imr = r.u8(p + "imr");
    c.lines = r.u8(p + "lines");
    c.elcr = r.u8(p + "elcr");
    c.vector_base = r.u8(p + "vector_base");
    c.icw_step = r.u8(p + "icw_step");
    c.icw4_needed = r.boolean(p + "icw4_needed");
    c.single = r.boolean(p + "single");
    c.auto_eoi = r.boolean(p + "auto_eoi");
    c.rotate_on_aeoi = r.boolean(p + "rotate_on_aeoi");
    c.special_mask = r.boolean(p + "special_mask");
    c.poll = r.boolean(p + "poll");
    c.priority_base = r.u8(p + "priority_base") & 7;
    c.read_isr = r.u8(p + "read_isr");
  }
  out_ = r.boolean("out");
  acks_ = r.u64("acks");
  spurious_ = r.u64("spurious");
  eois_ = r.u64("eois");
  r.bytes_into("raised", raised_, sizeof raised_);
  r.end_section();
  // Why: the processor's LINT0 level is saved with its LAPIC; nothing to re-send here.
}

void Pic8259::inspect(InspectNode& node) const {
  node.counter("writes", writes_);
  node.counter("acks", acks_);
  node.counter("spurious", spurious_);
  node.counter("eois", eois_);
  node.counter("output", out_);
  for (int i = 0; i < 2; ++i) {
    const Chip& c = chips_[i];
    std::string p = i ? "slave_" : "master_";
    node.counter(p + "imr", c.imr);
    node.counter(p + "irr", c.irr);
    node.counter(p + "isr", c.isr);
    node.counter(p + "vector_base", c.vector_base);
  }
  InspectNode& irqs = node.child("raised");
  for (unsigned k = 0; k < 16; ++k)
    if (raised_[k]) irqs.counter("irq" + std::to_string(k), raised_[k]);
}

}  // namespace hvsim
