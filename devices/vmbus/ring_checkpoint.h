// Checkpoint fields of a ring end (docs/vmbus.md "Checkpoints"): a RingEndState (the private
// position, the published one, the writer's pending_send_sz flag) and its RingStats, written
// as fields named "<prefix>.<field>". Shared by the server and every VSP's checkpoint code.
#pragma once

#include <string>

#include "devices/vmbus/ring.h"

namespace hvsim {
class StateReader;
class StateWriter;
}  // namespace hvsim

namespace hvsim::vmbus {

void save_ring_stats(StateWriter& w, const std::string& prefix, const RingStats& s);
RingStats restore_ring_stats(StateReader& r, const std::string& prefix);
/// The state and its counters; RingReader/RingWriter::restore check it against the ring.
void save_ring_end(StateWriter& w, const std::string& prefix, const RingEndState& s);
RingEndState restore_ring_end(StateReader& r, const std::string& prefix);

}  // namespace hvsim::vmbus
