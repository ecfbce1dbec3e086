// Partition memory: system pages and their owners, and EPT-mapped guest-physical spaces
// (Intel SDM Vol. 3C 29.3.2 "EPT translation mechanism", Tables 29-1 to 29-6).
#include "hv/partition_memory.h"

#include <cstring>

#include "core/error.h"
#include "core/phys_mem.h"
#include "core/state.h"
#include "cpu/vmx/spec/ept.h"

namespace hvsim::hv {

namespace vs = cpu::vmx::spec;

namespace {

/// Zeroes page `spa` unless it was never written (untouched RAM reads as zero, and touching
/// it would allocate host memory for nothing).
void zero_page(PhysicalMemory& mem, uint64_t spa) {
  if (!mem.touched(spa / kPageSize)) return;
  std::memset(mem.write_ptr(spa, kPageSize), 0, kPageSize);
}

constexpr uint64_t kAddrMask = 0x000FFFFFFFFFF000ull;
constexpr uint64_t kTableRights = vs::kEptRwx;  // non-leaf entries allow everything
constexpr uint64_t kWriteBack = uint64_t{6} << vs::kEptMemoryTypeShift;

unsigned index_at(uint64_t gpa, unsigned level) {  // level 3 = PML4 .. 0 = PT
  return static_cast<unsigned>((gpa >> (12 + 9 * level)) & 511);
}

}  // namespace

// ---- SystemPages ----

SystemPages::SystemPages(PhysicalMemory& mem, uint64_t base, uint64_t size)
    : mem_(mem), base_(base), size_(size) {
  if ((base | size) & (kPageSize - 1) || size == 0 || !mem.contains(base, size))
    throw InternalError("SystemPages: region must be page-aligned RAM");
  owners_.assign(size / kPageSize, kFreePage);
  free_ = owners_.size();
}

std::optional<uint64_t> SystemPages::allocate(PartitionId owner) {
  for (uint64_t k = hint_; k < owners_.size(); ++k) {
    if (owners_[k] != kFreePage) continue;
    owners_[k] = owner;
    --free_;
    hint_ = k + 1;
    uint64_t spa = base_ + k * kPageSize;
    zero_page(mem_, spa);
    return spa;
  }
  hint_ = owners_.size();
  return std::nullopt;
}

void SystemPages::free(uint64_t spa) {
  if (!contains(spa) || (spa & (kPageSize - 1)))
    throw InternalError("SystemPages::free of a page outside the region");
  uint64_t k = (spa - base_) / kPageSize;
  if (owners_[k] == kFreePage) throw InternalError("SystemPages::free of a free page");
  zero_page(mem_, spa);
  owners_[k] = kFreePage;
  ++free_;
  if (k < hint_) hint_ = k;
}

bool SystemPages::transfer(uint64_t spa, PartitionId from, PartitionId to) {
  if (!contains(spa) || (spa & (kPageSize - 1)) || from == kFreePage || to == kFreePage)
    return false;
  PartitionId& o = owners_[(spa - base_) / kPageSize];
  if (o != from) return false;
  o = to;
  return true;
}

std::vector<uint64_t> SystemPages::owned_by(PartitionId owner) const {
  std::vector<uint64_t> out;
  for (uint64_t k = 0; k < owners_.size(); ++k)
    if (owners_[k] == owner) out.push_back(base_ + k * kPageSize);
  return out;
}

PartitionId SystemPages::owner(uint64_t spa) const {
  if (!contains(spa)) return kFreePage;
  return owners_[(spa - base_) / kPageSize];
}

uint64_t SystemPages::pages_of(PartitionId owner) const {
  uint64_t n = 0;
  for (PartitionId o : owners_) n += o == owner;
  return n;
}

void SystemPages::save(StateWriter& w, const std::string& section) const {
  w.begin_section(section, 1);
  w.u64("base", base_);
  w.u64("size", size_);
  w.bytes("owners", owners_.data(), owners_.size() * sizeof(PartitionId));
  w.end_section();
}

void SystemPages::restore(StateReader& r, const std::string& section) {
  if (uint32_t v = r.begin_section(section); v != 1)
    throw InputError("checkpoint section " + section + ": unsupported version " +
                     std::to_string(v));
  if (r.u64("base") != base_ || r.u64("size") != size_)
    throw InputError("checkpoint section " + section + ": a different system-page region");
  r.bytes_into("owners", owners_.data(), owners_.size() * sizeof(PartitionId));
  r.end_section();
  free_ = pages_of(kFreePage);
  hint_ = 0;
}

// ---- GpaSpace ----

const char* to_string(MapError e) {
  switch (e) {
    case MapError::kOk: return "ok";
    case MapError::kUnaligned: return "address not 4 KiB aligned";
    case MapError::kOutOfRange: return "guest-physical address out of range";
    case MapError::kNotOwner: return "system page not owned by the partition";
    case MapError::kAlreadyMapped: return "guest page already mapped";
    case MapError::kNotMapped: return "guest page not mapped";
    case MapError::kNoMemory: return "no system page left for an EPT table";
  }
  return "?";
}

GpaSpace::GpaSpace(SystemPages& pages, PhysicalMemory& mem, PartitionId owner, bool allocate_root)
    : pages_(pages), mem_(mem), owner_(owner) {
  if (!allocate_root) return;
  if (auto p = pages_.allocate(kHypervisorOwned)) {
    pml4_ = *p;
    tables_.push_back(pml4_);
  }
}

GpaSpace::~GpaSpace() {
  for (uint64_t t : tables_) pages_.free(t);
}

uint64_t GpaSpace::eptp() const {
  return pml4_ | static_cast<uint64_t>(vs::EptMemoryType::kWriteBack) |
         (uint64_t{3} << vs::kEptpWalkLengthShift);
}

uint64_t GpaSpace::leaf_slot(uint64_t gpa, bool create, bool* oom) {
  uint64_t table = pml4_;
  for (unsigned level = 3; level > 0; --level) {
    uint64_t slot = table + 8 * index_at(gpa, level);
    uint64_t e = mem_.load<uint64_t>(slot);
    if (!(e & vs::kEptRwx)) {
      if (!create) return 0;
      auto page = pages_.allocate(kHypervisorOwned);
      if (!page) {
        *oom = true;
        return 0;
      }
      tables_.push_back(*page);
      e = *page | kTableRights;
      mem_.store<uint64_t>(slot, e);
    }
    table = e & kAddrMask;
  }
  return table + 8 * index_at(gpa, 0);
}

uint64_t GpaSpace::leaf_slot_const(uint64_t gpa) const {
  return const_cast<GpaSpace*>(this)->leaf_slot(gpa, false, nullptr);
}

MapError GpaSpace::map(uint64_t gpa, uint64_t spa, uint8_t rwx) {
  if ((gpa | spa) & (kPageSize - 1)) return MapError::kUnaligned;
  if (gpa >> kGpaBits) return MapError::kOutOfRange;
  if (pages_.owner(spa) != owner_) return MapError::kNotOwner;
  if (!valid()) return MapError::kNoMemory;
  bool oom = false;
  uint64_t slot = leaf_slot(gpa, true, &oom);
  if (oom) return MapError::kNoMemory;
  if (mem_.load<uint64_t>(slot) & vs::kEptRwx) return MapError::kAlreadyMapped;
  // Why "ignore PAT" is clear and the type write-back: partition memory is ordinary RAM.
  mem_.store<uint64_t>(slot, spa | kWriteBack | (rwx & vs::kEptRwx));
  ++mapped_;
  return MapError::kOk;
}

MapError GpaSpace::unmap(uint64_t gpa, uint64_t* spa) {
  if (gpa & (kPageSize - 1)) return MapError::kUnaligned;
  if (gpa >> kGpaBits) return MapError::kOutOfRange;
  uint64_t slot = valid() ? leaf_slot_const(gpa) : 0;
  uint64_t e = slot ? mem_.load<uint64_t>(slot) : 0;
  if (!(e & vs::kEptRwx)) return MapError::kNotMapped;
  mem_.store<uint64_t>(slot, 0);
  --mapped_;
  if (spa) *spa = e & kAddrMask;
  return MapError::kOk;
}

MapError GpaSpace::overlay(uint64_t gpa, uint64_t spa, uint8_t rwx, uint64_t* saved) {
  if ((gpa | spa) & (kPageSize - 1)) return MapError::kUnaligned;
  if (gpa >> kGpaBits) return MapError::kOutOfRange;
  if (pages_.owner(spa) != kHypervisorOwned) return MapError::kNotOwner;
  if (!valid()) return MapError::kNoMemory;
  bool oom = false;
  uint64_t slot = leaf_slot(gpa, true, &oom);
  if (oom) return MapError::kNoMemory;
  *saved = mem_.load<uint64_t>(slot);
  mem_.store<uint64_t>(slot, spa | kWriteBack | (rwx & vs::kEptRwx));
  return MapError::kOk;
}

MapError GpaSpace::remove_overlay(uint64_t gpa, uint64_t saved) {
  if (gpa & (kPageSize - 1)) return MapError::kUnaligned;
  if ((gpa >> kGpaBits) || !valid()) return MapError::kOutOfRange;
  uint64_t slot = leaf_slot_const(gpa);
  if (!slot) return MapError::kNotMapped;
  mem_.store<uint64_t>(slot, saved);
  return MapError::kOk;
}

std::optional<uint64_t> GpaSpace::translate(uint64_t gpa, uint8_t* rwx) const {
  if ((gpa >> kGpaBits) || !valid()) return std::nullopt;
  uint64_t slot = leaf_slot_const(gpa & ~(kPageSize - 1));
  uint64_t e = slot ? mem_.load<uint64_t>(slot) : 0;
  if (!(e & vs::kEptRwx)) return std::nullopt;
  if (rwx) *rwx = static_cast<uint8_t>(e & vs::kEptRwx);
  return (e & kAddrMask) | (gpa & (kPageSize - 1));
}

void GpaSpace::walk(uint64_t table, unsigned level, uint64_t gpa_base,
                    const std::function<void(uint64_t, uint64_t, uint8_t)>& fn) const {
  for (unsigned k = 0; k < 512; ++k) {
    uint64_t e = mem_.load<uint64_t>(table + 8 * k);
    if (!(e & vs::kEptRwx)) continue;
    uint64_t gpa = gpa_base | (uint64_t{k} << (12 + 9 * level));
    if (level == 0)
      fn(gpa, e & kAddrMask, static_cast<uint8_t>(e & vs::kEptRwx));
    else
      walk(e & kAddrMask, level - 1, gpa, fn);
  }
}

void GpaSpace::for_each(const std::function<void(uint64_t, uint64_t, uint8_t)>& fn) const {
  if (valid()) walk(pml4_, 3, 0, fn);
}

void GpaSpace::save(StateWriter& w, const std::string& section) const {
  // The tables themselves are in RAM (saved with it); this is the bookkeeping around them.
  w.begin_section(section, 1);
  w.u32("owner", owner_);
  w.bytes("tables", tables_.data(), tables_.size() * sizeof(uint64_t));
  w.u64("mapped", mapped_);
  w.end_section();
}

void GpaSpace::restore(StateReader& r, const std::string& section) {
  if (uint32_t v = r.begin_section(section); v != 1)
    throw InputError("checkpoint section " + section + ": unsupported version " +
                     std::to_string(v));
  if (r.u32("owner") != owner_)
    throw InputError("checkpoint section " + section + ": another partition's space");
  std::vector<uint8_t> t = r.bytes("tables");
  if (t.empty() || t.size() % sizeof(uint64_t))
    throw InputError("checkpoint section " + section + ": bad table list");
  std::vector<uint64_t> tables(t.size() / sizeof(uint64_t));
  std::memcpy(tables.data(), t.data(), t.size());
  for (uint64_t p : tables)
    if (pages_.owner(p) != kHypervisorOwned)
      throw InputError("checkpoint section " + section +
                       ": a table page not owned by the hypervisor");
  mapped_ = r.u64("mapped");
  r.end_section();
  tables_ = std::move(tables);
  pml4_ = tables_.front();
}

}  // namespace hvsim::hv
