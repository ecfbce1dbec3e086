// Partition memory: the system RAM pages the hypervisor hands out and the owner of every one,
// and each partition's guest-physical address space as EPT tables in simulated memory
// (DESIGN.md "The hypervisor drives emulated hardware the way real software does"; Intel SDM
// Vol. 3C 29.3 "The extended page table mechanism (EPT)").
//
// Isolation rests here: a partition's EPT maps only pages that partition owns, EPT tables
// live in pages the hypervisor owns (mapped into no partition), and a page changes owner only
// through free(), which zeroes it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hvsim {
class PhysicalMemory;
class StateWriter;
class StateReader;
}  // namespace hvsim

namespace hvsim::hv {

using PartitionId = uint32_t;
/// Owners besides partitions: a free page, and the hypervisor's own structures.
constexpr PartitionId kFreePage = 0xFFFFFFFF, kHypervisorOwned = 0xFFFFFFFE;
constexpr uint64_t kPageSize = 4096;

/// The system pages of one region of RAM, [base, base + size), and who owns each.
class SystemPages {
 public:
  SystemPages(PhysicalMemory& mem, uint64_t base, uint64_t size);
  /// The lowest free page, zero-filled, now owned by `owner`; nothing if none is free.
  /// Lowest first keeps allocation a function of the history of calls (determinism).
  std::optional<uint64_t> allocate(PartitionId owner);
  /// Returns page `spa` to the free pool, zeroed (nothing of one owner reaches the next).
  void free(uint64_t spa);
  /// Gives page `spa`, owned by `from`, to `to` without zeroing it (a parent lending a page
  /// to its child and taking it back: hv/root_hypercalls.cpp). False if `from` does not own it.
  bool transfer(uint64_t spa, PartitionId from, PartitionId to);
  /// Every page owned by `owner`, in address order.
  std::vector<uint64_t> owned_by(PartitionId owner) const;
  /// The owner of page `spa` (kFreePage outside the region too).
  PartitionId owner(uint64_t spa) const;
  bool contains(uint64_t spa) const { return spa >= base_ && spa - base_ < size_; }
  uint64_t free_pages() const { return free_; }
  uint64_t total_pages() const { return owners_.size(); }
  /// Pages owned by `owner`.
  uint64_t pages_of(PartitionId owner) const;

  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

 private:
  PhysicalMemory& mem_;
  uint64_t base_, size_;
  std::vector<PartitionId> owners_;  ///< per page of the region
  uint64_t free_ = 0;
  uint64_t hint_ = 0;  ///< no free page below this index
};

/// Why a mapping change was refused.
enum class MapError : uint8_t {
  kOk,
  kUnaligned,      ///< GPA or SPA not 4 KiB aligned
  kOutOfRange,     ///< GPA at or above the partition's guest-physical limit
  kNotOwner,       ///< the system page belongs to someone else (or is free)
  kAlreadyMapped,  ///< the guest page already has a mapping
  kNotMapped,      ///< unmap of a guest page without one
  kNoMemory,       ///< no system page left for an EPT table
};
const char* to_string(MapError e);

/// One partition's guest-physical address space: a 4-level EPT (4 KiB leaves, write-back)
/// whose tables are hypervisor-owned system pages. After unmap() or a rights change the
/// caller must invalidate (INVEPT single-context with eptp()) before the VPs run again.
class GpaSpace {
 public:
  /// Guest-physical addresses are below 2^kGpaBits (the MAXPHYADDR the partition sees).
  static constexpr unsigned kGpaBits = 40;

  /// `allocate_root` false: no PML4 yet (restore() sets the tables from a checkpoint).
  GpaSpace(SystemPages& pages, PhysicalMemory& mem, PartitionId owner, bool allocate_root = true);
  ~GpaSpace();
  GpaSpace(const GpaSpace&) = delete;
  GpaSpace& operator=(const GpaSpace&) = delete;
  /// False if no system page was left for the top-level table.
  bool valid() const { return pml4_ != 0; }

  /// Maps guest page `gpa` to system page `spa`, which `owner` must own, with rights
  /// `rwx` (bits 0-2: read, write, execute).
  MapError map(uint64_t gpa, uint64_t spa, uint8_t rwx);
  /// Removes the mapping of guest page `gpa`; *spa (if given) receives the system page.
  MapError unmap(uint64_t gpa, uint64_t* spa = nullptr);
  /// Points guest page `gpa` (mapped or not) at hypervisor-owned page `spa` with rights
  /// `rwx`: an overlay page the hypervisor fills (the hypercall page, the reference TSC
  /// page; TLFS "overlay pages"). *saved receives the EPT entry it replaced (0: none) for
  /// remove_overlay. Invalidate afterwards, as after unmap.
  MapError overlay(uint64_t gpa, uint64_t spa, uint8_t rwx, uint64_t* saved);
  /// Puts back the entry overlay() replaced.
  MapError remove_overlay(uint64_t gpa, uint64_t saved);
  /// The system address of `gpa` and the rights of its mapping; nothing if unmapped.
  std::optional<uint64_t> translate(uint64_t gpa, uint8_t* rwx = nullptr) const;
  /// The EPT pointer: write-back, 4-level walk, no A/D flags.
  uint64_t eptp() const;
  /// Every mapping in guest-physical order.
  void for_each(const std::function<void(uint64_t gpa, uint64_t spa, uint8_t rwx)>& fn) const;
  uint64_t mapped_pages() const { return mapped_; }
  /// System pages holding this space's EPT tables.
  uint64_t table_pages() const { return tables_.size(); }

  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);

 private:
  /// The leaf entry's address for `gpa`, creating tables on the way if `create`; 0 if a
  /// table is missing (or could not be allocated: *oom).
  uint64_t leaf_slot(uint64_t gpa, bool create, bool* oom);
  uint64_t leaf_slot_const(uint64_t gpa) const;
  void walk(uint64_t table, unsigned level, uint64_t gpa_base,
            const std::function<void(uint64_t, uint64_t, uint8_t)>& fn) const;

  SystemPages& pages_;
  PhysicalMemory& mem_;
  PartitionId owner_;
  uint64_t pml4_ = 0;
  std::vector<uint64_t> tables_;  ///< every table page, the PML4 first
  uint64_t mapped_ = 0;
};

}  // namespace hvsim::hv
