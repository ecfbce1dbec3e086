// The processor's internal state and shared helpers for the executor: operand access,
// segmented and paged memory access, stack, flags (Intel SDM Vol. 1 ch. 3, Vol. 3A ch. 3-6).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include "core/io_bus.h"
#include "core/phys_mem.h"
#include "core/time.h"
#include "core/trace.h"
#include "cpu/cpu.h"
#include "cpu/decoder.h"
#include "cpu/flags.h"
#include "cpu/lapic/lapic.h"
#include "cpu/spec/debug.h"
#include "cpu/spec/descriptors.h"
#include "cpu/spec/exceptions.h"
#include "cpu/spec/paging.h"
#include "cpu/state.h"
#include "cpu/timing.h"

namespace hvsim::cpu {

namespace vmx {
class Vmx;
}

/// An exception raised while executing an instruction; thrown, caught by the step loop,
/// which delivers it. Nothing of the faulting instruction has been committed.
struct Fault {
  uint8_t vector;
  bool has_error;
  uint32_t error;
  bool soft = false;  ///< INT n / INT3 / INTO: delivered after the instruction retires
  /// Trap-class hardware exception (ICEBP, #DB traps): delivered with the next
  /// instruction's address, without forcing RF in the saved RFLAGS (SDM 17.3.1.1).
  bool trap = false;
  /// What the exception reports in a register when it is delivered: #PF the faulting
  /// linear address (CR2), #DB the DR6 bits (B0-B3, BD, BS). Written by handle_fault at
  /// delivery, not when raised: an exception that causes a VM exit changes neither CR2 nor
  /// DR6 and reports this in the exit qualification (SDM Vol. 3C 28.1, 28.2.1).
  uint64_t payload = 0;
  /// INT1/ICEBP: a privileged software exception for VMX (SDM Vol. 3C 25.9.2).
  bool icebp = false;
};

/// Not an exception: the vector of the Fault that unwinds an instruction for an
/// EPT-induced VM exit (cpu/vmx/ept.cpp); handle_fault performs the exit.
constexpr uint8_t kVmExitVector = 0xFF;

[[noreturn]] inline void raise_fault(spec::Vector v, uint32_t error = 0) {
  uint8_t n = static_cast<uint8_t>(v);
  throw Fault{n, spec::has_error_code(n), error};
}
[[noreturn]] inline void raise_ud() {
  raise_fault(spec::Vector::kUD);
}
[[noreturn]] inline void raise_gp(uint32_t error = 0) {
  raise_fault(spec::Vector::kGP, error);
}

enum class Access : uint8_t { kRead, kWrite, kFetch };

/// One software-TLB entry: a 4 KiB translation with the permissions of the whole walk.
/// RAM pages also carry the host address of the page, so hits go straight to host memory:
/// reads whenever kTlbHostRead is set, writes only with kTlbHostWrite, which is granted
/// once the page is already marked touched and dirty and holds no decoded code (so a
/// direct write needs no PhysicalMemory::note_write), and revoked when that changes
/// (PhysicalMemory::protect_generation()).
struct TlbEntry {
  uint64_t tag = ~0ull;     ///< linear page number; ~0 = invalid
  uint64_t pa = 0;          ///< physical page address
  uint8_t* host = nullptr;  ///< host address of the page (RAM only)
  uint16_t perm = 0;        ///< kTlb* bits
};
/// TLB entry permission bits: what every access through the entry may do.
constexpr uint16_t kTlbUser = 1, kTlbWrite = 2, kTlbExec = 4, kTlbDirty = 8, kTlbGlobal = 16;
/// Supervisor data access / fetch allowed without SMAP / SMEP checks (a supervisor page, or
/// the feature off); without it supervisor accesses take the slow path, which decides.
constexpr uint16_t kTlbSupData = 32, kTlbSupFetch = 64;
/// Cached from a 2 MiB / 4 MiB / 1 GiB page (INVLPG must drop all of its 4 KiB entries).
constexpr uint16_t kTlbLarge = 128;
/// The page is RAM and may be read / written directly through TlbEntry::host.
constexpr uint16_t kTlbHostRead = 256, kTlbHostWrite = 512;
/// Never set in an entry: adding it to rd_need_/wr_need_ (update_tlb_needs) sends every
/// data access through read_lin/write_lin's slow path and disables bulk REP copies, for
/// features that must see each access (data breakpoints).
constexpr uint16_t kTlbNoDirect = 1024;
constexpr unsigned kTlbEntries = 1024;
/// TLB slot of a tag (linear page number ^ tlb_ctx_salt, see kTlbCtxShift): direct-mapped
/// with a folded index, so that pages a power-of-two distance apart (source and destination
/// buffers) do not evict each other.
inline unsigned tlb_index(uint64_t tag) {
  return static_cast<unsigned>((tag ^ (tag >> 10)) & (kTlbEntries - 1));
}
/// The instruction TLB: instruction fetches only, so data accesses never evict the code
/// page of the running block and a block needs one fetch translation however it is split.
constexpr unsigned kItlbEntries = 128;
inline unsigned itlb_index(uint64_t tag) {
  return static_cast<unsigned>((tag ^ (tag >> 7)) & (kItlbEntries - 1));
}
/// Length of the log of filled TLB slots (CpuImpl::tlb_fill_).
constexpr unsigned kTlbFillLog = 64;
/// TLB contexts (tlb_context.cpp): entries of up to kTlbContexts (VPID, EP4TA) contexts
/// share the TLB. An entry's tag is its linear page number XOR its context's salt: the
/// slot number in bits 54:52 (a linear page number has at most 52 bits, so tags of two
/// contexts never match) and again in bits 9:7, which moves the entries of one linear page
/// in different contexts (root's and a guest's kernel at the same addresses) to different
/// TLB slots. Slot 0 (salt 0) is VPID 0: root operation and guests without VPID.
constexpr unsigned kTlbContexts = 8;
constexpr unsigned kTlbCtxShift = 52;
constexpr uint64_t tlb_ctx_salt(unsigned slot) {
  return (uint64_t{slot} << kTlbCtxShift) | (uint64_t{slot} << 7);
}
/// Context keys (tlb_context_key): root operation (VPID 0) is 0; ~0 marks a free slot.
constexpr uint64_t kTlbRootContext = 0, kTlbNoContext = ~0ull;
/// The running guest has no VPID: it shares VPID 0's slot, flushed on entry and exit
/// (SDM 29.4.3.3).
constexpr uint64_t kTlbUntaggedContext = ~1ull;
/// Key of the linear/combined mappings of `vpid` (nonzero) and, with EPT, the EP4TA
/// (EPTP bits 39:12, MAXPHYADDR 40; SDM 29.4.2): VPID in bits 55:40, EP4TA in 39:12,
/// bit 0 = EPT on. Guest keys are nonzero with bits 63:56 clear.
constexpr uint64_t kTlbKeyEp4ta = 0x000000FFFFFFF000ull;
constexpr unsigned kTlbKeyVpidShift = 40;
inline uint64_t tlb_context_key(uint16_t vpid, bool ept, uint64_t eptp) {
  uint64_t k = static_cast<uint64_t>(vpid) << kTlbKeyVpidShift;
  return ept ? k | (eptp & kTlbKeyEp4ta) | 1 : k;
}
/// Host address and direct-access bits (kTlbHostRead/Write) of the physical page at
/// `page_pa`; *host = nullptr outside RAM (paging.cpp).
uint16_t tlb_host_access(PhysicalMemory& mem, uint64_t page_pa, uint8_t** host);

/// How the arithmetic flags of the last flag-setting instruction are kept until read
/// (lazy flags): the operation, its operands and result; kNone = RFLAGS holds them.
enum class LazyOp : uint8_t { kNone, kAdd, kAdc, kSub, kSbb, kLogic, kInc, kDec, kShl, kShr, kSar };

/// A field the block engine must notice at the next instruction boundary (attention_,
/// wake_deadline_): every assignment also sets *poll (CpuImpl::poll_cycle_) to 0, so the
/// engine's one per-instruction compare fails and it looks at everything. Reads are plain.
template <typename T>
class BoundaryValue {
 public:
  BoundaryValue(T v, uint64_t* poll) : v_(v), poll_(poll) {}
  BoundaryValue(const BoundaryValue&) = delete;
  BoundaryValue& operator=(const BoundaryValue&) = delete;
  BoundaryValue& operator=(T v) {
    v_ = v;
    *poll_ = 0;
    return *this;
  }
  operator T() const { return v_; }

