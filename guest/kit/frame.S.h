/* The interrupt frame shared by the exception and interrupt stubs (struct frame in
 * kit/exception.h): the CPU's frame, the vector and error code the stub pushed, then the
 * general registers. FRAME_CALL(hook) saves them, calls hook(struct frame *) and returns
 * with IRETQ to whatever the hook left in the frame. */
#pragma once

.macro FRAME_CALL hook
  pushq %rax
  pushq %rcx
  pushq %rdx
  pushq %rbx
  pushq %rbp
  pushq %rsi
  pushq %rdi
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, %rdi              /* 16-byte aligned here: the CPU aligned it before the frame */
  cld
  call \hook
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rdi
  popq %rsi
  popq %rbp
  popq %rbx
  popq %rdx
  popq %rcx
  popq %rax
  addq $16, %rsp               /* vector and error code */
  iretq
.endm
