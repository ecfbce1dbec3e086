// Machine assembly, the run loop and its stop reasons, checkpoints, inspect.
#include "machine/machine.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/state.h"
#include "cpu/cpu.h"
#include "cpu/lapic/apic_bus.h"
#include "devices/acpi_pm/acpi_pm.h"
#include "devices/debug_exit/debug_exit.h"
#include "devices/fw_cfg/fw_cfg.h"
#include "devices/ioapic/ioapic.h"
#include "devices/isa_irq.h"
#include "devices/pic8259/pic8259.h"
#include "devices/pit8254/pit8254.h"
#include "devices/rtc_cmos/rtc_cmos.h"
#include "devices/uart16550/uart16550.h"
#include "devices/vmbus/echo/echo.h"
#include "devices/vmbus/hv_transport.h"
#include "devices/vmbus/ic/services.h"
#include "hv/hypervisor.h"

namespace hvsim {

namespace {
/// The run loop checks its stop conditions at least this often (simulated time). Chunk
/// ends lie on a fixed grid, so where a run is split never changes what it computes.
constexpr SimTime kChunk = kPicosPerMilli;
constexpr uint32_t kCheckpointVersion = 2;  // 2: the timing table
}  // namespace

/// Adapts a processor to the scheduler: enforces the run's instruction budget exactly
/// (summed over processors) and turns shutdown into a stop request.
class Machine::CpuSlot : public Clocked {
 public:
  CpuSlot(Machine& m, int index) : m_(m), index_(index) {}
  SimTime advance(SimTime limit) override {
    cpu::Cpu& c = *m_.cpus_[index_];
    if (m_.insn_budget_end_ != kNoLimit) {
      uint64_t total = m_.instructions();
      if (total >= m_.insn_budget_end_) {
        m_.scheduler_.request_stop();
        return c.local_time();
      }
      c.set_instruction_limit(c.instructions() + (m_.insn_budget_end_ - total));
    } else {
      c.set_instruction_limit(cpu::Cpu::kNoLimit);
    }
    bool was_down = c.run_state() == cpu::RunState::kShutdown;
    m_.running_cpu_ = index_;
    SimTime t = m_.hv_ ? m_.hv_->advance(static_cast<uint32_t>(index_), limit) : c.advance(limit);
    m_.running_cpu_ = -1;
    if (m_.hv_ && m_.hv_->crashed_partition()) m_.scheduler_.request_stop();
    if (c.instruction_limit_reached()) m_.scheduler_.request_stop();
    // Why shutdown_info: a VMX guest's shutdown activity state does not stop the machine.
    if (!was_down && c.run_state() == cpu::RunState::kShutdown && c.shutdown_info())
      m_.scheduler_.request_stop();
    return t;
  }
  SimTime local_time() const override { return m_.cpus_[index_]->local_time(); }

