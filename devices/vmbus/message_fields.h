// A channel message decoded into named fields for the trace and `hvsim timeline`
// (shared/spec/hyperv-interfaces.md §6.2-6.4; docs/vmbus.md "Observability"): the relid,
// GPADL handle, version, status and so on of each message type, as far as the message is
// long enough to hold them. Pure: reads only the bytes it is given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hvsim::vmbus {

struct MessageField {
  const char* key;  ///< a string literal
  uint64_t number = 0;
  std::string text;  ///< the value when not empty (a version, a GUID, a hex word)
};

/// The fields of message `m` (`size` bytes, header included) after its type: e.g.
/// InitiateContact -> requested="5.3", target_vcpu, msg_sint, monitor pages; OfferChannel ->
/// relid, device ("heartbeat" or the interface GUID), instance, connection_id, ... A field
/// the message is too short to hold is left out; an unknown type has none.
std::vector<MessageField> message_fields(const uint8_t* m, uint32_t size);

/// "major.minor" of a VMBus version word ("5.3", "0.13").
std::string version_string(uint32_t version);

}  // namespace hvsim::vmbus
