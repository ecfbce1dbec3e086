// Per-channel ring stats for the inspect tree (shared/spec/hyperv-interfaces.md §6.7 ring
// control page; docs/vmbus.md "Per-channel stats"): whatever drives a channel (an IC, the
// echo VSP, or no VSP at all), its two rings are read through the channel's GPADL views at
// inspect time, read-only, and the host end's counters come from the server's Channel, where
// the VSP's RingReader and RingWriter count.
#include "core/inspect.h"
#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

RingStats* Server::host_ring_stats(uint32_t relid, bool writer) {
  auto it = channels_.find(relid);
  if (it == channels_.end()) return nullptr;
  return writer ? &it->second.host_writer : &it->second.host_reader;
}

void inspect_ring(RingMemory& ring, InspectNode& n) {
  uint32_t data = ring_data_size(ring.size());
  n.counter("data_size", data);
  uint32_t ctl[4] = {};  // write_index, read_index, interrupt_mask, pending_send_sz
  uint32_t features = 0;
  // Why one read of the four words: the values shown belong together (a guest may change
  // them at any time; a snapshot of one moment is what inspect can promise).
  if (!ring.read(spec::kWriteIndexOffset, ctl, sizeof ctl) ||
      !ring.read(spec::kFeatureBitsOffset, &features, sizeof features)) {
    n.value("control", "unreadable");
    return;
  }
  n.counter("write_index", ctl[0]);
  n.counter("read_index", ctl[1]);
  n.counter("interrupt_mask", ctl[2]);
  n.counter("pending_send_sz", ctl[3]);
  n.counter("feature_bits", features);
  const char* bad = nullptr;
  if (data == 0)
    bad = "bad ring size";
  else if (ctl[0] >= data || ctl[0] % spec::kRingAlign)
    bad = "bad write_index";
  else if (ctl[1] >= data || ctl[1] % spec::kRingAlign)
    bad = "bad read_index";
  if (bad) {
    n.value("control", bad);
    return;
  }
  n.value("control", "ok");
  uint32_t used = ctl[0] >= ctl[1] ? ctl[0] - ctl[1] : data - (ctl[1] - ctl[0]);
  n.counter("bytes_in_use", used);
}

namespace {
void host_end(const RingStats& s, InspectNode& n) {
  n.counter("packets", s.packets);
  n.counter("bytes", s.bytes);
  n.counter("signals", s.signals);
  n.counter("full", s.full);
  n.counter("errors", s.errors);
}
}  // namespace

void inspect_channel_rings(const Server::Channel& c, InspectNode& n) {
  InspectNode& out = n.child("outbound");
  InspectNode& in = n.child("inbound");
  // Why only while open: the views exist only then (a closed channel shows its counters).
  if (c.state == Server::ChannelState::kOpen && c.outbound && c.inbound) {
    inspect_ring(*c.outbound, out);
    inspect_ring(*c.inbound, in);
  }
  host_end(c.host_reader, out.child("host_reader"));
  host_end(c.host_writer, in.child("host_writer"));
}

}  // namespace hvsim::vmbus
