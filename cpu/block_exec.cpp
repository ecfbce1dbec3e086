// The block engine: dispatch of decoded basic blocks by physical address, the per-
// instruction loop inside a block, and lazily computed arithmetic flags (SDM Vol. 1
// 3.4.3.1 for the flags; Vol. 3A 11.6 for self-modifying code).
#include "core/phys_mem.h"
#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

// ---- dispatch ----

const Block* CpuImpl::lookup_block() {
  uint64_t rip = s_.rip;
  uint64_t la;
  if (long64_) {
    if (!canonical(rip)) return nullptr;  // step_one raises the #GP
    la = rip;
  } else {
    if (rip > s_.seg[kCs].limit) return nullptr;
    la = (s_.seg[kCs].base + rip) & 0xFFFFFFFF;
  }
  const TlbEntry& e = itlb_[itlb_index(tlb_tag(la))];
  uint64_t pa;
  if (e.tag == tlb_tag(la) && (e.perm & fetch_need_) == fetch_need_) {
    ++tlb_hits_;
    pa = e.pa | (la & 0xFFF);
  } else {
    pa = translate(la, Access::kFetch, cpl_ == 3);
  }
  const Block* b = dcache_.find(pa, mode_);
  if (!b) {
    b = build_block(pa);
    if (!b) return nullptr;
  }
  if (!long64_) {
    // The whole block must lie inside CS (and, for 16-bit code, below the IP wrap);
    // otherwise step_one takes it one instruction at a time with exact #GP.
    uint64_t last = rip + b->bytes - 1;
    if (last > s_.seg[kCs].limit) return nullptr;
    if ((mode_ == DecodeMode::kReal16 || mode_ == DecodeMode::kProt16 ||
         mode_ == DecodeMode::kCompat16) &&
        last > 0xFFFF)
      return nullptr;
  }
  return b;
}

void CpuImpl::execute(uint64_t cycle_target, uint64_t insn_stop) {
  insn_stop_ = insn_stop;
  while (cycles_ < cycle_target) {
    if (run_state_ != RunState::kRunning) break;
    if (instructions_ >= insn_stop) break;
    if (cycles_ >= wake_deadline_) attention_ = true;  // LAPIC timer or message due
    if (attention_) {
      materialize_flags();
      service_attention();
      // Why: a VM exit at the boundary (VmxApi's stop) returns before a host instruction.
      if (*stop_) break;
      if (run_state_ != RunState::kRunning) continue;
    }
    dcache_.reap();
    const Block* b;
    try {
      b = lookup_block();
    } catch (const Fault& f) {
      // The fetch faulted (#PF on the code page): deliver as step_one would.
      cycles_ += timing_.exception;
      handle_fault(f);
      if (*stop_) break;
      continue;
    }
    // Building a block may have made a page a code page: revoke direct host writes.
    check_protect_generation();
    if (!b) {
      step_insn();
      if (*stop_) break;
      continue;
    }
    if (insn_stop == Cpu::kNoLimit)
      run_block<false>(*b, cycle_target, insn_stop);
    else
      run_block<true>(*b, cycle_target, insn_stop);
    if (*stop_) break;
  }
  insn_stop_ = Cpu::kNoLimit;
  // Outside the engine RFLAGS is always up to date.
  materialize_flags();
}

bool CpuImpl::boundary_due(const Block& b, uint64_t cycle_target) {
  // Anything that must act between two instructions, a stop request, the end of the time
  // slice, a due LAPIC event (execute() services it), or a store into this block's page
  // (self-modifying code: the rest of the block is stale).
  if (end_block_) {
    end_block_ = false;
    return true;
  }
  if (attention_ || *stop_ || !b.valid || cycles_ >= cycle_target || cycles_ >= wake_deadline_)
    return true;
  arm_poll(cycle_target);
  return false;
}

