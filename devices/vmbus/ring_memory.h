// The memory a VMBus ring buffer lives in (shared/spec/hyperv-interfaces.md §6.7): the ring
// library reads and writes it only through this interface, in bytes from the start of the
// ring (its control page). The server gives the ring library GPADL views (gpadl.h), so a
// ring can reach nothing but the pages the guest shared.
//
// Why here: the ring library (devices/vmbus/ring.h, built on another branch) defines the
// same interface; this branch defines it on its own until the two are merged (the lead
// keeps one of the two identical definitions).
#pragma once

#include <cstdint>

namespace hvsim::vmbus {

class RingMemory {
 public:
  virtual ~RingMemory() = default;
  /// Bytes in the ring (control page included).
  virtual uint64_t size() const = 0;
  /// Copies n bytes at offset `off` into `out`; false (nothing copied) if the range does not
  /// fit in size() or the memory cannot be reached.
  virtual bool read(uint64_t off, void* out, uint64_t n) const = 0;
  /// Copies n bytes from `in` to offset `off`; false (nothing written) as for read.
  virtual bool write(uint64_t off, const void* in, uint64_t n) = 0;
};

}  // namespace hvsim::vmbus
