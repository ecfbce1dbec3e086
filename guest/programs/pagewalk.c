/* pagewalk: a page-walk-heavy benchmark. Maps the 1 GiB of virtual addresses at 4 GiB with
 * 4 KiB pages (one page directory, 512 page tables: 262144 PTEs) onto a 64 MiB physical
 * pool at 128 MiB, then makes `accesses=N` (default 2000000) pseudo-random 8-byte loads, one
 * in eight a store, all over that gigabyte, so nearly every access misses the TLB and walks
 * four levels (SDM Vol. 3A 4.5). Needs at least 192 MiB of RAM. */
#include "kit/kit.h"

#define VA_BASE (4ull << 30)
#define SPAN ((uint64_t)1 << 30)
#define POOL_PA (128ull << 20)
#define POOL_PAGES 16384u  // 64 MiB

static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pts[512][512] __attribute__((aligned(4096)));

static void map_gigabyte(void) {
  for (uint64_t t = 0; t < 512; t++) {
    for (uint64_t e = 0; e < 512; e++) {
      uint64_t page = (t * 512 + e) % POOL_PAGES;
      pts[t][e] = (POOL_PA + page * 4096) | PTE_P | PTE_RW;
    }
    pd[t] = (uint64_t)pts[t] | PTE_P | PTE_RW;
  }
  uint64_t* pml4 = (uint64_t*)(read_cr3() & PTE_ADDR_MASK);
  uint64_t* pdpt = (uint64_t*)(pml4[0] & PTE_ADDR_MASK);
  pdpt[VA_BASE >> 30] = (uint64_t)pd | PTE_P | PTE_RW;
  flush_tlb();
}

int kmain(uint32_t magic, uint32_t mbi) {
  const char* cmdline = mb_cmdline(mb_info(mbi));
  uint64_t accesses = cmdline_u64(cmdline, "accesses", 2000000);
  printf("pagewalk: accesses=%lu over %lu MiB of 4 KiB pages\n", accesses, SPAN >> 20);
  map_gigabyte();

  // The mapping: a store through the high alias is visible at the pool's identity address.
  volatile uint64_t* probe = (volatile uint64_t*)(VA_BASE + 5 * 4096 + 8);
  *probe = 0x1234567890ABCDEFull;
  check(*(volatile uint64_t*)(POOL_PA + 5 * 4096 + 8) == 0x1234567890ABCDEFull,
        "virtual page 5 maps pool page 5");

  uint64_t x = 0x853C49E6748FEA9Bull, sum = 0;
  for (uint64_t i = 0; i < accesses; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    volatile uint64_t* p = (volatile uint64_t*)(VA_BASE + ((x >> 20) & (SPAN - 8)));
    if ((i & 7) == 7)
      *p = sum;
    else
      sum += *p ^ i;
  }
  printf("pagewalk: sum=%016lx\n", sum);
  check(sum != 0, "accesses completed");
  return check_summary("pagewalk") ? 1 : 0;
}
