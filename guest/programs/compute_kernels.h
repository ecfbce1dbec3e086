/* compute: integer workloads with deterministic checksums (no kit dependency, so the same
 * file also builds on a host as a reference). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/// Sizes of one round of each phase.
#define COMPUTE_SIEVE_MAX 65536    /* largest sieve limit */
#define COMPUTE_SORT_N 4096        /* u32 values sorted per round */
#define COMPUTE_HASH_BYTES 32768   /* bytes hashed per round */
#define COMPUTE_VM_ITERATIONS 1500 /* loop iterations of the bytecode program per round */

/// Folds v into a running checksum.
uint64_t compute_mix(uint64_t checksum, uint64_t v);

/// Sieve of Eratosthenes below a limit that varies with the round; folds the prime count
/// and sum. `sieve` holds COMPUTE_SIEVE_MAX bytes.
uint64_t compute_sieve(uint64_t checksum, uint32_t round, uint8_t* sieve);

/// Heap sort of xorshift32 values seeded by the round; folds an FNV-1a hash of the sorted
/// array (or a poison value if it is not sorted). `a` holds COMPUTE_SORT_N values.
uint64_t compute_sort(uint64_t checksum, uint32_t round, uint32_t* a);

/// FNV-1a 64 over xorshift64 bytes seeded by the round. `buf` holds COMPUTE_HASH_BYTES.
uint64_t compute_hash(uint64_t checksum, uint32_t round, uint8_t* buf);

/// Runs a loop program on a small stack machine, seeded by the round; folds its result.
uint64_t compute_vm(uint64_t checksum, uint32_t round);
