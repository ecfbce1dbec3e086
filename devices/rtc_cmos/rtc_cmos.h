// MC146818 real-time clock with 128 bytes of CMOS RAM (Motorola MC146818A data sheet).
#pragma once

#include <cstdint>
#include <functional>

#include "core/event_queue.h"
#include "core/io_bus.h"
#include "core/irq.h"
#include "core/time.h"
#include "devices/device.h"

namespace hvsim {

/// Parameters of the RTC/CMOS.
struct RtcCmosParams {
  /// Wall-clock time at simulated time 0, in seconds since 1970-01-01 00:00:00 UTC. The
  /// host clock is never read: the same parameters give the same dates.
  int64_t start_epoch = 1704067200;  // 2024-01-01 00:00:00
  uint64_t memory = 0;               ///< RAM bytes, for the CMOS memory-size bytes
  uint32_t cpus = 1;                 ///< processors, for CMOS byte 0x5F (count - 1)
};

/// The clock at ports 0x70/0x71: time and date (BCD or binary, 12 or 24 hour), registers
/// A-D with update-in-progress, periodic interrupt (rate from register A), update-ended
/// and alarm interrupts on IRQ 8 (the line stays asserted until register C is read), the
/// NMI-disable bit of port 0x70, and CMOS RAM with the PC memory-size bytes.
class RtcCmos : public Device, public PortIoHandler {
 public:
  RtcCmos(const RtcCmosParams& params, EventQueue& events, std::function<SimTime()> now,
          IrqLine irq8);
  std::string_view name() const override { return "rtc"; }
  PortIoHandler* port_io() override { return this; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;

  /// Seconds since the epoch at time `t` (while the SET bit is clear).
  int64_t epoch_at(SimTime t) const;
  /// True if port 0x70 bit 7 disables NMI.
  bool nmi_disabled() const { return nmi_disabled_; }

  /// Broken-down UTC time.
  struct DateTime {
    int year, month, day, hour, minute, second, weekday;  ///< weekday 1 = Sunday
  };
  static DateTime to_datetime(int64_t epoch);
  static int64_t to_epoch(const DateTime& d);

 private:
  uint8_t read_reg(uint8_t reg);
  void write_reg(uint8_t reg, uint8_t v);
  uint8_t encode(int v) const;
  int decode(uint8_t v) const;
  uint8_t encode_hour(int h) const;
  int decode_hour(uint8_t v) const;
  void fill_time_regs(int64_t epoch);
  int64_t time_from_regs() const;
  void set_irq_flags(uint8_t flags);
  void update_irq();
  void schedule(SimTime now);
  void on_periodic();
  void on_update();
  uint32_t periodic_ticks() const;

  RtcCmosParams params_;
  EventQueue& events_;
  std::function<SimTime()> now_;
  IrqLine irq8_;
  Clock base_clock_{32768};
  uint8_t ram_[128] = {};
  uint8_t index_ = 0;
  bool nmi_disabled_ = false;
  int64_t base_epoch_ = 0;  ///< wall-clock seconds at base_time_
  SimTime base_time_ = 0;
  uint8_t flags_ = 0;  ///< register C PF/AF/UF
  bool irq_level_ = false;
  uint64_t next_periodic_tick_ = ~0ull;
  SimTime next_update_ = kNever;
  EventId periodic_event_ = 0, update_event_ = 0;
  uint64_t periodic_irqs_ = 0, update_irqs_ = 0, alarm_irqs_ = 0;
};

}  // namespace hvsim
