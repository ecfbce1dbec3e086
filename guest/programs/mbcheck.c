/* mbcheck: Multiboot v1 loader acceptance kernel. Checks the entry state, the information
 * structure, the module, the memory map, BSS zeroing, A20 and firmware configuration against
 * expectations on its command line, then exits with the status the command line chose. */
#include "kit/kit.h"

// Exit code when any check fails; `exit=N` is used only when all pass.
#define MBCHECK_FAILED 0x7F

// Big enough that a loader must zero several MiB of BSS; the A20 check uses two of its
// addresses that differ only in bit 20.
#define BSS_BLOCK (4u << 20)
static uint8_t bss_block[BSS_BLOCK] __attribute__((aligned(4096)));
static volatile uint64_t data_canary = 0x0123456789ABCDEFull;  // .data: file contents

static bool overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end) {
  return a < b_end && b < a_end;
}

static uint64_t image_start(void) {
  return (uint64_t)__image_start;
}
static uint64_t image_end(void) {
  return (uint64_t)__image_end;
}

static void check_entry_state(uint32_t magic, uint32_t mbi) {
  check(boot_entry_eax == MULTIBOOT_BOOTLOADER_MAGIC && magic == boot_entry_eax,
        "entry EAX = 0x%x (want 0x%x)", boot_entry_eax, MULTIBOOT_BOOTLOADER_MAGIC);
  check(boot_entry_ebx == mbi && mbi != 0, "entry EBX = 0x%x (information structure)",
        boot_entry_ebx);
  check((boot_entry_cr0 & CR0_PE) && !(boot_entry_cr0 & CR0_PG),
        "entry CR0 = 0x%x: protected mode, paging off", boot_entry_cr0);
  check(!(boot_entry_eflags & RFLAGS_IF) && !(boot_entry_eflags & RFLAGS_VM),
        "entry EFLAGS = 0x%x: IF=0, VM=0", boot_entry_eflags);
}

static void check_image(void) {
  check(data_canary == 0x0123456789ABCDEFull, ".data loaded from the file: canary 0x%lx",
        (uint64_t)data_canary);
  bool zero = true;
  for (uint32_t i = 0; i < BSS_BLOCK; i += 8)
    if (*(uint64_t*)&bss_block[i]) zero = false;
  check(zero, "BSS zeroed by the loader: %u KiB at %p, image [%lx, %lx)", BSS_BLOCK / 1024,
        (void*)bss_block, image_start(), image_end());

  // A20: two addresses differing only in bit 20 must be different memory.
  uint64_t low_addr = ((uint64_t)bss_block + (2u << 20) - 1) & ~((2ull << 20) - 1);  // bit 20 clear
  volatile uint32_t* low = (uint32_t*)low_addr;
  volatile uint32_t* high = (uint32_t*)(low_addr | (1u << 20));  // still inside the block
  *low = 0xA20A20A2u;
  *high = 0x12345678u;
  check(*low == 0xA20A20A2u, "A20 enabled: %p and %p are distinct", (void*)low, (void*)high);
  *low = 0;
  *high = 0;
}

static void check_memory(const struct multiboot_info* mi, uint64_t expect_mem) {
  if (!(mi->flags & MULTIBOOT_INFO_MEMORY)) return;
  check(mi->mem_lower >= 400 && mi->mem_lower <= 640, "mem_lower = %u KiB (400-640)",
        mi->mem_lower);
  uint64_t upper_end_kib = (uint64_t)mi->mem_upper + 1024;
  if (expect_mem && expect_mem <= 3072) {
    check(upper_end_kib <= expect_mem * 1024 && upper_end_kib + 16384 >= expect_mem * 1024,
          "mem_upper = %u KiB: memory to %lu KiB, within 16 MiB below expect_mem=%lu MiB",
          mi->mem_upper, upper_end_kib, expect_mem);
  } else {
    check(mi->mem_upper >= 1024, "mem_upper = %u KiB (at least 1 MiB)", mi->mem_upper);
  }
}

static void check_cmdline(const struct multiboot_info* mi) {
  if (!(mi->flags & MULTIBOOT_INFO_CMDLINE)) return;
  const char* cmdline = mb_cmdline(mi);
  size_t first = 0;
  while (cmdline[first] && cmdline[first] != ' ') first++;
  bool named = first > 0;
  for (size_t i = 0; i < first; i++)
    if (cmdline[i] == '=') named = false;
  check(named, "cmdline starts with the kernel file name: \"%s\"", cmdline);
  check(!overlaps(mi->cmdline, mi->cmdline + strlen(cmdline) + 1, image_start(), image_end()),
        "cmdline at 0x%x outside the kernel image", mi->cmdline);
}

// Checks one module: aligned, outside the image, and a KEY=VALUE text with MODULE_OK=1.
static void check_module(const struct multiboot_module* m) {
  const char* name = m->string ? (const char*)(uintptr_t)m->string : "";
  printf("module: [0x%x, 0x%x) %u bytes, string \"%s\"\n", m->mod_start, m->mod_end,
         m->mod_end - m->mod_start, name);
  check(m->mod_end > m->mod_start, "module is not empty");
  check((m->mod_start & 0xFFF) == 0, "module page-aligned (header flag 0): 0x%x", m->mod_start);
  check(!overlaps(m->mod_start, m->mod_end, image_start(), image_end()),
        "module outside the kernel image");
  bool ok_line = false, text = true;
  const char* p = (const char*)(uintptr_t)m->mod_start;
  const char* end = (const char*)(uintptr_t)m->mod_end;
  while (p < end) {
    const char* line = p;
    while (p < end && *p != '\n') p++;
    size_t n = (size_t)(p - line);
    if (p < end) p++;
    if (n && line[n - 1] == '\r') n--;
    if (n == 0 || line[0] == '#') continue;
    bool has_eq = false;
    for (size_t i = 0; i < n; i++) {
      if (line[i] == '=') has_eq = true;
      if ((uint8_t)line[i] < 0x20 || (uint8_t)line[i] > 0x7E) text = false;
    }
    if (!has_eq) text = false;
    printf("module:   ");
    for (size_t i = 0; i < n && i < 100; i++) console_putc(line[i]);
    console_putc('\n');
    if (n == 11 && memcmp(line, "MODULE_OK=1", 11) == 0) ok_line = true;
  }
  check(text, "module is KEY=VALUE text lines");
  check(ok_line, "module contains MODULE_OK=1");
}

