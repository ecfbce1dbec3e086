// Decode-time specializations of the most frequent 64-bit-mode instruction forms (MOV,
// ALU register/immediate/memory forms, LEA, MOVZX, INC/DEC, Jcc, JMP, CALL, RET, PUSH,
// POP): handlers with the operand kinds and sizes fixed, memory accesses that go straight
// through the TLB to host memory and fall back to the generic path (with every check) on
// a miss. Semantics are identical to the generic handlers in exec_alu.cpp and
// exec_control.cpp (Intel SDM Vol. 2 instruction pages).
#include <Zydis/Zydis.h>

#include <array>
#include <utility>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

// ---- operand access in 64-bit mode (FS/GS excluded: their bases are 0 here) ----

inline uint64_t ea64(const C& c, const Insn& i) {
  const MemRef& m = i.mem;
  uint64_t a = static_cast<uint64_t>(m.disp);
  if (m.base >= 0) a += c.s_.gpr[m.base];
  if (m.index >= 0) a += c.s_.gpr[m.index] << m.scale;
  if (m.rip_rel) a += c.next_rip_;
  return a;
}
/// The same for a handler specialized to [base + disp] (kBaseDisp: no index, not
/// RIP-relative), the form of most stack and structure accesses.
template <bool kBaseDisp>
inline uint64_t ea64(const C& c, const Insn& i) {
  if (kBaseDisp) return c.s_.gpr[i.mem.base] + static_cast<uint64_t>(i.mem.disp);
  return ea64(c, i);
}
bool base_disp(const Insn& i) {
  return i.mem.base >= 0 && i.mem.index < 0 && !i.mem.rip_rel;
}

// The TLB-hit paths are inlined into every handler; the rest (misses, MMIO, page-crossing
// accesses, data breakpoints) stays out of line.
template <unsigned kSize>
[[gnu::noinline]] uint64_t load_slow(C& c, unsigned seg, uint64_t la) {
  return c.read_mem(seg, la, kSize);
}
template <unsigned kSize>
[[gnu::noinline]] void store_slow(C& c, unsigned seg, uint64_t la, uint64_t v) {
  c.write_mem(seg, la, kSize, v);
}

/// The TLB-hit paths: false on a miss (nothing done). load/store fall back to the slow
/// path; handlers that end in their slow path as a tail call use these directly, so that
/// the hit path needs no saved registers.
template <unsigned kSize>
inline bool try_load(C& c, uint64_t la, uint64_t* v) {
  const TlbEntry& e = c.tlb_[tlb_index(c.tlb_tag(la))];
  // A TLB tag only ever holds a canonical page, so a hit within the page is canonical.
  if (e.tag == c.tlb_tag(la) && (la & 0xFFF) <= 4096 - kSize && (e.perm & c.rd_need_) == c.rd_need_)
      [[likely]] {
    ++c.tlb_hits_;
    *v = C::host_load(e.host + (la & 0xFFF), kSize);
    return true;
  }
  return false;
}
template <unsigned kSize>
inline bool try_store(C& c, uint64_t la, uint64_t v) {
  const TlbEntry& e = c.tlb_[tlb_index(c.tlb_tag(la))];
  if (e.tag == c.tlb_tag(la) && (la & 0xFFF) <= 4096 - kSize && (e.perm & c.wr_need_) == c.wr_need_)
      [[likely]] {
    ++c.tlb_hits_;
    C::host_store(e.host + (la & 0xFFF), kSize, v);
    return true;
  }
  return false;
}

template <unsigned kSize>
inline uint64_t load(C& c, unsigned seg, uint64_t la) {
  uint64_t v;
  if (try_load<kSize>(c, la, &v)) [[likely]]
    return v;
  return load_slow<kSize>(c, seg, la);
}
template <unsigned kSize>
inline void store(C& c, unsigned seg, uint64_t la, uint64_t v) {
  if (try_store<kSize>(c, la, v)) [[likely]]
    return;
  store_slow<kSize>(c, seg, la, v);
}

template <unsigned kSize>
inline uint64_t reg(const C& c, unsigned r) {
  return c.s_.gpr[r] & size_mask(kSize);
}

template <unsigned kSize>
inline void set_reg(C& c, unsigned r, uint64_t v) {
  c.set_gpr(r, kSize, v);
}

// ---- MOV ----

