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

}  // namespace

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

CodePage* DecodeCache::find(uint64_t pfn, DecodeMode mode) {
  CodePage* p = nullptr;
  if (pfn == last_pfn_) {
    p = last_;
  } else {
    auto it = pages_.find(pfn);
    if (it == pages_.end()) return nullptr;
    p = it->second.get();
    last_pfn_ = pfn;
    last_ = p;
  }
  if (p->mode != mode) {
    invalidate(pfn);
    return nullptr;
  }
  return p;
}

CodePage* DecodeCache::create(uint64_t pfn, DecodeMode mode) {
  auto page = std::make_unique<CodePage>();
  page->mode = mode;
  std::memset(page->index, 0, sizeof page->index);
  CodePage* p = page.get();
  pages_[pfn] = std::move(page);
  last_pfn_ = pfn;
  last_ = p;
  return p;
}

void DecodeCache::invalidate(uint64_t pfn) {
  auto it = pages_.find(pfn);
  if (it == pages_.end()) return;
  retired_.push_back(std::move(it->second));
  pages_.erase(it);
  ++invalidations;
  if (last_pfn_ == pfn) {
    last_pfn_ = ~0ull;
    last_ = nullptr;
  }
}

void DecodeCache::clear() {
  for (auto& [pfn, page] : pages_) retired_.push_back(std::move(page));
  pages_.clear();
  last_pfn_ = ~0ull;
  last_ = nullptr;
}

// ---- fetch ----

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
  uint64_t pfn = pa >> 12;
  unsigned off = pa & 0xFFF;
  bool in_ram = env_.mem->contains(pa, 1);
  CodePage* page = nullptr;
  if (in_ram) {
    page = dcache_.find(pfn, mode_);
    if (page && page->index[off]) {
      ++dcache_.hits;
      return &page->insns[page->index[off] - 1];
    }
  }
  uint8_t buf[16];
  unsigned avail = 4096 - off < 15 ? 4096 - off : 15;
  for (unsigned k = 0; k < avail; ++k) buf[k] = static_cast<uint8_t>(phys_read(pa + k, 1));
  bool need_more = false;
  Insn* out = &scratch_;
  bool ok = decode_insn(mode_, buf, avail, out, &need_more);
  bool cacheable = ok && in_ram;
  if (!ok && need_more && avail < 15) {
    // The instruction continues on the next linear page: fetch it only now, so an
    // instruction that fits in the first page never faults on the second.
    uint64_t la2 = long64_ ? la + avail : (la + avail) & 0xFFFFFFFF;
    uint64_t pa2 = translate(la2, Access::kFetch, user);
    for (unsigned k = avail; k < 15; ++k)
      buf[k] = static_cast<uint8_t>(phys_read(pa2 + (k - avail), 1));
    ok = decode_insn(mode_, buf, 15, out, &need_more);
    cacheable = false;
  }
  if (!ok) {
    ++dcache_.misses;
    // Why: 15 bytes without a complete instruction is the "too long" #GP(0) (SDM 2.3.11).
    if (need_more) raise_gp(0);
    raise_ud();
  }
  if (!long64_ && rip + out->length - 1 > s_.seg[kCs].limit) raise_gp(0);
  ++dcache_.misses;
  if (!cacheable) {
    ++dcache_.uncached;
    return out;
  }
  if (!page) page = dcache_.create(pfn, mode_);
  page->insns.push_back(*out);
  page->index[off] = static_cast<uint16_t>(page->insns.size());
  env_.mem->mark_code_page(pfn);
  return &page->insns.back();
}

}  // namespace hvsim::cpu
