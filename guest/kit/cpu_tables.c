/* GDT TSS descriptor, 64-bit TSS with an IST1 stack, and the IDT (SDM Vol. 3A 6.14, 7.7). */
#include "kit/cpu_tables.h"

#include "kit/layout.h"
#include "kit/spec/x86.h"

// 64-bit task-state segment (SDM Vol. 3A Figure 7-11).
struct tss64 {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));

// 64-bit IDT gate descriptor (SDM Vol. 3A Figure 6-8).
struct idt_gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;  // P, DPL, type
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));

struct table_pointer {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

extern uint64_t kit_gdt[KIT_GDT_ENTRIES];                         // boot.S
extern void (*const kit_isr_table[KIT_EXCEPTION_VECTORS])(void);  // isr.S

static struct tss64 tss;
static struct idt_gate idt[256] __attribute__((aligned(16)));
static uint8_t ist1_stack[KIT_IST1_STACK_SIZE] __attribute__((aligned(16)));

uint64_t ist1_stack_bottom(void) {
  return (uint64_t)ist1_stack;
}
uint64_t ist1_stack_top(void) {
  return (uint64_t)ist1_stack + sizeof(ist1_stack);
}

void idt_set_gate(unsigned vector, void (*handler)(void), unsigned ist) {
  uint64_t a = (uint64_t)handler;
  struct idt_gate* g = &idt[vector & 0xFF];
  g->offset_low = (uint16_t)a;
  g->selector = KIT_SEL_CODE64;
  g->ist = (uint8_t)(ist & 7);
  g->type_attr = 0x80 | DESC_TYPE_INTERRUPT_GATE;  // present, DPL 0
  g->offset_mid = (uint16_t)(a >> 16);
  g->offset_high = (uint32_t)(a >> 32);
  g->reserved = 0;
}

void idt_set_ist(unsigned vector, unsigned ist) {
  idt[vector & 0xFF].ist = (uint8_t)(ist & 7);
}

// Writes the 16-byte system descriptor of a 64-bit available TSS (SDM Vol. 3A Figure 7-4).
static void write_tss_descriptor(uint64_t* slot, uint64_t base, uint32_t limit) {
  slot[0] = (limit & 0xFFFFull) | ((base & 0xFFFFFFull) << 16) |
            ((uint64_t)(0x80 | DESC_TYPE_TSS_AVAILABLE) << 40) |
            ((uint64_t)((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFFull) << 56);
  slot[1] = base >> 32;
}

void cpu_tables_init(void) {
  tss.ist[0] = ist1_stack_top();
  tss.iomap_base = sizeof(tss);  // no I/O permission bitmap
  write_tss_descriptor(&kit_gdt[KIT_SEL_TSS / 8], (uint64_t)&tss, sizeof(tss) - 1);
  __asm__ volatile("ltr %w0" ::"r"((uint16_t)KIT_SEL_TSS) : "memory");

  for (unsigned v = 0; v < KIT_EXCEPTION_VECTORS; v++) {
    unsigned ist = (v == VEC_DF || v == VEC_NMI || v == VEC_MC) ? 1 : 0;
    idt_set_gate(v, kit_isr_table[v], ist);
  }
  struct table_pointer p = {sizeof(idt) - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(p) : "memory");
}
