// What the VMBus server needs from the hypervisor (shared/spec/hyperv-interfaces.md §6.1,
// §6.6; DESIGN.md "The root partition's stack talks to the hypervisor only through its
// interfaces"): post a channel message to a VP's SINT, set an event flag, bind a
// per-channel event connection, and read/write the guest pages of a GPADL. The real
// transport is HvTransport (hv_transport.h); unit tests drive the server with a fake.
#pragma once

#include <cstdint>

namespace hvsim::vmbus {

class Transport {
 public:
  virtual ~Transport() = default;
  /// Posts a channel message (HV_MESSAGE type 1) to SINT `sint` of VP `vp`; false if the
  /// hypervisor refused it (SynIC not ready, buffers full).
  virtual bool post(uint32_t vp, unsigned sint, const uint8_t* msg, uint32_t size) = 0;
  /// Sets event flag `flag` of SINT `sint` of VP `vp` (raises the SINT on 0 -> 1).
  virtual bool signal(uint32_t vp, unsigned sint, unsigned flag) = 0;
  /// Binds / unbinds the guest's HvSignalEvent connection `connection_id` to the server.
  virtual void connect_event(uint32_t connection_id) = 0;
  virtual void disconnect_event(uint32_t connection_id) = 0;
  /// The partition's virtual processors and memory (bytes from GPA 0).
  virtual uint32_t vp_count() const = 0;
  virtual uint64_t memory_size() const = 0;
  /// Guest memory, used only by GPADL views (gpadl.h) and for the two monitor pages the
  /// guest named in InitiateContact (server_monitor.cpp): false if not reachable.
  virtual bool read_guest(uint64_t gpa, void* out, uint64_t n) const = 0;
  virtual bool write_guest(uint64_t gpa, const void* in, uint64_t n) = 0;
};

}  // namespace hvsim::vmbus
