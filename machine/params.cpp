// Parsing and validation of machine parameters.
#include "machine/params.h"

#include <cctype>

#include "core/error.h"

namespace hvsim {

namespace {

/// Splits "123abc" into 123 and "abc"; false if no digits or overflow.
bool split_number(const std::string& text, uint64_t* value, std::string* suffix) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t d = text[i] - '0';
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    ++i;
  }
  if (i == 0) return false;
  *value = v;
  *suffix = text.substr(i);
  for (char& c : *suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return true;
}

}  // namespace

uint64_t parse_size(const std::string& text, const std::string& what) {
  uint64_t v;
  std::string suffix;
  auto bad = [&](const std::string& why) {
    return InputError("bad " + what + " '" + text + "': " + why);
  };
  if (!split_number(text, &v, &suffix))
    throw bad("expected a number with an optional K, M, G or T suffix (e.g. 256M)");
  unsigned shift;
  if (suffix.empty() || suffix == "b")
    shift = 0;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib")
    shift = 10;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib")
    shift = 20;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib")
    shift = 30;
  else if (suffix == "t" || suffix == "tb" || suffix == "tib")
    shift = 40;
  else
    throw bad("unknown suffix '" + suffix + "' (use K, M, G or T)");
  if (v == 0) throw bad("must be nonzero");
  if (v > (uint64_t{1} << 50 >> shift)) throw bad("too large");
  return v << shift;
}

SimTime parse_duration(const std::string& text, const std::string& what) {
  uint64_t v;
  std::string suffix;
  if (!split_number(text, &v, &suffix))
    throw InputError("bad " + what + " '" + text + "': expected e.g. 10ms, 5us, 2s, 100ns");
  uint64_t unit;
  if (suffix.empty() || suffix == "ns")
    unit = kPicosPerNano;
  else if (suffix == "ps")
    unit = 1;
  else if (suffix == "us")
    unit = kPicosPerMicro;
  else if (suffix == "ms")
    unit = kPicosPerMilli;
  else if (suffix == "s")
    unit = kPicosPerSecond;
  else
    throw InputError("bad " + what + " '" + text + "': unknown unit '" + suffix +
                     "' (ps, ns, us, ms, s)");
  if (v > kNever / unit) throw InputError("bad " + what + " '" + text + "': too large");
  return v * unit;
}

void validate(const MachineParams& p) {
  if (p.cpus < 1 || p.cpus > 64)
    throw InputError("bad cpus " + std::to_string(p.cpus) + ": must be between 1 and 64");
  if (p.memory % 4096 != 0)
    throw InputError("bad memory size " + std::to_string(p.memory) + ": not a multiple of 4 KiB");
  if (p.memory < (uint64_t{2} << 20))
    throw InputError("bad memory size " + std::to_string(p.memory) + ": at least 2 MiB is needed");
  if (p.memory > (uint64_t{1} << 40))
    throw InputError("bad memory size " + std::to_string(p.memory) + ": at most 1 TiB");
  if (p.cpu_freq_hz < 1'000'000 || p.cpu_freq_hz > 100'000'000'000ull)
    throw InputError("bad cpu_freq_hz " + std::to_string(p.cpu_freq_hz) +
                     ": must be 1 MHz..100 GHz");
  if (p.quantum == 0) throw InputError("bad quantum: must be nonzero");
  if (p.rtc_start < 0 || p.rtc_start > 253402300799)
    throw InputError("bad rtc_start " + std::to_string(p.rtc_start) +
                     ": must be between 0 (1970) and 253402300799 (9999-12-31)");
  if (p.hyperv_testdev && !p.hyperv)
    throw InputError("the Hyper-V test device exists only in hypervisor mode");
  if (p.hyperv && p.memory < (uint64_t{16} << 20))
    throw InputError("bad memory size " + std::to_string(p.memory) +
                     ": hypervisor mode needs at least 16 MiB");
  if (p.partition_memory % 4096 != 0)
    throw InputError("bad partition memory " + std::to_string(p.partition_memory) +
                     ": not a multiple of 4 KiB");
  if (p.hyperv && p.partition_memory > p.memory - (uint64_t{4} << 20))
    throw InputError("bad partition memory " + std::to_string(p.partition_memory) +
                     ": leave the hypervisor at least 4 MiB of the " +
                     std::to_string(p.memory >> 20) + " MiB of RAM");
}

}  // namespace hvsim
