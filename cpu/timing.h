// Cycle costs of the first-cut timing model (see DESIGN.md "Cycle-approximate timing").
#pragma once

#include <cstdint>

namespace hvsim::cpu::timing {

// Why: the walking skeleton charges a flat cost per instruction; the next issue replaces
// these constants with per-class costs and TLB/page-walk charges from one table.

/// Cycles charged for every retired instruction.
constexpr uint64_t kInstruction = 1;
/// Extra cycles charged for delivering an exception or interrupt through the IDT.
constexpr uint64_t kEventDelivery = 20;

}  // namespace hvsim::cpu::timing
