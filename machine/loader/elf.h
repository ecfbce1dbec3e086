// ELF32/ELF64 executable parsing for the kernel loader (System V ABI, "Program Loading").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hvsim {

/// One PT_LOAD segment: file bytes [offset, offset+filesz) go to physical address paddr,
/// followed by memsz-filesz zero bytes.
struct ElfSegment {
  uint64_t paddr, filesz, memsz, offset;
};

/// What the loader needs of an ELF executable.
struct ElfImage {
  bool elf64 = false;
  uint16_t machine = 0;
  uint64_t entry = 0;
  std::vector<ElfSegment> segments;
};

/// True if `file` starts with the ELF magic.
bool is_elf(const std::vector<uint8_t>& file);

/// Parses an x86 ELF executable. ELF32 must be i386 or x86-64 code (an ELF32 container
/// for 64-bit code, as Multiboot kernels ship); ELF64 must be x86-64. Every header and
/// segment is bounds-checked against the file; errors throw InputError naming `path`.
ElfImage parse_elf(const std::vector<uint8_t>& file, const std::string& path);

/// Reads a whole host file; `what` ("kernel", "module") names it in errors.
std::vector<uint8_t> read_host_file(const std::string& path, const char* what);

}  // namespace hvsim
