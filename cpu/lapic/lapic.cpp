// Local APIC behaviour (Intel SDM Vol. 3A ch. 10: 10.4 enabling and IA32_APIC_BASE, 10.5
// LVT, error register and timer, 10.6 IPIs, 10.8 interrupt handling: IRR/ISR/TMR, TPR/PPR,
// EOI, 10.9 spurious interrupts, 10.12 x2APIC).
#include "cpu/lapic/lapic.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/state.h"
#include "cpu/lapic/apic_bus.h"
#include "cpu/spec/paging.h"

namespace hvsim::cpu {

using namespace lapic;

Lapic::Lapic(LapicCore& core, ApicBus* bus, const LapicParams& p)
    : core_(core), bus_(bus), params_(p), initial_id_(p.index) {
  reset();
}

Lapic::~Lapic() = default;

void Lapic::reset() {
  id_reg_ = initial_id_ << 24;
  init_reset();
  id_reg_ = initial_id_ << 24;
  inbox_.clear();
  update_wake();
}

void Lapic::init_reset() {
  tpr_ = ldr_ = 0;
  dfr_ = kDfrFlat;
  svr_ = 0xFF;
  for (int i = 0; i < 8; ++i) irr_[i] = isr_[i] = tmr_[i] = 0;
  esr_ = esr_pending_ = 0;
  icr_ = 0;
  for (uint32_t& l : lvt_) l = kLvtMasked;
  // Why: firmware leaves the bootstrap processor in virtual-wire mode, so kernels that only
  // program the 8259 get its interrupts (SDM 10.1, "virtual wire").
  if (initial_id_ == 0) lvt_[kLvtLint0Idx] = static_cast<uint32_t>(DeliveryMode::kExtInt) << 8;
  timer_initial_ = timer_divide_ = 0;
  extint_msg_ = false;
  tsc_deadline_ = 0;
  disarm_timer();
  core_.tpr_written(0);
}

uint32_t Lapic::id() const {
  return x2apic() ? initial_id_ : id_reg_ >> 24;
}
bool Lapic::hw_enabled() const {
  return (core_.apic_base() & kBaseEnable) != 0;
}
bool Lapic::x2apic() const {
  return (core_.apic_base() & (kBaseEnable | kBaseExtd)) == (kBaseEnable | kBaseExtd);
}

bool Lapic::write_apic_base(uint64_t v) {
  uint64_t phys_mask = ((uint64_t{1} << spec::kMaxPhysAddrBits) - 1) & ~0xFFFull;
  if (v & ~(phys_mask | kBaseEnable | kBaseExtd | kBaseBsp)) return false;
  uint64_t old = core_.apic_base();
  bool en = v & kBaseEnable, extd = v & kBaseExtd;
  bool old_en = old & kBaseEnable, old_extd = old & kBaseExtd;
  if (extd && !en) return false;                           // invalid state
  if (old_en && old_extd && en && !extd) return false;     // x2APIC -> xAPIC directly
  if (!old_en && en && extd) return false;                 // disabled -> x2APIC directly
  core_.apic_base() = (v & ~kBaseBsp) | (old & kBaseBsp);  // the BSP flag is read-only
  if (old_en && !en) {
    // Hardware disable: the APIC returns to its power-on state (SDM 10.4.3).
    uint32_t keep_id = id_reg_;
    init_reset();
    lvt_[kLvtLint0Idx] = kLvtMasked;
    id_reg_ = keep_id;
    inbox_.clear();
  }
  if (!old_extd && extd) {
    // x2APIC: the logical id is derived from the APIC id (SDM 10.12.10.2).
    ldr_ = ((initial_id_ >> 4) << 16) | (1u << (initial_id_ & 15));
  }
  update_wake();
  raise_attention();
  return true;
}

bool Lapic::mmio_hit(uint64_t pa) const {
  uint64_t b = core_.apic_base();
  return (b & (kBaseEnable | kBaseExtd)) == kBaseEnable &&
         (pa & ~0xFFFull) == (b & ~0xFFFull & ((uint64_t{1} << spec::kMaxPhysAddrBits) - 1));
}

// ---- registers ----

uint32_t Lapic::ppr() const {
  int isrv = highest(isr_);
  uint32_t isr_class = isrv < 0 ? 0 : static_cast<uint32_t>(isrv) & 0xF0;
  return (tpr_ & 0xF0) >= isr_class ? tpr_ & 0xFF : isr_class;
}

int Lapic::highest(const uint32_t bits[8]) {
  for (int w = 7; w >= 0; --w)
    if (bits[w]) return w * 32 + 31 - __builtin_clz(bits[w]);
  return -1;
}

unsigned Lapic::timer_divisor() const {
  unsigned code = (timer_divide_ & 3) | ((timer_divide_ >> 1) & 4);
  return code == 7 ? 1 : 2u << code;
}

uint32_t Lapic::read_reg(uint32_t off, bool* ok) {
  *ok = true;
  switch (static_cast<Reg>(off)) {
    case Reg::kId: return x2apic() ? initial_id_ : id_reg_;
    case Reg::kVersion: return kVersionValue;
    case Reg::kTpr: return tpr_;
    case Reg::kApr: return 0;
    case Reg::kPpr: return ppr();
    case Reg::kLdr: return ldr_;
    case Reg::kDfr: return dfr_;
    case Reg::kSvr: return svr_;
    case Reg::kEsr: return esr_;
    case Reg::kIcrLow: return static_cast<uint32_t>(icr_);
    case Reg::kIcrHigh: return static_cast<uint32_t>(icr_ >> 32);
    case Reg::kLvtTimer: return lvt_[kLvtTimerIdx];
    case Reg::kLvtThermal: return lvt_[kLvtThermalIdx];
    case Reg::kLvtPerf: return lvt_[kLvtPerfIdx];
    case Reg::kLvtLint0: return lvt_[kLvtLint0Idx];
    case Reg::kLvtLint1: return lvt_[kLvtLint1Idx];
    case Reg::kLvtError: return lvt_[kLvtErrorIdx];
    case Reg::kTimerInitial: return timer_initial_;
    case Reg::kTimerCurrent: return current_count();
    case Reg::kTimerDivide: return timer_divide_;
    default: break;
  }
  if (off >= 0x100 && off < 0x280) {
    unsigned idx = (off - 0x100) >> 4;  // 0-7 ISR, 8-15 TMR, 16-23 IRR
    const uint32_t* bits = idx < 8 ? isr_ : idx < 16 ? tmr_ : irr_;
    return bits[idx & 7];
  }
  *ok = false;
  return 0;
}

bool Lapic::write_reg(uint32_t off, uint64_t v64, bool x2) {
  uint32_t v = static_cast<uint32_t>(v64);
  auto write_lvt = [&](unsigned idx, uint32_t writable) {
    uint32_t nv = v & writable;
    if (!sw_enabled()) nv |= kLvtMasked;
    if (idx == kLvtTimerIdx && ((nv ^ lvt_[idx]) & kLvtTimerModeMask)) {
      // Changing the timer mode disarms the timer (SDM 10.5.4.1).
      lvt_[idx] = (lvt_[idx] & kLvtPending) | nv;
      timer_initial_ = 0;
      tsc_deadline_ = 0;
      disarm_timer();
      return true;
    }
    lvt_[idx] = (lvt_[idx] & (kLvtPending | kLvtRemoteIrr)) | nv;
    if (idx == kLvtLint0Idx || idx == kLvtLint1Idx) raise_attention();
    return true;
  };
  switch (static_cast<Reg>(off)) {
    case Reg::kId:
      if (x2) return false;
      id_reg_ = v & 0xFF000000;
      return true;
    case Reg::kTpr: set_tpr(v & 0xFF); return true;
    case Reg::kEoi: eoi(); return true;
    case Reg::kLdr:
      if (x2) return false;
      ldr_ = v & 0xFF000000;
      return true;
    case Reg::kDfr:
      if (x2) return false;
      dfr_ = v | 0x0FFFFFFF;
      return true;
    case Reg::kSvr:
      svr_ = v & 0x3FF;
      if (!sw_enabled())
        for (uint32_t& l : lvt_) l |= kLvtMasked;
      raise_attention();
      return true;
    case Reg::kEsr:
      esr_ = esr_pending_;
      esr_pending_ = 0;
      return true;
    case Reg::kIcrLow:
      if (x2) {
        icr_ = v64 & (0xFFFFFFFF00000000ull | kIcrLowWritable);
        send_icr(icr_);
      } else {
        icr_ = (icr_ & 0xFFFFFFFF00000000ull) | (v & kIcrLowWritable);
        send_icr(icr_);
      }
      return true;
    case Reg::kIcrHigh:
      if (x2) return false;
      icr_ = (icr_ & 0xFFFFFFFF) | (uint64_t{v & 0xFF000000} << 32);
      return true;
    case Reg::kLvtTimer: return write_lvt(kLvtTimerIdx, 0x700FF);
    case Reg::kLvtThermal: return write_lvt(kLvtThermalIdx, 0x107FF);
    case Reg::kLvtPerf: return write_lvt(kLvtPerfIdx, 0x107FF);
    case Reg::kLvtLint0: return write_lvt(kLvtLint0Idx, 0x1A7FF);
    case Reg::kLvtLint1: return write_lvt(kLvtLint1Idx, 0x1A7FF);
    case Reg::kLvtError: return write_lvt(kLvtErrorIdx, 0x100FF);
    case Reg::kTimerInitial:
      if (timer_mode() == TimerMode::kTscDeadline) return true;  // ignored in that mode
      timer_initial_ = v;
      arm_count_timer();
      return true;
    case Reg::kTimerDivide: {
      // Why: the divisor applies to the running count too; re-aim from the current count.
      uint32_t cur = current_count();
      timer_divide_ = v & 0xB;
      if (timer_deadline_ != ~0ull && timer_mode() != TimerMode::kTscDeadline && cur) {
        timer_deadline_ = core_.cycles() + cycles_for_ticks(uint64_t{cur} * timer_divisor());
        timer_period_ = cycles_for_ticks(uint64_t{timer_initial_} * timer_divisor());
        timer_start_ = timer_deadline_ - timer_period_;
        update_wake();
      }
      return true;
    }
    case Reg::kSelfIpi:
      if (!x2) return false;
      {
        ApicMessage m;
        m.vector = static_cast<uint8_t>(v);
        if (m.vector < 16) {
          signal_error(kEsrSendIllegalVector);
          return true;
        }
        ++ipis_sent_;
        post(m, core_.now());
      }
      return true;
    default: return false;
  }
}

void Lapic::set_tpr(uint32_t v) {
  tpr_ = v & 0xFF;
  core_.tpr_written(tpr_);
  raise_attention();
}

uint64_t Lapic::mmio_read(uint64_t offset, unsigned size) {
  uint32_t reg = static_cast<uint32_t>(offset & 0xFF0);
  bool ok;
  uint32_t v = read_reg(reg, &ok);
  if (!ok || reg == static_cast<uint32_t>(Reg::kSelfIpi)) {
    signal_error(kEsrIllegalRegister);
    v = 0;
  }
  unsigned shift = (offset & 3) * 8;
  if ((offset & 0xF) >= 4) return 0;
  uint64_t r = uint64_t{v} >> shift;
  return size >= 8 ? r : r & ((uint64_t{1} << (8 * size)) - 1);
}

void Lapic::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  // Why: the SDM makes only aligned 32-bit accesses defined; others are dropped.
  if ((offset & 0xF) != 0 || size < 4) return;
  uint32_t reg = static_cast<uint32_t>(offset & 0xFF0);
  if (reg == static_cast<uint32_t>(Reg::kSelfIpi) || !write_reg(reg, value & 0xFFFFFFFF, false)) {
    bool ok;
    read_reg(reg, &ok);
    if (!ok) signal_error(kEsrIllegalRegister);  // read-only registers ignore writes quietly
  }
}

