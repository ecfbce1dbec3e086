// The hypervisor CPUID leaves 0x40000000-0x4000000A that a partition sees (TLFS/
// feature-discovery.md; dossier shared/spec/hyperv-interfaces.md §1), computed from a small
// description of the partition. Pure: the VP's CPUID exit handler calls synthetic_cpuid for
// leaves in [0x40000000, 0x4FFFFFFF] and the processor's own CPUID for the rest.
#pragma once

#include <cstdint>

#include "cpu/spec/paging.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

/// What a partition's hypervisor leaves report. One per partition; defaults describe a Linux
/// child partition (see linux_child_cpuid for the reasoning).
struct SyntheticCpuidParams {
  /// EAX of 0x40000000: the highest hypervisor leaf. Linux needs [0x40000005, 0x4000FFFF].
  uint32_t max_leaf = spec::cpuid_leaf::kNestedOptimizations;
  /// 0x40000002: hypervisor version. The dossier gives only the layout; these are hvsim's
  /// own numbers (Linux prints them and decides nothing from them).
  uint32_t build_number = 0;
  uint16_t major_version = 10;
  uint16_t minor_version = 0;
  uint32_t service_pack = 0;
  uint8_t service_branch = 0;   ///< EDX[31:24]
  uint32_t service_number = 0;  ///< EDX[23:0]
  /// HV_PARTITION_PRIVILEGE_MASK: bits 31:0 -> 0x40000003.EAX, 63:32 -> EBX (spec::privilege).
  uint64_t privileges = 0;
  uint32_t misc_features = 0;    ///< 0x40000003.ECX (spec::misc_feature), root only
  uint32_t features = 0;         ///< 0x40000003.EDX (spec::feature)
  uint32_t recommendations = 0;  ///< 0x40000004.EAX (spec::recommend)
  uint32_t spinlock_retries = spec::kSpinlockRetriesNever;  ///< 0x40000004.EBX
  /// 0x40000004.ECX[6:0]: implemented physical address bits (the processor's MAXPHYADDR).
  uint8_t physical_address_bits = cpu::spec::kMaxPhysAddrBits;
  uint32_t max_virtual_processors = 1;  ///< 0x40000005.EAX
  uint32_t max_logical_processors = 1;  ///< 0x40000005.EBX
  uint32_t max_interrupt_vectors = 0;   ///< 0x40000005.ECX, for interrupt remapping
  uint32_t hardware_features = 0;       ///< 0x40000006.EAX (spec::hardware_feature)
  uint32_t cpu_management = 0;          ///< 0x40000007.EAX (spec::cpu_management), root only
  uint32_t nested_optimizations = 0;    ///< 0x4000000A.EAX (spec::nested_optimization)
  /// The root partition. Root-only content (0x40000003.ECX, 0x40000007, the CpuManagement
  /// privilege) reads as zero when false, whatever the fields above say.
  bool root = false;
};

/// The four registers of one CPUID leaf.
struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  bool operator==(const CpuidRegs&) const = default;
};

/// The hypervisor CPUID range the hypervisor answers: [0x40000000, 0x4FFFFFFF].
constexpr bool is_hypervisor_leaf(uint32_t leaf) {
  return (leaf & 0xF0000000u) == 0x40000000u;
}

/// CPUID for a hypervisor leaf. Leaves above max_leaf, above 0x4000000A, 0x40000008 (AMD SVM
/// features; hvsim is an Intel processor) and 0x40000009 (nested-hypervisor view) read zero.
CpuidRegs synthetic_cpuid(const SyntheticCpuidParams& p, uint32_t leaf);

/// A Linux child partition with `vps` virtual processors: the dossier's minimal set (§1.4
/// "Simulator recommendation", §12.2 item 1) of facilities the hypervisor implements:
/// privileges AccessPartitionReferenceCounter, AccessSynicRegs, AccessSyntheticTimerRegs,
/// AccessHypercallMsrs, AccessVpIndex, AccessPartitionReferenceTsc, AccessFrequencyRegs,
/// PostMessages, SignalEvents; features FrequencyMsrsAvailable, DirectSyntheticTimers;
/// recommendation DeprecateAutoEoi; spinlock retries "never". Never CpuManagement.
SyntheticCpuidParams linux_child_cpuid(uint32_t vps);

/// The root partition with `vps` virtual processors: the child's set plus the partition-
/// management privileges of dossier §1.2 (CreatePartitions, AccessPartitionId,
/// AccessMemoryPool, AdjustMessageBuffers, CreatePort, ConnectPort, CpuManagement).
SyntheticCpuidParams root_partition_cpuid(uint32_t vps);

/// Whether Linux would treat these leaves as Hyper-V (dossier §0 step 1, §1.5): max leaf in
/// [0x40000005, 0x4000FFFF] and privileges AccessHypercallMsrs and AccessVpIndex. (The
/// "Microsoft Hv" signature and CPUID.1:ECX[31] are always right / not ours.)
bool linux_detects_hyperv(const SyntheticCpuidParams& p);

}  // namespace hvsim::hv
