// The synthetic interrupt controller (SynIC) of one virtual processor (TLFS
// inter-partition-communication.md; dossier shared/spec/hyperv-interfaces.md §4): the MSRs
// SCONTROL, SVERSION, SIEFP, SIMP, EOM and SINT0-15 with their validity rules, the message
// page (16 slots of 256 bytes, §4.1) and the event-flags page (16 bitmaps of 2048 flags, §4.4),
// message queues with MessagePending and EOM redelivery (§4.5), and the dedicated message
// buffers of the four synthetic timers.
//
// The two pages are hypervisor-owned system pages that the hypervisor overlays at the guest's
// GPFNs while SIMP/SIEFP are enabled (read/write for the guest, TLFS "SIM page"); this class
// only reads and writes them in simulated memory. Raising a SINT is a call of `hooks.raise`,
// so the model runs without a processor in its unit tests.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "hv/spec/tlfs.h"

namespace hvsim {
class PhysicalMemory;
class InspectNode;
class Hasher;
class StateWriter;
class StateReader;
}  // namespace hvsim

namespace hvsim::hv {

/// What the SynIC needs from the virtual processor around it.
struct SynicHooks {
  /// Asks the VP's interrupt controller for a fixed, edge-triggered interrupt on `vector`;
  /// auto_eoi: the SINT's AutoEOI flag (the controller EOIs it at delivery). Dossier §4.6.
  std::function<void(uint8_t vector, bool auto_eoi)> raise;
  /// The partition's reference time now (100 ns units): DeliveryTime of timer messages.
  std::function<uint64_t()> now;
};

class Synic {
 public:
  /// message_page, event_flags_page: system addresses of two zeroed hypervisor-owned pages
  /// that hold the SIM and SIEF pages. polling_available: SINTx.Polling may be set
  /// (CPUID 0x40000003.EDX bit 17).
  Synic(PhysicalMemory& mem, uint64_t message_page, uint64_t event_flags_page, SynicHooks hooks,
        bool polling_available);

  /// Whether `msr` is one of SCONTROL..EOM or SINT0-15 (SIRBP is not offered: #GP).
  static bool is_synic_msr(uint32_t msr);
  /// RDMSR: false means #GP(0).
  bool read_msr(uint32_t msr, uint64_t* value) const;
  /// WRMSR: false means #GP(0) and nothing changed. The caller moves the overlays when
  /// simp()/siefp() changed (Hypervisor::set_overlay).
  bool write_msr(uint32_t msr, uint64_t value);

  uint64_t scontrol() const { return scontrol_; }
  uint64_t simp() const { return simp_; }
  uint64_t siefp() const { return siefp_; }
  uint64_t sint(unsigned x) const { return sint_[x]; }
  uint64_t message_page() const { return message_page_; }
  uint64_t event_flags_page() const { return event_flags_page_; }

  /// Queues a message for SINTx and delivers it if slot x is free (TLFS "Messages"): the
  /// header's type, payload size and sender are kept, its flags cleared. `pool` names the
  /// guest-message-buffer pool (a port; 0 for the host API): at most 16 undelivered messages
  /// per pool and SINT (TLFS "Guest Message Buffers"). Statuses: INVALID_SYNIC_STATE (SynIC
  /// or SIM page disabled), INSUFFICIENT_BUFFERS, INVALID_PARAMETER (x > 15), else SUCCESS.
  spec::HvStatus post_message(unsigned sint, const spec::HvMessage& msg, uint32_t pool);
  /// Sets flag `flag` of SINTx's bitmap and raises SINTx if it was clear (TLFS "Event Flag
  /// Delivery"). INVALID_SYNIC_STATE if the SynIC or SIEF page is disabled or SINTx masked;
  /// INVALID_PARAMETER if x > 15 or flag >= 2048.
  spec::HvStatus signal_event(unsigned sint, unsigned flag);
  /// The dedicated message buffer of synthetic timer `timer` (TLFS "Message Sources"): queues
  /// a TimerExpired message for SINTx with ExpirationTime `expiration`; its DeliveryTime is
  /// the reference time when it reaches the slot. False (nothing queued) while the timer's
  /// previous message is still undelivered.
  bool post_timer_message(unsigned timer, unsigned sint, uint64_t expiration);
  bool timer_message_pending(unsigned timer) const { return timer_msg_[timer].busy; }
  /// The guest's EOI to its local APIC: like EOM, a moment to retry delivery into freed
  /// slots (TLFS "Messages": on queueing, APIC EOI and EOM). For the VP's interrupt path.
  void apic_eoi() { scan(); }
  /// Asserts SINTx without a message or flag (what QEMU's hyperv-testdev does, hv/test_device.cpp):
  /// raises it unless the SynIC is disabled or SINTx masked or polled. False if not raised.
  bool assert_sint(unsigned sint) {
    uint64_t before = raised_;
    if (sint < 16) raise(sint);
    return raised_ != before;
  }
  /// Messages waiting for SINTx (queued, not in the slot), timer messages included.
  unsigned pending(unsigned sint) const;

  uint64_t messages_delivered() const { return delivered_; }
  uint64_t interrupts_raised() const { return raised_; }
  void inspect(InspectNode& n) const;
  void hash_into(Hasher& h) const;
  /// Checkpoints (docs/hv.md "Checkpoints"): the MSRs, the message queues, the timers'
  /// message buffers and the counters in one section (the two pages are in RAM). Restore
  /// validates what it reads and throws InputError naming `section`.
  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

 private:
  struct Queued {
    spec::HvMessage msg;
    uint32_t pool;
  };
  struct TimerMessage {
    bool busy = false;
    unsigned sint = 0;
    uint64_t expiration = 0;
  };
  bool enabled() const { return scontrol_ & spec::kScontrolEnable; }
  bool sim_enabled() const { return enabled() && (simp_ & spec::overlay_msr::kEnable); }
  bool sief_enabled() const { return enabled() && (siefp_ & spec::overlay_msr::kEnable); }
  /// Raises SINTx unless the SynIC is disabled or SINTx is masked or polled.
  void raise(unsigned sint);
  /// Tries to move a waiting message into every free slot and sets MessagePending in the
  /// occupied slots that still have messages waiting (TLFS: on queueing, EOI and EOM).
  void scan();

  PhysicalMemory& mem_;
  uint64_t message_page_, event_flags_page_;
  SynicHooks hooks_;
  bool polling_available_;
  uint64_t scontrol_ = 0, simp_ = 0, siefp_ = 0;
  uint64_t sint_[spec::kSintCount];
  std::deque<Queued> queue_[spec::kSintCount];
  TimerMessage timer_msg_[spec::kStimerCount];
  uint64_t delivered_ = 0, raised_ = 0, events_ = 0, eoms_ = 0;
};

}  // namespace hvsim::hv
