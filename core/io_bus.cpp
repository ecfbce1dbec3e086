#include "core/io_bus.h"

#include <algorithm>

#include "core/error.h"
#include "core/inspect.h"

namespace hvsim {

PortIoBus::PortIoBus() : index_(65536, 0) {}

void PortIoBus::map(uint16_t first, uint32_t count, PortIoHandler* handler, std::string name) {
  if (count == 0 || count > 65536u - first)
    throw InternalError("port range out of bounds: " + name);
  if (ranges_.size() >= 255) throw InternalError("too many port ranges");
  for (uint32_t p = first; p < first + count; ++p)
    if (index_[p])
      throw InternalError("port range of " + name + " overlaps " + ranges_[index_[p] - 1].name);
  ranges_.push_back({first, count, handler, std::move(name)});
  for (uint32_t p = first; p < first + count; ++p) index_[p] = static_cast<uint8_t>(ranges_.size());
}

uint32_t PortIoBus::read(uint16_t port, unsigned size) {
  if (uint8_t i = index_[port]) {
    ++ranges_[i - 1].reads;
    return ranges_[i - 1].handler->io_read(port, size);
  }
  ++unclaimed_reads_;
  return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

void PortIoBus::write(uint16_t port, unsigned size, uint32_t value) {
  if (uint8_t i = index_[port]) {
    ++ranges_[i - 1].writes;
    ranges_[i - 1].handler->io_write(port, size, value);
    return;
  }
  ++unclaimed_writes_;
}

void PortIoBus::inspect(InspectNode& node) const {
  node.counter("unclaimed_reads", unclaimed_reads_);
  node.counter("unclaimed_writes", unclaimed_writes_);
  for (const Range& r : ranges_) {
    InspectNode& c = node.child(r.name);
    c.counter("first_port", r.first);
    c.counter("ports", r.count);
    c.counter("reads", r.reads);
    c.counter("writes", r.writes);
  }
}

void MmioBus::map(uint64_t base, uint64_t length, MmioHandler* handler, std::string name) {
  if (length == 0 || base + length < base) throw InternalError("MMIO range out of bounds: " + name);
  for (const Range& r : ranges_)
    if (base < r.base + r.length && r.base < base + length)
      throw InternalError("MMIO range of " + name + " overlaps " + r.name);
  Range nr{base, length, handler, std::move(name)};
  auto at = std::lower_bound(ranges_.begin(), ranges_.end(), base,
                             [](const Range& r, uint64_t b) { return r.base < b; });
  ranges_.insert(at, std::move(nr));
}

const MmioBus::Range* MmioBus::find(uint64_t pa) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), pa,
                             [](uint64_t a, const Range& r) { return a < r.base; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return pa - it->base < it->length ? &*it : nullptr;
}

uint64_t MmioBus::read(uint64_t pa, unsigned size) {
  if (auto* r = const_cast<Range*>(find(pa))) {
    ++r->reads;
    return r->handler->mmio_read(pa - r->base, size);
  }
  ++unclaimed_reads_;
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

void MmioBus::write(uint64_t pa, unsigned size, uint64_t value) {
  if (auto* r = const_cast<Range*>(find(pa))) {
    ++r->writes;
    r->handler->mmio_write(pa - r->base, size, value);
    return;
  }
  ++unclaimed_writes_;
}

void MmioBus::inspect(InspectNode& node) const {
  node.counter("unclaimed_reads", unclaimed_reads_);
  node.counter("unclaimed_writes", unclaimed_writes_);
  for (const Range& r : ranges_) {
    InspectNode& c = node.child(r.name);
    c.counter("base", r.base);
    c.counter("length", r.length);
    c.counter("reads", r.reads);
    c.counter("writes", r.writes);
  }
}

}  // namespace hvsim