 private:
  T v_;
  uint64_t* poll_;
};

constexpr unsigned kNumVectorsCounted = 32;

class CpuImpl {
 public:
  CpuImpl(const CpuParams& params, const CpuEnv& env);
  ~CpuImpl();

  // ---- run loop (cpu.cpp) ----
  /// Runs until cycles_ >= cycle_target, the instruction limit, a stop, HLT or shutdown.
  void run(uint64_t cycle_target);
  /// Executes one instruction (or delivers the exception it raised) without the block
  /// cache: the path for code the block cache cannot hold (MMIO, instructions crossing a
  /// page, CS-limit edges).
  void step_one();
  /// step_one without the instruction-boundary work (the caller did it).
  void step_insn();
  /// The block engine (block_exec.cpp): runs decoded blocks until cycles_ >= cycle_target,
  /// instructions_ >= insn_stop, a stop request, or the processor stops running. Checks
  /// attention_, the stop flag and both limits after every instruction.
  void execute(uint64_t cycle_target, uint64_t insn_stop);
  /// Runs the instructions of `b` from the current RIP (its first instruction), and the
  /// blocks chained after it. kLimit: insn_stop is an instruction limit to check.
  template <bool kLimit>
  void run_block(const Block& b, uint64_t cycle_target, uint64_t insn_stop);
  /// The engine's slow boundary test, run when cycles_ reached poll_cycle_: true if the
  /// block must end here (attention, stop, stale block, cycle target, wake deadline);
  /// otherwise re-arms poll_cycle_ and returns false.
  bool boundary_due(const Block& b, uint64_t cycle_target);
  /// Sets poll_cycle_ for the run up to `cycle_target`: 0 if attention_ is raised or the
  /// instruction limit (insn_stop_) is near enough to fall inside a block.
  void arm_poll(uint64_t cycle_target) {
    uint64_t wake = wake_deadline_;
    bool near_limit = insn_stop_ - instructions_ <= 2 * kMaxBlockInsns;
    poll_cycle_ = attention_ || near_limit ? 0 : cycle_target < wake ? cycle_target : wake;
  }
  /// Looks up (or decodes) the block at the current RIP; nullptr if it must be stepped
  /// by step_one. Raises the fetch's #PF/#GP.
  const Block* lookup_block();
  /// Decodes the block starting at physical address `pa` in the current mode.
  const Block* build_block(uint64_t pa);
  /// Called by PhysicalMemory when a page holding decoded code is written.
  void on_code_write(uint64_t pfn);
  /// Replaces the timing table; decoded blocks are dropped (they carry cycle costs).
  void set_timing(const timing::Table& t);
  /// Fills the cost and execution bits of a freshly decoded instruction.
  void finish_decode(Insn& i) const;
  void reset();
  /// Recomputes the decode mode, CPL and paging mode from the registers.
  void update_mode();

  // ---- fetch/decode (decoder.cpp) ----
  const Insn* fetch();

