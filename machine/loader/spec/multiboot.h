// Multiboot v1 layouts (Multiboot Specification 0.6.96, sections 3.1 and 3.3).
#pragma once

#include <cstdint>

namespace hvsim::multiboot {

constexpr uint32_t kHeaderMagic = 0x1BADB002;
constexpr uint32_t kBootloaderMagic = 0x2BADB002;  ///< EAX at kernel entry
constexpr uint32_t kSearchBytes = 8192;            ///< header within the first 8 KiB, 4-aligned

// Header flags (3.1.2)
constexpr uint32_t kHeaderPageAlign = 1u << 0;
constexpr uint32_t kHeaderMemoryInfo = 1u << 1;
constexpr uint32_t kHeaderVideoMode = 1u << 2;
constexpr uint32_t kHeaderAoutKludge = 1u << 16;  ///< address fields valid

#pragma pack(push, 1)
struct Header {
  uint32_t magic, flags, checksum;
  // valid if kHeaderAoutKludge
  uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

// Information structure flags (3.3)
enum InfoFlag : uint32_t {
  kInfoMemory = 1u << 0,
  kInfoBootDevice = 1u << 1,
  kInfoCmdline = 1u << 2,
  kInfoMods = 1u << 3,
  kInfoMemMap = 1u << 6,
  kInfoBootLoaderName = 1u << 9,
};

struct Info {
  uint32_t flags;
  uint32_t mem_lower, mem_upper;  ///< KiB below 1 MiB, KiB above 1 MiB (up to first hole)
  uint32_t boot_device;
  uint32_t cmdline;
  uint32_t mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
  uint32_t drives_length, drives_addr;
  uint32_t config_table;
  uint32_t boot_loader_name;
  uint32_t apm_table;
  uint32_t vbe_control_info, vbe_mode_info;
  uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
};
static_assert(sizeof(Info) == 88);

struct Module {
  uint32_t mod_start, mod_end, string, reserved;
};

/// One memory-map entry; `size` counts the bytes after itself (20).
struct MmapEntry {
  uint32_t size;
  uint64_t base_addr, length;
  uint32_t type;
};
static_assert(sizeof(MmapEntry) == 24);
#pragma pack(pop)

constexpr uint32_t kMemoryAvailable = 1;
constexpr uint32_t kMemoryReserved = 2;

}  // namespace hvsim::multiboot
