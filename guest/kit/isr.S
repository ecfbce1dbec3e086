/* Exception entry stubs for vectors 0-31: uniform frame, handle_exception(frame), IRETQ
 * (SDM Vol. 3A 6.14: 64-bit interrupt stack frame). */
#include "kit/frame.S.h"
#include "kit/layout.h"

/* Vectors for which the processor pushes an error code (SDM Vol. 3A Table 6-1). */
.macro ISR vector
  .p2align 4
isr_\vector:
  .if (\vector == 8) || (\vector >= 10 && \vector <= 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
  .else
  pushq $0                     /* dummy error code keeps struct frame uniform */
  .endif
  pushq $\vector
  jmp isr_common
.endm

  .text
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ISR \v
  .endr

/* Stack on entry: vector, error code, RIP, CS, RFLAGS, RSP, SS. Pushes the 15 general
 * registers to complete struct frame (kit/exception.h) and calls the C hook with it. The
 * hook may edit the frame; what it leaves is what IRETQ resumes. */
  .p2align 4
isr_common:
  FRAME_CALL handle_exception

  .section .rodata
  .p2align 3
  .globl kit_isr_table
kit_isr_table:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .quad isr_\v
  .endr

  .section .note.GNU-stack, "", @progbits
