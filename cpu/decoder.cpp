// Zydis decoding into Insn records and the per-physical-page decode cache
// (Intel SDM Vol. 2 ch. 2 "Instruction format", Vol. 3A 11.6 "Self-modifying code").
#include "cpu/decoder.h"

#include <Zydis/Zydis.h>

#include <array>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

const char* to_string(DecodeMode m) {
  switch (m) {
    case DecodeMode::kReal16: return "real";
    case DecodeMode::kProt16: return "protected-16";
    case DecodeMode::kProt32: return "protected-32";
    case DecodeMode::kLong64: return "long-64";
    case DecodeMode::kCompat16: return "compat-16";
    case DecodeMode::kCompat32: return "compat-32";
  }
  return "?";
}

namespace {

void handle_unimplemented(CpuImpl&, const Insn&) {
  raise_ud();
}

/// The handler of an instruction not marked kExecLazyFlags: it sees RFLAGS materialized.
void with_flags(CpuImpl& c, const Insn& i) {
  c.materialize_flags();
  i.body(c, i);
}

struct Tables {
  std::array<Handler, ZYDIS_MNEMONIC_MAX_VALUE + 1> handlers;
  ZydisDecoder decoders[6];
  Tables() {
    handlers.fill(&handle_unimplemented);
    register_alu(handlers.data());
    register_control(handlers.data());
    register_string(handlers.data());
    register_system(handlers.data());
    register_x87(handlers.data());
    register_sse_move(handlers.data());
    register_sse_int(handlers.data());
    register_sse_fp(handlers.data());
    register_sse4(handlers.data());
    register_xsave(handlers.data());
    register_bitmanip(handlers.data());
    register_sysenter(handlers.data());
    static constexpr struct {
      ZydisMachineMode mode;
      ZydisStackWidth width;
    } kModes[6] = {
        {ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16},
        {ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16},
        {ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32},
        {ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64},
        {ZYDIS_MACHINE_MODE_LONG_COMPAT_16, ZYDIS_STACK_WIDTH_16},
        {ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32},
    };
    for (int m = 0; m < 6; ++m) ZydisDecoderInit(&decoders[m], kModes[m].mode, kModes[m].width);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

/// Maps a Zydis register to our operand encoding; false for registers we do not model.
bool map_register(ZydisRegister r, Operand* o) {
  if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_R15B) {
    unsigned n = r - ZYDIS_REGISTER_AL;
    o->size = 1;
    if (n >= 4 && n <= 7) {
      o->rc = RegClass::kGpr8High;
      o->reg = static_cast<uint8_t>(n - 4);
    } else {
      o->rc = RegClass::kGpr;
      o->reg = static_cast<uint8_t>(n < 4 ? n : n - 4);
    }
    return true;
  }
  if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15) {
    unsigned n = r - ZYDIS_REGISTER_AX;
    o->rc = RegClass::kGpr;
    o->reg = static_cast<uint8_t>(n % 16);
    o->size = static_cast<uint8_t>(2u << (n / 16));
    return true;
  }
  if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS) {
    o->rc = RegClass::kSeg;
    o->reg = static_cast<uint8_t>(r - ZYDIS_REGISTER_ES);
    o->size = 2;
    return true;
  }
  if (r >= ZYDIS_REGISTER_CR0 && r <= ZYDIS_REGISTER_CR15) {
    o->rc = RegClass::kCr;
    o->reg = static_cast<uint8_t>(r - ZYDIS_REGISTER_CR0);
    return true;
  }
  if (r >= ZYDIS_REGISTER_DR0 && r <= ZYDIS_REGISTER_DR15) {
    o->rc = RegClass::kDr;
    o->reg = static_cast<uint8_t>(r - ZYDIS_REGISTER_DR0);
    return true;
  }
  if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) {
    o->rc = RegClass::kXmm;
    o->reg = static_cast<uint8_t>(r - ZYDIS_REGISTER_XMM0);
    return true;
  }
  if (r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7) {
    o->rc = RegClass::kMmx;
    o->reg = static_cast<uint8_t>(r - ZYDIS_REGISTER_MM0);
    return true;
  }
  if (r >= ZYDIS_REGISTER_ST0 && r <= ZYDIS_REGISTER_ST7) {
    o->rc = RegClass::kX87;
    o->reg = static_cast<uint8_t>(r - ZYDIS_REGISTER_ST0);
    return true;
  }
  o->rc = RegClass::kOther;
  o->reg = 0;
  return true;
}