bool Lapic::read_msr(uint32_t msr, uint64_t* v) {
  if (msr == kMsrTscDeadline) {
    *v = timer_mode() == TimerMode::kTscDeadline && timer_deadline_ != ~0ull ? tsc_deadline_ : 0;
    return true;
  }
  if (!x2apic()) return false;
  uint32_t off = (msr - kX2ApicMsrFirst) << 4;
  switch (static_cast<Reg>(off)) {
    case Reg::kEoi:
    case Reg::kSelfIpi:
    case Reg::kApr:
    case Reg::kRrd:
    case Reg::kDfr:
    case Reg::kIcrHigh:
    case Reg::kLvtCmci: return false;
    case Reg::kIcrLow: *v = icr_; return true;
    default: break;
  }
  bool ok;
  *v = read_reg(off, &ok);
  return ok;
}

bool Lapic::write_msr(uint32_t msr, uint64_t v) {
  if (msr == kMsrTscDeadline) {
    if (timer_mode() != TimerMode::kTscDeadline) return true;  // ignored (SDM 10.5.4.1)
    tsc_deadline_ = v;
    if (v == 0) {
      disarm_timer();
    } else {
      uint64_t now_tsc = core_.tsc();
      timer_deadline_ = v <= now_tsc ? core_.cycles() : core_.cycles() + (v - now_tsc);
      update_wake();
    }
    return true;
  }
  if (!x2apic()) return false;
  uint32_t off = (msr - kX2ApicMsrFirst) << 4;
  // Read-only, reserved and reserved-bit checks of SDM 10.12.1.2 (#GP).
  switch (static_cast<Reg>(off)) {
    case Reg::kTpr:
      if (v >> 8) return false;
      break;
    case Reg::kEoi:
      if (v != 0) return false;
      break;
    case Reg::kSvr:
      if (v >> 10) return false;
      break;
    case Reg::kEsr:
      if (v != 0) return false;
      break;
    case Reg::kIcrLow:
      if (v & 0xFFF33000ull) return false;  // reserved bits 13, 16-17, 20-31
      break;
    case Reg::kTimerInitial:
    case Reg::kSelfIpi:
      if (v >> 32) return false;
      if (static_cast<Reg>(off) == Reg::kSelfIpi && (v >> 8)) return false;
      break;
    case Reg::kTimerDivide:
      if (v & ~0xBull) return false;
      break;
    case Reg::kLvtTimer:
    case Reg::kLvtThermal:
    case Reg::kLvtPerf:
    case Reg::kLvtLint0:
    case Reg::kLvtLint1:
    case Reg::kLvtError:
      if (v >> 32) return false;
      break;
    default: break;
  }
  return write_reg(off, v, true);
}

