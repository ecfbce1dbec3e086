/* Hyper-V definitions guest programs use (TLFS; spec/hyperv-interfaces.md §2-§5): the
 * synthetic MSRs, SINT and synthetic-timer bits, hypercall codes and statuses, and the
 * SynIC message slot. One copy for every program and the kit. */
#pragma once

#include <stdint.h>

/* §2 synthetic MSRs */
#define HV_MSR_GUEST_OS_ID 0x40000000u
#define HV_MSR_HYPERCALL 0x40000001u
#define HV_MSR_VP_INDEX 0x40000002u
#define HV_MSR_RESET 0x40000003u
#define HV_MSR_TIME_REF_COUNT 0x40000020u
#define HV_MSR_REFERENCE_TSC 0x40000021u
#define HV_MSR_TSC_FREQUENCY 0x40000022u
#define HV_MSR_APIC_FREQUENCY 0x40000023u
#define HV_MSR_EOI 0x40000070u
#define HV_MSR_VP_ASSIST_PAGE 0x40000073u
#define HV_MSR_SCONTROL 0x40000080u
#define HV_MSR_SVERSION 0x40000081u
#define HV_MSR_SIEFP 0x40000082u
#define HV_MSR_SIMP 0x40000083u
#define HV_MSR_EOM 0x40000084u
#define HV_MSR_SIRBP 0x40000085u
#define HV_MSR_SINT(x) (0x40000090u + (x))
#define HV_MSR_STIMER_CONFIG(n) (0x400000B0u + 2 * (n))
#define HV_MSR_STIMER_COUNT(n) (0x400000B1u + 2 * (n))
#define HV_MSR_CRASH_P0 0x40000100u
#define HV_MSR_CRASH_CTL 0x40000105u

/* SINTx bits */
#define SINT_MASKED (1ull << 16)
#define SINT_AUTO_EOI (1ull << 17)
#define SINT_POLLING (1ull << 18)

/* STIMERx_CONFIG bits */
#define STIMER_ENABLE (1ull << 0)
#define STIMER_PERIODIC (1ull << 1)
#define STIMER_AUTO_ENABLE (1ull << 3)
#define STIMER_DIRECT (1ull << 12)
#define STIMER_SINT(x) ((uint64_t)(x) << 16)

/* §3 hypercall statuses */
#define HV_STATUS_SUCCESS 0
#define HV_STATUS_INVALID_HYPERCALL_CODE 2
#define HV_STATUS_INVALID_HYPERCALL_INPUT 3
#define HV_STATUS_INVALID_ALIGNMENT 4
#define HV_STATUS_INVALID_PARAMETER 5
#define HV_STATUS_INVALID_PARTITION_STATE 7
#define HV_STATUS_INVALID_PARTITION_ID 0xD
#define HV_STATUS_INVALID_VP_INDEX 0xE
#define HV_STATUS_INVALID_PORT_ID 0x11
#define HV_STATUS_INVALID_CONNECTION_ID 0x12
#define HV_STATUS_INSUFFICIENT_BUFFERS 0x13
#define HV_STATUS_INVALID_SYNIC_STATE 0x18

/* §3 hypercall codes and input bits */
#define HV_CALL_FLUSH_VIRTUAL_ADDRESS_SPACE 0x0002
#define HV_CALL_NOTIFY_LONG_SPIN_WAIT 0x0008
#define HV_CALL_CREATE_PARTITION 0x0040
#define HV_CALL_INITIALIZE_PARTITION 0x0041
#define HV_CALL_DELETE_PARTITION 0x0043
#define HV_CALL_MAP_GPA_PAGES 0x004B
#define HV_CALL_UNMAP_GPA_PAGES 0x004C
#define HV_CALL_CREATE_VP 0x004E
#define HV_CALL_SET_VP_REGISTERS 0x0051
#define HV_CALL_POST_MESSAGE 0x005C
#define HV_CALL_SIGNAL_EVENT 0x005D
#define HV_INPUT_FAST (1ull << 16)
#define HV_REP(n) ((uint64_t)(n) << 32)

/* Register names for Get/SetVpRegisters */
#define HV_REG_RIP 0x00020010u
#define HV_REG_CS 0x00060001u

/* §4 SynIC message slot (256 bytes; 16 of them in the SIM page) */
#define HV_MESSAGE_TIMER_EXPIRED 0x80000010u
#define HV_MESSAGE_FLAG_PENDING 1 /* flags bit 0: MessagePending */

struct hv_message {
  uint32_t type; /* 0: the slot is free */
  uint8_t size;  /* payload bytes */
  uint8_t flags;
  uint16_t reserved;
  uint64_t sender; /* port id, or the timer's */
  union {
    uint8_t bytes[240];
    uint64_t qwords[30];
  } payload;
};
