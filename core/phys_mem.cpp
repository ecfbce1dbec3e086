#include "core/phys_mem.h"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/hash.h"

namespace hvsim {

PhysicalMemory::PhysicalMemory(uint64_t size) : size_(size) {
  if (size == 0 || size % kPageSize != 0)
    throw InputError("memory size " + std::to_string(size) + " is not a nonzero multiple of 4 KiB");
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED)
    throw InputError("cannot reserve " + std::to_string(size) + " bytes of host memory for RAM");
  base_ = static_cast<uint8_t*>(p);
  flags_.resize((page_count() + 63) / 64);
}

PhysicalMemory::~PhysicalMemory() {
  munmap(base_, size_);
}

void PhysicalMemory::read(uint64_t pa, void* out, uint64_t len) const {
  if (len == 0) return;
  if (!contains(pa, len)) throw InternalError("physical read outside RAM");
  std::memcpy(out, base_ + pa, len);
}

void PhysicalMemory::write(uint64_t pa, const void* in, uint64_t len) {
  if (len == 0) return;
  if (!contains(pa, len)) throw InternalError("physical write outside RAM");
  std::memcpy(write_ptr(pa, len), in, len);
}

void PhysicalMemory::clear_dirty() {
  ++protect_gen_;
  for (auto& f : flags_) f.dirty = 0;
}

uint64_t PhysicalMemory::touched_pages() const {
  uint64_t n = 0;
  for (const auto& f : flags_) n += std::popcount(f.touched);
  return n;
}

std::vector<uint64_t> PhysicalMemory::touched_list() const {
  std::vector<uint64_t> out;
  for (uint64_t w = 0; w < flags_.size(); ++w)
    for (uint64_t bits = flags_[w].touched; bits; bits &= bits - 1)
      out.push_back(w * 64 + std::countr_zero(bits));
  return out;
}

void PhysicalMemory::clear() {
  // Why: MADV_DONTNEED on a private anonymous mapping gives back zero-fill-on-demand pages.
  madvise(base_, size_, MADV_DONTNEED);
  ++protect_gen_;
  for (auto& f : flags_) {
    // Code pages are about to change under the decode cache: notify before forgetting.
    for (uint64_t bits = f.code; bits; bits &= bits - 1)
      for (auto& l : code_listeners_) l((&f - flags_.data()) * 64 + std::countr_zero(bits));
    f = PageFlags{};
  }
}

void PhysicalMemory::hash_into(Hasher& h) const {
  static const uint8_t kZero[kPageSize] = {};
  for (uint64_t pfn : touched_list()) {
    const uint8_t* p = base_ + (pfn << kPageShift);
    if (std::memcmp(p, kZero, kPageSize) == 0) continue;
    h.u64(pfn);
    h.bytes(p, kPageSize);
  }
}

}  // namespace hvsim
