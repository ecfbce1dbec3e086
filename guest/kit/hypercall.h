/* A Hyper-V hypercall through the hypercall page (TLFS; spec/hyperv-interfaces.md §3.1-3.2):
 * 64-bit convention, input value in RCX, input and output GPAs (or fast data) in RDX and R8,
 * the result value in RAX. The page is the guest's page that HV_X64_MSR_HYPERCALL overlays. */
#pragma once

#include <stdint.h>

static inline uint64_t hv_hypercall(const void* page, uint64_t input, uint64_t rdx, uint64_t r8) {
  uint64_t result;
  register uint64_t r8_ __asm__("r8") = r8;
  __asm__ volatile("call *%[page]"
                   : "=a"(result), "+c"(input), "+d"(rdx), "+r"(r8_)
                   : [page] "r"(page)
                   : "memory", "cc", "r9", "r10", "r11");
  return result;
}
