// GPADL views (shared/spec/hyperv-interfaces.md §6.7): byte offsets to the GPADL's pages.
#include "devices/vmbus/gpadl.h"

#include <algorithm>

namespace hvsim::vmbus {

GpadlView::GpadlView(Transport& t, const Gpadl& g, uint32_t first_page, uint32_t pages) : t_(t) {
  for (uint32_t k = first_page; k < first_page + pages && k < g.pfns.size(); ++k)
    pfns_.push_back(g.pfns[k]);
}

bool GpadlView::read(uint64_t off, void* out, size_t n) {
  if (!fits(off, n)) return false;
  auto* o = static_cast<uint8_t*>(out);
  while (n) {
    uint64_t in_page = off % 4096, chunk = std::min<uint64_t>(n, 4096 - in_page);
    if (!t_.read_guest(pfns_[off / 4096] * 4096 + in_page, o, chunk)) return false;
    o += chunk;
    off += chunk;
    n -= chunk;
  }
  return true;
}

bool GpadlView::write(uint64_t off, const void* in, size_t n) {
  if (!fits(off, n)) return false;
  const auto* i = static_cast<const uint8_t*>(in);
  while (n) {
    uint64_t in_page = off % 4096, chunk = std::min<uint64_t>(n, 4096 - in_page);
    if (!t_.write_guest(pfns_[off / 4096] * 4096 + in_page, i, chunk)) return false;
    i += chunk;
    off += chunk;
    n -= chunk;
  }
  return true;
}

}  // namespace hvsim::vmbus