// ---- errors, LVT, EOI ----

void Lapic::signal_error(uint32_t esr_bit) {
  ++errors_;
  bool fresh = !(esr_pending_ & esr_bit);
  esr_pending_ |= esr_bit;
  if (fresh) raise_lvt(lvt_[kLvtErrorIdx], false);
}

/// Delivers a local interrupt from an LVT entry (fixed or NMI delivery).
void Lapic::raise_lvt(uint32_t entry, bool edge_only) {
  if (entry & kLvtMasked) return;
  auto mode = static_cast<DeliveryMode>((entry >> 8) & 7);
  ApicMessage m;
  m.mode = mode;
  m.vector = static_cast<uint8_t>(entry & kLvtVector);
  if (mode == DeliveryMode::kExtInt) return;  // level-sensed through extint_asserted()
  accept(m);
}

void Lapic::eoi() {
  int v = highest(isr_);
  if (v < 0) return;
  ++eois_;
  set_bit(isr_, static_cast<uint8_t>(v), false);
  if (tmr_[v >> 5] >> (v & 31) & 1) {
    set_bit(tmr_, static_cast<uint8_t>(v), false);
    if (bus_) bus_->broadcast_eoi(static_cast<uint8_t>(v));
  }
  raise_attention();
}

// ---- IPIs ----

