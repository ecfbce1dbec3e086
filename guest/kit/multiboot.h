/* Reading the Multiboot v1 information structure the loader passed in EBX. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kit/spec/multiboot.h"

/// The information structure at physical address `mbi` (identity-mapped).
static inline const struct multiboot_info* mb_info(uint32_t mbi) {
  return (const struct multiboot_info*)(uintptr_t)mbi;
}

/// The command line ("<kernel file> <arguments>"), or "" if flag bit 2 is clear.
const char* mb_cmdline(const struct multiboot_info* mi);

/// Number of modules (0 if flag bit 3 is clear) and module i.
uint32_t mb_module_count(const struct multiboot_info* mi);
const struct multiboot_module* mb_module(const struct multiboot_info* mi, uint32_t i);

/// Memory map iteration: start with entry = NULL; returns the next entry or NULL at the end
/// (or if flag bit 6 is clear).
const struct multiboot_mmap_entry* mb_mmap_next(const struct multiboot_info* mi,
                                                const struct multiboot_mmap_entry* entry);

/// True if one map entry of `type` covers all of [base, base + length).
bool mb_mmap_covers(const struct multiboot_info* mi, uint32_t type, uint64_t base, uint64_t length);

/// Sum of the lengths of entries of `type`.
uint64_t mb_mmap_total(const struct multiboot_info* mi, uint32_t type);

/// Prints flags, memory sizes, command line, modules and the memory map.
void mb_print(const struct multiboot_info* mi);
