// Tests of the hypercall input/result encodings and checks against dossier §3.3-3.5.
#include "hv/hypercall_abi.h"

#include <gtest/gtest.h>

#include <string>

namespace hvsim::hv {
namespace {

using spec::HvCallCode;
using spec::HvStatus;

TEST(HypercallAbi, DecodesEveryField) {
  // code 0x0003, fast, var header 5 qwords, rep count 0x123, rep start 0x45, nested.
  uint64_t rcx =
      0x0003 | (1ull << 16) | (5ull << 17) | (1ull << 31) | (0x123ull << 32) | (0x45ull << 48);
  HypercallInput in = decode_input(rcx);
  EXPECT_EQ(in.call_code, 0x0003);
  EXPECT_TRUE(in.fast);
  EXPECT_EQ(in.variable_header_qwords, 5);
  EXPECT_TRUE(in.nested);
  EXPECT_EQ(in.rep_count, 0x123);
  EXPECT_EQ(in.rep_start_index, 0x45);
  EXPECT_EQ(in.reserved_bits, 0u);
  EXPECT_EQ(encode_input(in), rcx);
}

TEST(HypercallAbi, LinuxFastSignalEventInputValue) {
  // Dossier §3.6: Linux issues HvSignalEvent as RCX = 0x0001_005D.
  HypercallInput in = decode_input(0x1005D);
  EXPECT_EQ(in.call_code, static_cast<uint16_t>(HvCallCode::HvCallSignalEvent));
  EXPECT_TRUE(in.fast);
  EXPECT_EQ(in.rep_count, 0);
  EXPECT_EQ(validate_input(in, guest_call_descriptor(in.call_code)), HvStatus::HV_STATUS_SUCCESS);
}

TEST(HypercallAbi, FieldMasksAreMaximal) {
  HypercallInput in = decode_input(~0ull);
  EXPECT_EQ(in.call_code, 0xFFFF);
  EXPECT_EQ(in.variable_header_qwords, 0x3FF);
  EXPECT_EQ(in.rep_count, 0xFFF);
  EXPECT_EQ(in.rep_start_index, 0xFFF);
  EXPECT_EQ(in.reserved_bits, 0xF000F00078000000ull);  // 30:27, 47:44, 63:60
}

TEST(HypercallAbi, EveryReservedBitIsRejected) {
  const HypercallDescriptor* post = guest_call_descriptor(0x5C);
  ASSERT_NE(post, nullptr);
  for (unsigned bit : {27u, 28u, 29u, 30u, 44u, 45u, 46u, 47u, 60u, 61u, 62u, 63u}) {
    HypercallInput in = decode_input(0x5C | (1ull << bit));
    EXPECT_EQ(validate_input(in, post), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT) << bit;
  }
  HypercallInput nested = decode_input(0x5C | (1ull << 31));
  EXPECT_EQ(validate_input(nested, post), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(nested, post, false, /*accept_nested=*/true),
            HvStatus::HV_STATUS_SUCCESS);
}

TEST(HypercallAbi, UnknownCodeComesFirst) {
  EXPECT_EQ(guest_call_descriptor(0x0001), nullptr);
  EXPECT_EQ(validate_input(decode_input(0x0001 | (1ull << 63)), nullptr),
            HvStatus::HV_STATUS_INVALID_HYPERCALL_CODE);
}

TEST(HypercallAbi, RepCountRules) {
  const HypercallDescriptor* simple = guest_call_descriptor(0x0002);
  const HypercallDescriptor* rep = guest_call_descriptor(0x0003);
  ASSERT_TRUE(simple && rep);
  ASSERT_FALSE(simple->rep);
  ASSERT_TRUE(rep->rep);
  auto input = [](uint16_t code, uint64_t count, uint64_t start) {
    return decode_input(code | (count << 32) | (start << 48));
  };
  EXPECT_EQ(validate_input(input(2, 0, 0), simple), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(validate_input(input(2, 1, 0), simple), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(input(2, 0, 1), simple), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(input(3, 0, 0), rep), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(input(3, 4, 3), rep), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(validate_input(input(3, 4, 4), rep), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(input(3, 0xFFF, 0xFFE), rep), HvStatus::HV_STATUS_SUCCESS);
}

TEST(HypercallAbi, VariableHeaderOnlyWhereAccepted) {
  uint64_t var2 = 2ull << 17;
  EXPECT_EQ(validate_input(decode_input(0x5C | var2), guest_call_descriptor(0x5C)),
            HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(decode_input(0x13 | var2), guest_call_descriptor(0x13)),
            HvStatus::HV_STATUS_SUCCESS);
}

TEST(HypercallAbi, FastInputMustFitTheRegisters) {
  const uint64_t fast = 1ull << 16;
  // HvSendSyntheticClusterIpi: 16 bytes fit RDX:R8.
  EXPECT_EQ(validate_input(decode_input(0x0B | fast), guest_call_descriptor(0x0B)),
            HvStatus::HV_STATUS_SUCCESS);
  // HvFlushVirtualAddressSpace: 24 bytes need XMM fast input.
  const HypercallDescriptor* flush = guest_call_descriptor(0x02);
  EXPECT_EQ(validate_input(decode_input(0x02 | fast), flush),
            HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(decode_input(0x02 | fast), flush, /*xmm_fast_input=*/true),
            HvStatus::HV_STATUS_SUCCESS);
  // HvFlushVirtualAddressList: 24 + 8 * reps; 11 reps = 112 bytes fit XMM, 12 do not.
  const HypercallDescriptor* list = guest_call_descriptor(0x03);
  EXPECT_EQ(validate_input(decode_input(0x03 | fast | (11ull << 32)), list, true),
            HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(validate_input(decode_input(0x03 | fast | (12ull << 32)), list, true),
            HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  // HvPostMessage (256 bytes) can never be fast; HvGetPartitionId has output, never fast.
  EXPECT_EQ(validate_input(decode_input(0x5C | fast), guest_call_descriptor(0x5C), true),
            HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(validate_input(decode_input(0x46 | fast), guest_call_descriptor(0x46), true),
            HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
}

TEST(HypercallAbi, ResultValueLayout) {
  EXPECT_EQ(encode_result(HvStatus::HV_STATUS_SUCCESS), 0u);
  EXPECT_EQ(encode_result(HvStatus::HV_STATUS_INVALID_HYPERCALL_CODE), 2u);
  EXPECT_EQ(encode_result(HvStatus::HV_STATUS_INVALID_SYNIC_STATE, 0xABC), 0x00000ABC00000018ull);
  uint64_t rax = encode_result(HvStatus::HV_STATUS_INSUFFICIENT_BUFFERS, 0xFFF);
  EXPECT_EQ(result_status(rax), HvStatus::HV_STATUS_INSUFFICIENT_BUFFERS);
  EXPECT_EQ(result_reps_completed(rax), 0xFFF);
  // Linux treats these bits as "ignore"; only 15:0 and 43:32 may be set.
  EXPECT_EQ(rax & ~0x00000FFF0000FFFFull, 0u);
}

TEST(HypercallAbi, RepStartRewrite) {
  uint64_t rcx = 0x0003 | (10ull << 32) | (2ull << 48) | (1ull << 16);
  uint64_t again = with_rep_start(rcx, 7);
  EXPECT_EQ(again, 0x0003 | (10ull << 32) | (7ull << 48) | (1ull << 16));
  EXPECT_EQ(decode_input(again).rep_start_index, 7);
}

TEST(HypercallAbi, MemoryBlockAlignmentAndPageCrossing) {
  EXPECT_EQ(check_memory_block(0x1000, 256, 40), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(check_memory_block(0x1004, 8, 40), HvStatus::HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(check_memory_block(0x1F00, 256, 40), HvStatus::HV_STATUS_SUCCESS);  // ends at 0x2000
  EXPECT_EQ(check_memory_block(0x1F08, 256, 40), HvStatus::HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(check_memory_block(0x1FF8, 8, 40), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(check_memory_block(0x1FF8, 16, 40), HvStatus::HV_STATUS_INVALID_ALIGNMENT);
  // Beyond the GPA space.
  EXPECT_EQ(check_memory_block(1ull << 40, 8, 40), HvStatus::HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(check_memory_block((1ull << 40) - 8, 8, 40), HvStatus::HV_STATUS_SUCCESS);
  // A call without a block ignores the pointer, however bad.
  EXPECT_EQ(check_memory_block(0xFFFFFFFFFFFFFFFF, 0, 40), HvStatus::HV_STATUS_SUCCESS);
}

TEST(HypercallAbi, MemoryBlocksOfRepCallsCountTheWholeList) {
  const HypercallDescriptor* list = guest_call_descriptor(0x03);  // 24 + 8 per rep
  HypercallRegisters regs;
  regs.rdx = 0x5000 + 4096 - (24 + 8 * 509);  // exactly fits 509 reps
  regs.r8 = 0xFFFF'FFFF'FFFF'FFF1;            // no output: ignored
  HypercallInput in = decode_input(0x03 | (509ull << 32) | (500ull << 48));
  EXPECT_EQ(input_block_bytes(in, *list), 24u + 8 * 509);
  EXPECT_EQ(output_block_bytes(in, *list), 0u);
  EXPECT_EQ(check_memory_blocks(regs, in, *list, 40), HvStatus::HV_STATUS_SUCCESS);
  in = decode_input(0x03 | (510ull << 32) | (500ull << 48));
  EXPECT_EQ(check_memory_blocks(regs, in, *list, 40), HvStatus::HV_STATUS_INVALID_ALIGNMENT);

  const HypercallDescriptor* get_id = guest_call_descriptor(0x46);  // output 8 bytes
  regs.rdx = 0x3;                                                   // no input: ignored
  regs.r8 = 0x2004;
  EXPECT_EQ(check_memory_blocks(regs, decode_input(0x46), *get_id, 40),
            HvStatus::HV_STATUS_INVALID_ALIGNMENT);
  regs.r8 = 0x2008;
  EXPECT_EQ(check_memory_blocks(regs, decode_input(0x46), *get_id, 40),
            HvStatus::HV_STATUS_SUCCESS);
}

TEST(HypercallAbi, RegisterConvention) {
  HypercallRegisters regs;
  regs.rdx = 11;
  regs.r8 = 22;
  regs.xmm[0] = 33;
  regs.xmm[11] = 44;
  EXPECT_EQ(regs.input_gpa(), 11u);
  EXPECT_EQ(regs.output_gpa(), 22u);
  EXPECT_EQ(regs.fast_input_qword(0), 11u);
  EXPECT_EQ(regs.fast_input_qword(1), 22u);
  EXPECT_EQ(regs.fast_input_qword(2), 33u);
  EXPECT_EQ(regs.fast_input_qword(13), 44u);
  // 14 qwords = 112 bytes, the XMM fast-input limit.
  EXPECT_EQ(14 * 8u, spec::kXmmFastInputBytes);
}

TEST(HypercallAbi, DescriptorSizesFromTheDossier) {
  EXPECT_EQ(guest_call_descriptor(0x5C)->input_header_bytes, 256);  // §3.6 HvPostMessage
  EXPECT_EQ(guest_call_descriptor(0x5D)->input_header_bytes, 8);    // HvSignalEvent
  EXPECT_EQ(guest_call_descriptor(0x08)->input_header_bytes, 8);    // HvNotifyLongSpinWait
  EXPECT_EQ(guest_call_descriptor(0x03)->input_element_bytes, 8);   // one GVA per rep
  EXPECT_EQ(std::string(spec::to_string(guest_call_descriptor(0x14)->code)),
            "HvCallFlushVirtualAddressListEx");
}

}  // namespace
}  // namespace hvsim::hv