void Lapic::send_icr(uint64_t icr) {
  ApicMessage m;
  m.vector = static_cast<uint8_t>(icr & 0xFF);
  m.mode = static_cast<DeliveryMode>((icr >> 8) & 7);
  m.level_triggered = icr & kIcrLevel;
  m.assert_level = icr & kIcrAssert;
  ApicDestination d;
  d.logical = icr & kIcrDestLogical;
  d.shorthand = static_cast<Shorthand>((icr >> kIcrShorthandShift) & 3);
  d.x2apic_format = x2apic();
  d.dest = x2apic() ? static_cast<uint32_t>(icr >> 32) : static_cast<uint32_t>(icr >> 56);
  switch (m.mode) {
    case DeliveryMode::kFixed:
    case DeliveryMode::kLowestPriority:
      // Fixed interrupts are edge-triggered unless the ICR says level (for IPIs it never
      // matters: no IOAPIC listens for their EOI).
      m.level_triggered = false;
      if (m.vector < 16) {
        signal_error(kEsrSendIllegalVector);
        return;
      }
      break;
    case DeliveryMode::kInit:
      // INIT level de-assert (level=0, trigger=level) only resynchronizes arbitration ids.
      if (!m.assert_level && (icr & kIcrLevel)) {
        ++ipis_sent_;
        return;
      }
      m.assert_level = true;
      break;
    case DeliveryMode::kNmi:
    case DeliveryMode::kStartUp:
    case DeliveryMode::kSmi: break;
    default: return;  // ExtINT and reserved modes are not valid in the ICR
  }
  if (bus_) {
    bus_->send(m, d, this, core_.now());
  } else if (d.shorthand == Shorthand::kSelf || d.shorthand == Shorthand::kAllIncludingSelf ||
             (d.shorthand == Shorthand::kNone && matches(d))) {
    ++ipis_sent_;
    post(m, core_.now());
  }
}