  // ---- paging (paging.cpp) ----
  /// Translates a linear address; throws #PF (and sets CR2) on failure.
  /// The TLB slot of tag `tag` for an access of kind `acc` (fetches: the ITLB).
  TlbEntry& tlb_slot(uint64_t tag, Access acc) {
    return acc == Access::kFetch ? itlb_[itlb_index(tag)] : tlb_[tlb_index(tag)];
  }
  /// The tag an entry for linear address `la` has in the running TLB context.
  uint64_t tlb_tag(uint64_t la) const { return (la >> 12) ^ tlb_tag_bits_; }
  /// `implicit`: an implicit supervisor-mode access (descriptor tables, TSS; SMAP ignores
  /// EFLAGS.AC).
  uint64_t translate(uint64_t la, Access acc, bool user, bool implicit = false) {
    const TlbEntry& e = tlb_slot(tlb_tag(la), acc);
    if (e.tag == tlb_tag(la)) {
      uint16_t need = need_perm(acc, user);
      if ((e.perm & need) == need) {
        ++tlb_hits_;
        return e.pa | (la & 0xFFF);
      }
    }
    return translate_slow(la, acc, user, implicit);
  }
  uint64_t translate_slow(uint64_t la, Access acc, bool user, bool implicit = false);
  /// Drops the host-write permission of every TLB entry when PhysicalMemory's protection
  /// generation moved (a page became a code page, dirty bits were cleared).
  void check_protect_generation() {
    if (env_.mem->protect_generation() != protect_gen_) revoke_host_writes();
  }
  void revoke_host_writes();
  /// Reloads TLB entry `k` (k >= kTlbEntries: ITLB entry k - kTlbEntries) from a
  /// checkpoint (host-access bits are recomputed).
  void tlb_restore_entry(unsigned k, uint64_t tag, uint64_t pa, uint16_t perm);
  /// After a slow-path write of [la, la+size): grants the TLB entry direct host writes if
  /// the page now qualifies (RAM, touched, dirty, not code).
  void grant_host_write(uint64_t la);
  /// Permission bits a TLB hit needs for a direct host access (ordinary, non-system).
  uint16_t host_need(Access acc, bool sys) const {
    if (!sys)
      return acc == Access::kWrite ? wr_need_ : acc == Access::kFetch ? fetch_need_ : rd_need_;
    return need_perm(acc, false) | (acc == Access::kWrite ? kTlbHostWrite : kTlbHostRead);
  }
  /// Recomputes rd_need_/wr_need_/fetch_need_ (mode, CR0.WP, data breakpoints).
  void update_tlb_needs();
  uint16_t need_perm(Access acc, bool user) const {
    uint16_t need = user ? kTlbUser : acc == Access::kFetch ? kTlbSupFetch : kTlbSupData;
    if (acc == Access::kWrite) need |= kTlbDirty | ((user || (s_.cr0 & kCr0WP)) ? kTlbWrite : 0);
    if (acc == Access::kFetch) need |= kTlbExec;
    return need;
  }
  /// Invalidates the running context's entries (all, or all but global ones).
  void tlb_flush(bool include_global);
  /// Invalidates the running context's entries for `la` (and its large-page pieces).
  void tlb_flush_page(uint64_t la);
  /// Records that TLB slot `k` (k >= kTlbEntries: ITLB slot k - kTlbEntries) was filled,
  /// so tlb_flush visits only filled slots (see tlb_fill_).
  void note_tlb_fill(unsigned k) {
    if (tlb_fills_ < kTlbFillLog) tlb_fill_[tlb_fills_] = static_cast<uint16_t>(k);
    if (tlb_fills_ <= kTlbFillLog) ++tlb_fills_;
  }
  // ---- TLB contexts (tlb_context.cpp) ----
  /// VM entry / exit: makes `key` the running context (its slot, else a free or the least
  /// recently used one, emptied). Entering or leaving kTlbUntaggedContext (no VPID)
  /// flushes VPID 0's entries (SDM 29.4.3.3).
  void tlb_switch_context(uint64_t key);
  /// Invalidates the entries of context slot `ctx`: those of linear address `la` (and
  /// large-page pieces), or (la = ~0) all, or with `keep_global` all but global ones.
  void tlb_flush_context(unsigned ctx, uint64_t la, bool keep_global);
  /// INVVPID / INVEPT on every guest context (running or not) whose key k has
  /// (k & mask) == value: `la` != ~0: the entries of that linear address; else all
  /// entries, or with `keep_global` all but global ones (SDM Vol. 2 "INVVPID", "INVEPT").
  void tlb_invalidate_contexts(uint64_t mask, uint64_t value, uint64_t la, bool keep_global);
  /// Reset: every context dropped, root operation (slot 0) running.
  void tlb_reset_contexts();
  /// Drops every context but the running one (state set through the API).
  void tlb_drop_contexts();
  void tlb_save_contexts(StateWriter& w, const std::string& section) const;
  void tlb_restore_contexts(StateReader& r, const std::string& section);
  /// In VMX non-root operation with "enable EPT": guest-physical addresses go through EPT.
  bool ept_active() const { return vmx_non_root_ && vmx_ept_; }
  spec::PagingMode paging_mode() const;

