// Decode cross-check of cpu/decoder (Zydis into Insn records) against Capstone 4 in detail
// mode, on seeded random byte streams in 16-, 32- and 64-bit modes: validity, instruction
// length and operands (register names, memory base/index/scale/displacement, immediates)
// (DESIGN.md "Testing layers" 2; Intel SDM Vol. 2 ch. 2-3).
//
// Found by this test and fixed in cpu/decoder.cpp: Zydis 4.0.0 decodes mod = 00 with
// SIB.base = 101, a 32-bit address size (67) and REX.B = 1 in 64-bit mode as [r13d + index]
// and drops the disp32 (Capstone and the SDM: [disp32 + index]); see
// Zydis32BitSibNoBaseWorkaround below.
//
// Known disagreements, excluded (each observed in this test's output):
//  - Prefix combinations Capstone 4 decodes differently from the SDM (mandatory 66/F2/F3
//    handling, 66 with F2/F3, 66/67 with REX.W): see capstone_prefix_quirk(); those cases
//    are skipped and counted. In 64-bit mode 66 on near branches is ignored by Intel
//    processors (Zydis) but gives rel16 in Capstone 4 (AMD behaviour): skipped, counted.
//  - Validity: Capstone 4 accepts some encodings the SDM makes #UD (GETSEC, SYSEXIT and
//    3DNow!/AMD-only opcodes in real mode, some reserved forms) and rejects some that
//    Zydis 4 knows (newer extensions). Counted; must stay under 1% of the cases.
//  - The list kKnownDisagreements (by category and mnemonic): XCHG operand order, UD0/UD1
//    ModR/M, the register width of MOV Sreg and of MOVSXD without REX.W.
//  - Operands are compared only when both list the same number (Zydis lists implicit
//    operands such as ST(0) of "fadd st0, st1" or AX of FNSTSW that Capstone omits),
//    and only for instructions with a handler in hvsim.
//  - Immediates are compared at the smaller of the two reported sizes (Capstone and Zydis
//    sign-extend different ones); relative branch targets and segments are not compared.
#include <Zydis/Zydis.h>
#include <capstone/capstone.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "core/rng.h"
#include "cpu/decoder.h"