int gpr_index(ZydisRegister r) {
  if (r == ZYDIS_REGISTER_NONE) return -1;
  Operand o;
  map_register(r, &o);
  return o.rc == RegClass::kGpr ? o.reg : -1;
}

/// Per-mnemonic execution bits (kExec*) and timing classes.
struct ExecTables {
  std::array<uint8_t, ZYDIS_MNEMONIC_MAX_VALUE + 1> exec{};
  std::array<uint8_t, ZYDIS_MNEMONIC_MAX_VALUE + 1> cost{};
  ExecTables() {
    using timing::Class;
    // Straight-line integer instructions whose handlers (exec_alu.cpp, exec_control.cpp,
    // exec_string.cpp) keep the kExecStraight and kExecLazyFlags contracts.
    static constexpr ZydisMnemonic kStraight[] = {
        ZYDIS_MNEMONIC_ADD,     ZYDIS_MNEMONIC_OR,        ZYDIS_MNEMONIC_ADC,
        ZYDIS_MNEMONIC_SBB,     ZYDIS_MNEMONIC_AND,       ZYDIS_MNEMONIC_SUB,
        ZYDIS_MNEMONIC_XOR,     ZYDIS_MNEMONIC_CMP,       ZYDIS_MNEMONIC_TEST,
        ZYDIS_MNEMONIC_INC,     ZYDIS_MNEMONIC_DEC,       ZYDIS_MNEMONIC_NEG,
        ZYDIS_MNEMONIC_NOT,     ZYDIS_MNEMONIC_ROL,       ZYDIS_MNEMONIC_ROR,
        ZYDIS_MNEMONIC_RCL,     ZYDIS_MNEMONIC_RCR,       ZYDIS_MNEMONIC_SHL,
        ZYDIS_MNEMONIC_SHR,     ZYDIS_MNEMONIC_SAR,       ZYDIS_MNEMONIC_SHLD,
        ZYDIS_MNEMONIC_SHRD,    ZYDIS_MNEMONIC_MUL,       ZYDIS_MNEMONIC_IMUL,
        ZYDIS_MNEMONIC_DIV,     ZYDIS_MNEMONIC_IDIV,      ZYDIS_MNEMONIC_MOV,
        ZYDIS_MNEMONIC_MOVZX,   ZYDIS_MNEMONIC_MOVSX,     ZYDIS_MNEMONIC_MOVSXD,
        ZYDIS_MNEMONIC_LEA,     ZYDIS_MNEMONIC_XCHG,      ZYDIS_MNEMONIC_XADD,
        ZYDIS_MNEMONIC_CMPXCHG, ZYDIS_MNEMONIC_CMPXCHG8B, ZYDIS_MNEMONIC_CMPXCHG16B,
        ZYDIS_MNEMONIC_BSWAP,   ZYDIS_MNEMONIC_BT,        ZYDIS_MNEMONIC_BTS,
        ZYDIS_MNEMONIC_BTR,     ZYDIS_MNEMONIC_BTC,       ZYDIS_MNEMONIC_BSF,
        ZYDIS_MNEMONIC_BSR,     ZYDIS_MNEMONIC_SETB,      ZYDIS_MNEMONIC_SETBE,
        ZYDIS_MNEMONIC_SETL,    ZYDIS_MNEMONIC_SETLE,     ZYDIS_MNEMONIC_SETNB,
        ZYDIS_MNEMONIC_SETNBE,  ZYDIS_MNEMONIC_SETNL,     ZYDIS_MNEMONIC_SETNLE,
        ZYDIS_MNEMONIC_SETNO,   ZYDIS_MNEMONIC_SETNP,     ZYDIS_MNEMONIC_SETNS,
        ZYDIS_MNEMONIC_SETNZ,   ZYDIS_MNEMONIC_SETO,      ZYDIS_MNEMONIC_SETP,
        ZYDIS_MNEMONIC_SETS,    ZYDIS_MNEMONIC_SETZ,      ZYDIS_MNEMONIC_CMOVB,
        ZYDIS_MNEMONIC_CMOVBE,  ZYDIS_MNEMONIC_CMOVL,     ZYDIS_MNEMONIC_CMOVLE,
        ZYDIS_MNEMONIC_CMOVNB,  ZYDIS_MNEMONIC_CMOVNBE,   ZYDIS_MNEMONIC_CMOVNL,
        ZYDIS_MNEMONIC_CMOVNLE, ZYDIS_MNEMONIC_CMOVNO,    ZYDIS_MNEMONIC_CMOVNP,
        ZYDIS_MNEMONIC_CMOVNS,  ZYDIS_MNEMONIC_CMOVNZ,    ZYDIS_MNEMONIC_CMOVO,
        ZYDIS_MNEMONIC_CMOVP,   ZYDIS_MNEMONIC_CMOVS,     ZYDIS_MNEMONIC_CMOVZ,
        ZYDIS_MNEMONIC_CBW,     ZYDIS_MNEMONIC_CWDE,      ZYDIS_MNEMONIC_CDQE,
        ZYDIS_MNEMONIC_CWD,     ZYDIS_MNEMONIC_CDQ,       ZYDIS_MNEMONIC_CQO,
        ZYDIS_MNEMONIC_LAHF,    ZYDIS_MNEMONIC_SAHF,      ZYDIS_MNEMONIC_CLC,
        ZYDIS_MNEMONIC_STC,     ZYDIS_MNEMONIC_CMC,       ZYDIS_MNEMONIC_CLD,
        ZYDIS_MNEMONIC_STD,     ZYDIS_MNEMONIC_NOP,       ZYDIS_MNEMONIC_XLAT,
        ZYDIS_MNEMONIC_PUSH,    ZYDIS_MNEMONIC_POP,       ZYDIS_MNEMONIC_LEAVE,
        ZYDIS_MNEMONIC_ENTER,   ZYDIS_MNEMONIC_MOVSB,     ZYDIS_MNEMONIC_MOVSW,
        ZYDIS_MNEMONIC_MOVSD,   ZYDIS_MNEMONIC_MOVSQ,     ZYDIS_MNEMONIC_STOSB,
        ZYDIS_MNEMONIC_STOSW,   ZYDIS_MNEMONIC_STOSD,     ZYDIS_MNEMONIC_STOSQ,
        ZYDIS_MNEMONIC_LODSB,   ZYDIS_MNEMONIC_LODSW,     ZYDIS_MNEMONIC_LODSD,
        ZYDIS_MNEMONIC_LODSQ,   ZYDIS_MNEMONIC_CMPSB,     ZYDIS_MNEMONIC_CMPSW,
        ZYDIS_MNEMONIC_CMPSD,   ZYDIS_MNEMONIC_CMPSQ,     ZYDIS_MNEMONIC_SCASB,
        ZYDIS_MNEMONIC_SCASW,   ZYDIS_MNEMONIC_SCASD,     ZYDIS_MNEMONIC_SCASQ,
    };
    for (ZydisMnemonic m : kStraight) exec[m] = kExecStraight | kExecLazyFlags;
    // Control transfers end a block but read flags lazily.
    for (ZydisMnemonic m :
         {ZYDIS_MNEMONIC_JMP,   ZYDIS_MNEMONIC_CALL,   ZYDIS_MNEMONIC_RET,  ZYDIS_MNEMONIC_LOOP,
          ZYDIS_MNEMONIC_LOOPE, ZYDIS_MNEMONIC_LOOPNE, ZYDIS_MNEMONIC_JCXZ, ZYDIS_MNEMONIC_JECXZ,
          ZYDIS_MNEMONIC_JRCXZ, ZYDIS_MNEMONIC_JB,     ZYDIS_MNEMONIC_JBE,  ZYDIS_MNEMONIC_JL,
          ZYDIS_MNEMONIC_JLE,   ZYDIS_MNEMONIC_JNB,    ZYDIS_MNEMONIC_JNBE, ZYDIS_MNEMONIC_JNL,
          ZYDIS_MNEMONIC_JNLE,  ZYDIS_MNEMONIC_JNO,    ZYDIS_MNEMONIC_JNP,  ZYDIS_MNEMONIC_JNS,
          ZYDIS_MNEMONIC_JNZ,   ZYDIS_MNEMONIC_JO,     ZYDIS_MNEMONIC_JP,   ZYDIS_MNEMONIC_JS,
          ZYDIS_MNEMONIC_JZ}) {
      exec[m] = kExecLazyFlags | kExecCondBranch;
      cost[m] = static_cast<uint8_t>(Class::kBranch);
    }
    for (ZydisMnemonic m : {ZYDIS_MNEMONIC_JMP, ZYDIS_MNEMONIC_CALL, ZYDIS_MNEMONIC_RET}) {
      exec[m] = kExecLazyFlags;
      cost[m] = static_cast<uint8_t>(Class::kJump);
    }
    auto set = [&](Class c, std::initializer_list<ZydisMnemonic> ms) {
      for (ZydisMnemonic m : ms) cost[m] = static_cast<uint8_t>(c);
    };
    set(Class::kMultiply, {ZYDIS_MNEMONIC_MUL, ZYDIS_MNEMONIC_IMUL});
    set(Class::kDivide, {ZYDIS_MNEMONIC_DIV, ZYDIS_MNEMONIC_IDIV});
    set(Class::kString,
        {ZYDIS_MNEMONIC_MOVSB, ZYDIS_MNEMONIC_MOVSW, ZYDIS_MNEMONIC_MOVSD, ZYDIS_MNEMONIC_MOVSQ,
         ZYDIS_MNEMONIC_STOSB, ZYDIS_MNEMONIC_STOSW, ZYDIS_MNEMONIC_STOSD, ZYDIS_MNEMONIC_STOSQ,
         ZYDIS_MNEMONIC_LODSB, ZYDIS_MNEMONIC_LODSW, ZYDIS_MNEMONIC_LODSD, ZYDIS_MNEMONIC_LODSQ,
         ZYDIS_MNEMONIC_CMPSB, ZYDIS_MNEMONIC_CMPSW, ZYDIS_MNEMONIC_CMPSD, ZYDIS_MNEMONIC_CMPSQ,
         ZYDIS_MNEMONIC_SCASB, ZYDIS_MNEMONIC_SCASW, ZYDIS_MNEMONIC_SCASD, ZYDIS_MNEMONIC_SCASQ});
    set(Class::kFarTransfer,
        {ZYDIS_MNEMONIC_IRET, ZYDIS_MNEMONIC_IRETD, ZYDIS_MNEMONIC_IRETQ, ZYDIS_MNEMONIC_INT,
         ZYDIS_MNEMONIC_INT3, ZYDIS_MNEMONIC_INTO, ZYDIS_MNEMONIC_INT1, ZYDIS_MNEMONIC_SYSENTER,
         ZYDIS_MNEMONIC_SYSEXIT});
    set(Class::kSyscall, {ZYDIS_MNEMONIC_SYSCALL, ZYDIS_MNEMONIC_SYSRET});
    set(Class::kControlRegister,
        {ZYDIS_MNEMONIC_LGDT, ZYDIS_MNEMONIC_LIDT, ZYDIS_MNEMONIC_SGDT, ZYDIS_MNEMONIC_SIDT,
         ZYDIS_MNEMONIC_LTR, ZYDIS_MNEMONIC_LLDT, ZYDIS_MNEMONIC_STR, ZYDIS_MNEMONIC_SLDT,
         ZYDIS_MNEMONIC_CLTS, ZYDIS_MNEMONIC_LMSW, ZYDIS_MNEMONIC_SMSW, ZYDIS_MNEMONIC_INVLPG,
         ZYDIS_MNEMONIC_SWAPGS, ZYDIS_MNEMONIC_WBINVD, ZYDIS_MNEMONIC_INVD});
    set(Class::kMsr, {ZYDIS_MNEMONIC_RDMSR, ZYDIS_MNEMONIC_WRMSR});
    set(Class::kCpuid, {ZYDIS_MNEMONIC_CPUID});
    set(Class::kRdtsc, {ZYDIS_MNEMONIC_RDTSC, ZYDIS_MNEMONIC_RDTSCP});
    set(Class::kPortIo,
        {ZYDIS_MNEMONIC_IN, ZYDIS_MNEMONIC_OUT, ZYDIS_MNEMONIC_INSB, ZYDIS_MNEMONIC_INSW,
         ZYDIS_MNEMONIC_INSD, ZYDIS_MNEMONIC_OUTSB, ZYDIS_MNEMONIC_OUTSW, ZYDIS_MNEMONIC_OUTSD});
    set(Class::kSystem,
        {ZYDIS_MNEMONIC_CLI, ZYDIS_MNEMONIC_STI, ZYDIS_MNEMONIC_PUSHF, ZYDIS_MNEMONIC_PUSHFD,
         ZYDIS_MNEMONIC_PUSHFQ, ZYDIS_MNEMONIC_POPF, ZYDIS_MNEMONIC_POPFD, ZYDIS_MNEMONIC_POPFQ,
         ZYDIS_MNEMONIC_PAUSE, ZYDIS_MNEMONIC_HLT});
    set(Class::kLocked, {ZYDIS_MNEMONIC_XCHG});  // register forms are reclassified as ALU
  }
};

