// The x86-64 processor: public interface used by machine/ (and later hv/).
// Intel SDM Vol. 3A ch. 2-6 (modes, registers, paging, interrupts and exceptions).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/scheduler.h"
#include "core/time.h"
#include "cpu/state.h"
#include "cpu/timing.h"

namespace hvsim {
class PhysicalMemory;
class PortIoBus;
class MmioBus;
class Tracer;
class StateWriter;
class StateReader;
class InspectNode;
class Hasher;
}  // namespace hvsim

namespace hvsim::cpu {

class Lapic;
class ApicBus;
namespace vmx {
class Vmx;
}

/// Parameters of one processor.
struct CpuParams {
  /// Processor number; also its initial APIC id. Processor 0 is the bootstrap processor.
  uint32_t index = 0;
  /// Core clock in Hz. Simulated time advances by cycles at this rate; RDTSC counts them.
  uint64_t freq_hz = 2'000'000'000;
  /// Local APIC timer input clock in Hz (before the divide configuration).
  uint64_t apic_timer_hz = 1'000'000'000;
  /// Processors in the machine (CPUID leaf 0xB topology).
  uint32_t cpu_count = 1;
  /// Cycle costs (cpu/timing.h); the machine passes MachineParams::timing.
  timing::Table timing;
};

/// What the processor is doing.
enum class RunState : uint8_t {
  kRunning,
  kHalted,       ///< after HLT; wakes on an interrupt (IF=1), NMI or INIT
  kWaitForSipi,  ///< application processor before INIT/SIPI
  kShutdown,     ///< triple fault: stopped until reset
};
const char* to_string(RunState s);

/// The machine-side resources a processor uses. Pointers are not owned.
struct CpuEnv {
  PhysicalMemory* mem = nullptr;
  PortIoBus* io = nullptr;
  MmioBus* mmio = nullptr;
  Tracer* tracer = nullptr;         ///< may be disabled, never null
  const bool* stop_flag = nullptr;  ///< polled after every instruction; set = return early
  ApicBus* apic_bus = nullptr;      ///< connects the local APICs; null = this APIC alone
};

/// Why the processor stopped being able to run (reported to the user).
struct ShutdownInfo {
  uint64_t rip;        ///< RIP of the instruction whose exception became the triple fault
  uint8_t vector;      ///< the exception that could not be delivered
  std::string reason;  ///< e.g. "triple fault: #GP while delivering #DF"
};

class CpuImpl;

/// Every field of an ArchState (the FPU included) / of an FpuState as named fields of the
/// open checkpoint section, each name prefixed with `prefix` (the field list Cpu::save uses;
/// the hypervisor saves its virtual processors' registers with it). Restore throws
/// InputError on a bad MXCSR or XCR0.
void save_arch_fields(StateWriter& w, const ArchState& s, const std::string& prefix);
void restore_arch_fields(StateReader& r, ArchState& s, const std::string& prefix);
void save_fpu_fields(StateWriter& w, const FpuState& f, const std::string& prefix);
void restore_fpu_fields(StateReader& r, FpuState& f, const std::string& prefix);

/// One logical processor. Deterministic: the same state, memory and device responses give
/// the same instruction stream and cycle counts. Exceptions are precise (RIP of the faulting
/// instruction, architectural state as before it).
class Cpu : public Clocked {
 public:
  Cpu(const CpuParams& params, const CpuEnv& env);
  ~Cpu() override;

  // Clocked
  SimTime advance(SimTime limit) override;
  SimTime local_time() const override;

  /// The first cycle count whose time reaches `t` (what advance(t) runs to).
  uint64_t cycle_at(SimTime t) const;

  /// Executes up to `n` instructions regardless of time (unit tests); returns the number
  /// executed. Stops early on HLT, shutdown, stop request or the instruction limit.
  uint64_t step(uint64_t n);

  /// Architectural state. After changing it from outside, call state_changed() so cached
  /// translations and the decode mode are recomputed.
  ArchState& state();
  const ArchState& state() const;
  void state_changed();

  RunState run_state() const;
  void set_run_state(RunState s);
  /// Power-on reset state (SDM 9.1.1): real mode at F000:FFF0.
  void reset();

  /// Retired instructions since reset.
  uint64_t instructions() const;
  /// Elapsed core cycles since reset (the TSC).
  uint64_t cycles() const;
  /// Stop (return from advance/step) once instructions() reaches `count`; kNoLimit to clear.
  static constexpr uint64_t kNoLimit = ~uint64_t{0};
  void set_instruction_limit(uint64_t count);
  bool instruction_limit_reached() const;

  /// This processor's local APIC (machine/ wires LINT0 and the 8259 acknowledge to it).
  Lapic& lapic();
  /// True if something other than a device event can still make this processor run: an
  /// armed, unmasked LAPIC timer (with IF=1), a queued interrupt message, a pending NMI,
  /// INIT or SIPI, or a deliverable interrupt. Used for the machine's idle detection.
  bool can_wake() const;
  /// Replaces the cycle-cost table (takes effect at the next instruction; decoded code
  /// is re-decoded with the new costs).
  void set_timing(const timing::Table& t);
  const timing::Table& timing() const;

  /// The VMX engine (cpu/vmx/vmx_api.h wraps it for hv/).
  vmx::Vmx& vmx();
  /// What CPUID with EAX = `leaf`, ECX = `subleaf` returns on this processor (EAX, EBX,
  /// ECX, EDX): a hypervisor builds its guests' answers from it.
  void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) const;

  /// Set once the processor shuts down (triple fault).
  const std::optional<ShutdownInfo>& shutdown_info() const;

  void save(StateWriter& w) const;
  void restore(StateReader& r);
  void inspect(InspectNode& node) const;
  /// Mixes the architectural state (not statistics) into h.
  void hash_into(Hasher& h) const;

 private:
  std::unique_ptr<CpuImpl> impl_;
};

}  // namespace hvsim::cpu
