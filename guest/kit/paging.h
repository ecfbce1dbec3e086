/* Editing the identity map the boot stub built: 4 KiB page tables on demand (SDM Vol. 3A 4.5). */
#pragma once

#include <stdint.h>

/// The page-directory entry that maps `va` (below 4 GiB).
uint64_t* paging_pde(uint64_t va);

/// Replaces the 2 MiB page mapping `va` by a page table of 512 4 KiB pages with the same
/// translation and attributes, flushes the TLB, and returns the page table. If the region
/// is already split, returns its page table. Returns NULL if the kit's pool is used up.
uint64_t* paging_split_2m(uint64_t va);

/// The 4 KiB page-table entry that maps `va`, or NULL if its region is not split.
uint64_t* paging_pte(uint64_t va);
