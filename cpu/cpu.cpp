// Cpu API glue: run loop, reset state (Intel SDM Vol. 3A 9.1), mode tracking, save/restore,
// inspect and state hash.
#include "cpu/cpu.h"

#include <cstdio>

#include "core/error.h"
#include "core/hash.h"
#include "core/inspect.h"
#include "core/state.h"
#include "core/trace.h"
#include "cpu/cpu_impl.h"
#include "cpu/host_fp.h"
#include "cpu/timing.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

const char* to_string(RunState s) {
  switch (s) {
    case RunState::kRunning: return "running";
    case RunState::kHalted: return "halted";
    case RunState::kWaitForSipi: return "wait_for_sipi";
    case RunState::kShutdown: return "shutdown";
  }
  return "?";
}

// ---- CpuImpl ----

CpuImpl::CpuImpl(const CpuParams& params, const CpuEnv& env)
    : params_(params), env_(env), clock_(params.freq_hz), timing_(params.timing) {
  if (!env_.mem || !env_.io || !env_.mmio || !env_.tracer)
    throw InternalError("Cpu: CpuEnv needs mem, io, mmio and tracer");
  // Why: x87 and SSE arithmetic runs on the host's FPU (cpu/host_fp.h), up to SSE4.1.
  if (!hostfp::host_supported())
    throw InternalError(
        "hvsim needs a host processor with SSE4.1 (the guest's x87 and SSE "
        "arithmetic runs on the host's floating-point unit)");
  track_ = "cpu" + std::to_string(params_.index);
  listener_slot_ = std::make_shared<CpuImpl*>(this);
  lapic_ =
      std::make_unique<Lapic>(lapic_port_, env_.apic_bus,
                              LapicParams{params_.index, params_.freq_hz, params_.apic_timer_hz});
  std::weak_ptr<CpuImpl*> weak = listener_slot_;
  // Why: PhysicalMemory cannot unregister listeners, so the listener holds a weak
  // reference that dies with this processor.
  env_.mem->add_code_write_listener([weak](uint64_t pfn) {
    if (auto slot = weak.lock()) (*slot)->on_code_write(pfn);
  });
  static const bool kNeverStop = false;
  stop_ = env_.stop_flag ? env_.stop_flag : &kNeverStop;
  vmx_ = std::make_unique<vmx::Vmx>(*this);
  reset();
}

CpuImpl::~CpuImpl() = default;

uint64_t CpuImpl::LapicPort::first_cycle_at(SimTime at) const {
  uint64_t c = c_.clock_.ticks_at(at);
  while (c_.clock_.time_of(c) < at) ++c;
  return c;
}

void CpuImpl::LapicPort::wake_changed(uint64_t cycle) {
  c_.wake_deadline_ = std::min(cycle, c_.vmx_timer_deadline_);  // and the VMX timer's
}

void CpuImpl::reset() {
  s_ = ArchState{};
  s_.rip = 0xFFF0;
  s_.gpr[kRdx] = 0x600;  // family/model/stepping signature
  for (unsigned k = 0; k < kNumSegs; ++k) s_.seg[k] = SegReg{0, 0, 0xFFFF, 0x93};
  s_.seg[kCs] = SegReg{0xF000, 0xFFFF0000, 0xFFFF, 0x9B};
  s_.ldtr = SegReg{0, 0, 0xFFFF, 0x82};
  s_.tr = SegReg{0, 0, 0xFFFF, 0x8B};
  s_.gdtr = TableReg{0, 0xFFFF};
  s_.idtr = TableReg{0, 0xFFFF};
  s_.apic_base = 0xFEE00000 | (1u << 11) | (params_.index == 0 ? (1u << 8) : 0);
  run_state_ = params_.index == 0 ? RunState::kRunning : RunState::kWaitForSipi;
  shutdown_.reset();
  cycles_ = 0;
  instructions_ = 0;
  lf_op_ = LazyOp::kNone;
  dcache_.clear();
  tlb_reset_contexts();
  update_mode();
  vmx_->leave_operation();  // reset and INIT leave VMX operation
}

