// String instructions with REP/REPE/REPNE prefixes: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS
// (Intel SDM Vol. 1 7.3.9; Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ").
#include <Zydis/Zydis.h>

#include <algorithm>

#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

enum class Str { kMovs, kStos, kLods, kCmps, kScas, kIns, kOuts };

/// Iterations executed before a REP instruction yields (it restarts at the same RIP with
/// the registers reflecting the completed iterations, as real processors do for
/// interrupts), so one instruction never runs unboundedly. Counting: each such chunk of
/// up to kRepChunk iterations retires as one instruction (the instruction count is the
/// number of times the instruction completed or yielded), and costs the class cycles plus
/// string_iteration per further element; deterministic, and the same for the bulk path.
constexpr uint64_t kRepChunk = 4096;

/// Bulk REP MOVS/STOS: moves as many elements as stay within one page of RAM on both
/// sides (and within the remaining count and chunk), straight between host pages.
/// Returns the number of elements done; 0 when the next element needs the per-element
/// path (it crosses a page, touches MMIO, or the segment checks need the exact element).
/// Faults (#PF with CR2, #GP/#SS) are raised before anything of the chunk is committed,
/// with the registers reflecting the elements already done, exactly as element by element.
template <Str kOp, unsigned kSize>
uint64_t bulk(C& c, const Insn& i, uint64_t budget) {
  if ((c.rd_need_ | c.wr_need_) & kTlbNoDirect) return 0;
  unsigned as = i.addrsize;
  uint64_t amask = c.addr_mask(as);
  bool down = c.flag(kFlagDF);
  uint64_t count = c.get_gpr(kRcx, as);
  uint64_t n = count < budget ? count : budget;
  uint64_t di = c.get_gpr(kRdi, as);
  uint64_t si = c.get_gpr(kRsi, as);
  // Elements before the destination (and source) leave their page.
  auto room = [&](uint64_t la) {
    uint64_t off = la & 0xFFF;
    return down ? (off + kSize) / kSize : (4096 - off) / kSize;
  };
  // Offsets must not wrap the address size inside the chunk.
  auto fits = [&](uint64_t off, uint64_t k) {
    return down ? off >= (k - 1) * kSize : off + k * kSize - 1 <= amask;
  };
  uint64_t dla = c.linear(kEs, di, kSize, Access::kWrite);
  if (!c.long_mode_) dla &= 0xFFFFFFFF;
  if ((dla & 0xFFF) + kSize > 4096) return 0;
  n = std::min(n, room(dla));
  uint64_t sla = 0;
  if (kOp == Str::kMovs) {
    sla = c.linear(i.seg_prefix, si, kSize, Access::kRead);
    if (!c.long_mode_) sla &= 0xFFFFFFFF;
    if ((sla & 0xFFF) + kSize > 4096) return 0;
    n = std::min(n, room(sla));
  }
  if (n < 2 || !fits(di, n) || (kOp == Str::kMovs && !fits(si, n))) return 0;
  // Segment checks of the far end of the chunk (the near end was checked above).
  int64_t span = static_cast<int64_t>((n - 1) * kSize);
  uint64_t di_end = down ? di - span : di + span;
  uint64_t si_end = down ? si - span : si + span;
  if (!c.long64_) {
    c.linear(kEs, di_end & amask, kSize, Access::kWrite);
    if (kOp == Str::kMovs) c.linear(i.seg_prefix, si_end & amask, kSize, Access::kRead);
  }
  bool user = c.cpl_ == 3;
  uint64_t spa = 0;
  if (kOp == Str::kMovs) spa = c.translate(sla, Access::kRead, user);
  uint64_t dpa = c.translate(dla, Access::kWrite, user);
  uint64_t bytes = n * kSize;
  uint64_t dlo = down ? dpa + kSize - bytes : dpa;
  uint64_t slo = down ? spa + kSize - bytes : spa;
  PhysicalMemory& mem = *c.env_.mem;
  if (!mem.contains(dlo, bytes) || (kOp == Str::kMovs && !mem.contains(slo, bytes))) return 0;
  uint8_t* d = mem.write_ptr(dlo, bytes);  // notes the write (dirty, code pages)
  if (kOp == Str::kStos) {
    uint64_t v = c.get_gpr(kRax, kSize);
    if (kSize == 1) {
      std::memset(d, static_cast<int>(v), bytes);
    } else {
      for (uint64_t k = 0; k < n; ++k) std::memcpy(d + k * kSize, &v, kSize);
    }
  } else {
    const uint8_t* src = mem.read_ptr(slo);
    // Element order matters only when the destination overlaps source elements that are
    // still to be read: forward with d in (src, src+bytes), backward with d below src.
    bool replicate = down ? (d < src && d + bytes > src) : (d > src && d < src + bytes);
    if (!replicate) {
      std::memmove(d, src, bytes);
    } else if (!down) {
      for (uint64_t k = 0; k < n; ++k) {
        uint8_t tmp[kSize];
        std::memcpy(tmp, src + k * kSize, kSize);
        std::memcpy(d + k * kSize, tmp, kSize);
      }
    } else {
      for (uint64_t k = n; k-- > 0;) {
        uint8_t tmp[kSize];
        std::memcpy(tmp, src + k * kSize, kSize);
        std::memcpy(d + k * kSize, tmp, kSize);
      }
    }
  }
  uint64_t step = down ? (0 - bytes) : bytes;
  c.set_gpr(kRdi, as, (di + step) & amask);
  if (kOp == Str::kMovs) c.set_gpr(kRsi, as, (si + step) & amask);
  c.set_gpr(kRcx, as, (count - n) & amask);
  return n;
}