  // ---- paging-structure walk (paging_walk.cpp) ----
  /// Result of a successful walk: the physical address and the TLB permission bits.
  struct WalkResult {
    uint64_t pa;
    uint16_t perm;
  };
  /// Walks the paging structures (SDM 4.3-4.6), setting A/D bits; raises #PF with the
  /// exact error code and CR2 on failure. Counts the entries it reads in last_walk_refs_.
  WalkResult walk(uint64_t la, Access acc, bool user, bool implicit);
  /// Loads the four PAE PDPTEs from CR3 (SDM 4.4.1); false if a present one has reserved
  /// bits set (the MOV to CR0/CR3/CR4 then raises #GP(0) and changes nothing).
  bool load_pdptes(uint64_t cr3, uint64_t out[4]);
  /// The current PCID (0 unless CR4.PCIDE).
  uint16_t pcid() const {
    return (s_.cr4 & kCr4PCIDE) ? static_cast<uint16_t>(s_.cr3 & spec::kCr3PcidMask) : 0;
  }
  /// INVPCID (SDM Vol. 2): invalidates by type for `pcid` (and `la` for type 0).
  void invpcid(spec::InvpcidType type, uint16_t pcid, uint64_t la);

  // ---- physical access ----
  // Accesses outside RAM reach devices, which may request a stop: poll_cycle_ = 0 makes
  // the block engine look at the stop flag after this instruction.
  uint64_t phys_read(uint64_t pa, unsigned size) {
    if (env_.mem->contains(pa, size)) return host_load(env_.mem->read_ptr(pa), size);
    poll_cycle_ = 0;
    return phys_read_slow(pa, size);
  }
  void phys_write(uint64_t pa, unsigned size, uint64_t v) {
    if (env_.mem->contains(pa, size)) {
      host_store(env_.mem->write_ptr(pa, size), size, v);
      return;
    }
    poll_cycle_ = 0;
    phys_write_slow(pa, size, v);
  }
  uint64_t phys_read_slow(uint64_t pa, unsigned size);
  void phys_write_slow(uint64_t pa, unsigned size, uint64_t v);

  // ---- direct host access with fixed-size copies (no memcpy call) ----
  static uint64_t host_load(const uint8_t* p, unsigned size) {
    switch (size) {
      case 1: return *p;
      case 2: {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return v;
      }
      case 4: {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
      }
      default: {
        uint64_t v;
        std::memcpy(&v, p, 8);
        return v;
      }
    }
  }
  static void host_store(uint8_t* p, unsigned size, uint64_t v) {
    switch (size) {
      case 1: *p = static_cast<uint8_t>(v); return;
      case 2: {
        uint16_t x = static_cast<uint16_t>(v);
        std::memcpy(p, &x, 2);
        return;
      }
      case 4: {
        uint32_t x = static_cast<uint32_t>(v);
        std::memcpy(p, &x, 4);
        return;
      }
      default: std::memcpy(p, &v, 8); return;
    }
  }

  // ---- linear access (after segmentation). `sys`: implicit supervisor access. ----
  bool user_access(bool sys) const { return !sys && cpl_ == 3; }
  uint64_t read_lin(uint64_t la, unsigned size, Access acc = Access::kRead, bool sys = false) {
    if (!long_mode_) la &= 0xFFFFFFFF;
    if (watch_data_) [[unlikely]]
      watch_data(la, size, false);
    if ((la & 0xFFF) + size <= 4096) {
      const TlbEntry& e = tlb_slot(tlb_tag(la), acc);
      uint16_t need = host_need(acc, sys);
      if (e.tag == tlb_tag(la) && (e.perm & need) == need) {
        ++tlb_hits_;
        return host_load(e.host + (la & 0xFFF), size);
      }
      return phys_read(translate(la, acc, user_access(sys), sys), size);
    }
    return read_lin_split(la, size, acc, sys);
  }
  void write_lin(uint64_t la, unsigned size, uint64_t v, bool sys = false) {
    if (!long_mode_) la &= 0xFFFFFFFF;
    if (watch_data_) [[unlikely]]
      watch_data(la, size, true);
    if ((la & 0xFFF) + size <= 4096) {
      const TlbEntry& e = tlb_[tlb_index(tlb_tag(la))];
      uint16_t need = host_need(Access::kWrite, sys);
      if (e.tag == tlb_tag(la) && (e.perm & need) == need) {
        ++tlb_hits_;
        host_store(e.host + (la & 0xFFF), size, v);
        return;
      }
      phys_write(translate(la, Access::kWrite, user_access(sys), sys), size, v);
      grant_host_write(la);
      return;
    }
    write_lin_split(la, size, v, sys);
  }
  /// Checks that [la, la+size) is writable (faults as a write would), writes nothing.
  void probe_write_lin(uint64_t la, unsigned size, bool sys = false);
  uint64_t read_lin_split(uint64_t la, unsigned size, Access acc, bool sys);
  void write_lin_split(uint64_t la, unsigned size, uint64_t v, bool sys);

  // ---- segmentation ----
  /// Linear address of seg:off for an access of `size` bytes; raises #GP/#SS on a
  /// segment violation (limit, type, unusable, non-canonical).
  uint64_t linear(unsigned seg, uint64_t off, unsigned size, Access acc) {
    if (long64_) {
      uint64_t la = off + (seg >= kFs ? s_.seg[seg].base : 0);
      if (!canonical(la) || !canonical(la + size - 1)) seg_fault(seg, 0);
      return la;
    }
    return linear_legacy(seg, off, size, acc);
  }
  uint64_t linear_legacy(unsigned seg, uint64_t off, unsigned size, Access acc);
  [[noreturn]] void seg_fault(unsigned seg, uint32_t err) {
    raise_fault(seg == kSs ? spec::Vector::kSS : spec::Vector::kGP, err);
  }
  /// True if `la` is canonical for the linear-address width in force (48, or 57 with
  /// CR4.LA57; SDM 3.3.7.1).
  bool canonical(uint64_t la) const {
    return static_cast<uint64_t>(static_cast<int64_t>(la << canon_shift_) >> canon_shift_) == la;
  }
  uint64_t read_mem(unsigned seg, uint64_t off, unsigned size) {
    return read_lin(linear(seg, off, size, Access::kRead), size);
  }
  void write_mem(unsigned seg, uint64_t off, unsigned size, uint64_t v) {
    write_lin(linear(seg, off, size, Access::kWrite), size, v);
  }

