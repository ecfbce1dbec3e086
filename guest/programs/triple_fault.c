/* triple_fault: ends in a deliberate triple fault. With an empty IDT, UD2 raises #UD,
 * whose delivery raises #GP, then #DF, whose delivery fails again: shutdown
 * (SDM Vol. 3A 6.15 "Interrupt 8", Table 6-5). The simulator stops with "triple_fault"
 * and the RIP of the UD2, which this program prints first. */
#include "kit/kit.h"

__asm__(
    ".text\n"
    "tf_go:\n"
    "  lidt tf_empty_idt(%rip)\n"
    "tf_ud2:\n"
    "  ud2\n"
    "  ret\n"
    ".data\n"
    "tf_empty_idt: .word 0\n"
    "  .quad 0\n"
    ".text\n");
void tf_go(void);
extern char tf_ud2[];

int kmain(uint32_t magic, uint32_t mbi) {
  printf("triple_fault: ud2 at 0x%lx\n", (uint64_t)tf_ud2);
  tf_go();
  printf("triple_fault: still running (FAIL)\n");
  return 1;
}