template <unsigned kSize>
void mov_rr(C& c, const Insn& i) {
  set_reg<kSize>(c, i.op[0].reg, reg<kSize>(c, i.op[1].reg));
}
template <unsigned kSize>
void mov_ri(C& c, const Insn& i) {
  set_reg<kSize>(c, i.op[0].reg, i.imm);
}
template <unsigned kSize>
[[gnu::noinline]] void mov_rm_slow(C& c, const Insn& i, uint64_t la) {
  set_reg<kSize>(c, i.op[0].reg, load_slow<kSize>(c, i.mem.seg, la));
}
template <unsigned kSize, bool kBaseDisp = false>
void mov_rm(C& c, const Insn& i) {
  uint64_t la = ea64<kBaseDisp>(c, i), v;
  if (try_load<kSize>(c, la, &v)) [[likely]] {
    set_reg<kSize>(c, i.op[0].reg, v);
    return;
  }
  mov_rm_slow<kSize>(c, i, la);
}
template <unsigned kSize>
[[gnu::noinline]] void store_slow_insn(C& c, const Insn& i, uint64_t la, uint64_t v) {
  store_slow<kSize>(c, i.mem.seg, la, v);
}
template <unsigned kSize, bool kBaseDisp = false>
void mov_mr(C& c, const Insn& i) {
  uint64_t la = ea64<kBaseDisp>(c, i), v = reg<kSize>(c, i.op[1].reg);
  if (try_store<kSize>(c, la, v)) [[likely]]
    return;
  store_slow_insn<kSize>(c, i, la, v);
}
template <unsigned kSize, bool kBaseDisp = false>
void mov_mi(C& c, const Insn& i) {
  uint64_t la = ea64<kBaseDisp>(c, i), v = i.imm & size_mask(kSize);
  if (try_store<kSize>(c, la, v)) [[likely]]
    return;
  store_slow_insn<kSize>(c, i, la, v);
}

/// MOVZX/MOVSX r, r/m with source size kSrc.
template <unsigned kDst, unsigned kSrc, bool kSigned, bool kMem>
void movx(C& c, const Insn& i) {
  uint64_t v = kMem ? load<kSrc>(c, i.mem.seg, ea64(c, i)) : reg<kSrc>(c, i.op[1].reg);
  if (kSigned) v = sign_extend(v, kSrc);
  set_reg<kDst>(c, i.op[0].reg, v & size_mask(kDst));
}

template <unsigned kSize>
void lea(C& c, const Insn& i) {
  set_reg<kSize>(c, i.op[0].reg, ea64(c, i));
}

// ---- ALU ----

enum class Op { kAdd, kOr, kAnd, kSub, kXor, kCmp, kTest };

template <Op kOp, unsigned kSize>
inline uint64_t alu_core(C& c, unsigned dst, uint64_t a, uint64_t b) {
  constexpr uint64_t m = size_mask(kSize);
  uint64_t r;
  LazyOp lop;
  switch (kOp) {
    case Op::kAdd:
      r = (a + b) & m;
      lop = LazyOp::kAdd;
      break;
    case Op::kSub:
    case Op::kCmp:
      r = (a - b) & m;
      lop = LazyOp::kSub;
      break;
    case Op::kAnd:
    case Op::kTest:
      r = a & b;
      lop = LazyOp::kLogic;
      break;
    case Op::kOr:
      r = a | b;
      lop = LazyOp::kLogic;
      break;
    case Op::kXor:
      r = a ^ b;
      lop = LazyOp::kLogic;
      break;
  }
  if (kOp != Op::kCmp && kOp != Op::kTest) set_reg<kSize>(c, dst, r);
  c.set_lazy_flags(lop, kSize, a, b, r);
  return r;
}

template <Op kOp, unsigned kSize>
void alu_rr(C& c, const Insn& i) {
  alu_core<kOp, kSize>(c, i.op[0].reg, reg<kSize>(c, i.op[0].reg), reg<kSize>(c, i.op[1].reg));
}
template <Op kOp, unsigned kSize>
void alu_ri(C& c, const Insn& i) {
  alu_core<kOp, kSize>(c, i.op[0].reg, reg<kSize>(c, i.op[0].reg), i.imm & size_mask(kSize));
}
template <Op kOp, unsigned kSize>
void alu_rm(C& c, const Insn& i) {
  uint64_t b = load<kSize>(c, i.mem.seg, ea64(c, i));
  alu_core<kOp, kSize>(c, i.op[0].reg, reg<kSize>(c, i.op[0].reg), b);
}
/// CMP/TEST with a memory first operand (nothing is written).
template <Op kOp, unsigned kSize, bool kImm>
void cmp_m(C& c, const Insn& i) {
  uint64_t a = load<kSize>(c, i.mem.seg, ea64(c, i));
  uint64_t b = kImm ? i.imm & size_mask(kSize) : reg<kSize>(c, i.op[1].reg);
  alu_core<kOp, kSize>(c, 0, a, b);
}

