// The SynIC of one virtual processor (TLFS inter-partition-communication.md; dossier §2, §4).
#include "hv/synic.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/phys_mem.h"
#include "core/state.h"

namespace hvsim::hv {

using spec::HvStatus;
using M = spec::SyntheticMsr;

namespace {

// SINTx bits a write may set (dossier §4.3): vector, Masked, AutoEOI, Polling (if offered).
// 15:8 and 63:21 are RsvdP and AsIntercept/Proxy are root/paravisor features hvsim does not
// offer: a write that sets any of them is #GP, as OpenVMM does for RsvdP bits (dossier §2).
constexpr uint64_t kSintWritable =
    spec::sint::kVectorMask | spec::sint::kMasked | spec::sint::kAutoEoi | spec::sint::kPolling;

uint64_t slot_address(uint64_t page, unsigned sint) {
  return page + uint64_t{sint} * spec::kHvMessageSize;
}

}  // namespace

Synic::Synic(PhysicalMemory& mem, uint64_t message_page, uint64_t event_flags_page,
             SynicHooks hooks, bool polling_available)
    : mem_(mem),
      message_page_(message_page),
      event_flags_page_(event_flags_page),
      hooks_(std::move(hooks)),
      polling_available_(polling_available) {
  for (uint64_t& s : sint_) s = spec::sint::kResetValue;
}

bool Synic::is_synic_msr(uint32_t msr) {
  return (msr >= static_cast<uint32_t>(M::HV_X64_MSR_SCONTROL) &&
          msr <= static_cast<uint32_t>(M::HV_X64_MSR_EOM)) ||
         (msr >= spec::sint_msr(0) && msr <= spec::sint_msr(spec::kSintCount - 1));
}

bool Synic::read_msr(uint32_t msr, uint64_t* value) const {
  if (msr >= spec::sint_msr(0) && msr < spec::sint_msr(spec::kSintCount)) {
    *value = sint_[msr - spec::sint_msr(0)];
    return true;
  }
  switch (static_cast<M>(msr)) {
    case M::HV_X64_MSR_SCONTROL: *value = scontrol_; return true;
    case M::HV_X64_MSR_SVERSION: *value = spec::kSynicVersion1; return true;
    case M::HV_X64_MSR_SIEFP: *value = siefp_; return true;
    case M::HV_X64_MSR_SIMP: *value = simp_; return true;
    case M::HV_X64_MSR_EOM: *value = 0; return true;  // write-only trigger, reads 0 (TLFS)
    default: return false;
  }
}

bool Synic::write_msr(uint32_t msr, uint64_t v) {
  if (msr >= spec::sint_msr(0) && msr < spec::sint_msr(spec::kSintCount)) {
    if (v & ~kSintWritable) return false;
    if ((v & spec::sint::kPolling) && !polling_available_) return false;
    // Vectors 0-15 are invalid (TLFS "SINTx Registers": #GP). Why only for a SINT that can
    // interrupt: the reset value 0x10000 (vector 0, masked) must be writable back, as
    // Linux's read-modify-write of a masked SINT does; KVM draws the same line.
    bool live = !(v & spec::sint::kMasked) || (v & spec::sint::kPolling);
    if (live && (v & spec::sint::kVectorMask) < spec::sint::kMinVector) return false;
    sint_[msr - spec::sint_msr(0)] = v;
    scan();
    return true;
  }
  switch (static_cast<M>(msr)) {
    case M::HV_X64_MSR_SCONTROL:
      if (v & ~spec::kScontrolEnable) return false;  // 63:1 RsvdP
      scontrol_ = v;
      scan();
      return true;
    case M::HV_X64_MSR_SVERSION: return false;  // read-only (TLFS: #GP)
    case M::HV_X64_MSR_SIEFP:
    case M::HV_X64_MSR_SIMP:
      if (v & spec::overlay_msr::kReservedMask) return false;  // 11:1 RsvdP
      (msr == static_cast<uint32_t>(M::HV_X64_MSR_SIMP) ? simp_ : siefp_) = v;
      scan();
      return true;
    case M::HV_X64_MSR_EOM:
      // TLFS marks the value RsvdZ; Linux writes 0 and KVM and OpenVMM ignore it: any value
      // is the trigger. With empty queues this is a no-op.
      ++eoms_;
      scan();
      return true;
    default: return false;
  }
}

void Synic::raise(unsigned sint) {
  uint64_t s = sint_[sint];
  if (!enabled() || (s & spec::sint::kMasked) || (s & spec::sint::kPolling)) return;
  ++raised_;
  if (hooks_.raise)
    hooks_.raise(static_cast<uint8_t>(s & spec::sint::kVectorMask), s & spec::sint::kAutoEoi);
}

unsigned Synic::pending(unsigned sint) const {
  unsigned n = static_cast<unsigned>(queue_[sint].size());
  for (const TimerMessage& t : timer_msg_)
    if (t.busy && t.sint == sint) ++n;
  return n;
}

void Synic::scan() {
  if (!sim_enabled()) return;  // messages stay queued while the SIM page is off (TLFS)
  // The SINTs with something waiting, in one pass (the same set pending() > 0 gives).
  uint32_t waiting = 0;
  for (const TimerMessage& t : timer_msg_)
    if (t.busy) waiting |= 1u << t.sint;
  for (unsigned x = 0; x < spec::kSintCount; ++x)
    if (!queue_[x].empty()) waiting |= 1u << x;
  for (unsigned x = 0; x < spec::kSintCount; ++x) {
    if (!(waiting >> x & 1)) continue;
    uint64_t slot = slot_address(message_page_, x);
    if (mem_.load<uint32_t>(slot + spec::message_header::kMessageTypeOffset) !=
        static_cast<uint32_t>(spec::HvMessageType::HvMessageTypeNone)) {
      // Slot busy: tell the guest to write EOM once it has freed it (dossier §4.5 step 2).
      uint64_t flags = slot + spec::message_header::kMessageFlagsOffset;
      mem_.store<uint8_t>(flags, mem_.load<uint8_t>(flags) | spec::message_header::kMessagePending);
      continue;
    }
    // Timer messages first (lowest timer index), then the SINT's queue in posting order.
    spec::HvMessage m{};
    bool found = false;
    for (unsigned t = 0; t < spec::kStimerCount && !found; ++t) {
      TimerMessage& tm = timer_msg_[t];
      if (!tm.busy || tm.sint != x) continue;
      spec::HvTimerMessagePayload p{};
      p.timer_index = t;
      p.expiration_time = tm.expiration;
      p.delivery_time = hooks_.now ? hooks_.now() : 0;
      m.header.message_type = static_cast<uint32_t>(spec::HvMessageType::HvMessageTimerExpired);
      m.header.payload_size = sizeof p;
      std::memcpy(m.payload, &p, sizeof p);
      tm.busy = false;
      found = true;
    }
    if (!found) {
      m = queue_[x].front().msg;
      queue_[x].pop_front();
    }
    m.header.message_flags = pending(x) ? spec::message_header::kMessagePending : 0;
    mem_.write(slot, &m, sizeof m);
    ++delivered_;
    raise(x);
  }
}

HvStatus Synic::post_message(unsigned sint, const spec::HvMessage& msg, uint32_t pool) {
  if (sint >= spec::kSintCount) return HvStatus::HV_STATUS_INVALID_PARAMETER;
  if (!sim_enabled()) return HvStatus::HV_STATUS_INVALID_SYNIC_STATE;
  unsigned used = 0;
  for (const Queued& q : queue_[sint])
    if (q.pool == pool) ++used;
  if (used >= spec::kMessageBuffersPerPort) return HvStatus::HV_STATUS_INSUFFICIENT_BUFFERS;
  Queued q{msg, pool};
  q.msg.header.message_flags = 0;
  q.msg.header.reserved = 0;
  queue_[sint].push_back(q);
  scan();
  return HvStatus::HV_STATUS_SUCCESS;
}

HvStatus Synic::signal_event(unsigned sint, unsigned flag) {
  if (sint >= spec::kSintCount || flag >= spec::kEventFlagsPerSint)
    return HvStatus::HV_STATUS_INVALID_PARAMETER;
  if (!sief_enabled() || (sint_[sint] & spec::sint::kMasked))
    return HvStatus::HV_STATUS_INVALID_SYNIC_STATE;
  uint64_t byte = event_flags_page_ + uint64_t{sint} * spec::kEventFlagsBytesPerSint + flag / 8;
  auto bit = static_cast<uint8_t>(1u << (flag % 8));
  uint8_t old = mem_.load<uint8_t>(byte);
  ++events_;
  if (old & bit) return HvStatus::HV_STATUS_SUCCESS;  // already set: no new edge
  mem_.store<uint8_t>(byte, old | bit);
  raise(sint);
  return HvStatus::HV_STATUS_SUCCESS;
}

bool Synic::post_timer_message(unsigned timer, unsigned sint, uint64_t expiration) {
  TimerMessage& t = timer_msg_[timer];
  if (t.busy) return false;
  t = TimerMessage{true, sint, expiration};
  scan();
  return true;
}

void Synic::inspect(InspectNode& n) const {
  n.counter("scontrol", scontrol_);
  n.counter("simp", simp_);
  n.counter("siefp", siefp_);
  n.counter("messages_delivered", delivered_);
  n.counter("events_signaled", events_);
  n.counter("interrupts_raised", raised_);
  n.counter("eoms", eoms_);
  unsigned waiting = 0;
  for (unsigned x = 0; x < spec::kSintCount; ++x) waiting += pending(x);
  n.counter("messages_waiting", waiting);
}

void Synic::hash_into(Hasher& h) const {
  h.u64(scontrol_);
  h.u64(simp_);
  h.u64(siefp_);
  for (uint64_t s : sint_) h.u64(s);
  for (const auto& q : queue_) {
    h.u64(q.size());
    for (const Queued& m : q) {
      h.u64(m.pool);
      h.bytes(&m.msg, sizeof m.msg);
    }
  }
  for (const TimerMessage& t : timer_msg_) {
    h.u64(t.busy);
    h.u64(t.sint);
    h.u64(t.expiration);
  }
  h.u64(delivered_);
  h.u64(raised_);
}

// ---- checkpoints ----

void Synic::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  w.u64("scontrol", scontrol_);
  w.u64("simp", simp_);
  w.u64("siefp", siefp_);
  w.bytes("sint", sint_, sizeof sint_);
  // Queues: per SINT a count, then records of message (256 bytes) and pool (u32).
  std::vector<uint8_t> q;
  for (unsigned x = 0; x < spec::kSintCount; ++x) {
    uint32_t n = static_cast<uint32_t>(queue_[x].size());
    q.insert(q.end(), reinterpret_cast<uint8_t*>(&n), reinterpret_cast<uint8_t*>(&n) + 4);
    for (const Queued& e : queue_[x]) {
      const auto* m = reinterpret_cast<const uint8_t*>(&e.msg);
      q.insert(q.end(), m, m + sizeof e.msg);
      q.insert(q.end(), reinterpret_cast<const uint8_t*>(&e.pool),
               reinterpret_cast<const uint8_t*>(&e.pool) + 4);
    }
  }
  w.bytes("queues", q.data(), q.size());
  for (unsigned t = 0; t < spec::kStimerCount; ++t) {
    std::string k = "timer_msg" + std::to_string(t);
    w.boolean(k + ".busy", timer_msg_[t].busy);
    w.u32(k + ".sint", timer_msg_[t].sint);
    w.u64(k + ".expiration", timer_msg_[t].expiration);
  }
  w.u64("delivered", delivered_);
  w.u64("raised", raised_);
  w.u64("events", events_);
  w.u64("eoms", eoms_);
  w.end_section();
}

