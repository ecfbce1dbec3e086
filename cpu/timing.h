// The processor's timing model: one table of cycle costs (instruction classes, TLB and
// page walks, event delivery), overridable by name (DESIGN.md "Cycle-approximate timing").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hvsim::cpu::timing {

// All numbers are approximate, order-of-magnitude costs of a modern out-of-order core
// (Intel Skylake/Ice Lake, AMD Zen 2/3), expressed as average cycles per retired
// instruction of the class rather than latencies. Sources: Agner Fog, "Instruction tables"
// (2022), reciprocal throughputs and latencies; Intel 64 and IA-32 Architectures
// Optimization Reference Manual (2023), ch. 2-3; and published micro-benchmarks of
// system-call, page-walk and interrupt costs. They make simulated time plausible; they do
// not model pipelines, caches or branch predictors.

/// Default cycles of a retired simple instruction (kept for code that predates the table).
constexpr uint64_t kInstruction = 1;
/// Default cycles of delivering an exception through the IDT (kept for older code).
constexpr uint64_t kEventDelivery = 100;
/// Default cycles of delivering an external interrupt (and NMI) through the IDT.
constexpr uint64_t kInterruptDelivery = 100;
/// Default cycles from an interrupt arriving to a halted processor running again.
constexpr uint64_t kHltWake = 200;

/// The cycle-cost table. Every field is cycles; each has a name (the field name) under
/// which Python overrides it: `Machine(timing={"divide": 30})`.
struct Table {
  /// Simple integer ALU, MOV, LEA, MOVZX, SETcc, CMOVcc, shifts, flag ops, NOP: 1.
  /// (Agner: throughput 0.25-0.5, latency 1; one per cycle is a typical sustained rate.)
  uint32_t alu = 1;
  /// Added for an instruction with a memory operand (load or store, L1 hit): 1.
  /// (Agner: load-use latency 4-5 cycles, mostly hidden; 1 accounts for the port.)
  uint32_t memory = 1;
  /// MUL/IMUL: 3 (Agner: latency 3-4, 64x64->128 MUL 3-4).
  uint32_t multiply = 3;
  /// DIV/IDIV with 8-, 16- or 32-bit operands: 26 (Agner Skylake DIV r32 ~26, Zen 2 14-30).
  uint32_t divide = 26;
  /// DIV/IDIV with a 64-bit operand: 40 (Agner Skylake DIV r64 35-88, Ice Lake/Zen ~15-45).
  uint32_t divide64 = 40;
  /// Conditional branch, not taken: 1.
  uint32_t branch = 1;
  /// Extra for a taken branch (JMP, Jcc taken, CALL, RET, LOOP): 1 (front-end redirect;
  /// Intel optimization manual: taken branches retire at most one or two per cycle).
  uint32_t branch_taken = 1;
  /// Each iteration of a REP string instruction after the first, and each element of a
  /// string instruction: 1. (Real fast-string MOVSB/STOSB moves 16-64 bytes per cycle for
  /// large counts; per-element cost is the simple, size-independent approximation.)
  uint32_t string_iteration = 1;
  /// Far JMP/CALL/RET, IRET, INT n, segment-register loads in protected mode: 30
  /// (Agner: far CALL/RET 15-50, IRET ~30-80).
  uint32_t far_transfer = 30;
  /// SYSCALL or SYSRET: 35 each (measured round trips of ~70 cycles on Skylake without
  /// mitigations).
  uint32_t syscall = 35;
  /// MOV to/from CR/DR, LGDT/LIDT/LTR/LLDT, CLTS, LMSW, INVLPG, SWAPGS: 20 (Agner: MOV CR
  /// 10-30; INVLPG ~100+ is averaged down, most are cheap reads).
  uint32_t control_register = 20;
  /// RDMSR/WRMSR: 100 (Agner: ~100-150 on Intel, 50-100 on AMD).
  uint32_t msr = 100;
  /// CPUID: 100 (Agner: 100-200).
  uint32_t cpuid = 100;
  /// RDTSC/RDTSCP: 25 (Agner: 18-42).
  uint32_t rdtsc = 25;
  /// IN/OUT/INS/OUTS per access: 200 (a port access to a chipset device is ~0.1-1 µs on
  /// real hardware; lowered so that polled consoles do not dominate simulated time).
  uint32_t port_io = 200;
  /// LOCK-prefixed read-modify-write and XCHG with memory: 18 (Agner: 18-25).
  uint32_t locked = 18;
  /// CLI/STI, PUSHF/POPF, LAHF/SAHF-like serialising flag writes, PAUSE, HLT issue: 5
  /// (Agner: POPF 9-20, PAUSE 10-140).
  uint32_t system = 5;
  /// Extra for a translation missing the software TLB (second-level TLB lookup): 7.
  uint32_t tlb_miss = 7;
  /// Per memory reference of a page walk (page-structure caches and L1/L2 hits): 5, so a
  /// 4-level walk costs 7 + 4 * 5 = 27 (published walk costs: 20-40 cycles when the
  /// tables are cached).
  uint32_t walk_reference = 5;
  /// Delivering an exception through the IDT (fault to first handler instruction): 100
  /// (measured #PF round trips are 200-1000 cycles including the handler's IRET).
  uint32_t exception = static_cast<uint32_t>(kEventDelivery);
  /// Delivering an external interrupt or NMI through the IDT: 100.
  uint32_t interrupt = static_cast<uint32_t>(kInterruptDelivery);
  /// From a wake-up event to a halted processor executing again: 200.
  uint32_t hlt_wake = static_cast<uint32_t>(kHltWake);
  /// VM entry (VMLAUNCH/VMRESUME: checks, guest-state load, MSR-load list excluded): 400.
  /// VM exit (exit information, guest-state save, host-state load): 400. Approximate: a
  /// simple VM-exit round trip (a CPUID exit handled by a minimal hypervisor) is published
  /// at roughly 500-1,500 cycles on modern Intel cores (KVM's kvm-unit-tests `vmexit_cpuid`
  /// on Skylake-to-Ice Lake servers ~1,000-1,300; Intel's own figures for the hardware
  /// transition alone fell from ~1,000+ (Core 2) to ~500 (Haswell onwards) cycles round
  /// trip). 400 + 400 plus the exiting instruction and the handler's VMREAD/VMWRITEs lands
  /// a minimal round trip near 1,000 cycles.
  uint32_t vm_entry = 400;
  uint32_t vm_exit = 400;