template <bool kInc, unsigned kSize>
void incdec_r(C& c, const Insn& i) {
  unsigned d = i.op[0].reg;
  uint64_t a = reg<kSize>(c, d);
  uint64_t r = (kInc ? a + 1 : a - 1) & size_mask(kSize);
  uint64_t cf = c.carry_flag() ? kFlagCF : 0;
  set_reg<kSize>(c, d, r);
  c.set_lazy_flags(kInc ? LazyOp::kInc : LazyOp::kDec, kSize, a, cf, r);
}

/// SHL/SHR/SAR register by an immediate count (kCl = false) or by CL.
template <LazyOp kOp, unsigned kSize, bool kCl = false>
void shift_ri(C& c, const Insn& i) {
  unsigned d = i.op[0].reg;
  uint64_t a = reg<kSize>(c, d);
  uint64_t count = (kCl ? c.s_.gpr[kRcx] : i.imm) & (kSize == 8 ? 0x3F : 0x1F);
  if (count == 0) {
    set_reg<kSize>(c, d, a);  // flags unchanged; a 32-bit destination still zero-extends
    return;
  }
  uint64_t r;
  if (kOp == LazyOp::kShl)
    r = (a << count) & size_mask(kSize);
  else if (kOp == LazyOp::kShr)
    r = a >> count;
  else
    r = static_cast<uint64_t>(static_cast<int64_t>(sign_extend(a, kSize)) >> count) &
        size_mask(kSize);
  set_reg<kSize>(c, d, r);
  c.set_lazy_flags(kOp, kSize, a, count, r);
}

/// IMUL r, r/m (kImm = false) and IMUL r, r/m, imm: the truncated signed product; CF = OF
/// = the product did not fit; SF, ZF, PF of the result, AF = 0 (as exec_alu.cpp's imul).
template <unsigned kSize, bool kMem, bool kImm>
void imul_r(C& c, const Insn& i) {
  uint64_t src = kMem ? load<kSize>(c, i.mem.seg, ea64(c, i)) : reg<kSize>(c, i.op[1].reg);
  uint64_t a = kImm ? src : reg<kSize>(c, i.op[0].reg);
  uint64_t b = kImm ? i.imm & size_mask(kSize) : src;
  __int128 p = static_cast<__int128>(static_cast<int64_t>(sign_extend(a, kSize))) *
               static_cast<int64_t>(sign_extend(b, kSize));
  uint64_t lo = static_cast<uint64_t>(p) & size_mask(kSize);
  bool ov = p != static_cast<__int128>(static_cast<int64_t>(sign_extend(lo, kSize)));
  set_reg<kSize>(c, i.op[0].reg, lo);
  c.set_arith_flags(szp_flags(lo, kSize) | (ov ? kFlagCF | kFlagOF : 0));
}

/// BT r, r / BT r, imm: CF = the bit; the other flags keep their values.
template <unsigned kSize, bool kImm>
void bt_r(C& c, const Insn& i) {
  uint64_t bit = (kImm ? i.imm : c.s_.gpr[i.op[1].reg]) & (kSize * 8 - 1);
  bool set = (reg<kSize>(c, i.op[0].reg) >> bit) & 1;
  c.materialize_flags();
  c.s_.rflags = (c.s_.rflags & ~kFlagCF) | (set ? kFlagCF : 0);
}

// ---- control transfer ----

/// Condition `kCc` with the common lazy cases inline.
template <unsigned kCc>
inline bool cond_fast(C& c) {
  if (c.lf_op_ == LazyOp::kSub) {
    uint64_t a = c.lf_a_, b = c.lf_b_;
    bool r;
    switch (kCc >> 1) {
      case 1: r = a < b; break;
      case 2: r = c.lf_r_ == 0; break;
      case 3: r = a <= b; break;
      case 6:
      case 7: {
        unsigned sh = 64 - 8 * c.lf_size_;
        int64_t sa = static_cast<int64_t>(a << sh), sb = static_cast<int64_t>(b << sh);
        r = (kCc >> 1) == 6 ? sa < sb : sa <= sb;
        break;
      }
      default: return c.cond(kCc);
    }
    return (kCc & 1) ? !r : r;
  }
  if (c.lf_op_ == LazyOp::kLogic && ((kCc >> 1) == 2)) {
    bool r = c.lf_r_ == 0;
    return (kCc & 1) ? !r : r;
  }
  return c.cond(kCc);
}

inline void near_jump(C& c, uint64_t target) {
  if (!c.canonical(target)) raise_gp(0);
  c.next_rip_ = target;
}

