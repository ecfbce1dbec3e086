// MC146818A behaviour (data sheet: time/calendar/alarm registers, data modes, update cycle
// and UIP, periodic interrupt rates, register C flags) and PC CMOS memory-size bytes.
#include "devices/rtc_cmos/rtc_cmos.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/inspect.h"
#include "core/state.h"
#include "devices/rtc_cmos/spec/regs.h"

namespace hvsim {

using namespace rtc_cmos;

namespace {
bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
int month_days(int y, int m) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}
constexpr int64_t kDay = 86400;
}  // namespace

RtcCmos::DateTime RtcCmos::to_datetime(int64_t epoch) {
  if (epoch < 0) epoch = 0;
  int64_t days = epoch / kDay, secs = epoch % kDay;
  DateTime d{};
  d.weekday = static_cast<int>((days + 4) % 7) + 1;  // 1970-01-01 was a Thursday
  int y = 1970;
  while (days >= (leap(y) ? 366 : 365)) days -= leap(y++) ? 366 : 365;
  int m = 1;
  while (days >= month_days(y, m)) days -= month_days(y, m++);
  d.year = y;
  d.month = m;
  d.day = static_cast<int>(days) + 1;
  d.hour = static_cast<int>(secs / 3600);
  d.minute = static_cast<int>(secs / 60 % 60);
  d.second = static_cast<int>(secs % 60);
  return d;
}

int64_t RtcCmos::to_epoch(const DateTime& d) {
  int y = d.year < 1970 ? 1970 : d.year > 9999 ? 9999 : d.year;
  int m = d.month < 1 ? 1 : d.month > 12 ? 12 : d.month;
  int64_t days = 0;
  for (int k = 1970; k < y; ++k) days += leap(k) ? 366 : 365;
  for (int k = 1; k < m; ++k) days += month_days(y, k);
  int day = d.day < 1 ? 1 : d.day;
  days += day - 1;
  return days * kDay + int64_t{d.hour} * 3600 + int64_t{d.minute} * 60 + d.second;
}

RtcCmos::RtcCmos(const RtcCmosParams& params, EventQueue& events, std::function<SimTime()> now,
                 IrqLine irq8)
    : params_(params), events_(events), now_(std::move(now)), irq8_(irq8) {
  reset();
}

void RtcCmos::reset() {
  if (periodic_event_) events_.cancel(periodic_event_);
  if (update_event_) events_.cancel(update_event_);
  periodic_event_ = update_event_ = 0;
  for (uint8_t& b : ram_) b = 0;
  ram_[static_cast<int>(Reg::kA)] = 0x26;  // 32.768 kHz divider, 1024 Hz rate
  ram_[static_cast<int>(Reg::kB)] = kB24h;
  ram_[static_cast<int>(Reg::kD)] = kDVrt;
  // Memory-size bytes as PC firmware leaves them.
  auto put16 = [&](Reg lo, uint64_t v) {
    ram_[static_cast<int>(lo)] = static_cast<uint8_t>(v);
    ram_[static_cast<int>(lo) + 1] = static_cast<uint8_t>(v >> 8);
  };
  uint64_t mem = params_.memory;
  put16(Reg::kBaseMemLo, 640);
  uint64_t ext = mem > (1u << 20) ? (mem - (1u << 20)) >> 10 : 0;
  put16(Reg::kExtMemLo, ext > 0xFFFF ? 0xFFFF : ext);
  put16(Reg::kExtMem2Lo, ext > 0xFFFF ? 0xFFFF : ext);
  uint64_t below4g = mem < (uint64_t{4} << 30) ? mem : (uint64_t{4} << 30);
  uint64_t high = below4g > (16u << 20) ? (below4g - (16u << 20)) >> 16 : 0;
  put16(Reg::kHighMemLo, high > 0xFFFF ? 0xFFFF : high);
  uint64_t above = mem > (uint64_t{4} << 30) ? (mem - (uint64_t{4} << 30)) >> 16 : 0;
  ram_[static_cast<int>(Reg::kAbove4gLo)] = static_cast<uint8_t>(above);
  ram_[static_cast<int>(Reg::kAbove4gMid)] = static_cast<uint8_t>(above >> 8);
  ram_[static_cast<int>(Reg::kAbove4gHi)] = static_cast<uint8_t>(above >> 16);
  ram_[static_cast<int>(Reg::kCpuCountMinus1)] =
      static_cast<uint8_t>(params_.cpus ? params_.cpus - 1 : 0);
  unsigned sum = 0;
  for (int a = 0x10; a <= 0x2D; ++a) sum += ram_[a];
  ram_[static_cast<int>(Reg::kChecksumHi)] = static_cast<uint8_t>(sum >> 8);
  ram_[static_cast<int>(Reg::kChecksumLo)] = static_cast<uint8_t>(sum);
  index_ = 0;
  nmi_disabled_ = false;
  base_epoch_ = params_.start_epoch;
  base_time_ = 0;
  flags_ = 0;
  irq_level_ = false;
  next_periodic_tick_ = ~0ull;
  next_update_ = kNever;
}

