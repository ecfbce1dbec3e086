// 8254 programmable interval timer with the PC's port 0x61 (Intel 82C54 data sheet).
#pragma once

#include <cstdint>
#include <functional>

#include "core/event_queue.h"
#include "core/io_bus.h"
#include "core/irq.h"
#include "core/time.h"
#include "devices/device.h"
#include "devices/pit8254/spec/regs.h"

namespace hvsim {

/// Three counters clocked at 1.193182 MHz from simulated time. Counter 0's OUT drives
/// IRQ 0 (one pulse per rising edge, from events on the machine's event queue); counter 2
/// is gated by port 0x61 bit 0 and its OUT is readable at port 0x61 bit 5 (calibration
/// loops). Counter values are computed from the time, so reading costs no events.
/// Modes 0-5, LSB/MSB/word access, counter latch, read-back with status.
class Pit8254 : public Device, public PortIoHandler {
 public:
  /// `now`: the simulated time of the access (the accessing processor's local time).
  Pit8254(EventQueue& events, std::function<SimTime()> now, IrqLine irq0);
  std::string_view name() const override { return "pit"; }
  PortIoHandler* port_io() override { return this; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;

  /// Counter state; counting positions are absolute ticks of the 1.193182 MHz clock.
  struct Channel {
    uint8_t mode = 0, access = 3;
    bool bcd = false;
    uint32_t count = 0;      ///< reload value as written (0 means 65536 / 10000 in BCD)
    bool loaded = false;     ///< a count has been written since the control word
    bool write_msb = false;  ///< LSB/MSB access: the next write is the MSB
    uint8_t write_lsb = 0;   ///< the LSB written first
    bool read_msb = false;   ///< LSB/MSB access: the next read is the MSB
    bool latched = false;    ///< a counter latch holds `latch`
    bool latch_msb = false;  ///< the next latched byte is the MSB
    uint16_t latch = 0;
    bool status_latched = false;
    uint8_t status = 0;
    bool gate = true;
    bool running = false;     ///< counting (gate high and, for modes 1/5, triggered)
    uint64_t start_tick = 0;  ///< tick at which the current count began (when running)
    uint64_t frozen = 0;      ///< elapsed ticks while stopped by the gate
  };

  /// Elapsed ticks of channel `c` at time `t`.
  uint64_t elapsed(const Channel& ch, uint64_t tick) const;
  uint16_t value(const Channel& ch, uint64_t tick) const;
  bool out(const Channel& ch, uint64_t tick) const;
  const Channel& channel(int i) const { return ch_[i]; }

 private:
  uint32_t period(const Channel& ch) const;
  uint64_t now_tick() const;
  void load(int c);
  void set_gate2(bool level);
  void arm_irq();
  void on_irq_event();
  void schedule_irq();
  uint8_t read_counter(int c);
  void write_counter(int c, uint8_t v);
  void control(uint8_t v);

  EventQueue& events_;
  std::function<SimTime()> now_;
  IrqLine irq0_;
  Clock clock_{pit8254::kClockHz};
  Channel ch_[3];
  uint8_t port61_ = 0;  ///< writable bits 0-3
  uint64_t next_irq_tick_ = ~0ull;
  EventId event_ = 0;
  uint64_t irqs_ = 0;
};

}  // namespace hvsim
