// Tests of the hypervisor's use of instruction emulation (hv/emulation.cpp): a child
// partition's 32-bit program reads and writes a device on the machine's MMIO bus, OUTS a
// string to a port, and is crashed (with the reason) when it touches the local APIC page,
// fetches instructions from device memory or has an event delivered through it (Intel SDM
// Vol. 3C 28.2.1 EPT-violation qualification, 28.2.4 IDT-vectoring information).
#include <gtest/gtest.h>

#include <cstring>

#include "core/io_bus.h"
#include "cpu/lapic/spec/regs.h"
#include "cpu/test_support.h"
#include "cpu/vmx/vmx.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {
namespace {

using cpu::testing::CpuFixture;

/// A device register file at 0xFEC00000 that logs accesses and reads back offset * 3.
struct Device : MmioHandler {
  std::vector<std::pair<uint64_t, uint64_t>> writes;
  unsigned reads = 0;
  uint64_t mmio_read(uint64_t offset, unsigned) override {
    ++reads;
    return offset * 3;
  }
  void mmio_write(uint64_t offset, unsigned, uint64_t v) override {
    writes.emplace_back(offset, v);
  }
};

struct PortLog : PortIoHandler {
  std::string out;
  uint32_t io_read(uint16_t, unsigned) override { return 0; }
  void io_write(uint16_t, unsigned, uint32_t v) override { out.push_back(static_cast<char>(v)); }
};

class EmulationTest : public CpuFixture {
 public:
  EmulationTest() {
    io_.map(0xE9, 1, &log_, "log");
    mmio_.map(0xFEC00000, 0x1000, &dev_, "dev");
    HypervisorParams hp;
    hp.system_base = 0x800000;
    hp.system_size = 0x800000;
    hv_ = std::make_unique<Hypervisor>(std::vector<cpu::Cpu*>{cpu_.get()}, mem_, io_, mmio_, hp);
  }
  /// Flat 32-bit protected mode, paging off, `code` at GPA 0x1000 (as hypervisor_test.cpp).
  Partition& run(const std::vector<uint8_t>& code) {
    Partition& p = hv_->create_partition("child", 1 << 20);
    const uint64_t gdt[3] = {0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull};
    EXPECT_TRUE(hv_->write_guest(p, 0x800, gdt, sizeof gdt));
    EXPECT_TRUE(hv_->write_guest(p, 0x1000, code.data(), code.size()));
    cpu::ArchState s;
    s.cr0 = cpu::kCr0PE | cpu::kCr0ET;
    for (int k = 0; k < cpu::kNumSegs; ++k) s.seg[k] = cpu::SegReg{0x10, 0, 0xFFFFFFFF, 0xC093};
    s.seg[cpu::kCs] = cpu::SegReg{0x08, 0, 0xFFFFFFFF, 0xC09B};
    s.gdtr = cpu::TableReg{0x800, 0x17};
    s.ldtr = cpu::SegReg{0, 0, 0, 0x10000};
    s.tr = cpu::SegReg{0, 0, 0xFFFF, 0x8B};
    s.rip = 0x1000;
    s.gpr[cpu::kRsp] = 0x8000;
    hv_->set_vp_state(p, 0, s);
    hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
    return p;
  }
  uint32_t guest_u32(const Partition& p, uint64_t gpa) {
    uint32_t v = 0;
    EXPECT_TRUE(hv_->read_guest(p, gpa, &v, 4));
    return v;
  }
  Device dev_;
  PortLog log_;
  std::unique_ptr<Hypervisor> hv_;
};

constexpr unsigned kEptViolation = 48;

TEST_F(EmulationTest, DeviceRegistersAndStringPortIo) {
  Partition& p = run({
      0xC7, 0x05, 0x08, 0x00, 0xC0, 0xFE, 0x78, 0x56, 0x34, 0x12,  // mov [0xFEC00008], imm32
      0xA1, 0x10, 0x00, 0xC0, 0xFE,                                // mov eax, [0xFEC00010]
      0xA3, 0x00, 0x20, 0x00, 0x00,                                // mov [0x2000], eax
      0x83, 0x0D, 0x04, 0x00, 0xC0, 0xFE, 0x01,                    // or [0xFEC00004], 1
      0xC6, 0x05, 0x00, 0x21, 0x00, 0x00, 'o',                     // mov byte [0x2100], 'o'
      0xC6, 0x05, 0x01, 0x21, 0x00, 0x00, 'k',                     // mov byte [0x2101], 'k'
      0xBE, 0x00, 0x21, 0x00, 0x00,                                // mov esi, 0x2100
      0xB9, 0x02, 0x00, 0x00, 0x00,                                // mov ecx, 2
      0x66, 0xBA, 0xE9, 0x00,                                      // mov dx, 0xE9
      0xF3, 0x6E,                                                  // rep outsb
      0x89, 0x0D, 0x04, 0x20, 0x00, 0x00,                          // mov [0x2004], ecx
      0xF4,                                                        // hlt
  });
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  ASSERT_EQ(dev_.writes.size(), 2u);
  EXPECT_EQ(dev_.writes[0], (std::pair<uint64_t, uint64_t>{8, 0x12345678}));
  EXPECT_EQ(dev_.writes[1], (std::pair<uint64_t, uint64_t>{4, 12 | 1}));  // read 4*3, OR 1
  EXPECT_EQ(dev_.reads, 2u);
  EXPECT_EQ(guest_u32(p, 0x2000), 0x30u);
  EXPECT_EQ(log_.out, "ok");
  EXPECT_EQ(guest_u32(p, 0x2004), 0u);
  const VirtualProcessor& vp = p.vps[0];
  EXPECT_EQ(vp.emulated_mmio, 4u);
  EXPECT_EQ(vp.string_io, 1u);
  EXPECT_EQ(vp.exits_by_reason[kEptViolation], 3u);
  EXPECT_TRUE(vp.halted);
}

TEST_F(EmulationTest, LocalApicPageGoesToTheVirtualApic) {
  // mov eax, [0xFEE00030] (the version register); mov [0x2000], eax; hlt
  Partition& p = run({0xA1, 0x30, 0x00, 0xE0, 0xFE, 0xA3, 0x00, 0x20, 0x00, 0x00, 0xF4});
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  uint32_t version = 0;
  ASSERT_TRUE(hv_->read_guest(p, 0x2000, &version, 4));
  EXPECT_EQ(version, cpu::lapic::kVersionValue);
  EXPECT_EQ(dev_.reads, 0u) << "the machine's devices never see the VP's APIC page";
}

TEST_F(EmulationTest, InstructionFetchFromDeviceMemoryCrashes) {
  Partition& p = run({0xB8, 0x00, 0x00, 0xC0, 0xFE, 0xFF, 0xE0});  // mov eax, 0xFEC00000; jmp eax
  ASSERT_TRUE(p.crashed);
  EXPECT_NE(p.crash_reason.find("instruction fetch from device memory"), std::string::npos)
      << p.crash_reason;
  EXPECT_EQ(dev_.reads, 0u);
}

TEST_F(EmulationTest, EventDeliveryThroughDeviceMemoryCrashes) {
  // lidt [0x2000] with an IDT at 0xFEC01000 (unclaimed device memory), then int3.
  Partition& p = run({
      0x66, 0xC7, 0x05, 0x00, 0x20, 0x00, 0x00, 0xFF, 0x07,        // mov word [0x2000], 0x7FF
      0xC7, 0x05, 0x02, 0x20, 0x00, 0x00, 0x00, 0x10, 0xC0, 0xFE,  // mov [0x2002], 0xFEC01000
      0x0F, 0x01, 0x1D, 0x00, 0x20, 0x00, 0x00,                    // lidt [0x2000]
      0xCC,                                                        // int3
      0xF4,
  });
  ASSERT_TRUE(p.crashed);
  EXPECT_NE(p.crash_reason.find("event delivery through device memory"), std::string::npos)
      << p.crash_reason;
}

TEST_F(EmulationTest, UncoveredInstructionCrashesNamingIt) {
  Partition& p = run({0x0F, 0xAF, 0x05, 0x00, 0x00, 0xC0, 0xFE, 0xF4});  // imul eax, [0xFEC00000]
  ASSERT_TRUE(p.crashed);
  EXPECT_EQ(p.crash_reason.rfind("cannot emulate imul", 0), 0u) << p.crash_reason;
  EXPECT_NE(p.crash_reason.find("guest-physical address 0xfec00000"), std::string::npos);
  EXPECT_EQ(dev_.reads, 0u);
}

}  // namespace
}  // namespace hvsim::hv