int64_t RtcCmos::epoch_at(SimTime t) const {
  return base_epoch_ +
         static_cast<int64_t>((t >= base_time_ ? t - base_time_ : 0) / kPicosPerSecond);
}

// ---- data formats ----

uint8_t RtcCmos::encode(int v) const {
  if (ram_[static_cast<int>(Reg::kB)] & kBBinary) return static_cast<uint8_t>(v);
  return static_cast<uint8_t>(((v / 10) << 4) | (v % 10));
}

int RtcCmos::decode(uint8_t v) const {
  if (ram_[static_cast<int>(Reg::kB)] & kBBinary) return v;
  return (v >> 4) * 10 + (v & 0xF);
}

uint8_t RtcCmos::encode_hour(int h) const {
  if (ram_[static_cast<int>(Reg::kB)] & kB24h) return encode(h);
  int h12 = h % 12 == 0 ? 12 : h % 12;
  return static_cast<uint8_t>(encode(h12) | (h >= 12 ? 0x80 : 0));
}

int RtcCmos::decode_hour(uint8_t v) const {
  if (ram_[static_cast<int>(Reg::kB)] & kB24h) return decode(v);
  int h = decode(v & 0x7F) % 12;
  return (v & 0x80) ? h + 12 : h;
}

void RtcCmos::fill_time_regs(int64_t epoch) {
  DateTime d = to_datetime(epoch);
  ram_[static_cast<int>(Reg::kSeconds)] = encode(d.second);
  ram_[static_cast<int>(Reg::kMinutes)] = encode(d.minute);
  ram_[static_cast<int>(Reg::kHours)] = encode_hour(d.hour);
  ram_[static_cast<int>(Reg::kDayOfWeek)] = encode(d.weekday);
  ram_[static_cast<int>(Reg::kDayOfMonth)] = encode(d.day);
  ram_[static_cast<int>(Reg::kMonth)] = encode(d.month);
  ram_[static_cast<int>(Reg::kYear)] = encode(d.year % 100);
  ram_[static_cast<int>(Reg::kCentury)] = encode(d.year / 100);
}

int64_t RtcCmos::time_from_regs() const {
  DateTime d{};
  d.second = decode(ram_[static_cast<int>(Reg::kSeconds)]) % 60;
  d.minute = decode(ram_[static_cast<int>(Reg::kMinutes)]) % 60;
  d.hour = decode_hour(ram_[static_cast<int>(Reg::kHours)]) % 24;
  d.day = decode(ram_[static_cast<int>(Reg::kDayOfMonth)]);
  d.month = decode(ram_[static_cast<int>(Reg::kMonth)]);
  d.year = decode(ram_[static_cast<int>(Reg::kCentury)]) * 100 +
           decode(ram_[static_cast<int>(Reg::kYear)]) % 100;
  if (d.day > 31) d.day = 31;
  return to_epoch(d);
}

// ---- registers ----

namespace {
bool is_time_reg(uint8_t reg) {
  return reg <= static_cast<uint8_t>(Reg::kYear) || reg == static_cast<uint8_t>(Reg::kCentury);
}
bool is_alarm_reg(uint8_t reg) {
  return reg == 1 || reg == 3 || reg == 5;
}
}  // namespace

uint8_t RtcCmos::read_reg(uint8_t reg) {
  SimTime now = now_();
  uint8_t b = ram_[static_cast<int>(Reg::kB)];
  if (reg == static_cast<uint8_t>(Reg::kA)) {
    bool uip = !(b & kBSet) && (now - base_time_) % kPicosPerSecond >= kPicosPerSecond - kUipPicos;
    return static_cast<uint8_t>((ram_[reg] & 0x7F) | (uip ? kAUip : 0));
  }
  if (reg == static_cast<uint8_t>(Reg::kC)) {
    uint8_t v = flags_ | (irq_level_ ? kCIrqf : 0);
    flags_ = 0;
    update_irq();
    return v;
  }
  if (is_time_reg(reg) && !is_alarm_reg(reg) && !(b & kBSet)) fill_time_regs(epoch_at(now));
  return ram_[reg];
}

