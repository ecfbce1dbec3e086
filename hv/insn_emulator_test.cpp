// Differential test of the hypervisor's instruction emulator against Unicorn 2.0.1 (the
// project's semantic oracle, DESIGN.md "Testing layers" 2): generated instructions with one
// operand in an MMIO page run on both; GPRs, XMM registers, defined flags, RIP, RAM and the
// MMIO traffic (order, address, size, value) must agree. Plus faults, REP restarts,
// INS/OUTS and refusals, which Unicorn cannot judge (Intel SDM Vol. 2 instruction pages).
#include <gtest/gtest.h>
#include <unicorn/unicorn.h>

#include <cstring>
#include <vector>

#include "core/io_bus.h"
#include "core/rng.h"
#include "cpu/encoder_asm.h"
#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"
#include "hv/insn_emulator.h"

namespace hvsim::hv {
namespace {

using namespace cpu::encoder;
using cpu::spec::kPteP;
using cpu::spec::kPtePS;
using cpu::spec::kPteRW;
using cpu::spec::kPteUS;

constexpr uint64_t kCode = 0x1000, kData = 0x200000, kMmio = 0x40000000;
constexpr uint64_t kFlags =
    cpu::kFlagCF | cpu::kFlagPF | cpu::kFlagAF | cpu::kFlagZF | cpu::kFlagSF | cpu::kFlagOF;

/// 4 MiB of RAM at 0; identity-mapped by 1 GiB pages (tables at 0x10000). 0x40000000 and
/// above are not RAM (device memory).
class Ram final : public GuestPhysMemory {
 public:
  std::vector<uint8_t> b = std::vector<uint8_t>(4 << 20);
  bool read(uint64_t gpa, void* out, unsigned len) override {
    if (!is_ram(gpa)) return false;
    std::memcpy(out, &b[gpa], len);
    return true;
  }
  bool write(uint64_t gpa, const void* in, unsigned len) override {
    if (!is_ram(gpa) || (gpa >= read_only_from && gpa < read_only_to)) return false;
    std::memcpy(&b[gpa], in, len);
    return true;
  }
  bool is_ram(uint64_t gpa) const override { return gpa + 16 <= b.size(); }
  uint64_t read_only_from = 0, read_only_to = 0;
};

struct Access {
  bool write;
  uint64_t addr;
  unsigned size;
  uint64_t value;
  bool operator==(const Access&) const = default;
};

/// What a device answers: byte `a` of the MMIO page reads as a fixed function of `a`, so
/// that both sides see the same values however an access is split.
uint64_t device_value(uint64_t addr, unsigned size) {
  uint64_t v = 0;
  for (unsigned k = 0; k < size; ++k) {
    uint64_t a = addr + k;
    v |= (((a * 0x9E3779B97F4A7C15ull) >> 56) & 0xFF) << (8 * k);
  }
  return v;
}

/// Unicorn 2.0.1 splits an 8-byte MMIO access into two 4-byte ones (low half first);
/// merge such pairs where our access was one 8-byte access.
std::vector<Access> merge_halves(const std::vector<Access>& uc, const std::vector<Access>& ours) {
  std::vector<Access> out;
  for (size_t k = 0; k < uc.size(); ++k) {
    size_t at = out.size();
    if (at < ours.size() && ours[at].size == 8 && k + 1 < uc.size() && uc[k].size == 4 &&
        uc[k + 1].size == 4 && uc[k + 1].addr == uc[k].addr + 4 && uc[k].write == uc[k + 1].write) {
      out.push_back({uc[k].write, uc[k].addr, 8, uc[k].value | (uc[k + 1].value << 32)});
      ++k;
    } else {
      out.push_back(uc[k]);
    }
  }
  return out;
}

class Recorder final : public MmioTarget {
 public:
  std::vector<Access> log;
  uint64_t read(uint64_t gpa, unsigned size) override {
    uint64_t v = device_value(gpa, size);
    log.push_back({false, gpa, size, v});
    return v;
  }
  void write(uint64_t gpa, unsigned size, uint64_t value) override {
    log.push_back({true, gpa, size, value});
  }
};

uint64_t uc_read(uc_engine*, uint64_t off, unsigned size, void* user) {
  auto* log = static_cast<std::vector<Access>*>(user);
  uint64_t v = device_value(kMmio + off, size);
  log->push_back({false, kMmio + off, size, v});
  return v;
}
void uc_write(uc_engine*, uint64_t off, unsigned size, uint64_t value, void* user) {
  auto* log = static_cast<std::vector<Access>*>(user);
  uint64_t m = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
  log->push_back({true, kMmio + off, size, value & m});
}

const int kUcGpr[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                        UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                        UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                        UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};

/// The guest state of one case: 64-bit mode, 4-level paging with the identity map.
struct Guest {
  Ram ram;
  uint64_t gpr[16] = {};
  cpu::Xmm xmm[16] = {};
  uint64_t rflags = 2;
  GuestCpu cpu() {
    GuestCpu g;
    g.gpr = gpr;
    g.xmm = xmm;
    g.rip = kCode;
    g.rflags = rflags;
    g.seg[cpu::kCs] = cpu::SegReg{0x8, 0, 0xFFFFFFFF, 0xA09B};
    for (int k : {cpu::kEs, cpu::kSs, cpu::kDs, cpu::kFs, cpu::kGs})
      g.seg[k] = cpu::SegReg{0x10, 0, 0xFFFFFFFF, 0xC093};
    g.paging.cr0 = 0x80010033;
    g.paging.cr4 = 0x20;
    g.paging.efer = 0xD00;
    g.paging.cr3 = 0x10000;
    g.paging.rflags = rflags;
    return g;
  }
  Guest() {
    auto q = [&](uint64_t a, uint64_t v) { std::memcpy(&ram.b[a], &v, 8); };
    q(0x10000, 0x11000 | kPteP | kPteRW | kPteUS);
    for (uint64_t k = 0; k < 4; ++k)
      q(0x11000 + 8 * k, (k << 30) | kPteP | kPteRW | kPteUS | kPtePS);
  }
};

ZydisRegister gpr_reg(unsigned k, unsigned size) {
  switch (size) {
    case 1:
      return static_cast<ZydisRegister>(k < 4   ? ZYDIS_REGISTER_AL + k
                                        : k < 8 ? ZYDIS_REGISTER_SPL + (k - 4)
                                                : ZYDIS_REGISTER_R8B + (k - 8));
    case 2: return static_cast<ZydisRegister>(ZYDIS_REGISTER_AX + k);
    case 4: return static_cast<ZydisRegister>(ZYDIS_REGISTER_EAX + k);
    default: return static_cast<ZydisRegister>(ZYDIS_REGISTER_RAX + k);
  }
}

/// One generated case: code bytes, initial registers and which flags are defined.
struct Case {
  std::vector<uint8_t> code;
  uint64_t flag_mask = kFlags;
  std::string what;
};

/// The value registers (never RSP, never RBX, the MMIO base, never the string registers).
constexpr unsigned kValueRegs[] = {0, 2, 5, 8, 9, 10, 11, 12, 13, 14, 15};

Case generate(Rng& rng, Guest& s) {
  Case c;
  Assembler a;
  static const unsigned kSizes[] = {1, 2, 4, 8};
  unsigned size = kSizes[rng.below(4)];
  unsigned vr = kValueRegs[rng.below(std::size(kValueRegs))];
  // RBX points into the middle of the MMIO page, aligned for the operand.
  s.gpr[3] = kMmio + 0x800 + 8 * rng.below(64);
  int64_t disp = static_cast<int64_t>(8 * rng.below(16)) - 64;
  ZydisEncoderOperand mem = M(size, ZYDIS_REGISTER_RBX, disp);
  ZydisEncoderOperand reg = R(gpr_reg(vr, size));
  int64_t imm = static_cast<int64_t>(rng.next());
  if (size == 1) imm = static_cast<int8_t>(imm);
  if (size == 2) imm = static_cast<int16_t>(imm);
  if (size >= 4) imm = static_cast<int32_t>(imm);
  static const ZydisMnemonic kAlu[] = {ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_ADC, ZYDIS_MNEMONIC_SUB,
                                       ZYDIS_MNEMONIC_SBB, ZYDIS_MNEMONIC_CMP, ZYDIS_MNEMONIC_AND,
                                       ZYDIS_MNEMONIC_OR,  ZYDIS_MNEMONIC_XOR};
  bool ok = false;
  switch (rng.below(16)) {
    case 0: ok = a.try_emit(ZYDIS_MNEMONIC_MOV, {mem, reg}), c.what = "mov m,r"; break;
    case 1: ok = a.try_emit(ZYDIS_MNEMONIC_MOV, {reg, mem}), c.what = "mov r,m"; break;
    case 2: ok = a.try_emit(ZYDIS_MNEMONIC_MOV, {mem, I(imm)}), c.what = "mov m,imm"; break;
    case 3: {
      unsigned ss = rng.below(2) ? 1 : 2,
               ds = ss == 1 ? kSizes[1 + rng.below(3)] : kSizes[2 + rng.below(2)];
      bool sx = rng.below(2);
      c.what = sx ? "movsx" : "movzx";
      ok = a.try_emit(sx ? ZYDIS_MNEMONIC_MOVSX : ZYDIS_MNEMONIC_MOVZX,
                      {R(gpr_reg(vr, ds)), M(ss, ZYDIS_REGISTER_RBX, disp)});
      if (!sx || rng.below(3)) break;
      a = Assembler();
      ok = a.try_emit(ZYDIS_MNEMONIC_MOVSXD, {R(gpr_reg(vr, 8)), M(4, ZYDIS_REGISTER_RBX, disp)});
      c.what = "movsxd";
      break;
    }
    case 4:
    case 5: {
      ZydisMnemonic m = kAlu[rng.below(8)];
      unsigned form = static_cast<unsigned>(rng.below(3));
      ZyanU64 lock =
          (form == 0 && m != ZYDIS_MNEMONIC_CMP && rng.below(3) == 0) ? ZYDIS_ATTRIB_HAS_LOCK : 0;
      ok = form == 0   ? a.try_emit(m, {mem, reg}, lock)
           : form == 1 ? a.try_emit(m, {reg, mem})
                       : a.try_emit(m, {mem, I(rng.below(2) ? imm : static_cast<int8_t>(imm))});
      c.what = "alu";
      if (m == ZYDIS_MNEMONIC_AND || m == ZYDIS_MNEMONIC_OR || m == ZYDIS_MNEMONIC_XOR)
        c.flag_mask &= ~cpu::kFlagAF;  // undefined for logical operations
      break;
    }
    case 6:
      ok = rng.below(2) ? a.try_emit(ZYDIS_MNEMONIC_TEST, {mem, reg})
                        : a.try_emit(ZYDIS_MNEMONIC_TEST, {mem, I(imm)});
      c.flag_mask &= ~cpu::kFlagAF;
      c.what = "test";
      break;
    case 7: {
      static const ZydisMnemonic kUn[] = {ZYDIS_MNEMONIC_INC, ZYDIS_MNEMONIC_DEC,
                                          ZYDIS_MNEMONIC_NEG, ZYDIS_MNEMONIC_NOT};
      ok = a.try_emit(kUn[rng.below(4)], {mem});
      c.what = "unary";
      break;
    }
    case 8: ok = a.try_emit(ZYDIS_MNEMONIC_XCHG, {mem, reg}), c.what = "xchg"; break;
    case 9: {
      static const ZydisMnemonic kBt[] = {ZYDIS_MNEMONIC_BT, ZYDIS_MNEMONIC_BTS, ZYDIS_MNEMONIC_BTR,
                                          ZYDIS_MNEMONIC_BTC};
      unsigned bs = kSizes[1 + rng.below(3)];
      ZydisEncoderOperand m = M(bs, ZYDIS_REGISTER_RBX, disp);
      if (rng.below(2)) {
        ok = a.try_emit(kBt[rng.below(4)], {m, I(static_cast<int64_t>(rng.below(256)))});
      } else {
        // A register bit offset in [-512, 512) reaches other words of the page.
        s.gpr[vr] = static_cast<uint64_t>(static_cast<int64_t>(rng.below(1024)) - 512);
        ok = a.try_emit(kBt[rng.below(4)], {m, R(gpr_reg(vr, bs))});
      }
      c.flag_mask = cpu::kFlagCF;  // OF, SF, AF, PF undefined; ZF kept
      c.what = "bt";
      break;
    }
    case 10: {
      unsigned ns = rng.below(2) ? 4 : 8;
      ok = a.try_emit(ZYDIS_MNEMONIC_MOVNTI, {M(ns, ZYDIS_REGISTER_RBX, disp), R(gpr_reg(vr, ns))});
      c.what = "movnti";
      break;
    }
    case 11: {
      unsigned x = static_cast<unsigned>(rng.below(16));
      auto xr = R(static_cast<ZydisRegister>(ZYDIS_REGISTER_XMM0 + x));
      bool q = rng.below(2);
      ZydisMnemonic m = q ? ZYDIS_MNEMONIC_MOVQ : ZYDIS_MNEMONIC_MOVD;
      auto mm = M(q ? 8 : 4, ZYDIS_REGISTER_RBX, disp);
      ok = rng.below(2) ? a.try_emit(m, {xr, mm}) : a.try_emit(m, {mm, xr});
      c.what = "movd/movq";
      break;
    }
    case 12: {
      // MOV moffs (A0-A3) with a 64-bit absolute address.
      uint64_t addr = kMmio + 8 * rng.below(500);
      uint8_t op = static_cast<uint8_t>(0xA0 + rng.below(4));
      unsigned sz = (op & 1) ? kSizes[1 + rng.below(3)] : 1;
      if (sz == 2) c.code.push_back(0x66);
      if (sz == 8) c.code.push_back(0x48);
      c.code.push_back(op);
      for (int k = 0; k < 8; ++k) c.code.push_back(static_cast<uint8_t>(addr >> (8 * k)));
      c.what = "mov moffs";
      return c;
    }
    case 13: {
      // RIP-relative operand reaching the MMIO page.
      // The displacement is relative to the next instruction: encode once for the length,
      // then again so that the target is aligned (Unicorn splits unaligned MMIO accesses).
      uint64_t target = kMmio + 0x100 + 8 * rng.below(32);
      bool load = rng.below(2);
      for (int pass = 0; pass < 2; ++pass) {
        int64_t d = static_cast<int64_t>(target - kCode - (pass ? a.size() : 0));
        if (pass) a = Assembler();
        ZydisEncoderOperand rip = M(size, ZYDIS_REGISTER_RIP, d);
        ok = load ? a.try_emit(ZYDIS_MNEMONIC_MOV, {reg, rip})
                  : a.try_emit(ZYDIS_MNEMONIC_ADD, {rip, reg});
      }
      c.what = "rip-relative";
      break;
    }
    default: {
      // String instructions with or without REP: one side MMIO, the other RAM.
      static const uint8_t kOps[] = {0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD};
      uint8_t op = kOps[rng.below(6)];
      unsigned sz = (op & 1) ? kSizes[1 + rng.below(3)] : 1;
      bool rep = op != 0xAC && op != 0xAD ? rng.below(3) != 0 : false;
      bool down = rng.below(4) == 0;
      s.rflags |= down ? cpu::kFlagDF : 0;
      s.gpr[1] = rng.below(12);  // RCX
      bool mmio_src = rng.below(2);
      s.gpr[6] = (op >= 0xAC || mmio_src ? kMmio : kData) + 0x800;                 // RSI
      s.gpr[7] = (op == 0xAA || op == 0xAB || !mmio_src ? kMmio : kData) + 0x800;  // RDI
      if (rep) c.code.push_back(0xF3);
      if (sz == 2) c.code.push_back(0x66);
      if (sz == 8) c.code.push_back(0x48);
      c.code.push_back(op);
      c.what = "string";
      return c;
    }
  }
  if (!ok) return Case{};
  c.code = a.bytes();
  return c;
}

TEST(InsnEmulator, MatchesUnicornOnGeneratedMmioInstructions) {
  Rng rng(0x3E3E3E);
  int run = 0, refused_by_encoder = 0;
  for (int n = 0; n < 1500; ++n) {
    Guest s;
    for (unsigned k : kValueRegs) s.gpr[k] = rng.next();
    for (auto& x : s.xmm) x = cpu::Xmm{rng.next(), rng.next()};
    s.rflags = 2 | (rng.next() & kFlags);
    for (uint64_t k = 0; k < 4096; k += 8) {
      uint64_t v = rng.next();
      std::memcpy(&s.ram.b[kData + k], &v, 8);
    }
    Case c = generate(rng, s);
    if (c.code.empty()) {
      ++refused_by_encoder;
      continue;
    }
    std::memcpy(&s.ram.b[kCode], c.code.data(), c.code.size());
    // Unicorn: flat 64-bit, code and data pages, the MMIO page.
    uc_engine* uc = nullptr;
    ASSERT_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
    uc_mem_map(uc, kCode, 0x1000, UC_PROT_ALL);
    uc_mem_map(uc, kData, 0x1000, UC_PROT_ALL);
    uc_mem_write(uc, kCode, c.code.data(), c.code.size());
    uc_mem_write(uc, kData, &s.ram.b[kData], 0x1000);
    std::vector<Access> uc_log;
    ASSERT_EQ(uc_mmio_map(uc, kMmio, 0x1000, uc_read, &uc_log, uc_write, &uc_log), UC_ERR_OK);
    for (int k = 0; k < 16; ++k) uc_reg_write(uc, kUcGpr[k], &s.gpr[k]);
    for (int k = 0; k < 16; ++k) uc_reg_write(uc, UC_X86_REG_XMM0 + k, &s.xmm[k]);
    uc_reg_write(uc, UC_X86_REG_RFLAGS, &s.rflags);
    uc_err err = uc_emu_start(uc, kCode, kCode + c.code.size(), 0, 0);
    ASSERT_EQ(err, UC_ERR_OK) << c.what << " case " << n;

    GuestCpu g = s.cpu();
    Recorder rec;
    EmulationResult r = emulate_instruction(g, s.ram, rec);
    ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << c.what << " " << r.reason << " case " << n;
    SCOPED_TRACE(c.what + " " + r.mnemonic + " case " + std::to_string(n));
    EXPECT_EQ(r.length, c.code.size());
    uint64_t v = 0;
    for (int k = 0; k < 16; ++k) {
      uc_reg_read(uc, kUcGpr[k], &v);
      EXPECT_EQ(s.gpr[k], v) << "GPR " << k;
    }
    for (int k = 0; k < 16; ++k) {
      cpu::Xmm x;
      uc_reg_read(uc, UC_X86_REG_XMM0 + k, &x);
      EXPECT_EQ(s.xmm[k].lo, x.lo) << "XMM" << k;
      EXPECT_EQ(s.xmm[k].hi, x.hi) << "XMM" << k;
    }
    uc_reg_read(uc, UC_X86_REG_RFLAGS, &v);
    EXPECT_EQ(g.rflags & c.flag_mask, v & c.flag_mask);
    uc_reg_read(uc, UC_X86_REG_RIP, &v);
    EXPECT_EQ(g.rip, v);
    std::vector<uint8_t> data(0x1000);
    uc_mem_read(uc, kData, data.data(), data.size());
    EXPECT_EQ(0, std::memcmp(data.data(), &s.ram.b[kData], data.size()));
    uc_log = merge_halves(uc_log, rec.log);
    ASSERT_EQ(rec.log.size(), uc_log.size());
    for (size_t k = 0; k < uc_log.size(); ++k) EXPECT_EQ(rec.log[k], uc_log[k]) << "access " << k;
    EXPECT_EQ(r.mmio_accesses, rec.log.size());
    uc_close(uc);
    ++run;
  }
  if (getenv("HVSIM_EMU_COUNTS")) printf("%d run, %d not encodable\n", run, refused_by_encoder);
  EXPECT_GE(run, 1000);
  EXPECT_LT(refused_by_encoder, 300);
}

TEST(InsnEmulator, RepStringFaultKeepsCompletedIterations) {
  Guest s;
  // 4 KiB tables below 4 MiB: the code page and kData's page present, the page after kData
  // not; PDPTE 1 keeps mapping the MMIO gigabyte.
  auto q = [&](uint64_t a, uint64_t v) { std::memcpy(&s.ram.b[a], &v, 8); };
  q(0x11000, 0x12000 | kPteP | kPteRW);
  q(0x12000, 0x14000 | kPteP | kPteRW);
  q(0x14000 + 8 * 1, kCode | kPteP | kPteRW);
  q(0x12000 + 8 * 1, 0x13000 | kPteP | kPteRW);
  q(0x13000, kData | kPteP | kPteRW);
  // rep movsb from MMIO to RAM, running into the absent page after four bytes.
  s.gpr[1] = 8;
  s.gpr[6] = kMmio;
  s.gpr[7] = kData + 0xFFC;
  s.ram.b[kCode] = 0xF3;
  s.ram.b[kCode + 1] = 0xA4;
  GuestCpu g = s.cpu();
  Recorder rec;
  EmulationResult r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kFault) << r.reason;
  EXPECT_EQ(r.fault.vector, 14);
  EXPECT_EQ(r.fault.error, cpu::spec::kPfW);
  EXPECT_EQ(r.fault.cr2, kData + 0x1000);
  EXPECT_EQ(s.gpr[1], 4u);  // four bytes moved
  EXPECT_EQ(s.gpr[7], kData + 0x1000);
  EXPECT_EQ(s.gpr[6], kMmio + 4);
  EXPECT_EQ(g.rip, kCode);  // RIP stays at the instruction
  EXPECT_EQ(rec.log.size(), 4u);
  for (unsigned k = 0; k < 4; ++k) EXPECT_EQ(s.ram.b[kData + 0xFFC + k], rec.log[k].value);
}

TEST(InsnEmulator, LongRepPausesAndResumes) {
  Guest s;
  s.gpr[1] = kMaxRepIterations + 10;
  s.gpr[7] = kMmio;
  s.gpr[0] = 0x5A;
  s.ram.b[kCode] = 0xF3;
  s.ram.b[kCode + 1] = 0xAA;  // rep stosb over device memory
  GuestCpu g = s.cpu();
  Recorder rec;
  EmulationResult r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  EXPECT_EQ(g.rip, kCode);  // paused: the instruction runs again
  EXPECT_EQ(s.gpr[1], 10u);
  EXPECT_EQ(rec.log.size(), kMaxRepIterations);
  r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  EXPECT_EQ(g.rip, kCode + 2);
  EXPECT_EQ(s.gpr[1], 0u);
  EXPECT_EQ(rec.log.size(), kMaxRepIterations + 10);
}

TEST(InsnEmulator, RefusesWhatItDoesNotCoverAndChangesNothing) {
  Guest s;
  s.gpr[3] = kMmio;
  s.gpr[0] = 7;
  // imul rax, [rbx]
  const uint8_t code[] = {0x48, 0x0F, 0xAF, 0x03};
  std::memcpy(&s.ram.b[kCode], code, sizeof code);
  GuestCpu g = s.cpu();
  Recorder rec;
  EmulationResult r = emulate_instruction(g, s.ram, rec);
  EXPECT_EQ(r.kind, EmulationResult::Kind::kCannotEmulate);
  EXPECT_NE(r.reason.find("imul"), std::string::npos) << r.reason;
  EXPECT_EQ(s.gpr[0], 7u);
  EXPECT_EQ(g.rip, kCode);
  EXPECT_TRUE(rec.log.empty());
  // An 8-byte access straddling the end of the MMIO page is refused too.
  s.gpr[3] = kMmio + 0xFFC;
  const uint8_t mov[] = {0x48, 0x8B, 0x03};
  std::memcpy(&s.ram.b[kCode], mov, sizeof mov);
  g = s.cpu();
  r = emulate_instruction(g, s.ram, rec);
  EXPECT_EQ(r.kind, EmulationResult::Kind::kCannotEmulate);
  // Bytes that do not decode: #UD.
  const uint8_t reserved[] = {0x0F, 0x04};
  std::memcpy(&s.ram.b[kCode], reserved, sizeof reserved);
  g = s.cpu();
  r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kFault);
  EXPECT_EQ(r.fault.vector, 6);
}

