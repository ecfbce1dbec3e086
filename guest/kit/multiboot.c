/* Reading the Multiboot v1 information structure (Multiboot Specification 0.6.96, 3.3). */
#include "kit/multiboot.h"

#include "kit/console.h"

const char* mb_cmdline(const struct multiboot_info* mi) {
  if (!(mi->flags & MULTIBOOT_INFO_CMDLINE) || !mi->cmdline) return "";
  return (const char*)(uintptr_t)mi->cmdline;
}

uint32_t mb_module_count(const struct multiboot_info* mi) {
  return (mi->flags & MULTIBOOT_INFO_MODS) ? mi->mods_count : 0;
}

const struct multiboot_module* mb_module(const struct multiboot_info* mi, uint32_t i) {
  return (const struct multiboot_module*)(uintptr_t)mi->mods_addr + i;
}

const struct multiboot_mmap_entry* mb_mmap_next(const struct multiboot_info* mi,
                                                const struct multiboot_mmap_entry* entry) {
  if (!(mi->flags & MULTIBOOT_INFO_MEM_MAP)) return 0;
  uintptr_t start = mi->mmap_addr, end = start + mi->mmap_length;
  uintptr_t next = entry ? (uintptr_t)entry + entry->size + 4 : start;
  // An entry must fit whole; a zero size would loop forever.
  if (next + sizeof(struct multiboot_mmap_entry) > end) return 0;
  const struct multiboot_mmap_entry* e = (const struct multiboot_mmap_entry*)next;
  return e->size >= 20 ? e : 0;
}

bool mb_mmap_covers(const struct multiboot_info* mi, uint32_t type, uint64_t base,
                    uint64_t length) {
  for (const struct multiboot_mmap_entry* e = mb_mmap_next(mi, 0); e; e = mb_mmap_next(mi, e)) {
    if (e->type == type && e->base_addr <= base && base + length <= e->base_addr + e->length)
      return true;
  }
  return false;
}

uint64_t mb_mmap_total(const struct multiboot_info* mi, uint32_t type) {
  uint64_t sum = 0;
  for (const struct multiboot_mmap_entry* e = mb_mmap_next(mi, 0); e; e = mb_mmap_next(mi, e))
    if (e->type == type) sum += e->length;
  return sum;
}

void mb_print(const struct multiboot_info* mi) {
  printf("multiboot: flags=0x%x", mi->flags);
  if (mi->flags & MULTIBOOT_INFO_MEMORY)
    printf(" mem_lower=%u KiB mem_upper=%u KiB", mi->mem_lower, mi->mem_upper);
  printf("\nmultiboot: cmdline=\"%s\"\n", mb_cmdline(mi));
  for (uint32_t i = 0; i < mb_module_count(mi); i++) {
    const struct multiboot_module* m = mb_module(mi, i);
    printf("multiboot: module %u [0x%x, 0x%x) \"%s\"\n", i, m->mod_start, m->mod_end,
           m->string ? (const char*)(uintptr_t)m->string : "");
  }
  for (const struct multiboot_mmap_entry* e = mb_mmap_next(mi, 0); e; e = mb_mmap_next(mi, e))
    printf("multiboot: mmap [0x%012lx, 0x%012lx) type %u\n", e->base_addr, e->base_addr + e->length,
           e->type);
}
