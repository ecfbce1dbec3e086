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
#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/vmx/vmx_api.h"
#include "hv/partition_memory.h"
#include "hv/ports.h"
#include "hv/reference_time.h"
#include "hv/synic.h"
#include "hv/synthetic_cpuid.h"
#include "hv/synthetic_timers.h"

namespace hvsim {
class PortIoBus;
class MmioBus;
class InspectNode;
class Hasher;
}  // namespace hvsim

namespace hvsim::hv {

/// One virtual processor: its VMCS (a hypervisor-owned system page) and what it did.
struct VirtualProcessor {
  uint32_t index = 0;  ///< within its partition (HV_REGISTER_VP_INDEX)
  uint16_t vpid = 0;   ///< the VMCS's VPID (unique machine-wide)
  uint32_t pcpu = 0;   ///< the physical CPU it runs on
  uint64_t vmcs = 0;   ///< system address of its VMCS region
  bool launched = false;
  bool halted = false;  ///< executed HLT and nothing can wake it yet
  uint64_t exits = 0;
  uint64_t exits_by_reason[70] = {};
  /// Its SynIC and synthetic timers (dossier §4, §5.3). The SIM and SIEF pages are
  /// hypervisor-owned pages overlaid (read/write) at SIMP's and SIEFP's GPFNs while enabled;
  /// *_saved are the EPT entries the overlays replaced.
  std::unique_ptr<Synic> synic;
  std::unique_ptr<SyntheticTimers> timers;
  uint64_t simp_saved = 0, siefp_saved = 0;
};

struct Partition {
  PartitionId id = 0;
  std::string name;
  uint64_t memory = 0;  ///< bytes of guest-physical memory, mapped at GPA 0
  std::unique_ptr<GpaSpace> gpa;
  std::vector<VirtualProcessor> vps;
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
  bool crashed = false;
  std::string crash_reason;
};

struct HypervisorParams {
  /// The processors' TSC frequency and their local APIC timer's input clock (what
  /// TSC_FREQUENCY and APIC_FREQUENCY report).
  uint64_t tsc_hz = 2'000'000'000;
  uint64_t apic_hz = 1'000'000'000;
  /// The RAM the hypervisor manages: partition memory and its own structures (EPT
  /// tables, VMCS and VMXON regions, the host context).
  uint64_t system_base = 0;
  uint64_t system_size = 0;
};

class Hypervisor {
 public:
  Hypervisor(std::vector<cpu::Cpu*> cpus, PhysicalMemory& mem, PortIoBus& io, MmioBus& mmio,
             const HypervisorParams& p);
  ~Hypervisor();
  Hypervisor(const Hypervisor&) = delete;
  Hypervisor& operator=(const Hypervisor&) = delete;

  /// A child partition with `memory` bytes at GPA 0 and one virtual processor on the next
  /// physical CPU without one. Throws InputError (naming what) if memory or CPUs run out.
  Partition& create_partition(const std::string& name, uint64_t memory);
  /// Writes bytes into a partition's memory (a loader's path); false (nothing written)
  /// if any page of the range is not mapped.
  bool write_guest(Partition& p, uint64_t gpa, const void* data, uint64_t len);
  bool read_guest(const Partition& p, uint64_t gpa, void* out, uint64_t len) const;
  /// Sets a virtual processor's registers (before its first run), as a reset or a loader
  /// leaves them; the VMCS gets them as guest state.
  void set_vp_state(Partition& p, uint32_t vp, const cpu::ArchState& s);

  /// Runs physical CPU `pcpu` until its local time reaches `limit` (the machine scheduler's
  /// quantum): its virtual processor in VMX non-root operation, VM exits handled here.
  /// Returns the processor's local time.
  SimTime advance(uint32_t pcpu, SimTime limit);
  /// Every partition crashed or halted for good: nothing will run any more.
  bool all_stopped() const;
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
  /// The reference time (100 ns) at which the VP's next synthetic timer expires, or
  /// SyntheticTimers::kNever: what the run loop needs to stop the VP in time.
  uint64_t next_timer_expiry(const Partition& p, uint32_t vp) const;

