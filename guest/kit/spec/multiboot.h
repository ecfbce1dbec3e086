/* Multiboot v1 header and boot information layouts (Multiboot Specification 0.6.96, 3.1, 3.3).
 * Usable from assembly: the structures are hidden from the assembler. */
#pragma once

#ifndef __ASSEMBLER__
#include <stdint.h>
#endif

#define MULTIBOOT_HEADER_MAGIC 0x1BADB002     /* 3.1.2: in the OS image header */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002 /* 3.2: in EAX at entry */

/* 3.1.2 header flags. */
#define MULTIBOOT_HEADER_PAGE_ALIGN (1 << 0)   /* modules aligned on 4 KiB */
#define MULTIBOOT_HEADER_MEMORY_INFO (1 << 1)  /* mem_* and mmap_* wanted */
#define MULTIBOOT_HEADER_AOUT_KLUDGE (1 << 16) /* address fields valid (not used: we are ELF) */

/* 3.3 boot information flags: which fields of struct multiboot_info are valid. */
#define MULTIBOOT_INFO_MEMORY (1 << 0)      /* mem_lower, mem_upper */
#define MULTIBOOT_INFO_BOOTDEV (1 << 1)     /* boot_device */
#define MULTIBOOT_INFO_CMDLINE (1 << 2)     /* cmdline */
#define MULTIBOOT_INFO_MODS (1 << 3)        /* mods_count, mods_addr */
#define MULTIBOOT_INFO_AOUT_SYMS (1 << 4)   /* syms as a.out table */
#define MULTIBOOT_INFO_ELF_SHDR (1 << 5)    /* syms as ELF section headers */
#define MULTIBOOT_INFO_MEM_MAP (1 << 6)     /* mmap_length, mmap_addr */
#define MULTIBOOT_INFO_DRIVES (1 << 7)      /* drives_* */
#define MULTIBOOT_INFO_CONFIG (1 << 8)      /* config_table */
#define MULTIBOOT_INFO_LOADER_NAME (1 << 9) /* boot_loader_name */

/* 3.3 memory map entry types. */
#define MULTIBOOT_MEMORY_AVAILABLE 1
#define MULTIBOOT_MEMORY_RESERVED 2
#define MULTIBOOT_MEMORY_ACPI_RECLAIMABLE 3
#define MULTIBOOT_MEMORY_NVS 4
#define MULTIBOOT_MEMORY_BADRAM 5

#ifndef __ASSEMBLER__
/* 3.3: the structure EBX points at. All addresses are physical, 32-bit. */
struct multiboot_info {
  uint32_t flags;
  uint32_t mem_lower; /* KiB of lower memory, starting at 0 */
  uint32_t mem_upper; /* KiB of upper memory, starting at 1 MiB */
  uint32_t boot_device;
  uint32_t cmdline; /* address of a NUL-terminated string */
  uint32_t mods_count;
  uint32_t mods_addr; /* address of mods_count struct multiboot_module */
  uint32_t syms[4];
  uint32_t mmap_length; /* bytes of the memory map buffer */
  uint32_t mmap_addr;
  uint32_t drives_length;
  uint32_t drives_addr;
  uint32_t config_table;
  uint32_t boot_loader_name;
  uint32_t apm_table;
  uint32_t vbe_control_info;
  uint32_t vbe_mode_info;
  uint16_t vbe_mode;
  uint16_t vbe_interface_seg;
  uint16_t vbe_interface_off;
  uint16_t vbe_interface_len;
} __attribute__((packed));

/* 3.3: one boot module. */
struct multiboot_module {
  uint32_t mod_start; /* first byte */
  uint32_t mod_end;   /* one past the last byte */
  uint32_t string;    /* address of a NUL-terminated string, e.g. the file name */
  uint32_t reserved;
} __attribute__((packed));

/* 3.3: one memory map entry. `size` does not count itself; the next entry starts at
 * (char*)entry + size + 4. */
struct multiboot_mmap_entry {
  uint32_t size;
  uint64_t base_addr;
  uint64_t length;
  uint32_t type;
} __attribute__((packed));
#endif