TEST(InsnEmulator, WriteToReadOnlyRamIsGp) {
  Guest s;
  s.ram.read_only_from = kData;
  s.ram.read_only_to = kData + 0x1000;
  s.gpr[7] = kData;
  s.gpr[6] = kMmio;
  s.ram.b[kCode] = 0xA4;  // movsb from MMIO to the read-only page
  GuestCpu g = s.cpu();
  Recorder rec;
  EmulationResult r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kFault);
  EXPECT_EQ(r.fault.vector, 13);
}

TEST(InsnEmulator, LegacyModesUseSegmentBasesLimitsAndAddressSize) {
  Guest s;
  Recorder rec;
  // 32-bit protected mode, no paging: DS base in device memory, limit 64 KiB.
  GuestCpu g = s.cpu();
  g.paging = PagingRegs{};
  g.paging.cr0 = cpu::kCr0PE;
  g.seg[cpu::kCs] = cpu::SegReg{0x8, 0, 0xFFFFFFFF, 0xC09B};
  g.seg[cpu::kDs] = cpu::SegReg{0x10, kMmio, 0xFFFF, 0xC093};
  g.seg[cpu::kFs] = cpu::SegReg{0x18, kMmio + 0x1000, 0xFFFF, 0xC093};
  s.gpr[3] = 0x10;
  const uint8_t mov[] = {0x8B, 0x43, 0x04, 0x64, 0x8B, 0x43, 0x04};  // mov eax,[ebx+4]; fs:
  std::memcpy(&s.ram.b[kCode], mov, sizeof mov);
  EmulationResult r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  ASSERT_EQ(rec.log.size(), 1u);
  EXPECT_EQ(rec.log[0], (Access{false, kMmio + 0x14, 4, device_value(kMmio + 0x14, 4)}));
  EXPECT_EQ(s.gpr[0], device_value(kMmio + 0x14, 4));
  EXPECT_EQ(g.rip, kCode + 3);
  r = emulate_instruction(g, s.ram, rec);  // the FS override
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  EXPECT_EQ(rec.log.back().addr, kMmio + 0x1014);
  // Past the limit: #GP(0), nothing read.
  g.rip = kCode;
  s.gpr[3] = 0xFFFC;
  r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kFault);
  EXPECT_EQ(r.fault.vector, 13);
  EXPECT_EQ(rec.log.size(), 2u);
  // Real mode (16-bit addressing): [bx+si] wraps at 64 KiB; the hidden base is used.
  g = s.cpu();
  g.paging = PagingRegs{};
  g.seg[cpu::kCs] = cpu::SegReg{0, 0, 0xFFFF, 0x9B};
  g.seg[cpu::kDs] = cpu::SegReg{0, kMmio, 0xFFFF, 0x93};
  s.gpr[3] = 0xFFF0;
  s.gpr[6] = 0x20;
  const uint8_t mov16[] = {0x89, 0x00};  // mov [bx+si], ax
  std::memcpy(&s.ram.b[kCode], mov16, sizeof mov16);
  s.gpr[0] = 0x1234'5678;
  r = emulate_instruction(g, s.ram, rec);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  EXPECT_EQ(rec.log.back(), (Access{true, kMmio + 0x10, 2, 0x5678}));
  EXPECT_EQ(g.rip, kCode + 2);
}

