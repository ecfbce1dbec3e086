// Differential test of the SSE, SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2 instructions against
// Unicorn 2.0.1 (DESIGN.md "Testing layers" 2; Intel SDM Vol. 1 ch. 10-12). The harness and
// the documented list of exclusions are in cpu/unicorn_diff_support.h.
#include "cpu/unicorn_diff_support.h"

namespace hvsim::cpu::testing {
namespace {

class UnicornSseTest : public UnicornDiffFixture {};

/// Lane width of the two-input floating-point arithmetic instructions, else 0.
unsigned nan_lane(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_ADDPS:
    case ZYDIS_MNEMONIC_SUBPS:
    case ZYDIS_MNEMONIC_MULPS:
    case ZYDIS_MNEMONIC_DIVPS:
    case ZYDIS_MNEMONIC_ADDSUBPS:
    case ZYDIS_MNEMONIC_HADDPS:
    case ZYDIS_MNEMONIC_HSUBPS:
    case ZYDIS_MNEMONIC_ADDSS:
    case ZYDIS_MNEMONIC_SUBSS:
    case ZYDIS_MNEMONIC_MULSS:
    case ZYDIS_MNEMONIC_DIVSS:
    case ZYDIS_MNEMONIC_DPPS: return 4;
    case ZYDIS_MNEMONIC_ADDPD:
    case ZYDIS_MNEMONIC_SUBPD:
    case ZYDIS_MNEMONIC_MULPD:
    case ZYDIS_MNEMONIC_DIVPD:
    case ZYDIS_MNEMONIC_ADDSUBPD:
    case ZYDIS_MNEMONIC_HADDPD:
    case ZYDIS_MNEMONIC_HSUBPD:
    case ZYDIS_MNEMONIC_ADDSD:
    case ZYDIS_MNEMONIC_SUBSD:
    case ZYDIS_MNEMONIC_MULSD:
    case ZYDIS_MNEMONIC_DIVSD:
    case ZYDIS_MNEMONIC_DPPD: return 8;
    default: return 0;
  }
}

// ---- SSE family generator ----

/// QEMU 5 computes these in place in the destination: with the same register as both
/// operands the later lanes read already-overwritten inputs (observed: `phaddw xmm5, xmm5`
/// gives different upper and lower halves). Such operand pairs are not generated.
bool qemu_aliasing_bug(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_PHADDW:
    case ZYDIS_MNEMONIC_PHADDD:
    case ZYDIS_MNEMONIC_PHADDSW:
    case ZYDIS_MNEMONIC_PHSUBW:
    case ZYDIS_MNEMONIC_PHSUBD:
    case ZYDIS_MNEMONIC_PHSUBSW: return true;
    default: return false;
  }
}

