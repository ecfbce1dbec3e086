// The instruction emulator's working context (internal to hv/insn_*.cpp): the decoded
// instruction, operand access through segmentation, guest paging, RAM and MMIO (Intel SDM
// Vol. 2 ch. 2-3 operand addressing; Vol. 3A 3.4.5 segmentation, ch. 4 paging).
#pragma once

#include <string>

#include "cpu/decoder.h"
#include "hv/insn_emulator.h"

namespace hvsim::hv::emu {

/// Thrown inside the emulator: an exception to inject, or an instruction it cannot do.
struct Raise {
  GuestFault fault;
};
struct Refuse {
  std::string reason;
};

/// A resolved memory operand: its guest-physical address (two pieces if it crosses a page)
/// and whether it is RAM or MMIO.
struct Place {
  uint64_t gpa[2] = {0, 0};
  unsigned first = 0;  ///< bytes in the first page
  unsigned size = 0;
  bool mmio = false;
};

class Context {
 public:
  Context(GuestCpu& g, GuestPhysMemory& mem, MmioTarget& mmio, PortIoBus* io)
      : g_(g), mem_(mem), mmio_(mmio), io_(io) {}

  /// Fetches and decodes the instruction at RIP (#PF/#GP/#UD raised as Raise).
  void fetch_decode();
  const cpu::Insn& insn() const { return i_; }
  bool long64() const { return long64_; }

  /// The effective address (offset within its segment) of the explicit memory operand.
  uint64_t effective_address() const;
  /// Resolves seg:offset for a `size`-byte access of kind `acc`.
  Place resolve(unsigned seg, uint64_t offset, unsigned size, GuestAccess acc);
  uint64_t load(const Place& p);
  void store(const Place& p, uint64_t v);

  uint64_t get_reg(const cpu::Operand& o) const;
  void set_reg(const cpu::Operand& o, uint64_t v);
  /// The GPR `reg` as an address- or count-sized value, and its update.
  uint64_t gpr_sized(unsigned reg, unsigned size) const;
  void set_gpr_sized(unsigned reg, unsigned size, uint64_t v);

  GuestCpu& g() { return g_; }
  /// The port bus for INS/OUTS; null when only MMIO is being emulated.
  PortIoBus* io() { return io_; }
  void count_port_access() { ++port_count_; }
  uint32_t port_accesses() const { return port_count_; }
  uint32_t mmio_accesses() const { return mmio_count_; }

 private:
  void read_ram(const Place& p, uint8_t* buf);
  GuestCpu& g_;
  GuestPhysMemory& mem_;
  MmioTarget& mmio_;
  PortIoBus* io_;
  uint32_t port_count_ = 0;
  cpu::Insn i_;
  bool long64_ = false;
  unsigned la_bits_ = 48;
  uint32_t mmio_count_ = 0;
};

/// Executes the decoded instruction (hv/insn_execute.cpp). Returns false if the
/// instruction left RIP where it was (a REP instruction that paused).
bool execute(Context& c);

[[noreturn]] void raise(uint8_t vector, bool has_error = false, uint32_t error = 0);

}  // namespace hvsim::hv::emu
