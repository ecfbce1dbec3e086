// Debug registers and the debug exception: DR0-DR7 with CR4.DE aliasing and general
// detect, instruction breakpoints (fault-class, RF), data and I/O breakpoints and
// single-step (trap-class, taken at the next instruction boundary), MOV SS blocking
// (Intel SDM Vol. 3B ch. 17.2-17.3; Vol. 3A 6.8.3, 6.9).
#include "cpu/cpu_impl.h"
#include "cpu/timing.h"

namespace hvsim::cpu {

using namespace spec;

namespace {

/// DR4/DR5 alias DR6/DR7 unless CR4.DE is set, when they raise #UD (SDM 17.2.2).
unsigned resolve_dr(unsigned n, uint64_t cr4) {
  if (n >= 8) raise_ud();
  if (n == 4 || n == 5) {
    if (cr4 & (1u << 3)) raise_ud();
    return n + 2;
  }
  return n;
}

}  // namespace

void CpuImpl::write_dr(unsigned n, uint64_t v) {
  n = resolve_dr(n, s_.cr4);
  if (s_.dr[7] & kDr7Gd) {
    // General detect (SDM 17.2.4): a fault before the MOV; DR6.BD is set and DR7.GD
    // cleared when it is delivered (handle_fault), not if it causes a VM exit.
    throw Fault{static_cast<uint8_t>(Vector::kDB), false, 0, false, false, kDr6Bd};
  }
  if (n >= 6 && (v >> 32)) raise_gp(0);
  switch (n) {
    case 6: s_.dr[6] = (v & kDr6Writable) | kDr6Fixed1; break;
    case 7:
      s_.dr[7] = (v & ~kDr7Zero) | kDr7Fixed1;
      debug_update();
      break;
    default: s_.dr[n] = long64_ ? v : v & 0xFFFFFFFF; break;
  }
}

uint64_t CpuImpl::read_dr(unsigned n) {
  n = resolve_dr(n, s_.cr4);
  if (s_.dr[7] & kDr7Gd)
    throw Fault{static_cast<uint8_t>(Vector::kDB), false, 0, false, false, kDr6Bd};
  return s_.dr[n];
}

void CpuImpl::debug_update() {
  uint64_t dr7 = s_.dr[7];
  bool data = false;
  for (unsigned n = 0; n < 4; ++n) {
    BreakCondition c = dr7_condition(dr7, n);
    if (dr7_enabled(dr7, n) && (c == BreakCondition::kWrite || c == BreakCondition::kReadWrite))
      data = true;
  }
  watch_data_ = data;
  update_tlb_needs();
  if ((dr7 & kDr7EnableMask) || (s_.rflags & (kFlagTF | kFlagRF)) || s_.pending_dbg ||
      s_.interruptibility || dbg_.armed)
    attention_ = true;
}

void CpuImpl::watch_data(uint64_t la, unsigned size, bool write) {
  uint64_t dr7 = s_.dr[7];
  for (unsigned n = 0; n < 4; ++n) {
    if (!dr7_enabled(dr7, n)) continue;
    BreakCondition c = dr7_condition(dr7, n);
    if (c == BreakCondition::kExecute || c == BreakCondition::kIo) continue;
    if (c == BreakCondition::kWrite && !write) continue;
    // The address is aligned down to the length (SDM 17.2.5): the low bits are ignored.
    unsigned len = dr7_length(dr7, n);
    uint64_t base = s_.dr[n] & ~uint64_t{len - 1};
    if (!long_mode_) base &= 0xFFFFFFFF;
    if (la < base + len && base < la + size) dbg_.hits |= 1u << n;
  }
}

void CpuImpl::watch_io(uint16_t port, unsigned size) {
  if (!(s_.cr4 & (1u << 3))) return;  // I/O breakpoints need CR4.DE
  uint64_t dr7 = s_.dr[7];
  for (unsigned n = 0; n < 4; ++n) {
    if (!dr7_enabled(dr7, n) || dr7_condition(dr7, n) != BreakCondition::kIo) continue;
    unsigned len = dr7_length(dr7, n);
    uint64_t base = s_.dr[n] & 0xFFFF & ~uint64_t{len - 1};
    if (port < base + len && base < uint64_t{port} + size) dbg_.hits |= 1u << n;
  }
}

namespace {

/// What the instruction in flight leaves behind once it has completed: the DR6 bits of
/// its traps, and whether RF is to be cleared (SDM 17.3.1.1, 17.3.1.4).
struct Conclusion {
  bool completed = false;
  uint64_t bits = 0;
  bool clear_rf = false;
};

Conclusion conclude(const CpuImpl& c) {
  Conclusion r;
  const auto& d = c.dbg_;
  if (!d.armed || c.instructions_ != d.insn_start + 1) return r;  // faulted, or not run
  r.completed = true;
  r.bits = d.hits;
  // INT n / INT3 / INTO / INT1 enter their handler with TF clear and no single-step trap;
  // SYSCALL likewise when IA32_FMASK cleared TF.
  bool event = c.interrupts_ + c.exceptions_[1] != d.soft_start;
  if (d.tf && !event && !d.no_single_step) r.bits |= kDr6Bs;
  r.clear_rf = d.rf && !d.rf_loaded;
  return r;
}

}  // namespace

ArchState CpuImpl::settled_state() const {
  ArchState s = s_;
  Conclusion r = conclude(*this);
  if (r.completed) {
    s.pending_dbg |= r.bits;
    if (r.clear_rf) s.rflags &= ~kFlagRF;
  }
  return s;
}

void CpuImpl::debug_traps() {
  Conclusion r = conclude(*this);
  dbg_.armed = false;
  if (r.completed) {
    s_.pending_dbg |= r.bits;
    if (r.clear_rf) s_.rflags &= ~kFlagRF;
  }
  if (!s_.pending_dbg) return;
  if (s_.interruptibility & kBlockByMovSs) {
    // MOV SS / POP SS hold the traps until after the next instruction (SDM 6.8.3).
    attention_ = true;
    return;
  }
  uint64_t bits = s_.pending_dbg & kDr6Writable;  // into DR6 when delivered (handle_fault)
  s_.pending_dbg = 0;
  next_rip_ = s_.rip;
  cycles_ += timing_.exception;
  handle_fault(Fault{static_cast<uint8_t>(Vector::kDB), false, 0, false, true, bits});
}

void CpuImpl::debug_before_insn() {
  s_.interruptibility &= ~kBlockByMovSs;
  if (run_state_ != RunState::kRunning) return;
  uint64_t dr7 = s_.dr[7];
  if ((dr7 & kDr7EnableMask) && !(s_.rflags & kFlagRF)) {
    uint64_t la = long64_ ? s_.rip : (s_.seg[kCs].base + s_.rip) & 0xFFFFFFFF;
    uint64_t bits = 0;
    for (unsigned n = 0; n < 4; ++n) {
      if (!dr7_enabled(dr7, n) || dr7_condition(dr7, n) != BreakCondition::kExecute) continue;
      uint64_t a = long_mode_ ? s_.dr[n] : s_.dr[n] & 0xFFFFFFFF;
      if (a == la) bits |= 1u << n;
    }
    if (bits) {
      // Fault-class: reported before the instruction runs; the handler returns with RF=1
      // in the IRET image to get past it (SDM 17.3.1.1).
      next_rip_ = s_.rip;
      cycles_ += timing_.exception;
      handle_fault(Fault{static_cast<uint8_t>(Vector::kDB), false, 0, false, true, bits});
      if (run_state_ != RunState::kRunning) return;
    }
  }
  bool tf = s_.rflags & kFlagTF, rf = s_.rflags & kFlagRF;
  if (tf || rf || (dr7 & kDr7EnableMask)) {
    dbg_ = DebugArm{};
    dbg_.armed = true;
    dbg_.tf = tf;
    dbg_.rf = rf;
    dbg_.insn_start = instructions_;
    dbg_.soft_start = interrupts_ + exceptions_[1];
    attention_ = true;
  }
}

}  // namespace hvsim::cpu
