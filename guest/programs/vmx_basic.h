/* vmx_basic: the mini hypervisor's helpers shared by its parts (vmx_basic.c, vmx_basic_ept.c). */
#pragma once

#include "kit/kit.h"

struct gregs {
  uint64_t rax, rcx, rdx, rbx, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
};
/// Enters the guest (VMLAUNCH if !resume) and returns at its VM exit (vmx_basic_entry.S).
/// HOST_RIP must be vmx_exit_point; vmx_run writes HOST_RSP when it differs from
/// vmx_host_rsp (0 forces the write).
uint64_t vmx_run(struct gregs* g, int resume);
void vmx_exit_point(void);
extern uint64_t vmx_host_rsp;

/// VMREAD/VMWRITE of the current VMCS; a VMfail is reported as a failed check.
uint64_t vmread(uint64_t field);
void vmwrite(uint64_t field, uint64_t v);
/// Sets (on) or clears the bits in a control field.
void set_bits(uint64_t field, uint64_t bits, bool on);
/// One VM entry to the next exit: the exit reason, or 0xFFFFFFFF for VMfail.
uint32_t run_guest(void);
/// Advances GUEST_RIP past the exiting instruction (VM-exit instruction length).
void skip_instruction(void);
/// Runs the guest and checks the exit reason (and the instruction length if len >= 0).
bool expect_exit(uint32_t reason, int len, const char* what);
/// Runs the guest to a VMCALL with RAX = code and skips it.
void expect_vmcall(uint64_t code);

/// The guest's stack (the guests of every part use it; RSP = its top - 8).
extern uint8_t guest_stack[16384];

/// EPT part (vmx_basic_ept.c): violations, misconfiguration and INVEPT under a 4-level EPT
/// identity map with VPID; then (if n > 0) n EPT-violation round trips for the benchmark.
void ept_exits(void);
void ept_violation_round_trips(uint64_t n);