bool Lapic::matches(const ApicDestination& d) const {
  if (!hw_enabled()) return false;
  if (!d.logical) {
    if (d.x2apic_format) return d.dest == 0xFFFFFFFF || d.dest == id();
    uint32_t dest = d.dest & 0xFF;
    return dest == 0xFF || dest == (x2apic() ? initial_id_ : id_reg_ >> 24);
  }
  if (x2apic()) {
    if (d.dest == 0xFFFFFFFF) return true;
    return (d.dest >> 16) == (ldr_ >> 16) && (d.dest & ldr_ & 0xFFFF) != 0;
  }
  uint32_t dest = d.dest & 0xFF;
  if (dest == 0xFF) return true;
  uint32_t logical = ldr_ >> 24;
  if ((dfr_ >> 28) == 0xF) return (logical & dest) != 0;                // flat model
  return (dest >> 4) == (logical >> 4) && (dest & logical & 0xF) != 0;  // cluster model
}

void Lapic::post(const ApicMessage& m, SimTime at) {
  if (!hw_enabled()) {
    ++dropped_;
    return;
  }
  // The first cycle whose time is at or after `at`.
  uint64_t c = core_.first_cycle_at(at);
  auto pos = inbox_.end();
  while (pos != inbox_.begin() && (pos - 1)->at_cycle > c) --pos;
  inbox_.insert(pos, Inbound{c, m});
  update_wake();
  if (c <= core_.cycles()) raise_attention();
}

void Lapic::accept(const ApicMessage& m) {
  ++messages_received_;
  switch (m.mode) {
    case DeliveryMode::kFixed:
    case DeliveryMode::kLowestPriority:
      if (!sw_enabled()) {
        ++dropped_;
        return;
      }
      if (m.vector < 16) {
        signal_error(kEsrReceiveIllegalVector);
        return;
      }
      set_bit(irr_, m.vector, true);
      set_bit(tmr_, m.vector, m.level_triggered);
      break;
    case DeliveryMode::kNmi: core_.irq().nmi_pending = true; break;
    case DeliveryMode::kInit:
      if (m.assert_level) core_.irq().init_pending = true;
      break;
    case DeliveryMode::kStartUp:
      if (core_.waiting_for_sipi() && core_.irq().sipi_vector < 0)
        core_.irq().sipi_vector = m.vector;
      break;
    case DeliveryMode::kExtInt: extint_msg_ = true; break;
    default: ++dropped_; return;  // SMI: no system-management mode
  }
  raise_attention();
}