ExecTables& exec_tables() {
  static ExecTables t;
  return t;
}

}  // namespace

void mark_straight_line(uint16_t mnemonic) {
  if (mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE)
    exec_tables().exec[mnemonic] = kExecStraight | kExecLazyFlags;
}

void CpuImpl::finish_decode(Insn& i) const {
  const ExecTables& t = exec_tables();
  uint8_t exec = t.exec[i.mnemonic];
  auto cls = static_cast<timing::Class>(t.cost[i.mnemonic]);
  bool mem = false;
  for (unsigned k = 0; k < i.nops; ++k) {
    const Operand& o = i.op[k];
    if (o.kind == OpKind::kMem) mem = true;
    // Segment, control and debug register moves change the mode, paging or address
    // translation: they end the block.
    if (o.kind == OpKind::kReg &&
        (o.rc == RegClass::kSeg || o.rc == RegClass::kCr || o.rc == RegClass::kDr)) {
      exec &= ~kExecStraight;
      if (o.rc != RegClass::kSeg)
        cls = timing::Class::kControlRegister;
      else if (protected_ && (i.mnemonic == ZYDIS_MNEMONIC_MOV || i.mnemonic == ZYDIS_MNEMONIC_POP))
        cls = timing::Class::kFarTransfer;
    }
  }
  // REP string instructions may restart at the same RIP (they yield every kRepChunk
  // iterations): they end the block.
  if (i.flags & (kInsnRep | kInsnRepne)) exec &= ~kExecStraight;
  if (cls == timing::Class::kLocked && !mem) cls = timing::Class::kAlu;
  if ((i.flags & kInsnLock) && mem) cls = timing::Class::kLocked;
  if (i.flags & kInsnFar) cls = timing::Class::kFarTransfer;
  i.exec = exec;
  if (mode_ == DecodeMode::kLong64) {
    if (Handler h = fast_handler(i)) i.handler = h;
  }
  if (!(exec & kExecLazyFlags)) {
    i.body = i.handler;
    i.handler = &with_flags;
  }
  i.cost_class = static_cast<uint8_t>(cls);
  unsigned size = i.nops ? i.op[0].size : i.opsize;
  i.cycles = timing::instruction_cycles(timing_, cls, size, mem);
}

