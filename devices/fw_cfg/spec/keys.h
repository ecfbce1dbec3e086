// Firmware-configuration interface keys (QEMU fw_cfg legacy I/O interface; platform.md).
#pragma once

#include <cstdint>

namespace hvsim::fw_cfg {

constexpr uint16_t kSelectorPort = 0x510;  ///< 16-bit write: select an item, offset 0
constexpr uint16_t kDataPort = 0x511;      ///< byte reads: the item, little-endian

enum class Key : uint16_t {
  kSignature = 0x00,  ///< "QEMU"
  kId = 0x01,         ///< interface revision, u32 (bit 0: traditional interface)
  kRamSize = 0x03,    ///< u64 bytes
  kNbCpus = 0x05,     ///< u16 processors present; kernels wait for this many to come online
  kMaxCpus = 0x0F,    ///< u16
  kMaxRam = 0x11,     ///< u64 RAM limit, 0 = none
};

inline const char* to_string(Key k) {
  switch (k) {
    case Key::kSignature: return "signature";
    case Key::kId: return "id";
    case Key::kRamSize: return "ram_size";
    case Key::kNbCpus: return "nb_cpus";
    case Key::kMaxCpus: return "max_cpus";
    case Key::kMaxRam: return "max_ram";
  }
  return "unknown";
}

}  // namespace hvsim::fw_cfg
