// SYSENTER/SYSEXIT fast system calls (Intel SDM Vol. 2 "SYSENTER", "SYSEXIT"; Vol. 3A
// 5.8.7). SYSCALL/SYSRET live in exec_system.cpp; like Intel processors, SYSCALL outside
// 64-bit mode is #UD (the AMD compatibility-mode form through CSTAR is not provided).
#include <Zydis/Zydis.h>

#include "cpu/simd.h"

namespace hvsim::cpu {
namespace {

using C = CpuImpl;
using spec::kAttrDB;
using spec::kAttrG;
using spec::kAttrL;

/// Flat 4 GiB segment with the given access rights (VMX layout).
SegReg flat(uint16_t sel, uint32_t attr) {
  return SegReg{sel, 0, 0xFFFFFFFF, attr};
}

void sysenter(C& c, const Insn&) {
  uint16_t cs = static_cast<uint16_t>(c.s_.sysenter_cs);
  if (!c.protected_ || (cs & 0xFFFC) == 0) raise_gp(0);
  c.s_.rflags &= ~(kFlagVM | kFlagIF | kFlagRF);
  bool lma = c.long_mode_;
  c.s_.seg[kCs] = flat(cs & 0xFFFC, 0x9B | kAttrG | (lma ? kAttrL : kAttrDB));
  c.s_.seg[kSs] = flat(static_cast<uint16_t>((cs & 0xFFFC) + 8), 0x93 | kAttrG | kAttrDB);
  c.update_mode();
  c.s_.gpr[kRsp] = lma ? c.s_.sysenter_esp : c.s_.sysenter_esp & 0xFFFFFFFF;
  c.next_rip_ = lma ? c.s_.sysenter_eip : c.s_.sysenter_eip & 0xFFFFFFFF;
}

/// SYSEXIT (to 32-bit code) and SYSEXIT with REX.W (to 64-bit code): RIP = rDX, RSP = rCX.
void sysexit(C& c, const Insn& i) {
  uint16_t cs = static_cast<uint16_t>(c.s_.sysenter_cs);
  if (!c.protected_ || (cs & 0xFFFC) == 0 || c.cpl_ != 0 || (c.s_.rflags & kFlagVM)) raise_gp(0);
  uint64_t rip = c.s_.gpr[kRdx], rsp = c.s_.gpr[kRcx];
  if (i.opsize == 8) {
    if (!c.canonical(rip) || !c.canonical(rsp)) raise_gp(0);
    c.s_.seg[kCs] = flat(static_cast<uint16_t>((cs + 32) | 3), 0xFB | kAttrG | kAttrL);
    c.s_.seg[kSs] = flat(static_cast<uint16_t>((cs + 40) | 3), 0xF3 | kAttrG | kAttrDB);
  } else {
    rip &= 0xFFFFFFFF;
    rsp &= 0xFFFFFFFF;
    c.s_.seg[kCs] = flat(static_cast<uint16_t>((cs + 16) | 3), 0xFB | kAttrG | kAttrDB);
    c.s_.seg[kSs] = flat(static_cast<uint16_t>((cs + 24) | 3), 0xF3 | kAttrG | kAttrDB);
  }
  c.update_mode();
  c.s_.gpr[kRsp] = rsp;
  c.next_rip_ = rip;
}

}  // namespace

void register_sysenter(HandlerTable t) {
  t[ZYDIS_MNEMONIC_SYSENTER] = &sysenter;
  t[ZYDIS_MNEMONIC_SYSEXIT] = &sysexit;
}

}  // namespace hvsim::cpu
