// The VMBus server of the root partition's stack, one per child partition
// (shared/spec/hyperv-interfaces.md §6.1-6.6, §6.8; docs/vmbus.md): version negotiation,
// offers, GPADLs, channel open/close, rescind and unload, over a Transport (the
// hypervisor's host ports and host post API). Every guest message is checked; a malformed
// one is rejected (counted by reason, traced) and never reaches memory: the server reaches
// child memory only through GPADL views of pages the child shared and at the two monitor
// pages the child named (server_monitor.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/time.h"
#include "devices/vmbus/gpadl.h"
#include "devices/vmbus/spec/vmbus.h"
#include "devices/vmbus/transport.h"

namespace hvsim {
class InspectNode;
class StateReader;
class StateWriter;
class Tracer;
}  // namespace hvsim

namespace hvsim::vmbus {

/// What the host offers: a device (interface type GUID) with its instance GUID.
struct OfferParams {
  spec::Guid interface_type{};
  spec::Guid instance{};
  uint16_t flags = 0;  ///< OfferChannel channel flags (§6.4)
  std::string name;    ///< for the inspect tree and the trace ("heartbeat", ...)
  /// Offer the channel "monitored" (§6.6, server_monitor.cpp): it gets a monitor id and the
  /// guest signals it through the monitor page, which the host polls. Falls back to a plain
  /// (hypercall-signaled) offer when the guest gave no monitor pages or 128 ids are in use.
  bool monitored = false;
};

struct ServerParams {
  /// Versions the server accepts (dossier recommendation: up to 5.3; tests may restrict).
  /// Why not WS2008 and Win7 by default: their channel interrupts go through the guest's
  /// interrupt page (§6.6), which is not built; Linux tries them only after Win8 failed.
  std::vector<uint32_t> versions = {spec::kVersionWin8,      spec::kVersionWin8_1,
                                    spec::kVersionWin10,     spec::kVersionWin10V4_1,
                                    spec::kVersionWin10V5,   spec::kVersionWin10V5_1,
                                    spec::kVersionWin10V5_2, spec::kVersionWin10V5_3};
  uint32_t max_gpadls = 256;        ///< GPADLs (pending or complete) at one time
  uint32_t max_gpadl_pages = 8192;  ///< PFNs in one GPADL
  uint32_t max_queued = 64;         ///< replies waiting for a free message buffer
  /// How often the owner polls the child->parent monitor page while a monitored channel is
  /// open (simulated time); also written, in 100 ns units, into the pages' latency[][].
  SimTime monitor_latency = 50 * kPicosPerMicro;
};

class Server {
 public:
  enum class ChannelState : uint8_t { kOffered, kOpen, kRescinded };
  struct Channel {
    uint32_t relid = 0;
    OfferParams offer;
    uint32_t connection_id = 0;  ///< the guest's HvSignalEvent connection
    ChannelState state = ChannelState::kOffered;
    bool offered_to_guest = false;  ///< OfferChannel sent in this connection
    // While open (OpenChannel): the ring GPADL and its two halves.
    uint32_t open_id = 0, ring_gpadl = 0, target_vp = 0, downstream_offset = 0;
    std::unique_ptr<GpadlView> outbound;  ///< guest -> host ring (pages [0, offset))
    std::unique_ptr<GpadlView> inbound;   ///< host -> guest ring (pages [offset, end))
    uint64_t opens = 0, closes = 0, guest_signals = 0, host_signals = 0;
    /// The host end's counters over the channel's life (all opens): the VSP's RingReader of
    /// the outbound ring and RingWriter of the inbound ring count here (host_ring_stats).
    RingStats host_reader, host_writer;
    /// Monitor id (0..127) reserved for a monitored offer; kNoMonitor if none.
    uint8_t monitor_id = spec::offer_channel::kNoMonitor;
    bool monitored = false;        ///< offered with monitor_allocated = 1 in this connection
    uint64_t monitor_signals = 0;  ///< signals seen in the monitor page (not hypercalls)
  };

  /// `name` names the server's trace track ("vmbus:<name>"); `tracer` and `now` may be
  /// null/empty (no trace).
  Server(Transport& t, const ServerParams& p, std::string name, Tracer* tracer = nullptr,
         std::function<SimTime()> now = {});
  ~Server();

