// Machine parameters: the typed description of a whole computer (also what a checkpoint records).
#pragma once

#include <cstdint>
#include <string>

#include "core/time.h"
#include "cpu/timing.h"

namespace hvsim {

/// Parameters of a machine. Python builds this struct; checkpoints record it.
struct MachineParams {
  /// Number of physical processors (1..64). Processor 0 boots; the others wait for SIPI.
  uint32_t cpus = 1;
  /// Bytes of RAM, from physical address 0 (multiple of 4 KiB, at least 2 MiB).
  uint64_t memory = uint64_t{256} << 20;
  /// Seed of the machine's random number generator (the only randomness in a run).
  uint64_t seed = 0;
  /// Core clock of every processor, Hz; RDTSC counts these cycles.
  uint64_t cpu_freq_hz = 2'000'000'000;
  /// Scheduler quantum: how far one processor runs before the next takes its turn.
  SimTime quantum = 10 * kPicosPerMicro;
  /// Wall-clock time the CMOS RTC shows at simulated time 0, in seconds since
  /// 1970-01-01 00:00:00 UTC (default 2024-01-01 00:00:00). Never the host clock.
  int64_t rtc_start = 1704067200;
  /// Cycle costs of every processor (cpu/timing.h); checkpoints record the table.
  cpu::timing::Table timing;
  /// Hypervisor mode: hv/'s hypervisor owns VMX root operation on every processor, and
  /// load_kernel boots the kernel in a child partition instead of on the bare machine.
  bool hyperv = false;
  /// Hypervisor mode: bytes of memory of that child partition (0: half of RAM).
  uint64_t partition_memory = 0;
  /// Hypervisor mode: the Hyper-V test device at port 0x3000 (QEMU's hyperv-testdev).
  bool hyperv_testdev = false;
};

/// Parses a size such as "256M", "1G", "4096K", "65536" (bytes) or "2GiB". Throws
/// InputError naming `what` and the text if malformed, zero or absurdly large.
uint64_t parse_size(const std::string& text, const std::string& what = "size");

/// Parses a simulated duration such as "10ms", "5us", "2s", "100ns", "123ps" or a bare
/// number of nanoseconds. Throws InputError naming `what` if malformed.
SimTime parse_duration(const std::string& text, const std::string& what = "duration");

/// Checks a MachineParams, throwing InputError naming the bad field.
void validate(const MachineParams& p);

}  // namespace hvsim
