#include "machine/loader/boot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/phys_mem.h"
#include "machine/loader/spec/elf.h"
#include "machine/loader/spec/multiboot.h"

namespace hvsim {
namespace {

struct Seg {
  uint32_t paddr;
  std::vector<uint8_t> data;
  uint32_t memsz;
};

/// Builds an ELF32 executable whose first segment starts with a Multiboot header.
std::vector<uint8_t> make_elf32(uint16_t machine, uint32_t entry, std::vector<Seg> segs,
                                bool multiboot = true) {
  if (multiboot) {
    uint32_t h[3] = {multiboot::kHeaderMagic, 3,
                     static_cast<uint32_t>(-(multiboot::kHeaderMagic + 3))};
    segs[0].data.insert(segs[0].data.begin(), reinterpret_cast<uint8_t*>(h),
                        reinterpret_cast<uint8_t*>(h) + sizeof h);
  }
  std::vector<uint8_t> f(sizeof(elf::Ehdr32) + segs.size() * sizeof(elf::Phdr32));
  elf::Ehdr32 eh{};
  std::memcpy(eh.ident, elf::kMagic, 4);
  eh.ident[4] = 1;
  eh.ident[5] = 1;
  eh.ident[6] = 1;
  eh.type = 2;
  eh.machine = machine;
  eh.version = 1;
  eh.entry = entry;
  eh.phoff = sizeof eh;
  eh.ehsize = sizeof eh;
  eh.phentsize = sizeof(elf::Phdr32);
  eh.phnum = static_cast<uint16_t>(segs.size());
  std::memcpy(f.data(), &eh, sizeof eh);
  for (size_t i = 0; i < segs.size(); ++i) {
    elf::Phdr32 ph{};
    ph.type = elf::kPtLoad;
    ph.offset = static_cast<uint32_t>(f.size());
    ph.paddr = ph.vaddr = segs[i].paddr;
    ph.filesz = static_cast<uint32_t>(segs[i].data.size());
    ph.memsz = std::max<uint32_t>(segs[i].memsz, ph.filesz);
    std::memcpy(f.data() + sizeof eh + i * sizeof ph, &ph, sizeof ph);
    f.insert(f.end(), segs[i].data.begin(), segs[i].data.end());
  }
  return f;
}

class BootTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::vector<uint8_t>& data) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(data.data()), data.size());
    return path;
  }
  void SetUp() override {
    char tmpl[] = "/tmp/hvsim_boot_test_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string error_of(PhysicalMemory& mem, const KernelSpec& spec) {
    try {
      load_kernel(mem, spec);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  std::string dir_;
};

TEST_F(BootTest, MultibootInfoStructure) {
  PhysicalMemory mem(64 << 20);
  std::string k = write("k.elf", make_elf32(3, 0x100000, {{0x100000, {0x90, 0xF4}, 0x3000}}));
  std::string mod = write("env", {'A', '=', '1', '\n'});
  BootPlan plan = load_kernel(mem, {k, "k.elf hello world", {mod}});
  EXPECT_EQ(plan.entry, BootPlan::Entry::kMultiboot32);
  EXPECT_EQ(plan.entry_point, 0x100000u);
  auto info = mem.load<multiboot::Info>(plan.info_addr);
  EXPECT_EQ(info.flags & 0x4D, 0x4Du);  // memory, cmdline, mods, mmap
  EXPECT_EQ(info.mem_lower, 639u);
  EXPECT_EQ(info.mem_upper, (64u << 10) - 1024u);
  std::string cmdline(reinterpret_cast<const char*>(mem.read_ptr(info.cmdline)));
  EXPECT_EQ(cmdline, "k.elf hello world");
  ASSERT_EQ(info.mods_count, 1u);
  auto m = mem.load<multiboot::Module>(info.mods_addr);
  EXPECT_EQ(m.mod_end - m.mod_start, 4u);
  EXPECT_EQ(m.mod_start % 4096, 0u);
  EXPECT_GE(m.mod_start, 0x103000u);  // after the kernel's BSS
  EXPECT_EQ(std::memcmp(mem.read_ptr(m.mod_start), "A=1\n", 4), 0);
  // memory map: last entry covers [1 MiB, end of RAM) as available
  ASSERT_GT(info.mmap_length, 0u);
  auto last = mem.load<multiboot::MmapEntry>(info.mmap_addr + info.mmap_length -
                                             sizeof(multiboot::MmapEntry));
  EXPECT_EQ(last.base_addr, 1u << 20);
  EXPECT_EQ(last.base_addr + last.length, uint64_t{64} << 20);
  EXPECT_EQ(last.type, multiboot::kMemoryAvailable);
  // code landed, BSS is zero
  EXPECT_EQ(mem.load<uint8_t>(0x10000C), 0x90);
  EXPECT_EQ(mem.load<uint8_t>(0x102000), 0);
}

TEST_F(BootTest, BadInputsAreNamed) {
  PhysicalMemory mem(16 << 20);
  EXPECT_NE(error_of(mem, {dir_ + "/missing", "", {}}).find("does not exist"), std::string::npos);
  std::string txt = write("notelf", {'h', 'e', 'l', 'l', 'o'});
  EXPECT_NE(error_of(mem, {txt, "", {}}).find("not an ELF"), std::string::npos);
  std::string arm = write("arm.elf", make_elf32(40, 0x100000, {{0x100000, {0}, 0}}));
  EXPECT_NE(error_of(mem, {arm, "", {}}).find("ARM"), std::string::npos);
  std::string far = write("far.elf", make_elf32(3, 0x100000, {{0x100000, {0}, 0x2000000}}));
  EXPECT_NE(error_of(mem, {far, "", {}}).find("outside RAM"), std::string::npos);
  std::string nomb = write("nomb.elf", make_elf32(3, 0x100000, {{0x100000, {0}, 0}}, false));
  EXPECT_NE(error_of(mem, {nomb, "", {}}).find("without a Multiboot header"), std::string::npos);
  std::string ok = write("ok.elf", make_elf32(3, 0x100000, {{0x100000, {0}, 0}}));
  EXPECT_NE(error_of(mem, {ok, "", {dir_ + "/nomodule"}}).find("module file"), std::string::npos);
  auto truncated = make_elf32(3, 0x100000, {{0x100000, {0}, 0}});
  truncated.resize(60);
  std::string tr = write("tr.elf", truncated);
  EXPECT_NE(error_of(mem, {tr, "", {}}).find("beyond the end"), std::string::npos);
}

}  // namespace
}  // namespace hvsim