void CpuImpl::update_mode() {
  protected_ = (s_.cr0 & kCr0PE) != 0;
  long_mode_ = (s_.efer & kEferLMA) != 0;
  canon_shift_ = (s_.cr4 & kCr4LA57) ? 64 - spec::kLinearAddrBits57 : 64 - spec::kLinearAddrBits;
  const SegReg& cs = s_.seg[kCs];
  long64_ = long_mode_ && (cs.attr & spec::kAttrL);
  if (!protected_) {
    mode_ = DecodeMode::kReal16;
    cpl_ = 0;
  } else {
    bool d = (cs.attr & spec::kAttrDB) != 0;
    if (long64_)
      mode_ = DecodeMode::kLong64;
    else if (long_mode_)
      mode_ = d ? DecodeMode::kCompat32 : DecodeMode::kCompat16;
    else
      mode_ = d ? DecodeMode::kProt32 : DecodeMode::kProt16;
    cpl_ = s_.rflags & kFlagVM ? 3 : spec::attr_dpl(s_.seg[kSs].attr);
  }
  update_tlb_needs();
}

void CpuImpl::update_tlb_needs() {
  // Direct host access on a TLB hit needs what the slow path would check (user/supervisor,
  // SMAP/SMEP through kTlbSupData/kTlbSupFetch, write and WP) plus the host bits.
  bool user = cpl_ == 3;
  rd_need_ = need_perm(Access::kRead, user) | kTlbHostRead;
  fetch_need_ = need_perm(Access::kFetch, user) | kTlbHostRead;
  wr_need_ = need_perm(Access::kWrite, user) | kTlbHostWrite;
  if (watch_data_) {  // data breakpoints must see every access (read_lin/write_lin)
    rd_need_ |= kTlbNoDirect;
    wr_need_ |= kTlbNoDirect;
  }
}

void CpuImpl::step_one() {
  if (cycles_ >= wake_deadline_) attention_ = true;  // LAPIC timer or message due
  if (attention_) {
    materialize_flags();
    service_attention();
    if (run_state_ != RunState::kRunning) return;
  }
  step_insn();
}

void CpuImpl::step_insn() {
  dcache_.reap();
  check_protect_generation();
  const Insn* insn = nullptr;
  try {
    insn = fetch();
    next_rip_ = (s_.rip + insn->length) & (long64_ ? ~0ull : 0xFFFFFFFFull);
    if (mode_ == DecodeMode::kReal16 || mode_ == DecodeMode::kProt16 ||
        mode_ == DecodeMode::kCompat16)
      next_rip_ &= 0xFFFF;
    if (!(insn->exec & kExecLazyFlags)) materialize_flags();
    insn->handler(*this, *insn);
    s_.rip = next_rip_;
    ++instructions_;
    cycles_ += insn->cycles;
  } catch (const Fault& f) {
    if (f.soft || f.trap) {
      // INT n retired: the event is delivered with the next instruction's RIP.
      ++instructions_;
      cycles_ += insn ? insn->cycles : timing_.alu;
    }
    cycles_ += timing_.exception;
    handle_fault(f);
  }
}

void CpuImpl::run(uint64_t cycle_target) {
  for (;;) {
    if (run_state_ != RunState::kRunning) {
      if (!idle_until(cycle_target)) return;  // halted: wake on interrupt or reach target
    }
    execute(cycle_target, instruction_limit_);
    // The engine returns at the target, the instruction limit, a stop request, or when
    // the processor stops running (HLT, shutdown, wait-for-SIPI): then idle as above.
    if (run_state_ == RunState::kRunning || cycles_ >= cycle_target ||
        instructions_ >= instruction_limit_ || *stop_)
      return;
  }
}

void CpuImpl::trace(std::string_view name, std::initializer_list<TraceArg> args) {
  env_.tracer->instant(now(), track_, "cpu", name, args);
}

void CpuImpl::trace_mode_change(const char* what) {
  update_mode();
  if (env_.tracer->enabled())
    trace("mode", {{"what", what}, {"mode", to_string(mode_)}, {"rip", s_.rip}});
}