void RtcCmos::write_reg(uint8_t reg, uint8_t v) {
  SimTime now = now_();
  uint8_t& b = ram_[static_cast<int>(Reg::kB)];
  if (reg == static_cast<uint8_t>(Reg::kA)) {
    ram_[reg] = v & 0x7F;
    schedule(now);
    return;
  }
  if (reg == static_cast<uint8_t>(Reg::kB)) {
    bool was_set = b & kBSet;
    if (!was_set && (v & kBSet)) fill_time_regs(epoch_at(now));  // freeze for writing
    b = v;
    if (v & kBSet) b &= ~kBUie;  // setting SET clears UIE (data sheet)
    if (was_set && !(v & kBSet)) {
      base_epoch_ = time_from_regs();
      base_time_ = now;
    }
    update_irq();
    schedule(now);
    return;
  }
  if (reg == static_cast<uint8_t>(Reg::kC) || reg == static_cast<uint8_t>(Reg::kD)) return;
  if (is_time_reg(reg) && !is_alarm_reg(reg) && !(b & kBSet)) {
    // Writing a running clock: change that field, keep the sub-second phase.
    fill_time_regs(epoch_at(now));
    ram_[reg] = v;
    int64_t elapsed = static_cast<int64_t>((now - base_time_) / kPicosPerSecond);
    base_epoch_ = time_from_regs() - elapsed;
    schedule(now);
    return;
  }
  ram_[reg] = v;
}

void RtcCmos::update_irq() {
  uint8_t enabled = ram_[static_cast<int>(Reg::kB)] & (kBPie | kBAie | kBUie);
  bool level = (flags_ & enabled) != 0;  // PF/AF/UF line up with PIE/AIE/UIE
  if (level != irq_level_) {
    irq_level_ = level;
    irq8_.set(level);
  }
}

void RtcCmos::set_irq_flags(uint8_t flags) {
  flags_ |= flags;
  update_irq();
}

uint32_t RtcCmos::periodic_ticks() const {
  unsigned rs = ram_[static_cast<int>(Reg::kA)] & kARateMask;
  if (rs == 0) return 0;
  if (rs <= 2) return rs == 1 ? 128 : 256;  // 256 Hz and 128 Hz
  return 1u << (rs - 1);
}

void RtcCmos::schedule(SimTime now) {
  if (periodic_event_) events_.cancel(periodic_event_);
  if (update_event_) events_.cancel(update_event_);
  periodic_event_ = update_event_ = 0;
  next_periodic_tick_ = ~0ull;
  next_update_ = kNever;
  if (now < events_.now()) now = events_.now();
  uint8_t b = ram_[static_cast<int>(Reg::kB)];
  uint32_t p = periodic_ticks();
  if ((b & kBPie) && p) {
    next_periodic_tick_ = (base_clock_.ticks_at(now) / p + 1) * p;
    SimTime t = base_clock_.time_of(next_periodic_tick_);
    while (base_clock_.ticks_at(t) < next_periodic_tick_) ++t;
    periodic_event_ = events_.schedule(
        t, [this] { on_periodic(); }, "rtc.periodic");
  }
  if ((b & (kBUie | kBAie)) && !(b & kBSet)) {
    next_update_ = base_time_ + ((now - base_time_) / kPicosPerSecond + 1) * kPicosPerSecond;
    update_event_ = events_.schedule(
        next_update_, [this] { on_update(); }, "rtc.update");
  }
}

void RtcCmos::on_periodic() {
  periodic_event_ = 0;
  ++periodic_irqs_;
  set_irq_flags(kCPf);
  uint32_t p = periodic_ticks();
  if (!p) return;
  next_periodic_tick_ += p;
  SimTime t = base_clock_.time_of(next_periodic_tick_);
  while (base_clock_.ticks_at(t) < next_periodic_tick_) ++t;
  if (t < events_.now()) t = events_.now();
  periodic_event_ = events_.schedule(
      t, [this] { on_periodic(); }, "rtc.periodic");
}

