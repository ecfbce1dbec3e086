/* Ring 3 for guest programs: GDT with user segments, TSS.RSP0, SYSCALL set-up, U/S bits
 * (SDM Vol. 3A 3.4.5, 4.6, 5.8.8, 7.7). */
#include "kit/usermode.h"

#include "kit/cpu.h"
#include "kit/layout.h"
#include "kit/spec/x86.h"

extern uint64_t kit_gdt[KIT_GDT_ENTRIES];  // boot.S
void kit_syscall_entry(void);             // usermode_entry.S

struct kit_percpu kit_percpu;
uint64_t (*usermode_syscall_hook)(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3);

#define GDT_ENTRIES 11
static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static uint8_t rsp0_stack[16384] __attribute__((aligned(16)));
static uint8_t syscall_stack[16384] __attribute__((aligned(16)));

struct __attribute__((packed)) table_pointer {
  uint16_t limit;
  uint64_t base;
};

void usermode_init(void) {
  for (unsigned k = 0; k < KIT_GDT_ENTRIES; k++) gdt[k] = kit_gdt[k];
  gdt[USER_SEL_CODE32 >> 3] = 0x00CFFA000000FFFFull;  // 32-bit code, DPL 3
  gdt[USER_SEL_DATA >> 3] = 0x00CFF2000000FFFFull;    // data, DPL 3
  gdt[USER_SEL_CODE64 >> 3] = 0x00AFFA000000FFFFull;  // 64-bit code, DPL 3
  gdt[KERNEL_SEL_CODE32 >> 3] = 0x00CF9A000000FFFFull;
  gdt[KERNEL_SEL_CODE16 >> 3] = 0x00009A000000FFFFull;
  gdt[KERNEL_SEL_DATA16 >> 3] = 0x000092000000FFFFull;
  struct table_pointer p = {sizeof(gdt) - 1, (uint64_t)gdt};
  __asm__ volatile("lgdt %0" ::"m"(p) : "memory");

  // TSS.RSP0 (offset 4): the TSS base is in the descriptor the kit installed.
  uint64_t lo = gdt[KIT_SEL_TSS >> 3], hi = gdt[(KIT_SEL_TSS >> 3) + 1];
  uint64_t tss = ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24) | (hi << 32);
  *(volatile uint64_t*)(tss + 4) = (uint64_t)rsp0_stack + sizeof(rsp0_stack);

  kit_percpu.kernel_rsp = (uint64_t)syscall_stack + sizeof(syscall_stack);
  kit_percpu.self = (uint64_t)&kit_percpu;
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
  wrmsr(0xC0000081, ((uint64_t)(USER_SEL_CODE32 & ~3) << 48) | ((uint64_t)KIT_SEL_CODE64 << 32));
  wrmsr(0xC0000082, (uint64_t)kit_syscall_entry);
  wrmsr(0xC0000084, 0x47700);  // TF, IF, DF, IOPL, NT, AC
  wrmsr(0xC0000102, (uint64_t)&kit_percpu);  // KERNEL_GS_BASE
}

void usermode_map_user(uint64_t va, uint64_t bytes) {
  uint64_t* pml4 = (uint64_t*)(read_cr3() & PTE_ADDR_MASK);
  for (uint64_t a = va & ~0x1FFFFFull; a < va + bytes; a += 0x200000) {
    uint64_t* e4 = &pml4[(a >> 39) & 511];
    *e4 |= PTE_US;
    uint64_t* pdpt = (uint64_t*)(*e4 & PTE_ADDR_MASK);
    uint64_t* e3 = &pdpt[(a >> 30) & 511];
    *e3 |= PTE_US;
    uint64_t* pd = (uint64_t*)(*e3 & PTE_ADDR_MASK);
    uint64_t* e2 = &pd[(a >> 21) & 511];
    *e2 |= PTE_US;
    if (!(*e2 & PTE_PS)) {
      uint64_t* pt = (uint64_t*)(*e2 & PTE_ADDR_MASK);
      for (unsigned i = 0; i < 512; i++) pt[i] |= PTE_US;
    }
  }
  flush_tlb();
}

/// Called by the SYSCALL entry on the kernel stack with GS swapped.
uint64_t kit_syscall_dispatch(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3);
uint64_t kit_syscall_dispatch(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3) {
  if (usermode_syscall_hook) return usermode_syscall_hook(nr, a1, a2, a3);
  return ~0ull;
}
