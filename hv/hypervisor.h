// The hypervisor of hypervisor mode: VMX root operation on every physical CPU, partitions
// with their EPT-mapped memory and virtual processors, and the VM-exit handlers (DESIGN.md
// "The hypervisor drives emulated hardware the way real software does": it uses only the
// processor's VMX front door, cpu/vmx/vmx_api.h, and simulated memory).
//
// This first cut runs child partitions of one virtual processor each, one per physical CPU;
// their port I/O goes to the machine's emulated devices (the root's device emulation);
// see docs/hv.md for what exists and what comes next.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/time.h"
#include "cpu/cpu.h"
#include "cpu/vmx/vmx_api.h"
#include "hv/hypercall_abi.h"
#include "hv/partition_memory.h"
#include "hv/ports.h"
#include "hv/reference_time.h"
#include "hv/synic.h"
#include "hv/synthetic_cpuid.h"
#include "hv/synthetic_timers.h"
#include "hv/virtual_apic.h"

namespace hvsim {
class PortIoBus;
class MmioBus;
class InspectNode;
class Hasher;
class StateWriter;
class StateReader;
}  // namespace hvsim

namespace hvsim::cpu {
class ApicBus;
}

namespace hvsim::hv {

/// What the VMCS does not hold of a VP's guest state (SDM 25.4 lists what it does): kept
/// here while another VP has the physical CPU, as a hypervisor saves it on a VP switch.
struct GuestRegisters {
  uint64_t gpr[16] = {};
  uint64_t cr2 = 0, dr[4] = {}, dr6 = 0xFFFF0FF0;
  uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0, kernel_gs_base = 0, tsc_aux = 0;
  cpu::FpuState fpu;
};

/// One virtual processor: its VMCS (a hypervisor-owned system page) and what it did.
struct VirtualProcessor {
  uint32_t index = 0;       ///< within its partition (HV_REGISTER_VP_INDEX)
  uint16_t vpid = 0;        ///< the VMCS's VPID (unique machine-wide)
  uint32_t pcpu = 0;        ///< the physical CPU it runs on
  uint64_t vmcs = 0;        ///< system address of its VMCS region
  bool vmcs_ready = false;  ///< built (at the VP's first turn on its physical CPU)
  bool launched = false;
  /// Registers set from outside (a loader, a start-up IPI), given to the VMCS at the VP's
  /// next turn on its physical CPU.
  std::unique_ptr<cpu::ArchState> pending_state;
  GuestRegisters regs;            ///< while not current on its physical CPU
  bool halted = false;            ///< executed HLT; waits for an interrupt it accepts
  bool halted_with_if = false;    ///< RFLAGS.IF was set at that HLT (interrupts can wake it)
  bool waiting_for_sipi = false;  ///< an application processor before its start-up IPI
  std::unique_ptr<VirtualApic> apic;
  /// Vectors raised with auto-EOI (a SINT's AutoEOI): delivered without staying in service.
  uint32_t auto_eoi[8] = {};
  /// The cycle the VMX-preemption timer of the VMCS is armed for (~0: not armed).
  uint64_t timer_armed = ~0ull;
  /// The interrupt- and NMI-window exiting controls set in the VMCS.
  uint32_t window_bits = 0;
  uint64_t assist_page_msr = 0;  ///< HV_X64_MSR_VP_ASSIST_PAGE as written
  uint64_t exits = 0;
  uint64_t exits_by_reason[70] = {};
  uint64_t interrupts_injected = 0, nmis_injected = 0, wakeups = 0, turns = 0;
  uint64_t emulated_mmio = 0;  ///< MMIO accesses made by emulated instructions
  uint64_t string_io = 0;      ///< INS/OUTS instructions emulated (each exit once)
  /// Its SynIC and synthetic timers (dossier §4, §5.3). The SIM and SIEF pages are
  /// hypervisor-owned pages overlaid (read/write) at SIMP's and SIEFP's GPFNs while enabled;
  /// *_saved are the EPT entries the overlays replaced.
  std::unique_ptr<Synic> synic;
  std::unique_ptr<SyntheticTimers> timers;
  uint64_t simp_saved = 0, siefp_saved = 0;
  /// The cycle (of its physical CPU) at which its next synthetic timer expires; ~0: none.
  uint64_t stimer_cycle = ~0ull;
};

struct Partition {
  PartitionId id = 0;
  std::string name;
  uint64_t memory = 0;  ///< bytes of guest-physical memory, mapped at GPA 0
  std::unique_ptr<GpaSpace> gpa;
  std::vector<VirtualProcessor> vps;
  /// Connects the local APICs of the partition's VPs (IPIs stay inside the partition).
  std::unique_ptr<cpu::ApicBus> apic_bus;
  /// What its hypervisor CPUID leaves say: privileges and features are advertised only as
  /// the hypervisor implements them (hv/synthetic_msrs.cpp).
  SyntheticCpuidParams cpuid;
  // Partition-wide synthetic MSRs (TLFS; spec/hyperv-interfaces.md §2) and their overlays.
  uint64_t guest_os_id = 0;
  uint64_t hypercall_msr = 0;
  uint64_t reference_tsc_msr = 0;
  /// Hypervisor pages overlaid at the GPFNs of HYPERCALL / REFERENCE_TSC while enabled, and
  /// the EPT entries they replaced.
  uint64_t hypercall_page = 0, hypercall_saved = 0;
  uint64_t tsc_page = 0, tsc_page_saved = 0;
  uint32_t tsc_sequence = 0;
  std::unique_ptr<ReferenceTime> time;  ///< TIME_REF_COUNT: 0 at partition creation
  uint64_t hypercalls = 0;
  uint64_t hypercalls_by_status[0x80] = {};
  std::map<uint16_t, uint64_t> hypercalls_by_code;  ///< call code -> calls (ordered)
  bool crashed = false;
  std::string crash_reason;
  uint64_t crash_params[5] = {};  ///< HV_X64_MSR_CRASH_P0-P4 (hv/crash_msrs.cpp)
  uint64_t guest_crashes = 0;     ///< crashes the guest reported through CRASH_CTL
  /// The guest wrote HV_X64_MSR_RESET: the partition stopped (`crashed` is set too, with
  /// the reason) and the host decides what a reset means (the machine stops with "reset").
  bool reset_requested = false;
  /// The hyperv-testdev's SINT routes ((vp << 8) | sint) and its commands (hv/test_device.cpp).
  std::set<uint16_t> testdev_routes;
  uint64_t testdev_commands = 0, testdev_refused = 0;
  // The partition tree (docs/hv.md "Partition tree and root calls"): 0 is the host, which
  // creates top-level partitions; a partition with CreatePartitions creates its children
  // by HvCallCreatePartition (hv/root_hypercalls.cpp). Children in creation order.
  PartitionId parent = 0;
  std::vector<PartitionId> children;
  /// HvCallInitializePartition done (a hypercall-created partition takes VPs only after it).
  bool initialized = true;
  /// Pages the parent lent by HvCallMapGpaPages, by child GPA: the parent's GPA they came
  /// from and the system page. Ownership moves to the child while mapped and goes back to
  /// the parent (at that GPA) on unmap or deletion.
  struct Lent {
    uint64_t parent_gpa, spa;
  };
  std::map<uint64_t, Lent> lent;
  /// CPUID leaves (EAX) the parent intercepts (HvCallInstallIntercept): each such CPUID
  /// also posts an HvMessageTypeX64CpuidIntercept message to the parent's VP 0 SINT0.
  std::vector<uint32_t> cpuid_intercepts;
  /// I/O ports the parent intercepts (HvCallInstallIntercept type 0): port -> access mask
  /// (1 read, 2 write); each such access also posts an HvMessageTypeX64IoPortIntercept
  /// message to the parent's VP 0 SINT0 after the access is done.
  std::map<uint16_t, uint8_t> io_intercepts;
};

/// The port of the Hyper-V test device (hv/test_device.cpp; QEMU's hyperv-testdev).
constexpr uint16_t kTestDevicePort = 0x3000;

struct HypervisorParams {
  /// The processors' TSC frequency and their local APIC timer's input clock (what
  /// TSC_FREQUENCY and APIC_FREQUENCY report).
  uint64_t tsc_hz = 2'000'000'000;
  uint64_t apic_hz = 1'000'000'000;
  /// The RAM the hypervisor manages: partition memory and its own structures (EPT
  /// tables, VMCS and VMXON regions, the host context).
  uint64_t system_base = 0;
  uint64_t system_size = 0;
  /// How long a VP runs before another runnable VP on its physical CPU gets a turn.
  SimTime vp_time_slice = kPicosPerMilli;
  /// The Hyper-V test device at port 0x3000 (hv/test_device.cpp) is present.
  bool testdev = false;
};

/// What an exit observer sees (Hypervisor::set_exit_observer): after the exit is handled.
struct ExitEvent {
  const Partition* partition;
  uint32_t vp;
  const cpu::vmx::ExitInfo* exit;
  uint64_t rip;  ///< the guest RIP of the exit
};
/// What a hypercall observer sees: the input value and the result value (TLFS §3.3, §3.4).
struct HypercallEvent {
  const Partition* partition;
  uint32_t vp;
  uint64_t input, result;
};

class MmioTarget;

/// What a host port's handler receives (Hypervisor::create_host_port): a message a
/// partition posted (HvCallPostMessage) or an event it signalled (HvCallSignalEvent) on a
/// connection bound to the port. The payload is valid only during the call.
struct HostDelivery {
  const Partition* sender = nullptr;
  uint32_t vp = 0;             ///< the sender's VP that made the hypercall
  uint32_t connection_id = 0;  ///< the sender's connection id
  bool event = false;          ///< true: HvSignalEvent (flag), false: HvPostMessage
  uint32_t message_type = 0;
  const uint8_t* payload = nullptr;
  uint32_t size = 0;  ///< payload bytes (<= 240)
  unsigned flag = 0;  ///< events: the FlagNumber
};
/// A host port's receiver; its return value is the hypercall's status (e.g.
/// HV_STATUS_INSUFFICIENT_BUFFERS when it refuses more). It must not delete its own port.
using HostPortHandler = std::function<spec::HvStatus(const HostDelivery&)>;

class Hypervisor {
 public:
  Hypervisor(std::vector<cpu::Cpu*> cpus, PhysicalMemory& mem, PortIoBus& io, MmioBus& mmio,
             const HypervisorParams& p);
  ~Hypervisor();
  Hypervisor(const Hypervisor&) = delete;
  Hypervisor& operator=(const Hypervisor&) = delete;

