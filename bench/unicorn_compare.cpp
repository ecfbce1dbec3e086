// unicorn_compare: runs the same flat 64-bit code on hvsim's processor and on Unicorn 2.0.1
// in one process (an integer loop, a store-heavy loop, a REP MOVSB copy) and prints guest
// MIPS (and GB/s for the copy) of both and their ratio. hvsim runs with paging on (an
// identity map of 2 MiB pages) and its timing model; Unicorn runs the code unpaged.
// Usage: unicorn_compare [--quick] [--json]
#include <Zydis/Zydis.h>
#include <unicorn/unicorn.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/io_bus.h"
#include "core/phys_mem.h"
#include "core/trace.h"
#include "cpu/cpu.h"
#include "cpu/encoder_asm.h"

namespace {

using hvsim::cpu::ArchState;

constexpr uint64_t kCode = 0x100000, kData = 0x200000, kSrc = 0x400000, kDst = 0x600000;
constexpr uint64_t kCopyBytes = 1 << 20;
constexpr uint64_t kRam = 16 << 20;

using hvsim::cpu::encoder::I;
using hvsim::cpu::encoder::M;
using hvsim::cpu::encoder::R;

/// The shared encoder (cpu/encoder_asm.h); a failed encoding ends the benchmark.
class Asm : public hvsim::cpu::encoder::Assembler {
 public:
  Asm& operator()(ZydisMnemonic mn, std::initializer_list<ZydisEncoderOperand> ops = {},
                  ZyanU64 prefixes = 0) {
    if (!try_emit(mn, ops, prefixes)) {
      std::fprintf(stderr, "unicorn_compare: cannot encode %s\n", ZydisMnemonicGetString(mn));
      std::exit(2);
    }
    return *this;
  }
  /// Appends a JNZ back to `target` (an offset in this buffer).
  void jnz_to(size_t target) {
    int64_t rel = static_cast<int64_t>(target) - static_cast<int64_t>(size() + 6);
    append({0x0F, 0x85, static_cast<uint8_t>(rel), static_cast<uint8_t>(rel >> 8),
            static_cast<uint8_t>(rel >> 16), static_cast<uint8_t>(rel >> 24)});
  }
};

struct Workload {
  const char* name;
  const char* what;
  std::vector<uint8_t> code;  ///< ends at the end address (hvsim gets a HLT appended)
  uint64_t copy_bytes;        ///< bytes copied (for GB/s), or 0
  /// Unicorn runs this smaller version instead when set (its copies are ~1000x slower);
  /// the comparison is then of rates (GB/s), not of times.
  std::vector<uint8_t> unicorn_code = {};
  uint64_t unicorn_copy_bytes = 0;
};

Workload integer_loop(uint64_t n) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(static_cast<int64_t>(n))});
  size_t loop = a.size();
  a(ZYDIS_MNEMONIC_ADD, {R(ZYDIS_REGISTER_RAX), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_XOR, {R(ZYDIS_REGISTER_RBX), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_LEA,
    {R(ZYDIS_REGISTER_RDX), M(8, ZYDIS_REGISTER_RBX, 7, ZYDIS_REGISTER_RAX, 1)});
  a(ZYDIS_MNEMONIC_SUB, {R(ZYDIS_REGISTER_RDX), I(3)});
  a(ZYDIS_MNEMONIC_AND, {R(ZYDIS_REGISTER_RDX), R(ZYDIS_REGISTER_RBX)});
  a(ZYDIS_MNEMONIC_CMP, {R(ZYDIS_REGISTER_RDX), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_DEC, {R(ZYDIS_REGISTER_ECX)});
  a.jnz_to(loop);
  return {"integer-loop", "add/xor/lea/sub/and/cmp/dec/jnz", a.bytes(), 0};
}

Workload store_loop(uint64_t n) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDI), I(kData)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(static_cast<int64_t>(n))});
  size_t loop = a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EAX), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_AND, {R(ZYDIS_REGISTER_EAX), I(0xFFF0)});
  a(ZYDIS_MNEMONIC_MOV,
    {M(8, ZYDIS_REGISTER_RDI, 0, ZYDIS_REGISTER_RAX, 1), R(ZYDIS_REGISTER_RCX)});
  a(ZYDIS_MNEMONIC_MOV,
    {M(8, ZYDIS_REGISTER_RDI, 8, ZYDIS_REGISTER_RAX, 1), R(ZYDIS_REGISTER_RAX)});
  a(ZYDIS_MNEMONIC_MOV,
    {M(4, ZYDIS_REGISTER_RDI, 0x10000, ZYDIS_REGISTER_RAX, 1), R(ZYDIS_REGISTER_ECX)});
  a(ZYDIS_MNEMONIC_DEC, {R(ZYDIS_REGISTER_ECX)});
  a.jnz_to(loop);
  return {"store-heavy", "three stores per six instructions", a.bytes(), 0};
}

