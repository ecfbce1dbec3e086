// The current-VMCS cache and the VMCS region format in simulated memory (Intel SDM Vol. 3C
// 25.2 "Format of the VMCS region", 25.11 "Software use of the VMCS", 25.11.1 "Software
// use of virtual-machine control structures").
#pragma once

#include <array>
#include <cstdint>

#include "cpu/vmx/spec/vmcs_fields.h"

namespace hvsim::cpu::vmx {

using spec::VmcsField;

/// The VMCS fields hvsim implements, in the order of their slots in the VMCS region.
/// VMREAD/VMWRITE of any other encoding fail with error 12; IA32_VMX_VMCS_ENUM reports the
/// highest index among them.
inline constexpr VmcsField kSupportedFields[] = {
    // 16-bit guest and host state
    VmcsField::GUEST_ES_SELECTOR, VmcsField::GUEST_CS_SELECTOR, VmcsField::GUEST_SS_SELECTOR,
    VmcsField::GUEST_DS_SELECTOR, VmcsField::GUEST_FS_SELECTOR, VmcsField::GUEST_GS_SELECTOR,
    VmcsField::GUEST_LDTR_SELECTOR, VmcsField::GUEST_TR_SELECTOR, VmcsField::HOST_ES_SELECTOR,
    VmcsField::HOST_CS_SELECTOR, VmcsField::HOST_SS_SELECTOR, VmcsField::HOST_DS_SELECTOR,
    VmcsField::HOST_FS_SELECTOR, VmcsField::HOST_GS_SELECTOR, VmcsField::HOST_TR_SELECTOR,
    // 64-bit control, guest and host
    VmcsField::ADDRESS_OF_IO_BITMAP_A, VmcsField::ADDRESS_OF_IO_BITMAP_B,
    VmcsField::ADDRESS_OF_MSR_BITMAPS, VmcsField::VM_EXIT_MSR_STORE_ADDRESS,
    VmcsField::VM_EXIT_MSR_LOAD_ADDRESS, VmcsField::VM_ENTRY_MSR_LOAD_ADDRESS,
    VmcsField::TSC_OFFSET, VmcsField::VMCS_LINK_POINTER, VmcsField::GUEST_IA32_DEBUGCTL,
    VmcsField::GUEST_IA32_PAT, VmcsField::GUEST_IA32_EFER, VmcsField::HOST_IA32_PAT,
    VmcsField::HOST_IA32_EFER,
    // 32-bit control
    VmcsField::PIN_BASED_VM_EXECUTION_CONTROLS,
    VmcsField::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, VmcsField::EXCEPTION_BITMAP,
    VmcsField::PAGE_FAULT_ERROR_CODE_MASK, VmcsField::PAGE_FAULT_ERROR_CODE_MATCH,
    VmcsField::CR3_TARGET_COUNT, VmcsField::PRIMARY_VM_EXIT_CONTROLS,
    VmcsField::VM_EXIT_MSR_STORE_COUNT, VmcsField::VM_EXIT_MSR_LOAD_COUNT,
    VmcsField::VM_ENTRY_CONTROLS, VmcsField::VM_ENTRY_MSR_LOAD_COUNT,
    VmcsField::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, VmcsField::VM_ENTRY_EXCEPTION_ERROR_CODE,
    VmcsField::VM_ENTRY_INSTRUCTION_LENGTH,
    VmcsField::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
    // 32-bit read-only
    VmcsField::VM_INSTRUCTION_ERROR, VmcsField::EXIT_REASON,
    VmcsField::VM_EXIT_INTERRUPTION_INFORMATION, VmcsField::VM_EXIT_INTERRUPTION_ERROR_CODE,
    VmcsField::IDT_VECTORING_INFORMATION_FIELD, VmcsField::IDT_VECTORING_ERROR_CODE,
    VmcsField::VM_EXIT_INSTRUCTION_LENGTH, VmcsField::VM_EXIT_INSTRUCTION_INFORMATION,
    // 32-bit guest and host
    VmcsField::GUEST_ES_LIMIT, VmcsField::GUEST_CS_LIMIT, VmcsField::GUEST_SS_LIMIT,
    VmcsField::GUEST_DS_LIMIT, VmcsField::GUEST_FS_LIMIT, VmcsField::GUEST_GS_LIMIT,
    VmcsField::GUEST_LDTR_LIMIT, VmcsField::GUEST_TR_LIMIT, VmcsField::GUEST_GDTR_LIMIT,
    VmcsField::GUEST_IDTR_LIMIT, VmcsField::GUEST_ES_ACCESS_RIGHTS,
    VmcsField::GUEST_CS_ACCESS_RIGHTS, VmcsField::GUEST_SS_ACCESS_RIGHTS,
    VmcsField::GUEST_DS_ACCESS_RIGHTS, VmcsField::GUEST_FS_ACCESS_RIGHTS,
    VmcsField::GUEST_GS_ACCESS_RIGHTS, VmcsField::GUEST_LDTR_ACCESS_RIGHTS,
    VmcsField::GUEST_TR_ACCESS_RIGHTS, VmcsField::GUEST_INTERRUPTIBILITY_STATE,
    VmcsField::GUEST_ACTIVITY_STATE, VmcsField::GUEST_SMBASE, VmcsField::GUEST_IA32_SYSENTER_CS,
    VmcsField::VMX_PREEMPTION_TIMER_VALUE, VmcsField::HOST_IA32_SYSENTER_CS,
    // natural-width control and read-only
    VmcsField::CR0_GUEST_HOST_MASK, VmcsField::CR4_GUEST_HOST_MASK, VmcsField::CR0_READ_SHADOW,
    VmcsField::CR4_READ_SHADOW, VmcsField::CR3_TARGET_VALUE_0, VmcsField::CR3_TARGET_VALUE_1,
    VmcsField::CR3_TARGET_VALUE_2, VmcsField::CR3_TARGET_VALUE_3, VmcsField::EXIT_QUALIFICATION,
    VmcsField::IO_RCX, VmcsField::IO_RSI, VmcsField::IO_RDI, VmcsField::IO_RIP,
    VmcsField::GUEST_LINEAR_ADDRESS,
    // natural-width guest
    VmcsField::GUEST_CR0, VmcsField::GUEST_CR3, VmcsField::GUEST_CR4, VmcsField::GUEST_ES_BASE,
    VmcsField::GUEST_CS_BASE, VmcsField::GUEST_SS_BASE, VmcsField::GUEST_DS_BASE,
    VmcsField::GUEST_FS_BASE, VmcsField::GUEST_GS_BASE, VmcsField::GUEST_LDTR_BASE,
    VmcsField::GUEST_TR_BASE, VmcsField::GUEST_GDTR_BASE, VmcsField::GUEST_IDTR_BASE,
    VmcsField::GUEST_DR7, VmcsField::GUEST_RSP, VmcsField::GUEST_RIP, VmcsField::GUEST_RFLAGS,
    VmcsField::GUEST_PENDING_DEBUG_EXCEPTIONS, VmcsField::GUEST_IA32_SYSENTER_ESP,
    VmcsField::GUEST_IA32_SYSENTER_EIP,
    // natural-width host
    VmcsField::HOST_CR0, VmcsField::HOST_CR3, VmcsField::HOST_CR4, VmcsField::HOST_FS_BASE,
    VmcsField::HOST_GS_BASE, VmcsField::HOST_TR_BASE, VmcsField::HOST_GDTR_BASE,
    VmcsField::HOST_IDTR_BASE, VmcsField::HOST_IA32_SYSENTER_ESP, VmcsField::HOST_IA32_SYSENTER_EIP,
    VmcsField::HOST_RSP, VmcsField::HOST_RIP,
    // EPT and VPID (appended: older VMCS regions and checkpoints keep their slots)
    VmcsField::VIRTUAL_PROCESSOR_ID, VmcsField::EPT_POINTER, VmcsField::GUEST_PHYSICAL_ADDRESS,
    VmcsField::GUEST_PDPTE0, VmcsField::GUEST_PDPTE1, VmcsField::GUEST_PDPTE2,
    VmcsField::GUEST_PDPTE3,
    // TPR shadow (appended: checkpoint section version 3)
    VmcsField::VIRTUAL_APIC_ADDRESS, VmcsField::TPR_THRESHOLD};

inline constexpr unsigned kNumFields = sizeof(kSupportedFields) / sizeof(kSupportedFields[0]);
/// Fields of version-2 checkpoints (before the TPR-shadow fields were appended).
inline constexpr unsigned kNumFieldsV2 = kNumFields - 2;
/// Fields of version-1 checkpoints (before the EPT and VPID fields were appended).
inline constexpr unsigned kNumFieldsV1 = kNumFieldsV2 - 7;

/// Lookup key of an encoding: width, type and index (index < 32 for every supported field).
constexpr unsigned field_key(uint32_t enc) {
  return ((enc >> 13) & 3) << 7 | ((enc >> 10) & 3) << 5 | ((enc >> 1) & 31);
}
inline constexpr unsigned kNoSlot = 0xFFFF;
/// Slot of every key (kNoSlot = not supported).
inline constexpr std::array<uint16_t, 512> kSlotOfKey = [] {
  std::array<uint16_t, 512> t{};
  for (auto& x : t) x = kNoSlot;
  for (unsigned k = 0; k < kNumFields; ++k)
    t[field_key(static_cast<uint32_t>(kSupportedFields[k]))] = static_cast<uint16_t>(k);
  return t;
}();
/// Highest index of any supported encoding (IA32_VMX_VMCS_ENUM bits 9:1).
inline constexpr unsigned kHighestIndex = [] {
  unsigned m = 0;
  for (VmcsField f : kSupportedFields) {
    unsigned i = spec::encoding_index(static_cast<uint32_t>(f));
    if (i > m) m = i;
  }
  return m;
}();

/// Slot of a supported field encoding (full or high access), or kNoSlot.
constexpr unsigned slot_of(uint64_t enc) {
  if (enc >> 32 || (enc & spec::kEncodingReserved)) return kNoSlot;
  uint32_t e = static_cast<uint32_t>(enc);
  if (((e >> 1) & 0x1FF) >= 32) return kNoSlot;
  bool high = e & spec::kEncodingHigh;
  if (high && spec::encoding_width(e) != spec::FieldWidth::k64) return kNoSlot;
  unsigned s = kSlotOfKey[field_key(e & ~spec::kEncodingHigh)];
  if (s == kNoSlot) return kNoSlot;
  return static_cast<uint32_t>(kSupportedFields[s]) == (e & ~spec::kEncodingHigh) ? s : kNoSlot;
}

/// The VMCS region layout in simulated memory (hvsim's implementation-specific format,
/// SDM 25.2 leaves it to the processor):
///   offset 0   revision identifier (bits 30:0) and shadow-VMCS indicator (bit 31)
///   offset 4   VMX-abort indicator
///   offset 8   launch state: 0 clear, 1 launched (a 32-bit word)
///   offset 16  the supported fields, 8 bytes each, in kSupportedFields order
namespace region {
constexpr unsigned kRevision = 0, kAbort = 4, kLaunchState = 8, kFields = 16;
constexpr unsigned kSize = 4096;
static_assert(kFields + 8 * kNumFields <= kSize);
}  // namespace region

/// The cached current VMCS: every supported field, stored at its natural width.
struct Vmcs {
  std::array<uint64_t, kNumFields> v{};
  bool launched = false;
  /// The VM-entry checks of the controls and host-state area passed and no control or
  /// host-state field changed since (vm_entry.cpp may then skip them). Every write of such
  /// a field clears it: set(), Vmx::vmwrite_field, loading and restoring the VMCS.
  bool checked = false;

