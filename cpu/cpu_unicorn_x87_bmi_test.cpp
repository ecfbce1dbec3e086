// Differential test of the x87 and the BMI1/BMI2/ABM/ADX instructions against Unicorn
// 2.0.1 (DESIGN.md "Testing layers" 2; Intel SDM Vol. 1 ch. 8, 7.3). The harness and the
// documented list of exclusions are in cpu/unicorn_diff_support.h.
#include "cpu/unicorn_diff_support.h"

namespace hvsim::cpu::testing {
namespace {

class UnicornX87BmiTest : public UnicornDiffFixture {};

// ---- x87 generator ----

/// Emits one x87 instruction keeping the register stack between empty and full (stack
/// faults are not generated: QEMU 5 does not model them). `depth` tracks it; `cc` is set
/// when the instruction defines C0/C2/C3; returns the RFLAGS bits defined.
Check emit_x87(Gen& g, Asm& a, unsigned& depth, bool& cc) {
  auto st = [](unsigned i) { return R(static_cast<ZydisRegister>(ZYDIS_REGISTER_ST0 + i)); };
  Check chk;
  cc = false;
  for (;;) {
    bool ok = false;
    unsigned d = depth;
    int delta = 0;
    switch (g.r(12)) {
      case 0:
      case 1: {  // loads
        if (d >= 8) break;
        switch (g.r(5)) {
          case 0: ok = a.try_emit(ZYDIS_MNEMONIC_FLD, {g.mem(4)}); break;
          case 1: ok = a.try_emit(ZYDIS_MNEMONIC_FLD, {g.mem(8)}); break;
          case 2: ok = a.try_emit(ZYDIS_MNEMONIC_FILD, {g.mem(2u << g.r(3))}); break;
          case 3:
            ok = d > 0 && a.try_emit(ZYDIS_MNEMONIC_FLD, {st(static_cast<unsigned>(g.r(d)))});
            break;
          default: {
            static const ZydisMnemonic kConst[] = {ZYDIS_MNEMONIC_FLD1,   ZYDIS_MNEMONIC_FLDZ,
                                                   ZYDIS_MNEMONIC_FLDPI,  ZYDIS_MNEMONIC_FLDL2E,
                                                   ZYDIS_MNEMONIC_FLDL2T, ZYDIS_MNEMONIC_FLDLG2,
                                                   ZYDIS_MNEMONIC_FLDLN2};
            ok = a.try_emit(kConst[g.r(7)], {});
            break;
          }
        }
        delta = 1;
        break;
      }
      case 2:
      case 3:
      case 4: {  // arithmetic
        static const ZydisMnemonic kOp[] = {ZYDIS_MNEMONIC_FADD,  ZYDIS_MNEMONIC_FSUB,
                                            ZYDIS_MNEMONIC_FSUBR, ZYDIS_MNEMONIC_FMUL,
                                            ZYDIS_MNEMONIC_FDIV,  ZYDIS_MNEMONIC_FDIVR};
        static const ZydisMnemonic kOpP[] = {ZYDIS_MNEMONIC_FADDP,  ZYDIS_MNEMONIC_FSUBP,
                                             ZYDIS_MNEMONIC_FSUBRP, ZYDIS_MNEMONIC_FMULP,
                                             ZYDIS_MNEMONIC_FDIVP,  ZYDIS_MNEMONIC_FDIVRP};
        static const ZydisMnemonic kOpI[] = {ZYDIS_MNEMONIC_FIADD,  ZYDIS_MNEMONIC_FISUB,
                                             ZYDIS_MNEMONIC_FISUBR, ZYDIS_MNEMONIC_FIMUL,
                                             ZYDIS_MNEMONIC_FIDIV,  ZYDIS_MNEMONIC_FIDIVR};
        if (d == 0) break;
        unsigned k = static_cast<unsigned>(g.r(6));
        unsigned i = static_cast<unsigned>(g.r(d));
        switch (g.r(5)) {
          case 0: ok = a.try_emit(kOp[k], {st(0), st(i)}); break;
          case 1: ok = a.try_emit(kOp[k], {st(i), st(0)}); break;
          case 2:
            ok = d >= 2 && i > 0 && a.try_emit(kOpP[k], {st(i), st(0)});
            delta = -1;
            break;
          case 3: ok = a.try_emit(kOp[k], {g.mem(g.r(2) ? 4 : 8)}); break;
          default: ok = a.try_emit(kOpI[k], {g.mem(g.r(2) ? 2 : 4)}); break;
        }
        break;
      }
      case 5: {  // one-operand
        static const ZydisMnemonic kUn[] = {ZYDIS_MNEMONIC_FCHS, ZYDIS_MNEMONIC_FABS,
                                            ZYDIS_MNEMONIC_FSQRT, ZYDIS_MNEMONIC_FRNDINT};
        if (d == 0) break;
        if (g.r(3) == 0)
          ok = a.try_emit(ZYDIS_MNEMONIC_FXCH, {st(static_cast<unsigned>(g.r(d)))});
        else
          ok = a.try_emit(kUn[g.r(4)], {});
        break;
      }
      case 6:
      case 7: {  // stores
        if (d == 0) break;
        switch (g.r(6)) {
          case 0: ok = a.try_emit(ZYDIS_MNEMONIC_FST, {g.mem(g.r(2) ? 4 : 8)}); break;
          case 1:
            ok = a.try_emit(ZYDIS_MNEMONIC_FSTP, {g.mem(4u << g.r(2))});
            delta = -1;
            break;
          case 2:
            ok = a.try_emit(ZYDIS_MNEMONIC_FSTP, {g.mem(10)});
            delta = -1;
            break;
          case 3:
            ok = a.try_emit(ZYDIS_MNEMONIC_FISTP, {g.mem(2u << g.r(3))});
            delta = -1;
            chk.fist = true;
            break;
          case 4:
            ok = a.try_emit(ZYDIS_MNEMONIC_FISTTP, {g.mem(2u << g.r(3))});
            delta = -1;
            chk.fist = true;
            break;
          default:
            ok = a.try_emit(g.r(2) ? ZYDIS_MNEMONIC_FST : ZYDIS_MNEMONIC_FSTP,
                            {st(static_cast<unsigned>(g.r(d)))});
            if (ok && a.bytes()[a.size() - 2] == 0xDD && (a.bytes()[a.size() - 1] & 0xF8) == 0xD8)
              delta = -1;
            break;
        }
        break;
      }
      case 8:
      case 9: {  // comparisons
        if (d < 2) break;
        unsigned i = 1 + static_cast<unsigned>(g.r(d - 1));
        switch (g.r(8)) {
          case 0:
            ok = a.try_emit(ZYDIS_MNEMONIC_FCOM, {st(i)});
            cc = true;
            break;
          case 1:
            ok = a.try_emit(ZYDIS_MNEMONIC_FUCOM, {st(i)});
            cc = true;
            break;
          case 2:
            ok = a.try_emit(ZYDIS_MNEMONIC_FCOMP, {st(i)});
            cc = true;
            delta = -1;
            break;
          case 3:
            ok = a.try_emit(ZYDIS_MNEMONIC_FUCOMPP, {});
            cc = true;
            delta = -2;
            break;
          case 4:
            ok = a.try_emit(ZYDIS_MNEMONIC_FCOM, {g.mem(g.r(2) ? 4 : 8)});
            cc = true;
            break;
          case 5:
            ok = a.try_emit(ZYDIS_MNEMONIC_FTST, {});
            cc = true;
            break;
          case 6:
            ok = a.try_emit(g.r(2) ? ZYDIS_MNEMONIC_FCOMI : ZYDIS_MNEMONIC_FUCOMI, {st(0), st(i)});
            chk.flags = kFlagZF | kFlagPF | kFlagCF;
            break;
          default:
            ok =
                a.try_emit(g.r(2) ? ZYDIS_MNEMONIC_FCOMIP : ZYDIS_MNEMONIC_FUCOMIP, {st(0), st(i)});
            chk.flags = kFlagZF | kFlagPF | kFlagCF;
            delta = -1;
            break;
        }
        break;
      }
      case 10: {  // conditional moves
        static const ZydisMnemonic kCmov[] = {ZYDIS_MNEMONIC_FCMOVB,   ZYDIS_MNEMONIC_FCMOVE,
                                              ZYDIS_MNEMONIC_FCMOVBE,  ZYDIS_MNEMONIC_FCMOVU,
                                              ZYDIS_MNEMONIC_FCMOVNB,  ZYDIS_MNEMONIC_FCMOVNE,
                                              ZYDIS_MNEMONIC_FCMOVNBE, ZYDIS_MNEMONIC_FCMOVNU};
        if (d < 2) break;
        ok = a.try_emit(kCmov[g.r(8)], {st(0), st(1 + static_cast<unsigned>(g.r(d - 1)))});
        break;
      }
      default: {  // integer code that sets flags for FCMOV
        ok = a.try_emit(ZYDIS_MNEMONIC_CMP, {g.reg(8), g.reg(8)});
        chk.flags = kFlagsAll;
        break;
      }
    }
    if (ok) {
      depth = static_cast<unsigned>(static_cast<int>(depth) + delta);
      return chk;
    }
  }
}

// ---- BMI generator ----

Check emit_bmi(Gen& g, Asm& a) {
  Check chk;
  for (;;) {
    bool ok = false;
    unsigned s = g.r(2) ? 8 : 4;
    auto rm = [&] { return g.r(3) == 0 ? g.mem(s) : g.reg(s); };
    chk.flags = kFlagsAll;
    switch (g.r(10)) {
      case 0:
        ok = a.try_emit(ZYDIS_MNEMONIC_ANDN, {g.reg(s), g.reg(s), rm()});
        chk.flags = kFlagSF | kFlagZF | kFlagCF | kFlagOF;
        break;
      case 1: {  // BEXTR with start + length within the operand: see the header
        unsigned start = static_cast<unsigned>(g.r(s * 8)),
                 len = static_cast<unsigned>(g.r(s * 8 - start));
        a(ZYDIS_MNEMONIC_MOV,
          {R(ZYDIS_REGISTER_R14D), I(static_cast<int64_t>(start | (len << 8)))});
        ok = a.try_emit(ZYDIS_MNEMONIC_BEXTR, {g.reg(s), rm(), R(gpr(kR14, s))});
        chk.flags = kFlagZF | kFlagCF | kFlagOF;
        break;
      }
      case 2: {
        static const ZydisMnemonic kBls[] = {ZYDIS_MNEMONIC_BLSI, ZYDIS_MNEMONIC_BLSMSK,
                                             ZYDIS_MNEMONIC_BLSR};
        ZydisMnemonic m = kBls[g.r(3)];
        ok = a.try_emit(m, {g.reg(s), rm()});
        chk.flags = kFlagSF | kFlagZF | kFlagOF | (m == ZYDIS_MNEMONIC_BLSI ? 0 : kFlagCF);
        break;
      }
      case 3:  // BZHI with an index below the operand size: see the header
        a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_R14D), I(static_cast<int64_t>(g.r(s * 8 - 1)))});
        ok = a.try_emit(ZYDIS_MNEMONIC_BZHI, {g.reg(s), rm(), R(gpr(kR14, s))});
        chk.flags = kFlagSF | kFlagZF | kFlagCF | kFlagOF;
        break;
      case 4: ok = a.try_emit(ZYDIS_MNEMONIC_MULX, {g.reg(s), g.reg(s), rm()}); break;
      case 5:  // PDEP/PEXT: see the header
        ok = a.try_emit(ZYDIS_MNEMONIC_MULX, {g.reg(s), g.reg(s), rm()});
        break;
      case 6: {
        static const ZydisMnemonic kSh[] = {ZYDIS_MNEMONIC_SARX, ZYDIS_MNEMONIC_SHLX,
                                            ZYDIS_MNEMONIC_SHRX};
        if (g.r(4) == 0)
          ok = a.try_emit(ZYDIS_MNEMONIC_RORX, {g.reg(s), rm(), g.imm8()});
        else
          ok = a.try_emit(kSh[g.r(3)], {g.reg(s), rm(), g.reg(s)});
        break;
      }
      case 7: {
        unsigned sz = 2u << g.r(3);
        ok = a.try_emit(g.r(2) ? ZYDIS_MNEMONIC_TZCNT : ZYDIS_MNEMONIC_LZCNT,
                        {g.reg(sz), g.r(3) == 0 ? g.mem(sz) : g.reg(sz)});
        chk.flags = kFlagCF | kFlagZF;
        break;
      }
      case 8:
        ok = a.try_emit(g.r(2) ? ZYDIS_MNEMONIC_ADCX : ZYDIS_MNEMONIC_ADOX, {g.reg(s), rm()});
        break;
      default:  // vary CF and OF for ADCX/ADOX
        ok = a.try_emit(ZYDIS_MNEMONIC_ADD, {g.reg(s), g.reg(s)});
        break;
    }
    if (ok) return chk;
  }
}