/// Emits one random SSE/SSE2/SSE3/SSSE3/SSE4.1/SSE4.2 instruction; returns its check.
Check emit_sse(Gen& g, Asm& a) {
  // Two-operand xmm, xmm/m128 (aligned) instructions, integer and floating point.
  static const ZydisMnemonic kXX[] = {
      ZYDIS_MNEMONIC_PADDB, ZYDIS_MNEMONIC_PADDW, ZYDIS_MNEMONIC_PADDD, ZYDIS_MNEMONIC_PADDQ,
      ZYDIS_MNEMONIC_PSUBB, ZYDIS_MNEMONIC_PSUBW, ZYDIS_MNEMONIC_PSUBD, ZYDIS_MNEMONIC_PSUBQ,
      ZYDIS_MNEMONIC_PADDSB, ZYDIS_MNEMONIC_PADDSW, ZYDIS_MNEMONIC_PADDUSB, ZYDIS_MNEMONIC_PADDUSW,
      ZYDIS_MNEMONIC_PSUBSB, ZYDIS_MNEMONIC_PSUBSW, ZYDIS_MNEMONIC_PSUBUSB, ZYDIS_MNEMONIC_PSUBUSW,
      ZYDIS_MNEMONIC_PMULLW, ZYDIS_MNEMONIC_PMULHW, ZYDIS_MNEMONIC_PMULHUW, ZYDIS_MNEMONIC_PMULUDQ,
      ZYDIS_MNEMONIC_PMADDWD, ZYDIS_MNEMONIC_PSADBW, ZYDIS_MNEMONIC_PAVGB, ZYDIS_MNEMONIC_PAVGW,
      ZYDIS_MNEMONIC_PMINUB, ZYDIS_MNEMONIC_PMAXUB, ZYDIS_MNEMONIC_PMINSW, ZYDIS_MNEMONIC_PMAXSW,
      ZYDIS_MNEMONIC_PCMPEQB, ZYDIS_MNEMONIC_PCMPEQW, ZYDIS_MNEMONIC_PCMPEQD,
      ZYDIS_MNEMONIC_PCMPGTB, ZYDIS_MNEMONIC_PCMPGTW, ZYDIS_MNEMONIC_PCMPGTD, ZYDIS_MNEMONIC_PAND,
      ZYDIS_MNEMONIC_PANDN, ZYDIS_MNEMONIC_POR, ZYDIS_MNEMONIC_PXOR, ZYDIS_MNEMONIC_ANDPS,
      ZYDIS_MNEMONIC_ANDPD, ZYDIS_MNEMONIC_ANDNPS, ZYDIS_MNEMONIC_ANDNPD, ZYDIS_MNEMONIC_ORPS,
      ZYDIS_MNEMONIC_ORPD, ZYDIS_MNEMONIC_XORPS, ZYDIS_MNEMONIC_XORPD, ZYDIS_MNEMONIC_PSLLW,
      ZYDIS_MNEMONIC_PSLLD, ZYDIS_MNEMONIC_PSLLQ, ZYDIS_MNEMONIC_PSRLW, ZYDIS_MNEMONIC_PSRLD,
      ZYDIS_MNEMONIC_PSRLQ, ZYDIS_MNEMONIC_PSRAW, ZYDIS_MNEMONIC_PSRAD, ZYDIS_MNEMONIC_PUNPCKLBW,
      ZYDIS_MNEMONIC_PUNPCKLWD, ZYDIS_MNEMONIC_PUNPCKLDQ, ZYDIS_MNEMONIC_PUNPCKLQDQ,
      ZYDIS_MNEMONIC_PUNPCKHBW, ZYDIS_MNEMONIC_PUNPCKHWD, ZYDIS_MNEMONIC_PUNPCKHDQ,
      ZYDIS_MNEMONIC_PUNPCKHQDQ, ZYDIS_MNEMONIC_PACKSSWB, ZYDIS_MNEMONIC_PACKSSDW,
      ZYDIS_MNEMONIC_PACKUSWB, ZYDIS_MNEMONIC_UNPCKLPS, ZYDIS_MNEMONIC_UNPCKHPS,
      ZYDIS_MNEMONIC_UNPCKLPD, ZYDIS_MNEMONIC_UNPCKHPD, ZYDIS_MNEMONIC_MOVSHDUP,
      ZYDIS_MNEMONIC_MOVSLDUP, ZYDIS_MNEMONIC_PSHUFB, ZYDIS_MNEMONIC_PHADDW, ZYDIS_MNEMONIC_PHADDD,
      ZYDIS_MNEMONIC_PHADDSW, ZYDIS_MNEMONIC_PHSUBW, ZYDIS_MNEMONIC_PHSUBD, ZYDIS_MNEMONIC_PHSUBSW,
      ZYDIS_MNEMONIC_PMADDUBSW, ZYDIS_MNEMONIC_PMULHRSW, ZYDIS_MNEMONIC_PSIGNB,
      ZYDIS_MNEMONIC_PSIGNW, ZYDIS_MNEMONIC_PSIGND, ZYDIS_MNEMONIC_PABSB, ZYDIS_MNEMONIC_PABSW,
      ZYDIS_MNEMONIC_PABSD, ZYDIS_MNEMONIC_PMULLD, ZYDIS_MNEMONIC_PMULDQ, ZYDIS_MNEMONIC_PMINSB,
      ZYDIS_MNEMONIC_PMAXSB, ZYDIS_MNEMONIC_PMINUW, ZYDIS_MNEMONIC_PMAXUW, ZYDIS_MNEMONIC_PMINSD,
      ZYDIS_MNEMONIC_PMAXSD, ZYDIS_MNEMONIC_PMINUD, ZYDIS_MNEMONIC_PMAXUD, ZYDIS_MNEMONIC_PCMPEQQ,
      ZYDIS_MNEMONIC_PCMPGTQ, ZYDIS_MNEMONIC_PACKUSDW, ZYDIS_MNEMONIC_PHMINPOSUW,
      ZYDIS_MNEMONIC_PMOVSXBW, ZYDIS_MNEMONIC_PMOVZXBW, ZYDIS_MNEMONIC_PBLENDVB,
      ZYDIS_MNEMONIC_BLENDVPS, ZYDIS_MNEMONIC_BLENDVPD,
      // floating point
      ZYDIS_MNEMONIC_ADDPS, ZYDIS_MNEMONIC_ADDPD, ZYDIS_MNEMONIC_SUBPS, ZYDIS_MNEMONIC_SUBPD,
      ZYDIS_MNEMONIC_MULPS, ZYDIS_MNEMONIC_MULPD, ZYDIS_MNEMONIC_DIVPS, ZYDIS_MNEMONIC_DIVPD,
      ZYDIS_MNEMONIC_MINPS, ZYDIS_MNEMONIC_MINPD, ZYDIS_MNEMONIC_MAXPS, ZYDIS_MNEMONIC_MAXPD,
      ZYDIS_MNEMONIC_SQRTPS, ZYDIS_MNEMONIC_SQRTPD, ZYDIS_MNEMONIC_ADDSUBPS,
      ZYDIS_MNEMONIC_ADDSUBPD, ZYDIS_MNEMONIC_HADDPS, ZYDIS_MNEMONIC_HADDPD, ZYDIS_MNEMONIC_HSUBPS,
      ZYDIS_MNEMONIC_HSUBPD, ZYDIS_MNEMONIC_CVTPS2DQ, ZYDIS_MNEMONIC_CVTTPS2DQ,
      ZYDIS_MNEMONIC_CVTDQ2PS, ZYDIS_MNEMONIC_CVTPD2DQ, ZYDIS_MNEMONIC_CVTTPD2DQ,
      ZYDIS_MNEMONIC_CVTPD2PS, ZYDIS_MNEMONIC_MOVAPS, ZYDIS_MNEMONIC_MOVDQA};
  // xmm, xmm/m32 or m64 (scalar forms and half-width sources)
  static const struct {
    ZydisMnemonic m;
    unsigned size;
  } kXS[] = {
      {ZYDIS_MNEMONIC_ADDSS, 4},    {ZYDIS_MNEMONIC_ADDSD, 8},    {ZYDIS_MNEMONIC_SUBSS, 4},
      {ZYDIS_MNEMONIC_SUBSD, 8},    {ZYDIS_MNEMONIC_MULSS, 4},    {ZYDIS_MNEMONIC_MULSD, 8},
      {ZYDIS_MNEMONIC_DIVSS, 4},    {ZYDIS_MNEMONIC_DIVSD, 8},    {ZYDIS_MNEMONIC_MINSS, 4},
      {ZYDIS_MNEMONIC_MINSD, 8},    {ZYDIS_MNEMONIC_MAXSS, 4},    {ZYDIS_MNEMONIC_MAXSD, 8},
      {ZYDIS_MNEMONIC_SQRTSS, 4},   {ZYDIS_MNEMONIC_SQRTSD, 8},   {ZYDIS_MNEMONIC_CVTSS2SD, 4},
      {ZYDIS_MNEMONIC_CVTSD2SS, 8}, {ZYDIS_MNEMONIC_CVTPS2PD, 8}, {ZYDIS_MNEMONIC_CVTDQ2PD, 8},
      {ZYDIS_MNEMONIC_MOVSS, 4},    {ZYDIS_MNEMONIC_MOVSD, 8},    {ZYDIS_MNEMONIC_MOVDDUP, 8},
      {ZYDIS_MNEMONIC_PMOVSXBD, 4}, {ZYDIS_MNEMONIC_PMOVSXBQ, 2}, {ZYDIS_MNEMONIC_PMOVSXWD, 8},
      {ZYDIS_MNEMONIC_PMOVSXWQ, 4}, {ZYDIS_MNEMONIC_PMOVSXDQ, 8}, {ZYDIS_MNEMONIC_PMOVZXBD, 4},
      {ZYDIS_MNEMONIC_PMOVZXBQ, 2}, {ZYDIS_MNEMONIC_PMOVZXWD, 8}, {ZYDIS_MNEMONIC_PMOVZXWQ, 4},
      {ZYDIS_MNEMONIC_PMOVZXDQ, 8}, {ZYDIS_MNEMONIC_PMOVSXBW, 8}, {ZYDIS_MNEMONIC_PMOVZXBW, 8}};
  // xmm, xmm/m128, imm8
  static const ZydisMnemonic kXXI[] = {
      ZYDIS_MNEMONIC_PSHUFD,  ZYDIS_MNEMONIC_PSHUFHW, ZYDIS_MNEMONIC_PSHUFLW,
      ZYDIS_MNEMONIC_SHUFPS,  ZYDIS_MNEMONIC_SHUFPD,  ZYDIS_MNEMONIC_PALIGNR,
      ZYDIS_MNEMONIC_PBLENDW, ZYDIS_MNEMONIC_BLENDPS, ZYDIS_MNEMONIC_BLENDPD,
      ZYDIS_MNEMONIC_MPSADBW, ZYDIS_MNEMONIC_CMPPS,   ZYDIS_MNEMONIC_CMPPD,
      ZYDIS_MNEMONIC_ROUNDPS, ZYDIS_MNEMONIC_ROUNDPD};
  Check chk;
  for (;;) {
    bool ok = false;
    chk = Check{};
    switch (g.r(14)) {
      case 0:
      case 1:
      case 2:
      case 3: {
        ZydisMnemonic m = kXX[g.r(sizeof kXX / sizeof kXX[0])];
        unsigned d = static_cast<unsigned>(g.r(16)), s = static_cast<unsigned>(g.r(16));
        if (d == s && qemu_aliasing_bug(m)) s = (s + 1) & 15;
        ok = a.try_emit(m, {X(d), g.r(3) == 0 ? g.mem(16, 16) : X(s)});
        chk.nan_lane = nan_lane(m);
        break;
      }
      case 4:
      case 5: {
        const auto& e = kXS[g.r(sizeof kXS / sizeof kXS[0])];
        ok = a.try_emit(e.m, {g.x(), g.xm(e.size, 1)});
        chk.nan_lane = nan_lane(e.m);
        break;
      }
      case 6: {
        ZydisMnemonic m = kXXI[g.r(sizeof kXXI / sizeof kXXI[0])];
        int64_t imm = static_cast<int64_t>(g.r(256));
        if (m == ZYDIS_MNEMONIC_CMPPS || m == ZYDIS_MNEMONIC_CMPPD) imm &= 7;
        if (m == ZYDIS_MNEMONIC_ROUNDPS || m == ZYDIS_MNEMONIC_ROUNDPD) imm &= 15;
        ok = a.try_emit(m, {g.x(), g.xm(16, 16), I(imm)});
        chk.nan_lane = nan_lane(m);
        break;
      }
      case 7: {  // scalar compares and rounds with imm8
        static const struct {
          ZydisMnemonic m;
          unsigned size, mask;
        } kXSI[] = {{ZYDIS_MNEMONIC_CMPSS, 4, 7},
                    {ZYDIS_MNEMONIC_CMPSD, 8, 7},
                    {ZYDIS_MNEMONIC_ROUNDSS, 4, 15},
                    {ZYDIS_MNEMONIC_ROUNDSD, 8, 15},
                    {ZYDIS_MNEMONIC_INSERTPS, 4, 255}};
        const auto& e = kXSI[g.r(5)];
        ok = a.try_emit(e.m, {g.x(), g.xm(e.size, 1), I(static_cast<int64_t>(g.r(256) & e.mask))});
        break;
      }
      case 8: {  // shifts by immediate
        static const ZydisMnemonic kSh[] = {
            ZYDIS_MNEMONIC_PSLLW,  ZYDIS_MNEMONIC_PSLLD, ZYDIS_MNEMONIC_PSLLQ, ZYDIS_MNEMONIC_PSRLW,
            ZYDIS_MNEMONIC_PSRLD,  ZYDIS_MNEMONIC_PSRLQ, ZYDIS_MNEMONIC_PSRAW, ZYDIS_MNEMONIC_PSRAD,
            ZYDIS_MNEMONIC_PSLLDQ, ZYDIS_MNEMONIC_PSRLDQ};
        int64_t imm = g.r(2) ? static_cast<int64_t>(g.r(70)) : static_cast<int64_t>(g.r(256));
        ok = a.try_emit(kSh[g.r(10)], {g.x(), I(imm)});
        break;
      }
      case 9: {  // comparisons into RFLAGS
        static const struct {
          ZydisMnemonic m;
          unsigned size;
        } kC[] = {{ZYDIS_MNEMONIC_COMISS, 4},
                  {ZYDIS_MNEMONIC_UCOMISS, 4},
                  {ZYDIS_MNEMONIC_COMISD, 8},
                  {ZYDIS_MNEMONIC_UCOMISD, 8},
                  {ZYDIS_MNEMONIC_PTEST, 16}};
        const auto& e = kC[g.r(5)];
        ok = a.try_emit(e.m, {g.x(), g.xm(e.size, e.size == 16 ? 16 : 1)});
        chk.flags = kFlagsAll;
        break;
      }
      case 10: {  // string compares: every imm8, explicit lengths in EAX/EDX
        static const ZydisMnemonic kStr[] = {ZYDIS_MNEMONIC_PCMPESTRI, ZYDIS_MNEMONIC_PCMPESTRM,
                                             ZYDIS_MNEMONIC_PCMPISTRI, ZYDIS_MNEMONIC_PCMPISTRM};
        ZydisMnemonic m = kStr[g.r(4)];
        if (m == ZYDIS_MNEMONIC_PCMPESTRI || m == ZYDIS_MNEMONIC_PCMPESTRM) {
          a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), I(static_cast<int64_t>(g.r(40)) - 20)});
          a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EDX), I(static_cast<int64_t>(g.r(40)) - 20)});
        }
        int64_t imm = static_cast<int64_t>(g.r(256));
        if ((imm & 0x0C) == 0x0C) imm &= ~0x04;  // no "equal ordered": see the header
        ok = a.try_emit(m, {g.x(), g.xm(16, 1), I(imm)});
        chk.flags = kFlagsAll;
        break;
      }
      case 11: {  // GPR <-> XMM
        unsigned s = g.r(2) ? 8 : 4;
        switch (g.r(10)) {
          case 0:
            ok = a.try_emit(s == 4 ? ZYDIS_MNEMONIC_MOVD : ZYDIS_MNEMONIC_MOVQ, {g.x(), g.reg(s)});
            break;
          case 1:
            ok = a.try_emit(s == 4 ? ZYDIS_MNEMONIC_MOVD : ZYDIS_MNEMONIC_MOVQ, {g.reg(s), g.x()});
            break;
          case 2: ok = a.try_emit(ZYDIS_MNEMONIC_CVTSI2SS, {g.x(), g.reg(s)}); break;
          case 3: ok = a.try_emit(ZYDIS_MNEMONIC_CVTSI2SD, {g.x(), g.reg(s)}); break;
          case 4: {
            static const ZydisMnemonic kCvt[] = {ZYDIS_MNEMONIC_CVTSS2SI, ZYDIS_MNEMONIC_CVTTSS2SI,
                                                 ZYDIS_MNEMONIC_CVTSD2SI, ZYDIS_MNEMONIC_CVTTSD2SI};
            unsigned k = static_cast<unsigned>(g.r(4));
            ok = a.try_emit(kCvt[k], {g.reg(s), g.xm(k < 2 ? 4 : 8, 1)});
            break;
          }
          case 5:
            ok = a.try_emit(g.r(2) ? ZYDIS_MNEMONIC_MOVMSKPS : ZYDIS_MNEMONIC_MOVMSKPD,
                            {g.reg(4), g.x()});
            break;
          case 6: ok = a.try_emit(ZYDIS_MNEMONIC_PMOVMSKB, {g.reg(4), g.x()}); break;
          case 7: {
            static const struct {
              ZydisMnemonic m;
              unsigned size, lanes;
            } kIns[] = {{ZYDIS_MNEMONIC_PINSRB, 4, 16},
                        {ZYDIS_MNEMONIC_PINSRW, 4, 8},
                        {ZYDIS_MNEMONIC_PINSRD, 4, 4},
                        {ZYDIS_MNEMONIC_PINSRQ, 8, 2}};
            const auto& e = kIns[g.r(4)];
            ok = a.try_emit(e.m, {g.x(), g.reg(e.size), I(static_cast<int64_t>(g.r(e.lanes)))});
            break;
          }
          case 8: {
            static const struct {
              ZydisMnemonic m;
              unsigned size, lanes;
            } kExt[] = {{ZYDIS_MNEMONIC_PEXTRB, 4, 16},
                        {ZYDIS_MNEMONIC_PEXTRW, 4, 8},
                        {ZYDIS_MNEMONIC_PEXTRD, 4, 4},
                        {ZYDIS_MNEMONIC_PEXTRQ, 8, 2},
                        {ZYDIS_MNEMONIC_EXTRACTPS, 4, 4}};
            const auto& e = kExt[g.r(5)];
            ok = a.try_emit(e.m, {g.reg(e.size), g.x(), I(static_cast<int64_t>(g.r(e.lanes)))});
            break;
          }
          default: {
            unsigned ss = 1u << g.r(s == 8 ? 4 : 3);
            ok = a.try_emit(ZYDIS_MNEMONIC_CRC32, {g.reg(s), g.r(2) ? g.reg(ss) : g.mem(ss)});
            break;
          }
        }
        break;
      }
      case 12: {  // stores
        static const struct {
          ZydisMnemonic m;
          unsigned size, align;
        } kSt[] = {{ZYDIS_MNEMONIC_MOVAPS, 16, 16},  {ZYDIS_MNEMONIC_MOVUPS, 16, 1},
                   {ZYDIS_MNEMONIC_MOVDQA, 16, 16},  {ZYDIS_MNEMONIC_MOVDQU, 16, 1},
                   {ZYDIS_MNEMONIC_MOVNTDQ, 16, 16}, {ZYDIS_MNEMONIC_MOVSS, 4, 1},
                   {ZYDIS_MNEMONIC_MOVSD, 8, 1},     {ZYDIS_MNEMONIC_MOVLPS, 8, 1},
                   {ZYDIS_MNEMONIC_MOVHPS, 8, 1},    {ZYDIS_MNEMONIC_MOVQ, 8, 1},
                   {ZYDIS_MNEMONIC_MOVD, 4, 1}};
        const auto& e = kSt[g.r(sizeof kSt / sizeof kSt[0])];
        ok = a.try_emit(e.m, {g.mem(e.size, e.align), g.x()});
        break;
      }
      default: {  // loads and register moves
        static const struct {
          ZydisMnemonic m;
          unsigned size, align;
          bool reg_ok;
        } kLd[] = {{ZYDIS_MNEMONIC_MOVUPS, 16, 1, true},    {ZYDIS_MNEMONIC_MOVUPD, 16, 1, true},
                   {ZYDIS_MNEMONIC_MOVDQU, 16, 1, true},    {ZYDIS_MNEMONIC_LDDQU, 16, 1, false},
                   {ZYDIS_MNEMONIC_MOVLPS, 8, 1, false},    {ZYDIS_MNEMONIC_MOVHPS, 8, 1, false},
                   {ZYDIS_MNEMONIC_MOVLPD, 8, 1, false},    {ZYDIS_MNEMONIC_MOVHPD, 8, 1, false},
                   {ZYDIS_MNEMONIC_MOVHLPS, 16, 1, true},   {ZYDIS_MNEMONIC_MOVLHPS, 16, 1, true},
                   {ZYDIS_MNEMONIC_MOVQ, 8, 1, true},       {ZYDIS_MNEMONIC_MOVD, 4, 1, false},
                   {ZYDIS_MNEMONIC_MOVNTDQA, 16, 16, false}};
        const auto& e = kLd[g.r(sizeof kLd / sizeof kLd[0])];
        bool use_reg =
            e.reg_ok && (e.m == ZYDIS_MNEMONIC_MOVHLPS || e.m == ZYDIS_MNEMONIC_MOVLHPS || g.r(2));
        ok = a.try_emit(e.m, {g.x(), use_reg ? g.x() : g.mem(e.size, e.align)});
        break;
      }
    }
    if (ok) return chk;
  }
}

