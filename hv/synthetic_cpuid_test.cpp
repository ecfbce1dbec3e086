// Tests of the hypervisor CPUID leaves against dossier §1 (exact register values).
#include "hv/synthetic_cpuid.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace hvsim::hv {
namespace {

std::string chars(uint32_t a, uint32_t b = 0, uint32_t c = 0) {
  char s[13] = {};
  std::memcpy(s, &a, 4);
  std::memcpy(s + 4, &b, 4);
  std::memcpy(s + 8, &c, 4);
  return s;
}

TEST(SyntheticCpuid, SignatureAndInterface) {
  SyntheticCpuidParams p = linux_child_cpuid(4);
  CpuidRegs l0 = synthetic_cpuid(p, 0x40000000);
  EXPECT_EQ(l0, (CpuidRegs{0x4000000A, 0x7263694D, 0x666F736F, 0x76482074}));
  EXPECT_EQ(chars(l0.ebx, l0.ecx, l0.edx), "Microsoft Hv");
  CpuidRegs l1 = synthetic_cpuid(p, 0x40000001);
  EXPECT_EQ(l1, (CpuidRegs{0x31237648, 0, 0, 0}));
  EXPECT_EQ(chars(l1.eax), "Hv#1");
}

TEST(SyntheticCpuid, LinuxChildExactValues) {
  SyntheticCpuidParams p = linux_child_cpuid(4);
  // EAX: bits 1, 2, 3, 5, 6, 9, 11; EBX: bits 4, 5 (PostMessages, SignalEvents); ECX 0;
  // EDX: bits 8 (frequency MSRs) and 19 (direct stimers).
  EXPECT_EQ(synthetic_cpuid(p, 0x40000003), (CpuidRegs{0x0A6E, 0x30, 0, 0x00080100}));
  // Recommendations: bit 9 (deprecate AutoEOI); spin retries never; 40 address bits.
  EXPECT_EQ(synthetic_cpuid(p, 0x40000004), (CpuidRegs{0x200, 0xFFFFFFFF, 40, 0}));
  EXPECT_EQ(synthetic_cpuid(p, 0x40000005), (CpuidRegs{4, 4, 0, 0}));
  EXPECT_EQ(synthetic_cpuid(p, 0x40000002), (CpuidRegs{0, 0x000A0000, 0, 0}));
  for (uint32_t leaf = 0x40000006; leaf <= 0x4000000A; ++leaf)
    EXPECT_EQ(synthetic_cpuid(p, leaf), CpuidRegs{}) << std::hex << leaf;
  EXPECT_TRUE(linux_detects_hyperv(p));
}

TEST(SyntheticCpuid, ChildNeverSeesCpuManagement) {
  SyntheticCpuidParams p = linux_child_cpuid(1);
  p.privileges |= spec::privilege::kCpuManagement;  // even if asked for
  p.misc_features = spec::misc_feature::kVpDispatchInterruptInjection;
  p.cpu_management = spec::cpu_management::kStartLogicalProcessor;
  CpuidRegs l3 = synthetic_cpuid(p, 0x40000003);
  EXPECT_EQ(l3.ebx & (1u << 12), 0u);
  EXPECT_EQ(l3.ecx, 0u);
  EXPECT_EQ(synthetic_cpuid(p, 0x40000007), CpuidRegs{});
}

TEST(SyntheticCpuid, RootPartition) {
  SyntheticCpuidParams p = root_partition_cpuid(2);
  p.cpu_management = spec::cpu_management::kStartLogicalProcessor;
  // EBX: bits 0-7 (CreatePartitions .. ConnectPort) and 12 (CpuManagement).
  EXPECT_EQ(synthetic_cpuid(p, 0x40000003), (CpuidRegs{0x0A6E, 0x10FF, 0, 0x00080100}));
  EXPECT_EQ(synthetic_cpuid(p, 0x40000007), (CpuidRegs{1, 0, 0, 0}));
  EXPECT_TRUE(linux_detects_hyperv(p));
}

TEST(SyntheticCpuid, LeavesBeyondTheLimitReadZero) {
  SyntheticCpuidParams p = linux_child_cpuid(1);
  for (uint32_t leaf : {0x4000000Bu, 0x4000000Cu, 0x40000100u, 0x4000FFFFu, 0x4FFFFFFFu})
    EXPECT_EQ(synthetic_cpuid(p, leaf), CpuidRegs{}) << std::hex << leaf;
  p.max_leaf = 0x40000005;
  p.hardware_features = spec::hardware_feature::kSecondLevelAddressTranslation;
  EXPECT_EQ(synthetic_cpuid(p, 0x40000006), CpuidRegs{}) << "above max_leaf";
  EXPECT_EQ(synthetic_cpuid(p, 0x40000005), (CpuidRegs{1, 1, 0, 0}));
  p.max_leaf = 0x40000006;
  EXPECT_EQ(synthetic_cpuid(p, 0x40000006), (CpuidRegs{8, 0, 0, 0}));
  // Outside the hypervisor range: not ours.
  EXPECT_FALSE(is_hypervisor_leaf(0x3FFFFFFF));
  EXPECT_FALSE(is_hypervisor_leaf(0x80000000));
  EXPECT_TRUE(is_hypervisor_leaf(0x4FFFFFFF));
  EXPECT_EQ(synthetic_cpuid(p, 0x80000000), CpuidRegs{});
}

TEST(SyntheticCpuid, VersionLeafLayout) {
  SyntheticCpuidParams p;
  p.build_number = 17763;
  p.major_version = 10;
  p.minor_version = 3;
  p.service_pack = 2;
  p.service_branch = 0xAB;
  p.service_number = 0x123456;
  EXPECT_EQ(synthetic_cpuid(p, 0x40000002), (CpuidRegs{17763, 0x000A0003, 2, 0xAB123456}));
}

TEST(SyntheticCpuid, LinuxDetectionGates) {
  SyntheticCpuidParams p = linux_child_cpuid(1);
  p.max_leaf = 0x40000004;
  EXPECT_FALSE(linux_detects_hyperv(p)) << "max leaf below 0x40000005";
  p.max_leaf = 0x40010000;
  EXPECT_FALSE(linux_detects_hyperv(p)) << "max leaf above 0x4000FFFF";
  p.max_leaf = 0x40000005;
  EXPECT_TRUE(linux_detects_hyperv(p));
  p.privileges &= ~spec::privilege::kAccessVpIndex;
  EXPECT_FALSE(linux_detects_hyperv(p));
  p = linux_child_cpuid(1);
  p.privileges &= ~spec::privilege::kAccessHypercallMsrs;
  EXPECT_FALSE(linux_detects_hyperv(p));
}

TEST(SyntheticCpuid, PrivilegeMaskSplitsIntoEaxAndEbx) {
  SyntheticCpuidParams p;
  p.privileges = 0x8000'0001'8000'0001ull;
  CpuidRegs l3 = synthetic_cpuid(p, 0x40000003);
  EXPECT_EQ(l3.eax, 0x80000001u);
  EXPECT_EQ(l3.ebx, 0x80000001u);
  EXPECT_EQ(spec::privilege::kPostMessages >> 32, 1u << 4);
  EXPECT_EQ(spec::privilege::kCpuManagement >> 32, 1u << 12);
}

}  // namespace
}  // namespace hvsim::hv
