// Instruction decoding through Zydis into compact records, cached per physical page
// (Intel SDM Vol. 2 ch. 2 "Instruction format").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

namespace hvsim::cpu {

class CpuImpl;
struct Insn;

/// Executes one decoded instruction. Throws Fault on an exception before committing state.
using Handler = void (*)(CpuImpl& c, const Insn& i);

/// Decode (operating) mode: determines default operand/address sizes (SDM 3.6).
enum class DecodeMode : uint8_t { kReal16, kProt16, kProt32, kLong64, kCompat16, kCompat32 };
const char* to_string(DecodeMode m);

enum class OpKind : uint8_t { kNone, kReg, kMem, kImm, kPtr };
/// kXmm: XMM0-15; kMmx: MM0-7; kX87: ST(i), `reg` = i (relative to TOP).
enum class RegClass : uint8_t { kGpr, kGpr8High, kSeg, kCr, kDr, kOther, kXmm, kMmx, kX87 };

/// One visible operand. `size` is in bytes (memory operands of far pointers: 4, 6 or 10).
struct Operand {
  OpKind kind = OpKind::kNone;
  uint8_t size = 0;
  RegClass rc = RegClass::kOther;
  uint8_t reg = 0;  ///< GPR 0-15 (kGpr8High: 0-3 for AH..BH), segment 0-5, CR/DR number
};

/// The instruction's memory operand (at most one explicit one in the integer set).
struct MemRef {
  int64_t disp = 0;
  int8_t base = -1;   ///< GPR index, -1 none
  int8_t index = -1;  ///< GPR index, -1 none
  uint8_t scale = 0;
  uint8_t seg = 3;  ///< effective segment (default or override), SegIndex
  bool rip_rel = false;
};

// Insn::flags
constexpr uint8_t kInsnRep = 1, kInsnRepne = 2, kInsnLock = 4, kInsnSegOverride = 8, kInsnFar = 16;

// Insn::exec: how the block engine may run the instruction (set at decode time).
/// Straight-line: execution continues with the next instruction of the block. The
/// instruction never transfers control (RIP always advances by its length), never changes
/// the mode, CPL, CS, paging, TLB or interrupt state, and (together with kExecLazyFlags)
/// never reads or writes RFLAGS other than through CpuImpl's flag helpers.
constexpr uint8_t kExecStraight = 1;
/// The handler works on lazily computed flags (uses flag()/rflags()/cond()/
/// set_arith_flags()/set_lazy_flags(), or calls materialize_flags() before touching
/// s_.rflags). Other instructions see RFLAGS materialized before they run.
constexpr uint8_t kExecLazyFlags = 2;
/// A conditional near branch (Jcc, LOOPcc, JrCXZ) with no other effect on the mode or
/// translation: when not taken, the block goes on with the next instruction.
constexpr uint8_t kExecCondBranch = 4;

/// Marks `mnemonic` as straight-line and lazy-flag aware (see kExecStraight). Handlers
/// registered without this end their block and see materialized flags, which is always
/// correct; mark only handlers that satisfy both contracts. Call before decoding starts.
void mark_straight_line(uint16_t mnemonic);

/// A decoded instruction in the form the executor uses.
struct Insn {
  /// What the engine calls. For an instruction not marked kExecLazyFlags it is a wrapper
  /// that materializes RFLAGS and then runs `body`, so the engine's loop needs no test.
  Handler handler = nullptr;
  Handler body = nullptr;  ///< the instruction's own handler when `handler` wraps it
  uint16_t mnemonic = 0;   ///< ZydisMnemonic
  uint8_t length = 0;
  uint8_t opsize = 4;    ///< effective operand size, bytes
  uint8_t addrsize = 4;  ///< effective address size, bytes
  uint8_t nops = 0;      ///< visible operands
  uint8_t flags = 0;
  uint8_t opcode = 0;      ///< last opcode byte
  uint8_t modrm = 0;       ///< ModR/M byte (x87 FOP), 0 if none
  uint8_t seg_prefix = 3;  ///< segment override prefix, else DS (string sources, XLAT)
  uint8_t exec = 0;        ///< kExec* bits
  uint8_t cost_class = 0;  ///< timing::Class
  uint32_t cycles = 1;     ///< base cycles under the processor's timing table
  Operand op[4];
  MemRef mem;
  uint64_t imm = 0;   ///< first immediate (sign-extended when signed; relative branch offset)
  uint64_t imm2 = 0;  ///< second immediate (ENTER level) or far-pointer selector; the
                      ///< branch offset of a fused pair's Jcc
  // A fused pair (exec_fast.cpp, fuse_pair): one record that runs a flag-setting
  // instruction and the Jcc after it; `length` spans both, `cycles` is the first's.
  uint8_t fused_len = 0;      ///< length of the first instruction; 0 = not a fused pair
  uint8_t fused_cc = 0;       ///< the Jcc's condition code
  uint32_t fused_cycles = 0;  ///< base cycles of the Jcc
};

/// Returns the handler for a Zydis mnemonic (the #UD handler if not implemented).
Handler handler_for(uint16_t mnemonic);

/// Decodes `len` bytes at `bytes` in `mode` into `out`. Returns false if the bytes do not
/// form a valid instruction; sets *need_more when the buffer ended inside the instruction.
bool decode_insn(DecodeMode mode, const uint8_t* bytes, unsigned len, Insn* out, bool* need_more);

/// A block: instructions decoded from consecutive bytes of one physical page, ending after
/// an unconditional control transfer or any instruction not marked kExecStraight or
/// kExecCondBranch, before an instruction that crosses the page end or does not decode, or
/// at kMaxBlockInsns. A taken conditional branch leaves the block early.
struct Block {
  uint64_t pa = 0;  ///< physical address of the first instruction
  DecodeMode mode = DecodeMode::kReal16;
  bool valid = true;  ///< false once its page was written
  /// Ends with a plain control transfer or a straight-line instruction, so the next block
  /// on the same page may follow directly (chaining).
  bool chainable = false;
  uint16_t bytes = 0;  ///< total length
  std::vector<Insn> insns;
  /// Successors on the same page seen so far (page offset -> block), filled by the
  /// engine. A successor shares the page, so it is valid as long as this block is.
  mutable const Block* succ[2] = {nullptr, nullptr};
  mutable uint16_t succ_off[2] = {0, 0};
};
constexpr unsigned kMaxBlockInsns = 64;

/// The decoded-block cache. Blocks are found through a direct-mapped table keyed by
/// physical address and decode mode, backed by an ordered map (misses only). A write to a
/// page holding blocks (PhysicalMemory's code-write listener) drops them all; dropped
/// blocks stay alive until the next dispatch (reap) because the writing instruction may be
/// running from one.
class DecodeCache {
 public:
  DecodeCache();
  /// The valid block at `pa` decoded in `mode`, or nullptr.
  const Block* find(uint64_t pa, DecodeMode mode) {
    const Slot& s = table_[slot_of(pa)];
    if (s.key == key_of(pa, mode)) {
      ++hits;
      return s.block;
    }
    return find_slow(pa, mode);
  }
  /// Takes ownership of a freshly decoded block and makes it findable.
  const Block* insert(std::unique_ptr<Block> b);
  /// Drops the blocks of page `pfn` (called on a write to it). Returns true if any.
  bool invalidate(uint64_t pfn);
  /// Drops everything.
  void clear();
  /// Frees blocks dropped while an instruction was running.
  void reap() {
    if (!retired_.empty()) retired_.clear();
  }
  /// Number of blocks cached.
  size_t size() const { return blocks_.size(); }
  /// Decoded instructions held; past kMaxCachedInsns the cache starts over (a bound on
  /// host memory: decoded records are ~18x the size of the code). Dropping blocks never
  /// changes what executes or its cycle cost.
  static constexpr size_t kMaxCachedInsns = size_t{1} << 19;
  size_t cached_insns() const { return insns_; }