template <Str kOp, unsigned kSize>
void string_op(C& c, const Insn& i) {
  // MOVSD/CMPSD share their mnemonic with the SSE2 scalar-double forms (not implemented).
  if (i.nops && i.op[0].kind == OpKind::kReg && i.op[0].rc == RegClass::kOther) raise_ud();
  unsigned as = i.addrsize;
  uint64_t amask = c.addr_mask(as);
  bool rep = (i.flags & (kInsnRep | kInsnRepne)) != 0;
  bool repne = (i.flags & kInsnRepne) != 0;
  int64_t delta = c.flag(kFlagDF) ? -static_cast<int64_t>(kSize) : kSize;
  unsigned src_seg = i.seg_prefix;
  uint64_t done = 0;
  // With EFLAGS.TF (or a data breakpoint) set, each iteration is one instruction boundary:
  // the single-step trap (or the breakpoint's trap) comes after every iteration, with RIP
  // at the REP instruction until the last one (SDM Vol. 3A 17.3.1.4, 17.3.1.2).
  const uint64_t chunk = ((c.s_.rflags & kFlagTF) || c.watch_data_) ? 1 : kRepChunk;
  if (kOp == Str::kIns || kOp == Str::kOuts)
    c.check_io(static_cast<uint16_t>(c.s_.gpr[kRdx]), kSize);
  if ((kOp == Str::kIns || kOp == Str::kOuts) && c.vmx_non_root_ && c.vmx_->intercept(i)) return;
  for (;;) {
    if (rep && c.get_gpr(kRcx, as) == 0) break;
    if (done == chunk) {
      c.next_rip_ = c.s_.rip;  // resume this instruction later
      break;
    }
    if constexpr (kOp == Str::kMovs || kOp == Str::kStos) {
      if (rep) {
        if (uint64_t n = bulk<kOp, kSize>(c, i, chunk - done)) {
          done += n;
          continue;
        }
      }
    }
    uint64_t si = c.get_gpr(kRsi, as), di = c.get_gpr(kRdi, as);
    bool stop = false;
    switch (kOp) {
      case Str::kMovs: {
        uint64_t v = c.read_mem(src_seg, si, kSize);
        c.write_mem(kEs, di, kSize, v);
        c.set_gpr(kRsi, as, (si + delta) & amask);
        c.set_gpr(kRdi, as, (di + delta) & amask);
        break;
      }
      case Str::kStos:
        c.write_mem(kEs, di, kSize, c.get_gpr(kRax, kSize));
        c.set_gpr(kRdi, as, (di + delta) & amask);
        break;
      case Str::kLods:
        c.set_gpr(kRax, kSize, c.read_mem(src_seg, si, kSize));
        c.set_gpr(kRsi, as, (si + delta) & amask);
        break;
      case Str::kCmps:
      case Str::kScas: {
        uint64_t a = kOp == Str::kCmps ? c.read_mem(src_seg, si, kSize) : c.get_gpr(kRax, kSize);
        uint64_t b = c.read_mem(kEs, di, kSize);
        uint64_t r = (a - b) & size_mask(kSize);
        c.set_arith_flags(sub_flags(a, b, 0, r, kSize));
        if (kOp == Str::kCmps) c.set_gpr(kRsi, as, (si + delta) & amask);
        c.set_gpr(kRdi, as, (di + delta) & amask);
        stop = repne ? r == 0 : r != 0;
        break;
      }
      case Str::kIns: {
        uint64_t la = c.linear(kEs, di, kSize, Access::kWrite);
        c.probe_write_lin(la, kSize);
        uint64_t v = c.env_.io->read(static_cast<uint16_t>(c.s_.gpr[kRdx]), kSize);
        c.write_lin(la, kSize, v);
        c.set_gpr(kRdi, as, (di + delta) & amask);
        break;
      }
      case Str::kOuts: {
        uint64_t v = c.read_mem(src_seg, si, kSize);
        c.env_.io->write(static_cast<uint16_t>(c.s_.gpr[kRdx]), kSize, static_cast<uint32_t>(v));
        c.set_gpr(kRsi, as, (si + delta) & amask);
        break;
      }
    }
    ++done;
    if (!rep) break;
    c.set_gpr(kRcx, as, (c.get_gpr(kRcx, as) - 1) & amask);
    if ((kOp == Str::kCmps || kOp == Str::kScas) && stop) break;
    if ((kOp == Str::kIns || kOp == Str::kOuts) && c.env_.stop_flag && *c.env_.stop_flag) {
      if (c.get_gpr(kRcx, as) != 0) c.next_rip_ = c.s_.rip;
      break;
    }
  }
  if (done > 1) c.cycles_ += (done - 1) * c.timing_.string_iteration;
}

}  // namespace