  /// A channel message from the guest (the payload of an HV_MESSAGE posted on connection
  /// 1 or 4 by VP `vp`); the hypercall's answer is always success once it was delivered.
  void on_message(uint32_t connection_id, uint32_t vp, const uint8_t* msg, uint32_t size);
  /// An HvSignalEvent of the guest on connection `connection_id` (a channel's).
  void on_event(uint32_t connection_id);

  // ---- host side ----
  /// Adds a channel; returns its relid (the lowest free, 1..2047). Offered at once if the
  /// guest has asked for offers. Throws InputError when 2047 channels exist.
  uint32_t add_offer(const OfferParams& o);
  /// Rescinds a channel (RescindChannelOffer if the guest knows it; it goes when the guest
  /// answers RelIdReleased). Throws InputError for an unknown relid.
  void rescind(uint32_t relid);
  /// Host -> guest channel interrupt: bit relid in the SINT2 flags of its target VP.
  bool signal_guest(uint32_t relid);
  /// Called on each guest signal of an open channel (a VSP's doorbell).
  void set_signal_handler(uint32_t relid, std::function<void()> fn);
  /// Called with true once a channel is open (after OpenChannelResult went out; its ring
  /// views exist) and with false when it closes (before the views go): a VSP's attach/detach.
  void set_open_handler(uint32_t relid, std::function<void(bool)> fn);
  /// Sends replies that waited for a message buffer (also tried on every guest message).
  void flush();
  /// Called when a reply starts waiting (the queue was empty): the owner schedules flush()
  /// calls in simulated time until queued() is 0 (Machine: every 10 us, at most 1000 times,
  /// then drop_queued()).
  void set_queued_hook(std::function<void()> fn) { on_queued_ = std::move(fn); }
  size_t queued() const { return queue_.size(); }
  /// Gives up on the waiting replies (counted as dropped).
  void drop_queued();

  const ServerParams& params() const { return params_; }
  bool connected() const { return version_ != 0; }
  uint32_t version() const { return version_; }
  const std::map<uint32_t, Channel>& channels() const { return channels_; }
  const std::map<uint32_t, Gpadl>& gpadls() const { return gpadls_; }
  uint64_t rejected() const { return rejected_total_; }
  uint64_t rejected(const std::string& reason) const;
  /// Nothing beyond the pristine state: not connected, no GPADL, no channel (checkpoints).
  bool pristine() const { return !connected() && gpadls_.empty() && channels_.empty(); }
  void inspect(InspectNode& n) const;
  /// Where a VSP's RingReader (outbound ring, `writer` false) or RingWriter (inbound ring,
  /// `writer` true) of channel `relid` counts, for the inspect tree (channel_stats.cpp);
  /// null for an unknown relid. Valid until the channel goes (after its close handler ran).
  RingStats* host_ring_stats(uint32_t relid, bool writer);

  // ---- monitor pages (server_monitor.cpp, §6.6) ----
  /// The GPAs InitiateContact named (0: none): [0] parent->child, [1] child->parent.
  uint64_t monitor_page(unsigned k) const { return monitor_gpa_[k & 1]; }
  /// Connected with monitor pages and at least one monitored channel open: polls matter.
  bool monitor_active() const;
  /// A pending bit is set in the child->parent page (any id; read now from guest memory).
  bool monitor_pending() const;
  /// One poll of the child->parent page: each pending bit is cleared; the bit of an open
  /// monitored channel is that channel's signal, any other is counted and dropped.
  void poll_monitor();
  SimTime monitor_latency() const { return params_.monitor_latency; }
  /// Called when a monitored channel opens: the owner starts polling (Machine).
  void set_monitor_hook(std::function<void()> fn) { on_monitor_ = std::move(fn); }
  uint64_t monitor_polls() const { return monitor_polls_; }
  uint64_t monitor_signals() const { return monitor_signals_; }
  /// The 6.0 feature flags granted at InitiateContact (0 before 6.0).
  uint32_t features() const { return features_; }
  /// Checkpoints (server_checkpoint.cpp, docs/vmbus.md "Checkpoints"): everything but the
  /// handlers and the transport's event connections (their owners restore those). restore()
  /// needs a new server made with the saved parameters; it checks every value and throws
  /// InputError naming `section` and the field.
  void save(StateWriter& w, const std::string& section) const;
  void restore(StateReader& r, const std::string& section);
  /// True if a signal or open handler is set for `relid` (a VSP is bound to it).
  bool has_handlers(uint32_t relid) const;

