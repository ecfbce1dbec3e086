// The timing table's entry list, lookup by name and per-instruction cost computation.
#include "cpu/timing.h"

#include "core/error.h"

namespace hvsim::cpu::timing {

const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = {
      {"alu", &Table::alu, "simple integer instruction"},
      {"memory", &Table::memory, "extra for a memory operand"},
      {"multiply", &Table::multiply, "MUL/IMUL"},
      {"divide", &Table::divide, "DIV/IDIV, 8-32 bit"},
      {"divide64", &Table::divide64, "DIV/IDIV, 64 bit"},
      {"branch", &Table::branch, "conditional branch, not taken"},
      {"branch_taken", &Table::branch_taken, "extra for a taken branch"},
      {"string_iteration", &Table::string_iteration, "each further string element"},
      {"far_transfer", &Table::far_transfer, "far JMP/CALL/RET, IRET, INT n"},
      {"syscall", &Table::syscall, "SYSCALL or SYSRET"},
      {"control_register", &Table::control_register, "MOV CR/DR, descriptor tables, INVLPG"},
      {"msr", &Table::msr, "RDMSR/WRMSR"},
      {"cpuid", &Table::cpuid, "CPUID"},
      {"rdtsc", &Table::rdtsc, "RDTSC/RDTSCP"},
      {"port_io", &Table::port_io, "each port I/O access"},
      {"locked", &Table::locked, "LOCK read-modify-write, XCHG with memory"},
      {"system", &Table::system, "CLI/STI, PUSHF/POPF, PAUSE, HLT"},
      {"tlb_miss", &Table::tlb_miss, "extra for a software-TLB miss"},
      {"walk_reference", &Table::walk_reference, "each memory reference of a page walk"},
      {"exception", &Table::exception, "exception delivery"},
      {"interrupt", &Table::interrupt, "interrupt delivery"},
      {"hlt_wake", &Table::hlt_wake, "wake-up from HLT"},
      {"vm_entry", &Table::vm_entry, "VM entry (VMLAUNCH/VMRESUME)"},
      {"vm_exit", &Table::vm_exit, "VM exit"},
  };
  return kEntries;
}

namespace {

const Entry& find(std::string_view name) {
  for (const Entry& e : entries())
    if (name == e.name) return e;
  std::string known;
  for (const Entry& e : entries()) known += std::string(known.empty() ? "" : ", ") + e.name;
  throw InputError("timing: unknown entry '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace

void set(Table& t, std::string_view name, uint64_t cycles) {
  const Entry& e = find(name);
  if (cycles > 1'000'000)
    throw InputError("timing: entry '" + std::string(name) + "' = " + std::to_string(cycles) +
                     " is above 1000000 cycles");
  t.*e.field = static_cast<uint32_t>(cycles);
}

uint32_t get(const Table& t, std::string_view name) {
  return t.*find(name).field;
}

uint32_t instruction_cycles(const Table& t, Class c, unsigned size, bool mem) {
  uint32_t base = 0;
  switch (c) {
    case Class::kAlu: base = t.alu; break;
    case Class::kMultiply: base = t.multiply; break;
    case Class::kDivide: base = size == 8 ? t.divide64 : t.divide; break;
    case Class::kBranch: base = t.branch; break;
    case Class::kJump: base = t.branch + t.branch_taken; break;
    case Class::kString: base = t.alu; break;
    case Class::kFarTransfer: base = t.far_transfer; break;
    case Class::kSyscall: base = t.syscall; break;
    case Class::kControlRegister: base = t.control_register; break;
    case Class::kMsr: base = t.msr; break;
    case Class::kCpuid: base = t.cpuid; break;
    case Class::kRdtsc: base = t.rdtsc; break;
    case Class::kPortIo: base = t.port_io; break;
    case Class::kLocked: base = t.locked; break;
    case Class::kSystem: base = t.system; break;
  }
  if (mem && c != Class::kLocked) base += t.memory;
  return base;
}

}  // namespace hvsim::cpu::timing
