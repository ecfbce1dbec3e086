// Test helpers for cpu_tests: a tiny assembler on the Zydis encoder and a hand-built
// machine (RAM, buses, one Cpu) with long-mode paging, GDT, TSS and IDT in memory.
#pragma once

#include <Zydis/Zydis.h>
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/io_bus.h"
#include "core/phys_mem.h"
#include "core/trace.h"
#include "cpu/cpu.h"
#include "cpu/encoder_asm.h"

namespace hvsim::cpu::testing {

using encoder::I;
using encoder::M;
using encoder::R;

/// The encoder with a test expectation on every instruction (cpu/encoder_asm.h).
class Asm : public encoder::Assembler {
 public:
  using Assembler::Assembler;
  Asm& operator()(ZydisMnemonic m, std::initializer_list<ZydisEncoderOperand> ops = {},
                  ZyanU64 prefixes = 0) {
    bool ok = try_emit(m, ops, prefixes);
    EXPECT_TRUE(ok) << "cannot encode mnemonic " << ZydisMnemonicGetString(m);
    return *this;
  }
  Asm& raw(std::initializer_list<uint8_t> b) {
    append(b);
    return *this;
  }
};

/// Physical layout used by the fixture.
struct Layout {
  static constexpr uint64_t kIdt = 0x10000;
  static constexpr uint64_t kPml4 = 0x20000, kPdpt = 0x21000, kPd = 0x22000, kPt = 0x23000;
  static constexpr uint64_t kGdt = 0x30000, kTss = 0x31000;
  static constexpr uint64_t kStackTop = 0x70000, kRsp0 = 0x80000, kIst1 = 0x90000;
  static constexpr uint64_t kHandlers = 0xA0000;  ///< vector v's handler at +16*v: HLT
  static constexpr uint64_t kCode = 0x100000;
  static constexpr uint64_t kData = 0x200000;  ///< 4 KiB pages (the page table kPt)
  static constexpr uint64_t kUserCode = 0x300000;
  static constexpr uint64_t kRamSize = 16ull << 20;
  // Selectors
  static constexpr uint16_t kCode64 = 0x08, kData0 = 0x10, kUserCode64 = 0x1B, kUserData = 0x23,
                            kTssSel = 0x28, kCode32 = 0x38;
};

/// A machine with one processor. `enter_long_mode()` builds identity paging (2 MiB pages
/// except [2 MiB, 4 MiB) which uses 4 KiB pages), a GDT, a TSS and an IDT whose handlers
/// are HLT instructions, and puts the processor in 64-bit mode at Layout::kCode.
class CpuFixture : public ::testing::Test {
 public:
  CpuFixture() : mem_(Layout::kRamSize) {
    env_.mem = &mem_;
    env_.io = &io_;
    env_.mmio = &mmio_;
    env_.tracer = &tracer_;
    env_.stop_flag = &stop_;
    cpu_ = std::make_unique<Cpu>(CpuParams{}, env_);
  }

  void put64(uint64_t pa, uint64_t v) { mem_.store<uint64_t>(pa, v); }
  uint64_t get64(uint64_t pa) { return mem_.load<uint64_t>(pa); }
  void load(uint64_t pa, const Asm& a) { mem_.write(pa, a.bytes().data(), a.size()); }

  /// Page-table entry of the 4 KiB page at linear address `la` in [2 MiB, 4 MiB).
  uint64_t pte_addr(uint64_t la) { return Layout::kPt + ((la >> 12) & 511) * 8; }

  void build_tables() {
    using L = Layout;
    put64(L::kPml4, L::kPdpt | 7);
    put64(L::kPdpt, L::kPd | 7);
    for (uint64_t k = 0; k < 8; ++k) put64(L::kPd + k * 8, (k << 21) | 0x87);  // 2 MiB, U/W/P
    put64(L::kPd + 8, L::kPt | 7);
    for (uint64_t k = 0; k < 512; ++k) put64(L::kPt + k * 8, (0x200000 + (k << 12)) | 7);
    // GDT
    put64(L::kGdt + 0x00, 0);
    put64(L::kGdt + 0x08, 0x00AF9A000000FFFFull);  // 64-bit code, DPL0
    put64(L::kGdt + 0x10, 0x00CF92000000FFFFull);  // data, DPL0
    put64(L::kGdt + 0x18, 0x00AFFA000000FFFFull);  // 64-bit code, DPL3
    put64(L::kGdt + 0x20, 0x00CFF2000000FFFFull);  // data, DPL3
    uint64_t tss = L::kTss, lim = 0x67;
    put64(L::kGdt + 0x28, (lim & 0xFFFF) | ((tss & 0xFFFFFF) << 16) | (0x89ull << 40) |
                              (((tss >> 24) & 0xFF) << 56));
    put64(L::kGdt + 0x30, tss >> 32);
    put64(L::kGdt + 0x38, 0x00CF9A000000FFFFull);  // 32-bit code, DPL0
    // TSS: RSP0 and IST1
    put64(L::kTss + 4, L::kRsp0);
    put64(L::kTss + 0x24, L::kIst1);
    // IDT: every vector -> a HLT at kHandlers + 16*v, interrupt gate, DPL3
    for (uint64_t v = 0; v < 256; ++v) {
      uint64_t off = L::kHandlers + v * 16;
      uint64_t lo = (off & 0xFFFF) | (uint64_t{L::kCode64} << 16) | (0xEEull << 40) |
                    (((off >> 16) & 0xFFFF) << 48);
      put64(L::kIdt + v * 16, lo);
      put64(L::kIdt + v * 16 + 8, off >> 32);
      mem_.store<uint8_t>(off, 0xF4);  // hlt
    }
  }

  void enter_long_mode(uint64_t rip = Layout::kCode) {
    using L = Layout;
    build_tables();
    ArchState& s = cpu_->state();
    s.cr0 = kCr0PE | kCr0PG | kCr0ET | kCr0WP | kCr0NE;
    s.cr4 = kCr4PAE | kCr4PGE;
    s.cr3 = L::kPml4;
    s.efer = kEferLME | kEferLMA | kEferNXE | kEferSCE;
    s.seg[kCs] = SegReg{L::kCode64, 0, 0xFFFFFFFF, 0xA09B};
    for (int k : {kSs, kDs, kEs, kFs, kGs}) s.seg[k] = SegReg{L::kData0, 0, 0xFFFFFFFF, 0xC093};
    s.gdtr = TableReg{L::kGdt, 0x3F};
    s.idtr = TableReg{L::kIdt, 0xFFF};
    s.tr = SegReg{L::kTssSel, L::kTss, 0x67, 0x8B};
    s.rip = rip;
    s.gpr[kRsp] = L::kStackTop;
    s.rflags = 2;
    cpu_->state_changed();
  }

  /// Runs until HLT (or `max` instructions); returns instructions executed.
  uint64_t run(uint64_t max = 100000) { return cpu_->step(max); }

  ArchState& st() { return cpu_->state(); }

  PhysicalMemory mem_;
  PortIoBus io_;
  MmioBus mmio_;
  Tracer tracer_;
  bool stop_ = false;
  CpuEnv env_;
  std::unique_ptr<Cpu> cpu_;
};

}  // namespace hvsim::cpu::testing
