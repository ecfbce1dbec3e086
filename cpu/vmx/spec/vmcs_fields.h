// VMCS component encodings (Intel SDM Vol. 3C ch. 25 "Virtual machine control structures",
// 25.11.2 "VMREAD, VMWRITE, and encodings of VMCS fields"; Appendix B "Field encoding in
// VMCS"). Names follow the field names of Appendix B.
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

// Every field of Appendix B that hvsim knows by name (not all are implemented: the set of
// supported fields is in cpu/vmx/vmcs.cpp). X(name, encoding).
#define HVSIM_VMCS_FIELDS(X)                                 \
  /* B.1.1 16-bit control fields */                          \
  X(VIRTUAL_PROCESSOR_ID, 0x0000)                            \
  X(POSTED_INTERRUPT_NOTIFICATION_VECTOR, 0x0002)            \
  X(EPTP_INDEX, 0x0004)                                      \
  /* B.1.2 16-bit guest-state fields */                      \
  X(GUEST_ES_SELECTOR, 0x0800)                               \
  X(GUEST_CS_SELECTOR, 0x0802)                               \
  X(GUEST_SS_SELECTOR, 0x0804)                               \
  X(GUEST_DS_SELECTOR, 0x0806)                               \
  X(GUEST_FS_SELECTOR, 0x0808)                               \
  X(GUEST_GS_SELECTOR, 0x080A)                               \
  X(GUEST_LDTR_SELECTOR, 0x080C)                             \
  X(GUEST_TR_SELECTOR, 0x080E)                               \
  X(GUEST_INTERRUPT_STATUS, 0x0810)                          \
  X(PML_INDEX, 0x0812)                                       \
  /* B.1.3 16-bit host-state fields */                       \
  X(HOST_ES_SELECTOR, 0x0C00)                                \
  X(HOST_CS_SELECTOR, 0x0C02)                                \
  X(HOST_SS_SELECTOR, 0x0C04)                                \
  X(HOST_DS_SELECTOR, 0x0C06)                                \
  X(HOST_FS_SELECTOR, 0x0C08)                                \
  X(HOST_GS_SELECTOR, 0x0C0A)                                \
  X(HOST_TR_SELECTOR, 0x0C0C)                                \
  /* B.2.1 64-bit control fields */                          \
  X(ADDRESS_OF_IO_BITMAP_A, 0x2000)                          \
  X(ADDRESS_OF_IO_BITMAP_B, 0x2002)                          \
  X(ADDRESS_OF_MSR_BITMAPS, 0x2004)                          \
  X(VM_EXIT_MSR_STORE_ADDRESS, 0x2006)                       \
  X(VM_EXIT_MSR_LOAD_ADDRESS, 0x2008)                        \
  X(VM_ENTRY_MSR_LOAD_ADDRESS, 0x200A)                       \
  X(EXECUTIVE_VMCS_POINTER, 0x200C)                          \
  X(PML_ADDRESS, 0x200E)                                     \
  X(TSC_OFFSET, 0x2010)                                      \
  X(VIRTUAL_APIC_ADDRESS, 0x2012)                            \
  X(APIC_ACCESS_ADDRESS, 0x2014)                             \
  X(POSTED_INTERRUPT_DESCRIPTOR_ADDRESS, 0x2016)             \
  X(VM_FUNCTION_CONTROLS, 0x2018)                            \
  X(EPT_POINTER, 0x201A)                                     \
  X(EOI_EXIT_BITMAP_0, 0x201C)                               \
  X(EOI_EXIT_BITMAP_1, 0x201E)                               \
  X(EOI_EXIT_BITMAP_2, 0x2020)                               \
  X(EOI_EXIT_BITMAP_3, 0x2022)                               \
  X(EPTP_LIST_ADDRESS, 0x2024)                               \
  X(VMREAD_BITMAP_ADDRESS, 0x2026)                           \
  X(VMWRITE_BITMAP_ADDRESS, 0x2028)                          \
  X(VIRTUALIZATION_EXCEPTION_INFORMATION_ADDRESS, 0x202A)    \
  X(XSS_EXITING_BITMAP, 0x202C)                              \
  X(TSC_MULTIPLIER, 0x2032)                                  \
  /* B.2.2 64-bit read-only data field */                    \
  X(GUEST_PHYSICAL_ADDRESS, 0x2400)                          \
  /* B.2.3 64-bit guest-state fields */                      \
  X(VMCS_LINK_POINTER, 0x2800)                               \
  X(GUEST_IA32_DEBUGCTL, 0x2802)                             \
  X(GUEST_IA32_PAT, 0x2804)                                  \
  X(GUEST_IA32_EFER, 0x2806)                                 \
  X(GUEST_IA32_PERF_GLOBAL_CTRL, 0x2808)                     \
  X(GUEST_PDPTE0, 0x280A)                                    \
  X(GUEST_PDPTE1, 0x280C)                                    \
  X(GUEST_PDPTE2, 0x280E)                                    \
  X(GUEST_PDPTE3, 0x2810)                                    \
  /* B.2.4 64-bit host-state fields */                       \
  X(HOST_IA32_PAT, 0x2C00)                                   \
  X(HOST_IA32_EFER, 0x2C02)                                  \
  X(HOST_IA32_PERF_GLOBAL_CTRL, 0x2C04)                      \
  /* B.3.1 32-bit control fields */                          \
  X(PIN_BASED_VM_EXECUTION_CONTROLS, 0x4000)                 \
  X(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, 0x4002)   \
  X(EXCEPTION_BITMAP, 0x4004)                                \
  X(PAGE_FAULT_ERROR_CODE_MASK, 0x4006)                      \
  X(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008)                     \
  X(CR3_TARGET_COUNT, 0x400A)                                \
  X(PRIMARY_VM_EXIT_CONTROLS, 0x400C)                        \
  X(VM_EXIT_MSR_STORE_COUNT, 0x400E)                         \
  X(VM_EXIT_MSR_LOAD_COUNT, 0x4010)                          \
  X(VM_ENTRY_CONTROLS, 0x4012)                               \
  X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014)                         \
  X(VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x4016)         \
  X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018)                   \
  X(VM_ENTRY_INSTRUCTION_LENGTH, 0x401A)                     \
  X(TPR_THRESHOLD, 0x401C)                                   \
  X(SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, 0x401E) \
  X(PLE_GAP, 0x4020)                                         \
  X(PLE_WINDOW, 0x4022)                                      \
  /* B.3.2 32-bit read-only data fields */                   \
  X(VM_INSTRUCTION_ERROR, 0x4400)                            \
  X(EXIT_REASON, 0x4402)                                     \
  X(VM_EXIT_INTERRUPTION_INFORMATION, 0x4404)                \
  X(VM_EXIT_INTERRUPTION_ERROR_CODE, 0x4406)                 \
  X(IDT_VECTORING_INFORMATION_FIELD, 0x4408)                 \
  X(IDT_VECTORING_ERROR_CODE, 0x440A)                        \
  X(VM_EXIT_INSTRUCTION_LENGTH, 0x440C)                      \
  X(VM_EXIT_INSTRUCTION_INFORMATION, 0x440E)                 \
  /* B.3.3 32-bit guest-state fields */                      \
  X(GUEST_ES_LIMIT, 0x4800)                                  \
  X(GUEST_CS_LIMIT, 0x4802)                                  \
  X(GUEST_SS_LIMIT, 0x4804)                                  \
  X(GUEST_DS_LIMIT, 0x4806)                                  \
  X(GUEST_FS_LIMIT, 0x4808)                                  \
  X(GUEST_GS_LIMIT, 0x480A)                                  \
  X(GUEST_LDTR_LIMIT, 0x480C)                                \
  X(GUEST_TR_LIMIT, 0x480E)                                  \
  X(GUEST_GDTR_LIMIT, 0x4810)                                \
  X(GUEST_IDTR_LIMIT, 0x4812)                                \
  X(GUEST_ES_ACCESS_RIGHTS, 0x4814)                          \
  X(GUEST_CS_ACCESS_RIGHTS, 0x4816)                          \
  X(GUEST_SS_ACCESS_RIGHTS, 0x4818)                          \
  X(GUEST_DS_ACCESS_RIGHTS, 0x481A)                          \
  X(GUEST_FS_ACCESS_RIGHTS, 0x481C)                          \
  X(GUEST_GS_ACCESS_RIGHTS, 0x481E)                          \
  X(GUEST_LDTR_ACCESS_RIGHTS, 0x4820)                        \
  X(GUEST_TR_ACCESS_RIGHTS, 0x4822)                          \
  X(GUEST_INTERRUPTIBILITY_STATE, 0x4824)                    \
  X(GUEST_ACTIVITY_STATE, 0x4826)                            \
  X(GUEST_SMBASE, 0x4828)                                    \
  X(GUEST_IA32_SYSENTER_CS, 0x482A)                          \
  X(VMX_PREEMPTION_TIMER_VALUE, 0x482E)                      \
  /* B.3.4 32-bit host-state field */                        \
  X(HOST_IA32_SYSENTER_CS, 0x4C00)                           \
  /* B.4.1 natural-width control fields */                   \
  X(CR0_GUEST_HOST_MASK, 0x6000)                             \
  X(CR4_GUEST_HOST_MASK, 0x6002)                             \
  X(CR0_READ_SHADOW, 0x6004)                                 \
  X(CR4_READ_SHADOW, 0x6006)                                 \
  X(CR3_TARGET_VALUE_0, 0x6008)                              \
  X(CR3_TARGET_VALUE_1, 0x600A)                              \
  X(CR3_TARGET_VALUE_2, 0x600C)                              \
  X(CR3_TARGET_VALUE_3, 0x600E)                              \
  /* B.4.2 natural-width read-only data fields */            \
  X(EXIT_QUALIFICATION, 0x6400)                              \
  X(IO_RCX, 0x6402)                                          \
  X(IO_RSI, 0x6404)                                          \
  X(IO_RDI, 0x6406)                                          \
  X(IO_RIP, 0x6408)                                          \
  X(GUEST_LINEAR_ADDRESS, 0x640A)                            \
  /* B.4.3 natural-width guest-state fields */               \
  X(GUEST_CR0, 0x6800)                                       \
  X(GUEST_CR3, 0x6802)                                       \
  X(GUEST_CR4, 0x6804)                                       \
  X(GUEST_ES_BASE, 0x6806)                                   \
  X(GUEST_CS_BASE, 0x6808)                                   \
  X(GUEST_SS_BASE, 0x680A)                                   \
  X(GUEST_DS_BASE, 0x680C)                                   \
  X(GUEST_FS_BASE, 0x680E)                                   \
  X(GUEST_GS_BASE, 0x6810)                                   \
  X(GUEST_LDTR_BASE, 0x6812)                                 \
  X(GUEST_TR_BASE, 0x6814)                                   \
  X(GUEST_GDTR_BASE, 0x6816)                                 \
  X(GUEST_IDTR_BASE, 0x6818)                                 \
  X(GUEST_DR7, 0x681A)                                       \
  X(GUEST_RSP, 0x681C)                                       \
  X(GUEST_RIP, 0x681E)                                       \
  X(GUEST_RFLAGS, 0x6820)                                    \
  X(GUEST_PENDING_DEBUG_EXCEPTIONS, 0x6822)                  \
  X(GUEST_IA32_SYSENTER_ESP, 0x6824)                         \
  X(GUEST_IA32_SYSENTER_EIP, 0x6826)                         \
  /* B.4.4 natural-width host-state fields */                \
  X(HOST_CR0, 0x6C00)                                        \
  X(HOST_CR3, 0x6C02)                                        \
  X(HOST_CR4, 0x6C04)                                        \
  X(HOST_FS_BASE, 0x6C06)                                    \
  X(HOST_GS_BASE, 0x6C08)                                    \
  X(HOST_TR_BASE, 0x6C0A)                                    \
  X(HOST_GDTR_BASE, 0x6C0C)                                  \
  X(HOST_IDTR_BASE, 0x6C0E)                                  \
  X(HOST_IA32_SYSENTER_ESP, 0x6C10)                          \
  X(HOST_IA32_SYSENTER_EIP, 0x6C12)                          \
  X(HOST_RSP, 0x6C14)                                        \
  X(HOST_RIP, 0x6C16)