template <bool kLimit>
void CpuImpl::run_block(const Block& first, uint64_t cycle_target, uint64_t insn_stop) {
  const Block* b = &first;
  const Insn* i = b->insns.data();
  const Insn* end = i + b->insns.size();
  uint64_t rip_mask = long64_ ? ~0ull
                      : (mode_ == DecodeMode::kReal16 || mode_ == DecodeMode::kProt16 ||
                         mode_ == DecodeMode::kCompat16)
                          ? 0xFFFF
                          : 0xFFFFFFFF;
  // Boundary work raised before the block (service_attention re-raises attention_ while
  // debugging) must be seen after its first instruction: arm_poll keeps poll_cycle_ at 0.
  arm_poll(cycle_target);
  // Why a local copy of RIP: read back from s_.rip, every instruction would wait for the
  // store of the one before (two store-to-load forwards per instruction on the critical
  // path). s_.rip is still stored after every instruction (faults, handlers read it).
  uint64_t rip = s_.rip;
  try {
    for (;;) {
      // Instructions that need materialized RFLAGS carry a wrapper handler (Insn::body).
      uint64_t fall = (rip + i->length) & rip_mask;
      next_rip_ = fall;
      i->handler(*this, *i);
      rip = next_rip_;
      s_.rip = rip;
      ++instructions_;
      cycles_ += i->cycles;
      // Exact boundaries: one compare covers attention_, the stop flag, self-modifying
      // code, the cycle target and the wake deadline (see poll_cycle_); the instruction
      // limit is checked only when there is one.
      if (cycles_ >= poll_cycle_) [[unlikely]] {
        if (boundary_due(*b, cycle_target)) return;
      }
      if (kLimit && instructions_ >= insn_stop) [[unlikely]]
        return;
      // Within a block only a taken conditional branch changes the flow.
      if (++i != end && rip == fall) [[likely]]
        continue;
      // Chaining: the next block on the same linear page follows without a dispatch.
      // The fetch translation is checked exactly as lookup_block would (an ITLB hit with
      // the same physical page), so chaining never changes what executes or its cost.
      if ((i == end && !b->chainable) || !long64_ || *stop_) return;
      const TlbEntry& e = itlb_[itlb_index(tlb_tag(rip))];
      if (e.tag != tlb_tag(rip) || (e.perm & fetch_need_) != fetch_need_ ||
          e.pa != (b->pa & ~0xFFFull))
        return;
      uint16_t off = rip & 0xFFF;
      const Block* n;
      if (b->succ[0] && b->succ_off[0] == off) {
        n = b->succ[0];
      } else if (b->succ[1] && b->succ_off[1] == off) {
        n = b->succ[1];
      } else {
        n = dcache_.find(e.pa | off, mode_);
        if (!n) return;  // not decoded yet: execute() builds it
        unsigned slot = b->succ[0] ? 1 : 0;
        b->succ[slot] = n;
        b->succ_off[slot] = off;
      }
      ++tlb_hits_;
      ++dcache_.chained;
      // Fused pairs split only where poll_cycle_ says so: keep it at 0 near the limit.
      if (kLimit && insn_stop - instructions_ <= 2 * kMaxBlockInsns) poll_cycle_ = 0;
      b = n;
      i = b->insns.data();
      end = i + b->insns.size();
    }
  } catch (const Fault& f) {
    if (f.soft || f.trap) {
      // INT n (or a trap-class event) retired: delivered with the next instruction's RIP.
      ++instructions_;
      cycles_ += i->cycles;
    }
    cycles_ += timing_.exception;
    handle_fault(f);
  }
}

template void CpuImpl::run_block<false>(const Block&, uint64_t, uint64_t);
template void CpuImpl::run_block<true>(const Block&, uint64_t, uint64_t);

void CpuImpl::on_code_write(uint64_t pfn) {
  // The running block may be among the dropped ones: the engine must look (b->valid).
  if (dcache_.invalidate(pfn)) poll_cycle_ = 0;
}

void CpuImpl::set_timing(const timing::Table& t) {
  timing_ = t;
  params_.timing = t;
  dcache_.clear();
}