template <unsigned kCc>
void jcc(C& c, const Insn& i) {
  if (cond_fast<kCc>(c)) {
    near_jump(c, c.next_rip_ + i.imm);
    c.cycles_ += c.timing_.branch_taken;
  }
}

void jmp_rel(C& c, const Insn& i) {
  near_jump(c, c.next_rip_ + i.imm);
}

/// JMP r64 / JMP m64 (jump tables, computed gotos).
template <bool kMem>
void jmp_ind(C& c, const Insn& i) {
  near_jump(c, kMem ? load<8>(c, i.mem.seg, ea64(c, i)) : c.s_.gpr[i.op[0].reg]);
}

inline void push64(C& c, uint64_t v) {
  uint64_t sp = c.s_.gpr[kRsp] - 8;
  store<8>(c, kSs, sp, v);
  c.s_.gpr[kRsp] = sp;
}

[[gnu::noinline]] void call_rel_slow(C& c, uint64_t target) {
  push64(c, c.next_rip_);
  c.next_rip_ = target;
}
void call_rel(C& c, const Insn& i) {
  uint64_t target = c.next_rip_ + i.imm;
  if (!c.canonical(target)) raise_gp(0);  // checked before the push commits
  uint64_t sp = c.s_.gpr[kRsp] - 8;
  if (try_store<8>(c, sp, c.next_rip_)) [[likely]] {
    c.s_.gpr[kRsp] = sp;
    c.next_rip_ = target;
    return;
  }
  call_rel_slow(c, target);
}

[[gnu::noinline]] void ret_near_slow(C& c, uint64_t sp) {
  uint64_t target = load_slow<8>(c, kSs, sp);
  near_jump(c, target);
  c.s_.gpr[kRsp] = sp + 8;
}
void ret_near(C& c, const Insn&) {
  uint64_t sp = c.s_.gpr[kRsp], target;
  if (try_load<8>(c, sp, &target)) [[likely]] {
    near_jump(c, target);
    c.s_.gpr[kRsp] = sp + 8;
    return;
  }
  ret_near_slow(c, sp);
}

[[gnu::noinline]] void push_r_slow(C& c, uint64_t sp, uint64_t v) {
  store_slow<8>(c, kSs, sp, v);
  c.s_.gpr[kRsp] = sp;
}
void push_r(C& c, const Insn& i) {
  uint64_t sp = c.s_.gpr[kRsp] - 8, v = c.s_.gpr[i.op[0].reg];
  if (try_store<8>(c, sp, v)) [[likely]] {
    c.s_.gpr[kRsp] = sp;
    return;
  }
  push_r_slow(c, sp, v);
}

[[gnu::noinline]] void pop_r_slow(C& c, const Insn& i, uint64_t sp) {
  uint64_t v = load_slow<8>(c, kSs, sp);
  c.s_.gpr[kRsp] = sp + 8;
  c.s_.gpr[i.op[0].reg] = v;  // POP RSP: the popped value wins
}
void pop_r(C& c, const Insn& i) {
  uint64_t sp = c.s_.gpr[kRsp], v;
  if (try_load<8>(c, sp, &v)) [[likely]] {
    c.s_.gpr[kRsp] = sp + 8;
    c.s_.gpr[i.op[0].reg] = v;  // POP RSP: the popped value wins
    return;
  }
  pop_r_slow(c, i, sp);
}

// ---- fused pairs: a flag-setting instruction and the Jcc after it ----
// One record runs both (fuse_pair). It behaves as two instructions at every boundary:
// the engine charges the first (Insn::cycles, one instruction); the handler charges the
// Jcc only when it runs it, and runs it only if no boundary falls between the two.

/// How the first instruction's flags relate to its operands and result.
enum class FlagKind { kSub, kLogic, kOther };

/// Jcc condition `cc` after an operation on a and b (truncated) with result r; conditions
/// not derived here read the lazy flags the first instruction recorded.
template <FlagKind kKind, unsigned kSize>
[[gnu::always_inline]] inline bool fused_cond(C& c, unsigned cc, uint64_t a, uint64_t b,
                                              uint64_t r) {
  constexpr unsigned kShift = 64 - 8 * kSize;
  bool sign = (r >> (8 * kSize - 1)) & 1;
  bool v;
  if constexpr (kKind == FlagKind::kSub) {
    int64_t sa = static_cast<int64_t>(a << kShift), sb = static_cast<int64_t>(b << kShift);
    switch (cc >> 1) {
      case 1: v = a < b; break;    // B: CF
      case 2: v = r == 0; break;   // Z
      case 3: v = a <= b; break;   // BE: CF | ZF
      case 4: v = sign; break;     // S
      case 6: v = sa < sb; break;  // L: SF != OF
      case 7: v = sa <= sb; break;
      default: return c.cond(cc);  // O, P
    }
  } else if constexpr (kKind == FlagKind::kLogic) {
    switch (cc >> 1) {  // CF = OF = 0
      case 0:
      case 1: v = false; break;
      case 2:
      case 3: v = r == 0; break;
      case 4:
      case 6: v = sign; break;
      case 7: v = r == 0 || sign; break;
      default: return c.cond(cc);  // P
    }
  } else {
    switch (cc >> 1) {
      case 2: v = r == 0; break;
      case 4: v = sign; break;
      default: return c.cond(cc);
    }
  }
  return (cc & 1) ? !v : v;
}