  // ---- operands ----
  uint64_t addr_mask(unsigned addrsize) const {
    return addrsize == 8 ? ~0ull : addrsize == 4 ? 0xFFFFFFFFull : 0xFFFFull;
  }
  /// Effective address (offset within the segment) of the memory operand.
  uint64_t ea(const Insn& i) const {
    const MemRef& m = i.mem;
    uint64_t a = static_cast<uint64_t>(m.disp);
    if (m.base >= 0) a += s_.gpr[m.base];
    if (m.index >= 0) a += s_.gpr[m.index] << m.scale;
    if (m.rip_rel) a += next_rip_;
    return a & addr_mask(i.addrsize);
  }
  uint64_t get_gpr(unsigned reg, unsigned size) const {
    uint64_t v = s_.gpr[reg];
    switch (size) {
      case 1: return v & 0xFF;
      case 2: return v & 0xFFFF;
      case 4: return v & 0xFFFFFFFF;
      default: return v;
    }
  }
  /// Writes a GPR with x86 rules: 32-bit writes zero-extend, 8/16-bit writes merge.
  void set_gpr(unsigned reg, unsigned size, uint64_t v) {
    uint64_t& r = s_.gpr[reg];
    switch (size) {
      case 1: r = (r & ~0xFFull) | (v & 0xFF); break;
      case 2: r = (r & ~0xFFFFull) | (v & 0xFFFF); break;
      case 4: r = v & 0xFFFFFFFF; break;
      default: r = v; break;
    }
  }
  uint64_t get_reg(const Operand& o) const {
    if (o.rc == RegClass::kGpr) return get_gpr(o.reg, o.size);
    if (o.rc == RegClass::kGpr8High) return (s_.gpr[o.reg] >> 8) & 0xFF;
    if (o.rc == RegClass::kSeg) return s_.seg[o.reg].selector;
    raise_ud();
  }
  void set_reg(const Operand& o, uint64_t v) {
    if (o.rc == RegClass::kGpr) return set_gpr(o.reg, o.size, v);
    if (o.rc == RegClass::kGpr8High) {
      s_.gpr[o.reg] = (s_.gpr[o.reg] & ~0xFF00ull) | ((v & 0xFF) << 8);
      return;
    }
    raise_ud();
  }
  /// Reads operand n (register, memory or immediate), zero-extended.
  uint64_t read_op(const Insn& i, unsigned n) {
    const Operand& o = i.op[n];
    switch (o.kind) {
      case OpKind::kReg: return get_reg(o);
      case OpKind::kMem: return read_mem(i.mem.seg, ea(i), o.size);
      case OpKind::kImm: return i.imm;  // callers truncate to the destination size
      default: raise_ud();
    }
  }
  void write_op(const Insn& i, unsigned n, uint64_t v) {
    const Operand& o = i.op[n];
    if (o.kind == OpKind::kReg) return set_reg(o, v);
    if (o.kind == OpKind::kMem) return write_mem(i.mem.seg, ea(i), o.size, v);
    raise_ud();
  }
  /// Read-modify-write access to operand n: the location is checked for writing before
  /// anything is committed, so the final write cannot fault.
  struct Loc {
    bool mem;
    uint64_t la;
  };
  uint64_t read_rmw(const Insn& i, unsigned n, Loc* loc) {
    const Operand& o = i.op[n];
    if (o.kind != OpKind::kMem) {
      loc->mem = false;
      return get_reg(o);
    }
    loc->mem = true;
    loc->la = linear(i.mem.seg, ea(i), o.size, Access::kWrite);
    probe_write_lin(loc->la, o.size);
    return read_lin(loc->la, o.size);
  }
  void write_rmw(const Insn& i, unsigned n, const Loc& loc, uint64_t v) {
    if (loc.mem)
      write_lin(loc.la, i.op[n].size, v);
    else
      set_reg(i.op[n], v);
  }

  // ---- stack ----
  unsigned stack_addr_size() const {
    return long64_ ? 8 : (s_.seg[kSs].attr & spec::kAttrDB) ? 4 : 2;
  }
  uint64_t rsp_offset(int64_t delta) const {
    return (s_.gpr[kRsp] + delta) & addr_mask(stack_addr_size());
  }
  void set_rsp_sized(uint64_t v) { set_gpr(kRsp, stack_addr_size(), v); }
  void push(uint64_t v, unsigned size) {
    uint64_t sp = rsp_offset(-static_cast<int64_t>(size));
    write_mem(kSs, sp, size, v);
    set_rsp_sized(sp);
  }
  /// Reads the stack at RSP+offset without changing RSP.
  uint64_t peek(int64_t offset, unsigned size) { return read_mem(kSs, rsp_offset(offset), size); }
  uint64_t pop(unsigned size) {
    uint64_t v = peek(0, size);
    set_rsp_sized(rsp_offset(size));
    return v;
  }

