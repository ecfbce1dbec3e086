// The VMX engine of one processor: VMX operation, the current VMCS, VM entries and VM exits
// (Intel SDM Vol. 3C ch. 24-28 "Introduction to VMX operation" .. "VM exits"). Reached by
// guest software through the VMX instructions (cpu/vmx/vmx_insns.cpp) and by the C++
// hypervisor through cpu/vmx/vmx_api.h; both run the same code below.
#pragma once

#include <cstdint>
#include <string>

#include "cpu/vmx/spec/capability_msrs.h"
#include "cpu/vmx/spec/exit_reason.h"
#include "cpu/vmx/spec/instruction_error.h"
#include "cpu/vmx/spec/vmcs_layouts.h"
#include "cpu/vmx/vmcs.h"

namespace hvsim {
class StateWriter;
class StateReader;
class Hasher;
class InspectNode;
}  // namespace hvsim

namespace hvsim::cpu {
class CpuImpl;
struct Insn;
struct Fault;
enum class Access : uint8_t;
}  // namespace hvsim::cpu

namespace hvsim::cpu::vmx {

using spec::ExitReason;
using spec::VmInstructionError;

/// How a VMX instruction (or its C++ counterpart) ended (SDM 31.2 "Conventions").
enum class VmStatus : uint8_t {
  kSucceed,      ///< VMsucceed: CF = ZF = 0
  kFailInvalid,  ///< VMfailInvalid: CF = 1 (no current VMCS)
  kFailValid,    ///< VMfailValid: ZF = 1, `error` in the VM-instruction error field
  kFault,        ///< the instruction raised an exception (`vector`); nothing changed
};
const char* to_string(VmStatus s);

/// Why this layout: 8 bytes, returned in one register. The 12-byte {status, error,
/// vector} it replaced was built on the stack byte by byte and reloaded as a whole, a
/// store-forwarding stall on every VMREAD and VMWRITE.
struct VmResult {
  VmResult() = default;
  VmResult(VmStatus s, VmInstructionError e, uint8_t v) : status(s), vector(v), error(e) {}
  VmStatus status = VmStatus::kSucceed;
  uint8_t vector = 0;          ///< kFault only: #UD (6) or #GP (13)
  VmInstructionError error{};  ///< kFailValid only
  bool ok() const { return status == VmStatus::kSucceed; }
};
static_assert(sizeof(VmResult) == 8);

/// The exit-information fields of one VM exit (SDM 25.9), as the VMCS holds them.
struct ExitInfo {
  uint32_t reason = 0;  ///< the full exit-reason field: basic reason, bit 31 = entry failure
  uint64_t qualification = 0;
  uint64_t guest_linear_address = 0;
  uint64_t guest_physical_address = 0;
  uint32_t interruption_info = 0, interruption_error = 0;
  uint32_t idt_vectoring_info = 0, idt_vectoring_error = 0;
  uint32_t instruction_length = 0, instruction_info = 0;
  ExitReason basic() const { return static_cast<ExitReason>(reason & 0xFFFF); }
  bool entry_failure() const { return reason & spec::kExitReasonEntryFailure; }
};

/// A guest-physical address translated through EPT (cpu/vmx/ept.cpp).
struct EptTranslation {
  uint64_t hpa = 0;   ///< the host-physical address
  uint8_t rwx = 0;    ///< the AND of bits 2:0 of the EPT entries used
  bool dirty = true;  ///< the leaf's dirty flag is set (always true without EPT A/D flags)
};

/// VMX capabilities hvsim implements (what the capability MSRs report).
namespace caps {
/// VMCS revision identifier (IA32_VMX_BASIC bits 30:0).
constexpr uint32_t kRevisionId = 0x4856;
/// The VMX-preemption timer counts down once every 2^5 TSC cycles (IA32_VMX_MISC 4:0).
constexpr unsigned kPreemptionTimerRate = 5;
constexpr unsigned kCr3TargetCount = 4;
}  // namespace caps

/// Offset of VTPR (the virtual task-priority register) in the virtual-APIC page (SDM 30.1).
constexpr uint64_t kVtprOffset = 0x80;

/// One processor's VMX state and engine. Owned by CpuImpl (vmx_); CpuImpl::vmx_non_root_
/// mirrors non_root() for the instruction handlers' one-flag checks.
class Vmx {
 public:
  explicit Vmx(CpuImpl& c);

