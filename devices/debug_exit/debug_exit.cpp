// Debug-exit port behaviour (platform.md, "I/O conventions").
#include "devices/debug_exit/debug_exit.h"

#include "core/inspect.h"
#include "core/state.h"

namespace hvsim {

void DebugExit::io_write(uint16_t port, unsigned size, uint32_t value) {
  if (port != params_.port) return;  // only the first port of the range acts
  value_ = value;
  if (on_exit_) on_exit_(value);
}

void DebugExit::save(StateWriter& w) const {
  w.begin_section("debug_exit", 1);
  w.boolean("written", value_.has_value());
  w.u32("value", value_.value_or(0));
  w.end_section();
}

void DebugExit::restore(StateReader& r) {
  r.begin_section("debug_exit");
  bool written = r.boolean("written");
  uint32_t v = r.u32("value");
  value_ = written ? std::optional<uint32_t>(v) : std::nullopt;
  r.end_section();
}

void DebugExit::inspect(InspectNode& node) const {
  node.counter("port", params_.port);
  node.value("exit_value", value_ ? std::to_string(*value_) : "none");
}

}  // namespace hvsim