  // ---- flags ----
  // Arithmetic flags are computed lazily: flag-setting instructions record the operation
  // (set_lazy_flags) and RFLAGS is brought up to date (materialize_flags) when something
  // reads it. The block engine materializes before every instruction not marked
  // kExecLazyFlags, before exception and interrupt delivery, and whenever the state is
  // visible from outside, so code that reads s_.rflags directly stays correct.
  void set_arith_flags(uint64_t f) {
    lf_op_ = LazyOp::kNone;
    s_.rflags = (s_.rflags & ~kArithFlags) | f;
  }
  void set_lazy_flags(LazyOp op, unsigned size, uint64_t a, uint64_t b, uint64_t r) {
    lf_op_ = op;
    lf_size_ = static_cast<uint8_t>(size);
    lf_a_ = a;
    lf_b_ = b;
    lf_r_ = r;
  }
  /// The arithmetic flags the pending lazy operation produces.
  uint64_t lazy_arith_flags() const;
  void materialize_flags() {
    if (lf_op_ != LazyOp::kNone) {
      s_.rflags = (s_.rflags & ~kArithFlags) | lazy_arith_flags();
      lf_op_ = LazyOp::kNone;
    }
  }
  /// RFLAGS with up-to-date arithmetic flags.
  uint64_t rflags() {
    materialize_flags();
    return s_.rflags;
  }
  bool flag(uint64_t f) {
    if (f & kArithFlags) materialize_flags();
    return (s_.rflags & f) != 0;
  }
  /// Condition code `cc` (Jcc/SETcc/CMOVcc low nibble), with fast paths on lazy flags.
  bool cond(unsigned cc);
  /// CF without materializing the other flags (INC/DEC, ADC/SBB).
  bool carry_flag() const;
  /// IRET from CPL 0 to virtual-8086 mode: pops the rest of the frame (segments.cpp).
  void iret_to_v8086(uint64_t ip, uint16_t cs, uint64_t fl);
  /// Writes RFLAGS as POPF/IRET would, honouring CPL/IOPL and the reserved bits.
  void write_rflags(uint64_t v, unsigned opsize, bool iret);
  /// Called wherever an instruction may set RFLAGS.IF (POPF, IRET, SYSRET; STI raises
  /// attention itself for its shadow): the next boundary must look again at a maskable
  /// interrupt or an interrupt window that IF=0 held. Why not look at every boundary while
  /// IF=0 holds one: a guest running with interrupts off would pay the boundary work on
  /// every instruction (a VP spinning with IF=0 and a pending virtual interrupt ran about
  /// 25 times slower).
  void interrupts_may_open() {
    if (s_.rflags & kFlagIF) attention_ = true;
  }

  // ---- control transfer ----
  uint64_t ip_mask(unsigned opsize) const {
    return opsize == 8 ? ~0ull : opsize == 4 ? 0xFFFFFFFFull : 0xFFFFull;
  }
  /// Near branch: checks the CS limit / canonicality, then sets next_rip_.
  void branch(uint64_t target, unsigned opsize) {
    target &= ip_mask(opsize);
    if (long64_) {
      if (!canonical(target)) raise_gp(0);
    } else if (target > s_.seg[kCs].limit) {
      raise_gp(0);
    }
    next_rip_ = target;
  }

  // ---- segments (segments.cpp) ----
  /// Reads the descriptor for `sel` from the GDT/LDT; raises `vec`(sel) if outside the table.
  spec::Descriptor read_descriptor(uint16_t sel, spec::Vector vec);
  /// The second 8 bytes of a 16-byte system descriptor.
  uint64_t read_descriptor_high(uint16_t sel, spec::Vector vec);
  /// Sets the accessed bit of a descriptor in memory.
  void set_descriptor_accessed(uint16_t sel, spec::Descriptor& d);
  /// MOV/POP to a data or stack segment register with protected-mode checks.
  void load_segment(unsigned seg, uint16_t sel);
  /// Loads the hidden part from a descriptor (no checks).
  void set_segment(unsigned seg, uint16_t sel, const spec::Descriptor& d);
  void set_null_segment(unsigned seg, uint16_t sel);
  /// Checks a code-segment descriptor for a far JMP/CALL/RET/IRET target (SDM 5.8).
  spec::Descriptor check_code_segment(uint16_t sel, unsigned new_cpl, bool ret);
  void far_jump(uint16_t sel, uint64_t offset, unsigned opsize);
  void far_call(uint16_t sel, uint64_t offset, unsigned opsize);
  void far_return(unsigned opsize, uint16_t pop_bytes);
  void iret(unsigned opsize);

  // ---- exceptions (exceptions.cpp) ----
  /// Delivers a caught fault, escalating to #DF and triple fault. `during_exception`: the
  /// vector of a hardware exception whose delivery `f` interrupted (VM-entry injection),
  /// for the #DF rules; -1 if none.
  void handle_fault(const Fault& f, int during_exception = -1);
  /// Instruction-boundary work (SDM Vol. 3A 6.9, priority among simultaneous events);
  /// clears attention_ unless something stays pending. Defined in attention.cpp.
  void service_attention();
  void deliver(uint8_t vector, bool has_error, uint32_t error, bool soft, uint64_t return_rip);
  void deliver_real(uint8_t vector, uint64_t return_rip);
  void deliver_protected(uint8_t vector, bool has_error, uint32_t error, bool soft,
                         uint64_t return_rip);
  void deliver_long(uint8_t vector, bool has_error, uint32_t error, bool soft, uint64_t return_rip);
  void shutdown(uint8_t vector, std::string reason);
  // ---- interrupts (attention.cpp) ----
  /// Delivers an external interrupt or NMI (not soft: EXT set in error codes).
  void deliver_external(uint8_t vector, bool nmi);
  /// INIT (SDM 9.1.1, Table 9-1): the reset state, keeping MSRs, the TSC and counters.
  void init_processor();
  /// INIT is blocked (stays pending in irq_.init_pending): in VMX root operation (SDM
  /// Vol. 3C 24.8 "Restrictions on VMX operation") and in a guest's wait-for-SIPI state
  /// (27.7.2 "Activity state").
  bool init_blocked() const;
  /// SIPI in wait-for-SIPI state: real mode at vector * 0x1000 (SDM 9.4.4).
  void start_up(uint8_t vector);
  /// A halted or waiting processor: advances cycles_ to the next wake-up (LAPIC timer,
  /// queued message) or to `target`; true if it is running again.
  bool idle_until(uint64_t target);

