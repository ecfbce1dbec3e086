// The fixture of the hypervisor's unit tests: one physical CPU, 8 MiB of system RAM for the
// hypervisor at 8 MiB, a port-0xE9 log device, and a child partition of 1 MiB whose VP
// starts in flat 32-bit protected mode with paging off (as a Multiboot loader leaves it).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/io_bus.h"
#include "cpu/test_support.h"
#include "hv/hypervisor.h"

namespace hvsim::hv::testing {

using cpu::testing::CpuFixture;

constexpr uint64_t kSystemBase = 0x800000, kSystemSize = 0x800000;

/// Collects bytes written to its port and answers reads with 0x5A.
struct PortLog : PortIoHandler {
  std::string out;
  uint32_t io_read(uint16_t, unsigned) override { return 0x5A; }
  void io_write(uint16_t, unsigned, uint32_t v) override { out.push_back(static_cast<char>(v)); }
};

class HypervisorTest : public CpuFixture {
 public:
  HypervisorTest() { io_.map(0xE9, 1, &log_, "log"); }
  void make() {
    HypervisorParams hp;
    hp.system_base = kSystemBase;
    hp.system_size = kSystemSize;
    hv_ = std::make_unique<Hypervisor>(std::vector<cpu::Cpu*>{cpu_.get()}, mem_, io_, mmio_, hp);
  }
  /// Flat 32-bit protected mode with paging off at GPA 0x1000 (stack 0x8000), the GDT at
  /// GPA 0x800 (null, code 0x08, data 0x10) and the IDT register `idt`.
  static cpu::ArchState flat32(cpu::TableReg idt = {0, 0}) {
    cpu::ArchState s;
    s.cr0 = cpu::kCr0PE | cpu::kCr0ET;
    for (int k = 0; k < cpu::kNumSegs; ++k) s.seg[k] = cpu::SegReg{0x10, 0, 0xFFFFFFFF, 0xC093};
    s.seg[cpu::kCs] = cpu::SegReg{0x08, 0, 0xFFFFFFFF, 0xC09B};
    s.gdtr = cpu::TableReg{0x800, 0x17};
    s.idtr = idt;
    s.ldtr = cpu::SegReg{0, 0, 0, 0x10000};
    s.tr = cpu::SegReg{0, 0, 0xFFFF, 0x8B};
    s.rflags = 2;
    s.rip = 0x1000;
    s.gpr[cpu::kRsp] = 0x8000;
    return s;
  }
  /// A partition of 1 MiB named `name` with the program `code` at GPA 0x1000, its GDT, and
  /// its VP in state `s` (flat32() by default).
  Partition& partition(const std::vector<uint8_t>& code, cpu::TableReg idt = {0, 0},
                       const std::string& name = "child") {
    return partition_with(code, flat32(idt), name);
  }
  Partition& partition_with(const std::vector<uint8_t>& code, const cpu::ArchState& s,
                            const std::string& name) {
    Partition& p = hv_->create_partition(name, 1 << 20);
    const uint64_t gdt[3] = {0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull};
    EXPECT_TRUE(hv_->write_guest(p, 0x800, gdt, sizeof gdt));
    EXPECT_TRUE(hv_->write_guest(p, 0x1000, code.data(), code.size()));
    hv_->set_vp_state(p, 0, s);
    return p;
  }
  PortLog log_;
  std::unique_ptr<Hypervisor> hv_;
};

}  // namespace hvsim::hv::testing