/// A VMCS component by its encoding (the "full" access form; a 64-bit field's "high"
/// form is the encoding + 1).
enum class VmcsField : uint32_t {
#define HVSIM_X(name, enc) name = enc,
  HVSIM_VMCS_FIELDS(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(VmcsField f) {
  switch (f) {
#define HVSIM_X(name, enc) \
  case VmcsField::name: return #name;
    HVSIM_VMCS_FIELDS(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown VMCS field";
}

// Structure of an encoding (SDM 25.11.2, Table 25-21).
/// Bit 0: access type (0 full, 1 high: the upper 32 bits of a 64-bit field).
constexpr uint32_t kEncodingHigh = 1u << 0;
/// Bits 9:1: index.
constexpr unsigned encoding_index(uint32_t e) {
  return (e >> 1) & 0x1FF;
}
/// Bits 11:10: type.
enum class FieldType : uint8_t {
  kControl = 0,
  kExitInformation = 1,
  kGuestState = 2,
  kHostState = 3
};
constexpr FieldType encoding_type(uint32_t e) {
  return static_cast<FieldType>((e >> 10) & 3);
}
/// Bits 14:13: width.
enum class FieldWidth : uint8_t { k16 = 0, k64 = 1, k32 = 2, kNatural = 3 };
constexpr FieldWidth encoding_width(uint32_t e) {
  return static_cast<FieldWidth>((e >> 13) & 3);
}
/// Bits 31:15 and 12 are reserved (a set bit makes the encoding unsupported).
constexpr uint32_t kEncodingReserved = 0xFFFF9000u;

}  // namespace hvsim::cpu::vmx::spec
