// ELF file layouts needed by the loader (System V ABI, "Object Files": ELF header, program
// headers).
#pragma once

#include <cstdint>

namespace hvsim::elf {

constexpr uint8_t kMagic[4] = {0x7F, 'E', 'L', 'F'};
enum class Class : uint8_t { kElf32 = 1, kElf64 = 2 };
constexpr uint8_t kDataLittleEndian = 1;
enum class Machine : uint16_t { k386 = 3, kX86_64 = 62 };
enum class Type : uint16_t { kExec = 2, kDyn = 3 };
constexpr uint32_t kPtLoad = 1;

#pragma pack(push, 1)
struct Ehdr32 {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version, entry, phoff, shoff, flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Phdr32 {
  uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
struct Ehdr64 {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version;
  uint64_t entry, phoff, shoff;
  uint32_t flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Phdr64 {
  uint32_t type, flags;
  uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
#pragma pack(pop)

static_assert(sizeof(Ehdr32) == 52 && sizeof(Phdr32) == 32);
static_assert(sizeof(Ehdr64) == 64 && sizeof(Phdr64) == 56);

inline const char* machine_name(uint16_t m) {
  switch (m) {
    case 3: return "i386";
    case 62: return "x86-64";
    case 40: return "ARM";
    case 183: return "AArch64";
    case 243: return "RISC-V";
    case 8: return "MIPS";
    case 20: return "PowerPC";
    case 21: return "PowerPC64";
    default: return "unknown";
  }
}

}  // namespace hvsim::elf
