// ELF executable parsing (System V ABI: ELF header, program header table).
#include "machine/loader/elf.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "machine/loader/spec/elf.h"

namespace hvsim {

namespace {

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

template <typename Ehdr, typename Phdr>
ElfImage parse(const std::vector<uint8_t>& file, const std::string& path, bool elf64) {
  if (file.size() < sizeof(Ehdr)) throw InputError(path + ": truncated ELF header");
  Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof eh);
  ElfImage img;
  img.elf64 = elf64;
  img.machine = eh.machine;
  img.entry = eh.entry;
  bool ok_machine = elf64 ? eh.machine == static_cast<uint16_t>(elf::Machine::kX86_64)
                          : (eh.machine == static_cast<uint16_t>(elf::Machine::k386) ||
                             eh.machine == static_cast<uint16_t>(elf::Machine::kX86_64));
  if (!ok_machine)
    throw InputError(path + ": ELF machine is " + elf::machine_name(eh.machine) + " (" +
                     std::to_string(eh.machine) + "), not x86 (i386 or x86-64)");
  if (eh.type != static_cast<uint16_t>(elf::Type::kExec))
    throw InputError(path + ": ELF type " + std::to_string(eh.type) +
                     " is not an executable (ET_EXEC)");
  if (eh.phnum == 0) throw InputError(path + ": ELF has no program headers");
  if (eh.phentsize != sizeof(Phdr))
    throw InputError(path + ": ELF program header size " + std::to_string(eh.phentsize) +
                     " (expected " + std::to_string(sizeof(Phdr)) + ")");
  uint64_t table_end = uint64_t{eh.phoff} + uint64_t{eh.phnum} * sizeof(Phdr);
  if (eh.phoff > file.size() || table_end > file.size())
    throw InputError(path + ": ELF program header table at offset " + hex(eh.phoff) +
                     " lies beyond the end of the file");
  for (unsigned i = 0; i < eh.phnum; ++i) {
    Phdr ph;
    std::memcpy(&ph, file.data() + eh.phoff + i * sizeof(Phdr), sizeof ph);
    if (ph.type != elf::kPtLoad || ph.memsz == 0) continue;
    if (ph.filesz > ph.memsz)
      throw InputError(path + ": segment " + std::to_string(i) + " has filesz > memsz");
    if (uint64_t{ph.offset} > file.size() || ph.filesz > file.size() - ph.offset)
      throw InputError(path + ": segment " + std::to_string(i) + " file range [" + hex(ph.offset) +
                       ", +" + hex(ph.filesz) + ") lies beyond the end of the file");
    img.segments.push_back({ph.paddr, ph.filesz, ph.memsz, ph.offset});
  }
  if (img.segments.empty()) throw InputError(path + ": ELF has no loadable segment");
  return img;
}

}  // namespace

bool is_elf(const std::vector<uint8_t>& file) {
  return file.size() >= 4 && std::memcmp(file.data(), elf::kMagic, 4) == 0;
}

ElfImage parse_elf(const std::vector<uint8_t>& file, const std::string& path) {
  if (!is_elf(file)) throw InputError(path + ": not an ELF file (bad magic)");
  if (file.size() < 16) throw InputError(path + ": truncated ELF header");
  if (file[5] != elf::kDataLittleEndian) throw InputError(path + ": ELF is not little-endian");
  switch (static_cast<elf::Class>(file[4])) {
    case elf::Class::kElf32: return parse<elf::Ehdr32, elf::Phdr32>(file, path, false);
    case elf::Class::kElf64: return parse<elf::Ehdr64, elf::Phdr64>(file, path, true);
  }
  throw InputError(path + ": unknown ELF class " + std::to_string(file[4]));
}

std::vector<uint8_t> read_host_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw InputError(std::string(what) + " file '" + path + "' does not exist");
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(std::string(what) + " file '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(std::string("cannot open ") + what + " file '" + path + "'");
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(std::string("cannot read ") + what + " file '" + path + "'");
  return data;
}

}  // namespace hvsim