// ---- Cpu ----

Cpu::Cpu(const CpuParams& params, const CpuEnv& env)
    : impl_(std::make_unique<CpuImpl>(params, env)) {}
Cpu::~Cpu() = default;

uint64_t Cpu::cycle_at(SimTime t) const {
  const CpuImpl& c = *impl_;
  uint64_t target = c.clock_.ticks_at(t);
  while (c.clock_.time_of(target) < t) ++target;
  return target;
}

SimTime Cpu::advance(SimTime limit) {
  CpuImpl& c = *impl_;
  uint64_t target = cycle_at(limit);
  if (target > c.cycles_) c.run(target);
  return local_time();
}

SimTime Cpu::local_time() const {
  return impl_->now();
}

uint64_t Cpu::step(uint64_t n) {
  CpuImpl& c = *impl_;
  uint64_t start = c.instructions_;
  uint64_t stop = n > c.instruction_limit_ - start ? c.instruction_limit_ : start + n;
  c.execute(~uint64_t{0}, stop);
  return c.instructions_ - start;
}

ArchState& Cpu::state() {
  impl_->materialize_flags();
  return impl_->s_;
}
const ArchState& Cpu::state() const {
  impl_->materialize_flags();
  return impl_->s_;
}
void Cpu::state_changed() {
  // A caller that set IF with an interrupt pending: the next boundary delivers it.
  if (impl_->lapic_->intr_pending()) impl_->interrupts_may_open();
  impl_->update_mode();
  impl_->tlb_flush(true);
  impl_->tlb_drop_contexts();
  impl_->dcache_.clear();
  impl_->dbg_ = CpuImpl::DebugArm{};
  impl_->debug_update();
}
RunState Cpu::run_state() const {
  return impl_->run_state_;
}
void Cpu::set_run_state(RunState s) {
  impl_->run_state_ = s;
}
void Cpu::reset() {
  impl_->reset();
  impl_->vmx_->power_on_reset();
  impl_->lapic_->reset();
  impl_->irq_ = CoreInterruptState{};
}
Lapic& Cpu::lapic() {
  return *impl_->lapic_;
}
bool Cpu::can_wake() const {
  const CpuImpl& c = *impl_;
  // A guest waiting for SIPI ignores everything else (SDM Vol. 3C 27.7.2).
  if (c.vmx_non_root_ && c.run_state_ == RunState::kWaitForSipi)
    return c.irq_.sipi_vector >= 0 || c.lapic_->has_queued();
  if (c.irq_.nmi_pending && (!c.vmx_non_root_ || c.vmx_->nmi_unblocked())) return true;
  if (c.irq_.sipi_vector >= 0) return true;
  if (c.irq_.init_pending && !c.init_blocked()) return true;
  if (c.lapic_->has_queued()) return true;
  // A guest's VMX-preemption timer (not in wait-for-SIPI, SDM Vol. 3C 26.7.4).
  if (c.run_state_ != RunState::kWaitForSipi && c.vmx_->can_wake()) return true;
  // A maskable interrupt or the timer can only wake a processor that has IF set.
  if (c.run_state_ == RunState::kHalted && (c.s_.rflags & kFlagIF))
    return c.lapic_->intr_pending() || c.lapic_->timer_can_fire();
  return false;
}
uint64_t Cpu::instructions() const {
  return impl_->instructions_;
}
uint64_t Cpu::cycles() const {
  return impl_->cycles_;
}
void Cpu::set_timing(const timing::Table& t) {
  impl_->set_timing(t);
}
const timing::Table& Cpu::timing() const {
  return impl_->timing_;
}
void Cpu::set_instruction_limit(uint64_t count) {
  impl_->instruction_limit_ = count;
}
bool Cpu::instruction_limit_reached() const {
  return impl_->instructions_ >= impl_->instruction_limit_;
}
const std::optional<ShutdownInfo>& Cpu::shutdown_info() const {
  return impl_->shutdown_;
}
vmx::Vmx& Cpu::vmx() {
  return *impl_->vmx_;
}

