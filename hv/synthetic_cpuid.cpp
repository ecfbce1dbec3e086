// Hypervisor CPUID leaves 0x40000000-0x4000000A (dossier §1).
#include "hv/synthetic_cpuid.h"

namespace hvsim::hv {

namespace leaf_no = spec::cpuid_leaf;
namespace priv = spec::privilege;

CpuidRegs synthetic_cpuid(const SyntheticCpuidParams& p, uint32_t leaf) {
  CpuidRegs r;
  // Leaf 0x40000000 answers whatever max_leaf says, so a guest can always read the limit.
  if (!is_hypervisor_leaf(leaf)) return r;
  if (leaf > p.max_leaf && leaf != leaf_no::kVendorAndMaxFunctions) return r;
  switch (leaf) {
    case leaf_no::kVendorAndMaxFunctions:
      r.eax = p.max_leaf;
      r.ebx = spec::kVendorEbx;
      r.ecx = spec::kVendorEcx;
      r.edx = spec::kVendorEdx;
      break;
    case leaf_no::kInterface: r.eax = spec::kInterfaceHv1; break;
    case leaf_no::kVersion:
      r.eax = p.build_number;
      r.ebx = (uint32_t{p.major_version} << 16) | p.minor_version;
      r.ecx = p.service_pack;
      r.edx = (uint32_t{p.service_branch} << 24) | (p.service_number & 0xFFFFFF);
      break;
    case leaf_no::kFeatures: {
      uint64_t mask = p.root ? p.privileges : p.privileges & ~priv::kCpuManagement;
      r.eax = static_cast<uint32_t>(mask);
      r.ebx = static_cast<uint32_t>(mask >> 32);
      r.ecx = p.root ? p.misc_features : 0;
      r.edx = p.features;
      break;
    }
    case leaf_no::kEnlightenmentInfo:
      r.eax = p.recommendations;
      r.ebx = p.spinlock_retries;
      r.ecx = p.physical_address_bits & spec::kPhysicalAddressBitsMask;
      break;
    case leaf_no::kImplementationLimits:
      r.eax = p.max_virtual_processors;
      r.ebx = p.max_logical_processors;
      r.ecx = p.max_interrupt_vectors;
      break;
    case leaf_no::kHardwareFeatures: r.eax = p.hardware_features; break;
    case leaf_no::kCpuManagementFeatures: r.eax = p.root ? p.cpu_management : 0; break;
    case leaf_no::kNestedOptimizations: r.eax = p.nested_optimizations; break;
    default: break;  // 0x40000008, 0x40000009 and everything above 0x4000000A: zero
  }
  return r;
}

SyntheticCpuidParams linux_child_cpuid(uint32_t vps) {
  SyntheticCpuidParams p;
  p.privileges = priv::kAccessPartitionReferenceCounter | priv::kAccessSynicRegs |
                 priv::kAccessSyntheticTimerRegs | priv::kAccessHypercallMsrs |
                 priv::kAccessVpIndex | priv::kAccessPartitionReferenceTsc |
                 priv::kAccessFrequencyRegs | priv::kPostMessages | priv::kSignalEvents;
  p.features = spec::feature::kFrequencyMsrsAvailable | spec::feature::kDirectSyntheticTimers;
  p.recommendations = spec::recommend::kDeprecateAutoEoi;
  p.spinlock_retries = spec::kSpinlockRetriesNever;
  p.max_virtual_processors = vps;
  p.max_logical_processors = vps;
  return p;
}

SyntheticCpuidParams root_partition_cpuid(uint32_t vps) {
  SyntheticCpuidParams p = linux_child_cpuid(vps);
  p.privileges |= priv::kCreatePartitions | priv::kAccessPartitionId | priv::kAccessMemoryPool |
                  priv::kAdjustMessageBuffers | priv::kCreatePort | priv::kConnectPort |
                  priv::kCpuManagement;
  p.root = true;
  return p;
}

bool linux_detects_hyperv(const SyntheticCpuidParams& p) {
  uint64_t needed = priv::kAccessHypercallMsrs | priv::kAccessVpIndex;
  return p.max_leaf >= leaf_no::kMinMaxLeafForLinux && p.max_leaf <= leaf_no::kMaxMaxLeafForLinux &&
         (p.privileges & needed) == needed;
}

}  // namespace hvsim::hv