void Lapic::set_lint(unsigned pin, bool level) {
  if (pin > 1 || lint_level_[pin] == level) return;
  lint_level_[pin] = level;
  uint32_t entry = lvt_[pin ? kLvtLint1Idx : kLvtLint0Idx];
  auto mode = static_cast<DeliveryMode>((entry >> 8) & 7);
  if (mode == DeliveryMode::kExtInt) {
    raise_attention();
    return;
  }
  bool active = (entry & kLvtLevelLow) ? !level : level;
  if (active && hw_enabled()) raise_lvt(entry, true);
}

bool Lapic::extint_asserted() const {
  if (extint_msg_) return true;
  if (!lint_level_[0]) return false;
  if (!hw_enabled()) return true;  // no APIC in the way: INTR goes straight to the core
  uint32_t e = lvt_[kLvtLint0Idx];
  return !(e & kLvtMasked) && static_cast<DeliveryMode>((e >> 8) & 7) == DeliveryMode::kExtInt;
}

// ---- processor side ----

bool Lapic::intr_pending() const {
  if (extint_asserted()) return true;
  int v = highest(irr_);
  return v >= 0 && (static_cast<uint32_t>(v) & 0xF0) > (ppr() & 0xF0);
}

int Lapic::acknowledge() {
  if (extint_asserted()) {
    extint_msg_ = false;
    ++extint_acks_;
    ++core_.irq().extints;
    if (!extint_ack_) return -1;
    return extint_ack_();
  }
  int v = highest(irr_);
  if (v < 0 || (static_cast<uint32_t>(v) & 0xF0) <= (ppr() & 0xF0)) return -1;
  set_bit(irr_, static_cast<uint8_t>(v), false);
  set_bit(isr_, static_cast<uint8_t>(v), true);
  return v;
}

void Lapic::poll() {
  uint64_t now = core_.cycles();
  if (timer_deadline_ <= now) timer_expired();
  size_t n = 0;
  while (n < inbox_.size() && inbox_[n].at_cycle <= now) ++n;
  if (n) {
    std::vector<Inbound> due(inbox_.begin(), inbox_.begin() + n);
    inbox_.erase(inbox_.begin(), inbox_.begin() + n);
    for (const Inbound& in : due) accept(in.msg);
  }
  update_wake();
}

uint64_t Lapic::wake_cycle() const {
  uint64_t w = timer_deadline_;
  if (!inbox_.empty() && inbox_.front().at_cycle < w) w = inbox_.front().at_cycle;
  return w;
}

void Lapic::update_wake() {
  core_.wake_changed(wake_cycle());
}

void Lapic::raise_attention() {
  core_.raise_attention();
}

// ---- timer ----

uint64_t Lapic::cycles_for_ticks(uint64_t ticks) const {
  unsigned __int128 num = static_cast<unsigned __int128>(ticks) * params_.freq_hz;
  uint64_t hz = params_.timer_hz;
  uint64_t c = static_cast<uint64_t>((num + hz - 1) / hz);
  return c ? c : 1;
}

uint64_t Lapic::ticks_for_cycles(uint64_t cycles) const {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(cycles) * params_.timer_hz /
                               params_.freq_hz);
}

void Lapic::arm_count_timer() {
  if (timer_initial_ == 0) {
    disarm_timer();
    return;
  }
  timer_start_ = core_.cycles();
  timer_period_ = cycles_for_ticks(uint64_t{timer_initial_} * timer_divisor());
  timer_deadline_ = timer_start_ + timer_period_;
  update_wake();
}

void Lapic::disarm_timer() {
  timer_deadline_ = ~0ull;
  update_wake();
}

void Lapic::tsc_changed() {
  if (timer_mode() == TimerMode::kTscDeadline && timer_deadline_ != ~0ull) {
    uint64_t now_tsc = core_.tsc();
    timer_deadline_ =
        tsc_deadline_ <= now_tsc ? core_.cycles() : core_.cycles() + (tsc_deadline_ - now_tsc);
    update_wake();
  }
}

uint32_t Lapic::current_count() const {
  if (timer_deadline_ == ~0ull || timer_mode() == TimerMode::kTscDeadline) return 0;
  uint64_t now = core_.cycles();
  if (now >= timer_deadline_) return timer_mode() == TimerMode::kPeriodic ? timer_initial_ : 0;
  uint64_t elapsed = ticks_for_cycles(now - timer_start_) / timer_divisor();
  return elapsed >= timer_initial_ ? 0 : static_cast<uint32_t>(timer_initial_ - elapsed);
}

