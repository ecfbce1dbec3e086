/* What the boot stub recorded at the Multiboot entry, and the image bounds from link.ld. */
#pragma once

#include <stdint.h>

/// Registers as the loader left them, saved by boot.S before it changed anything.
extern uint32_t boot_entry_eax, boot_entry_ebx;
extern uint32_t boot_entry_cr0, boot_entry_cr4, boot_entry_eflags;

/// Image bounds (link.ld): load address, start and end of BSS, end of the image (memsz).
extern char __image_start[], __bss_start[], __bss_end[], __image_end[];

/// The boot stub's page tables: PML4, PDPT, and four page directories of 2 MiB pages.
extern uint64_t boot_pml4[512], boot_pdpt[512], boot_pd[4 * 512];
extern char boot_stack_bottom[], boot_stack_top[];

/// The program's entry point, called on the boot stack in 64-bit mode with the identity map
/// of the first 4 GiB, the kit's IDT and TSS. Its return value is passed to exit().
int kmain(uint32_t magic, uint32_t mbi);
