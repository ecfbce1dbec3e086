// The local APIC of one processor and the processor core's interrupt inputs (Intel SDM
// Vol. 3A ch. 10 "Advanced Programmable Interrupt Controller (APIC)", 6.7 NMI handling,
// 6.8.3 interrupt shadows, 9.4 multiple-processor initialization).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/time.h"
#include "cpu/lapic/spec/regs.h"

namespace hvsim {
class StateWriter;
class StateReader;
class InspectNode;
class Hasher;
}  // namespace hvsim

namespace hvsim::cpu {

class ApicBus;

/// An interrupt message between APICs: an IPI from an ICR, an IOAPIC redirection entry,
/// or an MSI.
struct ApicMessage {
  lapic::DeliveryMode mode = lapic::DeliveryMode::kFixed;
  uint8_t vector = 0;
  bool level_triggered = false;  ///< sets the TMR bit; EOI is then broadcast to IOAPICs
  bool assert_level = true;      ///< false only for the INIT level de-assert message
};

/// Where a message goes. `dest` is an APIC id (physical) or a logical mask; 8 bits for an
/// xAPIC or IOAPIC sender, 32 bits for an x2APIC sender (`x2apic_format`).
struct ApicDestination {
  uint32_t dest = 0;
  bool logical = false;
  bool x2apic_format = false;
  lapic::Shorthand shorthand = lapic::Shorthand::kNone;
};

/// The processor core's interrupt inputs beside INTR (which the LAPIC holds): NMI, INIT,
/// SIPI, NMI blocking and counters (the STI / MOV SS shadow is ArchState::interruptibility).
/// Serviced at instruction boundaries by CpuImpl::service_attention.
struct CoreInterruptState {
  bool nmi_pending = false;
  bool nmi_blocked = false;   ///< from NMI delivery until the next IRET (SDM 6.7.1)
  bool init_pending = false;  ///< INIT asserted, processed at the next boundary
  int16_t sipi_vector = -1;   ///< a start-up IPI received in wait-for-SIPI state
  // statistics
  uint64_t by_vector[256] = {};  ///< external interrupts and NMIs delivered, by vector
  uint64_t nmis = 0, extints = 0, inits = 0, sipis = 0;
};

/// The processor a local APIC belongs to (SDM 10.4: one per core): the physical CPU
/// (CpuImpl), or in hypervisor mode a virtual processor whose LAPIC the hypervisor
/// emulates (hv/virtual_lapic.h). The LAPIC keeps its timer deadlines and message times in
/// this processor's cycles.
class LapicCore {
 public:
  virtual ~LapicCore() = default;
  /// The processor's cycle count now.
  virtual uint64_t cycles() const = 0;
  /// The time-stamp counter as software reads it now (IA32_TSC_DEADLINE compares it).
  virtual uint64_t tsc() const = 0;
  /// Simulated time now, and the first cycle whose time is at or after `at`.
  virtual SimTime now() const = 0;
  virtual uint64_t first_cycle_at(SimTime at) const = 0;
  /// IA32_APIC_BASE: the processor's MSR, which the LAPIC reads and writes.
  virtual uint64_t& apic_base() = 0;
  /// The TPR changed (CR8 reads TPR[7:4], SDM 10.8.6.1).
  virtual void tpr_written(uint32_t tpr) = 0;
  /// The core's NMI, INIT and SIPI latches (and interrupt statistics).
  virtual CoreInterruptState& irq() = 0;
  /// True in wait-for-SIPI state (only then is a SIPI latched).
  virtual bool waiting_for_sipi() const = 0;
  /// The earliest cycle at which poll() has work changed (~0: none).
  virtual void wake_changed(uint64_t cycle) = 0;
  /// The next instruction boundary must look at the LAPIC (poll, intr_pending).
  virtual void raise_attention() = 0;
};

/// The clocks and identity of a LAPIC.
struct LapicParams {
  uint32_t index = 0;     ///< initial APIC id; 0 is the bootstrap processor
  uint64_t freq_hz = 1;   ///< the processor's clock (cycles per second)
  uint64_t timer_hz = 1;  ///< the timer's input clock before the divider
};

/// One processor's local APIC in xAPIC (MMIO page at IA32_APIC_BASE) or x2APIC (MSRs
/// 0x800-0x8FF) mode. Owned by its processor (CpuImpl, or a virtual processor in hv/), which
/// calls poll() at instruction boundaries when attention is raised, and acknowledge() when
/// it accepts INTR.
///
/// Timer: counts at `timer_hz` (CpuParams::apic_timer_hz, 1 GHz by default) divided by
/// the divide configuration; deadlines are kept in the processor's cycles, so expiry is
/// exact to the instruction boundary (see docs/architecture.md "Interrupts").
class Lapic {
 public:
  Lapic(LapicCore& core, ApicBus* bus, const LapicParams& p);
  ~Lapic();