void Lapic::timer_expired() {
  ++timer_expiries_;
  uint64_t now = core_.cycles();
  if (timer_mode() == TimerMode::kPeriodic && timer_period_) {
    // Expiries missed while the processor was busy coalesce into one interrupt.
    uint64_t n = (now - timer_deadline_) / timer_period_;
    timer_start_ = timer_deadline_ + n * timer_period_;
    timer_deadline_ = timer_start_ + timer_period_;
  } else {
    timer_deadline_ = ~0ull;
    if (timer_mode() == TimerMode::kTscDeadline) tsc_deadline_ = 0;
  }
  if (hw_enabled()) raise_lvt(lvt_[kLvtTimerIdx] & ~(7u << 8), false);  // always fixed
  update_wake();
}

// ---- save/restore, inspect, hash ----

namespace {
template <typename W>
void words(W&& f, const char* name, uint32_t* bits) {
  for (int i = 0; i < 8; ++i) f((std::string(name) + std::to_string(i)).c_str(), bits[i]);
}
}  // namespace

void Lapic::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section.empty() ? "lapic" + std::to_string(initial_id_) : section, 1);
  w.u32("id", id_reg_);
  w.u32("tpr", tpr_);
  w.u32("ldr", ldr_);
  w.u32("dfr", dfr_);
  w.u32("svr", svr_);
  Lapic& self = const_cast<Lapic&>(*this);
  auto put = [&](const char* n, uint32_t& v) { w.u32(n, v); };
  words(put, "irr", self.irr_);
  words(put, "isr", self.isr_);
  words(put, "tmr", self.tmr_);
  w.u32("esr", esr_);
  w.u32("esr_pending", esr_pending_);
  w.u64("icr", icr_);
  for (unsigned i = 0; i < kNumLvt; ++i) w.u32("lvt" + std::to_string(i), lvt_[i]);
  w.u32("timer_initial", timer_initial_);
  w.u32("timer_divide", timer_divide_);
  w.boolean("lint0", lint_level_[0]);
  w.boolean("lint1", lint_level_[1]);
  w.boolean("extint_msg", extint_msg_);
  w.u64("timer_start", timer_start_);
  w.u64("timer_period", timer_period_);
  w.u64("timer_deadline", timer_deadline_);
  w.u64("tsc_deadline", tsc_deadline_);
  std::vector<uint8_t> box;
  for (const Inbound& in : inbox_) {
    uint8_t rec[12];
    std::memcpy(rec, &in.at_cycle, 8);
    rec[8] = static_cast<uint8_t>(in.msg.mode);
    rec[9] = in.msg.vector;
    rec[10] = in.msg.level_triggered;
    rec[11] = in.msg.assert_level;
    box.insert(box.end(), rec, rec + 12);
  }
  w.bytes("inbox", box.data(), box.size());
  const CoreInterruptState& q = core_.irq();
  w.boolean("nmi_pending", q.nmi_pending);
  w.boolean("nmi_blocked", q.nmi_blocked);
  w.boolean("init_pending", q.init_pending);
  w.u32("sipi_vector", static_cast<uint32_t>(static_cast<int32_t>(q.sipi_vector)));
  w.bytes("by_vector", q.by_vector, sizeof q.by_vector);
  w.u64("nmis", q.nmis);
  w.u64("extints", q.extints);
  w.u64("inits", q.inits);
  w.u64("sipis", q.sipis);
  w.u64("ipis_sent", ipis_sent_);
  w.u64("messages_received", messages_received_);
  w.u64("timer_expiries", timer_expiries_);
  w.u64("eois", eois_);
  w.u64("errors", errors_);
  w.u64("dropped", dropped_);
  w.u64("extint_acks", extint_acks_);
  w.end_section();
}