void register_string(HandlerTable t) {
  t[ZYDIS_MNEMONIC_MOVSB] = &string_op<Str::kMovs, 1>;
  t[ZYDIS_MNEMONIC_MOVSW] = &string_op<Str::kMovs, 2>;
  t[ZYDIS_MNEMONIC_MOVSD] = &string_op<Str::kMovs, 4>;
  t[ZYDIS_MNEMONIC_MOVSQ] = &string_op<Str::kMovs, 8>;
  t[ZYDIS_MNEMONIC_STOSB] = &string_op<Str::kStos, 1>;
  t[ZYDIS_MNEMONIC_STOSW] = &string_op<Str::kStos, 2>;
  t[ZYDIS_MNEMONIC_STOSD] = &string_op<Str::kStos, 4>;
  t[ZYDIS_MNEMONIC_STOSQ] = &string_op<Str::kStos, 8>;
  t[ZYDIS_MNEMONIC_LODSB] = &string_op<Str::kLods, 1>;
  t[ZYDIS_MNEMONIC_LODSW] = &string_op<Str::kLods, 2>;
  t[ZYDIS_MNEMONIC_LODSD] = &string_op<Str::kLods, 4>;
  t[ZYDIS_MNEMONIC_LODSQ] = &string_op<Str::kLods, 8>;
  t[ZYDIS_MNEMONIC_CMPSB] = &string_op<Str::kCmps, 1>;
  t[ZYDIS_MNEMONIC_CMPSW] = &string_op<Str::kCmps, 2>;
  t[ZYDIS_MNEMONIC_CMPSD] = &string_op<Str::kCmps, 4>;
  t[ZYDIS_MNEMONIC_CMPSQ] = &string_op<Str::kCmps, 8>;
  t[ZYDIS_MNEMONIC_SCASB] = &string_op<Str::kScas, 1>;
  t[ZYDIS_MNEMONIC_SCASW] = &string_op<Str::kScas, 2>;
  t[ZYDIS_MNEMONIC_SCASD] = &string_op<Str::kScas, 4>;
  t[ZYDIS_MNEMONIC_SCASQ] = &string_op<Str::kScas, 8>;
  t[ZYDIS_MNEMONIC_INSB] = &string_op<Str::kIns, 1>;
  t[ZYDIS_MNEMONIC_INSW] = &string_op<Str::kIns, 2>;
  t[ZYDIS_MNEMONIC_INSD] = &string_op<Str::kIns, 4>;
  t[ZYDIS_MNEMONIC_OUTSB] = &string_op<Str::kOuts, 1>;
  t[ZYDIS_MNEMONIC_OUTSW] = &string_op<Str::kOuts, 2>;
  t[ZYDIS_MNEMONIC_OUTSD] = &string_op<Str::kOuts, 4>;
}

}  // namespace hvsim::cpu
