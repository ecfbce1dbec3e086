/* Floating-point and SIMD kernels of the fpu_sse program. Compiled for SSE4.2 with
 * -mfpmath=sse (x87 for long double); the same file builds natively on the host to derive
 * the expected values (see fpu_sse.c). */
#pragma once

#include <stdint.h>

/// Sum of 1/k^2 for k = 1..1000 in double (SSE2 scalar arithmetic); the bit pattern.
uint64_t k_series_double(void);
/// Sum of 1/k for k = 1..100 in float, plus sqrt, rounding and conversions; bit pattern.
uint32_t k_series_float(void);
/// A long double (x87) recurrence; writes the 10-byte result.
void k_x87_recurrence(uint8_t out[10]);
/// Packed integer SSE2/SSSE3/SSE4.1 operations folded into a checksum.
uint64_t k_int_simd(void);
/// Packed float/double SSE/SSE3/SSE4.1 operations folded into a checksum.
uint64_t k_fp_simd(void);
/// CRC-32C of n bytes with the SSE4.2 CRC32 instruction (initial ~0, final inversion).
uint32_t k_crc32c(const void* p, unsigned n);
/// Index of `needle` (at most 16 bytes) in the 16-byte block `hay`, by PCMPISTRI equal
/// ordered; 16 if none.
int k_pcmpistri_find(const char hay[16], const char needle[16]);
