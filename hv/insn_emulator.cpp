// Instruction emulator front end: fetch through guest paging, decode, operand access to RAM
// and MMIO (Intel SDM Vol. 2 2.1 instruction format and 3.7 operand addressing; Vol. 3A
// 3.4.5 segments, ch. 4 paging; Vol. 3C 29.3.3 EPT violations). Semantics: insn_execute.cpp.
#include "hv/insn_emulator.h"

#include <Zydis/Zydis.h>

#include <cstring>

#include "cpu/spec/exceptions.h"
#include "hv/insn_alu.h"
#include "hv/insn_context.h"

namespace hvsim::hv {

namespace emu {

using cpu::spec::Vector;

void raise(uint8_t vector, bool has_error, uint32_t error) {
  throw Raise{GuestFault{vector, has_error, error, 0}};
}

void Context::fetch_decode() {
  const cpu::SegReg& cs = g_.seg[cpu::kCs];
  const PagingRegs& pr = g_.paging;
  bool pe = pr.cr0 & cpu::kCr0PE, vm86 = g_.rflags & cpu::kFlagVM;
  bool lma = pr.efer & cpu::kEferLMA;
  long64_ = lma && (cs.attr & 0x2000);
  la_bits_ = (pr.cr4 & cpu::kCr4LA57) ? 57 : 48;
  cpu::DecodeMode mode;
  if (!pe || vm86)
    mode = cpu::DecodeMode::kReal16;
  else if (long64_)
    mode = cpu::DecodeMode::kLong64;
  else if (lma)
    mode = (cs.attr & 0x4000) ? cpu::DecodeMode::kCompat32 : cpu::DecodeMode::kCompat16;
  else
    mode = (cs.attr & 0x4000) ? cpu::DecodeMode::kProt32 : cpu::DecodeMode::kProt16;
  // Fetch up to 15 bytes, a page at a time: the second page only if the decoder needs it
  // (an instruction that ends in the first page never touches the next).
  uint8_t bytes[15];
  unsigned have = 0;
  bool need_more = false;
  for (int pass = 0; pass < 2; ++pass) {
    uint64_t la;
    GuestFault f;
    uint64_t off = g_.rip + have;
    if (!segment_linear(cs, cpu::kCs, long64_, off, 1, long64_ ? 8 : 4, GuestAccess::kFetch,
                        la_bits_, &la, &f))
      throw Raise{f};
    unsigned n = static_cast<unsigned>(std::min<uint64_t>(15 - have, 4096 - (la & 0xFFF)));
    bool table_not_ram = false;
    GuestTranslation t = translate_linear(mem_, pr, la, GuestAccess::kFetch, false, &table_not_ram);
    if (table_not_ram) throw Refuse{"guest page tables outside partition memory"};
    if (!t.ok) throw Raise{t.fault};
    if (!mem_.is_ram(t.gpa)) throw Refuse{"instruction fetch from device memory"};
    if (!mem_.read(t.gpa, bytes + have, n)) throw Refuse{"instruction bytes not readable"};
    have += n;
    if (cpu::decode_insn(mode, bytes, have, &i_, &need_more)) return;
    if (!need_more || have >= 15) break;
  }
  raise(static_cast<uint8_t>(Vector::kUD));
}

uint64_t Context::gpr_sized(unsigned reg, unsigned size) const {
  return g_.gpr[reg] & size_mask(size);
}

void Context::set_gpr_sized(unsigned reg, unsigned size, uint64_t v) {
  uint64_t m = size_mask(size);
  // 32-bit writes zero-extend (SDM Vol. 1 3.4.1.1); 8- and 16-bit ones merge.
  g_.gpr[reg] = size == 4 ? (v & m) : (g_.gpr[reg] & ~m) | (v & m);
}

uint64_t Context::get_reg(const cpu::Operand& o) const {
  if (o.rc == cpu::RegClass::kGpr8High) return (g_.gpr[o.reg] >> 8) & 0xFF;
  if (o.rc != cpu::RegClass::kGpr) throw Refuse{"register operand class"};
  return gpr_sized(o.reg, o.size);
}

void Context::set_reg(const cpu::Operand& o, uint64_t v) {
  if (o.rc == cpu::RegClass::kGpr8High) {
    g_.gpr[o.reg] = (g_.gpr[o.reg] & ~uint64_t{0xFF00}) | ((v & 0xFF) << 8);
    return;
  }
  if (o.rc != cpu::RegClass::kGpr) throw Refuse{"register operand class"};
  set_gpr_sized(o.reg, o.size, v);
}

uint64_t Context::effective_address() const {
  const cpu::MemRef& m = i_.mem;
  uint64_t a = static_cast<uint64_t>(m.disp);
  if (m.rip_rel) a += g_.rip + i_.length;
  if (m.base >= 0) a += g_.gpr[m.base];
  if (m.index >= 0) a += g_.gpr[m.index] << m.scale;
  return a & size_mask(i_.addrsize);
}

Place Context::resolve(unsigned seg, uint64_t offset, unsigned size, GuestAccess acc) {
  uint64_t la;
  GuestFault f;
  if (!segment_linear(g_.seg[seg], seg, long64_, offset, size, i_.addrsize, acc, la_bits_, &la, &f))
    throw Raise{f};
  Place p;
  p.size = size;
  p.first = static_cast<unsigned>(std::min<uint64_t>(size, 4096 - (la & 0xFFF)));
  // Every page of the access is translated before anything is read or written, so a #PF
  // on the second page leaves no side effect (SDM 6.5 "faults").
  for (unsigned k = 0; k < (p.first < size ? 2u : 1u); ++k) {
    uint64_t a = k == 0 ? la : ((la | 0xFFF) + 1) & (long64_ ? ~uint64_t{0} : 0xFFFFFFFF);
    bool table_not_ram = false;
    GuestTranslation t = translate_linear(mem_, g_.paging, a, acc, false, &table_not_ram);
    if (table_not_ram) throw Refuse{"guest page tables outside partition memory"};
    if (!t.ok) throw Raise{t.fault};
    p.gpa[k] = t.gpa;
    if (!mem_.is_ram(t.gpa)) p.mmio = true;
  }
  if (p.mmio && p.first < size) throw Refuse{"MMIO access crossing a page boundary"};
  if (p.mmio && size != 1 && size != 2 && size != 4 && size != 8)
    throw Refuse{std::to_string(size) + "-byte MMIO access"};
  return p;
}

void Context::read_ram(const Place& p, uint8_t* buf) {
  if (!mem_.read(p.gpa[0], buf, p.first) ||
      (p.first < p.size && !mem_.read(p.gpa[1], buf + p.first, p.size - p.first)))
    throw Refuse{"guest memory not readable"};
}

uint64_t Context::load(const Place& p) {
  if (p.mmio) {
    ++mmio_count_;
    return mmio_.read(p.gpa[0], p.size) & size_mask(p.size);
  }
  uint8_t buf[8] = {};
  read_ram(p, buf);
  uint64_t v;
  std::memcpy(&v, buf, 8);
  return v & size_mask(p.size);
}

void Context::store(const Place& p, uint64_t v) {
  if (p.mmio) {
    ++mmio_count_;
    mmio_.write(p.gpa[0], p.size, v & size_mask(p.size));
    return;
  }
  uint8_t buf[8];
  std::memcpy(buf, &v, 8);
  // A page the partition may not write (an overlay page) gets #GP, as a direct write does
  // (hv/exits.cpp, overlay_write).
  if (!mem_.write(p.gpa[0], buf, p.first) ||
      (p.first < p.size && !mem_.write(p.gpa[1], buf + p.first, p.size - p.first)))
    raise(static_cast<uint8_t>(Vector::kGP), true, 0);
}

}  // namespace emu

EmulationResult emulate_instruction(GuestCpu& g, GuestPhysMemory& mem, MmioTarget& mmio,
                                    PortIoBus* io) {
  EmulationResult r;
  // Registers change only on success or on a fault the SDM defines mid-instruction (a REP
  // iteration): work on a copy of what the emulator may change and commit at the end.
  uint64_t gpr[16];
  std::memcpy(gpr, g.gpr, sizeof gpr);
  cpu::Xmm xmm[16];
  if (g.xmm) std::memcpy(xmm, g.xmm, sizeof xmm);
  GuestCpu w = g;
  w.gpr = gpr;
  w.xmm = g.xmm ? xmm : nullptr;
  emu::Context c(w, mem, mmio, io);
  bool decoded = false;
  try {
    c.fetch_decode();
    decoded = true;
    r.mnemonic = ZydisMnemonicGetString(static_cast<ZydisMnemonic>(c.insn().mnemonic));
    r.length = c.insn().length;
    if (emu::execute(c)) {
      w.rip += c.insn().length;
      if (!c.long64()) w.rip &= 0xFFFFFFFF;
      w.rflags &= ~cpu::kFlagRF;
    }
  } catch (const emu::Raise& e) {
    r.kind = EmulationResult::Kind::kFault;
    r.fault = e.fault;
  } catch (const emu::Refuse& e) {
    r.kind = EmulationResult::Kind::kCannotEmulate;
    r.reason =
        decoded ? "cannot emulate " + r.mnemonic + ": " + e.reason : "cannot emulate: " + e.reason;
    r.mmio_accesses = c.mmio_accesses();
    r.port_accesses = c.port_accesses();
    return r;
  }
  r.mmio_accesses = c.mmio_accesses();
  r.port_accesses = c.port_accesses();
  // A REP instruction that faulted mid-way keeps the iterations it completed (SDM Vol. 2
  // "REP"); every other fault leaves the registers as they were.
  bool commit = r.kind == EmulationResult::Kind::kDone ||
                (decoded && (c.insn().flags & (cpu::kInsnRep | cpu::kInsnRepne)) &&
                 r.kind == EmulationResult::Kind::kFault);
  if (commit) {
    std::memcpy(g.gpr, gpr, sizeof gpr);
    if (g.xmm) std::memcpy(g.xmm, xmm, sizeof xmm);
    g.rip = w.rip;
    g.rflags = w.rflags;
  }
  return r;
}

}  // namespace hvsim::hv
