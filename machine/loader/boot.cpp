// Kernel loading (Multiboot Specification 0.6.96, 3.1-3.3; System V ABI program loading).
#include "machine/loader/boot.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/phys_mem.h"
#include "machine/loader/elf.h"
#include "machine/loader/spec/multiboot.h"

namespace hvsim {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t k4G = uint64_t{1} << 32;
constexpr const char* kLoaderName = "hvsim";

uint64_t page_up(uint64_t v) {
  return (v + kPage - 1) & ~(kPage - 1);
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Writes zeroes over [pa, pa+len), skipping pages never written (they are zero already),
/// so a large BSS costs no host memory.
void zero_range(PhysicalMemory& mem, uint64_t pa, uint64_t len) {
  while (len) {
    uint64_t chunk = std::min(len, kPage - (pa & (kPage - 1)));
    if (mem.touched(pa >> PhysicalMemory::kPageShift))
      std::memset(mem.write_ptr(pa, chunk), 0, chunk);
    pa += chunk;
    len -= chunk;
  }
}

void check_in_ram(const PhysicalMemory& mem, uint64_t pa, uint64_t len, const std::string& what) {
  if (len && (!mem.contains(pa, len) || pa + len > k4G))
    throw InputError(what + " [" + hex(pa) + ", " + hex(pa + len) + ") lies outside RAM [0, " +
                     hex(std::min(mem.size(), k4G)) + ")");
}

/// Finds a valid Multiboot header (magic, checksum) 4-aligned in the first 8 KiB.
bool find_header(const std::vector<uint8_t>& file, multiboot::Header* out, uint64_t* offset) {
  uint64_t limit = std::min<uint64_t>(file.size(), multiboot::kSearchBytes);
  for (uint64_t off = 0; off + 12 <= limit; off += 4) {
    uint32_t w[3];
    std::memcpy(w, file.data() + off, 12);
    if (w[0] != multiboot::kHeaderMagic || w[0] + w[1] + w[2] != 0) continue;
    *out = {};
    std::memcpy(out, file.data() + off, std::min<uint64_t>(sizeof *out, file.size() - off));
    *offset = off;
    return true;
  }
  return false;
}

/// Sequential allocator for the boot-information area.
struct Area {
  PhysicalMemory& mem;
  uint64_t next;
  uint64_t put(const void* data, uint64_t len, uint64_t align = 8) {
    next = (next + align - 1) & ~(align - 1);
    check_in_ram(mem, next, len, "boot information");
    mem.write(next, data, len);
    uint64_t at = next;
    next += len;
    return at;
  }
  uint64_t put_str(const std::string& s) { return put(s.c_str(), s.size() + 1, 1); }
};

void write_gdt(Area& a, BootPlan& plan) {
  // null, 32-bit flat code, flat data, 64-bit code (SDM 3.4.5 descriptor layout)
  const uint64_t gdt[4] = {0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull, 0x00AF9B000000FFFFull};
  plan.gdt_addr = a.put(gdt, sizeof gdt, 16);
}

void write_identity_tables(Area& a, BootPlan& plan) {
  // 2 MiB pages covering max(4 GiB, RAM): one PML4, one PDPT, one PD per GiB.
  uint64_t gigs = std::max<uint64_t>(4, (a.mem.size() + (1ull << 30) - 1) >> 30);
  if (gigs > 512) throw InputError("RAM larger than 512 GiB is not supported for ELF64 entry");
  a.next = page_up(a.next);
  uint64_t pml4 = a.next, pdpt = pml4 + kPage, pd = pdpt + kPage;
  check_in_ram(a.mem, pml4, (2 + gigs) * kPage, "boot page tables");
  a.mem.store<uint64_t>(pml4, pdpt | 0x3);
  for (uint64_t g = 0; g < gigs; ++g) {
    a.mem.store<uint64_t>(pdpt + 8 * g, (pd + g * kPage) | 0x3);
    for (uint64_t i = 0; i < 512; ++i)
      a.mem.store<uint64_t>(pd + g * kPage + 8 * i, ((g << 30) | (i << 21)) | 0x83);
  }
  a.next = pd + gigs * kPage;
  plan.pml4_addr = pml4;
  a.next += 16 * 1024;  // boot stack
  check_in_ram(a.mem, a.next - 16 * 1024, 16 * 1024, "boot stack");
  plan.stack_top = a.next;
}

}  // namespace

BootPlan load_kernel(PhysicalMemory& mem, const KernelSpec& spec) {
  std::vector<uint8_t> file = read_host_file(spec.path, "kernel");
  multiboot::Header mbh;
  uint64_t mbh_offset = 0;
  bool has_mb = find_header(file, &mbh, &mbh_offset);
  BootPlan plan;
  uint64_t end = 0;

  if (has_mb && (mbh.flags & multiboot::kHeaderAoutKludge)) {
    // Address fields: the file from header_addr's offset is loaded at load_addr.
    if (mbh.load_addr > mbh.header_addr)
      throw InputError(spec.path + ": Multiboot header load_addr is above header_addr");
    uint64_t file_start = mbh_offset - (mbh.header_addr - mbh.load_addr);
    if (mbh.header_addr - mbh.load_addr > mbh_offset)
      throw InputError(spec.path + ": Multiboot header addresses point before the file start");
    uint64_t load_end =
        mbh.load_end_addr ? mbh.load_end_addr : mbh.load_addr + (file.size() - file_start);
    if (load_end < mbh.load_addr || load_end - mbh.load_addr > file.size() - file_start)
      throw InputError(spec.path + ": Multiboot load_end_addr lies beyond the end of the file");
    uint64_t bss_end = std::max<uint64_t>(mbh.bss_end_addr, load_end);
    check_in_ram(mem, mbh.load_addr, bss_end - mbh.load_addr, spec.path + ": kernel image");
    mem.write(mbh.load_addr, file.data() + file_start, load_end - mbh.load_addr);
    zero_range(mem, load_end, bss_end - load_end);
    plan.entry = BootPlan::Entry::kMultiboot32;
    plan.entry_point = mbh.entry_addr;
    end = bss_end;
  } else {
    ElfImage img = parse_elf(file, spec.path);
    if (!has_mb && !img.elf64)
      throw InputError(spec.path + ": ELF32 file without a Multiboot header in its first 8 KiB");
    for (size_t i = 0; i < img.segments.size(); ++i) {
      const ElfSegment& s = img.segments[i];
      check_in_ram(mem, s.paddr, s.memsz, spec.path + ": segment " + std::to_string(i));
      mem.write(s.paddr, file.data() + s.offset, s.filesz);
      zero_range(mem, s.paddr + s.filesz, s.memsz - s.filesz);
      end = std::max(end, s.paddr + s.memsz);
    }
    plan.entry = has_mb ? BootPlan::Entry::kMultiboot32 : BootPlan::Entry::kLong64;
    plan.entry_point = img.entry;
    if (has_mb && img.entry >= k4G)
      throw InputError(spec.path + ": Multiboot entry point " + hex(img.entry) + " is above 4 GiB");
  }

  // Modules, page-aligned after the kernel.
  Area area{mem, page_up(end)};
  std::vector<multiboot::Module> mods;
  for (const std::string& path : spec.modules) {
    std::vector<uint8_t> data = read_host_file(path, "module");
    uint64_t at = page_up(area.next);
    check_in_ram(mem, at, std::max<uint64_t>(data.size(), 1), "module '" + path + "'");
    mem.write(at, data.data(), data.size());
    mods.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(at + data.size()), 0, 0});
    area.next = at + data.size();
  }
  area.next = page_up(area.next);

  // Strings, memory map and the information structure.
  for (size_t i = 0; i < mods.size(); ++i)
    mods[i].string = static_cast<uint32_t>(area.put_str(base_name(spec.modules[i])));
  multiboot::Info info{};
  info.flags = multiboot::kInfoMemory | multiboot::kInfoCmdline | multiboot::kInfoMods |
               multiboot::kInfoMemMap | multiboot::kInfoBootLoaderName;
  info.mem_lower = 639;
  uint64_t upper_kib =
      mem.size() > (1u << 20) ? (std::min(mem.size(), k4G) - (1u << 20)) / 1024 : 0;
  info.mem_upper = static_cast<uint32_t>(upper_kib);
  info.cmdline = static_cast<uint32_t>(area.put_str(spec.cmdline));
  info.boot_loader_name = static_cast<uint32_t>(area.put_str(kLoaderName));
  info.mods_count = static_cast<uint32_t>(mods.size());
  info.mods_addr =
      mods.empty() ? 0
                   : static_cast<uint32_t>(area.put(mods.data(), mods.size() * sizeof(mods[0])));
  std::vector<multiboot::MmapEntry> mmap = {
      {20, 0, 0x9FC00, multiboot::kMemoryAvailable},
      {20, 0x9FC00, 0x400, multiboot::kMemoryReserved},
      {20, 0xF0000, 0x10000, multiboot::kMemoryReserved},
  };
  if (mem.size() > (1u << 20))
    mmap.push_back({20, 1u << 20, mem.size() - (1u << 20), multiboot::kMemoryAvailable});
  info.mmap_addr = static_cast<uint32_t>(area.put(mmap.data(), mmap.size() * sizeof(mmap[0])));
  info.mmap_length = static_cast<uint32_t>(mmap.size() * sizeof(mmap[0]));
  plan.info_addr = static_cast<uint32_t>(area.put(&info, sizeof info, 16));
  write_gdt(area, plan);
  if (plan.entry == BootPlan::Entry::kLong64) write_identity_tables(area, plan);
  plan.image_end = page_up(area.next);
  return plan;
}

}  // namespace hvsim