  /// A child partition with `memory` bytes at GPA 0 and `vcpus` virtual processors (at most
  /// 64). Each VP is placed on the physical CPU with the fewest VPs, preferring ones without
  /// a VP of the same partition (ties: the lowest index), and stays there. VP 0 runs from
  /// set_vp_state; the others wait for a start-up IPI, as application processors do.
  /// Throws InputError (naming what) if memory runs out or the request is invalid.
  Partition& create_partition(const std::string& name, uint64_t memory, uint32_t vcpus = 1);
  /// As above, with the tree and the privileges: a child of `parent` (0: the host) and, with
  /// `root`, the root privileges of dossier §1.2 (CreatePartitions, AccessPartitionId,
  /// CreatePort, ConnectPort, CpuManagement is not given: see docs/hv.md).
  Partition& create_partition(const std::string& name, uint64_t memory, uint32_t vcpus,
                              PartitionId parent, bool root);
  /// The partition with id `id`, or nullptr.
  Partition* partition_by_id(PartitionId id);
  /// Whether `p` may be deleted now: false while one of its VPs is inside a VM entry.
  bool deletable(const Partition& p) const;
  /// Deletes `id` and its subtree (children first): its VPs leave their physical CPU's run
  /// queue (a current one's VMCS is cleared), its ports and connections go, pages it
  /// borrowed return to the parent, every other page returns to the free pool, zeroed.
  /// Throws InputError for an unknown id or a partition that is running (deletable()).
  void delete_partition(PartitionId id);
  /// Writes bytes into a partition's memory (a loader's path); false (nothing written)
  /// if any page of the range is not mapped.
  bool write_guest(Partition& p, uint64_t gpa, const void* data, uint64_t len);
  bool read_guest(const Partition& p, uint64_t gpa, void* out, uint64_t len) const;
  /// Sets a virtual processor's registers (before its first run), as a reset or a loader
  /// leaves them; the VMCS gets them as guest state at the VP's next turn.
  void set_vp_state(Partition& p, uint32_t vp, const cpu::ArchState& s);

