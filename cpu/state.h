// Architectural register state of an x86-64 logical processor (SDM Vol. 1 ch. 3, Vol. 3A ch. 2-3).
#pragma once

#include <cstdint>

namespace hvsim::cpu {

enum GprIndex : uint8_t {
  kRax,
  kRcx,
  kRdx,
  kRbx,
  kRsp,
  kRbp,
  kRsi,
  kRdi,
  kR8,
  kR9,
  kR10,
  kR11,
  kR12,
  kR13,
  kR14,
  kR15
};
enum SegIndex : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs, kNumSegs };

/// A segment register with its hidden part. `attr` uses the VMX access-rights layout
/// (SDM 24.4.1): bits 3:0 type, 4 S, 6:5 DPL, 7 P, 12 AVL, 13 L, 14 D/B, 15 G, 16 unusable.
struct SegReg {
  uint16_t selector = 0;
  uint64_t base = 0;
  uint32_t limit = 0;  ///< byte-granular (already scaled by G)
  uint32_t attr = 0;
};

struct TableReg {
  uint64_t base = 0;
  uint16_t limit = 0;
};

// RFLAGS bits (SDM 3.4.3)
constexpr uint64_t kFlagCF = 1u << 0, kFlagPF = 1u << 2, kFlagAF = 1u << 4, kFlagZF = 1u << 6,
                   kFlagSF = 1u << 7, kFlagTF = 1u << 8, kFlagIF = 1u << 9, kFlagDF = 1u << 10,
                   kFlagOF = 1u << 11, kFlagIOPL = 3u << 12, kFlagNT = 1u << 14, kFlagRF = 1u << 16,
                   kFlagVM = 1u << 17, kFlagAC = 1u << 18, kFlagID = 1u << 21;
// CR0 (SDM 2.5)
constexpr uint64_t kCr0PE = 1u << 0, kCr0MP = 1u << 1, kCr0EM = 1u << 2, kCr0TS = 1u << 3,
                   kCr0ET = 1u << 4, kCr0NE = 1u << 5, kCr0WP = 1u << 16, kCr0AM = 1u << 18,
                   kCr0NW = 1u << 29, kCr0CD = 1u << 30, kCr0PG = 1u << 31;
// CR4
constexpr uint64_t kCr4PSE = 1u << 4, kCr4PAE = 1u << 5, kCr4PGE = 1u << 7, kCr4OSFXSR = 1u << 9,
                   kCr4OSXMMEXCPT = 1u << 10, kCr4LA57 = 1u << 12, kCr4FSGSBASE = 1u << 16,
                   kCr4PCIDE = 1u << 17, kCr4OSXSAVE = 1u << 18, kCr4SMEP = 1u << 20,
                   kCr4SMAP = 1u << 21, kCr4VMXE = 1u << 13;
// EFER (MSR C000_0080)
constexpr uint64_t kEferSCE = 1u << 0, kEferLME = 1u << 8, kEferLMA = 1u << 10, kEferNXE = 1u << 11;

/// An x87 data register in the double-extended-precision format (SDM Vol. 1 4.2.2):
/// 64-bit significand with explicit integer bit, then sign (bit 15) and 15-bit exponent.
/// With MMX, MMi is the significand of physical register i.
struct Float80 {
  uint64_t mant = 0;
  uint16_t se = 0;  ///< sign and exponent
};

/// One 128-bit XMM register, low quadword first.
struct Xmm {
  uint64_t lo = 0, hi = 0;
};

// MXCSR (SDM Vol. 1 10.2.3): flags 5:0, DAZ 6, masks 12:7, RC 14:13, FTZ 15.
constexpr uint32_t kMxcsrDefault = 0x1F80, kMxcsrMask = 0xFFFF;
// XCR0 components implemented (SDM Vol. 1 13.1): x87 (bit 0) and SSE (bit 1).
constexpr uint64_t kXcr0X87 = 1, kXcr0Sse = 2, kXcr0Supported = kXcr0X87 | kXcr0Sse;

/// x87, MMX and SSE state (SDM Vol. 1 ch. 8, 9, 10; the FXSAVE image of Vol. 1 10.5.1) and
/// XCR0. Initial values are the power-up values of SDM Vol. 3A Table 10-1.
struct FpuState {
  Float80 st[8];              ///< physical registers R0-R7; ST(i) is st[(TOP + i) & 7]
  uint16_t fcw = 0x0040;      ///< control word
  uint16_t fsw = 0;           ///< status word; TOP in bits 13:11
  uint8_t ftw = 0xFF;         ///< abridged tag word (FXSAVE form): bit i set = R<i> not empty
  uint16_t fop = 0;           ///< last non-control opcode (11 bits)
  uint64_t fip = 0, fdp = 0;  ///< last instruction / data pointer offsets
  uint16_t fcs = 0, fds = 0;  ///< their selectors
  uint32_t mxcsr = kMxcsrDefault;
  Xmm xmm[16];
  uint64_t xcr0 = kXcr0X87;
};

/// Everything software can see of one processor's registers. Plain data: copyable, compared
/// and hashed field by field.
struct ArchState {
  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  uint64_t rflags = 2;
  SegReg seg[kNumSegs];
  SegReg ldtr, tr;
  TableReg gdtr, idtr;
  uint64_t cr0 = 0x60000010, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t dr[8] = {0, 0, 0, 0, 0, 0, 0xFFFF0FF0, 0x400};
  // System MSRs
  uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0, kernel_gs_base = 0, tsc_aux = 0;
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  uint64_t pat = 0x0007040600070406ull;
  uint64_t apic_base = 0xFEE00900;  ///< BSP bit set for processor 0 by reset()
  uint64_t misc_enable = 1;
  uint64_t tsc_offset = 0;  ///< TSC = cycles + tsc_offset (WRMSR to IA32_TSC adjusts it)
  /// PAE paging: the four PDPTEs loaded by MOV to CR3/CR0/CR4 (SDM 4.4.1).
  uint64_t pdpte[4] = {};
  /// Debug traps (DR6 bits) recognised but not yet delivered: the VMX "pending debug
  /// exceptions" field (SDM 25.4.2).
  uint64_t pending_dbg = 0;
  /// Blocking by STI / MOV SS for the next instruction boundary (spec::kBlockBySti,
  /// kBlockByMovSs; the VMX interruptibility-state layout).
  uint64_t interruptibility = 0;
  FpuState fpu;
};

}  // namespace hvsim::cpu
