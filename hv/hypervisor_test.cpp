// Unit tests of the hypervisor core: a child partition's 32-bit protected-mode program (as a
// Multiboot loader leaves it: paging off, under "unrestricted guest") runs in its EPT-mapped
// memory; its port I/O reaches a device on the machine's bus; CPUID answers with the
// hypervisor bit and the "Microsoft Hv" leaves; a trapped MSR gets #GP; HLT idles its
// physical CPU; a triple fault crashes the partition with a reason; two identical runs give
// the same state; requests that cannot be met are refused with the reason.
#include "hv/hypervisor.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/hash.h"
#include "hv/hypervisor_test_fixture.h"

namespace hvsim::hv {
namespace {

using testing::HypervisorTest;

// out 0xE9 "Hi"; in al, 0xE9 -> [0x2000]; cpuid 0x40000000 -> [0x2004..]; cpuid 1 ECX ->
// [0x2010]; hlt.
const std::vector<uint8_t> kProgram = {
    0xB0, 'H',  0xE6, 0xE9,                    // mov al, 'H'; out 0xE9, al
    0xB0, 'i',  0xE6, 0xE9,                    // mov al, 'i'; out 0xE9, al
    0xE4, 0xE9, 0xA2, 0x00, 0x20, 0x00, 0x00,  // in al, 0xE9; mov [0x2000], al
    0xB8, 0x00, 0x00, 0x00, 0x40,              // mov eax, 0x40000000
    0x0F, 0xA2,                                // cpuid
    0x89, 0x1D, 0x04, 0x20, 0x00, 0x00,        // mov [0x2004], ebx
    0x89, 0x0D, 0x08, 0x20, 0x00, 0x00,        // mov [0x2008], ecx
    0x89, 0x15, 0x0C, 0x20, 0x00, 0x00,        // mov [0x200C], edx
    0xB8, 0x01, 0x00, 0x00, 0x00,              // mov eax, 1
    0x0F, 0xA2,                                // cpuid
    0x89, 0x0D, 0x10, 0x20, 0x00, 0x00,        // mov [0x2010], ecx
    0xF4,                                      // hlt
};

TEST_F(HypervisorTest, ChildProgramRunsInItsPartition) {
  make();
  Partition& p = partition(kProgram);
  EXPECT_EQ(hv_->system_pages().pages_of(p.id), 256u);
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_TRUE(p.vps[0].halted);
  EXPECT_TRUE(hv_->all_stopped());
  EXPECT_EQ(log_.out, "Hi");
  uint8_t in = 0;
  char sig[13] = {};
  uint32_t ecx1 = 0;
  ASSERT_TRUE(hv_->read_guest(p, 0x2000, &in, 1));
  ASSERT_TRUE(hv_->read_guest(p, 0x2004, sig, 12));
  ASSERT_TRUE(hv_->read_guest(p, 0x2010, &ecx1, 4));
  EXPECT_EQ(in, 0x5A) << "IN from the device";
  EXPECT_STREQ(sig, "Microsoft Hv");
  EXPECT_TRUE(ecx1 & (1u << 31)) << "hypervisor present";
  EXPECT_FALSE(ecx1 & (1u << 5)) << "no VMX in a partition";
  // The program's stores went to the partition's pages, not to system RAM at the GPA.
  EXPECT_EQ(mem_.load<uint8_t>(0x2000), 0);
  const VirtualProcessor& vp = p.vps[0];
  EXPECT_EQ(vp.exits_by_reason[static_cast<int>(cpu::vmx::ExitReason::IO_INSTRUCTION)], 3u);
  EXPECT_EQ(vp.exits_by_reason[static_cast<int>(cpu::vmx::ExitReason::CPUID)], 2u);
  EXPECT_EQ(vp.exits_by_reason[static_cast<int>(cpu::vmx::ExitReason::HLT)], 1u);
  // The halted VP leaves its physical CPU idle: time goes on, nothing runs.
  uint64_t insns = cpu_->instructions();
  hv_->advance(0, cpu_->local_time() + 100 * kPicosPerMicro);
  EXPECT_EQ(cpu_->instructions(), insns);
}

TEST_F(HypervisorTest, TripleFaultCrashesThePartition) {
  make();
  // ud2 with an IDT of limit 0: #UD, #GP, #DF cannot be delivered: triple fault.
  Partition& p = partition({0x0F, 0x0B});
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_TRUE(p.crashed);
  EXPECT_NE(p.crash_reason.find("triple fault"), std::string::npos) << p.crash_reason;
  EXPECT_EQ(hv_->crashed_partition(), &p);
}

TEST_F(HypervisorTest, TrappedMsrGetsGp) {
  make();
  // rdmsr 0x3A (IA32_FEATURE_CONTROL: trapped, no nested VMX) -> #GP; the IDT's #GP
  // handler (vector 13 at GPA 0x3000) writes 'G' to port 0xE9 and halts.
  std::vector<uint8_t> code = {0xB9, 0x3A, 0x00, 0x00, 0x00, 0x0F, 0x32, 0xF4};
  uint64_t gate = 0x3000 | (uint64_t{0x08} << 16) | (uint64_t{0x8E00} << 32);
  uint64_t idt32[14] = {};
  idt32[13] = gate;
  Partition& p = partition(code, cpu::TableReg{0x4000, sizeof idt32 - 1});
  ASSERT_TRUE(hv_->write_guest(p, 0x4000, idt32, sizeof idt32));
  const uint8_t handler[] = {0xB0, 'G', 0xE6, 0xE9, 0xF4};
  ASSERT_TRUE(hv_->write_guest(p, 0x3000, handler, sizeof handler));
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  EXPECT_EQ(log_.out, "G");
  EXPECT_EQ(p.vps[0].exits_by_reason[static_cast<int>(cpu::vmx::ExitReason::RDMSR)], 1u);
}

TEST_F(HypervisorTest, RefusesWhatCannotBeMet) {
  make();
  try {
    hv_->create_partition("huge", uint64_t{64} << 20);
    ADD_FAILURE() << "64 MiB fitted in 8";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
  }
  try {
    hv_->create_partition("odd", 1000);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 4 KiB"), std::string::npos);
  }
  try {
    hv_->create_partition("many", 1 << 20, 65);
    ADD_FAILURE() << "65 VPs";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("1 to 64"), std::string::npos) << e.what();
  }
}

TEST_F(HypervisorTest, HostApiPortsConnectionsAndDirectDelivery) {
  make();
  Partition& p = partition(kProgram);
  Port port;
  port.id = 7;
  port.partition = p.id;
  port.sint = 2;
  hv_->create_port(port);
  EXPECT_THROW(hv_->create_port(port), InputError);  // id in use
  Port bad = port;
  bad.id = 8;
  bad.vp = 1;  // the partition has one VP
  EXPECT_THROW(hv_->create_port(bad), InputError);
  bad.vp = 0;
  bad.partition = p.id + 1;
  EXPECT_THROW(hv_->create_port(bad), InputError);
  hv_->connect(p, 1, 7);
  EXPECT_THROW(hv_->connect(p, 1, 7), InputError);
  EXPECT_THROW(hv_->connect(p, 2, 99), InputError);
  ASSERT_NE(hv_->ports().connection(p.id, 1), nullptr);
  // The SynIC is off: nothing can be posted or signalled.
  const char text[] = "hello";
  EXPECT_EQ(hv_->post_message(p, 0, 2, 1, text, sizeof text),
            spec::HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_EQ(hv_->signal_event(p, 0, 2, 3), spec::HvStatus::HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_THROW(hv_->post_message(p, 0, 2, 1, text, 241), InputError);
  EXPECT_THROW(hv_->post_message(p, 1, 2, 1, text, 1), InputError);
  Synic& synic = *p.vps[0].synic;
  ASSERT_TRUE(synic.write_msr(0x40000083, 0x10000 | 1));  // SIMP
  ASSERT_TRUE(synic.write_msr(0x40000082, 0x11000 | 1));  // SIEFP
  ASSERT_TRUE(synic.write_msr(0x40000080, 1));            // SCONTROL
  ASSERT_TRUE(synic.write_msr(spec::sint_msr(2), 0x40));
  EXPECT_EQ(hv_->post_message(p, 0, 2, 0x55, text, sizeof text, 9),
            spec::HvStatus::HV_STATUS_SUCCESS);
  spec::HvMessage m;
  mem_.read(synic.message_page() + 2 * 256, &m, sizeof m);
  EXPECT_EQ(m.header.message_type, 0x55u);
  EXPECT_EQ(m.header.payload_size, sizeof text);
  EXPECT_EQ(m.header.sender, 9u);
  EXPECT_STREQ(reinterpret_cast<const char*>(m.payload), "hello");
  EXPECT_EQ(hv_->signal_event(p, 0, 2, 3), spec::HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(mem_.load<uint8_t>(synic.event_flags_page() + 2 * 256), 0x08);
  // No interrupt reaches a VP yet: the SynIC counts the two it would have raised.
  EXPECT_EQ(synic.interrupts_raised(), 2u);
  EXPECT_EQ(hv_->next_timer_expiry(p, 0), SyntheticTimers::kNever);
}

// A fast HvCallSignalEvent (code 0x5D, fast bit 16) in the 32-bit convention (input value
// in EDX:EAX, the 8-byte input in EBX:ECX): connection 2, flag 1; the status to [0x2000].
const std::vector<uint8_t> kSignalEvent = {
    0xB8, 0x5D, 0x00, 0x01, 0x00,  // mov eax, 0x1005D
    0x31, 0xD2,                    // xor edx, edx
    0xB9, 0x02, 0x00, 0x00, 0x00,  // mov ecx, 2 (connection id)
    0xBB, 0x01, 0x00, 0x00, 0x00,  // mov ebx, 1 (flag number, input bits 47:32)
    0x0F, 0x01, 0xC1,              // vmcall
    0xA3, 0x00, 0x20, 0x00, 0x00,  // mov [0x2000], eax
    0xF4,                          // hlt
};

/// Event port 0x33 on SINT3 of `p`'s VP 0 (2 flags from `base_flag`), as connection 2.
void connect_event_port(Hypervisor& hv, Partition& p, uint32_t base_flag) {
  Port port;
  port.id = 0x33;
  port.type = PortType::kEvent;
  port.partition = p.id;
  port.sint = 3;
  port.base_flag = base_flag;
  port.flag_count = 2;
  hv.create_port(port);
  hv.connect(p, 2, 0x33);
}

TEST_F(HypervisorTest, SignalEventHypercallReachesThePortsSynic) {
  make();
  Partition& p = partition(kSignalEvent);
  connect_event_port(*hv_, p, 40);
  Synic& synic = *p.vps[0].synic;
  ASSERT_TRUE(synic.write_msr(0x40000082, 0x11000 | 1));  // SIEFP
  ASSERT_TRUE(synic.write_msr(0x40000080, 1));            // SCONTROL
  ASSERT_TRUE(synic.write_msr(spec::sint_msr(3), 0x40));
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  uint32_t status = 0xFFFF;
  ASSERT_TRUE(hv_->read_guest(p, 0x2000, &status, 4));
  EXPECT_EQ(status, 0u);
  // Flag 40 + 1 = 41: byte 5, bit 1 of SINT3's bitmap.
  EXPECT_EQ(mem_.load<uint8_t>(synic.event_flags_page() + 3 * 256 + 5), 0x02);
  EXPECT_EQ(synic.interrupts_raised(), 1u);
  EXPECT_EQ(p.hypercalls_by_status[0], 1u);
}

TEST_F(HypervisorTest, SignalEventWithoutThePrivilegeIsDenied) {
  make();
  Partition& p = partition(kSignalEvent);
  connect_event_port(*hv_, p, 0);
  p.cpuid.privileges &= ~spec::privilege::kSignalEvents;
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  ASSERT_FALSE(p.crashed) << p.crash_reason;
  uint32_t status = 0;
  ASSERT_TRUE(hv_->read_guest(p, 0x2000, &status, 4));
  EXPECT_EQ(status, static_cast<uint32_t>(spec::HvStatus::HV_STATUS_ACCESS_DENIED));
}

TEST_F(HypervisorTest, Deterministic) {
  auto run = [](HypervisorTest& t) {
    t.make();
    t.partition(kProgram);
    t.hv_->advance(0, t.cpu_->local_time() + kPicosPerMilli);
    Hasher h;
    t.cpu_->hash_into(h);
    t.hv_->hash_into(h);
    h.bytes(t.mem_.read_ptr(0), 16 << 20);
    return std::make_tuple(h.digest(), t.cpu_->cycles(), t.cpu_->instructions(), t.log_.out);
  };
  struct Other : HypervisorTest {
    void TestBody() override {}
  } other;
  EXPECT_EQ(run(*this), run(other));
}

}  // namespace
}  // namespace hvsim::hv
