// Spot checks of hv/spec/tlfs.h against the numbers of dossier §1-5.
#include "hv/spec/tlfs.h"

#include <gtest/gtest.h>

#include <string>

namespace hvsim::hv::spec {
namespace {

TEST(Tlfs, SyntheticMsrNumbers) {
  EXPECT_EQ(static_cast<uint32_t>(SyntheticMsr::HV_X64_MSR_GUEST_OS_ID), 0x40000000u);
  EXPECT_EQ(static_cast<uint32_t>(SyntheticMsr::HV_X64_MSR_TIME_REF_COUNT), 0x40000020u);
  EXPECT_EQ(static_cast<uint32_t>(SyntheticMsr::HV_X64_MSR_VP_ASSIST_PAGE), 0x40000073u);
  EXPECT_EQ(static_cast<uint32_t>(SyntheticMsr::HV_X64_MSR_SINT15), 0x4000009Fu);
  EXPECT_EQ(static_cast<uint32_t>(SyntheticMsr::HV_X64_MSR_CRASH_CTL), 0x40000105u);
  EXPECT_EQ(sint_msr(2), 0x40000092u);
  EXPECT_EQ(stimer_config_msr(3), 0x400000B6u);
  EXPECT_EQ(stimer_count_msr(3), 0x400000B7u);
  EXPECT_EQ(std::string(to_string(SyntheticMsr::HV_X64_MSR_STIMER0_COUNT)),
            "HV_X64_MSR_STIMER0_COUNT");
  EXPECT_EQ(std::string(to_string(static_cast<SyntheticMsr>(0x40000004))), "unknown synthetic MSR");
}

TEST(Tlfs, StatusAndCallNames) {
  EXPECT_EQ(static_cast<uint16_t>(HvStatus::HV_STATUS_INVALID_SYNIC_STATE), 0x18);
  EXPECT_EQ(std::string(to_string(HvStatus::HV_STATUS_INVALID_ALIGNMENT)),
            "HV_STATUS_INVALID_ALIGNMENT");
  EXPECT_EQ(static_cast<uint16_t>(HvCallCode::HvCallPostMessage), 0x5C);
  EXPECT_EQ(static_cast<uint16_t>(HvCallCode::HvCallSignalEvent), 0x5D);
  EXPECT_EQ(std::string(to_string(HvCallCode::HvCallMapGpaPages)), "HvCallMapGpaPages");
  EXPECT_EQ(std::string(to_string(HvMessageType::HvMessageTimerExpired)), "HvMessageTimerExpired");
  EXPECT_EQ(static_cast<uint32_t>(HvMessageType::HvMessageTypeX64Halt), 0x80010007u);
}

TEST(Tlfs, RegisterLayouts) {
  // Linux's SINT2: vector 0xF3, unmasked, AutoEOI per recommendation (dossier §4.3).
  EXPECT_EQ(sint::kResetValue, 0x10000u);
  EXPECT_EQ(0xF3 | sint::kAutoEoi, 0x200F3u);
  // Linux's stimer0 in message mode: Enable | AutoEnable | SINTx = 2 (dossier §5.3).
  EXPECT_EQ(stimer_config::kEnable | stimer_config::kAutoEnable |
                (uint64_t{2} << stimer_config::kSintxShift),
            0x20009u);
  // Direct mode with vector 0xED.
  EXPECT_EQ(stimer_config::kDirectMode | ((uint64_t{0xED} << stimer_config::kApicVectorShift) &
                                          stimer_config::kApicVectorMask),
            0x1ED0u);
  EXPECT_EQ(stimer_config::kReserved15_13 | stimer_config::kReserved63_20 |
                stimer_config::kSintxMask | stimer_config::kDirectMode |
                stimer_config::kApicVectorMask | 0xF,
            ~0ull);
  EXPECT_EQ(hypercall_msr::kReservedMask | hypercall_msr::kEnable | hypercall_msr::kLocked |
                hypercall_msr::kGpfnMask,
            ~0ull);
  EXPECT_EQ(
      reference_tsc_msr::kReservedMask | reference_tsc_msr::kEnable | reference_tsc_msr::kGpfnMask,
      ~0ull);
  // Input value fields and reserved bits cover all 64 bits exactly once.
  namespace in = hypercall_input;
  EXPECT_EQ(in::kCallCodeMask + in::kFast + in::kVariableHeaderMask + in::kNested +
                in::kRepCountMask + in::kRepStartMask + in::kReservedMask,
            ~0ull);
}

TEST(Tlfs, MessageLayout) {
  EXPECT_EQ(sizeof(HvMessage), 256u);
  EXPECT_EQ(offsetof(HvMessage, payload), 16u);
  EXPECT_EQ(kHvMessageHeaderSize + kHvMessagePayloadSize, kHvMessageSize);
  EXPECT_EQ(kSintCount * kHvMessageSize, kHvPageSize);
  EXPECT_EQ(kSintCount * kEventFlagsBytesPerSint, kHvPageSize);
  EXPECT_EQ(kEventFlagsBytesPerSint * 8, kEventFlagsPerSint);
  EXPECT_EQ(sizeof(HvTimerMessagePayload), 24u);
  EXPECT_EQ(post_message_input::kPayloadOffset + kHvMessagePayloadSize, post_message_input::kSize);
}

}  // namespace
}  // namespace hvsim::hv::spec