static void check_modules(const struct multiboot_info* mi, uint64_t expect_mods) {
  if (!(mi->flags & MULTIBOOT_INFO_MODS)) return;
  uint32_t n = mb_module_count(mi);
  check(n == expect_mods, "%u module(s) (want %lu)", n, expect_mods);
  for (uint32_t i = 0; i < n && i < 8; i++) check_module(mb_module(mi, i));
}

static void check_mmap(const struct multiboot_info* mi, uint64_t expect_mem) {
  if (!(mi->flags & MULTIBOOT_INFO_MEM_MAP)) return;
  check(mi->mmap_length >= 24 && mb_mmap_next(mi, 0), "memory map present: %u bytes at 0x%x",
        mi->mmap_length, mi->mmap_addr);
  check(mb_mmap_covers(mi, MULTIBOOT_MEMORY_AVAILABLE, image_start(), image_end() - image_start()),
        "available region covers the kernel [%lx, %lx)", image_start(), image_end());
  check(mb_mmap_covers(mi, MULTIBOOT_MEMORY_AVAILABLE, 0, 0x1000),
        "available region at physical address 0");
  uint64_t total = mb_mmap_total(mi, MULTIBOOT_MEMORY_AVAILABLE);
  if (expect_mem) {
    uint64_t want = expect_mem << 20;
    check(total <= want && total + (16ull << 20) >= want,
          "available memory %lu KiB within 16 MiB below expect_mem=%lu MiB", total >> 10,
          expect_mem);
  }
}

static void check_fw_cfg(uint64_t expect_mem, uint64_t expect_cpus, const char* cmdline) {
  char sig[5] = {0};
  fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
  check(memcmp(sig, "QEMU", 4) == 0, "fw_cfg signature \"%s\" (want \"QEMU\")", sig);
  uint64_t id = fw_cfg_read_le(FW_CFG_ID, 4);
  uint64_t ram = fw_cfg_read_le(FW_CFG_RAM_SIZE, 8);
  uint64_t cpus = fw_cfg_read_le(FW_CFG_NB_CPUS, 2);
  uint64_t max_cpus = fw_cfg_read_le(FW_CFG_MAX_CPUS, 2);
  uint64_t ram_limit = fw_cfg_read_le(FW_CFG_RAM_LIMIT, 8);
  printf("fw_cfg: id=0x%lx ram=0x%lx cpus=%lu max_cpus=%lu key 0x11=0x%lx\n", id, ram, cpus,
         max_cpus, ram_limit);
  if (expect_mem)
    check(ram == expect_mem << 20, "fw_cfg RAM size %lu MiB (want %lu)", ram >> 20, expect_mem);
  else
    check(ram != 0, "fw_cfg RAM size %lu MiB (no expect_mem=)", ram >> 20);
  if (expect_cpus)
    check(cpus == expect_cpus, "fw_cfg CPU count %lu (want %lu)", cpus, expect_cpus);
  else
    check(cpus != 0, "fw_cfg CPU count %lu (no expect_cpus=)", cpus);
  check(max_cpus >= cpus, "fw_cfg max CPUs %lu >= CPU count", max_cpus);
  uint64_t want_limit;
  if (cmdline_has_u64(cmdline, "expect_ramlimit", &want_limit))
    check(ram_limit == want_limit, "fw_cfg RAM limit 0x%lx (want 0x%lx)", ram_limit, want_limit);
}

int kmain(uint32_t magic, uint32_t mbi) {
  printf("mbcheck: Multiboot v1 acceptance\n");
  check_entry_state(magic, mbi);
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC || mbi == 0) {
    check_summary("mbcheck");
    return MBCHECK_FAILED;
  }
  const struct multiboot_info* mi = mb_info(mbi);
  mb_print(mi);
  const char* cmdline = mb_cmdline(mi);
  uint64_t expect_mem = cmdline_u64(cmdline, "expect_mem", 0);
  uint64_t expect_cpus = cmdline_u64(cmdline, "expect_cpus", 0);
  uint64_t expect_mods = cmdline_u64(cmdline, "expect_mods", 1);
  uint64_t exit_code = cmdline_u64(cmdline, "exit", 0);
  printf("mbcheck: expect_mem=%lu expect_cpus=%lu expect_mods=%lu exit=%lu\n", expect_mem,
         expect_cpus, expect_mods, exit_code);

  uint32_t want_flags =
      MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP;
  check((mi->flags & want_flags) == want_flags, "info flags 0x%x have bits 0, 2, 3, 6", mi->flags);
  check(!overlaps(mbi, mbi + sizeof(*mi), image_start(), image_end()),
        "information structure at 0x%x outside the kernel image", mbi);
  check_image();
  check_memory(mi, expect_mem);
  check_cmdline(mi);
  check_modules(mi, expect_mods);
  check_mmap(mi, expect_mem);
  check_fw_cfg(expect_mem, expect_cpus, cmdline);

  if (check_summary("mbcheck")) return MBCHECK_FAILED;
  printf("mbcheck: exiting with exit=%lu\n", exit_code);
  return (int)exit_code;
}