Handler handler_for(uint16_t mnemonic) {
  return mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE ? tables().handlers[mnemonic] : &handle_unimplemented;
}

bool decode_insn(DecodeMode mode, const uint8_t* bytes, unsigned len, Insn* out, bool* need_more) {
  const Tables& t = tables();
  ZydisDecodedInstruction zi;
  ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
  *need_more = false;
  ZyanStatus st = ZydisDecoderDecodeFull(&t.decoders[static_cast<int>(mode)], bytes, len, &zi, zo);
  if (!ZYAN_SUCCESS(st)) {
    *need_more = st == ZYDIS_STATUS_NO_MORE_DATA || st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG;
    return false;
  }
  Insn& i = *out;
  i = Insn{};
  i.mnemonic = static_cast<uint16_t>(zi.mnemonic);
  i.handler = t.handlers[zi.mnemonic];
  i.length = zi.length;
  i.opsize = static_cast<uint8_t>(zi.operand_width / 8);
  i.addrsize = static_cast<uint8_t>(zi.address_width / 8);
  i.opcode = zi.opcode;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)
    i.modrm =
        static_cast<uint8_t>((zi.raw.modrm.mod << 6) | (zi.raw.modrm.reg << 3) | zi.raw.modrm.rm);
  if (zi.attributes & ZYDIS_ATTRIB_HAS_REP) i.flags |= kInsnRep;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_REPE) i.flags |= kInsnRep;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_REPNE) i.flags |= kInsnRepne;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_LOCK) i.flags |= kInsnLock;
  if (zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) i.flags |= kInsnFar;
  // Segment for string sources and memory operands without an explicit one.
  static constexpr struct {
    uint64_t attr;
    uint8_t seg;
  } kSegPrefixes[] = {
      {ZYDIS_ATTRIB_HAS_SEGMENT_ES, kEs}, {ZYDIS_ATTRIB_HAS_SEGMENT_CS, kCs},
      {ZYDIS_ATTRIB_HAS_SEGMENT_SS, kSs}, {ZYDIS_ATTRIB_HAS_SEGMENT_DS, kDs},
      {ZYDIS_ATTRIB_HAS_SEGMENT_FS, kFs}, {ZYDIS_ATTRIB_HAS_SEGMENT_GS, kGs},
  };
  i.mem.seg = kDs;
  for (const auto& p : kSegPrefixes) {
    if (zi.attributes & p.attr) {
      i.mem.seg = p.seg;
      i.flags |= kInsnSegOverride;
      i.seg_prefix = p.seg;
    }
  }
  bool have_imm = false;
  unsigned n = 0;
  for (unsigned k = 0; k < zi.operand_count_visible && n < 4; ++k) {
    const ZydisDecodedOperand& z = zo[k];
    Operand& o = i.op[n++];
    o.size = static_cast<uint8_t>(z.size / 8);
    switch (z.type) {
      case ZYDIS_OPERAND_TYPE_REGISTER: {
        o.kind = OpKind::kReg;
        uint8_t sz = o.size;
        map_register(z.reg.value, &o);
        if (o.rc == RegClass::kCr || o.rc == RegClass::kDr) o.size = sz;
        break;
      }
      case ZYDIS_OPERAND_TYPE_MEMORY: {
        o.kind = OpKind::kMem;
        // String instructions have two implicit memory operands; their handlers use the
        // segment prefix and RSI/RDI, so only the first explicit one is recorded.
        if (z.visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT || i.mem.base < 0) {
          MemRef& m = i.mem;
          if (z.mem.segment >= ZYDIS_REGISTER_ES && z.mem.segment <= ZYDIS_REGISTER_GS)
            m.seg = static_cast<uint8_t>(z.mem.segment - ZYDIS_REGISTER_ES);
          if (z.mem.base == ZYDIS_REGISTER_RIP || z.mem.base == ZYDIS_REGISTER_EIP) {
            m.rip_rel = true;
          } else {
            m.base = static_cast<int8_t>(gpr_index(z.mem.base));
          }
          m.index = static_cast<int8_t>(gpr_index(z.mem.index));
          m.scale = static_cast<uint8_t>(z.mem.scale == 8   ? 3
                                         : z.mem.scale == 4 ? 2
                                         : z.mem.scale == 2 ? 1
                                                            : 0);
          m.disp = z.mem.disp.has_displacement ? z.mem.disp.value : 0;
          // Why: Zydis 4.0.0 decodes mod = 00, SIB.base = 101 with a 32-bit address size
          // and REX.B = 1 in 64-bit mode as [r13d + index] without the displacement; the
          // SDM (Vol. 2 Table 2-3) defines that form as [disp32 + index] with no base.
          if ((zi.attributes & ZYDIS_ATTRIB_HAS_SIB) && zi.raw.modrm.mod == 0 &&
              zi.raw.sib.base == 5) {
            m.base = -1;
            m.disp = zi.raw.disp.value;
          }
        }
        break;
      }
      case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        o.kind = OpKind::kImm;
        if (!have_imm) {
          i.imm = z.imm.value.u;
          have_imm = true;
        } else {
          i.imm2 = z.imm.value.u;
        }
        break;
      case ZYDIS_OPERAND_TYPE_POINTER:
        o.kind = OpKind::kPtr;
        i.imm = z.ptr.offset;
        i.imm2 = z.ptr.segment;
        break;
      default: o.kind = OpKind::kNone; break;
    }
  }
  i.nops = static_cast<uint8_t>(n);
  return true;
}

