// The x64 hypercall ABI as pure functions (TLFS/hypercall-interface.md; dossier
// shared/spec/hyperv-interfaces.md §3.2-3.5): decoding the input value (RCX), validating it
// against what a call code expects, checking the GPAs of memory-based calls, and encoding
// the result value (RAX). No guest state is touched here; the dispatcher reads registers into
// HypercallRegisters, calls these, and writes RAX.
#pragma once

#include <cstdint>

#include "hv/spec/tlfs.h"

namespace hvsim::hv {

/// The guest registers a 64-bit hypercall reads (caller: EFER.LMA = 1 and CS.L = 1; dossier
/// §3.2). The dispatcher fills this from the VP's registers at the VMCALL exit.
///
/// | register | memory-based (fast = 0)       | register-based (fast = 1)              |
/// |----------|-------------------------------|----------------------------------------|
/// | RCX      | input value                   | input value                            |
/// | RDX      | input block GPA               | input qword 0                          |
/// | R8       | output block GPA              | input qword 1                          |
/// | XMM0-5   | -                             | input qwords 2-13 (XMM fast input)     |
/// | RAX out  | result value                  | result value                           |
struct HypercallRegisters {
  uint64_t rcx = 0;  ///< hypercall input value
  uint64_t rdx = 0;  ///< input GPA (slow) or input qword 0 (fast)
  uint64_t r8 = 0;   ///< output GPA (slow) or input qword 1 (fast)
  /// XMM0-XMM5 as 12 qwords (XMM0 low, XMM0 high, XMM1 low, ...); read only for XMM fast
  /// input, which the partition offers with 0x40000003.EDX bit 4.
  uint64_t xmm[12] = {};

  /// The memory-based input and output GPAs.
  uint64_t input_gpa() const { return rdx; }
  uint64_t output_gpa() const { return r8; }
  /// Register-based input qword i (0 = RDX, 1 = R8, 2.. = XMM0 low ...), i < 14.
  uint64_t fast_input_qword(unsigned i) const { return i == 0 ? rdx : i == 1 ? r8 : xmm[i - 2]; }
};

/// The fields of a hypercall input value (dossier §3.3). Decoding never fails; reserved bits
/// are kept so that validate_input can reject them.
struct HypercallInput {
  uint16_t call_code = 0;               ///< bits 15:0
  bool fast = false;                    ///< bit 16: register-based calling convention
  uint16_t variable_header_qwords = 0;  ///< bits 26:17, size of the variable header in qwords
  bool nested = false;                  ///< bit 31 (Linux HV_HYPERCALL_NESTED)
  uint16_t rep_count = 0;               ///< bits 43:32
  uint16_t rep_start_index = 0;         ///< bits 59:48
  uint64_t reserved_bits = 0;           ///< RCX & (bits 30:27, 47:44, 63:60), should be zero
};

/// Split RCX into its fields.
HypercallInput decode_input(uint64_t rcx);
/// Build RCX from fields (reserved bits included as given). The inverse of decode_input.
uint64_t encode_input(const HypercallInput& in);
/// RCX with the rep start index replaced: what a rep call leaves in RCX when the hypervisor
/// stops early so that the guest re-executes it from `rep_start` (dossier §3.4).
uint64_t with_rep_start(uint64_t rcx, uint16_t rep_start);

/// The result value in RAX (dossier §3.4): status in 15:0, reps completed (absolute, not
/// relative to the start index) in 43:32, everything else 0.
uint64_t encode_result(spec::HvStatus status, uint16_t reps_completed = 0);
spec::HvStatus result_status(uint64_t rax);
uint16_t result_reps_completed(uint64_t rax);

/// What the hypervisor knows about one call code: how its input and output are shaped. A
/// dispatcher keeps one per implemented call (see `guest_call_descriptor`).
struct HypercallDescriptor {
  spec::HvCallCode code{};
  bool rep = false;                   ///< a rep call (rep count >= 1) rather than a simple call
  bool variable_header = false;       ///< accepts a variable header (RCX[26:17] may be non-zero)
  bool fast_allowed = true;           ///< may be issued register-based
  uint16_t input_header_bytes = 0;    ///< fixed input header
  uint16_t input_element_bytes = 0;   ///< per rep, rep calls only
  uint16_t output_header_bytes = 0;   ///< fixed output (simple calls)
  uint16_t output_element_bytes = 0;  ///< per rep, rep calls only
};

/// Descriptors for the guest calls of dossier §3.6, or nullptr for a code not in that list.
/// Input sizes are those the dossier gives (e.g. HvPostMessage 256 bytes, HvSignalEvent 8).
const HypercallDescriptor* guest_call_descriptor(uint16_t call_code);

/// Checks the input value against the call's descriptor, in this order (the TLFS names the
/// conditions, not their order; see docs/hv.md):
///  1. desc == nullptr                                   -> HV_STATUS_INVALID_HYPERCALL_CODE
///  2. a reserved bit set, or nested when !accept_nested -> HV_STATUS_INVALID_HYPERCALL_INPUT
///  3. simple call with rep count or start index != 0,
///     rep call with rep count 0, start index >= count   -> HV_STATUS_INVALID_HYPERCALL_INPUT
///  4. variable header on a call that takes none         -> HV_STATUS_INVALID_HYPERCALL_INPUT
///  5. fast on a call that cannot be fast, or a fast input larger than the registers hold
///     (16 bytes, 112 with xmm_fast_input)               -> HV_STATUS_INVALID_HYPERCALL_INPUT
/// Returns HV_STATUS_SUCCESS when the call may proceed (for memory-based calls, then check
/// the GPAs with check_memory_blocks).
spec::HvStatus validate_input(const HypercallInput& in, const HypercallDescriptor* desc,
                              bool xmm_fast_input = false, bool accept_nested = false);

/// Input block size in bytes: fixed header + variable header + rep_count elements. The whole
/// rep list counts, also the elements before rep_start: they stay where they are in the block.
uint32_t input_block_bytes(const HypercallInput& in, const HypercallDescriptor& desc);
/// Output block size in bytes: fixed output + rep_count output elements.
uint32_t output_block_bytes(const HypercallInput& in, const HypercallDescriptor& desc);

/// Checks one parameter block of a memory-based call (TLFS "Alignment Requirements", common
/// status codes): a zero-size block is ignored; otherwise the GPA must be 8-byte aligned, the
/// block must not cross a 4 KiB page, and it must lie below 2^gpa_bits. Any failure is
/// HV_STATUS_INVALID_ALIGNMENT.
spec::HvStatus check_memory_block(uint64_t gpa, uint32_t bytes, unsigned gpa_bits);
/// check_memory_block for the input (RDX) and then the output (R8) block of a memory-based
/// call. Does not check overlap of the two blocks (see docs/hv.md).
spec::HvStatus check_memory_blocks(const HypercallRegisters& regs, const HypercallInput& in,
                                   const HypercallDescriptor& desc, unsigned gpa_bits);

}  // namespace hvsim::hv