/// The Jcc half, after the first instruction committed its result and lazy flags.
/// kCc of a fused handler whose condition code is read from the record (Insn::fused_cc).
constexpr unsigned kAnyCc = 16;

template <FlagKind kKind, unsigned kSize, unsigned kCc = kAnyCc>
[[gnu::always_inline]] inline void fused_jcc(C& c, const Insn& i, uint64_t a, uint64_t b,
                                             uint64_t r) {
  // The boundary after the first instruction: if the engine would look there (poll_cycle_
  // covers attention, stop, self-modifying code, the time slice, and is 0 near an
  // instruction limit), the pair splits: the first ends here, the Jcc runs on its own.
  if (c.cycles_ + i.cycles >= c.poll_cycle_) [[unlikely]] {
    c.next_rip_ = c.s_.rip + i.fused_len;
    return;
  }
  if (fused_cond<kKind, kSize>(c, kCc == kAnyCc ? i.fused_cc : kCc, a, b, r)) {
    uint64_t target = c.next_rip_ + i.imm2;
    if (!c.canonical(target)) [[unlikely]] {
      // #GP(0) at the Jcc, after the first instruction retired.
      c.s_.rip += i.fused_len;
      ++c.instructions_;
      c.cycles_ += i.cycles;
      raise_gp(0);
    }
    c.next_rip_ = target;
    c.cycles_ += c.timing_.branch_taken;
  }
  ++c.instructions_;
  c.cycles_ += i.fused_cycles;
}

constexpr FlagKind flag_kind(Op op) {
  return op == Op::kSub || op == Op::kCmp ? FlagKind::kSub
         : op == Op::kAdd                 ? FlagKind::kOther
                                          : FlagKind::kLogic;
}

/// Operand forms of a fused ALU instruction.
enum class Form { kRR, kRI, kRM, kMI, kMR };

template <Op kOp, unsigned kSize, Form kForm, unsigned kCc = kAnyCc>
void fused_alu(C& c, const Insn& i) {
  constexpr uint64_t m = size_mask(kSize);
  uint64_t a, b;
  if constexpr (kForm == Form::kMI || kForm == Form::kMR) {
    a = load<kSize>(c, i.mem.seg, ea64(c, i));
    b = kForm == Form::kMI ? i.imm & m : reg<kSize>(c, i.op[1].reg);
  } else {
    b = kForm == Form::kRR   ? reg<kSize>(c, i.op[1].reg)
        : kForm == Form::kRI ? i.imm & m
                             : load<kSize>(c, i.mem.seg, ea64(c, i));
    a = reg<kSize>(c, i.op[0].reg);
  }
  uint64_t r = alu_core<kOp, kSize>(c, i.op[0].reg, a, b);
  fused_jcc<flag_kind(kOp), kSize, kCc>(c, i, a, b, r);
}

template <bool kInc, unsigned kSize>
void fused_incdec(C& c, const Insn& i) {
  incdec_r<kInc, kSize>(c, i);
  fused_jcc<FlagKind::kOther, kSize>(c, i, 0, 0, c.lf_r_);
}

// ---- selection ----

/// Picks F<1|2|4|8> by a runtime size.
#define HVSIM_BY_SIZE(fn, size) \
  ((size) == 1 ? &fn<1> : (size) == 2 ? &fn<2> : (size) == 4 ? &fn<4> : &fn<8>)

template <Op kOp>
Handler alu_form(const Insn& i, bool r0, bool r1, bool m0, bool m1, bool imm1) {
  unsigned s = i.op[0].size;
#define HVSIM_ALU(form) \
  (s == 1 ? &form<kOp, 1> : s == 2 ? &form<kOp, 2> : s == 4 ? &form<kOp, 4> : &form<kOp, 8>)
  if (r0 && r1) return HVSIM_ALU(alu_rr);
  if (r0 && imm1) return HVSIM_ALU(alu_ri);
  if (r0 && m1) return HVSIM_ALU(alu_rm);
#undef HVSIM_ALU
  if (kOp == Op::kCmp || kOp == Op::kTest) {
    if (m0 && r1)
      return s == 1   ? &cmp_m<kOp, 1, false>
             : s == 2 ? &cmp_m<kOp, 2, false>
             : s == 4 ? &cmp_m<kOp, 4, false>
                      : &cmp_m<kOp, 8, false>;
    if (m0 && imm1)
      return s == 1   ? &cmp_m<kOp, 1, true>
             : s == 2 ? &cmp_m<kOp, 2, true>
             : s == 4 ? &cmp_m<kOp, 4, true>
                      : &cmp_m<kOp, 8, true>;
  }
  return nullptr;
}

