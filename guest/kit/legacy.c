/* 32-bit protected-mode tables for legacy_run: a GDT copy with a 32-bit TSS, and a 32-bit
 * IDT (SDM Vol. 3A 3.5.1 descriptors, 6.11 IDT descriptors, 7.2.1 32-bit TSS). */
#include "kit/legacy.h"

#include <stddef.h>

#include "kit/cpu.h"
#include "kit/layout.h"
#include "kit/string_ops.h"
#include "kit/usermode.h"

_Static_assert(offsetof(struct legacy_step, flags) == LS_FLAGS, "layout");
_Static_assert(offsetof(struct legacy_step, addr) == LS_ADDR, "layout");
_Static_assert(offsetof(struct legacy_step, value) == LS_VALUE, "layout");
_Static_assert(offsetof(struct legacy_step, vector) == LS_VECTOR, "layout");
_Static_assert(offsetof(struct legacy_step, error) == LS_ERROR, "layout");
_Static_assert(offsetof(struct legacy_step, cr2) == LS_CR2, "layout");
_Static_assert(offsetof(struct legacy_step, result) == LS_RESULT, "layout");
_Static_assert(sizeof(struct legacy_step) == LS_SIZE, "layout");
_Static_assert(offsetof(struct legacy_env, cr3) == LE_CR3, "layout");
_Static_assert(offsetof(struct legacy_env, cr4) == LE_CR4, "layout");
_Static_assert(offsetof(struct legacy_env, efer) == LE_EFER, "layout");
_Static_assert(offsetof(struct legacy_env, user_code) == LE_USER_CODE, "layout");
_Static_assert(offsetof(struct legacy_env, user_stack) == LE_USER_STACK, "layout");

#define GDT_ENTRIES ((LEGACY_SEL_TSS32 >> 3) + 1)

/// The GDT while legacy_run is usable: the one usermode_init installed, plus the 32-bit
/// TSS. Named by legacy_entry.S, which clears TSS busy bits before LTR.
uint64_t lg_gdt[GDT_ENTRIES] __attribute__((aligned(16)));

/// 32-bit TSS (SDM Figure 7-2): only ESP0/SS0, for exceptions and INT 80h from CPL 3.
static struct __attribute__((packed)) {
  uint32_t link, esp0, ss0, unused[22];
  uint16_t trap, iomap_base;
} tss32;
static uint8_t ring0_stack[8192] __attribute__((aligned(16)));

static uint64_t idt32[256] __attribute__((aligned(16)));
/// LIDT operand in 32-bit mode: 16-bit limit, 32-bit base.
struct __attribute__((packed)) {
  uint16_t limit;
  uint32_t base;
} lg_idt32_pointer;

extern const uint32_t legacy_exception_stubs[32];
void legacy_int80(void);

/// A 32-bit interrupt gate to the 32-bit ring-0 code segment (SDM Figure 6-2).
static uint64_t gate32(uint32_t offset, unsigned dpl) {
  return (offset & 0xFFFFull) | ((uint64_t)KERNEL_SEL_CODE32 << 16) |
         ((uint64_t)(0x8E | (dpl << 5)) << 40) | ((uint64_t)(offset >> 16) << 48);
}

void legacy_init(void) {
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } gdtr;
  __asm__ volatile("sgdt %0" : "=m"(gdtr));
  memset(lg_gdt, 0, sizeof(lg_gdt));
  unsigned n = (gdtr.limit + 1u) / 8;
  if (n > GDT_ENTRIES - 1) n = GDT_ENTRIES - 1;
  memcpy(lg_gdt, (const void*)gdtr.base, n * 8);

  tss32.esp0 = (uint32_t)(uint64_t)(ring0_stack + sizeof(ring0_stack));
  tss32.ss0 = KIT_SEL_DATA;
  tss32.iomap_base = sizeof(tss32);  // beyond the limit: no I/O bitmap
  uint64_t base = (uint64_t)&tss32, limit = sizeof(tss32) - 1;
  lg_gdt[LEGACY_SEL_TSS32 >> 3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
                                  (((base >> 24) & 0xFF) << 56);
  gdtr.limit = sizeof(lg_gdt) - 1;
  gdtr.base = (uint64_t)lg_gdt;
  __asm__ volatile("lgdt %0" ::"m"(gdtr) : "memory");

  for (unsigned v = 0; v < 32; v++) idt32[v] = gate32(legacy_exception_stubs[v], 0);
  idt32[0x80] = gate32((uint32_t)(uint64_t)legacy_int80, 3);
  lg_idt32_pointer.limit = sizeof(idt32) - 1;
  lg_idt32_pointer.base = (uint32_t)(uint64_t)idt32;
}