 private:
  void reject(const char* reason, uint32_t type);
  void send(const uint8_t* msg, uint32_t size);
  void trace(const char* dir, const uint8_t* msg, uint32_t size);
  void send_offer(Channel& c);
  void reset();
  void close_channel(Channel& c);
  bool pfn_ok(uint64_t pfn, uint32_t handle) const;
  void finish_gpadl(Gpadl& g);
  void gpadl_created(uint32_t relid, uint32_t handle, uint32_t status);

  void initiate_contact(uint32_t connection_id, const uint8_t* m, uint32_t size);
  void request_offers(uint32_t size);
  void gpadl_header(const uint8_t* m, uint32_t size);
  void gpadl_body(const uint8_t* m, uint32_t size);
  void gpadl_teardown(const uint8_t* m, uint32_t size);
  void open_channel(const uint8_t* m, uint32_t size);
  void close_channel_msg(const uint8_t* m, uint32_t size);
  void relid_released(const uint8_t* m, uint32_t size);
  void modify_channel(const uint8_t* m, uint32_t size);
  void unload(uint32_t size);

  Transport& t_;
  ServerParams params_;
  std::string name_, track_;
  Tracer* tracer_;
  std::function<SimTime()> now_;
  uint32_t version_ = 0;  ///< negotiated version; 0: not connected
  uint32_t target_vcpu_ = 0;
  unsigned msg_sint_ = spec::kMessageSint;
  bool offers_requested_ = false;
  std::map<uint32_t, Channel> channels_;
  std::map<uint32_t, std::function<void()>> signal_handlers_;
  std::map<uint32_t, std::function<void(bool)>> open_handlers_;
  std::map<uint32_t, Gpadl> gpadls_;
  std::map<uint64_t, uint32_t> pfn_owner_;   ///< PFN -> GPADL handle (no page in two GPADLs)
  std::vector<std::vector<uint8_t>> queue_;  ///< replies waiting for a buffer, in order
  std::function<void()> on_queued_;
  uint64_t received_ = 0, sent_ = 0, dropped_replies_ = 0, guest_events_ = 0;
  uint64_t unknown_events_ = 0, contacts_ = 0, unloads_ = 0;
  uint64_t received_by_type_[static_cast<unsigned>(spec::MessageType::kCount)] = {};
  uint64_t rejected_total_ = 0;
  std::map<std::string, uint64_t> rejected_;  ///< reason -> count (ordered)

  // ---- monitor pages and 6.0 (server_monitor.cpp, server_version.cpp) ----
  bool take_monitor_pages(const uint8_t* m);
  bool is_monitor_pfn(uint64_t pfn) const;
  uint8_t free_monitor_id() const;
  bool offer_monitored(Channel& c);
  void signal_monitored(Channel& c);
  uint32_t version_response(uint8_t* r, uint32_t version, const uint8_t* m, uint32_t size);
  void inspect_monitor(InspectNode& n) const;
  uint64_t monitor_gpa_[2] = {};
  uint32_t features_ = 0;
  std::function<void()> on_monitor_;
  uint64_t monitor_polls_ = 0, monitor_signals_ = 0;
};

const char* to_string(Server::ChannelState s);
/// Per-channel ring stats (channel_stats.cpp) into the channel's inspect node `n`: for each
/// ring of an open channel ("outbound" guest->host, "inbound" host->guest) its control page
/// as the guest left it (read through the GPADL view, never written; a bad index is shown,
/// not thrown), plus the host end's counters.
void inspect_channel_rings(const Server::Channel& c, InspectNode& n);
/// One ring's control page and occupancy into `n` (no side effect on the ring).
void inspect_ring(RingMemory& ring, InspectNode& n);
/// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" of a wire-encoded GUID.
std::string guid_string(const spec::Guid& g);
/// The wire encoding of a textual GUID; throws InputError if malformed.
spec::Guid parse_guid(const std::string& s);

}  // namespace hvsim::vmbus