// ---- DecodeCache ----

DecodeCache::DecodeCache() : table_(kSlots) {}

const Block* DecodeCache::find_slow(uint64_t pa, DecodeMode mode) {
  auto it = blocks_.find(key_of(pa, mode));
  if (it == blocks_.end()) {
    ++misses;
    return nullptr;
  }
  ++hits;
  Slot& s = table_[slot_of(pa)];
  s.key = it->first;
  s.block = it->second.get();
  return s.block;
}

const Block* DecodeCache::insert(std::unique_ptr<Block> b) {
  if (insns_ + b->insns.size() > kMaxCachedInsns) {
    clear();
    ++capacity_flushes;
  }
  insns_ += b->insns.size();
  uint64_t key = key_of(b->pa, b->mode);
  const Block* p = b.get();
  ++blocks_built;
  auto [it, fresh] = blocks_.try_emplace(key);
  if (!fresh) retired_.push_back(std::move(it->second));
  it->second = std::move(b);
  Slot& s = table_[slot_of(p->pa)];
  s.key = key;
  s.block = p;
  return p;
}

bool DecodeCache::invalidate(uint64_t pfn) {
  // Blocks of page pfn have keys in [pfn << 12, (pfn + 1) << 12) for each mode.
  bool any = false;
  for (unsigned m = 0; m < 6; ++m) {
    uint64_t lo = key_of(pfn << 12, static_cast<DecodeMode>(m));
    auto it = blocks_.lower_bound(lo);
    while (it != blocks_.end() && it->first < lo + 4096) {
      Block* b = it->second.get();
      b->valid = false;
      insns_ -= b->insns.size();
      Slot& s = table_[slot_of(b->pa)];
      if (s.block == b) s = Slot{};
      retired_.push_back(std::move(it->second));
      it = blocks_.erase(it);
      any = true;
    }
  }
  if (any) ++invalidations;
  return any;
}