  // ---- system (exec_system.cpp, msr.cpp, cpuid.cpp) ----
  void write_cr(unsigned n, uint64_t v);
  uint64_t read_cr(unsigned n);
  /// RDMSR; false = not implemented (#GP).
  bool read_msr(uint32_t msr, uint64_t* v);
  bool write_msr(uint32_t msr, uint64_t v);
  void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) const;
  uint64_t tsc() const { return cycles_ + s_.tsc_offset; }
  /// Checks I/O permission (CPL <= IOPL in protected mode, else #GP(0)).
  void check_io(uint16_t port, unsigned size);
  void trace_mode_change(const char* what);

  // ---- debug registers and #DB (debug.cpp, SDM Vol. 3B ch. 17) ----
  /// MOV to/from DRn with CR4.DE aliasing, GD and reserved-bit rules.
  void write_dr(unsigned n, uint64_t v);
  uint64_t read_dr(unsigned n);
  /// Recomputes watch_data_ from DR7 and asks for boundary service if debugging is active.
  void debug_update();
  /// Boundary work of priority 4 (SDM Table 6-2): concludes the previous instruction and
  /// delivers its pending #DB traps (single-step, data and I/O breakpoints).
  void debug_traps();
  /// Boundary work of priority 7: instruction breakpoints of the next instruction (a
  /// fault-class #DB) and arming single-step for it. Runs last at the boundary.
  void debug_before_insn();
  /// Data breakpoint check for an access of `size` bytes at linear address `la`.
  void watch_data(uint64_t la, unsigned size, bool write);
  /// I/O breakpoint check (DR7 R/W = 10 with CR4.DE) for IN/OUT of `size` bytes.
  void watch_io(uint16_t port, unsigned size);
  /// The architectural state with an unconcluded instruction's #DB traps folded into
  /// pending_dbg (what a checkpoint or the state hash must see).
  ArchState settled_state() const;
  void trace(std::string_view name, std::initializer_list<TraceArg> args);

  SimTime now() const { return clock_.time_of(cycles_); }

  // ---- data ----
  CpuParams params_;
  CpuEnv env_;
  Clock clock_;
  ArchState s_;
  RunState run_state_ = RunState::kRunning;
  std::optional<ShutdownInfo> shutdown_;
  uint64_t cycles_ = 0, instructions_ = 0, instruction_limit_ = Cpu::kNoLimit;
  /// Handlers add the extra cycles of the current instruction here (REP iterations, taken
  /// branches); an alias of cycles_, so they count at once and are never lost.
  uint64_t& extra_cycles_ = cycles_;
  timing::Table timing_;  ///< the cost table (CpuParams::timing, Cpu::set_timing)
  /// The block engine's one per-instruction test is cycles_ >= poll_cycle_. The engine
  /// sets it to min(cycle target, wake_deadline_) when it enters a block; anything the
  /// next boundary must see sets it to 0: raising attention_ or moving wake_deadline_
  /// (BoundaryValue does it), a write to a page holding decoded code, an access outside
  /// RAM (a device may have requested a stop).
  uint64_t poll_cycle_ = 0;
  /// The engine's instruction limit while it runs (see arm_poll).
  uint64_t insn_stop_ = ~0ull;
  /// Set by anything that must act at the next instruction boundary (a pending interrupt,
  /// NMI, INIT/SIPI, a debug trap, a timer deadline). The run loop calls
  /// service_attention() when it is set, before fetching the next instruction.
  BoundaryValue<bool> attention_{false, &poll_cycle_};
  /// Set by an instruction that changed the mode or RIP behind the block engine's back (a
  /// VM exit): the block ends at the next boundary (boundary_due clears it), without the
  /// boundary work attention_ asks for.
  BoundaryValue<bool> end_block_{false, &poll_cycle_};
  /// The cycle count at which attention_ must be raised (LAPIC timer deadline, queued
  /// interrupt message due); ~0 if none. Kept by the LAPIC.
  BoundaryValue<uint64_t> wake_deadline_{~0ull, &poll_cycle_};
  CoreInterruptState irq_;
  /// The processor as its LAPIC sees it (cycles, APIC base, CR8, the wake deadline).
  class LapicPort final : public LapicCore {
   public:
    explicit LapicPort(CpuImpl& c) : c_(c) {}
    uint64_t cycles() const override { return c_.cycles_; }
    uint64_t tsc() const override { return c_.tsc(); }
    SimTime now() const override { return c_.now(); }
    uint64_t first_cycle_at(SimTime at) const override;
    uint64_t& apic_base() override { return c_.s_.apic_base; }
    void tpr_written(uint32_t tpr) override { c_.s_.cr8 = tpr >> 4; }
    CoreInterruptState& irq() override { return c_.irq_; }
    bool waiting_for_sipi() const override { return c_.run_state_ == RunState::kWaitForSipi; }
    void wake_changed(uint64_t cycle) override;
    void raise_attention() override { c_.attention_ = true; }

   private:
    CpuImpl& c_;
  };
  LapicPort lapic_port_{*this};
  std::unique_ptr<Lapic> lapic_;

  // derived from the registers by update_mode()
  DecodeMode mode_ = DecodeMode::kReal16;
  unsigned cpl_ = 0;
  bool long_mode_ = false;     ///< EFER.LMA
  bool long64_ = false;        ///< 64-bit submode
  bool protected_ = false;     ///< CR0.PE
  unsigned canon_shift_ = 16;  ///< 64 - linear-address width (7 with CR4.LA57)
  uint64_t next_rip_ = 0;