TEST_F(UnicornSseTest, RandomSseSequencesMatch) {
  Gen g(20241121);
  constexpr int kBlocks = 500, kInsns = 1000;
  for (int block = 0; block < kBlocks; ++block) {
    Asm a;
    std::vector<uint64_t> starts;
    std::vector<Check> checks;
    for (int k = 0; k < kInsns; ++k) {
      starts.push_back(L::kCode + a.size());
      checks.push_back(emit_sse(g, a));
    }
    std::vector<uint64_t> all;
    std::vector<Check> all_checks;
    split_helpers(a, starts, checks, &all, &all_checks);
    // Rounding mode: mostly the default, sometimes one of the others.
    uint32_t mxcsr = kMxcsrDefault | (g.r(4) == 0 ? static_cast<uint32_t>(g.r(4)) << 13 : 0);
    start_block(g, a, mxcsr);
    for (size_t k = 0; k < all.size(); ++k)
      if (!step_and_compare(a, all, k, all_checks[k], false)) return;
  }
  RecordProperty("compared", static_cast<int>(compared_));
  std::printf("SSE differential: %llu instructions compared, %llu NaN-choice differences\n",
              static_cast<unsigned long long>(compared_),
              static_cast<unsigned long long>(nan_pairs_));
}

}  // namespace
}  // namespace hvsim::cpu::testing