void DecodeCache::clear() {
  for (auto& [key, b] : blocks_) {
    b->valid = false;
    retired_.push_back(std::move(b));
  }
  blocks_.clear();
  insns_ = 0;
  for (Slot& s : table_) s = Slot{};
}

// ---- fetch (the uncached path of step_one) ----

const Insn* CpuImpl::fetch() {
  uint64_t rip = s_.rip;
  uint64_t la;
  if (long64_) {
    la = rip;
    if (!canonical(la)) raise_gp(0);
  } else {
    if (rip > s_.seg[kCs].limit) raise_gp(0);
    la = (s_.seg[kCs].base + rip) & 0xFFFFFFFF;
  }
  bool user = cpl_ == 3;
  uint64_t pa = translate(la, Access::kFetch, user);
  unsigned off = pa & 0xFFF;
  uint8_t buf[16];
  unsigned avail = 4096 - off < 15 ? 4096 - off : 15;
  for (unsigned k = 0; k < avail; ++k) buf[k] = static_cast<uint8_t>(phys_read(pa + k, 1));
  bool need_more = false;
  Insn* out = &scratch_;
  bool ok = decode_insn(mode_, buf, avail, out, &need_more);
  if (!ok && need_more && avail < 15) {
    // The instruction continues on the next linear page: fetch it only now, so an
    // instruction that fits in the first page never faults on the second.
    uint64_t la2 = long64_ ? la + avail : (la + avail) & 0xFFFFFFFF;
    uint64_t pa2 = translate(la2, Access::kFetch, user);
    for (unsigned k = avail; k < 15; ++k)
      buf[k] = static_cast<uint8_t>(phys_read(pa2 + (k - avail), 1));
    ok = decode_insn(mode_, buf, 15, out, &need_more);
  }
  ++dcache_.uncached;
  if (!ok) {
    // Why: 15 bytes without a complete instruction is the "too long" #GP(0) (SDM 2.3.11).
    if (need_more) raise_gp(0);
    raise_ud();
  }
  if (!long64_ && rip + out->length - 1 > s_.seg[kCs].limit) raise_gp(0);
  finish_decode(*out);
  return out;
}

