/* Switching between 4-level and 5-level paging from 64-bit code: CR4.LA57 may change only
 * outside IA-32e mode, so the switch goes through compatibility mode with paging off
 * (SDM Vol. 3A 4.1.1, 9.8.5; Vol. 2 "MOV CR"). */
#pragma once

#define CR4_LA57 (1u << 12)

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/// Leaves IA-32e mode (paging off in compatibility mode), sets CR4.LA57 to `la57`, loads
/// CR3 with `cr3` (a PML5 table if la57, else a PML4 table; below 4 GiB) and turns paging
/// on again, back in 64-bit mode. The caller's code, stack, GDT and IDT must be mapped the
/// same way by both hierarchies.
void la57_switch(uint64_t cr3, bool la57);
#endif
