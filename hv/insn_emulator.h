// Instruction emulation for the hypervisor: the instruction at the guest's RIP is fetched
// through the guest's paging (hv/guest_paging.h), decoded with the processor's decoder
// (cpu/decoder.h, Zydis) and executed against guest RAM and an MMIO target, as Hyper-V
// serves a partition's accesses to device memory (the MMIO intercepts and GpaIntercept
// messages of spec/hyperv-interfaces.md §3.7 and §4.2, handled here in the hypervisor;
// Intel SDM Vol. 3C 29.3.3 "EPT-induced VM exits"; instruction semantics: SDM Vol. 2).
//
// Covered: MOV (incl. moffs and immediates), MOVZX/MOVSX/MOVSXD, ADD/ADC/SUB/SBB/CMP/AND/
// OR/XOR/TEST, INC/DEC/NEG/NOT, XCHG, BT/BTS/BTR/BTC, MOVNTI, MOVD/MOVQ (XMM), and
// MOVS/STOS/LODS with REP, and INS/OUTS with REP (string port I/O, to a PortIoBus).
// Anything else is reported as "cannot emulate <mnemonic>".
#pragma once

#include <cstdint>
#include <string>

#include "cpu/state.h"
#include "hv/guest_paging.h"

namespace hvsim {
class PortIoBus;
}

namespace hvsim::hv {

/// Where the emulator sends accesses to guest-physical addresses that are not RAM.
/// size is 1, 2, 4 or 8; `gpa` is the guest-physical address of the access.
class MmioTarget {
 public:
  virtual ~MmioTarget() = default;
  virtual uint64_t read(uint64_t gpa, unsigned size) = 0;
  virtual void write(uint64_t gpa, unsigned size, uint64_t value) = 0;
};

/// The guest registers the emulator reads and updates. GPRs and XMM registers are updated
/// in place; rip and rflags are returned updated.
struct GuestCpu {
  uint64_t* gpr = nullptr;  ///< 16 GPRs in the processor's order (RAX, RCX, ...)
  cpu::Xmm* xmm = nullptr;  ///< XMM0-15; null: MOVD/MOVQ cannot be emulated
  uint64_t rip = 0;
  uint64_t rflags = 2;
  cpu::SegReg seg[cpu::kNumSegs];
  PagingRegs paging;  ///< its rflags and CPL are kept equal to the above by the caller
};

/// What one emulation did.
struct EmulationResult {
  enum class Kind : uint8_t {
    kDone,           ///< executed; registers updated, RIP advanced (or a REP paused)
    kFault,          ///< an exception to inject (`fault`); state as the SDM leaves it
    kCannotEmulate,  ///< `reason` says why; nothing was changed
  };
  Kind kind = Kind::kDone;
  GuestFault fault;
  std::string reason;
  std::string mnemonic;  ///< of the decoded instruction, if it decoded
  uint32_t mmio_accesses = 0;
  uint32_t port_accesses = 0;  ///< INS/OUTS: port reads or writes made
  uint32_t length = 0;         ///< instruction length in bytes
};

/// At most this many iterations of a REP string instruction run per call; the rest run when
/// the guest re-executes it (RIP stays, the count register says what is left), as after an
/// interrupt between iterations (SDM Vol. 2 "REP"). Bounds the work one exit can cause.
constexpr uint64_t kMaxRepIterations = 4096;

/// Emulates the instruction at g.rip. INS/OUTS go to `io` (the processor has already made
/// their I/O-permission checks before the VM exit, SDM 26.1.1); without `io` they cannot be
/// emulated.
EmulationResult emulate_instruction(GuestCpu& g, GuestPhysMemory& mem, MmioTarget& mmio,
                                    PortIoBus* io = nullptr);

}  // namespace hvsim::hv