void Cpu::cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) const {
  impl_->cpuid(leaf, subleaf, out);
}

namespace {

constexpr size_t kTlbRecord = 17;  ///< checkpoint bytes per TLB entry: tag, pa, perm

/// Visits every field of ArchState with its name; the one list save, restore and hash share.
template <typename F>
void for_each_field(ArchState& s, F&& f) {
  static const char* const kGprNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                            "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static const char* const kSegNames[kNumSegs] = {"es", "cs", "ss", "ds", "fs", "gs"};
  for (int k = 0; k < 16; ++k) f(kGprNames[k], s.gpr[k]);
  f("rip", s.rip);
  f("rflags", s.rflags);
  auto seg = [&](const std::string& n, SegReg& r) {
    uint64_t sel = r.selector, limit = r.limit, attr = r.attr;
    f((n + ".sel").c_str(), sel);
    f((n + ".base").c_str(), r.base);
    f((n + ".limit").c_str(), limit);
    f((n + ".attr").c_str(), attr);
    r.selector = static_cast<uint16_t>(sel);
    r.limit = static_cast<uint32_t>(limit);
    r.attr = static_cast<uint32_t>(attr);
  };
  for (int k = 0; k < kNumSegs; ++k) seg(kSegNames[k], s.seg[k]);
  seg("ldtr", s.ldtr);
  seg("tr", s.tr);
  uint64_t gl = s.gdtr.limit, il = s.idtr.limit;
  f("gdtr.base", s.gdtr.base);
  f("gdtr.limit", gl);
  f("idtr.base", s.idtr.base);
  f("idtr.limit", il);
  s.gdtr.limit = static_cast<uint16_t>(gl);
  s.idtr.limit = static_cast<uint16_t>(il);
  f("cr0", s.cr0);
  f("cr2", s.cr2);
  f("cr3", s.cr3);
  f("cr4", s.cr4);
  f("cr8", s.cr8);
  f("efer", s.efer);
  static const char* const kDrNames[8] = {"dr0", "dr1", "dr2", "dr3", "dr4", "dr5", "dr6", "dr7"};
  for (int k = 0; k < 8; ++k) f(kDrNames[k], s.dr[k]);
  f("star", s.star);
  f("lstar", s.lstar);
  f("cstar", s.cstar);
  f("sfmask", s.sfmask);
  f("kernel_gs_base", s.kernel_gs_base);
  f("tsc_aux", s.tsc_aux);
  f("sysenter_cs", s.sysenter_cs);
  f("sysenter_esp", s.sysenter_esp);
  f("sysenter_eip", s.sysenter_eip);
  f("pat", s.pat);
  f("apic_base", s.apic_base);
  f("misc_enable", s.misc_enable);
  f("tsc_offset", s.tsc_offset);
  static const char* const kPdpteNames[4] = {"pdpte0", "pdpte1", "pdpte2", "pdpte3"};
  for (int k = 0; k < 4; ++k) f(kPdpteNames[k], s.pdpte[k]);
  f("pending_dbg", s.pending_dbg);
  f("interruptibility", s.interruptibility);
}

/// Visits every field of the x87/MMX/SSE state and XCR0 (section "cpu<N>.fpu").
template <typename F>
void for_each_fpu_field(FpuState& p, F&& f) {
  static const char* const kStNames[8][2] = {
      {"r0.mant", "r0.se"}, {"r1.mant", "r1.se"}, {"r2.mant", "r2.se"}, {"r3.mant", "r3.se"},
      {"r4.mant", "r4.se"}, {"r5.mant", "r5.se"}, {"r6.mant", "r6.se"}, {"r7.mant", "r7.se"}};
  static const char* const kXmmNames[16][2] = {
      {"xmm0.lo", "xmm0.hi"},   {"xmm1.lo", "xmm1.hi"},   {"xmm2.lo", "xmm2.hi"},
      {"xmm3.lo", "xmm3.hi"},   {"xmm4.lo", "xmm4.hi"},   {"xmm5.lo", "xmm5.hi"},
      {"xmm6.lo", "xmm6.hi"},   {"xmm7.lo", "xmm7.hi"},   {"xmm8.lo", "xmm8.hi"},
      {"xmm9.lo", "xmm9.hi"},   {"xmm10.lo", "xmm10.hi"}, {"xmm11.lo", "xmm11.hi"},
      {"xmm12.lo", "xmm12.hi"}, {"xmm13.lo", "xmm13.hi"}, {"xmm14.lo", "xmm14.hi"},
      {"xmm15.lo", "xmm15.hi"}};
  auto narrow = [&](const char* name, auto& field) {
    uint64_t v = field;
    f(name, v);
    field = static_cast<std::remove_reference_t<decltype(field)>>(v);
  };
  for (int k = 0; k < 8; ++k) {
    f(kStNames[k][0], p.st[k].mant);
    narrow(kStNames[k][1], p.st[k].se);
  }
  narrow("fcw", p.fcw);
  narrow("fsw", p.fsw);
  narrow("ftw", p.ftw);
  narrow("fop", p.fop);
  f("fip", p.fip);
  f("fdp", p.fdp);
  narrow("fcs", p.fcs);
  narrow("fds", p.fds);
  narrow("mxcsr", p.mxcsr);
  for (int k = 0; k < 16; ++k) {
    f(kXmmNames[k][0], p.xmm[k].lo);
    f(kXmmNames[k][1], p.xmm[k].hi);
  }
  f("xcr0", p.xcr0);
}

}  // namespace