 private:
  Machine& m_;
  int index_;
};

int StopReason::exit_status() const {
  switch (kind) {
    case Kind::kDebugExit: return static_cast<int>(((exit_value << 1) | 1) & 0xFF);
    case Kind::kTripleFault: return 4;
    case Kind::kHalted: return 6;
    case Kind::kInstructionLimit:
    case Kind::kTimeLimit: return 0;
    case Kind::kInterrupted: return 130;
    case Kind::kReset: return 8;
  }
  return 0;
}

const char* StopReason::kind_name() const {
  switch (kind) {
    case Kind::kDebugExit: return "debug_exit";
    case Kind::kTripleFault: return "triple_fault";
    case Kind::kHalted: return "halted";
    case Kind::kInstructionLimit: return "instruction_limit";
    case Kind::kTimeLimit: return "time_limit";
    case Kind::kInterrupted: return "interrupted";
    case Kind::kReset: return "reset";
  }
  return "unknown";
}

Machine::Machine(const MachineParams& params)
    : params_((validate(params), params)),
      mem_(params.memory),
      scheduler_(events_, params.quantum),
      rng_(params.seed) {
  apic_bus_ = std::make_unique<cpu::ApicBus>();
  for (uint32_t i = 0; i < params_.cpus; ++i) {
    cpu::CpuParams cp;
    cp.index = i;
    cp.freq_hz = params_.cpu_freq_hz;
    cp.cpu_count = params_.cpus;
    cp.timing = params_.timing;
    cpu::CpuEnv env{&mem_, &io_, &mmio_, &tracer_, scheduler_.stop_flag(), apic_bus_.get()};
    cpus_.push_back(std::make_unique<cpu::Cpu>(cp, env));
    cpus_.back()->reset();
    apic_bus_->attach(&cpus_.back()->lapic());
    if (i != 0) cpus_.back()->set_run_state(cpu::RunState::kWaitForSipi);
    slots_.push_back(std::make_unique<CpuSlot>(*this, static_cast<int>(i)));
    scheduler_.add(slots_.back().get());
  }

  auto uart = std::make_unique<Uart16550>();
  uart->set_sink([this](uint8_t b) { on_serial_byte(b); });
  uart_ = uart.get();
  add_device(std::move(uart), 0x3F8, 8);
  auto dbg = std::make_unique<DebugExit>(DebugExitParams{}, [this](uint32_t v) {
    exit_value_ = v;
    scheduler_.request_stop();
    if (tracer_.enabled())
      tracer_.instant(now(), "machine", "machine", "debug_exit", {{"value", v}});
  });
  debug_exit_ = dbg.get();
  add_device(std::move(dbg), 0xF4, 4);
  FwCfgParams fp;
  fp.ram_size = params_.memory;
  fp.cpus = static_cast<uint16_t>(params_.cpus);
  fp.max_cpus = static_cast<uint16_t>(params_.cpus);
  add_device(std::make_unique<FwCfg>(fp), 0x510, 2);
  add_interrupt_devices();
  if (params_.hyperv) {
    // The hypervisor manages RAM above the first MiB: partition memory and its own
    // structures. Every processor enters VMX root operation now.
    std::vector<cpu::Cpu*> cpus;
    for (auto& c : cpus_) cpus.push_back(c.get());
    hv::HypervisorParams hp;
    hp.system_base = uint64_t{1} << 20;
    hp.system_size = params_.memory - hp.system_base;
    hp.tsc_hz = params_.cpu_freq_hz;
    hp.apic_hz = cpu::CpuParams{}.apic_timer_hz;
    hp.testdev = params_.hyperv_testdev;
    hv_ = std::make_unique<hv::Hypervisor>(std::move(cpus), mem_, io_, mmio_, hp);
  }
}

SimTime Machine::device_time() const {
  return running_cpu_ >= 0 ? cpus_[running_cpu_]->local_time() : events_.now();
}

void Machine::add_interrupt_devices() {
  // 8259 pair -> the BSP's LINT0 (virtual wire); the BSP's INTA asks the 8259 for the vector.
  auto pic = std::make_unique<Pic8259>();
  pic_ = pic.get();
  add_device(std::move(pic), 0x20, 2);
  io_.map(0xA0, 2, pic_, "pic_slave");
  io_.map(0x4D0, 2, pic_, "pic_elcr");
  cpu::Lapic& bsp = cpus_[0]->lapic();
  pic_->set_output([&bsp](bool level) { bsp.set_lint(0, level); });
  bsp.set_extint_ack([this] { return pic_->acknowledge(); });

  // IOAPIC -> APIC bus; level-triggered EOIs come back from the LAPICs.
  auto ioapic = std::make_unique<IoApic>([this](const IoApicMessage& m) {
    cpu::ApicMessage msg;
    msg.mode = static_cast<cpu::lapic::DeliveryMode>(m.delivery_mode);
    msg.vector = m.vector;
    msg.level_triggered = m.level;
    cpu::ApicDestination d;
    d.dest = m.dest;
    d.logical = m.logical;
    apic_bus_->send(msg, d, nullptr, device_time());
  });
  ioapic_ = ioapic.get();
  mmio_.map(0xFEC00000, 0x1000, ioapic_, "ioapic");
  devices_.push_back(std::move(ioapic));
  apic_bus_->set_eoi_listener([this](uint8_t v) { ioapic_->eoi(v); });

  isa_irq_ = std::make_unique<IsaIrqRouter>(pic_, ioapic_);
  auto now = [this] { return device_time(); };
  auto pit = std::make_unique<Pit8254>(events_, now, isa_irq_->line(0));
  Pit8254* pit_ptr = pit.get();
  add_device(std::move(pit), 0x40, 4);
  io_.map(0x61, 1, pit_ptr, "pit_port61");
  RtcCmosParams rp;
  rp.start_epoch = params_.rtc_start;
  rp.memory = params_.memory;
  rp.cpus = params_.cpus;
  add_device(std::make_unique<RtcCmos>(rp, events_, now, isa_irq_->line(8)), 0x70, 2);
  AcpiPmTimerParams pp;
  add_device(std::make_unique<AcpiPmTimer>(pp, now), pp.port, 4);
}

Machine::~Machine() = default;

vmbus::Server& Machine::enable_vmbus(const std::string& name, const vmbus::ServerParams& params) {
  if (!hv_) throw InputError("vmbus: a VMBus server needs hypervisor mode (mode=\"hyperv\")");
  hv::Partition* p = hv_->find_partition(name);
  if (!p) throw InputError("vmbus: no partition named '" + name + "'");
  if (vmbus_.count(p->id)) throw InputError("vmbus: partition '" + name + "' has a server");
  auto v =
      std::make_unique<vmbus::PartitionVmbus>(*hv_, *p, params, &tracer_, [this] { return now(); });
  vmbus::Server& s = v->server();
  uint32_t id = p->id;
  s.set_queued_hook([this, id] {
    if (!vmbus_events_[id].retry) schedule_vmbus_retry(id, 1000);
  });
  s.set_monitor_hook([this, id] { start_vmbus_monitor_poll(id); });
  vmbus_.emplace(id, std::move(v));
  vmbus_events_[id];
  return s;
}

std::function<uint64_t()> Machine::ic_parent_time() {
  // Parent time: the RTC's start (Unix seconds) plus simulated time, in 100 ns since 1601.
  return [this] {
    return vmbus::ic::TimeSync::kEpochDelta +
           static_cast<uint64_t>(params_.rtc_start) * 10'000'000ull + device_time() / 100'000;
  };
}

std::function<uint64_t()> Machine::ic_reference_time(uint32_t id) {
  return [this, id]() -> uint64_t {
    const hv::Partition* p = hv_->partition_by_id(id);
    if (!p || p->vps.empty()) return 0;
    // As the hypervisor computes it: the partition's clock at the cycle count of its VP 0's
    // processor.
    const hv::VirtualProcessor& vp = p->vps.front();
    if (vp.pcpu >= cpus_.size()) return 0;
    return p->time->counter_at_tsc(cpus_[vp.pcpu]->cycles());
  };
}

vmbus::ic::IntegrationServices& Machine::enable_integration_services(const std::string& name,
                                                                     SimTime period) {
  vmbus::Server* s = vmbus(name);
  if (!s) throw InputError("vmbus: partition '" + name + "' has no VMBus server");
  if (period == 0) throw InputError("vmbus: the integration services' period must be > 0");
  uint32_t id = hv_->find_partition(name)->id;
  if (ics_.count(id)) throw InputError("vmbus: partition '" + name + "' has integration services");
  auto ics =
      std::make_unique<vmbus::ic::IntegrationServices>(*s, ic_parent_time(), ic_reference_time(id));
  vmbus::ic::IntegrationServices& r = *ics;
  r.set_trace(
      &tracer_, [this] { return now(); }, "vmbus_ic:" + name);
  ics_.emplace(id, std::move(ics));
  vmbus_events_[id].ic_period = period;
  schedule_ic_tick(id);
  return r;
}

void Machine::schedule_ic_tick(uint32_t id) {
  VmbusEvents& ev = vmbus_events_[id];
  ev.ic_at = device_time() + ev.ic_period;
  ev.ic_tick = events_.schedule(
      ev.ic_at, [this, id] { ic_tick_fired(id); }, "vmbus_ic_tick");
}

void Machine::ic_tick_fired(uint32_t id) {
  vmbus_events_[id].ic_tick = 0;
  auto it = ics_.find(id);
  if (it == ics_.end()) return;
  it->second->tick();
  schedule_ic_tick(id);
}

vmbus::ic::IntegrationServices* Machine::integration_services(const std::string& name) {
  hv::Partition* p = hv_ ? hv_->find_partition(name) : nullptr;
  if (!p) return nullptr;
  auto it = ics_.find(p->id);
  return it == ics_.end() ? nullptr : it->second.get();
}

uint32_t Machine::add_vmbus_echo(const std::string& name) {
  vmbus::Server* s = vmbus(name);
  if (!s) throw InputError("vmbus: partition '" + name + "' has no VMBus server");
  uint32_t id = hv_->find_partition(name)->id;
  auto& mine = echoes_[id];
  // Echoes whose channel is gone (rescinded and released) go first: the server hands their
  // relid out again, and the old echo must not clear the new channel's handlers.
  for (auto it = mine.begin(); it != mine.end();)
    it = s->channels().count(it->first) ? std::next(it) : mine.erase(it);
  // The instance number: one past the live echoes' (read back from their offers' instance
  // GUIDs, so that it needs no state of its own), unique among the live ones.
  uint32_t index = 0;
  for (const auto& [relid, e] : mine) {
    const uint8_t* b = s->channels().at(relid).offer.instance.b;
    uint32_t used = uint32_t{b[12]} << 24 | uint32_t{b[13]} << 16 | uint32_t{b[14]} << 8 | b[15];
    index = std::max(index, used + 1);
  }
  auto echo = vmbus::EchoChannel::offer(*s, index);
  uint32_t relid = echo->relid();
  mine[relid] = std::move(echo);
  return relid;
}

void Machine::schedule_vmbus_retry(uint32_t id, unsigned tries) {
  // Why a timed retry: the hypervisor takes 16 undelivered host messages per sender; a
  // longer burst (many offers) waits until the guest frees its SINT2 slot, which the server
  // cannot see. Simulated time keeps it deterministic; the bound keeps a guest that never
  // reads its messages from keeping the machine busy for ever.
  VmbusEvents& ev = vmbus_events_[id];
  ev.retry_at = device_time() + 10 * kPicosPerMicro;
  ev.retry_tries = tries;
  ev.retry = events_.schedule(
      ev.retry_at, [this, id] { vmbus_retry_fired(id); }, "vmbus_retry");
}

void Machine::vmbus_retry_fired(uint32_t id) {
  VmbusEvents& ev = vmbus_events_[id];
  ev.retry = 0;
  auto it = vmbus_.find(id);
  if (it == vmbus_.end()) return;
  vmbus::Server& s = it->second->server();
  s.flush();
  if (!s.queued()) return;
  if (ev.retry_tries > 1)
    schedule_vmbus_retry(id, ev.retry_tries - 1);
  else
    s.drop_queued();
}

vmbus::Server* Machine::vmbus(const std::string& name) {
  hv::Partition* p = hv_ ? hv_->find_partition(name) : nullptr;
  if (!p) return nullptr;
  auto it = vmbus_.find(p->id);
  return it == vmbus_.end() ? nullptr : &it->second->server();
}

void Machine::set_timing(const cpu::timing::Table& t) {
  params_.timing = t;
  for (auto& c : cpus_) c->set_timing(t);
}

void Machine::add_device(std::unique_ptr<Device> dev, uint16_t first_port, uint32_t ports) {
  if (PortIoHandler* h = dev->port_io()) io_.map(first_port, ports, h, std::string(dev->name()));
  devices_.push_back(std::move(dev));
}

void Machine::on_serial_byte(uint8_t b) {
  serial_output_.push_back(static_cast<char>(b));
  if (tracer_.enabled()) {
    if (b == '\n') {
      tracer_.instant(now(), "serial", "serial", "line",
                      {{"text", std::string_view(serial_line_)}});
      serial_line_.clear();
    } else if (b != '\r') {
      serial_line_.push_back(static_cast<char>(b));
    }
  }
  if (serial_sink_) serial_sink_(b);
}

void Machine::serial_input(const std::string& bytes) {
  uart_->receive(bytes);
}

SimTime Machine::now() const {
  if (running_cpu_ >= 0) return cpus_[running_cpu_]->local_time();
  // Between runs: the furthest processor (a run stopped mid-round leaves them apart).
  SimTime t = scheduler_.now();
  for (const auto& c : cpus_) t = std::max(t, c->local_time());
  return t;
}

uint64_t Machine::instructions() const {
  uint64_t n = 0;
  for (const auto& c : cpus_) n += c->instructions();
  return n;
}

uint64_t Machine::cycles() const {
  uint64_t n = 0;
  for (const auto& c : cpus_) n += c->cycles();
  return n;
}

const BootPlan& Machine::load_kernel(const KernelSpec& spec) {
  if (hv_) {
    boot_ = load_kernel_into_partition(spec);
    return *boot_;
  }
  BootPlan plan = load_kernel_image(spec);
  set_boot_entry(plan);
  boot_ = plan;
  if (tracer_.enabled())
    tracer_.instant(now(), "machine", "machine", "load_kernel",
                    {{"entry", plan.entry_point}, {"info", plan.info_addr}});
  return *boot_;
}

BootPlan Machine::load_kernel_image(const KernelSpec& spec) {
  return hvsim::load_kernel(mem_, spec);
}

namespace {

/// The registers a boot protocol leaves (loader/boot.h BootPlan) on top of `s`.
void apply_boot_state(const BootPlan& plan, cpu::ArchState& s) {
  const cpu::SegReg code32{kBootCode32Selector, 0, 0xFFFFFFFF, 0xC09B};
  const cpu::SegReg code64{kBootCode64Selector, 0, 0xFFFFFFFF, 0xA09B};
  const cpu::SegReg data{kBootDataSelector, 0, 0xFFFFFFFF, 0xC093};
  for (int i = 0; i < cpu::kNumSegs; ++i) s.seg[i] = data;
  s.gdtr = {plan.gdt_addr, 4 * 8 - 1};
  s.idtr = {0, 0};
  s.ldtr = {0, 0, 0, 0x10000};  // unusable
  s.tr = {0, 0, 0xFFFF, 0x8B};  // busy 32-bit TSS, as after reset
  s.rflags = 2;
  s.gpr[cpu::kRax] = 0x2BADB002;
  s.gpr[cpu::kRbx] = plan.info_addr;
  s.rip = plan.entry_point;
  if (plan.entry == BootPlan::Entry::kMultiboot32) {
    s.seg[cpu::kCs] = code32;
    s.cr0 = cpu::kCr0PE | cpu::kCr0ET;
    s.cr4 = 0;
    s.efer = 0;
  } else {
    s.seg[cpu::kCs] = code64;
    s.cr0 = cpu::kCr0PE | cpu::kCr0ET | cpu::kCr0WP | cpu::kCr0PG;
    s.cr3 = plan.pml4_addr;
    s.cr4 = cpu::kCr4PAE;
    s.efer = cpu::kEferLME | cpu::kEferLMA;
    s.gpr[cpu::kRsp] = plan.stack_top;
    s.gpr[cpu::kRdi] = plan.info_addr;
  }
}

}  // namespace

void Machine::set_boot_entry(const BootPlan& plan) {
  cpu::Cpu& c = *cpus_[0];
  c.reset();
  apply_boot_state(plan, c.state());
  c.state_changed();
  c.set_run_state(cpu::RunState::kRunning);
}

BootPlan Machine::load_kernel_into_partition(const KernelSpec& spec) {
  if (hv_->find_partition("child"))
    throw InputError("hypervisor mode: a kernel is already loaded in the child partition");
  uint64_t size =
      params_.partition_memory ? params_.partition_memory : (params_.memory / 2) & ~uint64_t{0xFFF};
  // The child gets a virtual processor per physical CPU (VP 0 boots, the others wait for
  // their start-up IPI as application processors do).
  BootPlan plan;
  create_partition_with_plan("child", static_cast<uint32_t>(cpus_.size()), size, &spec, &plan);
  return plan;
}

hv::Partition& Machine::create_partition(const std::string& name, uint32_t vcpus, uint64_t memory,
                                         const KernelSpec* kernel, uint32_t parent, bool root) {
  if (!hv_) throw InputError("partition '" + name + "': partitions exist only in hypervisor mode");
  BootPlan plan;
  return create_partition_with_plan(name, vcpus, memory, kernel, &plan, parent, root);
}

hv::Partition& Machine::create_partition_with_plan(const std::string& name, uint32_t vcpus,
                                                   uint64_t memory, const KernelSpec* kernel,
                                                   BootPlan* plan, uint32_t parent, bool root) {
  // Why a scratch memory: the loaders write guest-physical memory; the partition's is
  // scattered over system pages. The kernel is loaded (and checked) before the partition
  // exists, so a bad kernel leaves nothing behind; only the pages it touched are copied.
  std::unique_ptr<PhysicalMemory> scratch;
  if (kernel) {
    scratch = std::make_unique<PhysicalMemory>(memory);
    *plan = hvsim::load_kernel(*scratch, *kernel);
  }
  hv::Partition& p = hv_->create_partition(name, memory, vcpus, parent, root);
  if (kernel) {
    for (uint64_t pfn : scratch->touched_list()) {
      uint64_t gpa = pfn << PhysicalMemory::kPageShift;
      hv_->write_guest(p, gpa, scratch->read_ptr(gpa), PhysicalMemory::kPageSize);
    }
    cpu::ArchState s;
    apply_boot_state(*plan, s);
    hv_->set_vp_state(p, 0, s);
    if (tracer_.enabled())
      tracer_.instant(now(), "machine", "machine", "load_kernel",
                      {{"entry", plan->entry_point}, {"partition", p.id}});
  }
  return p;
}

void Machine::set_progress(SimTime every, std::function<void()> fn) {
  progress_every_ = every;
  progress_ = std::move(fn);
}

std::optional<StopReason> Machine::check_idle() const {
  if (hv_) {
    // Hypervisor mode: the virtual processors decide (their LAPICs are the hypervisor's).
    hv::Hypervisor::Activity a = hv_->activity();
    if (a == hv::Hypervisor::Activity::kBusy) return std::nullopt;
    bool device = a == hv::Hypervisor::Activity::kDeviceCanWake;
    // Why not count the integration-services ticks of partitions whose channels are not
    // ready: such a tick does nothing and only the guest can change that. Why keep them
    // scheduled instead of cancelling them: events end scheduler rounds, and a tick that
    // came and went would move the rounds and so the interleaving of processors.
    size_t idle_ticks = 0;
    for (const auto& [id, ics] : ics_)
      if (ics->idle()) ++idle_ticks;
    if (device && events_.pending() > idle_ticks) return std::nullopt;
    StopReason r;
    r.kind = StopReason::Kind::kHalted;
    r.message = device ? "every virtual processor halted and no event can wake them"
                       : "every virtual processor halted with interrupts disabled";
    return r;
  }
  bool any_halted_with_if = false;
  for (const auto& c : cpus_) {
    if (c->can_wake()) return std::nullopt;  // LAPIC timer, queued IPI, NMI/INIT/SIPI
    switch (c->run_state()) {
      case cpu::RunState::kRunning: return std::nullopt;
      case cpu::RunState::kHalted:
        if (c->state().rflags & cpu::kFlagIF) any_halted_with_if = true;
        break;
      case cpu::RunState::kWaitForSipi:
      case cpu::RunState::kShutdown: break;
    }
  }
  // A halted processor with IF=1 can still be woken by a device event (PIT, RTC) through
  // the PIC or IOAPIC; with no event pending and no LAPIC able to fire (checked above) the
  // machine is idle for good.
  if (any_halted_with_if && events_.pending() > 0) return std::nullopt;
  StopReason r;
  r.kind = StopReason::Kind::kHalted;
  r.rip = cpus_[0]->state().rip;
  r.message = any_halted_with_if ? "all processors halted and no event can wake them"
                                 : "all processors halted with interrupts disabled";
  return r;
}

StopReason Machine::run(uint64_t max_instructions, SimTime until) {
  auto host_start = std::chrono::steady_clock::now();
  struct HostTimer {
    HostStats& stats;
    std::chrono::steady_clock::time_point start;
    ~HostTimer() {
      stats.seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  } timer{host_, host_start};

  exit_value_.reset();
  uint64_t total = instructions();
  insn_budget_end_ = max_instructions == kNoLimit || max_instructions > kNoLimit - total
                         ? kNoLimit
                         : total + max_instructions;
  auto shutdown_stop = [&]() -> std::optional<StopReason> {
    for (size_t i = 0; i < cpus_.size(); ++i) {
      const auto& info = cpus_[i]->shutdown_info();
      if (cpus_[i]->run_state() == cpu::RunState::kShutdown && info) {
        StopReason r;
        r.kind = StopReason::Kind::kTripleFault;
        r.cpu = static_cast<uint32_t>(i);
        r.rip = info->rip;
        r.message = info->reason;
        return r;
      }
    }
    return std::nullopt;
  };
  SimTime next_progress =
      progress_every_ ? (scheduler_.position() / progress_every_ + 1) * progress_every_ : kNever;

  auto partition_stop = [&]() -> std::optional<StopReason> {
    const hv::Partition* p = hv_ ? hv_->crashed_partition() : nullptr;
    if (!p) return std::nullopt;
    StopReason r;
    r.kind = p->reset_requested ? StopReason::Kind::kReset : StopReason::Kind::kTripleFault;
    r.cpu = p->vps.empty() ? 0 : p->vps[0].pcpu;
    r.message = "partition '" + p->name + "' " +
                (p->reset_requested ? p->crash_reason : "crashed: " + p->crash_reason);
    return r;
  };

  for (;;) {
    if (auto r = shutdown_stop()) return *r;
    if (auto r = partition_stop()) return *r;
    if (insn_budget_end_ != kNoLimit && instructions() >= insn_budget_end_)
      return StopReason{StopReason::Kind::kInstructionLimit, 0, 0, 0, {}};
    if (scheduler_.position() >= until)
      return StopReason{StopReason::Kind::kTimeLimit, 0, 0, 0, {}};
    rearm_vmbus_monitor_polls();
    if (auto r = check_idle()) return *r;

    SimTime chunk_end = (scheduler_.position() / kChunk + 1) * kChunk;
    chunk_end = std::min({chunk_end, until, next_progress});
    scheduler_.run(chunk_end);

    if (exit_value_) {
      StopReason r;
      r.kind = StopReason::Kind::kDebugExit;
      r.exit_value = *exit_value_;
      r.rip = cpus_[0]->state().rip;
      return r;
    }
    if (poll_ && poll_()) return StopReason{StopReason::Kind::kInterrupted, 0, 0, 0, {}};
    if (progress_ && scheduler_.position() >= next_progress) {
      progress_();
      next_progress = (scheduler_.position() / progress_every_ + 1) * progress_every_;
    }
  }
}

uint64_t Machine::state_hash() const {
  Hasher h;
  for (const auto& c : cpus_) c->hash_into(h);
  mem_.hash_into(h);
  if (hv_) hv_->hash_into(h);
  return h.digest();
}

std::string Machine::inspect_json() const {
  InspectNode root;
  InspectNode& m = root.child("machine");
  m.counter("cpus", params_.cpus);
  m.counter("memory", params_.memory);
  m.counter("seed", params_.seed);
  m.counter("sim_time_ps", now());
  m.counter("instructions", instructions());
  m.counter("cycles", cycles());
  for (size_t i = 0; i < cpus_.size(); ++i)
    cpus_[i]->inspect(root.child("cpu" + std::to_string(i)));
  InspectNode& mem = root.child("memory");
  mem.counter("size", mem_.size());
  mem.counter("touched_pages", mem_.touched_pages());
  io_.inspect(root.child("port_io"));
  mmio_.inspect(root.child("mmio"));
  InspectNode& devs = root.child("devices");
  for (const auto& d : devices_) d->inspect(devs.child(d->name()));
  InspectNode& ev = root.child("events");
  ev.counter("pending", events_.pending());
  ev.counter("fired", events_.fired());
  root.child("trace").counter("records", tracer_.records());
  if (hv_) hv_->inspect(root.child("hypervisor"));
  if (!vmbus_.empty()) {
    InspectNode& vb = root.child("vmbus");
    for (const auto& [id, v] : vmbus_) {
      const hv::Partition* p = hv_->partition_by_id(id);
      InspectNode& pn = vb.child(p ? p->name : "partition" + std::to_string(id));
      v->server().inspect(pn);
      auto ic = ics_.find(id);
      if (ic != ics_.end()) ic->second->inspect(pn.child("ic"));
      auto ec = echoes_.find(id);
      if (ec != echoes_.end())
        for (const auto& [relid, e] : ec->second)
          e->inspect(pn.child("channels").child(std::to_string(relid)).child("echo"));
    }
  }
  return root.to_json();
}

void Machine::save(const std::string& path) const {
  StateWriter w;
  w.begin_section("machine", kCheckpointVersion);
  w.u32("cpus", params_.cpus);
  w.u64("memory", params_.memory);
  w.u64("seed", params_.seed);
  w.u64("cpu_freq_hz", params_.cpu_freq_hz);
  w.u64("quantum", params_.quantum);
  w.u64("rtc_start", static_cast<uint64_t>(params_.rtc_start));
  for (const auto& e : cpu::timing::entries())
    w.u32(std::string("timing.") + e.name, params_.timing.*e.field);
  w.u64("now", events_.now());
  w.u64("event_seq", events_.next_seq());
  w.u64("round_end", scheduler_.round_end());
  w.bytes("rng", rng_.state(), 4 * sizeof(uint64_t));
  w.end_section();

  w.begin_section("memory", 1);
  std::vector<uint64_t> pages = mem_.touched_list();
  std::vector<uint8_t> blob(pages.size() * (8 + PhysicalMemory::kPageSize));
  uint8_t* p = blob.data();
  for (uint64_t pfn : pages) {
    std::memcpy(p, &pfn, 8);
    std::memcpy(p + 8, mem_.read_ptr(pfn << PhysicalMemory::kPageShift), PhysicalMemory::kPageSize);
    p += 8 + PhysicalMemory::kPageSize;
  }
  w.u64("page_count", pages.size());
  w.bytes("pages", blob.data(), blob.size());
  w.end_section();

  for (const auto& c : cpus_) c->save(w);
  for (const auto& d : devices_) d->save(w);
  if (hv_) {
    // Hypervisor mode: the parameters that rebuild the hypervisor, then its state
    // (hv/checkpoint.cpp). Observers and Python callbacks are host-side: not saved.
    w.begin_section("machine.hyperv", 1);
    w.u64("partition_memory", params_.partition_memory);
    w.boolean("testdev", params_.hyperv_testdev);
    w.end_section();
    hv_->save(w);
    save_vmbus(w);
  }
  w.write_file(path);
}

std::unique_ptr<Machine> Machine::restore(const std::string& path) {
  StateReader r = StateReader::read_file(path);
  uint32_t version = r.begin_section("machine");
  if (version != kCheckpointVersion)
    throw InputError("checkpoint '" + path + "': machine section version " +
                     std::to_string(version) + " is not supported (expected " +
                     std::to_string(kCheckpointVersion) + ")");
  MachineParams p;
  p.cpus = r.u32("cpus");
  p.memory = r.u64("memory");
  p.seed = r.u64("seed");
  p.cpu_freq_hz = r.u64("cpu_freq_hz");
  p.quantum = r.u64("quantum");
  p.rtc_start = static_cast<int64_t>(r.u64("rtc_start"));
  for (const auto& e : cpu::timing::entries())
    p.timing.*e.field = r.u32(std::string("timing.") + e.name);
  SimTime now = r.u64("now");
  uint64_t seq = r.u64("event_seq");
  SimTime round_end = r.u64("round_end");
  uint64_t rng_state[4];
  r.bytes_into("rng", rng_state, sizeof rng_state);
  r.end_section();
  if (r.has_section("machine.hyperv")) {
    if (uint32_t v = r.begin_section("machine.hyperv"); v != 1)
      throw InputError("checkpoint '" + path + "': machine.hyperv section version " +
                       std::to_string(v) + " is not supported");
    p.hyperv = true;
    p.partition_memory = r.u64("partition_memory");
    p.hyperv_testdev = r.boolean("testdev");
    r.end_section();
  }
  try {
    validate(p);
  } catch (const InputError& e) {
    throw InputError("checkpoint '" + path + "': " + e.what());
  }

  auto m = std::make_unique<Machine>(p);
  m->events_.restore_clock(now, seq);
  m->scheduler_.restore_round(round_end);
  m->rng_.set_state(rng_state);

  r.begin_section("memory");
  uint64_t count = r.u64("page_count");
  std::vector<uint8_t> blob = r.bytes("pages");
  if (blob.size() != count * (8 + PhysicalMemory::kPageSize))
    throw InputError("checkpoint '" + path +
                     "': memory section size does not match its page count");
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* e = blob.data() + i * (8 + PhysicalMemory::kPageSize);
    uint64_t pfn;
    std::memcpy(&pfn, e, 8);
    if (pfn >= m->mem_.page_count())
      throw InputError("checkpoint '" + path + "': memory page " + std::to_string(pfn) +
                       " lies outside RAM");
    m->mem_.write(pfn << PhysicalMemory::kPageShift, e + 8, PhysicalMemory::kPageSize);
  }
  r.end_section();
  for (auto& c : m->cpus_) c->restore(r);
  for (auto& d : m->devices_) d->restore(r);
  if (m->hv_) {
    try {
      m->hv_->restore(r);
      m->restore_vmbus(r);
    } catch (const InputError& e) {
      throw InputError("checkpoint '" + path + "': " + e.what());
    }
  }
  return m;
}

}  // namespace hvsim