  /// Makes interrupt `vector` pending at a VP's local APIC as a fixed, edge-triggered
  /// message sent now (how SynIC interrupts, synthetic timers in direct mode and
  /// HvCallAssertVirtualInterrupt raise one). It is injected at the first VM entry at which
  /// the guest accepts interrupts, and wakes the VP from HLT. With `auto_eoi` (a SINT's
  /// AutoEOI) the vector does not stay in service: no EOI is expected.
  void assert_interrupt(Partition& p, uint32_t vp, uint8_t vector, bool auto_eoi = false);

  /// Calls `fn` after every VM exit / every hypercall is handled (scripts and tests watch
  /// the hypervisor at work; an empty function removes it). Observers must not change
  /// simulated state except through this class's API.
  void set_exit_observer(std::function<void(const ExitEvent&)> fn) {
    exit_observer_ = std::move(fn);
  }
  void set_hypercall_observer(std::function<void(const HypercallEvent&)> fn) {
    hypercall_observer_ = std::move(fn);
  }
  /// A VP's architectural state (hv/vp_state.cpp): the VMCS guest state and its registers,
  /// or the state set for its next start. False if its physical CPU is running a guest right
  /// now (mid-slice between two machine quanta: no VMX instruction can be issued there).
  bool read_vp_state(VirtualProcessor& vp, cpu::ArchState* out);
  /// Sets it (the VMCS guest state and GPRs; CR2, DRs and the FPU are left alone); false
  /// as for read_vp_state.
  bool write_vp_state(VirtualProcessor& vp, const cpu::ArchState& s);
  /// The partition named `name`, or nullptr.
  Partition* find_partition(const std::string& name);