TEST(InsnEmulator, RandomBytesNeverHurtTheHost) {
  // A guest controls every byte at RIP and every register: whatever they are, the emulator
  // returns a result (done, a fault or a refusal) and touches only guest memory and the
  // targets. Instructions start with prefixes and opcodes of the covered set half the time.
  Rng rng(77);
  PortIoBus bus;
  int kinds[3] = {0, 0, 0};
  static const uint8_t kStarts[] = {0x88, 0x89, 0x8A, 0x8B, 0xC6, 0xC7, 0xA0, 0xA3, 0x01,
                                    0x0B, 0x21, 0x31, 0x39, 0x85, 0x87, 0xF6, 0xF7, 0xFE,
                                    0xFF, 0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0x6C, 0x6E, 0x0F};
  for (int n = 0; n < 20000; ++n) {
    Guest s;
    for (auto& r : s.gpr) r = rng.below(2) ? kMmio + rng.below(0x2000) : rng.next();
    s.rflags = 2 | (rng.next() & (kFlags | cpu::kFlagDF));
    uint8_t code[16];
    for (auto& b : code) b = static_cast<uint8_t>(rng.next());
    unsigned at = 0;
    static const uint8_t kPrefixes[] = {0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x64, 0x2E, 0x48, 0x41};
    while (rng.below(3) == 0 && at < 4) code[at++] = kPrefixes[rng.below(std::size(kPrefixes))];
    if (rng.below(2)) code[at] = kStarts[rng.below(std::size(kStarts))];
    if (code[at] != 0x0F) code[at + 1] = static_cast<uint8_t>(0x03 | (rng.below(8) << 3));
    std::memcpy(&s.ram.b[kCode], code, sizeof code);
    if (s.gpr[1] > 64) s.gpr[1] &= 63;  // keep REP counts small
    GuestCpu g = s.cpu();
    Recorder rec;
    EmulationResult r = emulate_instruction(g, s.ram, rec, &bus);
    ++kinds[static_cast<int>(r.kind)];
    if (r.kind == EmulationResult::Kind::kCannotEmulate) {
      EXPECT_FALSE(r.reason.empty());
    }
  }
  // Each outcome happens: the generator reaches all three paths.
  EXPECT_GT(kinds[0], 1000);
  EXPECT_GT(kinds[1], 100);
  EXPECT_GT(kinds[2], 100);
}

