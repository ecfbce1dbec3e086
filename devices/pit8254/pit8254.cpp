// 8254 counter behaviour (Intel 82C54 data sheet: modes 0-5, gate, counter latch,
// read-back command, status byte) and PC port 0x61 (gate 2, OUT2, refresh toggle).
#include "devices/pit8254/pit8254.h"

#include <string>

#include "core/error.h"
#include "core/inspect.h"
#include "core/state.h"

namespace hvsim {

using namespace pit8254;

namespace {
uint16_t to_bcd(uint32_t v) {
  v %= 10000;
  return static_cast<uint16_t>((v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) |
                               ((v / 1000) << 12));
}
uint32_t from_bcd(uint32_t v) {
  return (v & 0xF) % 10 + ((v >> 4) & 0xF) % 10 * 10 + ((v >> 8) & 0xF) % 10 * 100 +
         ((v >> 12) & 0xF) % 10 * 1000;
}
}  // namespace

Pit8254::Pit8254(EventQueue& events, std::function<SimTime()> now, IrqLine irq0)
    : events_(events), now_(std::move(now)), irq0_(irq0) {
  reset();
}

void Pit8254::reset() {
  if (event_) events_.cancel(event_);
  event_ = 0;
  for (Channel& c : ch_) c = Channel{};
  ch_[2].gate = false;
  port61_ = 0;
  next_irq_tick_ = ~0ull;
}

uint64_t Pit8254::now_tick() const {
  return clock_.ticks_at(now_());
}

uint32_t Pit8254::period(const Channel& ch) const {
  uint32_t n = ch.bcd ? from_bcd(ch.count) : ch.count;
  if (n == 0) n = ch.bcd ? 10000 : 65536;
  // Why: a count of 1 is illegal in modes 2 and 3 (data sheet); 2 keeps OUT toggling.
  if ((ch.mode == 2 || ch.mode == 3) && n < 2) n = 2;
  return n;
}

uint64_t Pit8254::elapsed(const Channel& ch, uint64_t tick) const {
  if (!ch.running) return ch.frozen;
  return tick >= ch.start_tick ? tick - ch.start_tick : 0;
}

uint16_t Pit8254::value(const Channel& ch, uint64_t tick) const {
  if (!ch.loaded) return 0;
  uint64_t n = period(ch), e = elapsed(ch, tick);
  uint64_t modulus = ch.bcd ? 10000 : 65536;
  uint64_t v;
  switch (ch.mode) {
    case 2: v = n - e % n; break;
    case 3: {
      uint64_t p = e % n, high = (n + 1) / 2;
      v = (p < high ? n - 2 * p : n - 2 * (p - high)) & ~uint64_t{1};
      if (v == 0) v = 2;
      break;
    }
    case 1:
    case 5:
      if (!ch.running && ch.frozen == 0) {
        v = n;
        break;
      }
      [[fallthrough]];
    default: v = (n + modulus - e % modulus) % modulus; break;  // modes 0, 4: wrap around
  }
  return ch.bcd ? to_bcd(static_cast<uint32_t>(v)) : static_cast<uint16_t>(v);
}

bool Pit8254::out(const Channel& ch, uint64_t tick) const {
  uint64_t n = period(ch), e = elapsed(ch, tick);
  switch (ch.mode) {
    case 0: return ch.loaded && e >= n;
    case 1: return !ch.loaded || (!ch.running && ch.frozen == 0) || e >= n;
    case 2: return !ch.loaded || !ch.gate || e % n != n - 1;
    case 3: return !ch.loaded || !ch.gate || e % n < (n + 1) / 2;
    case 4:
    case 5: return !ch.loaded || e != n;
  }
  return true;
}

void Pit8254::load(int c) {
  Channel& ch = ch_[c];
  ch.loaded = true;
  ch.frozen = 0;
  bool gated_start = ch.mode == 1 || ch.mode == 5;
  ch.running = ch.gate && !gated_start;
  ch.start_tick = now_tick();
  if (c == 0) arm_irq();
}

void Pit8254::set_gate2(bool level) {
  Channel& ch = ch_[2];
  if (ch.gate == level) return;
  uint64_t t = now_tick();
  if (!level) {
    ch.frozen = elapsed(ch, t);
    ch.running = false;
  } else if (ch.loaded) {
    // Modes 1, 2, 3, 5 restart on a rising gate; modes 0 and 4 resume.
    if (ch.mode == 0 || ch.mode == 4) {
      ch.start_tick = t - ch.frozen;
    } else {
      ch.start_tick = t;
      ch.frozen = 0;
    }
    ch.running = true;
  }
  ch.gate = level;
}

void Pit8254::arm_irq() {
  if (event_) events_.cancel(event_);
  event_ = 0;
  next_irq_tick_ = ~0ull;
  const Channel& ch = ch_[0];
  if (!ch.loaded || !ch.running) return;
  uint64_t n = period(ch);
  switch (ch.mode) {
    case 0:
    case 2:
    case 3: next_irq_tick_ = ch.start_tick + n; break;
    case 4: next_irq_tick_ = ch.start_tick + n + 1; break;
    default: return;
  }
  schedule_irq();
}

void Pit8254::schedule_irq() {
  if (next_irq_tick_ == ~0ull) return;
  SimTime t = clock_.time_of(next_irq_tick_);
  while (clock_.ticks_at(t) < next_irq_tick_) ++t;
  if (t < events_.now()) t = events_.now();
  event_ = events_.schedule(
      t, [this] { on_irq_event(); }, "pit.irq0");
}

void Pit8254::on_irq_event() {
  event_ = 0;
  ++irqs_;
  irq0_.pulse();
  const Channel& ch = ch_[0];
  if (ch.mode == 2 || ch.mode == 3) {
    next_irq_tick_ += period(ch);
    schedule_irq();
  } else {
    next_irq_tick_ = ~0ull;
  }
}

void Pit8254::control(uint8_t v) {
  unsigned sel = v >> 6;
  if (sel == 3) {  // read-back command
    uint64_t t = now_tick();
    for (int c = 0; c < 3; ++c) {
      if (!(v & (2u << c))) continue;
      Channel& ch = ch_[c];
      if (!(v & 0x20) && !ch.latched) {
        ch.latched = true;
        ch.latch_msb = false;
        ch.latch = value(ch, t);
      }
      if (!(v & 0x10) && !ch.status_latched) {
        ch.status_latched = true;
        ch.status = static_cast<uint8_t>((out(ch, t) ? 0x80 : 0) | (ch.loaded ? 0 : 0x40) |
                                         (ch.access << 4) | (ch.mode << 1) | ch.bcd);
      }
    }
    return;
  }
  Channel& ch = ch_[sel];
  unsigned access = (v >> 4) & 3;
  if (access == 0) {  // counter latch command
    if (!ch.latched) {
      ch.latched = true;
      ch.latch_msb = false;
      ch.latch = value(ch, now_tick());
    }
    return;
  }
  uint8_t mode = (v >> 1) & 7;
  if (mode > 5) mode -= 4;
  ch.mode = mode;
  ch.access = static_cast<uint8_t>(access);
  ch.bcd = v & 1;
  ch.loaded = false;
  ch.running = false;
  ch.frozen = 0;
  ch.write_msb = ch.read_msb = ch.latched = ch.status_latched = false;
  if (sel == 0) arm_irq();
}

void Pit8254::write_counter(int c, uint8_t v) {
  Channel& ch = ch_[c];
  switch (ch.access) {
    case 1: ch.count = v; break;
    case 2: ch.count = uint32_t{v} << 8; break;
    default:
      if (!ch.write_msb) {
        ch.write_lsb = v;
        ch.write_msb = true;
        return;
      }
      ch.write_msb = false;
      ch.count = ch.write_lsb | (uint32_t{v} << 8);
      break;
  }
  load(c);
}

uint8_t Pit8254::read_counter(int c) {
  Channel& ch = ch_[c];
  if (ch.status_latched) {
    ch.status_latched = false;
    return ch.status;
  }
  uint16_t v;
  bool msb;
  if (ch.latched) {
    v = ch.latch;
    if (ch.access == 3) {
      msb = ch.latch_msb;
      ch.latch_msb = !ch.latch_msb;
      if (msb) ch.latched = false;
    } else {
      msb = ch.access == 2;
      ch.latched = false;
    }
  } else {
    v = value(ch, now_tick());
    if (ch.access == 3) {
      msb = ch.read_msb;
      ch.read_msb = !ch.read_msb;
    } else {
      msb = ch.access == 2;
    }
  }
  return static_cast<uint8_t>(msb ? v >> 8 : v);
}

uint32_t Pit8254::io_read(uint16_t port, unsigned size) {
  if (port == static_cast<uint16_t>(Port::kSystemControlB)) {
    // Refresh request toggles every 15.085 us (PC/AT); OUT2 follows counter 2.
    bool refresh = (now_() / 15'085'000) & 1;
    return port61_ | (refresh ? kRefresh : 0) | (out(ch_[2], now_tick()) ? kOut2 : 0);
  }
  if (port >= 0x40 && port <= 0x42) return read_counter(port - 0x40);
  return 0xFF;  // the control word register cannot be read
}

void Pit8254::io_write(uint16_t port, unsigned size, uint32_t value) {
  uint8_t v = static_cast<uint8_t>(value);
  if (port == static_cast<uint16_t>(Port::kSystemControlB)) {
    port61_ = v & 0x0F;
    set_gate2(v & kGate2);
  } else if (port == static_cast<uint16_t>(Port::kControl)) {
    control(v);
  } else if (port >= 0x40 && port <= 0x42) {
    write_counter(port - 0x40, v);
  }
}

void Pit8254::save(StateWriter& w) const {
  w.begin_section("pit", 1);
  for (int c = 0; c < 3; ++c) {
    const Channel& ch = ch_[c];
    std::string p = "ch" + std::to_string(c) + ".";
    w.u8(p + "mode", ch.mode);
    w.u8(p + "access", ch.access);
    w.boolean(p + "bcd", ch.bcd);
    w.u32(p + "count", ch.count);
    w.boolean(p + "loaded", ch.loaded);
    w.boolean(p + "write_msb", ch.write_msb);
    w.u8(p + "write_lsb", ch.write_lsb);
    w.boolean(p + "read_msb", ch.read_msb);
    w.boolean(p + "latched", ch.latched);
    w.boolean(p + "latch_msb", ch.latch_msb);
    w.u32(p + "latch", ch.latch);
    w.boolean(p + "status_latched", ch.status_latched);
    w.u8(p + "status", ch.status);
    w.boolean(p + "gate", ch.gate);
    w.boolean(p + "running", ch.running);
    w.u64(p + "start_tick", ch.start_tick);
    w.u64(p + "frozen", ch.frozen);
  }
  w.u8("port61", port61_);
  w.u64("next_irq_tick", next_irq_tick_);
  w.u64("irqs", irqs_);
  w.end_section();
}

void Pit8254::restore(StateReader& r) {
  if (r.begin_section("pit") != 1) throw InputError("checkpoint section pit: unsupported version");
  for (int c = 0; c < 3; ++c) {
    Channel& ch = ch_[c];
    std::string p = "ch" + std::to_string(c) + ".";
    ch.mode = r.u8(p + "mode") % 6;
    ch.access = r.u8(p + "access") & 3;
    ch.bcd = r.boolean(p + "bcd");
    ch.count = r.u32(p + "count") & 0xFFFF;
    ch.loaded = r.boolean(p + "loaded");
    ch.write_msb = r.boolean(p + "write_msb");
    ch.write_lsb = r.u8(p + "write_lsb");
    ch.read_msb = r.boolean(p + "read_msb");
    ch.latched = r.boolean(p + "latched");
    ch.latch_msb = r.boolean(p + "latch_msb");
    ch.latch = static_cast<uint16_t>(r.u32(p + "latch"));
    ch.status_latched = r.boolean(p + "status_latched");
    ch.status = r.u8(p + "status");
    ch.gate = r.boolean(p + "gate");
    ch.running = r.boolean(p + "running");
    ch.start_tick = r.u64(p + "start_tick");
    ch.frozen = r.u64(p + "frozen");
  }
  port61_ = r.u8("port61");
  next_irq_tick_ = r.u64("next_irq_tick");
  irqs_ = r.u64("irqs");
  r.end_section();
  // Events are not saved: re-create the pending IRQ 0 edge from the saved tick.
  if (event_) events_.cancel(event_);
  event_ = 0;
  schedule_irq();
}

void Pit8254::inspect(InspectNode& node) const {
  node.counter("irq0_pulses", irqs_);
  for (int c = 0; c < 3; ++c) {
    InspectNode& n = node.child("ch" + std::to_string(c));
    n.value("mode", to_string(static_cast<Mode>(ch_[c].mode)));
    n.counter("count", ch_[c].count);
    n.counter("gate", ch_[c].gate);
  }
}

}  // namespace hvsim
