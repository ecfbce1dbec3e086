// Instruction decoding through Zydis into compact records, cached per physical page
// (Intel SDM Vol. 2 ch. 2 "Instruction format").
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
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

/// A decoded instruction in the form the executor uses.
struct Insn {
  Handler handler = nullptr;
  uint16_t mnemonic = 0;  ///< ZydisMnemonic
  uint8_t length = 0;
  uint8_t opsize = 4;    ///< effective operand size, bytes
  uint8_t addrsize = 4;  ///< effective address size, bytes
  uint8_t nops = 0;      ///< visible operands
  uint8_t flags = 0;
  uint8_t opcode = 0;      ///< last opcode byte
  uint8_t modrm = 0;       ///< ModR/M byte (x87 FOP), 0 if none
  uint8_t seg_prefix = 3;  ///< segment override prefix, else DS (string sources, XLAT)
  Operand op[4];
  MemRef mem;
  uint64_t imm = 0;   ///< first immediate (sign-extended when signed; relative branch offset)
  uint64_t imm2 = 0;  ///< second immediate (ENTER level) or far-pointer selector
};

/// Returns the handler for a Zydis mnemonic (the #UD handler if not implemented).
Handler handler_for(uint16_t mnemonic);

/// Decodes `len` bytes at `bytes` in `mode` into `out`. Returns false if the bytes do not
/// form a valid instruction; sets *need_more when the buffer ended inside the instruction.
bool decode_insn(DecodeMode mode, const uint8_t* bytes, unsigned len, Insn* out, bool* need_more);

/// Decoded instructions of one physical page, keyed by page offset.
struct CodePage {
  DecodeMode mode;
  std::vector<Insn> insns;
  uint16_t index[4096];  ///< 0 = not decoded, else 1 + position in insns
};

/// Per-physical-page decode cache. Pages are dropped when written (code-write listener);
/// a dropped page is kept alive until the next instruction boundary because the
/// instruction that wrote it may still be executing from it.
class DecodeCache {
 public:
  /// The page for `pfn` if cached in `mode` (a page cached in another mode is dropped).
  CodePage* find(uint64_t pfn, DecodeMode mode);
  /// Creates an empty page for `pfn`.
  CodePage* create(uint64_t pfn, DecodeMode mode);
  /// Drops the page (called on a write to it).
  void invalidate(uint64_t pfn);
  /// Drops everything.
  void clear();
  /// Frees pages dropped while an instruction was running.
  void reap() {
    if (!retired_.empty()) retired_.clear();
  }

  uint64_t hits = 0, misses = 0, invalidations = 0, uncached = 0;

 private:
  std::unordered_map<uint64_t, std::unique_ptr<CodePage>> pages_;
  std::vector<std::unique_ptr<CodePage>> retired_;
  uint64_t last_pfn_ = ~0ull;
  CodePage* last_ = nullptr;
};

}  // namespace hvsim::cpu
