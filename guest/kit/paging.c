/* Editing the identity map the boot stub built: 4 KiB page tables on demand (SDM Vol. 3A 4.5). */
#include "kit/paging.h"

#include "kit/cpu.h"
#include "kit/spec/x86.h"

#define PT_POOL_PAGES 8

static uint64_t pt_pool[PT_POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pt_pool_used;

static uint64_t* table_at(uint64_t entry) {
  return (uint64_t*)(entry & PTE_ADDR_MASK);
}

uint64_t* paging_pde(uint64_t va) {
  uint64_t* pml4 = table_at(read_cr3());
  uint64_t* pdpt = table_at(pml4[(va >> 39) & 511]);
  uint64_t* pd = table_at(pdpt[(va >> 30) & 511]);
  return &pd[(va >> 21) & 511];
}

uint64_t* paging_split_2m(uint64_t va) {
  uint64_t* pde = paging_pde(va);
  if (!(*pde & PTE_PS)) return table_at(*pde);
  if (pt_pool_used == PT_POOL_PAGES) return 0;
  uint64_t* pt = pt_pool[pt_pool_used++];
  uint64_t base = *pde & PTE_ADDR_MASK & ~0x1FFFFFull;
  // Bits 0-6 (P RW US PWT PCD A D) and G mean the same in a PDE and a PTE; PAT moves from
  // bit 12 to bit 7, and the kit never sets it.
  uint64_t attrs = *pde & (0x7F | PTE_G | PTE_NX) & ~PTE_PS;
  for (unsigned i = 0; i < 512; i++) pt[i] = (base + ((uint64_t)i << 12)) | attrs;
  *pde = (uint64_t)pt | PTE_P | PTE_RW | (*pde & PTE_US);
  flush_tlb();
  return pt;
}

uint64_t* paging_pte(uint64_t va) {
  uint64_t* pde = paging_pde(va);
  if (*pde & PTE_PS) return 0;
  return &table_at(*pde)[(va >> 12) & 511];
}
