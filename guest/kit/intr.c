/* External-interrupt dispatch and platform interrupt helpers (SDM Vol. 3A ch. 10; 8259A
 * ICW sequence; 8254 mode 0 on channel 2 for calibration). */
#include "kit/intr.h"

#include "kit/console.h"
#include "kit/cpu_tables.h"
#include "kit/exit.h"

extern void (*const kit_intr_table[224])(void);  // intr_stubs.S

static intr_handler_t handlers[256];

void kit_interrupt(struct frame* f);

void kit_interrupt(struct frame* f) {
  intr_handler_t h = handlers[f->vector & 0xFF];
  if (h) {
    h(f);
    return;
  }
  printf("\n*** unexpected interrupt vector %lu at rip=%016lx\n", f->vector, f->rip);
  exit(KIT_EXIT_UNEXPECTED_INTERRUPT);
}

void intr_init(void) {
  for (unsigned v = 32; v < 256; v++) idt_set_gate(v, kit_intr_table[v - 32], 0);
}

void intr_set_handler(unsigned vector, intr_handler_t h) {
  handlers[vector & 0xFF] = h;
}

void pic_init(uint8_t master_base, uint8_t slave_base) {
  outb(0x20, 0x11);  // ICW1: edge, cascade, ICW4
  outb(0xA0, 0x11);
  outb(0x21, master_base);
  outb(0xA1, slave_base);
  outb(0x21, 0x04);  // slave on IR2
  outb(0xA1, 0x02);  // cascade identity
  outb(0x21, 0x01);  // 8086 mode
  outb(0xA1, 0x01);
  pic_mask(0xFF, 0xFF);
}

uint64_t tsc_hz_from_pit(void) {
  const uint32_t count = 11932;                       // 10 ms at 1.193182 MHz
  outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));  // gate 2 on, speaker off
  outb(0x43, 0xB0);                                   // channel 2, LSB/MSB, mode 0
  outb(0x42, (uint8_t)count);
  outb(0x42, (uint8_t)(count >> 8));
  uint64_t t0 = rdtsc();
  while (!(inb(0x61) & 0x20)) {
  }
  uint64_t t1 = rdtsc();
  return (t1 - t0) * 1193182 / count;
}

bool wait_count(volatile uint32_t* counter, uint32_t target, uint64_t timeout) {
  uint64_t t0 = rdtsc();
  while (*counter < target) {
    if (rdtsc() - t0 > timeout) return false;
    cpu_pause();
  }
  return true;
}