  /// Power-on state (SDM 10.4.7.1). The bootstrap processor's LINT0 comes out as ExtINT,
  /// unmasked: the virtual-wire setup firmware leaves for PIC-only kernels.
  void reset();
  /// INIT (SDM 10.4.7.3): like reset, but the APIC id is kept.
  void init_reset();

  /// The initial APIC id (the processor index).
  uint32_t initial_id() const { return initial_id_; }
  /// The id used for physical destinations: xAPIC ID register bits 31:24 or the x2APIC id.
  uint32_t id() const;
  bool hw_enabled() const;
  bool x2apic() const;
  bool sw_enabled() const { return (svr_ & lapic::kSvrEnable) != 0; }

  // ---- processor side ----
  /// WRMSR IA32_APIC_BASE: the mode transitions of SDM 10.12.5; false = #GP.
  bool write_apic_base(uint64_t v);
  /// True if physical address `pa` falls in this LAPIC's xAPIC page (xAPIC mode only).
  bool mmio_hit(uint64_t pa) const;
  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);
  /// True for the MSRs this LAPIC decodes (x2APIC range, IA32_TSC_DEADLINE).
  static bool is_msr(uint32_t msr) {
    return (msr >= lapic::kX2ApicMsrFirst && msr <= lapic::kX2ApicMsrLast) ||
           msr == lapic::kMsrTscDeadline;
  }
  /// RDMSR/WRMSR of those MSRs; false = #GP.
  bool read_msr(uint32_t msr, uint64_t* v);
  bool write_msr(uint32_t msr, uint64_t v);
  /// CR8 reads and writes (TPR bits 7:4).
  uint8_t tpr() const { return static_cast<uint8_t>(tpr_); }
  void set_tpr(uint32_t v);
  /// The TSC offset changed (WRMSR IA32_TIME_STAMP_COUNTER): re-aims a TSC deadline.
  void tsc_changed();

  /// Instruction-boundary work: timer expiry and messages due by the processor's cycle count.
  void poll();
  /// True if INTR is asserted: an ExtINT is pending, or the highest IRR vector's priority
  /// class is above the PPR's.
  bool intr_pending() const;
  /// INTA: returns the vector to deliver (moving it from IRR to ISR, or asking the 8259
  /// for an ExtINT) or -1 if nothing is deliverable any more.
  int acknowledge();
  /// True if `vector` is in service (its ISR bit is set).
  bool in_service(uint8_t vector) const { return (isr_[vector >> 5] >> (vector & 31)) & 1; }
  /// End of interrupt (a write to the EOI register): the highest in-service vector retires.
  void eoi();
  /// The earliest cycle at which poll() has work (timer deadline, message due); ~0 if none.
  uint64_t wake_cycle() const;
  /// The cycle at which the first queued message is due; ~0 if none.
  uint64_t message_cycle() const { return inbox_.empty() ? ~0ull : inbox_.front().at_cycle; }
  /// True if an interrupt message is queued (not yet due).
  bool has_queued() const { return !inbox_.empty(); }
  /// True if the timer is armed and its LVT entry unmasked.
  bool timer_can_fire() const {
    return timer_deadline_ != ~0ull && !(lvt_[kLvtTimerIdx] & lapic::kLvtMasked);
  }

