// Kernel loading: ELF and Multiboot v1 images into RAM, and the entry state they need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hvsim {

class PhysicalMemory;

/// What to load.
struct KernelSpec {
  std::string path;                  ///< host path of the kernel
  std::string cmdline;               ///< the whole Multiboot command line
  std::vector<std::string> modules;  ///< host paths; each becomes one Multiboot module
};

/// How to enter the loaded kernel.
struct BootPlan {
  enum class Entry {
    kMultiboot32,  ///< 32-bit protected mode, paging off, EAX=magic, EBX=info (Multiboot 3.2)
    kLong64,       ///< 64-bit mode, identity paging of the first 4 GiB and all RAM, RDI=info
  };
  Entry entry = Entry::kMultiboot32;
  uint64_t entry_point = 0;
  uint32_t info_addr = 0;  ///< physical address of the Multiboot information structure
  uint64_t gdt_addr = 0;   ///< flat GDT written by the loader (selectors below)
  uint64_t pml4_addr = 0;  ///< kLong64 only: identity page tables
  uint64_t stack_top = 0;  ///< kLong64 only: initial RSP
  uint64_t image_end = 0;  ///< end of everything the loader wrote (page-aligned)
};

// Selectors of the loader's GDT.
constexpr uint16_t kBootCode32Selector = 0x08;
constexpr uint16_t kBootDataSelector = 0x10;
constexpr uint16_t kBootCode64Selector = 0x18;

/// Loads a kernel and its modules into `mem` and writes the Multiboot information
/// structure (memory sizes, command line, modules, memory map, loader name).
///   - a file with a Multiboot v1 header in its first 8 KiB: loaded by its ELF program
///     headers (ELF32 or ELF64) or, with the a.out-kludge flag, by the header's addresses;
///     entered as Multiboot says (kMultiboot32);
///   - an ELF64 x86-64 file without one: loaded by its program headers, entered in 64-bit
///     mode (kLong64).
/// Bad input (missing file, not ELF, wrong machine, segments outside RAM, no room for the
/// modules) throws InputError naming the file and the problem; RAM is then unspecified.
BootPlan load_kernel(PhysicalMemory& mem, const KernelSpec& spec);

}  // namespace hvsim
