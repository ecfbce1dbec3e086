/* GDT TSS descriptor, 64-bit TSS with an IST1 stack, and the IDT (SDM Vol. 3A 6.14, 7.7). */
#pragma once

#include <stdint.h>

/// Installs the TSS (LTR) and an IDT whose vectors 0-31 enter the kit's ISR stubs; #DF,
/// NMI and #MC run on IST1. Called once by the kit at boot.
void cpu_tables_init(void);

/// Points `vector` (0-255) at `handler` as a present 64-bit interrupt gate using stack
/// table slot `ist` (0 = no switch, 1 = IST1).
void idt_set_gate(unsigned vector, void (*handler)(void), unsigned ist);

/// Changes only the IST slot of an installed gate.
void idt_set_ist(unsigned vector, unsigned ist);

/// Bounds of the IST1 stack: [bottom, top).
uint64_t ist1_stack_bottom(void);
uint64_t ist1_stack_top(void);