  bool operator==(const Table&) const = default;
};

/// Name, field and one-line description of every entry, in table order.
struct Entry {
  const char* name;
  uint32_t Table::*field;
  const char* doc;
};
const std::vector<Entry>& entries();

/// Sets entry `name` to `cycles`; throws InputError naming an unknown entry or a value
/// above 1,000,000.
void set(Table& t, std::string_view name, uint64_t cycles);
/// Reads entry `name`; throws InputError for an unknown name.
uint32_t get(const Table& t, std::string_view name);

/// Cost classes an instruction is assigned at decode time.
enum class Class : uint8_t {
  kAlu,
  kMultiply,
  kDivide,
  kBranch,  ///< conditional: the handler adds branch_taken when taken
  kJump,    ///< always taken (JMP, CALL, RET)
  kString,  ///< one element; REP adds string_iteration per further element
  kFarTransfer,
  kSyscall,
  kControlRegister,
  kMsr,
  kCpuid,
  kRdtsc,
  kPortIo,
  kLocked,
  kSystem,
};

/// Cycles of one instruction of class `c` (`size`: operand size in bytes, `mem`: it has a
/// memory operand) under table `t`. Computed once per decoded instruction.
uint32_t instruction_cycles(const Table& t, Class c, unsigned size, bool mem);

}  // namespace hvsim::cpu::timing