void save_arch_fields(StateWriter& w, const ArchState& s, const std::string& prefix) {
  ArchState c = s;
  for_each_field(c, [&](const char* name, uint64_t& v) { w.u64(prefix + name, v); });
  save_fpu_fields(w, s.fpu, prefix + "fpu.");
}

void restore_arch_fields(StateReader& r, ArchState& s, const std::string& prefix) {
  for_each_field(s, [&](const char* name, uint64_t& v) { v = r.u64(prefix + name); });
  restore_fpu_fields(r, s.fpu, prefix + "fpu.");
}

void save_fpu_fields(StateWriter& w, const FpuState& f, const std::string& prefix) {
  FpuState c = f;
  for_each_fpu_field(c, [&](const char* name, uint64_t& v) { w.u64(prefix + name, v); });
}

void restore_fpu_fields(StateReader& r, FpuState& f, const std::string& prefix) {
  for_each_fpu_field(f, [&](const char* name, uint64_t& v) { v = r.u64(prefix + name); });
  if (f.mxcsr & ~kMxcsrMask) throw InputError("checkpoint field " + prefix + "mxcsr: bad value");
  if ((f.xcr0 & ~kXcr0Supported) || !(f.xcr0 & kXcr0X87))
    throw InputError("checkpoint field " + prefix + "xcr0: bad value");
}

void Cpu::save(StateWriter& w) const {
  impl_->materialize_flags();
  const CpuImpl& c = *impl_;
  w.begin_section("cpu" + std::to_string(c.params_.index), 2);  // 2: the TLB
  ArchState s = c.settled_state();
  for_each_field(s, [&](const char* name, uint64_t& v) { w.u64(name, v); });
  w.u8("run_state", static_cast<uint8_t>(c.run_state_));
  w.boolean("shutdown", c.shutdown_.has_value());
  if (c.shutdown_) {
    w.u64("shutdown.rip", c.shutdown_->rip);
    w.u8("shutdown.vector", c.shutdown_->vector);
    w.str("shutdown.reason", c.shutdown_->reason);
  }
  w.u64("cycles", c.cycles_);
  w.u64("instructions", c.instructions_);
  // Why: TLB contents decide future miss and walk costs, so a restored run needs them
  // to continue with the same cycle counts. Host-access bits are recomputed on restore.
  std::vector<uint8_t> tlb((kTlbEntries + kItlbEntries) * kTlbRecord);
  for (unsigned k = 0; k < kTlbEntries + kItlbEntries; ++k) {
    const TlbEntry& e = k < kTlbEntries ? c.tlb_[k] : c.itlb_[k - kTlbEntries];
    uint8_t* p = tlb.data() + k * kTlbRecord;
    std::memcpy(p, &e.tag, 8);
    std::memcpy(p + 8, &e.pa, 8);
    p[16] = e.perm & static_cast<uint8_t>(~(kTlbHostRead | kTlbHostWrite));
  }
  w.bytes("tlb", tlb.data(), tlb.size());
  w.end_section();
  c.lapic_->save(w);
  // Why a section of its own: checkpoints written before the FPU existed stay readable.
  w.begin_section("cpu" + std::to_string(c.params_.index) + ".fpu", 1);
  FpuState fpu = c.s_.fpu;
  for_each_fpu_field(fpu, [&](const char* name, uint64_t& v) { w.u64(name, v); });
  w.end_section();
  c.vmx_->save(w, "cpu" + std::to_string(c.params_.index) + ".vmx");
  c.tlb_save_contexts(w, "cpu" + std::to_string(c.params_.index) + ".tlbctx");
}