  const std::vector<std::unique_ptr<Partition>>& partitions() const { return partitions_; }
  const SystemPages& system_pages() const { return pages_; }
  void inspect(InspectNode& n) const;
  /// Mixes the hypervisor's state (ownership, partitions, VP run states) into h.
  void hash_into(Hasher& h) const;

 private:
  struct Pcpu {
    cpu::Cpu* cpu = nullptr;
    std::unique_ptr<cpu::vmx::VmxApi> api;
    uint64_t vmxon = 0;
    Partition* partition = nullptr;  ///< the partition whose VP runs here
    uint32_t vp = 0;
  };
  void enter_root_operation(Pcpu& pc);
  void build_vmcs(Partition& p, VirtualProcessor& vp);
  /// Handles one VM exit; false if the partition crashed.
  bool handle_exit(Pcpu& pc, Partition& p, VirtualProcessor& vp, const cpu::vmx::ExitInfo& e);
  bool handle_io(Pcpu& pc, const cpu::vmx::ExitInfo& e);
  /// MOV to CR0/CR4 that touched a bit the hypervisor owns (CR0.NE, CR4.VMXE): false if
  /// it must fault (#GP injected).
  bool handle_cr(Pcpu& pc, const cpu::vmx::ExitInfo& e);
  /// RDMSR/WRMSR of a synthetic MSR (hv/synthetic_msrs.cpp): false if it must #GP.
  bool handle_msr(Pcpu& pc, Partition& p, VirtualProcessor& vp, bool write);
  /// VMCALL (hv/hypercalls.cpp): the hypercall, its result in RAX.
  void handle_hypercall(Pcpu& pc, Partition& p, const cpu::vmx::ExitInfo& e);
  /// HvCallPostMessage / HvCallSignalEvent from partition p (hv/hypercalls.cpp).
  spec::HvStatus post_message_call(Partition& p, uint64_t input_gpa);
  spec::HvStatus signal_event_call(Partition& p, uint64_t input);
  /// The target VP of a port: nullptr if its partition or VP no longer exists.
  VirtualProcessor* port_target(const Port& port);
  /// WRMSR of a SynIC MSR: the write, then the SIM/SIEF overlays moved (synthetic_msrs.cpp).
  bool write_synic_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, uint64_t v);
  /// The partition's reference time on the VP's processor now (100 ns units).
  uint64_t reference_time(const Partition& p, const VirtualProcessor& vp) const;
  /// Fires the VP's synthetic timers that are due (before every VM entry).
  void poll_timers(Partition& p, VirtualProcessor& vp);
  /// Turns an overlay on or off at `gpfn_msr`'s GPFN (and invalidates the EPT).
  void set_overlay(Partition& p, uint64_t page, uint64_t* saved, uint64_t old_msr, uint64_t new_msr,
                   uint8_t rwx);
  /// An EPT violation on an overlay page (a write): true if it was one (#GP injected).
  bool overlay_write(Pcpu& pc, const Partition& p, const cpu::vmx::ExitInfo& e);
  void handle_cpuid(Pcpu& pc, const Partition& p);
  void skip_instruction(Pcpu& pc, const cpu::vmx::ExitInfo& e);
  void crash(Partition& p, const std::string& reason);

  std::vector<Pcpu> pcpus_;
  PhysicalMemory& mem_;
  PortIoBus& io_;
  MmioBus& mmio_;
  SystemPages pages_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  PortTable ports_;
  uint64_t msr_bitmap_ = 0;  ///< one MSR bitmap for every VMCS (hypervisor-owned)
  PartitionId next_id_ = 1;
  uint64_t tsc_hz_, apic_hz_;
};

}  // namespace hvsim::hv
