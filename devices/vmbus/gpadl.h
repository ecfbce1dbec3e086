// GPADLs, guest physical address descriptor lists (shared/spec/hyperv-interfaces.md §6.4
// GpadlHeader/Body, §6.7): the pages a guest shares with the host, one range of PFNs built
// from a GpadlHeader and its GpadlBody messages. A GpadlView is the only way the server and
// the ring library reach child memory: byte offsets within a window of the GPADL's pages.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/vmbus/ring.h"
#include "devices/vmbus/transport.h"

namespace hvsim::vmbus {

struct Gpadl {
  uint32_t handle = 0;
  uint32_t relid = 0;
  uint32_t byte_count = 0;   ///< bytes of the range
  uint32_t byte_offset = 0;  ///< into its first page
  uint32_t pfn_total = 0;    ///< PFNs the range needs (from range_buflen)
  std::vector<uint64_t> pfns;
  bool complete() const { return pfns.size() == pfn_total; }
};

/// A window of whole pages [first_page, first_page + pages) of a complete GPADL, as
/// RingMemory. Reads and writes split at page boundaries and go to the GPADL's PFNs only.
class GpadlView final : public RingMemory {
 public:
  GpadlView(Transport& t, const Gpadl& g, uint32_t first_page, uint32_t pages);
  uint64_t size() const override { return uint64_t{pfns_.size()} * 4096; }
  bool read(uint64_t off, void* out, size_t n) override;
  bool write(uint64_t off, const void* in, size_t n) override;

 private:
  bool fits(uint64_t off, uint64_t n) const { return off <= size() && n <= size() - off; }
  Transport& t_;
  std::vector<uint64_t> pfns_;
};

}  // namespace hvsim::vmbus