  // ---- power-on and INIT (cpu.cpp, attention.cpp) ----
  /// Power-on reset: leaves VMX operation and clears IA32_FEATURE_CONTROL.
  void power_on_reset();
  /// Leaves VMX operation without touching memory (INIT, processor reset).
  void leave_operation();

  // ---- MSRs (msr.cpp calls these for 0x3A and 0x480-0x491) ----
  static bool is_msr(uint32_t msr) { return msr == 0x3A || (msr >= 0x480 && msr <= 0x491); }
  bool read_msr(uint32_t msr, uint64_t* v) const;
  bool write_msr(uint32_t msr, uint64_t v);
  /// The value of a capability MSR (IA32_VMX_BASIC .. IA32_VMX_TRUE_ENTRY_CTLS).
  static uint64_t capability(spec::VmxMsr m);
  /// A control value the capability MSR `m` allows (SDM A.3): `want`, plus the bits that
  /// must be 1, minus those that must be 0.
  static uint32_t allowed_controls(spec::VmxMsr m, uint32_t want) {
    uint64_t cap = capability(m);
    return (want | static_cast<uint32_t>(cap)) & static_cast<uint32_t>(cap >> 32);
  }

  // ---- VMX operation ----
  bool in_operation() const { return on_; }
  bool non_root() const { return non_root_; }
  /// MOV to CR0/CR4 in VMX operation: false if `v` violates the fixed bits (#GP).
  bool cr_write_allowed(unsigned cr, uint64_t v) const;
  /// "unrestricted guest" in the current VMCS (secondary controls active and bit 7 set).
  bool unrestricted_guest() const;

  // ---- the VMX operations (SDM Vol. 2 instruction pages). Each raises #UD/#GP (throws
  // Fault) for its instruction's exception conditions, then returns VMsucceed/VMfail.
  // The guest's instructions call them after decoding the operand; vmx_api.h too. ----
  VmResult vmxon(uint64_t region_pa);
  /// VMXON's exception checks; false = already in VMX root operation (VMfailValid 15).
  bool check_vmxon() const;
  VmResult vmxoff();
  VmResult vmclear(uint64_t pa);
  VmResult vmptrld(uint64_t pa);
  /// VMPTRST: the current-VMCS pointer (~0 = none).
  uint64_t vmptrst();
  VmResult vmread(uint64_t encoding, uint64_t* value);
  VmResult vmwrite(uint64_t encoding, uint64_t value);
  /// VMREAD / VMWRITE after the instruction checks (the guest's instruction made them).
  VmResult vmread_field(uint64_t encoding, uint64_t* value);
  VmResult vmwrite_field(uint64_t encoding, uint64_t value);
  /// VMLAUNCH (launch) / VMRESUME: checks, then guest-state load and event injection (on
  /// success the processor is in non-root operation at the guest's RIP), or a VM-entry
  /// failure (exit reason 33/34 with bit 31: the host state is loaded), or VMfail.
  VmResult vm_entry(bool launch);
  /// VMCALL in VMX root operation (VMfailValid 1 or VMfailInvalid).
  VmResult vmcall_root();
  /// Common #UD/#GP checks of the VMX instructions other than VMXON (SDM Vol. 2: #UD
  /// outside VMX operation, in real/virtual-8086/compatibility mode; #GP(0) if CPL > 0).
  void check_instruction() const;
  /// #UD conditions that precede even a VM exit in non-root operation.
  void check_mode() const;

