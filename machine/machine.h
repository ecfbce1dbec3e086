// A whole simulated computer: processors, RAM, buses, platform devices; in bare-metal mode,
// or in hypervisor mode with hv/'s hypervisor running a child partition.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/event_queue.h"
#include "core/io_bus.h"
#include "core/phys_mem.h"
#include "core/rng.h"
#include "core/scheduler.h"
#include "core/trace.h"
#include "machine/loader/boot.h"
#include "machine/params.h"

namespace hvsim {

namespace cpu {
class Cpu;
class ApicBus;
}  // namespace cpu
namespace hv {
class Hypervisor;
struct Partition;
}  // namespace hv
namespace vmbus {
class PartitionVmbus;
namespace ic {
class IntegrationServices;
}
class Server;
struct ServerParams;
class EchoChannel;
}  // namespace vmbus
class Device;
class StateReader;
class StateWriter;
class Uart16550;
class DebugExit;
class FwCfg;
class Pic8259;
class IoApic;
class IsaIrqRouter;

/// Why Machine::run returned.
struct StopReason {
  enum class Kind {
    kDebugExit,         ///< the guest wrote `exit_value` to the debug-exit port
    kTripleFault,       ///< processor `cpu` shut down, or (hypervisor mode) the child
                        ///< partition crashed; `rip`, `message` say where and why
    kHalted,            ///< every processor halted and nothing can wake them
    kInstructionLimit,  ///< max_instructions retired (summed over processors)
    kTimeLimit,         ///< simulated time reached `until`
    kInterrupted,       ///< the host asked to stop (poll function, e.g. Ctrl-C)
    kReset,             ///< (hypervisor mode) a partition asked for a reset (HV_X64_MSR_RESET)
  };
  Kind kind = Kind::kTimeLimit;
  uint32_t exit_value = 0;
  uint32_t cpu = 0;
  uint64_t rip = 0;
  std::string message;
  /// The CLI's process exit status: odd for the guest's debug exit ((v << 1) | 1), even
  /// for the simulator's own reasons: 0 limit reached, 4 triple fault, 6 halted,
  /// 130 interrupted.
  int exit_status() const;
  /// "debug_exit", "triple_fault", "halted", "instruction_limit", "time_limit", "interrupted".
  const char* kind_name() const;
};

/// Host-side figures of a run (never part of simulated state).
struct HostStats {
  double seconds = 0;  ///< host time spent inside run()
};

/// The machine. Owns everything; single-threaded; deterministic for given parameters,
/// kernel, and host inputs fed at the same points.
class Machine {
 public:
  explicit Machine(const MachineParams& params);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  const MachineParams& params() const { return params_; }
  /// Replaces every processor's cycle-cost table (and the one checkpoints record).
  void set_timing(const cpu::timing::Table& t);

  /// Loads a kernel and modules (see load_kernel in loader/boot.h) and sets the bootstrap
  /// processor's entry state. Throws InputError on bad files.
  const BootPlan& load_kernel(const KernelSpec& spec);

  static constexpr uint64_t kNoLimit = ~uint64_t{0};
  /// Runs until the guest stops it, a processor shuts down, all processors halt for good,
  /// `max_instructions` more instructions retire, or simulated time reaches `until`.
  StopReason run(uint64_t max_instructions = kNoLimit, SimTime until = kNever);

  /// Called every `every` of simulated time during run() (host-side progress display).
  void set_progress(SimTime every, std::function<void()> fn);
  /// Called at least every millisecond of simulated time during run(); returning true ends
  /// the run with kInterrupted (host-side interruption such as Ctrl-C).
  void set_poll(std::function<bool()> fn) { poll_ = std::move(fn); }

  // Serial console (COM1): everything the guest printed, and where else it goes.
  const std::string& serial_output() const { return serial_output_; }
  void set_serial_sink(std::function<void(uint8_t)> sink) { serial_sink_ = std::move(sink); }
  /// Queues bytes for the guest to read from COM1.
  void serial_input(const std::string& bytes);

