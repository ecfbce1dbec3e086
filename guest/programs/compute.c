/* compute: an integer benchmark (sieve, heap sort, FNV-1a hash, bytecode interpreter) whose
 * size scales with `rounds=N`; prints one checksum per phase and checks known values. */
#include "compute_kernels.h"
#include "kit/kit.h"

#define DEFAULT_ROUNDS 8  // about 30 million instructions

// Reference checksums, computed by an independent Python model of the same phases.
static const struct {
  uint64_t rounds;
  uint64_t sieve, sort, hash, vm;
} kReference[] = {
    {1, 0x6fbe1d39e9898058ull, 0xbbc6dcbd08a8ce3eull, 0xdbfd6f8953d5748aull, 0x8ef25e6d1afe8fcbull},
    {8, 0xca68b994c740b355ull, 0xf35d3137ec077b4full, 0x9663618baedfe5e0ull, 0x9091367dee74d889ull},
};

static uint8_t sieve[COMPUTE_SIEVE_MAX];
static uint32_t values[COMPUTE_SORT_N];
static uint8_t bytes[COMPUTE_HASH_BYTES];

#define FNV_OFFSET 0xCBF29CE484222325ull

int kmain(uint32_t magic, uint32_t mbi) {
  const char* cmdline = mb_cmdline(mb_info(mbi));
  uint64_t rounds = cmdline_u64(cmdline, "rounds", DEFAULT_ROUNDS);
  printf("compute: rounds=%lu\n", rounds);

  uint64_t sum[4] = {FNV_OFFSET, FNV_OFFSET, FNV_OFFSET, FNV_OFFSET};
  for (uint32_t r = 0; r < rounds; r++) sum[0] = compute_sieve(sum[0], r, sieve);
  printf("compute: sieve checksum=%016lx\n", sum[0]);
  for (uint32_t r = 0; r < rounds; r++) sum[1] = compute_sort(sum[1], r, values);
  printf("compute: sort  checksum=%016lx\n", sum[1]);
  for (uint32_t r = 0; r < rounds; r++) sum[2] = compute_hash(sum[2], r, bytes);
  printf("compute: hash  checksum=%016lx\n", sum[2]);
  for (uint32_t r = 0; r < rounds; r++) sum[3] = compute_vm(sum[3], r);
  printf("compute: vm    checksum=%016lx\n", sum[3]);
  uint64_t total = FNV_OFFSET;
  for (int i = 0; i < 4; i++) total = compute_mix(total, sum[i]);
  printf("compute: total checksum=%016lx\n", total);

  // A caller that scaled the run can pass the total it expects (from a reference run).
  uint64_t want;
  if (cmdline_has_u64(cmdline, "expect", &want)) {
    check(total == want, "total checksum %016lx, expected %016lx", total, want);
  }
  bool known = false;
  for (unsigned i = 0; i < sizeof(kReference) / sizeof(kReference[0]); i++) {
    if (kReference[i].rounds != rounds) continue;
    known = true;
    check(sum[0] == kReference[i].sieve, "sieve checksum matches the reference");
    check(sum[1] == kReference[i].sort, "sort checksum matches the reference");
    check(sum[2] == kReference[i].hash, "hash checksum matches the reference");
    check(sum[3] == kReference[i].vm, "vm checksum matches the reference");
  }
  if (!known && !cmdline_has_u64(cmdline, "expect", &want))
    printf("compute: no reference for rounds=%lu and no expect=; checksums not checked\n", rounds);
  return check_summary("compute") ? 1 : 0;
}
