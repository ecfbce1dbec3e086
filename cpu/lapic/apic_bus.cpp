// IPI destination resolution (Intel SDM Vol. 3A 10.6.2 physical, logical and shorthand
// destinations; 10.6.2.4 lowest-priority delivery).
#include "cpu/lapic/apic_bus.h"

namespace hvsim::cpu {

using lapic::DeliveryMode;
using lapic::Shorthand;

unsigned ApicBus::send(const ApicMessage& m, const ApicDestination& d, Lapic* source, SimTime at) {
  if (source) source->count_sent();
  if (d.shorthand == Shorthand::kSelf) {
    if (!source) return 0;
    source->post(m, at);
    return 1;
  }
  bool lowest = m.mode == DeliveryMode::kLowestPriority && d.shorthand == Shorthand::kNone;
  unsigned n = 0;
  for (Lapic* l : lapics_) {
    bool target;
    switch (d.shorthand) {
      case Shorthand::kAllIncludingSelf: target = true; break;
      case Shorthand::kAllExcludingSelf: target = l != source; break;
      default: target = l->matches(d); break;
    }
    if (!target) continue;
    // Why: real hardware arbitrates on task priority; we pick the lowest-numbered target so
    // the choice never depends on timing.
    ApicMessage fixed = m;
    if (lowest) fixed.mode = DeliveryMode::kFixed;
    l->post(fixed, at);
    ++n;
    if (lowest) break;
  }
  return n;
}

}  // namespace hvsim::cpu
