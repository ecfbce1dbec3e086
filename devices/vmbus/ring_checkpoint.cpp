#include "devices/vmbus/ring_checkpoint.h"

#include "core/state.h"

namespace hvsim::vmbus {

void save_ring_stats(StateWriter& w, const std::string& p, const RingStats& s) {
  w.u64(p + ".packets", s.packets);
  w.u64(p + ".bytes", s.bytes);
  w.u64(p + ".signals", s.signals);
  w.u64(p + ".full", s.full);
  w.u64(p + ".errors", s.errors);
}

RingStats restore_ring_stats(StateReader& r, const std::string& p) {
  RingStats s;
  s.packets = r.u64(p + ".packets");
  s.bytes = r.u64(p + ".bytes");
  s.signals = r.u64(p + ".signals");
  s.full = r.u64(p + ".full");
  s.errors = r.u64(p + ".errors");
  return s;
}

void save_ring_end(StateWriter& w, const std::string& p, const RingEndState& s) {
  w.u32(p + ".data_size", s.data_size);
  w.u32(p + ".position", s.position);
  w.u32(p + ".published", s.published);
  w.boolean(p + ".pending_set", s.pending_set);
  save_ring_stats(w, p, s.stats);
}

RingEndState restore_ring_end(StateReader& r, const std::string& p) {
  RingEndState s;
  s.data_size = r.u32(p + ".data_size");
  s.position = r.u32(p + ".position");
  s.published = r.u32(p + ".published");
  s.pending_set = r.boolean(p + ".pending_set");
  s.stats = restore_ring_stats(r, p);
  return s;
}

}  // namespace hvsim::vmbus