  // ---- VMX non-root operation: intercepts (intercepts.cpp) ----
  /// Called by instruction handlers in non-root operation after their privilege checks.
  /// Returns true if the instruction was handled: it caused a VM exit, or it was executed
  /// here with VMX semantics (CR0/CR4 shadows, TSC offsetting).
  bool intercept(const Insn& i);
  /// An exception about to be delivered in non-root operation: true if it caused a VM exit
  /// (exception bitmap, #PF error-code mask/match).
  bool intercept_fault(const Fault& f);
  /// A triple fault in non-root operation: VM exit with reason 2.
  void triple_fault();
  /// An event (exception, software interrupt, external interrupt, NMI) starts its delivery
  /// through the guest's IDT: a VM exit before delivery completes (a fault the exception
  /// bitmap intercepts, later an EPT violation) reports it as IDT-vectoring information,
  /// with its error code and, for software events, the instruction length (SDM 28.2.4).
  void begin_delivery(uint32_t intr_info, uint32_t error, uint32_t length) {
    vectoring_ = intr_info;
    vectoring_error_ = error;
    vectoring_length_ = length;
  }
  /// The same for an exception or software interrupt about to be delivered by
  /// CpuImpl::handle_fault with return address `ret`.
  void begin_delivery(const Fault& f, uint64_t ret);
  /// Delivery completed (or ended in a #DF or triple fault, which are not "during delivery").
  void end_delivery() { vectoring_ = 0; }
  /// True if a fault now being reported was raised by an IRET that cleared (virtual-)NMI
  /// blocking: "NMI unblocking due to IRET" (interruption information / EPT-violation
  /// qualification bit 12, SDM 28.2.2, 28.2.3).
  bool nmi_unblocked_by_iret() const;
  /// IRET in non-root operation clears NMI blocking (virtual-NMI blocking with virtual
  /// NMIs) unless "NMI exiting" is 1 without "virtual NMIs" (SDM 26.3 "IRET").
  bool iret_unblocks_nmi() const;
  /// Instruction-boundary events of non-root operation in SDM priority order (MTF,
  /// preemption timer, NMI window, NMI, interrupt window, external interrupt); true if
  /// one caused a VM exit.
  bool boundary();
  /// Something other than a device can end this guest's HLT (a preemption timer).
  bool can_wake() const { return non_root_ && timer_deadline_ != ~0ull; }

  // ---- activity states, INIT and SIPI (activity.cpp) ----
  /// A pending NMI can be taken in non-root operation (as a VM exit with NMI exiting, else
  /// through the guest's IDT): NMI blocking (the host's under virtual NMIs) is clear.
  bool nmi_unblocked() const;
  /// A VM exit caused by a signal rather than an instruction: INIT (reason 3) or SIPI
  /// (reason 4, qualification = the SIPI vector) (SDM 26.2, 28.2.1).
  void signal_exit(ExitReason r, uint64_t qualification);
  /// The instruction boundary of a guest in the shutdown or wait-for-SIPI activity state:
  /// only the events those states do not block end them (SDM 27.7.2).
  void inactive_boundary();

  // ---- VM exits (vm_exit.cpp) ----
  /// Performs a VM exit from non-root operation: saves the guest state, records the exit
  /// information, loads the host state. `info` holds the reason and exit-information fields.
  void vm_exit(const ExitInfo& info);
  /// An instruction's VM exit: as vm_exit, with the instruction's length.
  void exit_for_instruction(const Insn& i, ExitReason r, uint64_t qualification = 0,
                            uint32_t insn_info = 0, uint64_t linear = 0);
  /// The exit information of the most recent VM exit (also in the VMCS).
  const ExitInfo& last_exit() const { return last_exit_; }
  uint64_t exits() const { return exits_; }