namespace hvsim::cpu {
namespace {

/// Our register operand in Capstone's naming.
std::string our_reg_name(const Operand& o) {
  static const char* const k64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                    "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static const char* const k32[] = {"eax", "ecx", "edx",  "ebx",  "esp",  "ebp",  "esi",  "edi",
                                    "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
  static const char* const k16[] = {"ax",  "cx",  "dx",   "bx",   "sp",   "bp",   "si",   "di",
                                    "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"};
  static const char* const k8[] = {"al",  "cl",  "dl",   "bl",   "spl",  "bpl",  "sil",  "dil",
                                   "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"};
  static const char* const kHigh[] = {"ah", "ch", "dh", "bh"};
  static const char* const kSeg[] = {"es", "cs", "ss", "ds", "fs", "gs"};
  char buf[16];
  switch (o.rc) {
    case RegClass::kGpr:
      switch (o.size) {
        case 1: return k8[o.reg];
        case 2: return k16[o.reg];
        case 4: return k32[o.reg];
        default: return k64[o.reg];
      }
    case RegClass::kGpr8High: return kHigh[o.reg];
    case RegClass::kSeg: return kSeg[o.reg];
    case RegClass::kCr: std::snprintf(buf, sizeof buf, "cr%u", o.reg); return buf;
    case RegClass::kDr: std::snprintf(buf, sizeof buf, "dr%u", o.reg); return buf;
    case RegClass::kXmm: std::snprintf(buf, sizeof buf, "xmm%u", o.reg); return buf;
    case RegClass::kMmx: std::snprintf(buf, sizeof buf, "mm%u", o.reg); return buf;
    case RegClass::kX87: std::snprintf(buf, sizeof buf, "st(%u)", o.reg); return buf;
    default: return "?";
  }
}

/// Capstone's name of a register, normalised ("st0" style to "st(0)").
std::string cs_name(csh h, unsigned reg) {
  const char* n = cs_reg_name(h, reg);
  std::string s = n ? n : "";
  if (s == "st") return "st(0)";
  return s;
}

std::string gpr64_name(int idx) {
  static const char* const k64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                    "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  return idx < 0 ? "" : k64[idx];
}

struct Mode {
  DecodeMode ours;
  cs_mode cs;
  const char* name;
};

/// A random instruction-like byte string: prefixes, an opcode map, ModR/M, SIB,
/// displacement and immediate bytes, or plain random bytes.
void random_bytes(Rng& rng, uint8_t* b) {
  for (int k = 0; k < 16; ++k) b[k] = static_cast<uint8_t>(rng.next());
  if (rng.next() % 4 == 0) return;
  static const uint8_t kPrefixes[] = {0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36};
  int n = 0;
  for (int p = static_cast<int>(rng.next() % 3); p > 0; --p) b[n++] = kPrefixes[rng.next() % 10];
  if (rng.next() % 3 == 0) b[n++] = static_cast<uint8_t>(0x40 + rng.next() % 16);  // REX
  switch (rng.next() % 5) {
    case 0: b[n++] = 0x0F; break;
    case 1:
      b[n++] = 0x0F;
      b[n++] = 0x38;
      break;
    case 2:
      b[n++] = 0x0F;
      b[n++] = 0x3A;
      break;
    case 3:
      b[n++] = static_cast<uint8_t>(0xD8 + rng.next() % 8);  // x87
      break;
    default: break;
  }
}

/// "category MNEMONIC" pairs where the two decoders disagree by design (see the header).
const char* const kKnownDisagreements[] = {
    "register xchg",  // commutative: the two list the operands in opposite orders
    "length ud0",     // Zydis: 0F FF /r (with ModR/M, as the SDM); Capstone 4: no ModR/M
    "length ud1",     // Zydis: 0F B9 /r; Capstone 4: "ud2b" without ModR/M
    // MOV Sreg, r/m and MOV r/m, Sreg: Zydis gives the 16-bit register the instruction
    // reads; Capstone 4 names the operand-size register (mov ss, edx).
    "register mov-sreg",
    // 63 /r without REX.W is MOVSXD r32, r/m32 (SDM); Capstone 4 always says r64.
    "register movsxd",
};

/// True for prefix combinations that Capstone 4 decodes differently from the SDM (and
/// Zydis), each observed in this test:
///  - in 16-bit mode it treats 66/F2/F3 before 0F opcodes as plain prefixes, not mandatory
///    ones (2E F2 0F 2D is CVTSD2SI; Capstone says cvtps2pi);
///  - it drops the operand-size effect of 66 when F2 or F3 is also present (66 F2 E5 is
///    IN AX, imm8; Capstone says in eax);
///  - for 0F-map opcodes it honours a mandatory 66/F2/F3 only as the last legacy prefix
///    with no REX after it, and takes 67 for 66 in some (F2 65 0F 38 F1 is CRC32, Capstone
///    says movbe; 67 48 0F D4 is PADDQ mm, Capstone says paddq xmm);
///  - with REX.W it still applies 66 or 67 to the operand size (65 66 4D EF is OUT DX, EAX
///    because REX.W wins; Capstone says out dx, ax).
bool capstone_prefix_quirk(const uint8_t* b, bool mode16, bool mode64) {
  bool p66 = false, p67 = false, rep = false, mandatory_last = false;
  unsigned n = 0, mandatory = 0;
  for (; n < 15; ++n) {
    uint8_t x = b[n];
    bool legacy = x == 0x66 || x == 0x67 || x == 0xF0 || x == 0xF2 || x == 0xF3 || x == 0x2E ||
                  x == 0x36 || x == 0x3E || x == 0x26 || x == 0x64 || x == 0x65;
    if (!legacy) break;
    p66 |= x == 0x66;
    p67 |= x == 0x67;
    rep |= x == 0xF2 || x == 0xF3;
    bool m = x == 0x66 || x == 0xF2 || x == 0xF3;
    mandatory += m;
    mandatory_last = m;
  }
  bool rex = mode64 && n < 15 && (b[n] & 0xF0) == 0x40;
  bool rex_w = rex && (b[n] & 8);
  unsigned op = n + (rex ? 1 : 0);
  bool map0f = op < 15 && b[op] == 0x0F;
  if (mode16 && (p66 || rep)) return true;
  if (p66 && rep) return true;
  if (rex_w && (p66 || p67)) return true;
  if (map0f && (mandatory > 1 || (mandatory == 1 && (!mandatory_last || rex)) || p67)) return true;
  if (rep && !map0f && !mandatory_last) return true;
  return false;
}

/// In 64-bit mode Intel processors ignore 66 on near branches (rel32 stays); Capstone 4
/// decodes AMD's rel16 form (observed: 66 0F 85 is 6 bytes for Zydis, 4 for Capstone).
bool branch_with_66(const cs_insn* ci, const uint8_t* b, bool mode64) {
  if (!mode64) return false;
  bool p66 = false;
  for (unsigned n = 0; n < 15 && (b[n] == 0x66 || b[n] == 0x67 || b[n] == 0xF2 || b[n] == 0xF3 ||
                                  b[n] == 0x2E || b[n] == 0x36 || b[n] == 0x3E || b[n] == 0x26 ||
                                  b[n] == 0x64 || b[n] == 0x65 || b[n] == 0xF0);
       ++n)
    p66 |= b[n] == 0x66;
  if (!p66 || !ci) return false;
  for (int g = 0; g < ci->detail->groups_count; ++g) {
    uint8_t grp = ci->detail->groups[g];
    if (grp == X86_GRP_JUMP || grp == X86_GRP_CALL || grp == X86_GRP_RET ||
        grp == X86_GRP_BRANCH_RELATIVE)
      return true;
  }
  return false;
}

TEST(DecodeCapstone, RandomStreamsAgreeOnLengthAndOperands) {
  static const Mode kModes[] = {{DecodeMode::kReal16, CS_MODE_16, "16-bit"},
                                {DecodeMode::kProt32, CS_MODE_32, "32-bit"},
                                {DecodeMode::kLong64, CS_MODE_64, "64-bit"}};
  constexpr int kCasesPerMode = 70000;
  Rng rng(31337);
  uint64_t cases = 0, both_valid = 0, validity_disagree = 0, operands_compared = 0;
  uint64_t prefix_quirks = 0;
  std::map<std::string, int> validity_examples;
  std::map<std::string, int> mismatches;
  std::map<std::string, std::string> examples;
  for (const Mode& mode : kModes) {
    csh h;
    ASSERT_EQ(cs_open(CS_ARCH_X86, mode.cs, &h), CS_ERR_OK);
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn* ci = cs_malloc(h);
    for (int c = 0; c < kCasesPerMode; ++c) {
      uint8_t b[16];
      random_bytes(rng, b);
      ++cases;
      Insn ours;
      bool need_more = false;
      bool ok = decode_insn(mode.ours, b, 15, &ours, &need_more);
      const uint8_t* code = b;
      size_t size = 15;
      uint64_t addr = 0x1000;
      bool cs_ok = cs_disasm_iter(h, &code, &size, &addr, ci);
      char hex[64];
      int hn = 0;
      for (int k = 0; k < 15; ++k) hn += std::snprintf(hex + hn, sizeof hex - hn, "%02x", b[k]);
      bool quirk = capstone_prefix_quirk(b, mode.cs == CS_MODE_16, mode.cs == CS_MODE_64);
      if (quirk || (cs_ok && branch_with_66(ci, b, mode.cs == CS_MODE_64))) {
        ++prefix_quirks;
        continue;
      }
      if (ok != cs_ok) {
        ++validity_disagree;
        if (validity_examples.size() < 12)
          validity_examples[std::string(mode.name) + " " + hex] = ok ? 1 : 2;
        continue;
      }
      if (!ok) continue;
      ++both_valid;
      std::string mn = ZydisMnemonicGetString(static_cast<ZydisMnemonic>(ours.mnemonic));
      for (unsigned k = 0; k < ours.nops; ++k)
        if (ours.op[k].kind == OpKind::kReg && ours.op[k].rc == RegClass::kSeg) mn += "-sreg";
      auto mismatch = [&](const std::string& what, const std::string& where) {
        std::string key = what + " " + mn;
        if (!mismatches.count(key)) examples[key] = where;
        ++mismatches[key];
      };
      if (ours.length != ci->size) {
        mismatch("length",
                 std::string(mode.name) + " " + hex + " '" + ci->mnemonic + " " + ci->op_str + "'");
        continue;
      }
      // Operands: only the general-purpose, vector and x87 forms we execute.
      const cs_x86& x = ci->detail->x86;
      if (x.op_count != ours.nops) continue;
      if (ours.handler == handler_for(0)) continue;  // no handler: not executed by hvsim
      bool skip = false;
      for (unsigned k = 0; k < ours.nops && !skip; ++k) {
        const Operand& o = ours.op[k];
        const cs_x86_op& co = x.operands[k];
        std::string where = std::string(mode.name) + " " + hex + " '" + ci->mnemonic + " " +
                            ci->op_str + "' operand " + std::to_string(k);
        switch (o.kind) {
          case OpKind::kReg:
            if (co.type != X86_OP_REG) {
              mismatch("kind", where);
              skip = true;
              break;
            }
            if (o.rc == RegClass::kOther) break;
            if (our_reg_name(o) != cs_name(h, co.reg)) {
              mismatch("register", where + ": " + our_reg_name(o) + " vs " + cs_name(h, co.reg));
              skip = true;
            }
            break;
          case OpKind::kMem: {
            if (co.type != X86_OP_MEM) {
              mismatch("kind", where);
              skip = true;
              break;
            }
            std::string base = ours.mem.rip_rel ? "rip" : gpr64_name(ours.mem.base);
            std::string cbase = co.mem.base == X86_REG_INVALID ? "" : cs_name(h, co.mem.base);
            std::string cindex = co.mem.index == X86_REG_INVALID ? "" : cs_name(h, co.mem.index);
            // Capstone names the base at the address size (eax in 32-bit addressing).
            auto widen = [](std::string r) {
              if (r.size() == 3 && r[0] == 'e') r[0] = 'r';
              if (r == "eip") r = "rip";
              if (r.size() == 2 && (r == "ax" || r == "cx" || r == "dx" || r == "bx" || r == "sp" ||
                                    r == "bp" || r == "si" || r == "di"))
                r = "r" + r;
              if (r.size() >= 3 && r[0] == 'r' && (r.back() == 'd' || r.back() == 'w'))
                r.pop_back();
              return r;
            };
            if (base != widen(cbase))
              mismatch("base", where + ": " + base + " vs " + cbase);
            else if (gpr64_name(ours.mem.index) != widen(cindex))
              mismatch("index", where);
            else if (ours.mem.index >= 0 && (1 << ours.mem.scale) != co.mem.scale)
              mismatch("scale", where);
            uint64_t mask = ours.addrsize == 8   ? ~0ull
                            : ours.addrsize == 4 ? 0xFFFFFFFFull
                                                 : 0xFFFFull;
            if ((static_cast<uint64_t>(ours.mem.disp) & mask) !=
                (static_cast<uint64_t>(co.mem.disp) & mask))
              mismatch("displacement", where);
            break;
          }
          case OpKind::kImm: {
            if (co.type != X86_OP_IMM) {
              skip = true;
              break;
            }
            // Relative branches: Capstone reports the target address.
            if (ci->detail->groups_count) {
              bool branch = false;
              for (int g = 0; g < ci->detail->groups_count; ++g)
                branch |= ci->detail->groups[g] == X86_GRP_JUMP ||
                          ci->detail->groups[g] == X86_GRP_CALL ||
                          ci->detail->groups[g] == X86_GRP_BRANCH_RELATIVE;
              if (branch) {
                skip = true;
                break;
              }
            }
            // Both sign-extend some immediates: compare at the encoded size.
            unsigned isz = co.size ? co.size : 8;
            if (o.size && o.size < isz) isz = o.size;
            uint64_t m = isz >= 8 ? ~0ull : (1ull << (8 * isz)) - 1;
            uint64_t value = k == 0 || ours.op[0].kind != OpKind::kImm ? ours.imm : ours.imm2;
            if ((value & m) != (static_cast<uint64_t>(co.imm) & m)) {
              char v[64];
              std::snprintf(v, sizeof v, ": %llx vs %llx", static_cast<unsigned long long>(value),
                            static_cast<unsigned long long>(co.imm));
              mismatch("immediate", where + v);
            }
            break;
          }
          default: skip = true; break;
        }
      }
      if (!skip) ++operands_compared;
    }
    cs_free(ci, 1);
    cs_close(&h);
  }
  std::printf(
      "Capstone cross-check: %llu cases, %llu valid in both, %llu operand lists "
      "compared, %llu validity disagreements, %llu skipped for Capstone prefix quirks\n",
      static_cast<unsigned long long>(cases), static_cast<unsigned long long>(both_valid),
      static_cast<unsigned long long>(operands_compared),
      static_cast<unsigned long long>(validity_disagree),
      static_cast<unsigned long long>(prefix_quirks));
  for (const auto& [bytes, who] : validity_examples)
    std::printf("  validity: %s valid only for %s\n", bytes.c_str(),
                who == 1 ? "Zydis" : "Capstone");
  int unexpected = 0;
  for (const auto& [key, count] : mismatches) {
    bool known = false;
    for (const char* k : kKnownDisagreements) known |= key == k;
    std::printf("  %s %s: %d, e.g. %s\n", known ? "known" : "UNEXPECTED", key.c_str(), count,
                examples[key].c_str());
    if (!known) unexpected += count;
  }
  EXPECT_EQ(unexpected, 0) << "operand or length disagreements outside the documented list";
  EXPECT_LT(validity_disagree * 100, cases) << "more than 1% validity disagreements";
  EXPECT_GT(operands_compared * 2, both_valid) << "operands compared for less than half";
}

TEST(DecodeCapstone, Zydis32BitSibNoBaseWorkaround) {
  // 67 41 8B 04 C5 disp32: mov eax, [disp32 + eax*8] (REX.B does not select r13 here).
  const uint8_t b[] = {0x67, 0x41, 0x8B, 0x04, 0xC5, 0x22, 0xAF, 0x8C, 0x8E};
  Insn i;
  bool need_more;
  ASSERT_TRUE(decode_insn(DecodeMode::kLong64, b, sizeof b, &i, &need_more));
  EXPECT_EQ(i.length, 9);
  EXPECT_EQ(i.mem.base, -1);
  EXPECT_EQ(i.mem.index, 0);
  EXPECT_EQ(i.mem.scale, 3);
  EXPECT_EQ(static_cast<uint32_t>(i.mem.disp), 0x8E8CAF22u);
}

}  // namespace
}  // namespace hvsim::cpu