// ---- lazy flags ----

uint64_t CpuImpl::lazy_arith_flags() const {
  unsigned size = lf_size_;
  switch (lf_op_) {
    case LazyOp::kAdd: return add_flags(lf_a_, lf_b_, 0, lf_r_, size);
    case LazyOp::kAdc: return add_flags(lf_a_, lf_b_, 1, lf_r_, size);
    case LazyOp::kSub: return sub_flags(lf_a_, lf_b_, 0, lf_r_, size);
    case LazyOp::kSbb: return sub_flags(lf_a_, lf_b_, 1, lf_r_, size);
    case LazyOp::kLogic: return logic_flags(lf_r_, size);
    // INC/DEC keep CF: lf_b_ holds the CF before them.
    case LazyOp::kInc: return (add_flags(lf_a_, 1, 0, lf_r_, size) & ~kFlagCF) | (lf_b_ & kFlagCF);
    case LazyOp::kDec: return (sub_flags(lf_a_, 1, 0, lf_r_, size) & ~kFlagCF) | (lf_b_ & kFlagCF);
    // Shifts: lf_b_ holds the (nonzero, masked) count.
    case LazyOp::kShl: return shl_flags(lf_a_, lf_b_, lf_r_, size);
    case LazyOp::kShr: return shr_flags(lf_a_, lf_b_, lf_r_, size);
    case LazyOp::kSar: return sar_flags(lf_a_, lf_b_, lf_r_, size);
    case LazyOp::kNone: break;
  }
  return s_.rflags & kArithFlags;
}

bool CpuImpl::carry_flag() const {
  uint64_t m = size_mask(lf_size_);
  switch (lf_op_) {
    case LazyOp::kAdd: return lf_r_ < (lf_a_ & m);
    case LazyOp::kSub: return (lf_a_ & m) < (lf_b_ & m);
    case LazyOp::kLogic: return false;
    case LazyOp::kInc:
    case LazyOp::kDec: return lf_b_ & kFlagCF;
    case LazyOp::kNone: return s_.rflags & kFlagCF;
    default: return lazy_arith_flags() & kFlagCF;
  }
}

bool CpuImpl::cond(unsigned cc) {
  unsigned size = lf_size_;
  uint64_t sign = sign_bit(size);
  bool r;
  switch (lf_op_) {
    case LazyOp::kNone: return condition(s_.rflags, cc);
    case LazyOp::kSub: {
      uint64_t a = lf_a_, b = lf_b_;
      switch (cc >> 1) {
        case 1: r = a < b; break;         // B: CF
        case 2: r = lf_r_ == 0; break;    // Z
        case 3: r = a <= b; break;        // BE: CF | ZF
        case 4: r = lf_r_ & sign; break;  // S
        case 6:                           // L: SF != OF, i.e. signed a < b
          r = static_cast<int64_t>(sign_extend(a, size)) <
              static_cast<int64_t>(sign_extend(b, size));
          break;
        case 7:  // LE
          r = static_cast<int64_t>(sign_extend(a, size)) <=
              static_cast<int64_t>(sign_extend(b, size));
          break;
        default: return condition(rflags(), cc);
      }
      break;
    }
    case LazyOp::kLogic: {
      // CF = OF = 0.
      bool z = lf_r_ == 0, s = (lf_r_ & sign) != 0;
      switch (cc >> 1) {
        case 0:
        case 1: r = false; break;  // O, B
        case 2:
        case 3: r = z; break;  // Z, BE
        case 4:
        case 6: r = s; break;       // S, L
        case 7: r = z || s; break;  // LE
        default: return condition(rflags(), cc);
      }
      break;
    }
    default:
      switch (cc >> 1) {
        case 2: r = lf_r_ == 0; break;
        case 4: r = lf_r_ & sign; break;
        default: return condition(rflags(), cc);
      }
      break;
  }
  return (cc & 1) ? !r : r;
}

}  // namespace hvsim::cpu