  /// Whether a write to encoding `e` can change the outcome of those checks.
  static constexpr bool affects_checks(uint32_t e) {
    spec::FieldType t = spec::encoding_type(e);
    return t == spec::FieldType::kControl || t == spec::FieldType::kHostState;
  }
  /// A supported field (the engine names only those): one table lookup, no validation.
  uint64_t get(VmcsField f) const { return v[kSlotOfKey[field_key(static_cast<uint32_t>(f))]]; }
  void set(VmcsField f, uint64_t x) {
    uint32_t e = static_cast<uint32_t>(f);
    uint64_t& slot = v[kSlotOfKey[field_key(e)]];
    x = truncate(e, x);
    if (affects_checks(e) && slot != x) checked = false;
    slot = x;
  }
  /// A value as a field of the width of encoding `e` holds it.
  static uint64_t truncate(uint32_t e, uint64_t x) {
    switch (spec::encoding_width(e)) {
      case spec::FieldWidth::k16: return x & 0xFFFF;
      case spec::FieldWidth::k32: return x & 0xFFFFFFFF;
      default: return x;
    }
  }
};

/// The guest-state fields of one segment register (SDM 25.4.1), in the order of the
/// processor's registers: ES, CS, SS, DS, FS, GS (ArchState::seg), then LDTR and TR.
struct GuestSegmentFields {
  VmcsField selector, base, limit, access_rights;
};
inline constexpr GuestSegmentFields kGuestSegmentFields[8] = {
    {VmcsField::GUEST_ES_SELECTOR, VmcsField::GUEST_ES_BASE, VmcsField::GUEST_ES_LIMIT,
     VmcsField::GUEST_ES_ACCESS_RIGHTS},
    {VmcsField::GUEST_CS_SELECTOR, VmcsField::GUEST_CS_BASE, VmcsField::GUEST_CS_LIMIT,
     VmcsField::GUEST_CS_ACCESS_RIGHTS},
    {VmcsField::GUEST_SS_SELECTOR, VmcsField::GUEST_SS_BASE, VmcsField::GUEST_SS_LIMIT,
     VmcsField::GUEST_SS_ACCESS_RIGHTS},
    {VmcsField::GUEST_DS_SELECTOR, VmcsField::GUEST_DS_BASE, VmcsField::GUEST_DS_LIMIT,
     VmcsField::GUEST_DS_ACCESS_RIGHTS},
    {VmcsField::GUEST_FS_SELECTOR, VmcsField::GUEST_FS_BASE, VmcsField::GUEST_FS_LIMIT,
     VmcsField::GUEST_FS_ACCESS_RIGHTS},
    {VmcsField::GUEST_GS_SELECTOR, VmcsField::GUEST_GS_BASE, VmcsField::GUEST_GS_LIMIT,
     VmcsField::GUEST_GS_ACCESS_RIGHTS},
    {VmcsField::GUEST_LDTR_SELECTOR, VmcsField::GUEST_LDTR_BASE, VmcsField::GUEST_LDTR_LIMIT,
     VmcsField::GUEST_LDTR_ACCESS_RIGHTS},
    {VmcsField::GUEST_TR_SELECTOR, VmcsField::GUEST_TR_BASE, VmcsField::GUEST_TR_LIMIT,
     VmcsField::GUEST_TR_ACCESS_RIGHTS},
};

/// The same fields as slots of Vmcs::v, for the VM-entry load and VM-exit save loops
/// (one indexed access each; selectors, limits and access rights already fit their width).
struct GuestSegmentSlots {
  uint16_t selector, base, limit, access_rights;
};
inline constexpr std::array<GuestSegmentSlots, 8> kGuestSegmentSlots = [] {
  std::array<GuestSegmentSlots, 8> t{};
  auto slot = [](VmcsField f) { return kSlotOfKey[field_key(static_cast<uint32_t>(f))]; };
  for (unsigned k = 0; k < 8; ++k) {
    const GuestSegmentFields& g = kGuestSegmentFields[k];
    t[k] = {slot(g.selector), slot(g.base), slot(g.limit), slot(g.access_rights)};
  }
  return t;
}();

}  // namespace hvsim::cpu::vmx