std::vector<uint8_t> rep_copy_code(uint64_t rounds) {
  Asm a;
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_EBX), I(static_cast<int64_t>(rounds))});
  size_t loop = a.size();
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RSI), I(kSrc)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_RDI), I(kDst)});
  a(ZYDIS_MNEMONIC_MOV, {R(ZYDIS_REGISTER_ECX), I(kCopyBytes)});
  a(ZYDIS_MNEMONIC_MOVSB, {}, ZYDIS_ATTRIB_HAS_REP);
  a(ZYDIS_MNEMONIC_DEC, {R(ZYDIS_REGISTER_EBX)});
  a.jnz_to(loop);
  return a.bytes();
}

Workload rep_copy(uint64_t rounds, uint64_t unicorn_rounds) {
  return {"rep-movsb",         "1 MiB REP MOVSB copies",      rep_copy_code(rounds),
          rounds * kCopyBytes, rep_copy_code(unicorn_rounds), unicorn_rounds * kCopyBytes};
}

struct Result {
  double seconds;
  uint64_t instructions;
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Result run_hvsim(const Workload& w) {
  using namespace hvsim;
  PhysicalMemory mem(kRam);
  PortIoBus io;
  MmioBus mmio;
  Tracer tracer;
  bool stop = false;
  cpu::CpuEnv env{&mem, &io, &mmio, &tracer, &stop};
  cpu::Cpu c(cpu::CpuParams{}, env);
  // Identity map of the first 1 GiB with 2 MiB pages.
  constexpr uint64_t kPml4 = 0x10000, kPdpt = 0x11000, kPd = 0x12000;
  mem.store<uint64_t>(kPml4, kPdpt | 3);
  mem.store<uint64_t>(kPdpt, kPd | 3);
  for (uint64_t k = 0; k < 512; ++k) mem.store<uint64_t>(kPd + 8 * k, (k << 21) | 0x83);
  std::vector<uint8_t> code = w.code;
  code.push_back(0xF4);  // HLT
  mem.write(kCode, code.data(), code.size());
  ArchState& s = c.state();
  s.cr0 = cpu::kCr0PE | cpu::kCr0PG | cpu::kCr0ET | cpu::kCr0WP | cpu::kCr0NE;
  s.cr4 = cpu::kCr4PAE;
  s.cr3 = kPml4;
  s.efer = cpu::kEferLME | cpu::kEferLMA | cpu::kEferNXE;
  s.seg[cpu::kCs] = cpu::SegReg{0x08, 0, 0xFFFFFFFF, 0xA09B};
  for (int k : {cpu::kSs, cpu::kDs, cpu::kEs, cpu::kFs, cpu::kGs})
    s.seg[k] = cpu::SegReg{0x10, 0, 0xFFFFFFFF, 0xC093};
  s.rip = kCode;
  s.gpr[cpu::kRsp] = 0x80000;
  s.rflags = 2;
  c.state_changed();
  auto t0 = std::chrono::steady_clock::now();
  while (c.run_state() == cpu::RunState::kRunning) c.step(~uint64_t{0} >> 1);
  double sec = since(t0);
  return {sec, c.instructions() - 1};  // without the HLT
}

Result run_unicorn(const Workload& w) {
  uc_engine* uc = nullptr;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) {
    std::fprintf(stderr, "unicorn_compare: uc_open failed\n");
    std::exit(2);
  }
  uc_mem_map(uc, kCode, 0x10000, UC_PROT_ALL);
  uc_mem_map(uc, kData, 0x200000, UC_PROT_READ | UC_PROT_WRITE);
  uc_mem_map(uc, kSrc, 0x400000, UC_PROT_READ | UC_PROT_WRITE);
  const std::vector<uint8_t>& code = w.unicorn_code.empty() ? w.code : w.unicorn_code;
  uc_mem_write(uc, kCode, code.data(), code.size());
  uint64_t rsp = kData + 0x1F0000;
  uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
  auto t0 = std::chrono::steady_clock::now();
  uc_err err = uc_emu_start(uc, kCode, kCode + code.size(), 0, 0);
  double sec = since(t0);
  if (err != UC_ERR_OK) {
    std::fprintf(stderr, "unicorn_compare: %s: %s\n", w.name, uc_strerror(err));
    std::exit(2);
  }
  uc_close(uc);
  return {sec, 0};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, json = false;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    if (a == "--quick")
      quick = true;
    else if (a == "--json")
      json = true;
    else {
      std::fprintf(stderr, "usage: unicorn_compare [--quick] [--json]\n");
      return 2;
    }
  }
  uint64_t scale = quick ? 1 : 10;
  std::vector<Workload> ws = {integer_loop(2'000'000 * scale),
                              store_loop(quick ? 1'000'000 : 3'000'000),
                              rep_copy(16 * scale, quick ? 1 : 4)};
  if (json) std::printf("[\n");
  for (size_t k = 0; k < ws.size(); ++k) {
    const Workload& w = ws[k];
    Result h = run_hvsim(w), u = run_unicorn(w);
    // Same code, same instruction stream: hvsim's count serves both (for REP MOVSB it
    // counts one instruction per 4096-iteration chunk, as documented in exec_string.cpp).
    double hm = h.instructions / h.seconds / 1e6, um = h.instructions / u.seconds / 1e6;
    double hg = w.copy_bytes / h.seconds / 1e9;
    double ug = (w.unicorn_code.empty() ? w.copy_bytes : w.unicorn_copy_bytes) / u.seconds / 1e9;
    double ratio = w.copy_bytes ? hg / ug : u.seconds / h.seconds;
    if (!w.unicorn_code.empty()) um = 0;  // a different instruction count: not comparable
    if (json) {
      std::printf(
          "  {\"workload\": \"%s\", \"description\": \"%s\", \"instructions\": %llu, "
          "\"hvsim_seconds\": %.6f, \"unicorn_seconds\": %.6f, \"hvsim_mips\": %.2f, "
          "\"unicorn_mips\": %.2f, \"ratio\": %.3f, \"hvsim_gbps\": %.3f, "
          "\"unicorn_gbps\": %.3f}%s\n",
          w.name, w.what, static_cast<unsigned long long>(h.instructions), h.seconds, u.seconds, hm,
          um, ratio, hg, ug, k + 1 < ws.size() ? "," : "");
    } else {
      std::printf("%-14s hvsim %8.1f MIPS  unicorn %8.1f MIPS  hvsim/unicorn speed %7.2fx", w.name,
                  hm, um, ratio);
      if (w.copy_bytes) std::printf("  (%.2f vs %.3f GB/s)", hg, ug);
      std::printf("\n");
    }
  }
  if (json) std::printf("]\n");
  return 0;
}