namespace {

/// Turns `prev` into a fused pair with the Jcc `next` (exec_fast.cpp fuse_pair) if they
/// fuse; the pair is one record that behaves as two instructions at every boundary.
bool try_fuse(Insn& prev, const Insn& next) {
  Handler h = fuse_pair(prev, next);
  if (!h) return false;
  prev.handler = h;
  prev.fused_len = prev.length;
  prev.fused_cc = next.opcode & 15;
  prev.fused_cycles = next.cycles;
  prev.imm2 = next.imm;
  // The record's next_rip_ is the end of the Jcc; a RIP-relative operand of the first
  // instruction is relative to its own end.
  if (prev.mem.rip_rel) prev.mem.disp -= next.length;
  prev.length = static_cast<uint8_t>(prev.length + next.length);
  prev.exec = next.exec;
  return true;
}

}  // namespace

const Block* CpuImpl::build_block(uint64_t pa) {
  if (!env_.mem->contains(pa & ~0xFFFull, 4096)) return nullptr;  // code in MMIO: step
  auto b = std::make_unique<Block>();
  b->pa = pa;
  b->mode = mode_;
  const uint8_t* page = env_.mem->read_ptr(pa & ~0xFFFull);
  unsigned off = pa & 0xFFF;
  Insn i;
  while (off < 4096 && b->insns.size() < kMaxBlockInsns) {
    unsigned avail = 4096 - off < 15 ? 4096 - off : 15;
    bool need_more = false;
    // An instruction that crosses the page end or does not decode ends the block before
    // it; step_one runs it (and raises its fault) when execution gets there.
    if (!decode_insn(mode_, page + off, avail, &i, &need_more)) break;
    finish_decode(i);
    off += i.length;
    if (!b->insns.empty() && !b->insns.back().fused_len && try_fuse(b->insns.back(), i)) continue;
    b->insns.push_back(i);
    if (!(i.exec & (kExecStraight | kExecCondBranch))) break;
  }
  if (b->insns.empty()) return nullptr;
  b->bytes = static_cast<uint16_t>(off - (pa & 0xFFF));
  b->chainable = (b->insns.back().exec & kExecLazyFlags) != 0;
  b->insns.shrink_to_fit();
  env_.mem->mark_code_page(pa >> 12);
  return dcache_.insert(std::move(b));
}

}  // namespace hvsim::cpu