  // ---- EPT and VPID (ept.cpp, SDM Vol. 3C ch. 29) ----
  /// The final guest-physical access of a linear access `acc` at `la` (or, with paging
  /// off, of the guest-physical address itself): EPT violation (exit 48) or
  /// misconfiguration (exit 49) unwinds the instruction; else the host-physical address
  /// and the rights of the translation.
  EptTranslation ept_final(uint64_t gpa, cpu::Access acc, uint64_t la);
  /// A guest paging-structure entry at `gpa` read (or written, `write`) while translating
  /// `la`: the host-physical address, or an EPT-induced VM exit.
  uint64_t ept_paging(uint64_t gpa, uint64_t la, bool write);
  /// A PAE PDPTE at `gpa` loaded by MOV to CR (no guest-linear address).
  uint64_t ept_pdpte(uint64_t gpa);
  /// INVEPT / INVVPID after the common checks and the type check (the caller reads the
  /// 128-bit descriptor only once the type is supported, as the SDM orders the accesses).
  VmResult invept_desc(uint64_t type, uint64_t lo, uint64_t hi);
  VmResult invvpid_desc(uint64_t type, uint64_t lo, uint64_t hi);
  /// Whether INVEPT / INVVPID of this type is supported (IA32_VMX_EPT_VPID_CAP).
  static bool invept_type_supported(uint64_t type);
  static bool invvpid_type_supported(uint64_t type);
  /// Performs the EPT-induced VM exit recorded by the walk (CpuImpl::handle_fault calls it
  /// for the Fault with vector kVmExitVector).
  void take_pending_exit();
  uint64_t ept_walks() const { return ept_walks_; }
  uint64_t ept_walk_refs() const { return ept_walk_refs_; }

  /// The current VMCS (cached copy); valid when current_vmcs() != ~0.
  Vmcs& vmcs() { return vmcs_; }
  uint64_t current_vmcs() const { return current_; }

  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);
  /// Mixes the VMX state into h (only once VMX was ever used, so older hashes stay).
  void hash_into(Hasher& h) const;
  void inspect(InspectNode& n) const;

 private:
  friend class VmxApi;
  static VmResult succeed() { return {}; }
  static VmResult fail_invalid() { return {VmStatus::kFailInvalid, {}, 0}; }
  VmResult fail_valid(VmInstructionError e);
  /// Sets RFLAGS for a result (the instruction path).
  bool valid_region_address(uint64_t pa) const;
  void write_back_current();
  void load_region(uint64_t pa);

  // ept.cpp
  /// VM-entry checks of the EPT pointer and VPID (SDM 27.2.1.1); false = error 7.
  bool ept_controls_ok() const;
  /// "enable EPT" in the current VMCS (secondary controls active and bit 1 set).
  bool ept_enabled() const;
  /// VM entry: takes EPTP and VPID for the guest, sets CpuImpl::vmx_ept_.
  void ept_enter();
  /// Guest PDPTE fields at VM entry with EPT and PAE paging: false if one is invalid.
  bool ept_load_pdptes(bool load) const;
  /// VM exit with EPT and PAE paging: the PDPTE registers into the VMCS (SDM 28.3.4).
  void ept_save_pdptes();
  /// Records an EPT-induced exit and unwinds the instruction (throws Fault kVmExitVector).
  [[noreturn]] void ept_exit(ExitReason r, uint64_t qualification, uint64_t gpa, uint64_t gla);
  /// The EPT walk of `gpa` for an access needing rights `need` (qualification bits 2:0).
  EptTranslation ept_walk(uint64_t gpa, uint64_t need, uint64_t la, uint64_t qual_flags);
  void ept_inspect(InspectNode& n) const;

  // entry_checks.cpp
  /// VM-entry checks on the VMX controls (SDM 27.2.1); error 7 or none.
  VmInstructionError check_controls() const;
  /// VM-entry checks on the host-state area (SDM 27.2.2-27.2.4); error 8 or none.
  VmInstructionError check_host_state() const;
  /// VM-entry checks on the guest-state area (SDM 27.3.1); false = the entry fails with exit
  /// reason 33 and *qualification (SDM 27.8).
  bool check_guest_state(uint64_t* qualification) const;

