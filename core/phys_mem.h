// Physical memory: RAM from address 0, host pages allocated on first touch, per-page
// dirty tracking and code-page write notification (for the decode cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace hvsim {

class Hasher;

/// Guest RAM [0, size). Backed by one anonymous host mapping reserved without commit, so
/// the host allocates a page only when the guest first writes it. Every write path marks
/// the page "touched" (ever written; what save and the state hash cover) and "dirty"
/// (written since the last clear_dirty()). A page that holds decoded code is flagged;
/// the first write to it calls the code-write listeners and clears the flag.
class PhysicalMemory {
 public:
  static constexpr uint64_t kPageShift = 12;
  static constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;

  /// size: bytes of RAM, a nonzero multiple of 4 KiB.
  explicit PhysicalMemory(uint64_t size);
  ~PhysicalMemory();
  PhysicalMemory(const PhysicalMemory&) = delete;
  PhysicalMemory& operator=(const PhysicalMemory&) = delete;

  uint64_t size() const { return size_; }
  uint64_t page_count() const { return size_ >> kPageShift; }
  /// True if [pa, pa+len) lies wholly inside RAM.
  bool contains(uint64_t pa, uint64_t len) const { return pa < size_ && len <= size_ - pa; }

  /// Host pointer for reading [pa, pa+len); the range must be inside RAM.
  const uint8_t* read_ptr(uint64_t pa) const { return base_ + pa; }
  /// Host pointer for writing [pa, pa+len): marks the pages touched and dirty and
  /// notifies code-page listeners first. The range must be inside RAM.
  uint8_t* write_ptr(uint64_t pa, uint64_t len) {
    note_write(pa, len);
    return base_ + pa;
  }

  /// Copy out / in; the range must be inside RAM (throws InternalError otherwise).
  void read(uint64_t pa, void* out, uint64_t len) const;
  void write(uint64_t pa, const void* in, uint64_t len);
  template <typename T>
  T load(uint64_t pa) const {
    T v;
    read(pa, &v, sizeof v);
    return v;
  }
  template <typename T>
  void store(uint64_t pa, T v) {
    write(pa, &v, sizeof v);
  }

  /// Marks the pages of [pa, pa+len) written; called by every write path.
  void note_write(uint64_t pa, uint64_t len) {
    if (len == 0) return;
    uint64_t first = pa >> kPageShift, last = (pa + len - 1) >> kPageShift;
    for (uint64_t pfn = first; pfn <= last; ++pfn) note_page_write(pfn);
  }
  void note_page_write(uint64_t pfn) {
    uint64_t bit = uint64_t{1} << (pfn & 63);
    uint64_t& w = flags_[pfn >> 6].code;
    if (w & bit) {
      w &= ~bit;
      for (auto& l : code_listeners_) l(pfn);
    }
    flags_[pfn >> 6].touched |= bit;
    flags_[pfn >> 6].dirty |= bit;
  }

  /// Flags a page as holding decoded code; its next write notifies the listeners.
  void mark_code_page(uint64_t pfn) {
    uint64_t& w = flags_[pfn >> 6].code;
    uint64_t bit = uint64_t{1} << (pfn & 63);
    if (!(w & bit)) ++protect_gen_;
    w |= bit;
  }
  /// Changes whenever a page may stop being directly writable by a cached host pointer
  /// (it became a code page, dirty bits were cleared, RAM was cleared). Processors that
  /// cache write pointers drop them when it moves.
  uint64_t protect_generation() const { return protect_gen_; }
  bool is_code_page(uint64_t pfn) const { return flags_[pfn >> 6].code >> (pfn & 63) & 1; }
  /// Registers a listener called with the page number when a code page is written.
  void add_code_write_listener(std::function<void(uint64_t pfn)> listener) {
    code_listeners_.push_back(std::move(listener));
  }

  bool touched(uint64_t pfn) const { return flags_[pfn >> 6].touched >> (pfn & 63) & 1; }
  bool dirty(uint64_t pfn) const { return flags_[pfn >> 6].dirty >> (pfn & 63) & 1; }
  void clear_dirty();
  /// Number of pages ever written.
  uint64_t touched_pages() const;
  /// Page numbers ever written, ascending.
  std::vector<uint64_t> touched_list() const;

  /// Returns RAM to all zeroes and releases the host pages (reset, restore).
  void clear();
  /// Mixes every touched page that is not all zero (with its page number) into `h`, in
  /// ascending order, so equal contents give equal hashes however they were reached.
  void hash_into(Hasher& h) const;

 private:
  struct PageFlags {
    uint64_t touched = 0, dirty = 0, code = 0;
  };
  uint64_t size_;
  uint8_t* base_;
  std::vector<PageFlags> flags_;  // one entry per 64 pages
  std::vector<std::function<void(uint64_t)>> code_listeners_;
  uint64_t protect_gen_ = 0;
};

}  // namespace hvsim
