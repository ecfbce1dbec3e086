/* hello: the smallest guest program: greets on COM1, shows its command line and memory size. */
#include "kit/kit.h"

int kmain(uint32_t magic, uint32_t mbi) {
  const struct multiboot_info* mi = mb_info(mbi);
  printf("Hello from hvsim guest\n");
  printf("cmdline: %s\n", mb_cmdline(mi));
  if (magic == MULTIBOOT_BOOTLOADER_MAGIC && (mi->flags & MULTIBOOT_INFO_MEMORY)) {
    uint32_t kib = mi->mem_upper + 1024;  // upper memory starts at 1 MiB
    printf("memory: lower %u KiB, upper %u KiB (about %u MiB)\n", mi->mem_lower, mi->mem_upper,
           kib / 1024);
  } else {
    printf("memory: unknown (magic 0x%x, flags 0x%x)\n", magic, mi->flags);
  }
  return 0;
}