void Cpu::restore(StateReader& r) {
  CpuImpl& c = *impl_;
  std::string name = "cpu" + std::to_string(c.params_.index);
  uint32_t version = r.begin_section(name);
  if (version != 2)
    throw InputError("checkpoint section " + name + ": unsupported version " +
                     std::to_string(version));
  ArchState s;
  for_each_field(s, [&](const char* field, uint64_t& v) { v = r.u64(field); });
  uint8_t rs = r.u8("run_state");
  if (rs > static_cast<uint8_t>(RunState::kShutdown))
    throw InputError("checkpoint section " + name + ": bad run_state");
  std::optional<ShutdownInfo> sd;
  if (r.boolean("shutdown")) {
    ShutdownInfo info;
    info.rip = r.u64("shutdown.rip");
    info.vector = r.u8("shutdown.vector");
    info.reason = r.str("shutdown.reason");
    sd = info;
  }
  uint64_t cycles = r.u64("cycles");
  uint64_t instructions = r.u64("instructions");
  std::vector<uint8_t> tlb = r.bytes("tlb");
  r.end_section();
  // Older checkpoints have no FPU section: the processor keeps its power-up FPU state.
  if (r.has_section(name + ".fpu")) {
    uint32_t fv = r.begin_section(name + ".fpu");
    if (fv != 1)
      throw InputError("checkpoint section " + name + ".fpu: unsupported version " +
                       std::to_string(fv));
    for_each_fpu_field(s.fpu, [&](const char* field, uint64_t& v) { v = r.u64(field); });
    r.end_section();
    if (s.fpu.mxcsr & ~kMxcsrMask)
      throw InputError("checkpoint section " + name + ".fpu: bad mxcsr");
    if ((s.fpu.xcr0 & ~kXcr0Supported) || !(s.fpu.xcr0 & kXcr0X87))
      throw InputError("checkpoint section " + name + ".fpu: bad xcr0");
  }
  if (tlb.size() != (kTlbEntries + kItlbEntries) * kTlbRecord)
    throw InputError("checkpoint section " + name + ": tlb has the wrong size");
  c.s_ = s;
  c.run_state_ = static_cast<RunState>(rs);
  c.shutdown_ = sd;
  c.cycles_ = cycles;
  c.instructions_ = instructions;
  state_changed();
  c.lapic_->restore(r);
  for (unsigned k = 0; k < kTlbEntries + kItlbEntries; ++k) {
    const uint8_t* p = tlb.data() + k * kTlbRecord;
    uint64_t tag, pa;
    std::memcpy(&tag, p, 8);
    std::memcpy(&pa, p + 8, 8);
    c.tlb_restore_entry(k, tag, pa, p[16]);
  }
  // Older checkpoints have no VMX section: the processor is outside VMX operation.
  if (r.has_section(name + ".vmx"))
    c.vmx_->restore(r, name + ".vmx");
  else
    c.vmx_->power_on_reset();
  c.tlb_restore_contexts(r, name + ".tlbctx");
}

