// 82093AA I/O APIC behaviour (data sheet 3.0 register description, 3.2.4 redirection
// table: trigger modes, remote IRR, masking).
#include "devices/ioapic/ioapic.h"

#include <string>

#include "core/error.h"
#include "core/inspect.h"
#include "core/state.h"

namespace hvsim {

using namespace ioapic;

void IoApic::reset() {
  select_ = 0;
  id_ = 0;
  for (uint64_t& e : redir_) e = kRedMasked;
  lines_ = 0;
}

bool IoApic::asserted(unsigned pin) const {
  bool high = (lines_ >> pin) & 1;
  return (redir_[pin] & kRedActiveLow) ? !high : high;
}

void IoApic::service(unsigned pin) {
  uint64_t& e = redir_[pin];
  if (e & kRedMasked) return;
  bool level = e & kRedLevel;
  if (level && (e & kRedRemoteIrr)) return;
  IoApicMessage m;
  m.vector = static_cast<uint8_t>(e & kRedVector);
  m.delivery_mode = static_cast<uint8_t>((e >> kRedDeliveryShift) & 7);
  m.logical = e & kRedDestLogical;
  m.level = level;
  m.dest = static_cast<uint8_t>(e >> kRedDestShift);
  // Remote IRR is set only for fixed/lowest-priority level interrupts, which are EOIed.
  if (level && m.delivery_mode <= 1) e |= kRedRemoteIrr;
  ++delivered_[pin];
  if (send_) send_(m);
}

void IoApic::set_irq(unsigned pin, bool level) {
  if (pin >= kPins) return;
  bool was = asserted(pin);
  lines_ = level ? lines_ | (1u << pin) : lines_ & ~(1u << pin);
  bool now = asserted(pin);
  if (redir_[pin] & kRedLevel) {
    if (now) service(pin);
  } else if (now && !was) {
    service(pin);
  }
}

void IoApic::eoi(uint8_t vector) {
  for (unsigned pin = 0; pin < kPins; ++pin) {
    uint64_t& e = redir_[pin];
    if ((e & kRedRemoteIrr) && (e & kRedVector) == vector) {
      ++eois_;
      e &= ~kRedRemoteIrr;
      if ((e & kRedLevel) && asserted(pin)) service(pin);  // still asserted: again
    }
  }
}

uint32_t IoApic::read_reg(uint32_t reg) const {
  if (reg == static_cast<uint32_t>(Reg::kId)) return id_ << 24;
  if (reg == static_cast<uint32_t>(Reg::kVersion)) return ((kPins - 1) << 16) | kVersion;
  if (reg == static_cast<uint32_t>(Reg::kArbitration)) return id_ << 24;
  if (reg >= 0x10 && reg < 0x10 + 2 * kPins) {
    uint64_t e = redir_[(reg - 0x10) / 2];
    return static_cast<uint32_t>(reg & 1 ? e >> 32 : e);
  }
  return 0;
}

void IoApic::write_reg(uint32_t reg, uint32_t v) {
  if (reg == static_cast<uint32_t>(Reg::kId)) {
    id_ = (v >> 24) & 0xF;
    return;
  }
  if (reg < 0x10 || reg >= 0x10 + 2 * kPins) return;  // read-only or reserved
  unsigned pin = (reg - 0x10) / 2;
  uint64_t& e = redir_[pin];
  uint64_t nv = reg & 1 ? (e & 0xFFFFFFFF) | (uint64_t{v} << 32) : (e & 0xFFFFFFFF00000000ull) | v;
  e = (nv & kRedWritable) | (e & (kRedRemoteIrr | kRedDeliveryStatus));
  if (!(e & kRedLevel)) e &= ~kRedRemoteIrr;
  // Unmasking a level-triggered pin that is asserted delivers it now.
  if ((e & kRedLevel) && asserted(pin)) service(pin);
}

uint64_t IoApic::mmio_read(uint64_t offset, unsigned size) {
  if (offset == static_cast<uint64_t>(Mmio::kIoRegSel)) return select_;
  if (offset == static_cast<uint64_t>(Mmio::kIoWin)) return read_reg(select_);
  return 0;
}

void IoApic::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset == static_cast<uint64_t>(Mmio::kIoRegSel))
    select_ = static_cast<uint32_t>(value & 0xFF);
  else if (offset == static_cast<uint64_t>(Mmio::kIoWin) && size >= 4)
    write_reg(select_, static_cast<uint32_t>(value));
}

void IoApic::save(StateWriter& w) const {
  w.begin_section("ioapic", 1);
  w.u32("select", select_);
  w.u32("id", id_);
  w.bytes("redir", redir_, sizeof redir_);
  w.u32("lines", lines_);
  w.bytes("delivered", delivered_, sizeof delivered_);
  w.u64("eois", eois_);
  w.end_section();
}

void IoApic::restore(StateReader& r) {
  if (r.begin_section("ioapic") != 1)
    throw InputError("checkpoint section ioapic: unsupported version");
  select_ = r.u32("select");
  id_ = r.u32("id");
  r.bytes_into("redir", redir_, sizeof redir_);
  lines_ = r.u32("lines");
  r.bytes_into("delivered", delivered_, sizeof delivered_);
  eois_ = r.u64("eois");
  r.end_section();
}

void IoApic::inspect(InspectNode& node) const {
  node.counter("id", id_);
  node.counter("eois", eois_);
  InspectNode& pins = node.child("delivered");
  for (unsigned p = 0; p < kPins; ++p)
    if (delivered_[p]) pins.counter("pin" + std::to_string(p), delivered_[p]);
}

}  // namespace hvsim