  // ---- machine side ----
  /// Sets the level of LINT0/LINT1 (pin 0/1). LINT0 usually carries the 8259's INTR.
  void set_lint(unsigned pin, bool level);
  /// The 8259's interrupt-acknowledge cycle, used for ExtINT: returns the vector.
  void set_extint_ack(std::function<uint8_t()> ack) { extint_ack_ = std::move(ack); }
  /// Queues a message from the APIC bus, sent at simulated time `at`. It takes effect at
  /// this processor's first instruction boundary at or after `at`.
  void post(const ApicMessage& m, SimTime at);
  /// True if this LAPIC is a target of `d` (shorthand handled by the bus).
  bool matches(const ApicDestination& d) const;
  /// Records a message sent (for the statistics; called by the bus).
  void count_sent() { ++ipis_sent_; }

  /// `section`: the checkpoint section's name; empty: "lapic<initial id>" (a virtual
  /// processor's LAPIC passes a name of its own so as not to collide with the physical ones).
  void save(StateWriter& w, const std::string& section = {}) const;
  void restore(StateReader& r, const std::string& section = {});
  void inspect(InspectNode& node) const;
  void hash_into(Hasher& h) const;

 private:
  struct Inbound {
    uint64_t at_cycle;
    ApicMessage msg;
  };
  uint32_t read_reg(uint32_t off, bool* ok);
  /// Writes a register; false if `off` is not a writable register.
  bool write_reg(uint32_t off, uint64_t v, bool x2);
  void accept(const ApicMessage& m);
  void send_icr(uint64_t icr);
  void signal_error(uint32_t esr_bit);
  void raise_lvt(uint32_t lvt, bool edge_only);
  uint32_t ppr() const;
  static int highest(const uint32_t bits[8]);
  static void set_bit(uint32_t bits[8], uint8_t v, bool on) {
    if (on)
      bits[v >> 5] |= 1u << (v & 31);
    else
      bits[v >> 5] &= ~(1u << (v & 31));
  }
  bool extint_asserted() const;
  uint32_t& lvt(unsigned i) { return lvt_[i]; }
  unsigned timer_divisor() const;
  lapic::TimerMode timer_mode() const {
    return static_cast<lapic::TimerMode>((lvt_[kLvtTimerIdx] >> lapic::kLvtTimerModeShift) & 3);
  }
  uint64_t cycles_for_ticks(uint64_t ticks) const;
  uint64_t ticks_for_cycles(uint64_t cycles) const;
  void arm_count_timer();
  void disarm_timer();
  void timer_expired();
  uint32_t current_count() const;
  void update_wake();
  void raise_attention();

  static constexpr unsigned kLvtTimerIdx = 0, kLvtThermalIdx = 1, kLvtPerfIdx = 2, kLvtLint0Idx = 3,
                            kLvtLint1Idx = 4, kLvtErrorIdx = 5, kNumLvt = 6;

  LapicCore& core_;
  ApicBus* bus_;
  LapicParams params_;
  uint32_t initial_id_;
  std::function<uint8_t()> extint_ack_;

  // registers
  uint32_t id_reg_ = 0;  ///< xAPIC ID register (bits 31:24)
  uint32_t tpr_ = 0, ldr_ = 0, dfr_ = lapic::kDfrFlat, svr_ = 0xFF;
  uint32_t irr_[8] = {}, isr_[8] = {}, tmr_[8] = {};
  uint32_t esr_ = 0, esr_pending_ = 0;
  uint64_t icr_ = 0;
  uint32_t lvt_[kNumLvt] = {};
  uint32_t timer_initial_ = 0, timer_divide_ = 0;
  bool lint_level_[2] = {false, false};
  bool extint_msg_ = false;  ///< an ExtINT message (IOAPIC) waiting for acknowledge

  // timer, in the processor's cycles
  uint64_t timer_start_ = 0;         ///< cycle the current period began
  uint64_t timer_period_ = 0;        ///< cycles per period (count modes)
  uint64_t timer_deadline_ = ~0ull;  ///< cycle of the next expiry; ~0 = not armed
  uint64_t tsc_deadline_ = 0;        ///< IA32_TSC_DEADLINE as written (0 = disarmed)

  std::vector<Inbound> inbox_;  ///< ordered by at_cycle, then arrival

  // statistics
  uint64_t ipis_sent_ = 0, messages_received_ = 0, timer_expiries_ = 0, eois_ = 0;
  uint64_t errors_ = 0, dropped_ = 0, extint_acks_ = 0;
};

}  // namespace hvsim::cpu