  Tracer& tracer() { return tracer_; }
  /// Simulated time: the running processor's local time inside a quantum; between runs,
  /// the furthest processor's local time.
  SimTime now() const;
  /// Instructions retired, summed over processors.
  uint64_t instructions() const;
  uint64_t cycles() const;
  const HostStats& host_stats() const { return host_; }
  /// Hash of every processor's architectural state and of RAM contents.
  uint64_t state_hash() const;
  /// The inspect tree as JSON.
  std::string inspect_json() const;

  /// Writes a checkpoint atomically; `restore` rebuilds a machine from one.
  void save(const std::string& path) const;
  static std::unique_ptr<Machine> restore(const std::string& path);

  cpu::Cpu& cpu(size_t i) { return *cpus_[i]; }
  /// The hypervisor (hypervisor mode), else nullptr.
  const hv::Hypervisor* hypervisor() const { return hv_.get(); }
  hv::Hypervisor* hypervisor() { return hv_.get(); }
  /// Hypervisor mode: a child partition `name` with `vcpus` virtual processors and `memory`
  /// bytes at GPA 0; with `kernel`, the kernel is loaded into it and VP 0 starts at its
  /// entry (the others wait for a start-up IPI). Throws InputError in bare-metal mode and
  /// for what the hypervisor refuses (a taken name, memory that does not fit).
  /// `parent` (0: the host) and `root` place it in the partition tree and give it the root
  /// privileges (hv::Hypervisor::create_partition).
  hv::Partition& create_partition(const std::string& name, uint32_t vcpus, uint64_t memory,
                                  const KernelSpec* kernel = nullptr, uint32_t parent = 0,
                                  bool root = false);
  /// Hypervisor mode: a VMBus server of the root's stack for partition `name`
  /// (devices/vmbus, docs/vmbus.md), bound to its connections 1 and 4. Throws InputError in
  /// bare-metal mode, for an unknown partition, or if it has one already.
  vmbus::Server& enable_vmbus(const std::string& name, const vmbus::ServerParams& params);
  /// The VMBus server of partition `name`, or nullptr.
  vmbus::Server* vmbus(const std::string& name);
  /// Integration services (heartbeat, shutdown, time sync; devices/vmbus/ic) on partition
  /// `name`'s VMBus server: their three offers, and a tick every `period` of simulated time
  /// that paces heartbeats and time samples. Throws InputError without a server, if the
  /// partition has them already, or for a zero period.
  vmbus::ic::IntegrationServices& enable_integration_services(const std::string& name,
                                                              SimTime period);
  /// Partition `name`'s integration services, or nullptr.
  vmbus::ic::IntegrationServices* integration_services(const std::string& name);
  /// Offers an echo channel (hvsim's test device, devices/vmbus/echo) on partition `name`'s
  /// VMBus server and drives it; returns its relid. Throws InputError without a server.
  uint32_t add_vmbus_echo(const std::string& name);
  size_t cpu_count() const { return cpus_.size(); }
  PhysicalMemory& memory() { return mem_; }
  PortIoBus& io_bus() { return io_; }
  MmioBus& mmio_bus() { return mmio_; }
  EventQueue& events() { return events_; }
  Rng& rng() { return rng_; }

 private:
  class CpuSlot;
  void add_device(std::unique_ptr<Device> dev, uint16_t first_port, uint32_t ports);
  void on_serial_byte(uint8_t b);
  BootPlan load_kernel_image(const KernelSpec& spec);
  void set_boot_entry(const BootPlan& plan);
  /// Hypervisor mode: loads the kernel into a new child partition and starts its VP there.
  BootPlan load_kernel_into_partition(const KernelSpec& spec);
  hv::Partition& create_partition_with_plan(const std::string& name, uint32_t vcpus,
                                            uint64_t memory, const KernelSpec* kernel,
                                            BootPlan* plan, uint32_t parent = 0, bool root = false);
  std::optional<StopReason> check_idle() const;
  /// Retries the waiting replies of partition `id`'s VMBus server every 10 us of simulated
  /// time (`tries` left) until they are out.
  void schedule_vmbus_retry(uint32_t id, unsigned tries);
  void vmbus_retry_fired(uint32_t id);
  /// The next integration-services tick of partition `id`, its period from now.
  void schedule_ic_tick(uint32_t id);
  void ic_tick_fired(uint32_t id);
  /// The clocks the time sync service of partition `id` samples.
  std::function<uint64_t()> ic_parent_time();
  std::function<uint64_t()> ic_reference_time(uint32_t id);
  /// Checkpoints of the VMBus servers and integration services (machine_vmbus.cpp).
  void save_vmbus(StateWriter& w) const;
  void restore_vmbus(StateReader& r);
  void add_interrupt_devices();
  /// The time of a device access: the running processor's local time, else the event
  /// queue's time (inside an event callback).
  SimTime device_time() const;

