// String instructions with REP/REPE/REPNE prefixes: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS
// (Intel SDM Vol. 1 7.3.9; Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ").
#include <Zydis/Zydis.h>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;

enum class Str { kMovs, kStos, kLods, kCmps, kScas, kIns, kOuts };

/// Iterations executed before a REP instruction yields (it restarts at the same RIP with
/// the registers reflecting the completed iterations, as real processors do for
/// interrupts), so one instruction never runs unboundedly.
constexpr uint64_t kRepChunk = 4096;

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
  if (kOp == Str::kIns || kOp == Str::kOuts)
    c.check_io(static_cast<uint16_t>(c.s_.gpr[kRdx]), kSize);
  for (;;) {
    if (rep && c.get_gpr(kRcx, as) == 0) break;
    if (done == kRepChunk) {
      c.next_rip_ = c.s_.rip;  // resume this instruction later
      break;
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
  if (done > 1) c.extra_cycles_ += done - 1;
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