  /// Runs physical CPU `pcpu` until its local time reaches `limit` (the machine scheduler's
  /// quantum): its virtual processor in VMX non-root operation, VM exits handled here.
  /// Returns the processor's local time.
  SimTime advance(uint32_t pcpu, SimTime limit);
  /// Whether anything can still run: a VP runs or has a wake-up of its own coming (LAPIC
  /// timer, queued IPI, pending interrupt, NMI, INIT, SIPI): kBusy; all halted or waiting
  /// but some with interrupts enabled, which a device interrupt could wake: kDeviceCanWake;
  /// else kStopped.
  enum class Activity : uint8_t { kBusy, kDeviceCanWake, kStopped };
  Activity activity() const;
  /// activity() == kStopped: nothing will run any more.
  bool all_stopped() const { return activity() == Activity::kStopped; }
  /// The first partition crash, if any (the machine reports it as its stop reason).
  const Partition* crashed_partition() const;

  // Host side of SynIC communication (TLFS "Ports and Connections"; dossier §4.7): what the
  // root partition's virtualization stack (and tests) use to talk to partitions. Bad
  // arguments throw InputError naming what is wrong.

  /// A message or event port owned by port.partition, aimed at its VP port.vp and SINT
  /// port.sint (event ports: flags base_flag .. base_flag + flag_count - 1).
  void create_port(const Port& port);
  void delete_port(uint32_t port_id);
  /// Binds connection `connection_id` of partition `sender` to port `port_id`: the sender's
  /// HvCallPostMessage / HvCallSignalEvent with that id reach the port.
  void connect(const Partition& sender, uint32_t connection_id, uint32_t port_id);
  /// Posts a message (type, payload of `size` <= 240 bytes, sender id `sender`) straight to
  /// SINTx of a VP, as the hypervisor does for its own messages; the TLFS status
  /// (INVALID_SYNIC_STATE, INSUFFICIENT_BUFFERS: 16 undelivered per sender id).
  spec::HvStatus post_message(Partition& target, uint32_t vp, unsigned sint, uint32_t message_type,
                              const void* payload, uint32_t size, uint64_t sender = 0);
  /// Sets event flag `flag` of SINTx of a VP (raising the SINT if it was clear).
  spec::HvStatus signal_event(Partition& target, uint32_t vp, unsigned sint, unsigned flag);
  const PortTable& ports() const { return ports_; }
  /// A host port (PortType::kHost; docs/hv.md "Host ports"): messages and events that
  /// partitions send on connections bound to it go to `handler` instead of a SINT. Its id is
  /// the highest free port id (from 0xFFFFFF down: apart from the ids scripts choose).
  /// Returns the id; throws InputError if no id is free. delete_port removes it.
  uint32_t create_host_port(HostPortHandler handler);
  /// After a restore (docs/hv.md "Checkpoints"): the handler of host port `port_id`, which
  /// the checkpoint recreated without one; its owner (e.g. vmbus::PartitionVmbus) binds it.
  /// Throws InputError if that is no host port or it has a handler already.
  void bind_host_port(uint32_t port_id, HostPortHandler handler);
  /// Host ports without a handler (restored, not yet bound), in id order.
  std::vector<uint32_t> unbound_host_ports() const;
  /// Removes connection `connection_id` of partition `sender` (throws if there is none).
  void disconnect(const Partition& sender, uint32_t connection_id);
  /// The reference time (100 ns) at which the VP's next synthetic timer expires, or
  /// SyntheticTimers::kNever: what the run loop needs to stop the VP in time.
  uint64_t next_timer_expiry(const Partition& p, uint32_t vp) const;

