/* Entry stubs for vectors 32-255 (external interrupts and IPIs): uniform frame,
 * kit_interrupt(frame), IRETQ (SDM Vol. 3A 6.14: 64-bit interrupt stack frame). */
#include "kit/frame.S.h"
#include "kit/layout.h"

.macro INTR vector
  .p2align 4
intr_\vector:
  pushq $0                     /* no error code for external interrupts */
  pushq $\vector
  jmp intr_common
.endm

  .text
  .altmacro
  .set v, 32
  .rept 224
  INTR %v
  .set v, v + 1
  .endr

/* Same frame as isr.S (struct frame in kit/exception.h). */
  .p2align 4
intr_common:
  FRAME_CALL kit_interrupt

.macro INTR_ENTRY vector
  .quad intr_\vector
.endm

  .section .rodata
  .p2align 3
  .globl kit_intr_table
kit_intr_table:
  .set v, 32
  .rept 224
  INTR_ENTRY %v
  .set v, v + 1
  .endr

  .section .note.GNU-stack, "", @progbits
