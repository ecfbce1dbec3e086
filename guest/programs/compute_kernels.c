/* compute: integer workloads with deterministic checksums (no kit dependency, so the same
 * file also builds on a host as a reference). */
#include "compute_kernels.h"

#define FNV_OFFSET 0xCBF29CE484222325ull
#define FNV_PRIME 0x100000001B3ull

uint64_t compute_mix(uint64_t checksum, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    checksum ^= (v >> (8 * i)) & 0xFF;
    checksum *= FNV_PRIME;
  }
  return checksum;
}

uint64_t compute_sieve(uint64_t checksum, uint32_t round, uint8_t* sieve) {
  uint32_t limit = COMPUTE_SIEVE_MAX - (round % 16) * 1024;
  for (uint32_t i = 0; i < limit; i++) sieve[i] = 1;
  sieve[0] = sieve[1] = 0;
  for (uint32_t i = 2; i * i < limit; i++) {
    if (!sieve[i]) continue;
    for (uint32_t j = i * i; j < limit; j += i) sieve[j] = 0;
  }
  uint64_t count = 0, sum = 0;
  for (uint32_t i = 0; i < limit; i++) {
    if (sieve[i]) count++, sum += i;
  }
  return compute_mix(compute_mix(checksum, count), sum);
}

static uint32_t xorshift32(uint32_t* s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static void sift_down(uint32_t* a, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && a[child + 1] > a[child]) child++;
    if (a[root] >= a[child]) return;
    uint32_t t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

static void heap_sort(uint32_t* a, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift_down(a, i, n);
  for (size_t end = n; end-- > 1;) {
    uint32_t t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift_down(a, 0, end);
  }
}

uint64_t compute_sort(uint64_t checksum, uint32_t round, uint32_t* a) {
  uint32_t s = 0x9E3779B9u ^ (round * 0x85EBCA6Bu);
  if (!s) s = 1;
  for (size_t i = 0; i < COMPUTE_SORT_N; i++) a[i] = xorshift32(&s);
  heap_sort(a, COMPUTE_SORT_N);
  uint64_t h = FNV_OFFSET;
  for (size_t i = 0; i < COMPUTE_SORT_N; i++) {
    if (i && a[i - 1] > a[i]) return compute_mix(checksum, 0xBAD5047);
    h = (h ^ a[i]) * FNV_PRIME;
  }
  return compute_mix(checksum, h);
}

uint64_t compute_hash(uint64_t checksum, uint32_t round, uint8_t* buf) {
  uint64_t s = 0x2545F4914F6CDD1Dull + round;
  for (size_t i = 0; i < COMPUTE_HASH_BYTES; i += 8) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    for (int b = 0; b < 8; b++) buf[i + b] = (uint8_t)(s >> (8 * b));
  }
  uint64_t h = FNV_OFFSET;
  for (size_t i = 0; i < COMPUTE_HASH_BYTES; i++) h = (h ^ buf[i]) * FNV_PRIME;
  return compute_mix(checksum, h);
}

// A stack machine: one-byte opcodes, some with a 4-byte little-endian operand.
enum op {
  OP_HALT,   // stop; result is the top of stack
  OP_PUSH,   // imm32: push it (zero-extended)
  OP_LOAD,   // imm32: push local[imm]
  OP_STORE,  // imm32: pop into local[imm]
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_XOR,
  OP_AND,
  OP_SHR,  // imm32: shift the top right
  OP_ROL,  // imm32: rotate the top left
  OP_DUP,
  OP_JNZ,  // imm32: pop; jump to imm if nonzero
};

#define I4(v) (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)

// local0 = counter, local1 = LCG state x, local2 = accumulator.
//   loop: x = x * 0x5851F42D4C957F2D + 0x14057B7EF767814F
//         acc = rol(acc ^ (x >> 29), 7) + (x & 0xFFFF)
//         if (--counter) goto loop
//   result: acc
// clang-format off
static const uint8_t kProgram[] = {
    OP_LOAD, I4(1),                                                  // x
    OP_PUSH, I4(0x5851F42D), OP_ROL, I4(32), OP_PUSH, I4(0x4C957F2D), OP_ADD,  // x, M
    OP_MUL,                                                          // x * M
    OP_PUSH, I4(0x14057B7E), OP_ROL, I4(32), OP_PUSH, I4(0xF767814F), OP_ADD, OP_ADD,
    OP_DUP, OP_STORE, I4(1),                                         // x' stays on the stack
    OP_DUP, OP_SHR, I4(29), OP_LOAD, I4(2), OP_XOR, OP_ROL, I4(7), OP_STORE, I4(2),
    OP_PUSH, I4(0xFFFF), OP_AND, OP_LOAD, I4(2), OP_ADD, OP_STORE, I4(2),
    OP_LOAD, I4(0), OP_PUSH, I4(1), OP_SUB, OP_DUP, OP_STORE, I4(0), OP_JNZ, I4(0),
    OP_LOAD, I4(2), OP_HALT};
// clang-format on

static uint32_t imm32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t run_vm(const uint8_t* code, size_t size, uint64_t* local) {
  uint64_t stack[16];
  unsigned sp = 0;  // number of values on the stack
  size_t pc = 0;
  while (pc < size) {
    uint8_t op = code[pc++];
    uint32_t imm = 0;
    if (op == OP_PUSH || op == OP_LOAD || op == OP_STORE || op == OP_SHR || op == OP_ROL ||
        op == OP_JNZ) {
      imm = imm32(code + pc);
      pc += 4;
    }
    if (sp > 14) return 0xDEAD0001;  // a broken program must not overrun the stack
    switch (op) {
      case OP_HALT: return sp ? stack[sp - 1] : 0;
      case OP_PUSH: stack[sp++] = imm; break;
      case OP_LOAD: stack[sp++] = local[imm & 7]; break;
      case OP_STORE: local[imm & 7] = stack[--sp]; break;
      case OP_ADD: sp--, stack[sp - 1] += stack[sp]; break;
      case OP_SUB: sp--, stack[sp - 1] -= stack[sp]; break;
      case OP_MUL: sp--, stack[sp - 1] *= stack[sp]; break;
      case OP_XOR: sp--, stack[sp - 1] ^= stack[sp]; break;
      case OP_AND: sp--, stack[sp - 1] &= stack[sp]; break;
      case OP_SHR: stack[sp - 1] >>= (imm & 63); break;
      case OP_ROL: {
        unsigned r = imm & 63;
        uint64_t v = stack[sp - 1];
        stack[sp - 1] = r ? (v << r) | (v >> (64 - r)) : v;
        break;
      }
      case OP_DUP: stack[sp] = stack[sp - 1], sp++; break;
      case OP_JNZ:
        if (stack[--sp]) pc = imm;
        break;
      default: return 0xDEAD0002;
    }
  }
  return 0xDEAD0004;
}

uint64_t compute_vm(uint64_t checksum, uint32_t round) {
  uint64_t local[8] = {COMPUTE_VM_ITERATIONS, 0x853C49E6748FEA9Bull ^ round, round, 0};
  return compute_mix(checksum, run_vm(kProgram, sizeof(kProgram), local));
}