template <unsigned kDst, bool kSigned>
Handler movx_form(unsigned src, bool mem) {
  if (src == 1) return mem ? &movx<kDst, 1, kSigned, true> : &movx<kDst, 1, kSigned, false>;
  if (src == 2) return mem ? &movx<kDst, 2, kSigned, true> : &movx<kDst, 2, kSigned, false>;
  if (kDst == 8 && src == 4) return mem ? &movx<8, 4, kSigned, true> : &movx<8, 4, kSigned, false>;
  return nullptr;
}

Handler jcc_form(unsigned cc) {
  static constexpr Handler kJcc[16] = {&jcc<0>,  &jcc<1>,  &jcc<2>,  &jcc<3>, &jcc<4>,  &jcc<5>,
                                       &jcc<6>,  &jcc<7>,  &jcc<8>,  &jcc<9>, &jcc<10>, &jcc<11>,
                                       &jcc<12>, &jcc<13>, &jcc<14>, &jcc<15>};
  return kJcc[cc & 15];
}

}  // namespace

/// Returns a specialized handler for `i` decoded in 64-bit mode, or nullptr.
Handler fast_handler(const Insn& i) {
  if (i.flags & (kInsnLock | kInsnRep | kInsnRepne | kInsnFar)) return nullptr;
  auto gpr = [&](unsigned n) {
    return n < i.nops && i.op[n].kind == OpKind::kReg && i.op[n].rc == RegClass::kGpr;
  };
  bool mem_ok = i.addrsize == 8 && i.mem.seg != kFs && i.mem.seg != kGs;
  auto mem = [&](unsigned n) { return n < i.nops && i.op[n].kind == OpKind::kMem && mem_ok; };
  auto imm = [&](unsigned n) { return n < i.nops && i.op[n].kind == OpKind::kImm; };
  bool r0 = gpr(0), r1 = gpr(1), m0 = mem(0), m1 = mem(1), i1 = imm(1);
  unsigned s = i.nops ? i.op[0].size : 0;
  bool two = i.nops == 2;
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
      if (!two) return nullptr;
      if (r0 && r1) return HVSIM_BY_SIZE(mov_rr, s);
      if (r0 && i1) return HVSIM_BY_SIZE(mov_ri, s);
      if ((m0 || m1) && base_disp(i) && (s == 4 || s == 8)) {
        bool q = s == 8;
        if (r0) return q ? &mov_rm<8, true> : &mov_rm<4, true>;
        if (r1) return q ? &mov_mr<8, true> : &mov_mr<4, true>;
        if (i1) return q ? &mov_mi<8, true> : &mov_mi<4, true>;
      }
      if (r0 && m1) return HVSIM_BY_SIZE(mov_rm, s);
      if (m0 && r1) return HVSIM_BY_SIZE(mov_mr, s);
      if (m0 && i1) return HVSIM_BY_SIZE(mov_mi, s);
      return nullptr;
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD: {
      if (!two || !r0 || !(r1 || m1) || (s != 4 && s != 8)) return nullptr;
      bool sgn = i.mnemonic != ZYDIS_MNEMONIC_MOVZX;
      unsigned src = i.op[1].size;
      if (s == 4) return sgn ? movx_form<4, true>(src, m1) : movx_form<4, false>(src, m1);
      return sgn ? movx_form<8, true>(src, m1) : movx_form<8, false>(src, m1);
    }
    case ZYDIS_MNEMONIC_LEA:
      if (!two || !r0 || i.op[1].kind != OpKind::kMem || i.addrsize != 8) return nullptr;
      return s == 8 ? &lea<8> : s == 4 ? &lea<4> : nullptr;
    case ZYDIS_MNEMONIC_ADD: return two ? alu_form<Op::kAdd>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_OR: return two ? alu_form<Op::kOr>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_AND: return two ? alu_form<Op::kAnd>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_SUB: return two ? alu_form<Op::kSub>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_XOR: return two ? alu_form<Op::kXor>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_CMP: return two ? alu_form<Op::kCmp>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_TEST: return two ? alu_form<Op::kTest>(i, r0, r1, m0, m1, i1) : nullptr;
    case ZYDIS_MNEMONIC_INC:
      if (!r0) return nullptr;
      return s == 1   ? &incdec_r<true, 1>
             : s == 2 ? &incdec_r<true, 2>
             : s == 4 ? &incdec_r<true, 4>
                      : &incdec_r<true, 8>;
    case ZYDIS_MNEMONIC_DEC:
      if (!r0) return nullptr;
      return s == 1   ? &incdec_r<false, 1>
             : s == 2 ? &incdec_r<false, 2>
             : s == 4 ? &incdec_r<false, 4>
                      : &incdec_r<false, 8>;
    case ZYDIS_MNEMONIC_SHL:
    case ZYDIS_MNEMONIC_SHR:
    case ZYDIS_MNEMONIC_SAR: {
      bool cl = r1 && i.op[1].reg == kRcx && i.op[1].size == 1;
      if (!two || !r0 || !(i1 || cl) || (s != 4 && s != 8)) return nullptr;
      bool w = s == 8;
      if (cl) {
        if (i.mnemonic == ZYDIS_MNEMONIC_SHL)
          return w ? &shift_ri<LazyOp::kShl, 8, true> : &shift_ri<LazyOp::kShl, 4, true>;
        if (i.mnemonic == ZYDIS_MNEMONIC_SHR)
          return w ? &shift_ri<LazyOp::kShr, 8, true> : &shift_ri<LazyOp::kShr, 4, true>;
        return w ? &shift_ri<LazyOp::kSar, 8, true> : &shift_ri<LazyOp::kSar, 4, true>;
      }
      if (i.mnemonic == ZYDIS_MNEMONIC_SHL)
        return w ? &shift_ri<LazyOp::kShl, 8> : &shift_ri<LazyOp::kShl, 4>;
      if (i.mnemonic == ZYDIS_MNEMONIC_SHR)
        return w ? &shift_ri<LazyOp::kShr, 8> : &shift_ri<LazyOp::kShr, 4>;
      return w ? &shift_ri<LazyOp::kSar, 8> : &shift_ri<LazyOp::kSar, 4>;
    }
    case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JBE:
    case ZYDIS_MNEMONIC_JL:
    case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNB:
    case ZYDIS_MNEMONIC_JNBE:
    case ZYDIS_MNEMONIC_JNL:
    case ZYDIS_MNEMONIC_JNLE:
    case ZYDIS_MNEMONIC_JNO:
    case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JNS:
    case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JO:
    case ZYDIS_MNEMONIC_JP:
    case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JZ:
      if (i.opsize != 8 || !imm(0)) return nullptr;
      return jcc_form(i.opcode & 15);
    case ZYDIS_MNEMONIC_JMP:
      if (i.opsize != 8 || i.nops != 1) return nullptr;
      return imm(0)         ? &jmp_rel
             : r0 && s == 8 ? &jmp_ind<false>
             : m0 && s == 8 ? &jmp_ind<true>
                            : nullptr;
    case ZYDIS_MNEMONIC_IMUL: {
      if (!r0 || (s != 4 && s != 8) || !(r1 || m1)) return nullptr;
      bool w = s == 8;
      if (i.nops == 3 && imm(2))
        return m1 ? (w ? &imul_r<8, true, true> : &imul_r<4, true, true>)
                  : (w ? &imul_r<8, false, true> : &imul_r<4, false, true>);
      if (!two) return nullptr;
      return m1 ? (w ? &imul_r<8, true, false> : &imul_r<4, true, false>)
                : (w ? &imul_r<8, false, false> : &imul_r<4, false, false>);
    }
    case ZYDIS_MNEMONIC_BT:
      if (!two || !r0 || (s != 4 && s != 8) || !(r1 || i1)) return nullptr;
      return s == 8 ? (i1 ? &bt_r<8, true> : &bt_r<8, false>)
                    : (i1 ? &bt_r<4, true> : &bt_r<4, false>);
    case ZYDIS_MNEMONIC_CALL: return i.opsize == 8 && imm(0) ? &call_rel : nullptr;
    case ZYDIS_MNEMONIC_RET: return i.opsize == 8 && i.nops == 0 ? &ret_near : nullptr;
    case ZYDIS_MNEMONIC_PUSH: return i.opsize == 8 && r0 && s == 8 ? &push_r : nullptr;
    case ZYDIS_MNEMONIC_POP: return i.opsize == 8 && r0 && s == 8 ? &pop_r : nullptr;
    default: return nullptr;
  }
}