  MachineParams params_;
  PhysicalMemory mem_;
  PortIoBus io_;
  MmioBus mmio_;
  EventQueue events_;
  Scheduler scheduler_;
  Tracer tracer_;
  Rng rng_;
  std::unique_ptr<cpu::ApicBus> apic_bus_;  // before cpus_: the processors point at it
  std::vector<std::unique_ptr<cpu::Cpu>> cpus_;
  std::vector<std::unique_ptr<CpuSlot>> slots_;
  std::vector<std::unique_ptr<Device>> devices_;
  Uart16550* uart_ = nullptr;
  DebugExit* debug_exit_ = nullptr;
  Pic8259* pic_ = nullptr;
  IoApic* ioapic_ = nullptr;
  std::unique_ptr<IsaIrqRouter> isa_irq_;
  std::unique_ptr<hv::Hypervisor> hv_;  ///< hypervisor mode only
  /// VMBus servers by partition id (after hv_: they go first, removing their host ports).
  std::map<uint32_t, std::unique_ptr<vmbus::PartitionVmbus>> vmbus_;
  /// The pending VMBus events of a partition; checkpoints save their times and ids (events
  /// are not saved: core/event_queue.h) and schedule them again with the same ids.
  struct VmbusEvents {
    EventId retry = 0;  ///< the pending retry, 0: none
    SimTime retry_at = 0;
    unsigned retry_tries = 0;  ///< tries left, the pending one included
    SimTime ic_period = 0;     ///< 0: no integration services
    EventId ic_tick = 0;       ///< the pending tick, 0: none
    SimTime ic_at = 0;
    EventId monitor = 0;  ///< the pending monitor-page poll, 0: none (vmbus_monitor.cpp)
    SimTime monitor_at = 0;
  };
  std::map<uint32_t, VmbusEvents> vmbus_events_;  ///< by partition id
  /// Integration services by partition id (after vmbus_: they go first, as they hold
  /// handlers in the servers).
  std::map<uint32_t, std::unique_ptr<vmbus::ic::IntegrationServices>> ics_;
  /// Echo VSPs by partition id, then relid (after vmbus_: they go first, as ics_).
  std::map<uint32_t, std::map<uint32_t, std::unique_ptr<vmbus::EchoChannel>>> echoes_;
  std::optional<BootPlan> boot_;

  // Per-run stop bookkeeping.
  std::optional<uint32_t> exit_value_;
  uint64_t insn_budget_end_ = kNoLimit;  // absolute instruction total at which to stop
  int running_cpu_ = -1;

  std::string serial_output_;
  std::string serial_line_;  // for the trace: one record per line
  std::function<void(uint8_t)> serial_sink_;
  SimTime progress_every_ = 0;
  std::function<void()> progress_;
  std::function<bool()> poll_;
  HostStats host_;

  // VMBus monitor pages (machine/vmbus_monitor.cpp; docs/vmbus.md "Monitored channels").
  /// Schedules the next poll of partition `id`'s child->parent monitor page, one latency
  /// from now, unless one is pending.
  void start_vmbus_monitor_poll(uint32_t id);
  void vmbus_monitor_poll_fired(uint32_t id);
  /// At each run-loop step: restarts the polls that went dormant when every VP of their
  /// partition halted, once a VP runs again or a pending bit is set.
  void rearm_vmbus_monitor_polls();
  /// Some VP of partition `id` is neither halted nor waiting for a start-up IPI.
  bool partition_awake(uint32_t id) const;
};

}  // namespace hvsim
