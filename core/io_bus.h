// Port I/O and MMIO buses: devices claim ranges; the processor reads and writes through them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hvsim {

class InspectNode;

/// A device's port I/O capability. `port` is the absolute port; size is 1, 2 or 4 bytes.
class PortIoHandler {
 public:
  virtual ~PortIoHandler() = default;
  virtual uint32_t io_read(uint16_t port, unsigned size) = 0;
  virtual void io_write(uint16_t port, unsigned size, uint32_t value) = 0;
};

/// A device's MMIO capability. `offset` is relative to the start of the claimed range;
/// size is 1, 2, 4 or 8 bytes.
class MmioHandler {
 public:
  virtual ~MmioHandler() = default;
  virtual uint64_t mmio_read(uint64_t offset, unsigned size) = 0;
  virtual void mmio_write(uint64_t offset, unsigned size, uint64_t value) = 0;
};

/// The 64 KiB port space. Unclaimed reads return all ones; unclaimed writes are dropped
/// and counted. Lookup is one array index per access.
class PortIoBus {
 public:
  PortIoBus();
  /// Claims [first, first+count) for `handler` (not owned). Throws InternalError on overlap.
  void map(uint16_t first, uint32_t count, PortIoHandler* handler, std::string name);
  uint32_t read(uint16_t port, unsigned size);
  void write(uint16_t port, unsigned size, uint32_t value);
  void inspect(InspectNode& node) const;

 private:
  struct Range {
    uint16_t first;
    uint32_t count;
    PortIoHandler* handler;
    std::string name;
    uint64_t reads = 0, writes = 0;
  };
  std::vector<Range> ranges_;
  std::vector<uint8_t> index_;  // per port: 0 = unclaimed, else 1 + index into ranges_
  uint64_t unclaimed_reads_ = 0, unclaimed_writes_ = 0;
};

/// Physical address ranges outside RAM claimed by devices. Unclaimed reads return all
/// ones; unclaimed writes are dropped and counted.
class MmioBus {
 public:
  void map(uint64_t base, uint64_t length, MmioHandler* handler, std::string name);
  /// True if some device claims pa.
  bool claimed(uint64_t pa) const { return find(pa) != nullptr; }
  uint64_t read(uint64_t pa, unsigned size);
  void write(uint64_t pa, unsigned size, uint64_t value);
  void inspect(InspectNode& node) const;

 private:
  struct Range {
    uint64_t base, length;
    MmioHandler* handler;
    std::string name;
    uint64_t reads = 0, writes = 0;
  };
  const Range* find(uint64_t pa) const;
  std::vector<Range> ranges_;  // sorted by base, disjoint
  uint64_t unclaimed_reads_ = 0, unclaimed_writes_ = 0;
};

}  // namespace hvsim