namespace {

/// The 16 handlers of one fused form, one per condition code (CMP and TEST, the usual
/// flag producers before a Jcc, get their condition folded in at compile time).
template <Op kOp, unsigned kSize, Form kForm, size_t... kCc>
constexpr std::array<Handler, 16> fused_cc_table(std::index_sequence<kCc...>) {
  return {&fused_alu<kOp, kSize, kForm, kCc>...};
}

template <Op kOp, Form kForm>
Handler fused_alu_form(unsigned s, unsigned cc) {
  if constexpr (kOp == Op::kCmp || kOp == Op::kTest) {
    static constexpr auto k1 = fused_cc_table<kOp, 1, kForm>(std::make_index_sequence<16>());
    static constexpr auto k4 = fused_cc_table<kOp, 4, kForm>(std::make_index_sequence<16>());
    static constexpr auto k8 = fused_cc_table<kOp, 8, kForm>(std::make_index_sequence<16>());
    if (s == 1) return k1[cc];
    if (s == 4) return k4[cc];
    if (s == 8) return k8[cc];
  }
  return s == 1   ? &fused_alu<kOp, 1, kForm>
         : s == 2 ? &fused_alu<kOp, 2, kForm>
         : s == 4 ? &fused_alu<kOp, 4, kForm>
                  : &fused_alu<kOp, 8, kForm>;
}

template <Op kOp>
Handler fused_alu_op(const Insn& i, Form f, unsigned cc) {
  unsigned s = i.op[0].size;
  switch (f) {
    case Form::kRR: return fused_alu_form<kOp, Form::kRR>(s, cc);
    case Form::kRI: return fused_alu_form<kOp, Form::kRI>(s, cc);
    case Form::kRM:
      if (kOp == Op::kTest) return nullptr;  // not encodable: TEST's memory operand is first
      return fused_alu_form<kOp, Form::kRM>(s, cc);
    case Form::kMI:
    case Form::kMR:
      if (kOp != Op::kCmp && kOp != Op::kTest) return nullptr;  // no read-modify-write
      return f == Form::kMI ? fused_alu_form<kOp, Form::kMI>(s, cc)
                            : fused_alu_form<kOp, Form::kMR>(s, cc);
  }
  return nullptr;
}

}  // namespace