void Cpu::inspect(InspectNode& node) const {
  impl_->materialize_flags();
  const CpuImpl& c = *impl_;
  node.counter("instructions", c.instructions_);
  node.counter("cycles", c.cycles_);
  // CPI in thousandths (the inspect tree holds integers).
  node.counter("cpi_milli", c.instructions_ ? c.cycles_ * 1000 / c.instructions_ : 0);
  node.value("run_state", to_string(c.run_state_));
  node.value("mode", to_string(c.mode_));
  node.value("paging", spec::to_string(c.paging_mode()));
  node.counter("cpl", c.cpl_);
  InspectNode& ex = node.child("exceptions");
  for (unsigned v = 0; v < kNumVectorsCounted; ++v) {
    if (!c.exceptions_[v]) continue;
    const char* n = spec::to_string(static_cast<spec::Vector>(v));
    std::string name = std::string(n) == "int" ? "vector" + std::to_string(v) : n;
    ex.counter(name, c.exceptions_[v]);
  }
  node.counter("software_interrupts", c.interrupts_);
  InspectNode& irq = node.child("interrupts");
  irq.counter("nmi", c.irq_.nmis);
  irq.counter("extint", c.irq_.extints);
  irq.counter("init", c.irq_.inits);
  irq.counter("sipi", c.irq_.sipis);
  InspectNode& byv = irq.child("by_vector");
  for (unsigned v = 0; v < 256; ++v)
    if (c.irq_.by_vector[v]) byv.counter("vector" + std::to_string(v), c.irq_.by_vector[v]);
  c.lapic_->inspect(node.child("lapic"));
  c.vmx_->inspect(node.child("vmx"));
  InspectNode& dc = node.child("decode_cache");
  dc.counter("hits", c.dcache_.hits);
  dc.counter("misses", c.dcache_.misses);
  dc.counter("invalidations", c.dcache_.invalidations);
  dc.counter("uncached", c.dcache_.uncached);
  // x87/SSE control and status registers, as the debugger shows them (hex).
  InspectNode& fpu = node.child("fpu");
  auto hex = [](uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  fpu.value("fcw", hex(c.s_.fpu.fcw));
  fpu.value("fsw", hex(c.s_.fpu.fsw));
  fpu.value("ftw", hex(c.s_.fpu.ftw));
  fpu.value("mxcsr", hex(c.s_.fpu.mxcsr));
  fpu.value("xcr0", hex(c.s_.fpu.xcr0));
  dc.counter("blocks", c.dcache_.size());
  dc.counter("blocks_built", c.dcache_.blocks_built);
  dc.counter("chained", c.dcache_.chained);
  dc.counter("cached_instructions", c.dcache_.cached_insns());
  dc.counter("capacity_flushes", c.dcache_.capacity_flushes);
  InspectNode& tlb = node.child("tlb");
  tlb.counter("hits", c.tlb_hits_);
  tlb.counter("misses", c.tlb_misses_);
  tlb.counter("flushes", c.tlb_flushes_);
  tlb.counter("page_walks", c.page_walks_);
  tlb.counter("walk_refs", c.walk_refs_);
}

void Cpu::hash_into(Hasher& h) const {
  impl_->materialize_flags();
  const CpuImpl& c = *impl_;
  ArchState s = c.settled_state();
  for_each_field(s, [&](const char*, uint64_t& v) { h.u64(v); });
  for_each_fpu_field(s.fpu, [&](const char*, uint64_t& v) { h.u64(v); });
  h.u64(static_cast<uint64_t>(c.run_state_));
  // Only when pending, so hashes of runs without INIT/SIPI stay as they were.
  if (c.irq_.init_pending || c.irq_.sipi_vector >= 0)
    h.u64(0x1000 | uint64_t{c.irq_.init_pending} | uint64_t(c.irq_.sipi_vector + 1) << 1);
  c.lapic_->hash_into(h);
  c.vmx_->hash_into(h);
}

}  // namespace hvsim::cpu