  uint64_t hits = 0, misses = 0, invalidations = 0, uncached = 0, blocks_built = 0;
  uint64_t chained = 0;           ///< blocks entered from their predecessor without a lookup
  uint64_t capacity_flushes = 0;  ///< times the cache started over at kMaxCachedInsns

 private:
  static constexpr unsigned kSlotBits = 12, kSlots = 1u << kSlotBits;
  struct Slot {
    uint64_t key = ~0ull;
    const Block* block = nullptr;
  };
  static uint64_t key_of(uint64_t pa, DecodeMode m) {
    return pa | (static_cast<uint64_t>(m) << 56);
  }
  /// Fibonacci hashing: XOR-folding pa's bits made blocks at page offsets that mirror each
  /// other's page numbers (0x10450A, 0x106502) share a slot and evict each other forever.
  static unsigned slot_of(uint64_t pa) {
    return static_cast<unsigned>((pa * 0x9E3779B97F4A7C15ull) >> (64 - kSlotBits));
  }
  const Block* find_slow(uint64_t pa, DecodeMode mode);

  std::vector<Slot> table_;
  std::map<uint64_t, std::unique_ptr<Block>> blocks_;  ///< by key_of(pa, mode)
  std::vector<std::unique_ptr<Block>> retired_;
  size_t insns_ = 0;
};

}  // namespace hvsim::cpu