void RtcCmos::on_update() {
  update_event_ = 0;
  ++update_irqs_;
  SimTime now = next_update_;
  uint8_t flags = kCUf;
  fill_time_regs(epoch_at(now));
  auto match = [&](Reg alarm, Reg cur) {
    uint8_t a = ram_[static_cast<int>(alarm)];
    return (a & 0xC0) == 0xC0 || a == ram_[static_cast<int>(cur)];
  };
  if (match(Reg::kSecondsAlarm, Reg::kSeconds) && match(Reg::kMinutesAlarm, Reg::kMinutes) &&
      match(Reg::kHoursAlarm, Reg::kHours)) {
    flags |= kCAf;
    ++alarm_irqs_;
  }
  set_irq_flags(flags);
  next_update_ = now + kPicosPerSecond;
  update_event_ = events_.schedule(
      next_update_, [this] { on_update(); }, "rtc.update");
}

uint32_t RtcCmos::io_read(uint16_t port, unsigned size) {
  if (port == static_cast<uint16_t>(Port::kIndex)) return 0xFF;  // write-only on the PC
  return read_reg(index_);
}

void RtcCmos::io_write(uint16_t port, unsigned size, uint32_t value) {
  uint8_t v = static_cast<uint8_t>(value);
  if (port == static_cast<uint16_t>(Port::kIndex)) {
    index_ = v & 0x7F;
    nmi_disabled_ = v & 0x80;
    return;
  }
  write_reg(index_, v);
}

// ---- save/restore, inspect ----

void RtcCmos::save(StateWriter& w) const {
  w.begin_section("rtc", 1);
  w.bytes("ram", ram_, sizeof ram_);
  w.u8("index", index_);
  w.boolean("nmi_disabled", nmi_disabled_);
  w.u64("base_epoch", static_cast<uint64_t>(base_epoch_));
  w.u64("base_time", base_time_);
  w.u8("flags", flags_);
  w.boolean("irq_level", irq_level_);
  w.u64("next_periodic_tick", next_periodic_tick_);
  w.u64("next_update", next_update_);
  w.u64("periodic_irqs", periodic_irqs_);
  w.u64("update_irqs", update_irqs_);
  w.u64("alarm_irqs", alarm_irqs_);
  w.end_section();
}

void RtcCmos::restore(StateReader& r) {
  if (r.begin_section("rtc") != 1) throw InputError("checkpoint section rtc: unsupported version");
  r.bytes_into("ram", ram_, sizeof ram_);
  index_ = r.u8("index") & 0x7F;
  nmi_disabled_ = r.boolean("nmi_disabled");
  base_epoch_ = static_cast<int64_t>(r.u64("base_epoch"));
  base_time_ = r.u64("base_time");
  flags_ = r.u8("flags");
  irq_level_ = r.boolean("irq_level");
  next_periodic_tick_ = r.u64("next_periodic_tick");
  next_update_ = r.u64("next_update");
  periodic_irqs_ = r.u64("periodic_irqs");
  update_irqs_ = r.u64("update_irqs");
  alarm_irqs_ = r.u64("alarm_irqs");
  r.end_section();
  // Events are not saved: re-create them from the saved next-expiry times.
  if (periodic_event_) events_.cancel(periodic_event_);
  if (update_event_) events_.cancel(update_event_);
  periodic_event_ = update_event_ = 0;
  if (next_periodic_tick_ != ~0ull) {
    SimTime t = base_clock_.time_of(next_periodic_tick_);
    while (base_clock_.ticks_at(t) < next_periodic_tick_) ++t;
    if (t < events_.now()) t = events_.now();
    periodic_event_ = events_.schedule(
        t, [this] { on_periodic(); }, "rtc.periodic");
  }
  if (next_update_ != kNever)
    update_event_ = events_.schedule(
        std::max(next_update_, events_.now()), [this] { on_update(); }, "rtc.update");
}

void RtcCmos::inspect(InspectNode& node) const {
  DateTime d = to_datetime(epoch_at(now_()));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", d.year, d.month, d.day, d.hour,
                d.minute, d.second);
  node.value("time", buf);
  node.counter("periodic_irqs", periodic_irqs_);
  node.counter("update_irqs", update_irqs_);
  node.counter("alarm_irqs", alarm_irqs_);
  node.counter("nmi_disabled", nmi_disabled_);
}

}  // namespace hvsim
