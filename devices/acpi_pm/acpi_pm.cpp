// ACPI PM timer counters (ACPI Specification 6.5, 4.8.3.3).
#include "devices/acpi_pm/acpi_pm.h"

#include "core/inspect.h"

namespace hvsim {

void AcpiPmTimer::inspect(InspectNode& node) const {
  node.counter("port", params_.port);
  node.counter("reads", reads_);
  node.counter("value", clock_.ticks_at(now_()) & 0xFFFFFF);
}

}  // namespace hvsim