TEST_F(UnicornX87BmiTest, RandomX87SequencesMatch) {
  Gen g(7071);
  constexpr int kBlocks = 250, kInsns = 1000;
  for (int block = 0; block < kBlocks; ++block) {
    Asm a;
    std::vector<uint64_t> starts;
    std::vector<Check> checks;
    std::vector<bool> ccs;
    unsigned depth = 0;
    for (int k = 0; k < kInsns; ++k) {
      starts.push_back(L::kCode + a.size());
      bool cc;
      checks.push_back(emit_x87(g, a, depth, cc));
      ccs.push_back(cc);
    }
    start_block(g, a, kMxcsrDefault);
    for (size_t k = 0; k < starts.size(); ++k) {
      compare_cc_ = ccs[k];
      if (!step_and_compare(a, starts, k, checks[k], true)) return;
    }
  }
  std::printf(
      "x87 differential: %llu instructions compared, %llu NaN differences, %llu FIST "
      "overflows, %llu SNaN loads\n",
      static_cast<unsigned long long>(compared_), static_cast<unsigned long long>(nan_pairs_),
      static_cast<unsigned long long>(fist_overflows_),
      static_cast<unsigned long long>(snan_loads_));
}

TEST_F(UnicornX87BmiTest, RandomBmiSequencesMatch) {
  Gen g(4242);
  constexpr int kBlocks = 150, kInsns = 1000;
  for (int block = 0; block < kBlocks; ++block) {
    Asm a;
    std::vector<uint64_t> starts;
    std::vector<Check> checks;
    for (int k = 0; k < kInsns; ++k) {
      starts.push_back(L::kCode + a.size());
      checks.push_back(emit_bmi(g, a));
    }
    std::vector<uint64_t> all;
    std::vector<Check> all_checks;
    split_helpers(a, starts, checks, &all, &all_checks);
    start_block(g, a, kMxcsrDefault);
    for (size_t k = 0; k < all.size(); ++k)
      if (!step_and_compare(a, all, k, all_checks[k], false)) return;
  }
  std::printf("BMI differential: %llu instructions compared\n",
              static_cast<unsigned long long>(compared_));
}

}  // namespace
}  // namespace hvsim::cpu::testing