  /// Set while a data breakpoint is enabled in DR7: accesses are checked against DR0-DR3.
  bool watch_data_ = false;
  /// Debug bookkeeping of the instruction in flight (debug.cpp). Concluded at the next
  /// boundary: completed if instructions_ advanced by one and no software interrupt ran.
  struct DebugArm {
    bool armed = false;
    bool tf = false;              ///< EFLAGS.TF at the start (single-step after it)
    bool rf = false;              ///< EFLAGS.RF at the start (cleared after it completes)
    bool rf_loaded = false;       ///< the instruction loaded RF (IRET): keep it
    bool no_single_step = false;  ///< SYSCALL cleared TF through IA32_FMASK
    uint64_t insn_start = 0;      ///< instructions_ at the start
    uint64_t soft_start = 0;      ///< interrupts_ at the start
    uint64_t hits = 0;            ///< DR6 B0-B3 of data/I/O breakpoints hit
  } dbg_;
  std::string track_;  ///< trace track name "cpu<index>"

  // permission bits of direct host accesses for the current CPL and CR0.WP (update_mode)
  uint16_t rd_need_ = kTlbHostRead, wr_need_ = kTlbHostWrite, fetch_need_ = kTlbHostRead;
  uint64_t protect_gen_ = 0;  ///< PhysicalMemory::protect_generation() the TLB reflects

  // lazy flags (see set_lazy_flags)
  LazyOp lf_op_ = LazyOp::kNone;
  uint8_t lf_size_ = 8;
  uint64_t lf_a_ = 0, lf_b_ = 0, lf_r_ = 0;

  TlbEntry tlb_[kTlbEntries];
  TlbEntry itlb_[kItlbEntries];
  /// The slots filled since the last flush, so that a flush costs what was filled, not
  /// the TLB's size (VM entries and exits flush: a round trip touches a handful of pages).
  /// tlb_fills_ > kTlbFillLog: the log overflowed and the next flush sweeps everything.
  uint16_t tlb_fill_[kTlbFillLog] = {};
  unsigned tlb_fills_ = 0;
  /// TLB contexts (tlb_context.cpp): the key and LRU stamp of each slot, the running
  /// context's key and slot, and its tag salt (tlb_ctx_salt, XOR-ed into every
  /// tag compared). Why tags and not banks of parked entries: a switch then costs nothing,
  /// where copying a context that filled more than the fill log (any real root partition)
  /// cost the whole TLB on every VM entry and exit.
  struct TlbContextSlot {
    uint64_t key = kTlbNoContext;
    uint64_t lru = 0;
  };
  TlbContextSlot tlb_ctxs_[kTlbContexts];
  uint64_t tlb_ctx_ = kTlbRootContext;
  unsigned tlb_cur_ = 0;
  uint64_t tlb_tag_bits_ = 0;
  uint64_t tlb_clock_ = 0;
  DecodeCache dcache_;
  Insn scratch_;  ///< an instruction decoded without caching
  std::shared_ptr<CpuImpl*> listener_slot_;
  /// VMX (cpu/vmx/): the engine, a copy of "in VMX non-root operation" for the one-flag
  /// checks of intercepting handlers, and the VMX-preemption timer's deadline (cycles; the
  /// LAPIC folds it into wake_deadline_).
  std::unique_ptr<vmx::Vmx> vmx_;
  bool vmx_non_root_ = false;
  /// "enable EPT" of the current VMCS while in non-root operation (ept_active()).
  bool vmx_ept_ = false;
  uint64_t vmx_timer_deadline_ = ~0ull;
  /// instructions_ of an IRET that cleared NMI blocking (~0 = none since the last event
  /// delivery): a VM exit for a fault of that IRET reports "NMI unblocking due to IRET".
  uint64_t iret_unblocked_nmi_ = ~0ull;
  const bool* stop_ = nullptr;  ///< env_.stop_flag, or a flag that is never set

  // statistics
  uint64_t tlb_hits_ = 0, tlb_misses_ = 0, tlb_flushes_ = 0;
  /// Page walks, paging-structure entries read by them (for the timing model), and the
  /// entries read by the most recent walk.
  uint64_t page_walks_ = 0, walk_refs_ = 0, last_walk_refs_ = 0;
  uint64_t exceptions_[kNumVectorsCounted] = {};
  uint64_t interrupts_ = 0;  ///< software interrupts (INT n, INT3, INTO)
  /// External interrupts (and NMI) delivered, by vector; filled by interrupt delivery.
};

/// Registers the handlers of each executor file into the mnemonic table.
using HandlerTable = Handler*;
void register_alu(HandlerTable t);
void register_control(HandlerTable t);
void register_string(HandlerTable t);
void register_system(HandlerTable t);
// x87, MMX, SSE-SSE4.2, XSAVE and BMI/other integer extensions (exec_x87*.cpp,
// exec_sse_*.cpp, exec_xsave.cpp, exec_bitmanip.cpp).
void register_x87(HandlerTable t);
void register_sse_move(HandlerTable t);
void register_sse_int(HandlerTable t);
void register_sse_fp(HandlerTable t);
void register_sse4(HandlerTable t);
void register_xsave(HandlerTable t);
void register_bitmanip(HandlerTable t);
void register_sysenter(HandlerTable t);
void register_vmx(HandlerTable t);  // cpu/vmx/vmx_insns.cpp
/// A handler specialized for the operand forms of `i` decoded in 64-bit mode, or nullptr
/// (exec_fast.cpp).
Handler fast_handler(const Insn& i);
/// The handler of a fused pair (`first`, a flag-setting instruction, then `second`, a Jcc,
/// both with 64-bit specialized handlers), or nullptr if they do not fuse (exec_fast.cpp).
Handler fuse_pair(const Insn& first, const Insn& second);
/// MOV to/from control and debug registers (exec_system.cpp).
void exec_mov_special(CpuImpl& c, const Insn& i);

}  // namespace hvsim::cpu
