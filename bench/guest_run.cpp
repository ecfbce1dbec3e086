// guest_run: boots one guest program on a Machine from C++ and reports MIPS; a profiling
// harness (perf, callgrind) without the Python interpreter around the simulator.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.h"
#include "machine/machine.h"

namespace {

/// Peak resident set size of this process in KiB (VmHWM), or 0 if unknown.
unsigned long long peak_rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: guest_run KERNEL [CMDLINE] [MEMORY]\n");
    return 2;
  }
  try {
    hvsim::MachineParams p;
    if (argc > 3) p.memory = hvsim::parse_size(argv[3], "memory");
    hvsim::Machine m(p);
    m.load_kernel({argv[1], std::string(argv[1]) + " " + (argc > 2 ? argv[2] : ""), {}});
    auto t0 = std::chrono::steady_clock::now();
    hvsim::StopReason r = m.run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s\n", m.serial_output().c_str());
    std::printf(
        "stop=%s value=%u instructions=%llu cycles=%llu seconds=%.3f mips=%.1f "
        "touched_pages=%llu peak_rss_kib=%llu\n",
        r.kind_name(), r.exit_value, static_cast<unsigned long long>(m.instructions()),
        static_cast<unsigned long long>(m.cycles()), s, m.instructions() / s / 1e6,
        static_cast<unsigned long long>(m.memory().touched_pages()), peak_rss_kib());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guest_run: %s\n", e.what());
    return 2;
  }
}
