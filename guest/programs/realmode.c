/* realmode: from 64-bit mode down to real mode and back: leaving long mode (paging off in
 * compatibility mode, EFER.LME off), 16-bit protected mode, real mode with segment
 * arithmetic, a 16-bit LIDT and INT n through a real-mode IVT, unreal-mode access, then
 * protected and long mode again (SDM Vol. 3A 9.8-9.9, 10.8.5, ch. 20). */
#include "kit/kit.h"
#include "kit/usermode.h"

#define BLOB_BASE 0x8000
#define IVT_BASE 0x9000

extern char rm_blob[], rm_blob_end[], rm_results[];
void rm_roundtrip(void);

// Offsets match the rm_results block in realmode_blob.S.
struct __attribute__((packed)) rm_results_layout {
  uint16_t cs, seg, int_ax, int_count;
  uint32_t op32, unreal, efer32, unreal_addr;
};

static volatile uint32_t unreal_marker = 0xFACEB00C;

int kmain(uint32_t magic, uint32_t mbi) {
  usermode_init();  // the GDT with 32-bit and 16-bit ring-0 segments
  uint64_t size = (uint64_t)(rm_blob_end - rm_blob);
  memcpy((void*)BLOB_BASE, rm_blob, size);
  volatile struct rm_results_layout* res =
      (volatile struct rm_results_layout*)(BLOB_BASE + (rm_results - rm_blob));
  res->unreal_addr = (uint32_t)(uint64_t)&unreal_marker;
  // IVT entry 0x80 -> BLOB_SEG:int80 (offset found from the blob's layout).
  volatile uint16_t* ivt = (volatile uint16_t*)IVT_BASE;
  extern const uint16_t rm_int80_off;
  ivt[0x80 * 2] = rm_int80_off;
  ivt[0x80 * 2 + 1] = BLOB_BASE >> 4;
  printf("realmode: trampoline at %x (%lu bytes), IVT at %x\n", BLOB_BASE, size, IVT_BASE);

  rm_roundtrip();

  check(res->efer32 && !(res->efer32 & EFER_LMA) && !(res->efer32 & EFER_LME),
        "left IA-32e mode: EFER=0x%x in 32-bit protected mode (LMA, LME clear)", res->efer32);
  check(res->cs == BLOB_BASE >> 4, "real mode: CS = 0x%x after the far jump", res->cs);
  check(res->seg == 0xBEEF, "segment arithmetic: 0900:0010 read back through 0901:0000 (0x%x)",
        res->seg);
  check(res->op32 == 0x12345679, "32-bit operand in 16-bit code: 0x%x", res->op32);
  check(res->int_count == 1 && res->int_ax == 0x1234,
        "INT 80h through the real-mode IVT: handler ran %u time(s), AX=0x%x", res->int_count,
        res->int_ax);
  check(res->unreal == 0xFACEB00C, "unreal mode: FS:[%x] above 1 MiB read 0x%x",
        res->unreal_addr, res->unreal);
  check((rdmsr(MSR_EFER) & EFER_LMA) && (read_cr0() & CR0_PG), "back in long mode with paging");
  return check_summary("realmode");
}
