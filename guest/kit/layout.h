/* Fixed layout facts shared by the boot stub, the ISR stubs and C: selectors and stack sizes. */
#pragma once

#define KIT_SEL_CODE64 0x08 /* 64-bit ring-0 code */
#define KIT_SEL_DATA 0x10   /* flat ring-0 data */
#define KIT_SEL_TSS 0x18    /* 16-byte 64-bit TSS descriptor */
#define KIT_GDT_ENTRIES 5   /* 8-byte slots, the TSS taking two */

#define KIT_BOOT_STACK_SIZE (64 * 1024) /* stack kmain runs on */
#define KIT_IST1_STACK_SIZE (16 * 1024) /* stack for vectors routed to IST1 */
#define KIT_EXCEPTION_VECTORS 32        /* vectors with kit handlers */