  const std::vector<std::unique_ptr<Partition>>& partitions() const { return partitions_; }
  const SystemPages& system_pages() const { return pages_; }
  void inspect(InspectNode& n) const;
  /// Mixes the hypervisor's state (ownership, partitions, VP run states) into h.
  void hash_into(Hasher& h) const;
  /// Checkpoints (hv/checkpoint.cpp; docs/hv.md "Checkpoints"): the whole hypervisor in
  /// sections "hv*" (RAM and the processors, VMX state included, are saved by the machine).
  /// Observers are host-side and not saved. restore() needs a hypervisor fresh from its
  /// constructor (no partition) over RAM and processors already restored; a corrupt or
  /// mismatched checkpoint throws InputError naming the section and the problem.
  void save(StateWriter& w) const;
  void restore(StateReader& r);

 private:
  struct Pcpu {
    cpu::Cpu* cpu = nullptr;
    std::unique_ptr<cpu::vmx::VmxApi> api;
    uint64_t vmxon = 0;
    /// The VPs placed here, in placement order; they take turns (schedule()).
    struct Slot {
      Partition* partition;
      uint32_t vp;
    };
    std::vector<Slot> runq;
    static constexpr size_t kNone = ~size_t{0};
    size_t current = kNone;      ///< runq index of the VP whose VMCS and registers are loaded
    uint64_t slice_end = ~0ull;  ///< the cycle the current VP's turn ends (others waiting)
    uint64_t kick_at = ~0ull;    ///< the cycle of the kick queued at the physical LAPIC
    uint64_t host_interrupts = 0, kicks = 0, switches = 0;
  };
  // ---- scheduling (hv/scheduler.cpp) ----
  /// Picks the VP to run on `pc` now: the current one until its turn ends or it halts,
  /// then the next runnable one round-robin; loads it (switch_to). nullptr: none can run.
  VirtualProcessor* schedule(Pcpu& pc);
  /// True if the VP can run now (after delivering its due events and INIT/SIPI).
  bool runnable(Pcpu& pc, Partition& p, VirtualProcessor& vp);
  /// Makes runq[k] current: saves the outgoing VP's registers, loads (or builds) the
  /// incoming VP's VMCS and registers, applies its pending state.
  void switch_to(Pcpu& pc, size_t k);
  /// Runs `fn` with the VMCS of `vp` current on its physical CPU (VMPTRLD there, the
  /// processor's current VMCS back after); false if that processor is in a guest now.
  bool with_vp_vmcs(VirtualProcessor& vp, const std::function<void(cpu::vmx::VmxApi&)>& fn);
  /// The VP's registers and VMCS guest state from `s` (its VMCS must be current).
  void apply_state(Pcpu& pc, VirtualProcessor& vp, const cpu::ArchState& s);
  /// Idles the physical CPU with nothing to run until `target` or the next event of one of
  /// its VPs; the physical LAPIC's interrupts are taken as the host would and forwarded.
  void idle(Pcpu& pc, uint64_t target);
  void enter_root_operation(Pcpu& pc);
  void build_vmcs(Partition& p, VirtualProcessor& vp);
  /// VP k's local APIC, SynIC (on pages sim/sief) and synthetic timers, wired to this
  /// hypervisor (create_partition, restore).
  void make_vp_models(Partition& p, uint32_t k, uint64_t sim, uint64_t sief);
  // ---- virtual interrupts (hv/interrupts.cpp) ----
  /// Before each VM entry: delivers what the VP's LAPIC has due, injects the interrupt or
  /// NMI the guest can take now (or asks for the window exit), and arms the VMX-preemption
  /// timer for the VP's next event.
  void prepare_entry(Pcpu& pc, Partition& p, VirtualProcessor& vp);
  /// The cycle (of the VP's physical CPU) of the VP's next timed event: LAPIC timer or
  /// message; ~0 if none. Every timed source of a VP adds itself here.
  uint64_t vp_next_event(const VirtualProcessor& vp) const;
  /// Fires the VP's timed events that are due at its physical CPU's cycle count.
  void vp_events_due(Partition& p, VirtualProcessor& vp);
  /// True if the VP can take a maskable interrupt now from its LAPIC (IF=1, no STI/MOV-SS
  /// blocking) and has one.
  bool interrupt_deliverable(Pcpu& pc, VirtualProcessor& vp);
  /// An external interrupt reached the physical CPU (exit reason 1 with acknowledge on exit,
  /// or taken while idle): a kick, or a device interrupt forwarded to the first VP placed
  /// on this physical CPU (the machine's child partition).
  void host_interrupt(Pcpu& pc, uint8_t vector);
  /// Something the running VP must see before its next slice (another VP's IPI, a host-side
  /// message): a kick to its physical CPU, which leaves the guest at the given cycle.
  void kick(Pcpu& pc, uint64_t at_cycle);
  /// INIT and start-up IPIs of application processors (SDM 9.4.4), emulated on the VP.
  void init_sipi(Pcpu& pc, Partition& p, VirtualProcessor& vp);
  /// RDMSR/WRMSR of IA32_APIC_BASE, x2APIC MSRs, IA32_TSC_DEADLINE and the Hyper-V APIC
  /// MSRs: true if `msr` is one of them (then *ok says whether it must #GP).
  bool handle_apic_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, bool write, uint64_t* v,
                       bool* ok);
  /// RDMSR/WRMSR of the crash MSRs and VP_ASSIST_PAGE (hv/crash_msrs.cpp): true if `msr`
  /// is one of them (then *ok says whether it must #GP). A CrashNotify write crashes the
  /// partition with the guest's parameters and message.
  bool handle_crash_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, bool write, uint64_t* v,
                        bool* ok);
  /// HvCallSendSyntheticClusterIpi (dossier §3.6): `vector_word` = Vector | reserved << 32,
  /// `mask` = the target VPs (bit n: VP n).
  spec::HvStatus send_ipi_call(Partition& p, uint64_t vector_word, uint64_t mask);
  /// MOV to/from CR8 (CR8-load/store exiting): the VP's TPR; false if it must #GP.
  bool handle_cr8(Pcpu& pc, VirtualProcessor& vp, bool to_cr8, unsigned reg);

  /// Handles one VM exit; false if the partition crashed.
  bool handle_exit(Pcpu& pc, Partition& p, VirtualProcessor& vp, const cpu::vmx::ExitInfo& e);
  bool handle_io(Pcpu& pc, Partition& p, const cpu::vmx::ExitInfo& e);
  /// A command written to the test device (hv/test_device.cpp): false if refused.
  bool testdev_write(Partition& p, uint32_t value);
  /// MOV to CR0/CR4 that touched a bit the hypervisor owns (CR0.NE, CR4.VMXE): false if
  /// it must fault (#GP injected).
  bool handle_cr(Pcpu& pc, VirtualProcessor& vp, const cpu::vmx::ExitInfo& e);
  /// RDMSR/WRMSR of a synthetic MSR (hv/synthetic_msrs.cpp): false if it must #GP.
  bool handle_msr(Pcpu& pc, Partition& p, VirtualProcessor& vp, bool write);
  /// VMCALL (hv/hypercalls.cpp): the hypercall, its result in RAX.
  void handle_hypercall(Pcpu& pc, Partition& p, const cpu::vmx::ExitInfo& e);
  /// HvCallPostMessage / HvCallSignalEvent from partition p (hv/hypercalls.cpp).
  spec::HvStatus post_message_call(Partition& p, uint32_t vp_index, uint64_t input_gpa);
  spec::HvStatus signal_event_call(Partition& p, uint32_t vp_index, uint64_t input);
  /// The target VP of a port: nullptr if its partition or VP no longer exists.
  VirtualProcessor* port_target(const Port& port);
  /// WRMSR of a SynIC MSR: the write, then the SIM/SIEF overlays moved (synthetic_msrs.cpp).
  bool write_synic_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, uint64_t v);
  /// The partition's reference time on the VP's processor now (100 ns units).
  uint64_t reference_time(const Partition& p, const VirtualProcessor& vp) const;
  /// Fires the VP's synthetic timers that are due (vp_events_due) and recomputes
  /// vp.stimer_cycle; also after every STIMER write.
  void poll_timers(Partition& p, VirtualProcessor& vp);
  /// Turns an overlay on or off at `gpfn_msr`'s GPFN (and invalidates the EPT).
  void set_overlay(Partition& p, uint64_t page, uint64_t* saved, uint64_t old_msr, uint64_t new_msr,
                   uint8_t rwx);
  /// An EPT violation on an overlay page (a write): true if it was one (#GP injected).
  bool overlay_write(Pcpu& pc, const Partition& p, const cpu::vmx::ExitInfo& e);
  void handle_cpuid(Pcpu& pc, const Partition& p, const VirtualProcessor& vp);
  /// Instruction emulation (hv/emulation.cpp): the data access of an EPT violation outside
  /// partition memory (MMIO), or INS/OUTS (`string_io`). False if the partition crashed.
  bool emulate(Pcpu& pc, Partition& p, VirtualProcessor& vp, const cpu::vmx::ExitInfo& e,
               bool string_io);
  void skip_instruction(Pcpu& pc, const cpu::vmx::ExitInfo& e);
  void crash(Partition& p, const std::string& reason);
  // ---- partition tree and root calls (hv/root_hypercalls.cpp) ----
  /// An empty partition (no memory, no VPs) in the tree under `parent`.
  Partition& new_partition(const std::string& name, PartitionId parent, bool root);
  /// Adds a VP to `p`, placed as create_partition says; false if no system page is left.
  bool add_vp(Partition& p);
  /// After a CPUID the parent intercepts (exits.cpp): the intercept message to the parent,
  /// with the input registers `in` (RAX, RCX, RDX, RBX) and the results now in the VP.
  /// A port access of `p` the parent intercepts (hv/root_hypercalls.cpp): the notification
  /// message, with RAX after the access (what an IN read).
  void io_intercepted(Pcpu& pc, Partition& p, const VirtualProcessor& vp,
                      const cpu::vmx::ExitInfo& e);
  void cpuid_intercepted(Pcpu& pc, Partition& p, const VirtualProcessor& vp,
                         const cpu::vmx::ExitInfo& e, const uint64_t in[4]);
  /// INVEPT single-context of `eptp` on every physical CPU.
  void invept_all(uint64_t eptp);
  /// Frees one partition (not its children): run queues, ports, lent pages, owned pages.
  void destroy_partition(Partition& p);
  /// The root calls (dossier §3.7): true if `code` is one (then *status and *reps are set).
  bool root_hypercall(Pcpu& pc, Partition& p, const HypercallInput& in,
                      const HypercallRegisters& regs, spec::HvStatus* status, uint16_t* reps);

  std::vector<Pcpu> pcpus_;
  PhysicalMemory& mem_;
  PortIoBus& io_;
  MmioBus& mmio_;
  SystemPages pages_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  PortTable ports_;
  std::map<uint32_t, HostPortHandler> host_ports_;  ///< port id -> handler (host-side)
  /// A message or event for host port `port` from VP `vp` of `p` (hv/communication.cpp).
  spec::HvStatus deliver_to_host(uint32_t port, const HostDelivery& d);
  uint64_t msr_bitmap_ = 0;  ///< one MSR bitmap for every VMCS (hypervisor-owned)
  /// The pin-based and primary processor-based controls of every VMCS, without the
  /// preemption timer and the window exits that prepare_entry adds.
  uint32_t pin_controls_ = 0, proc_controls_ = 0;
  PartitionId next_id_ = 1;
  uint16_t next_vpid_ = 1;  ///< VPIDs are unique machine-wide (0 is the host's)
  std::function<void(const ExitEvent&)> exit_observer_;
  std::function<void(const HypercallEvent&)> hypercall_observer_;
  uint64_t tsc_hz_, apic_hz_;
  uint64_t slice_cycles_;
  bool testdev_;
};

}  // namespace hvsim::hv