Handler fuse_pair(const Insn& first, const Insn& second) {
  // The second must be a Jcc with its 64-bit specialized handler, the first an
  // instruction with one (both decoded in 64-bit mode).
  unsigned cc = second.opcode & 15;
  if (!(second.exec & kExecCondBranch) || second.handler != jcc_form(cc)) return nullptr;
  if (first.handler != fast_handler(first)) return nullptr;
  const Insn& i = first;
  auto kind = [&](unsigned n) { return n < i.nops ? i.op[n].kind : OpKind::kNone; };
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC: {
      unsigned s = i.op[0].size;
      if (i.mnemonic == ZYDIS_MNEMONIC_INC)
        return s == 1   ? &fused_incdec<true, 1>
               : s == 2 ? &fused_incdec<true, 2>
               : s == 4 ? &fused_incdec<true, 4>
                        : &fused_incdec<true, 8>;
      return s == 1   ? &fused_incdec<false, 1>
             : s == 2 ? &fused_incdec<false, 2>
             : s == 4 ? &fused_incdec<false, 4>
                      : &fused_incdec<false, 8>;
    }
    default: break;
  }
  if (i.nops != 2) return nullptr;
  Form f;
  OpKind k0 = kind(0), k1 = kind(1);
  if (k0 == OpKind::kReg)
    f = k1 == OpKind::kReg ? Form::kRR : k1 == OpKind::kImm ? Form::kRI : Form::kRM;
  else
    f = k1 == OpKind::kImm ? Form::kMI : Form::kMR;
  switch (i.mnemonic) {
    case ZYDIS_MNEMONIC_ADD: return fused_alu_op<Op::kAdd>(i, f, cc);
    case ZYDIS_MNEMONIC_OR: return fused_alu_op<Op::kOr>(i, f, cc);
    case ZYDIS_MNEMONIC_AND: return fused_alu_op<Op::kAnd>(i, f, cc);
    case ZYDIS_MNEMONIC_SUB: return fused_alu_op<Op::kSub>(i, f, cc);
    case ZYDIS_MNEMONIC_XOR: return fused_alu_op<Op::kXor>(i, f, cc);
    case ZYDIS_MNEMONIC_CMP: return fused_alu_op<Op::kCmp>(i, f, cc);
    case ZYDIS_MNEMONIC_TEST: return fused_alu_op<Op::kTest>(i, f, cc);
    default: return nullptr;
  }
}

}  // namespace hvsim::cpu
