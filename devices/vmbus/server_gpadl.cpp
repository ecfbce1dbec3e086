// The VMBus server's GPADL messages (shared/spec/hyperv-interfaces.md §6.4 GpadlHeader,
// GpadlBody, GpadlCreated, GpadlTeardown, GpadlTorndown): one range of PFNs per GPADL, every
// PFN inside the partition's memory and in no other GPADL.
#include <cstring>
#include <functional>

#include "devices/vmbus/server.h"

namespace hvsim::vmbus {

using spec::MessageType;

namespace {

uint32_t rd32(const uint8_t* m, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, m + off, 4);
  return v;
}
uint16_t rd16(const uint8_t* m, uint32_t off) {
  uint16_t v;
  std::memcpy(&v, m + off, 2);
  return v;
}
uint64_t rd64(const uint8_t* m, uint32_t off) {
  uint64_t v;
  std::memcpy(&v, m + off, 8);
  return v;
}
void wr32(uint8_t* m, uint32_t off, uint32_t v) {
  std::memcpy(m + off, &v, 4);
}

constexpr uint32_t kStatusFailed = 0xC0000001u;  // STATUS_UNSUCCESSFUL

}  // namespace

bool Server::pfn_ok(uint64_t pfn, uint32_t handle) const {
  (void)handle;
  uint64_t pages = t_.memory_size() / spec::kPageSize;
  // Why not a monitor page: the host writes those; a ring there would be corrupted.
  return pfn < pages && !pfn_owner_.count(pfn) && !is_monitor_pfn(pfn);
}

void Server::gpadl_created(uint32_t relid, uint32_t handle, uint32_t status) {
  namespace gc = spec::gpadl_created;
  uint8_t r[gc::kSize] = {};
  wr32(r, 0, static_cast<uint32_t>(MessageType::kGpadlCreated));
  wr32(r, gc::kChildRelid, relid);
  wr32(r, gc::kGpadl, handle);
  wr32(r, gc::kStatus, status);
  send(r, sizeof r);
}

// Takes PFNs into the GPADL, each checked; on a bad one the GPADL is dropped and the guest
// told (GpadlCreated with a failure status). Returns false then.
static bool take_pfns(Server& s, Gpadl& g, const uint8_t* m, uint32_t off, uint32_t count,
                      const std::function<bool(uint64_t)>& ok) {
  (void)s;
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t pfn = rd64(m, off + 8 * k);
    if (!ok(pfn)) return false;
    for (uint64_t q : g.pfns)
      if (q == pfn) return false;
    g.pfns.push_back(pfn);
  }
  return true;
}

void Server::finish_gpadl(Gpadl& g) {
  // Pages are claimed when the GPADL is complete: two pending GPADLs may both name a page,
  // and the second to complete loses.
  uint32_t handle = g.handle, relid = g.relid;
  for (uint64_t pfn : g.pfns)
    if (pfn_owner_.count(pfn)) {
      reject("bad GPADL page", 9);
      gpadls_.erase(handle);
      return gpadl_created(relid, handle, kStatusFailed);
    }
  for (uint64_t pfn : g.pfns) pfn_owner_[pfn] = handle;
  gpadl_created(relid, handle, 0);
}

