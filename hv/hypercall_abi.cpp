// The x64 hypercall ABI: input value, result value, parameter-block checks (dossier §3.2-3.5).
#include "hv/hypercall_abi.h"

#include <array>

namespace hvsim::hv {

namespace in_bits = spec::hypercall_input;
namespace out_bits = spec::hypercall_result;
using spec::HvCallCode;
using spec::HvStatus;

HypercallInput decode_input(uint64_t rcx) {
  HypercallInput in;
  in.call_code = static_cast<uint16_t>(rcx & in_bits::kCallCodeMask);
  in.fast = (rcx & in_bits::kFast) != 0;
  in.variable_header_qwords =
      static_cast<uint16_t>((rcx & in_bits::kVariableHeaderMask) >> in_bits::kVariableHeaderShift);
  in.nested = (rcx & in_bits::kNested) != 0;
  in.rep_count = static_cast<uint16_t>((rcx & in_bits::kRepCountMask) >> in_bits::kRepCountShift);
  in.rep_start_index =
      static_cast<uint16_t>((rcx & in_bits::kRepStartMask) >> in_bits::kRepStartShift);
  in.reserved_bits = rcx & in_bits::kReservedMask;
  return in;
}

uint64_t encode_input(const HypercallInput& in) {
  uint64_t rcx = in.call_code;
  if (in.fast) rcx |= in_bits::kFast;
  rcx |= (uint64_t{in.variable_header_qwords} << in_bits::kVariableHeaderShift) &
         in_bits::kVariableHeaderMask;
  if (in.nested) rcx |= in_bits::kNested;
  rcx |= (uint64_t{in.rep_count} << in_bits::kRepCountShift) & in_bits::kRepCountMask;
  rcx |= (uint64_t{in.rep_start_index} << in_bits::kRepStartShift) & in_bits::kRepStartMask;
  rcx |= in.reserved_bits & in_bits::kReservedMask;
  return rcx;
}

uint64_t with_rep_start(uint64_t rcx, uint16_t rep_start) {
  return (rcx & ~in_bits::kRepStartMask) |
         ((uint64_t{rep_start} << in_bits::kRepStartShift) & in_bits::kRepStartMask);
}

uint64_t encode_result(HvStatus status, uint16_t reps_completed) {
  return (static_cast<uint64_t>(status) & out_bits::kStatusMask) |
         ((uint64_t{reps_completed} << out_bits::kRepsCompletedShift) &
          out_bits::kRepsCompletedMask);
}

HvStatus result_status(uint64_t rax) {
  return static_cast<HvStatus>(rax & out_bits::kStatusMask);
}

uint16_t result_reps_completed(uint64_t rax) {
  return static_cast<uint16_t>((rax & out_bits::kRepsCompletedMask) >>
                               out_bits::kRepsCompletedShift);
}

namespace {

// Sizes from dossier §3.6. The Ex calls carry HV_VP_SET's format and valid_bank_mask in the
// fixed header and its bank bitmaps as the variable header (Linux hv_tlb_flush_ex and
// __send_ipi_mask_ex pass the bank count as the variable header size).
constexpr std::array<HypercallDescriptor, 10> kGuestCalls = {{
    // code, rep, var header, fast, in header, in element, out header, out element
    {HvCallCode::HvCallFlushVirtualAddressSpace, false, false, true, 24, 0, 0, 0},
    {HvCallCode::HvCallFlushVirtualAddressList, true, false, true, 24, 8, 0, 0},
    {HvCallCode::HvCallNotifyLongSpinWait, false, false, true, 8, 0, 0, 0},
    {HvCallCode::HvCallSendSyntheticClusterIpi, false, false, true, 16, 0, 0, 0},
    {HvCallCode::HvCallFlushVirtualAddressSpaceEx, false, true, true, 32, 0, 0, 0},
    {HvCallCode::HvCallFlushVirtualAddressListEx, true, true, true, 32, 8, 0, 0},
    {HvCallCode::HvCallSendSyntheticClusterIpiEx, false, true, true, 24, 0, 0, 0},
    {HvCallCode::HvCallGetPartitionId, false, false, false, 0, 0, 8, 0},
    {HvCallCode::HvCallPostMessage, false, false, true, 256, 0, 0, 0},
    {HvCallCode::HvCallSignalEvent, false, false, true, 8, 0, 0, 0},
}};

}  // namespace

const HypercallDescriptor* guest_call_descriptor(uint16_t call_code) {
  for (const HypercallDescriptor& d : kGuestCalls)
    if (static_cast<uint16_t>(d.code) == call_code) return &d;
  return nullptr;
}

uint32_t input_block_bytes(const HypercallInput& in, const HypercallDescriptor& desc) {
  uint32_t reps = in.rep_count;
  return desc.input_header_bytes + 8u * in.variable_header_qwords +
         (desc.rep ? reps * desc.input_element_bytes : 0);
}

uint32_t output_block_bytes(const HypercallInput& in, const HypercallDescriptor& desc) {
  uint32_t reps = in.rep_count;
  return desc.output_header_bytes + (desc.rep ? reps * desc.output_element_bytes : 0);
}

HvStatus validate_input(const HypercallInput& in, const HypercallDescriptor* desc,
                        bool xmm_fast_input, bool accept_nested) {
  if (desc == nullptr) return HvStatus::HV_STATUS_INVALID_HYPERCALL_CODE;
  if (in.reserved_bits != 0 || (in.nested && !accept_nested))
    return HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT;
  if (desc->rep) {
    if (in.rep_count == 0 || in.rep_start_index >= in.rep_count)
      return HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT;
  } else if (in.rep_count != 0 || in.rep_start_index != 0) {
    return HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT;
  }
  if (!desc->variable_header && in.variable_header_qwords != 0)
    return HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT;
  if (in.fast) {
    if (!desc->fast_allowed) return HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT;
    size_t capacity = xmm_fast_input ? spec::kXmmFastInputBytes : spec::kFastInputBytes;
    if (input_block_bytes(in, *desc) > capacity) return HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT;
  }
  return HvStatus::HV_STATUS_SUCCESS;
}

HvStatus check_memory_block(uint64_t gpa, uint32_t bytes, unsigned gpa_bits) {
  if (bytes == 0) return HvStatus::HV_STATUS_SUCCESS;  // TLFS: the pointer is ignored
  if (gpa % spec::kHypercallBlockAlignment != 0) return HvStatus::HV_STATUS_INVALID_ALIGNMENT;
  uint64_t in_page = gpa & (spec::kHvPageSize - 1);
  if (in_page + bytes > spec::kHvPageSize) return HvStatus::HV_STATUS_INVALID_ALIGNMENT;
  // The block ends on the same page, so checking its start against the GPA width suffices.
  if (gpa_bits < 64 && (gpa >> gpa_bits) != 0) return HvStatus::HV_STATUS_INVALID_ALIGNMENT;
  return HvStatus::HV_STATUS_SUCCESS;
}

HvStatus check_memory_blocks(const HypercallRegisters& regs, const HypercallInput& in,
                             const HypercallDescriptor& desc, unsigned gpa_bits) {
  HvStatus s = check_memory_block(regs.input_gpa(), input_block_bytes(in, desc), gpa_bits);
  if (s != HvStatus::HV_STATUS_SUCCESS) return s;
  return check_memory_block(regs.output_gpa(), output_block_bytes(in, desc), gpa_bits);
}

}  // namespace hvsim::hv
