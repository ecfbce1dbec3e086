// ring_bench: packets per second through a VMBus ring (../shared/spec/hyperv-interfaces.md
// §6.7), host time, host writer -> host reader in one process (devices/vmbus/ring.h) over a
// ring of 16 data pages in a byte vector. The writer fills the ring (in-band packets with a
// completion request), publishes, the reader drains it, publishes; repeated.
// Usage: ring_bench [--quick] [--json]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "devices/vmbus/ring.h"

namespace {

using namespace hvsim::vmbus;

class VectorMemory : public RingMemory {
 public:
  explicit VectorMemory(uint64_t size) : bytes_(size, 0) {}
  uint64_t size() const override { return bytes_.size(); }
  bool read(uint64_t off, void* out, size_t n) override {
    if (off > bytes_.size() || n > bytes_.size() - off) return false;
    std::memcpy(out, bytes_.data() + off, n);
    return true;
  }
  bool write(uint64_t off, const void* in, size_t n) override {
    if (off > bytes_.size() || n > bytes_.size() - off) return false;
    std::memcpy(bytes_.data() + off, in, n);
    return true;
  }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, json = false;
  for (int k = 1; k < argc; ++k) {
    if (!std::strcmp(argv[k], "--quick")) quick = true;
    if (!std::strcmp(argv[k], "--json")) json = true;
  }
  constexpr uint64_t kRingBytes = 17 * 4096;  // control page + 64 KiB of data
  if (json) std::printf("[");
  bool first = true;
  for (size_t payload_size : {32u, 256u, 1024u, 4000u}) {
    const uint64_t target = quick ? 200000 : 3000000;
    VectorMemory mem(kRingBytes);
    RingWriter writer(mem);
    RingReader reader(mem);
    if (writer.attach() != RingError::kOk || reader.attach() != RingError::kOk) {
      std::fprintf(stderr, "ring_bench: attach failed\n");
      return 2;
    }
    std::vector<uint8_t> payload(payload_size, 0x5A);
    Packet pkt;
    uint64_t written = 0, read = 0, signals = 0, checksum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (read < target) {
      RingError e;
      while ((e = writer.write_inband(payload, written, true)) == RingError::kOk) ++written;
      if (e != RingError::kFull) {
        std::fprintf(stderr, "ring_bench: write: %s\n", to_string(e));
        return 2;
      }
      signals += writer.commit_write().signal;
      while ((e = reader.read(pkt)) == RingError::kOk) {
        checksum += pkt.transaction_id + pkt.payload()[0];
        ++read;
      }
      if (e != RingError::kEmpty) {
        std::fprintf(stderr, "ring_bench: read: %s\n", to_string(e));
        return 2;
      }
      signals += reader.commit_read().signal;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t wire = RingWriter::packet_size(0, payload_size);
    const double pps = read / secs;
    if (json) {
      std::printf(
          "%s{\"workload\": \"vmbus-ring-%zuB\", \"payload_bytes\": %zu, "
          "\"wire_bytes\": %llu, \"packets\": %llu, \"host_seconds\": %.4f, "
          "\"packets_per_s\": %.0f, \"gb_per_s\": %.3f, \"signals\": %llu, "
          "\"checksum\": %llu}",
          first ? "" : ", ", payload_size, payload_size, static_cast<unsigned long long>(wire),
          static_cast<unsigned long long>(read), secs, pps, pps * payload_size / 1e9,
          static_cast<unsigned long long>(signals), static_cast<unsigned long long>(checksum));
    } else {
      std::printf(
          "payload %5zu B (%5llu on the wire): %9llu packets %.3f s  %6.2f M packets/s"
          "  %6.2f GB/s\n",
          payload_size, static_cast<unsigned long long>(wire),
          static_cast<unsigned long long>(read), secs, pps / 1e6, pps * payload_size / 1e9);
    }
    first = false;
  }
  if (json) std::printf("]\n");
  return 0;
}