/// A port device that records OUTs and answers INs with a counter.
class Port final : public PortIoHandler {
 public:
  std::vector<std::pair<unsigned, uint32_t>> out;
  uint32_t next = 0x11;
  uint32_t io_read(uint16_t, unsigned size) override {
    uint32_t v = next;
    next += 0x101;
    return v & (size == 4 ? ~0u : (1u << (8 * size)) - 1);
  }
  void io_write(uint16_t, unsigned size, uint32_t value) override { out.emplace_back(size, value); }
};

TEST(InsnEmulator, StringPortIo) {
  PortIoBus bus;
  Port dev;
  bus.map(0x3F8, 8, &dev, "test");
  Guest s;
  const char text[] = "hello";
  std::memcpy(&s.ram.b[kData], text, 5);
  s.gpr[1] = 5;
  s.gpr[2] = 0x3F8;
  s.gpr[6] = kData;
  s.ram.b[kCode] = 0xF3;
  s.ram.b[kCode + 1] = 0x6E;  // rep outsb
  GuestCpu g = s.cpu();
  Recorder rec;
  EmulationResult r = emulate_instruction(g, s.ram, rec, &bus);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  ASSERT_EQ(dev.out.size(), 5u);
  for (unsigned k = 0; k < 5; ++k) EXPECT_EQ(dev.out[k].second, uint32_t(text[k]));
  EXPECT_EQ(s.gpr[6], kData + 5);
  EXPECT_EQ(s.gpr[1], 0u);
  EXPECT_EQ(r.port_accesses, 5u);
  // rep insw backwards (DF = 1), 32-bit address size (0x67): EDI wraps in 32 bits.
  s.gpr[1] = 3;
  s.gpr[7] = 0xFFFF'FFFF'0000'0000ull | (kData + 0x100);
  s.rflags = 2 | cpu::kFlagDF;
  const uint8_t ins[] = {0x67, 0xF3, 0x66, 0x6D};
  std::memcpy(&s.ram.b[kCode], ins, sizeof ins);
  g = s.cpu();
  r = emulate_instruction(g, s.ram, rec, &bus);
  ASSERT_EQ(r.kind, EmulationResult::Kind::kDone) << r.reason;
  EXPECT_EQ(s.gpr[7], kData + 0x100 - 6);  // a 32-bit write of EDI zero-extends
  uint16_t w[3];
  std::memcpy(w, &s.ram.b[kData + 0x100 - 4], 6);
  EXPECT_EQ(w[2], 0x11);
  EXPECT_EQ(w[1], 0x112);
  EXPECT_EQ(w[0], 0x213);
  // Without a port bus INS/OUTS cannot be emulated.
  g = s.cpu();
  r = emulate_instruction(g, s.ram, rec);
  EXPECT_EQ(r.kind, EmulationResult::Kind::kCannotEmulate);
}

}  // namespace
}  // namespace hvsim::hv
