/* External interrupts for guest programs: IDT gates 32-255, per-vector C handlers, and
 * helpers for the local APIC, IOAPIC, 8259 PIC, 8254 PIT, CMOS RTC and TSC
 * (Intel SDM Vol. 3A ch. 10; 82093AA, 8259A, 8254 and MC146818 data sheets). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kit/cpu.h"
#include "kit/exception.h"

#define LAPIC_BASE 0xFEE00000ull
#define IOAPIC_BASE 0xFEC00000ull

/* Local APIC register offsets (SDM Table 10-1). */
#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_PPR 0x0A0
#define LAPIC_EOI 0x0B0
#define LAPIC_LDR 0x0D0
#define LAPIC_DFR 0x0E0
#define LAPIC_SVR 0x0F0
#define LAPIC_ISR 0x100
#define LAPIC_IRR 0x200
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0

/* ICR fields (SDM Figure 10-12). */
#define ICR_FIXED 0x000
#define ICR_LOWEST 0x100
#define ICR_NMI 0x400
#define ICR_INIT 0x500
#define ICR_STARTUP 0x600
#define ICR_LOGICAL 0x800
#define ICR_ASSERT 0x4000
#define ICR_LEVEL 0x8000
#define ICR_SELF 0x40000
#define ICR_ALL_INCL 0x80000
#define ICR_ALL_EXCL 0xC0000

#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0
#define MSR_X2APIC(reg) (0x800 + ((reg) >> 4))

typedef void (*intr_handler_t)(struct frame* f);

/// Installs gates for vectors 32-255 (kit_interrupt dispatches to intr_set_handler's
/// handlers; an unexpected vector prints and exits with KIT_EXIT_UNEXPECTED_INTERRUPT).
void intr_init(void);
/// Sets the C handler of `vector` (32-255); NULL = unexpected.
void intr_set_handler(unsigned vector, intr_handler_t h);
#define KIT_EXIT_UNEXPECTED_INTERRUPT 0x7C

static inline uint32_t lapic_read(uint32_t reg) {
  return *(volatile uint32_t*)(LAPIC_BASE + reg);
}
static inline void lapic_write(uint32_t reg, uint32_t v) {
  *(volatile uint32_t*)(LAPIC_BASE + reg) = v;
}
static inline void lapic_eoi(void) {
  lapic_write(LAPIC_EOI, 0);
}
/// Sends an IPI in xAPIC mode: destination APIC id `dest` (ignored with a shorthand).
static inline void lapic_send_ipi(uint32_t dest, uint32_t icr_lo) {
  lapic_write(LAPIC_ICR_HI, dest << 24);
  lapic_write(LAPIC_ICR_LO, icr_lo);
}
static inline uint32_t lapic_id(void) {
  return lapic_read(LAPIC_ID) >> 24;
}

static inline void ioapic_write(uint32_t reg, uint32_t v) {
  *(volatile uint32_t*)IOAPIC_BASE = reg;
  *(volatile uint32_t*)(IOAPIC_BASE + 0x10) = v;
}
static inline uint32_t ioapic_read(uint32_t reg) {
  *(volatile uint32_t*)IOAPIC_BASE = reg;
  return *(volatile uint32_t*)(IOAPIC_BASE + 0x10);
}
/// Programs IOAPIC pin `pin`'s redirection entry.
static inline void ioapic_route(unsigned pin, uint64_t entry) {
  ioapic_write(0x11 + 2 * pin, (uint32_t)(entry >> 32));
  ioapic_write(0x10 + 2 * pin, (uint32_t)entry);
}

/// Remaps the 8259 pair to vectors master_base/slave_base and masks everything.
void pic_init(uint8_t master_base, uint8_t slave_base);
static inline void pic_mask(uint8_t master, uint8_t slave) {
  outb(0x21, master);
  outb(0xA1, slave);
}
/// Non-specific EOI for ISA IRQ `irq` (slave then master for 8-15).
static inline void pic_eoi(unsigned irq) {
  if (irq >= 8) outb(0xA0, 0x20);
  outb(0x20, 0x20);
}

static inline uint8_t cmos_read(uint8_t reg) {
  outb(0x70, reg);
  return inb(0x71);
}
static inline void cmos_write(uint8_t reg, uint8_t v) {
  outb(0x70, reg);
  outb(0x71, v);
}

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
static inline void sti(void) {
  __asm__ volatile("sti" ::: "memory");
}
/// STI; HLT: waits for an interrupt without a race (the STI shadow covers HLT).
static inline void sti_hlt(void) {
  __asm__ volatile("sti; hlt" ::: "memory");
}
static inline void cpu_pause(void) {
  __asm__ volatile("pause" ::: "memory");
}

/// Measures the TSC frequency with PIT channel 2 (mode 0, 10 ms, polling port 0x61 bit 5).
uint64_t tsc_hz_from_pit(void);
/// Spins until *counter >= target or `timeout` TSC cycles pass; true if reached.
bool wait_count(volatile uint32_t* counter, uint32_t target, uint64_t timeout);