void Synic::restore(StateReader& r, const std::string& section) {
  auto bad = [&](const std::string& what) {
    throw InputError("checkpoint section " + section + ": " + what);
  };
  if (uint32_t v = r.begin_section(section); v != 1)
    bad("unsupported version " + std::to_string(v));
  uint64_t scontrol = r.u64("scontrol"), simp = r.u64("simp"), siefp = r.u64("siefp");
  uint64_t sint[spec::kSintCount];
  r.bytes_into("sint", sint, sizeof sint);
  std::vector<uint8_t> q = r.bytes("queues");
  std::deque<Queued> queue[spec::kSintCount];
  size_t at = 0;
  for (unsigned x = 0; x < spec::kSintCount; ++x) {
    uint32_t n;
    if (q.size() - at < 4) bad("truncated message queues");
    std::memcpy(&n, &q[at], 4);
    at += 4;
    constexpr size_t kRecord = sizeof(spec::HvMessage) + 4;
    if ((q.size() - at) / kRecord < n) bad("truncated message queues");
    for (uint32_t k = 0; k < n; ++k) {
      Queued e;
      std::memcpy(&e.msg, &q[at], sizeof e.msg);
      std::memcpy(&e.pool, &q[at + sizeof e.msg], 4);
      at += kRecord;
      if (e.msg.header.payload_size > spec::kHvMessagePayloadQwords * 8)
        bad("a queued message with a payload too large");
      queue[x].push_back(e);
    }
  }
  if (at != q.size()) bad("trailing bytes after the message queues");
  TimerMessage tm[spec::kStimerCount];
  for (unsigned t = 0; t < spec::kStimerCount; ++t) {
    std::string k = "timer_msg" + std::to_string(t);
    tm[t].busy = r.boolean(k + ".busy");
    tm[t].sint = r.u32(k + ".sint");
    tm[t].expiration = r.u64(k + ".expiration");
    if (tm[t].sint >= spec::kSintCount) bad("timer message " + std::to_string(t) + ": bad SINT");
  }
  uint64_t delivered = r.u64("delivered"), raised = r.u64("raised");
  uint64_t events = r.u64("events"), eoms = r.u64("eoms");
  r.end_section();
  for (unsigned x = 0; x < spec::kSintCount; ++x)
    if (sint[x] & ~kSintWritable) bad("SINT" + std::to_string(x) + " has reserved bits set");
  scontrol_ = scontrol;
  simp_ = simp;
  siefp_ = siefp;
  std::memcpy(sint_, sint, sizeof sint);
  for (unsigned x = 0; x < spec::kSintCount; ++x) queue_[x] = std::move(queue[x]);
  for (unsigned t = 0; t < spec::kStimerCount; ++t) timer_msg_[t] = tm[t];
  delivered_ = delivered;
  raised_ = raised;
  events_ = events;
  eoms_ = eoms;
}

}  // namespace hvsim::hv
