// Polling of the VMBus monitor pages (shared/spec/hyperv-interfaces.md §6.6; docs/vmbus.md
// "Monitored channels"): while a partition's server has a monitored channel open, its
// child->parent monitor page is polled every monitor latency of simulated time.
// Why dormant polls: a poll pending for ever would keep an idle machine from stopping
// (check_idle counts pending events). A poll that finds every VP of the partition halted
// schedules no next one; the run loop restarts it when a VP runs again or a bit is pending
// (a guest that set its bit and halted in the same chunk still gets its signal seen).
#include "devices/vmbus/hv_transport.h"
#include "hv/hypervisor.h"
#include "machine/machine.h"

namespace hvsim {

void Machine::start_vmbus_monitor_poll(uint32_t id) {
  auto it = vmbus_.find(id);
  VmbusEvents& ev = vmbus_events_[id];
  if (it == vmbus_.end() || ev.monitor) return;
  ev.monitor_at = device_time() + it->second->server().monitor_latency();
  ev.monitor = events_.schedule(
      ev.monitor_at, [this, id] { vmbus_monitor_poll_fired(id); }, "vmbus_monitor_poll");
}

void Machine::vmbus_monitor_poll_fired(uint32_t id) {
  vmbus_events_[id].monitor = 0;
  auto it = vmbus_.find(id);
  if (it == vmbus_.end()) return;
  vmbus::Server& s = it->second->server();
  if (!s.monitor_active()) return;  // the last monitored channel closed
  s.poll_monitor();
  if (s.monitor_active() && partition_awake(id)) start_vmbus_monitor_poll(id);
}

void Machine::rearm_vmbus_monitor_polls() {
  for (auto& [id, v] : vmbus_) {
    auto e = vmbus_events_.find(id);
    if (e != vmbus_events_.end() && e->second.monitor) continue;
    const vmbus::Server& s = v->server();
    if (s.monitor_active() && (partition_awake(id) || s.monitor_pending()))
      start_vmbus_monitor_poll(id);
  }
}

bool Machine::partition_awake(uint32_t id) const {
  const hv::Partition* p = hv_ ? hv_->partition_by_id(id) : nullptr;
  if (!p) return false;
  for (const auto& vp : p->vps)
    if (!vp.halted && !vp.waiting_for_sipi) return true;
  return false;
}

}  // namespace hvsim
