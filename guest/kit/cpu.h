/* Port I/O and privileged-instruction wrappers for guest code (Intel SDM Vol. 2). */
#pragma once

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define KIT_DEFINE_CR(n)                                     \
  static inline uint64_t read_cr##n(void) {                  \
    uint64_t v;                                              \
    __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));        \
    return v;                                                \
  }                                                          \
  static inline void write_cr##n(uint64_t v) {               \
    __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); \
  }
KIT_DEFINE_CR(0)
KIT_DEFINE_CR(2)
KIT_DEFINE_CR(3)
KIT_DEFINE_CR(4)
#undef KIT_DEFINE_CR

static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  __asm__ volatile("cpuid"
                   : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3])
                   : "a"(leaf), "c"(subleaf));
}

static inline uint64_t read_rflags(void) {
  uint64_t v;
  __asm__ volatile("pushfq; popq %0" : "=r"(v));
  return v;
}

static inline uint64_t read_rsp(void) {
  uint64_t v;
  __asm__ volatile("mov %%rsp, %0" : "=r"(v));
  return v;
}

static inline void invlpg(uint64_t va) {
  __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}

/// Flushes all non-global TLB entries by reloading CR3.
static inline void flush_tlb(void) {
  write_cr3(read_cr3());
}

static inline void cli(void) {
  __asm__ volatile("cli" ::: "memory");
}
static inline void hlt(void) {
  __asm__ volatile("hlt" ::: "memory");
}
