// Firmware configuration device behaviour (QEMU docs/specs/fw_cfg.rst, "Legacy I/O interface").
#include "devices/fw_cfg/fw_cfg.h"

#include "core/inspect.h"
#include "core/state.h"
#include "devices/fw_cfg/spec/keys.h"

namespace hvsim {

using fw_cfg::Key;

FwCfg::FwCfg(const FwCfgParams& p) {
  items_[static_cast<uint16_t>(Key::kSignature)] = {'Q', 'E', 'M', 'U'};
  add(static_cast<uint16_t>(Key::kId), 1, 4);
  add(static_cast<uint16_t>(Key::kRamSize), p.ram_size, 8);
  add(static_cast<uint16_t>(Key::kNbCpus), p.cpus, 2);
  add(static_cast<uint16_t>(Key::kMaxCpus), p.max_cpus, 2);
  add(static_cast<uint16_t>(Key::kMaxRam), p.max_ram, 8);
}

void FwCfg::add(uint16_t key, uint64_t value, unsigned width) {
  std::vector<uint8_t> bytes(width);
  for (unsigned i = 0; i < width; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  items_[key] = std::move(bytes);
}

uint32_t FwCfg::io_read(uint16_t port, unsigned size) {
  if (port != fw_cfg::kDataPort) return 0;
  // Wider reads of the data port return successive bytes, little-endian.
  uint32_t v = 0;
  auto it = items_.find(selector_);
  for (unsigned i = 0; i < size; ++i) {
    uint8_t b = 0;
    if (it != items_.end() && offset_ < it->second.size()) b = it->second[offset_++];
    v |= uint32_t{b} << (8 * i);
  }
  ++reads_;
  return v;
}

void FwCfg::io_write(uint16_t port, unsigned size, uint32_t value) {
  if (port != fw_cfg::kSelectorPort) return;  // the data port is read-only here
  selector_ = static_cast<uint16_t>(value);
  offset_ = 0;
  ++selects_;
}

void FwCfg::save(StateWriter& w) const {
  w.begin_section("fw_cfg", 1);
  w.u32("selector", selector_);
  w.u32("offset", offset_);
  w.end_section();
}

void FwCfg::restore(StateReader& r) {
  r.begin_section("fw_cfg");
  selector_ = static_cast<uint16_t>(r.u32("selector"));
  offset_ = r.u32("offset");
  r.end_section();
}

void FwCfg::inspect(InspectNode& node) const {
  node.counter("selects", selects_);
  node.counter("reads", reads_);
  InspectNode& items = node.child("items");
  for (const auto& [key, bytes] : items_) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes.size() && i < 8; ++i) v |= uint64_t{bytes[i]} << (8 * i);
    items.counter(fw_cfg::to_string(static_cast<Key>(key)), v);
  }
}

}  // namespace hvsim