  // vm_entry.cpp
  void load_guest_state();
  /// Loads the VM-entry MSR-load list; false with *index (1-based) on failure.
  bool load_msr_list(uint64_t addr, uint32_t count, uint32_t* index);
  void inject_event();
  void entry_failure(ExitReason r, uint64_t qualification);

  // intercepts.cpp
  /// MOV to/from CR8 with "use TPR shadow" (and no CR8-load/store exiting): accesses VTPR
  /// on the virtual-APIC page; a write below the TPR threshold causes a VM exit (reason 43).
  bool tpr_shadow_access(bool write, unsigned reg, unsigned size, uint64_t value);

  // activity.cpp
  /// The guest's activity state (the GUEST_ACTIVITY_STATE encoding) from the processor's
  /// run state, and back (SDM 25.4.2).
  uint64_t activity_state() const;
  void enter_activity_state(uint64_t activity);

  // vm_exit.cpp
  void save_guest_state();
  void load_host_state();
  /// false after a VMX abort (a failure storing an MSR).
  bool store_msr_list(uint64_t addr, uint32_t count);
  void abort(uint32_t indicator);

  CpuImpl& c_;
  uint64_t feature_control_ = 0;
  bool on_ = false;
  bool non_root_ = false;
  uint64_t vmxon_ptr_ = 0;
  uint64_t current_ = ~0ull;
  Vmcs vmcs_;
  /// The current VMCS was launched before a VMXOFF (VMRESUME fails with error 6).
  bool stale_launch_ = false;
  /// IA-32e mode when Vmcs::checked was set (the host-state checks depend on it).
  bool checked_long_mode_ = false;
  /// The inputs of the last guest segment-register checks that passed (entry_checks.cpp):
  /// the 32 segment fields and the mode bits they depend on. Those checks are a function
  /// of exactly these, so equal inputs pass again without running them.
  struct SegmentCheckMemo {
    bool valid = false;
    uint8_t mode = 0;
    std::array<uint64_t, 32> fields{};
  };
  mutable SegmentCheckMemo segment_memo_;
  ExitInfo last_exit_;
  // Non-root bookkeeping.
  uint64_t timer_deadline_ = ~0ull;  ///< cycle at which the preemption timer reaches 0
  /// MTF: 0 off, 1 armed (record progress at the next boundary), 2 watching, 3 pending.
  uint8_t mtf_ = 0;
  uint64_t mtf_insns_ = 0;         ///< instructions_ when MTF started watching
  bool host_nmi_blocked_ = false;  ///< NMI blocking of the host while virtual NMIs run
  /// The interruption information, error code and instruction length of the event being
  /// delivered through the guest's IDT (an injected one too), 0 = none: an exit then
  /// reports it as IDT-vectoring information. Never set across an instruction boundary.
  uint32_t vectoring_ = 0, vectoring_error_ = 0, vectoring_length_ = 0;
  uint64_t exits_ = 0, entries_ = 0;
  /// Set while VmxApi runs the guest: a VM exit then sets api_stop_ (the engine's stop
  /// flag for that run) so control returns to the C++ caller at the exit.
  bool api_running_ = false, api_stop_ = false;
  uint64_t exits_by_reason_[70] = {};
  // EPT (ept.cpp): the guest's EPTP and VPID while in non-root operation, the pending
  // EPT-induced exit, counters.
  uint64_t eptp_ = 0;
  uint16_t vpid_ = 0;
  unsigned ept_levels_ = 4;
  bool ept_ad_ = false;
  ExitInfo pending_exit_;
  uint64_t ept_walks_ = 0, ept_walk_refs_ = 0, ept_violations_ = 0, ept_misconfigs_ = 0;
  uint64_t invepts_ = 0, invvpids_ = 0;
};

}  // namespace hvsim::cpu::vmx
