// VM-instruction error numbers (Intel SDM Vol. 3C 31.4 "VM instruction error numbers",
// Table 31-1), stored in the VM-instruction error field on VMfailValid.
#pragma once

#include <cstdint>

namespace hvsim::cpu::vmx::spec {

#define HVSIM_VM_INSTRUCTION_ERRORS(X)                              \
  X(VMCALL_IN_VMX_ROOT_OPERATION, 1)                                \
  X(VMCLEAR_WITH_INVALID_PHYSICAL_ADDRESS, 2)                       \
  X(VMCLEAR_WITH_VMXON_POINTER, 3)                                  \
  X(VMLAUNCH_WITH_NON_CLEAR_VMCS, 4)                                \
  X(VMRESUME_WITH_NON_LAUNCHED_VMCS, 5)                             \
  X(VMRESUME_AFTER_VMXOFF, 6)                                       \
  X(VM_ENTRY_WITH_INVALID_CONTROL_FIELDS, 7)                        \
  X(VM_ENTRY_WITH_INVALID_HOST_STATE_FIELDS, 8)                     \
  X(VMPTRLD_WITH_INVALID_PHYSICAL_ADDRESS, 9)                       \
  X(VMPTRLD_WITH_VMXON_POINTER, 10)                                 \
  X(VMPTRLD_WITH_INCORRECT_VMCS_REVISION_IDENTIFIER, 11)            \
  X(VMREAD_VMWRITE_UNSUPPORTED_VMCS_COMPONENT, 12)                  \
  X(VMWRITE_TO_READ_ONLY_VMCS_COMPONENT, 13)                        \
  X(VMXON_IN_VMX_ROOT_OPERATION, 15)                                \
  X(VM_ENTRY_WITH_INVALID_EXECUTIVE_VMCS_POINTER, 16)               \
  X(VM_ENTRY_WITH_NON_LAUNCHED_EXECUTIVE_VMCS, 17)                  \
  X(VM_ENTRY_WITH_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER, 18)     \
  X(VMCALL_WITH_NON_CLEAR_VMCS, 19)                                 \
  X(VMCALL_WITH_INVALID_VM_EXIT_CONTROL_FIELDS, 20)                 \
  X(VMCALL_WITH_INCORRECT_MSEG_REVISION_IDENTIFIER, 22)             \
  X(VMXOFF_UNDER_DUAL_MONITOR_TREATMENT, 23)                        \
  X(VMCALL_WITH_INVALID_SMM_MONITOR_FEATURES, 24)                   \
  X(VM_ENTRY_WITH_INVALID_EXECUTION_CONTROLS_IN_EXECUTIVE_VMCS, 25) \
  X(VM_ENTRY_WITH_EVENTS_BLOCKED_BY_MOV_SS, 26)                     \
  X(INVALID_OPERAND_TO_INVEPT_INVVPID, 28)

enum class VmInstructionError : uint32_t {
#define HVSIM_X(name, n) name = n,
  HVSIM_VM_INSTRUCTION_ERRORS(HVSIM_X)
#undef HVSIM_X
};

inline const char* to_string(VmInstructionError e) {
  switch (e) {
#define HVSIM_X(name, n) \
  case VmInstructionError::name: return #name;
    HVSIM_VM_INSTRUCTION_ERRORS(HVSIM_X)
#undef HVSIM_X
  }
  return "unknown VM-instruction error";
}

}  // namespace hvsim::cpu::vmx::spec