void Lapic::restore(StateReader& r, const std::string& section) {
  std::string name = section.empty() ? "lapic" + std::to_string(initial_id_) : section;
  if (r.begin_section(name) != 1)
    throw InputError("checkpoint section " + name + ": unsupported version");
  id_reg_ = r.u32("id");
  tpr_ = r.u32("tpr");
  ldr_ = r.u32("ldr");
  dfr_ = r.u32("dfr");
  svr_ = r.u32("svr");
  auto get = [&](const char* n, uint32_t& v) { v = r.u32(n); };
  words(get, "irr", irr_);
  words(get, "isr", isr_);
  words(get, "tmr", tmr_);
  esr_ = r.u32("esr");
  esr_pending_ = r.u32("esr_pending");
  icr_ = r.u64("icr");
  for (unsigned i = 0; i < kNumLvt; ++i) lvt_[i] = r.u32("lvt" + std::to_string(i));
  timer_initial_ = r.u32("timer_initial");
  timer_divide_ = r.u32("timer_divide");
  lint_level_[0] = r.boolean("lint0");
  lint_level_[1] = r.boolean("lint1");
  extint_msg_ = r.boolean("extint_msg");
  timer_start_ = r.u64("timer_start");
  timer_period_ = r.u64("timer_period");
  timer_deadline_ = r.u64("timer_deadline");
  tsc_deadline_ = r.u64("tsc_deadline");
  std::vector<uint8_t> box = r.bytes("inbox");
  if (box.size() % 12) throw InputError("checkpoint section " + name + ": bad inbox");
  inbox_.clear();
  for (size_t i = 0; i < box.size(); i += 12) {
    Inbound in;
    std::memcpy(&in.at_cycle, &box[i], 8);
    in.msg.mode = static_cast<DeliveryMode>(box[i + 8] & 7);
    in.msg.vector = box[i + 9];
    in.msg.level_triggered = box[i + 10];
    in.msg.assert_level = box[i + 11];
    inbox_.push_back(in);
  }
  CoreInterruptState& q = core_.irq();
  q.nmi_pending = r.boolean("nmi_pending");
  q.nmi_blocked = r.boolean("nmi_blocked");
  q.init_pending = r.boolean("init_pending");
  q.sipi_vector = static_cast<int16_t>(static_cast<int32_t>(r.u32("sipi_vector")));
  r.bytes_into("by_vector", q.by_vector, sizeof q.by_vector);
  q.nmis = r.u64("nmis");
  q.extints = r.u64("extints");
  q.inits = r.u64("inits");
  q.sipis = r.u64("sipis");
  ipis_sent_ = r.u64("ipis_sent");
  messages_received_ = r.u64("messages_received");
  timer_expiries_ = r.u64("timer_expiries");
  eois_ = r.u64("eois");
  errors_ = r.u64("errors");
  dropped_ = r.u64("dropped");
  extint_acks_ = r.u64("extint_acks");
  r.end_section();
  update_wake();
  raise_attention();
}

void Lapic::inspect(InspectNode& node) const {
  node.value("mode", !hw_enabled() ? "disabled" : x2apic() ? "x2apic" : "xapic");
  node.counter("id", id());
  node.counter("software_enabled", sw_enabled());
  node.counter("tpr", tpr_);
  node.counter("ppr", ppr());
  node.value("timer_mode", to_string(timer_mode()));
  node.counter("timer_armed", timer_deadline_ != ~0ull);
  node.counter("timer_expiries", timer_expiries_);
  node.counter("ipis_sent", ipis_sent_);
  node.counter("messages_received", messages_received_);
  node.counter("eois", eois_);
  node.counter("errors", errors_);
  node.counter("dropped", dropped_);
  node.counter("extint_acks", extint_acks_);
  node.counter("queued", inbox_.size());
}

void Lapic::hash_into(Hasher& h) const {
  h.u64(id_reg_);
  h.u64(tpr_);
  h.u64(ldr_);
  h.u64(svr_);
  for (int i = 0; i < 8; ++i) {
    h.u64(irr_[i]);
    h.u64(isr_[i]);
  }
  for (uint32_t l : lvt_) h.u64(l);
  h.u64(timer_initial_);
  h.u64(timer_deadline_);
  h.u64(inbox_.size());
}

}  // namespace hvsim::cpu