void Server::gpadl_header(const uint8_t* m, uint32_t size) {
  namespace gh = spec::gpadl_header;
  constexpr uint32_t kType = 8;
  if (size < gh::kFixedSize + gh::kRangeHeaderSize || (size - gh::kRanges) % 8)
    return reject("bad length", kType);
  uint32_t relid = rd32(m, gh::kChildRelid), handle = rd32(m, gh::kGpadl);
  uint16_t buflen = rd16(m, gh::kRangeBuflen), ranges = rd16(m, gh::kRangeCount);
  if (handle == 0 || gpadls_.count(handle)) return reject("duplicate GPADL handle", kType);
  auto ch = channels_.find(relid);
  if (ch == channels_.end() || !ch->second.offered_to_guest ||
      ch->second.state == ChannelState::kRescinded) {
    reject("GPADL for unknown relid", kType);
    return gpadl_created(relid, handle, kStatusFailed);
  }
  if (gpadls_.size() >= params_.max_gpadls) {
    reject("too many GPADLs", kType);
    return gpadl_created(relid, handle, kStatusFailed);
  }
  // One range (what Linux and NetVSC/StorVSC send): byte_count, byte_offset, PFNs.
  uint32_t byte_count = rd32(m, gh::kRanges), byte_offset = rd32(m, gh::kRanges + 4);
  uint64_t need = (uint64_t{byte_offset} + byte_count + spec::kPageSize - 1) / spec::kPageSize;
  if (ranges != 1 || byte_count == 0 || byte_offset >= spec::kPageSize ||
      buflen != gh::kRangeHeaderSize + 8 * need || need > params_.max_gpadl_pages) {
    reject("bad GPADL range", kType);
    return gpadl_created(relid, handle, kStatusFailed);
  }
  uint32_t here = (size - gh::kRanges - gh::kRangeHeaderSize) / 8;
  if (here > need) {
    reject("bad GPADL range", kType);
    return gpadl_created(relid, handle, kStatusFailed);
  }
  Gpadl g;
  g.handle = handle;
  g.relid = relid;
  g.byte_count = byte_count;
  g.byte_offset = byte_offset;
  g.pfn_total = static_cast<uint32_t>(need);
  if (!take_pfns(*this, g, m, gh::kRanges + gh::kRangeHeaderSize, here,
                 [&](uint64_t pfn) { return pfn_ok(pfn, handle); })) {
    reject("bad GPADL page", kType);
    return gpadl_created(relid, handle, kStatusFailed);
  }
  Gpadl& stored = gpadls_[handle] = std::move(g);
  if (stored.complete()) finish_gpadl(stored);
}

void Server::gpadl_body(const uint8_t* m, uint32_t size) {
  namespace gb = spec::gpadl_body;
  constexpr uint32_t kType = 9;
  if (size < gb::kFixedSize + 8 || (size - gb::kPfns) % 8) return reject("bad length", kType);
  uint32_t handle = rd32(m, gb::kGpadl);
  auto it = gpadls_.find(handle);
  if (it == gpadls_.end() || it->second.complete()) return reject("no pending GPADL", kType);
  Gpadl& g = it->second;
  uint32_t here = (size - gb::kPfns) / 8;
  bool ok =
      here <= g.pfn_total - g.pfns.size() &&
      take_pfns(*this, g, m, gb::kPfns, here, [&](uint64_t pfn) { return pfn_ok(pfn, handle); });
  if (!ok) {
    reject(here > g.pfn_total - g.pfns.size() ? "bad GPADL range" : "bad GPADL page", kType);
    uint32_t relid = g.relid;
    gpadls_.erase(it);
    return gpadl_created(relid, handle, kStatusFailed);
  }
  if (g.complete()) finish_gpadl(g);
}

void Server::gpadl_teardown(const uint8_t* m, uint32_t size) {
  namespace gt = spec::gpadl_teardown;
  constexpr uint32_t kType = 11;
  if (size < gt::kSize) return reject("bad length", kType);
  uint32_t relid = rd32(m, gt::kChildRelid), handle = rd32(m, gt::kGpadl);
  auto it = gpadls_.find(handle);
  if (it == gpadls_.end() || it->second.relid != relid) return reject("no such GPADL", kType);
  for (const auto& [r, c] : channels_)
    if (c.state == ChannelState::kOpen && c.ring_gpadl == handle)
      return reject("GPADL in use by an open channel", kType);
  for (uint64_t pfn : it->second.pfns)
    if (auto o = pfn_owner_.find(pfn); o != pfn_owner_.end() && o->second == handle)
      pfn_owner_.erase(o);
  gpadls_.erase(it);
  uint8_t r[spec::gpadl_torndown::kSize] = {};
  wr32(r, 0, static_cast<uint32_t>(MessageType::kGpadlTorndown));
  wr32(r, spec::gpadl_torndown::kGpadl, handle);
  send(r, sizeof r);
}

}  // namespace hvsim::vmbus
