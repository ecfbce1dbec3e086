// A VMBus server bound to one partition through the hypervisor's host API (hv/README.md,
// docs/hv.md "Host ports"; shared/spec/hyperv-interfaces.md §4.7, §6.1): a host port for
// control messages with the partition's connections 1 and 4 bound to it, a host port for
// channel events with one connection per channel, and host posts to SINT2 of the target VP.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "devices/vmbus/server.h"
#include "devices/vmbus/transport.h"
#include "hv/spec/tlfs.h"

namespace hvsim {
class StateReader;
class StateWriter;
}  // namespace hvsim

namespace hvsim::hv {
class Hypervisor;
struct Partition;
struct HostDelivery;
}  // namespace hvsim::hv

namespace hvsim::vmbus {

class PartitionVmbus final : public Transport {
 public:
  /// Throws InputError if the partition's connection 1 or 4 is already taken.
  PartitionVmbus(hv::Hypervisor& hv, hv::Partition& p, const ServerParams& params,
                 Tracer* tracer = nullptr, std::function<SimTime()> now = {});
  /// Restore (docs/vmbus.md "Checkpoints"): after the hypervisor was restored, binds the
  /// handlers to the host ports named in section `section` (recreated by the checkpoint, no
  /// new port) and restores the server from `section`.server. Checks that the partition's
  /// connections 1 and 4 and each channel's event connection are bound to those ports;
  /// throws InputError naming the section otherwise.
  PartitionVmbus(hv::Hypervisor& hv, hv::Partition& p, const ServerParams& params, Tracer* tracer,
                 std::function<SimTime()> now, StateReader& r, const std::string& section);
  /// Its host ports in `section`, the server in `section`.server.
  void save(StateWriter& w, const std::string& section) const;
  ~PartitionVmbus() override;
  PartitionVmbus(const PartitionVmbus&) = delete;
  PartitionVmbus& operator=(const PartitionVmbus&) = delete;

  Server& server() { return *server_; }
  const Server& server() const { return *server_; }
  uint32_t partition_id() const { return partition_; }

  bool post(uint32_t vp, unsigned sint, const uint8_t* msg, uint32_t size) override;
  bool signal(uint32_t vp, unsigned sint, unsigned flag) override;
  void connect_event(uint32_t connection_id) override;
  void disconnect_event(uint32_t connection_id) override;
  uint32_t vp_count() const override;
  uint64_t memory_size() const override;
  bool read_guest(uint64_t gpa, void* out, uint64_t n) const override;
  bool write_guest(uint64_t gpa, const void* in, uint64_t n) override;

 private:
  hv::Partition* partition() const;
  std::function<hv::spec::HvStatus(const hv::HostDelivery&)> message_handler();
  std::function<hv::spec::HvStatus(const hv::HostDelivery&)> event_handler();
  hv::Hypervisor& hv_;
  uint32_t partition_;
  uint32_t message_port_ = 0, event_port_ = 0;
  std::unique_ptr<Server> server_;
};

}  // namespace hvsim::vmbus
