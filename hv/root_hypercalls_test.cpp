// Unit tests of the partition tree and the root calls (hv/partition_tree.cpp,
// hv/root_hypercalls.cpp; dossier §1.2, §3.7): a root partition's 32-bit program issues one
// memory-based hypercall per run (input value at GPA 0x3000, input block at 0x4000, output
// block at 0x5000, result to 0x2000); the tests check every status, that deletion returns
// every page, that a subtree goes with its parent, that a parent can lend only pages it owns
// and that a child it lends a page to runs there and sees nothing else of the parent.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "core/state.h"
#include "hv/hypervisor.h"
#include "hv/hypervisor_test_fixture.h"

namespace hvsim::hv {
namespace {

using spec::HvStatus;
using testing::HypervisorTest;

const std::vector<uint8_t> kCaller = {
    0xA1, 0x00, 0x30, 0x00, 0x00,        // mov eax, [0x3000]
    0x8B, 0x15, 0x04, 0x30, 0x00, 0x00,  // mov edx, [0x3004]
    0xB9, 0x00, 0x40, 0x00, 0x00,        // mov ecx, 0x4000 (input GPA, low)
    0x31, 0xDB,                          // xor ebx, ebx
    0xBE, 0x00, 0x50, 0x00, 0x00,        // mov esi, 0x5000 (output GPA, low)
    0x31, 0xFF,                          // xor edi, edi
    0x0F, 0x01, 0xC1,                    // vmcall
    0xA3, 0x00, 0x20, 0x00, 0x00,        // mov [0x2000], eax
    0x89, 0x15, 0x04, 0x20, 0x00, 0x00,  // mov [0x2004], edx
    0xF4,                                // hlt
};

constexpr uint64_t kCreate = 0x40, kInit = 0x41, kDelete = 0x43, kMap = 0x4B, kUnmap = 0x4C,
                   kCreateVp = 0x4E, kGetRegs = 0x50, kSetRegs = 0x51, kAssert = 0x94,
                   kCreatePort = 0x95, kConnectPort = 0x96, kIntercept = 0x4D;
constexpr uint64_t rep(uint64_t code, uint64_t count, uint64_t start = 0) {
  return code | count << 32 | start << 48;
}

class RootTest : public HypervisorTest {
 public:
  /// A partition of 1 MiB running kCaller, with the root privileges if `root`.
  Partition& caller(const std::string& name, bool root) {
    Partition& p = hv_->create_partition(name, 1 << 20, 1, 0, root);
    const uint64_t gdt[3] = {0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull};
    EXPECT_TRUE(hv_->write_guest(p, 0x800, gdt, sizeof gdt));
    EXPECT_TRUE(hv_->write_guest(p, 0x1000, kCaller.data(), kCaller.size()));
    return p;
  }
  /// Runs one call of `p` (input value `rcx`, input block `in`): the result value.
  uint64_t call(Partition& p, uint64_t rcx, const std::vector<uint64_t>& in) {
    EXPECT_TRUE(hv_->write_guest(p, 0x3000, &rcx, 8));
    std::vector<uint8_t> zero(4096);
    EXPECT_TRUE(hv_->write_guest(p, 0x4000, zero.data(), zero.size()));
    EXPECT_TRUE(hv_->write_guest(p, 0x4000, in.data(), in.size() * 8));
    hv_->set_vp_state(p, 0, flat32());
    p.vps[0].halted = false;
    hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
    EXPECT_FALSE(p.crashed) << p.crash_reason;
    EXPECT_TRUE(p.vps[0].halted);
    uint64_t r = 0;
    EXPECT_TRUE(hv_->read_guest(p, 0x2000, &r, 8));
    return r;
  }
  static HvStatus status(uint64_t r) { return static_cast<HvStatus>(r & 0xFFFF); }
  static uint64_t reps(uint64_t r) { return (r >> 32) & 0xFFF; }
  uint64_t output(Partition& p, uint64_t off = 0) {
    uint64_t v = 0;
    EXPECT_TRUE(hv_->read_guest(p, 0x5000 + off, &v, 8));
    return v;
  }
  /// Creates and initializes a child of `root`: its id.
  uint64_t child(Partition& root) {
    EXPECT_EQ(status(call(root, kCreate, {0, 0, 0, 0, 0, 0, 0})), HvStatus::HV_STATUS_SUCCESS);
    uint64_t id = output(root);
    EXPECT_EQ(status(call(root, kInit, {id})), HvStatus::HV_STATUS_SUCCESS);
    return id;
  }
  uint64_t intercept_child(Partition& root, const std::vector<uint8_t>& prog);
};

TEST_F(RootTest, CreateMapDeleteReturnsEveryPage) {
  make();
  Partition& root = caller("root", true);
  call(root, 0x46, {});  // the root's own pages are in place before counting
  uint64_t free_before = hv_->system_pages().free_pages();
  uint64_t id = child(root);
  Partition* c = hv_->partition_by_id(static_cast<PartitionId>(id));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->parent, root.id);
  EXPECT_EQ(root.children, std::vector<PartitionId>{c->id});
  EXPECT_EQ(status(call(root, kCreateVp, {id, 0, 0, 0, 0})), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(c->vps.size(), 1u);
  // Lend GPA pages 0x60 and 0x61 at the child's pages 0x10, 0x11.
  uint64_t r = call(root, rep(kMap, 2), {id, 0x10, 3, 0x60, 0x61});
  EXPECT_EQ(status(r), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(reps(r), 2u);
  EXPECT_FALSE(root.gpa->translate(0x60000)) << "a lent page leaves the parent";
  ASSERT_TRUE(c->gpa->translate(0x11000));
  EXPECT_EQ(hv_->system_pages().owner(*c->gpa->translate(0x11000)), c->id);
  EXPECT_EQ(status(call(root, kDelete, {id})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(hv_->partition_by_id(static_cast<PartitionId>(id)), nullptr);
  EXPECT_TRUE(root.children.empty());
  EXPECT_TRUE(root.gpa->translate(0x60000)) << "lent pages come back";
  EXPECT_EQ(hv_->system_pages().free_pages(), free_before);
  EXPECT_EQ(hv_->system_pages().pages_of(root.id), 256u);
}

TEST_F(RootTest, ChildRunsInALentPageAndSeesNothingElse) {
  make();
  Partition& root = caller("root", true);
  // The child's program, lent at its GPA 0x1000 (real mode, CS = 0): writes 'C' to the log
  // port and to [0x1100]; reads [0x2000] (the parent's result page at the parent's GPA;
  // nothing at the child's) and stores what it got to [0x1101]; hlt.
  const uint8_t prog[] = {0xB0, 'C',  0xE6, 0xE9, 0xA2, 0x00, 0x11,
                          0xA0, 0x00, 0x20, 0xA2, 0x01, 0x11, 0xF4};
  ASSERT_TRUE(hv_->write_guest(root, 0x60000, prog, sizeof prog));
  uint64_t id = child(root);
  Partition& c = *hv_->partition_by_id(static_cast<PartitionId>(id));
  ASSERT_EQ(status(call(root, kCreateVp, {id, 0, 0, 0, 0})), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(status(call(root, rep(kMap, 1), {id, 1, 7, 0x60})), HvStatus::HV_STATUS_SUCCESS);
  // CS = 0 (HV_X64_SEGMENT_REGISTER: base, limit | selector << 32 | attributes << 48), RIP.
  uint64_t r = call(root, rep(kSetRegs, 2),
                    {id, 0, 0x00060001, 0, 0, 0xFFFF | (0x9Bull << 48), 0x00020010, 0, 0x1000, 0});
  ASSERT_EQ(status(r), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(reps(r), 2u);
  // It starts at once (in the same run as the call) and halts.
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  EXPECT_EQ(log_.out, "C");
  EXPECT_TRUE(c.vps[0].halted);
  // After the VP ran, its registers come from its VMCS: RIP after the HLT (14 bytes on);
  // a set goes into the VMCS (RAX, a GPR: into the saved registers).
  EXPECT_EQ(status(call(root, rep(kGetRegs, 1), {id, 0, 0x00020010})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(output(root), 0x100Eu);
  EXPECT_EQ(status(call(root, rep(kSetRegs, 1), {id, 0, 0x00020000, 0, 0x1234, 0})),
            HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(status(call(root, rep(kGetRegs, 1), {id, 0, 0x00020000})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(output(root), 0x1234u);
  cpu::ArchState live;
  ASSERT_TRUE(hv_->read_vp_state(c.vps[0], &live));
  EXPECT_EQ(live.rip, 0x100Eu);
  EXPECT_EQ(live.gpr[cpu::kRax], 0x1234u);
  EXPECT_EQ(live.seg[cpu::kCs].selector, 0);
  // Unmap: the page comes back with what the child wrote.
  EXPECT_EQ(status(call(root, rep(kUnmap, 1), {id, 1, 0})), HvStatus::HV_STATUS_SUCCESS);
  uint8_t got[2] = {};
  ASSERT_TRUE(hv_->read_guest(root, 0x60100, got, 2));
  EXPECT_EQ(got[0], 'C');
  // The read of GPA 0x2000 had no memory behind it in the child (MMIO: all ones), not the
  // parent's result page.
  EXPECT_EQ(got[1], 0xFF);
  EXPECT_FALSE(c.gpa->translate(0x1000));
}

TEST_F(RootTest, PrivilegeAndStatusErrors) {
  make();
  Partition& plain = caller("plain", false);
  EXPECT_EQ(status(call(plain, kCreate, {0, 0, 0, 0, 0, 0, 0})), HvStatus::HV_STATUS_ACCESS_DENIED);
  EXPECT_EQ(status(call(plain, kInit, {1})), HvStatus::HV_STATUS_ACCESS_DENIED);
  Partition& root = caller("root", true);
  // Only children are targets: itself, another top-level partition, an unknown id.
  for (uint64_t bad : {uint64_t{root.id}, uint64_t{plain.id}, uint64_t{99}, uint64_t{1} << 32})
    EXPECT_EQ(status(call(root, kInit, {bad})), HvStatus::HV_STATUS_INVALID_PARTITION_ID) << bad;
  EXPECT_EQ(status(call(root, kCreate, {0, 0, 0, 0, 0, 0, 1})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kCreate, {0, 0, 0, 0, 0, 0, 0})), HvStatus::HV_STATUS_SUCCESS);
  uint64_t id = output(root);
  EXPECT_EQ(status(call(root, kCreateVp, {id, 0, 0, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARTITION_STATE);
  EXPECT_EQ(status(call(root, kInit, {id})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(status(call(root, kInit, {id})), HvStatus::HV_STATUS_INVALID_PARTITION_STATE);
  EXPECT_EQ(status(call(root, kCreateVp, {id, 1, 0, 0, 0})), HvStatus::HV_STATUS_INVALID_VP_INDEX);
  EXPECT_EQ(status(call(root, kCreateVp, {id, uint64_t{1} << 40, 0, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kCreateVp, {id, 0, 0, 0, 0})), HvStatus::HV_STATUS_SUCCESS);
  // Map: a page the root does not have (GPN 0x200 is past its 1 MiB), a flag outside R/W/X,
  // no R, and a second rep onto a child page already mapped: reps completed says where.
  uint64_t r = call(root, rep(kMap, 1), {id, 0, 1, 0x200});
  EXPECT_EQ(status(r), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(reps(r), 0u);
  EXPECT_EQ(status(call(root, rep(kMap, 1), {id, 0, 0x11, 0x60})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, rep(kMap, 1), {id, 0, 2, 0x60})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  r = call(root, rep(kMap, 3), {id, 0, 1, 0x60, 0x60, 0x61});
  EXPECT_EQ(status(r), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(reps(r), 1u) << "the second rep names a page already lent";
  // Unmap: only pages this parent lent, without flags (no large pages).
  EXPECT_EQ(status(call(root, rep(kUnmap, 1), {id, 5, 0})), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, rep(kUnmap, 1), {id, 0, 2})), HvStatus::HV_STATUS_INVALID_PARAMETER);
  // Registers: VP index, an unknown name; a get before the VP ran gives the reset RIP.
  EXPECT_EQ(status(call(root, rep(kGetRegs, 1), {id, 4, 0x00020010})),
            HvStatus::HV_STATUS_INVALID_VP_INDEX);
  EXPECT_EQ(status(call(root, rep(kGetRegs, 1), {id, 0, 0x12345})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, rep(kGetRegs, 1), {id, 0, 0x00020010})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(output(root), 0xFFF0u);
  // Interrupts: fixed, vector 16-255, to an existing VP.
  EXPECT_EQ(status(call(root, kAssert, {id, 0, 0, 0x30})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(status(call(root, kAssert, {id, 0, 0, 5})), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kAssert, {id, 4, 0, 0x30})), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kAssert, {id, 0, 3, 0x30})), HvStatus::HV_STATUS_INVALID_VP_INDEX);
  // A simple call with a rep count is malformed.
  EXPECT_EQ(status(call(root, rep(kDelete, 1), {id})), HvStatus::HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(status(call(root, kDelete, {id})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(status(call(root, kDelete, {id})), HvStatus::HV_STATUS_INVALID_PARTITION_ID);
}

TEST_F(RootTest, HostDeletesASubtreeAndItsPagesReturn) {
  make();
  uint64_t free0 = 0;
  {
    free0 = hv_->system_pages().free_pages();
    Partition& a = hv_->create_partition("a", 1 << 20, 1, 0, true);
    Partition& b = hv_->create_partition("b", 1 << 19, 1, a.id, true);
    Partition& c = hv_->create_partition("c", 1 << 19, 1, b.id, false);
    EXPECT_EQ(b.parent, a.id);
    EXPECT_EQ(c.parent, b.id);
    EXPECT_TRUE(b.cpuid.privileges & spec::privilege::kCreatePartitions);
    EXPECT_FALSE(c.cpuid.privileges & spec::privilege::kCreatePartitions);
    Partition& other = hv_->create_partition("other", 1 << 19);
    uint64_t other_pages = hv_->system_pages().pages_of(other.id);
    hv_->delete_partition(a.id);
    EXPECT_EQ(hv_->partitions().size(), 1u);
    EXPECT_EQ(hv_->system_pages().pages_of(other.id), other_pages);
    hv_->delete_partition(other.id);
  }
  EXPECT_EQ(hv_->system_pages().free_pages(), free0);
  EXPECT_THROW(hv_->delete_partition(1), InputError);
  EXPECT_THROW(hv_->create_partition("x", 1 << 20, 1, 42, false), InputError);
}

TEST_F(RootTest, ADeletedCurrentVpNeverRunsAgain) {
  make();
  // A halts after writing 'A'; it is the current VP of the processor when deleted.
  Partition& a = partition({0xB0, 'A', 0xE6, 0xE9, 0xF4}, {0, 0}, "a");
  Partition& pending = partition({0xB0, 'P', 0xE6, 0xE9, 0xF4}, {0, 0}, "pending");
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  EXPECT_EQ(log_.out, "AP");
  hv_->set_vp_state(a, 0, flat32());
  a.vps[0].halted = false;
  hv_->delete_partition(pending.id);
  hv_->delete_partition(a.id);
  Partition& b = partition({0xB0, 'B', 0xE6, 0xE9, 0xF4}, {0, 0}, "b");
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  EXPECT_EQ(log_.out, "APB");
  EXPECT_FALSE(b.crashed) << b.crash_reason;
}

TEST_F(RootTest, DeleteIsRefusedWhileTheVpIsInTheGuest) {
  make();
  Partition& spin = partition({0xEB, 0xFE}, {0, 0}, "spin");  // jmp $
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  EXPECT_FALSE(hv_->deletable(spin));
  EXPECT_THROW(hv_->delete_partition(spin.id), InputError);
}

/// The root's SynIC on with SINT0 masked (its slot only), and a child of the root with a VP
/// and the root's page 0x60 lent at its GPA 0x1000 holding `prog` (real mode); its id.
uint64_t RootTest::intercept_child(Partition& root, const std::vector<uint8_t>& prog) {
  Synic& synic = *root.vps[0].synic;
  EXPECT_TRUE(synic.write_msr(0x40000083, 0x10000 | 1));     // SIMP
  EXPECT_TRUE(synic.write_msr(0x40000080, 1));               // SCONTROL
  EXPECT_TRUE(synic.write_msr(spec::sint_msr(0), 0x10040));  // SINT0, masked: the slot only
  EXPECT_TRUE(hv_->write_guest(root, 0x60000, prog.data(), prog.size()));
  uint64_t id = child(root);
  EXPECT_EQ(status(call(root, kCreateVp, {id, 0, 0, 0, 0})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(status(call(root, rep(kMap, 1), {id, 1, 7, 0x60})), HvStatus::HV_STATUS_SUCCESS);
  return id;
}

TEST_F(RootTest, CpuidInterceptReachesTheParentsSint0) {
  make();
  Partition& root = caller("root", true);
  Synic& synic = *root.vps[0].synic;
  // The child: mov eax, 0x1234; cpuid; hlt.
  uint64_t id = intercept_child(root, {0x66, 0xB8, 0x34, 0x12, 0x00, 0x00, 0x0F, 0xA2, 0xF4});
  // Only CPUID (type 2) with execute access; the leaf as the parameter.
  EXPECT_EQ(status(call(root, kIntercept, {id, 4 | (0ull << 32), 0x1234})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kIntercept, {id, 1 | (2ull << 32), 0x1234})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kIntercept, {id, 4 | (2ull << 32), 0x1234})),
            HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(
      status(call(root, rep(kSetRegs, 2),
                  {id, 0, 0x00060001, 0, 0, 0xFFFF | (0x9Bull << 48), 0x00020010, 0, 0x1000, 0})),
      HvStatus::HV_STATUS_SUCCESS);
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  spec::HvMessage m;
  mem_.read(synic.message_page(), &m, sizeof m);
  EXPECT_EQ(m.header.message_type,
            static_cast<uint32_t>(spec::HvMessageType::HvMessageTypeX64CpuidIntercept));
  // Header: VP index, instruction length, ..., RIP at 24; RAX as given at 40.
  EXPECT_EQ(m.payload[3], 0x1006u);
  EXPECT_EQ(m.payload[5], 0x1234u);
  EXPECT_EQ((m.payload[0] >> 32) & 0xFF, 2u) << "CPUID is 2 bytes";
}

TEST_F(RootTest, IoPortInterceptReachesTheParentsSint0) {
  make();
  Partition& root = caller("root", true);
  Synic& synic = *root.vps[0].synic;
  // The child: mov al, 'X'; out 0xE9, al; in al, 0xE9; out 0x80, al; hlt.
  uint64_t id = intercept_child(root, {0xB0, 'X', 0xE6, 0xE9, 0xE4, 0xE9, 0xE6, 0x80, 0xF4});
  // Type 0 (I/O port): read and/or write access only, a 16-bit port.
  EXPECT_EQ(status(call(root, kIntercept, {id, 4 | (0ull << 32), 0xE9})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kIntercept, {id, 3 | (0ull << 32), 0x10000})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kIntercept, {id, 3 | (0ull << 32), 0xE9})),
            HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(
      status(call(root, rep(kSetRegs, 2),
                  {id, 0, 0x00060001, 0, 0, 0xFFFF | (0x9Bull << 48), 0x00020010, 0, 0x1000, 0})),
      HvStatus::HV_STATUS_SUCCESS);
  hv_->advance(0, cpu_->local_time() + kPicosPerMilli);
  EXPECT_EQ(log_.out, "X") << "the access itself is done as usual";
  // The OUT's message in the slot, the IN's waiting (MessagePending); port 0x80 is not
  // intercepted.
  spec::HvMessage m;
  mem_.read(synic.message_page(), &m, sizeof m);
  EXPECT_EQ(m.header.message_type,
            static_cast<uint32_t>(spec::HvMessageType::HvMessageTypeX64IoPortIntercept));
  EXPECT_EQ(m.header.message_flags & 1, 1) << "the IN's message waits";
  EXPECT_EQ((m.payload[0] >> 40) & 0xFF, 1u) << "write access";
  EXPECT_EQ(m.payload[3], 0x1002u) << "RIP of the OUT";
  EXPECT_EQ(m.payload[5] & 0xFFFF, 0xE9u) << "port";
  EXPECT_EQ((m.payload[5] >> 16) & 0xFF, 1u) << "one byte";
  EXPECT_EQ(m.payload[6] & 0xFF, static_cast<uint64_t>('X')) << "RAX";
  EXPECT_EQ(synic.pending(0), 1u);
}

TEST_F(RootTest, PortsForItselfAndItsChildren) {
  make();
  Partition& plain = caller("plain", false);
  // hv_input_create_port: partition, port id, VTLs, connection partition, type (1 message,
  // 2 event), SINT | VP << 32, base flag | count << 16, proximity.
  EXPECT_EQ(status(call(plain, kCreatePort, {plain.id, 7, plain.id, 1, 2, 0, 0})),
            HvStatus::HV_STATUS_ACCESS_DENIED);
  Partition& root = caller("root", true);
  uint64_t id = child(root);
  Partition& c = *hv_->partition_by_id(static_cast<PartitionId>(id));
  EXPECT_EQ(status(call(root, kCreatePort, {root.id, 7, id, 1, 2, 0, 0})),
            HvStatus::HV_STATUS_SUCCESS);
  const Port* port = hv_->ports().port(7);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->partition, root.id);
  EXPECT_EQ(port->sint, 2u);
  EXPECT_EQ(status(call(root, kCreatePort, {root.id, 7, id, 1, 2, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PORT_ID);
  EXPECT_EQ(status(call(root, kCreatePort, {plain.id, 8, id, 1, 2, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARTITION_ID);
  EXPECT_EQ(status(call(root, kCreatePort, {root.id, 8, id, 3, 2, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kCreatePort, {root.id, 8, id, 1, 16, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(root, kCreatePort, {root.id, 8, id, 2, 3 | (1ull << 32), 0, 0})),
            HvStatus::HV_STATUS_INVALID_VP_INDEX);
  EXPECT_EQ(status(call(root, kCreatePort, {root.id, 8, id, 2, 3, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARAMETER)
      << "an event port with no flags";
  // hv_input_connect_port: sender, connection id, port partition, port id, type.
  EXPECT_EQ(status(call(root, kConnectPort, {id, 5, root.id, 7, 1, 0, 0, 0})),
            HvStatus::HV_STATUS_SUCCESS);
  ASSERT_NE(hv_->ports().connection(c.id, 5), nullptr);
  EXPECT_EQ(*hv_->ports().connection(c.id, 5), 7u);
  EXPECT_EQ(status(call(root, kConnectPort, {id, 5, root.id, 7, 1, 0, 0, 0})),
            HvStatus::HV_STATUS_INVALID_CONNECTION_ID);
  EXPECT_EQ(status(call(root, kConnectPort, {id, 6, root.id, 9, 1, 0, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PORT_ID);
  EXPECT_EQ(status(call(root, kConnectPort, {id, 6, root.id, 7, 2, 0, 0, 0})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  // The child's deletion takes its connection with it; the root's port stays.
  EXPECT_EQ(status(call(root, kDelete, {id})), HvStatus::HV_STATUS_SUCCESS);
  EXPECT_EQ(hv_->ports().connection(static_cast<PartitionId>(id), 5), nullptr);
  EXPECT_NE(hv_->ports().port(7), nullptr);
}

// Host ports (docs/hv.md "Host ports"): a partition's HvCallPostMessage and
// HvCallSignalEvent on a connection bound to a host port reach the host handler, whose
// status is the call's; checkpoints save host ports as ports, and their owner binds the
// handlers again (bind_host_port).
TEST_F(RootTest, HostPortsHandOnMessagesAndEventsToTheHost) {
  make();
  Partition& p = caller("guest", false);
  std::vector<HostDelivery> got;
  std::vector<std::vector<uint8_t>> payloads;
  auto handler = [&](const HostDelivery& d) {
    got.push_back(d);
    payloads.emplace_back(d.payload, d.payload + d.size);
    return d.event && d.flag == 5 ? HvStatus::HV_STATUS_INSUFFICIENT_BUFFERS
                                  : HvStatus::HV_STATUS_SUCCESS;
  };
  uint32_t messages = hv_->create_host_port(handler);
  uint32_t events = hv_->create_host_port(handler);
  EXPECT_EQ(messages, 0xFFFFFFu);
  EXPECT_EQ(events, 0xFFFFFEu);
  EXPECT_EQ(hv_->ports().port(messages)->type, PortType::kHost);
  hv_->connect(p, 1, messages);
  hv_->connect(p, 0x2001, events);
  constexpr uint64_t kPost = 0x5C, kSignal = 0x5D;
  // HV_INPUT_POST_MESSAGE: connection id, reserved, type, payload size, payload.
  EXPECT_EQ(status(call(p, kPost, {1, 1 | (16ull << 32), 0x1122334455667788, 42})),
            HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sender, &p);
  EXPECT_EQ(got[0].connection_id, 1u);
  EXPECT_FALSE(got[0].event);
  EXPECT_EQ(got[0].message_type, 1u);
  ASSERT_EQ(payloads[0].size(), 16u);
  EXPECT_EQ(payloads[0][0], 0x88);
  EXPECT_EQ(payloads[0][8], 42);
  // The hypervisor's own message types and oversized payloads never reach the host.
  EXPECT_EQ(status(call(p, kPost, {1, 0x80000000u | (16ull << 32)})),
            HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(status(call(p, kPost, {1, 1 | (241ull << 32)})), HvStatus::HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(got.size(), 1u);
  // HV_INPUT_SIGNAL_EVENT: connection id, flag number; the handler's status comes back.
  EXPECT_EQ(status(call(p, kSignal, {0x2001 | (3ull << 32)})), HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[1].event);
  EXPECT_EQ(got[1].flag, 3u);
  EXPECT_EQ(got[1].connection_id, 0x2001u);
  EXPECT_EQ(status(call(p, kSignal, {0x2001 | (5ull << 32)})),
            HvStatus::HV_STATUS_INSUFFICIENT_BUFFERS);
  EXPECT_EQ(status(call(p, kSignal, {0x2001 | (1ull << 48)})),
            HvStatus::HV_STATUS_INVALID_PARAMETER)
      << "reserved bits";
  // Only create_host_port makes host ports; a bound one cannot be bound again, and only host
  // ports can be bound at all.
  Port bad;
  bad.id = 5;
  bad.type = PortType::kHost;
  EXPECT_THROW(hv_->create_port(bad), InputError);
  EXPECT_TRUE(hv_->unbound_host_ports().empty());
  EXPECT_THROW(hv_->bind_host_port(messages, handler), InputError);
  EXPECT_THROW(hv_->bind_host_port(0x1234, handler), InputError);
  // Checkpoints save them with the other ports (hv.ports): the table restores with both.
  StateWriter w;
  hv_->save(w);
  PortTable restored;
  StateReader r(w.finish(), "test");
  restored.restore(r, "hv.ports");
  ASSERT_NE(restored.port(messages), nullptr);
  EXPECT_EQ(restored.port(messages)->type, PortType::kHost);
  EXPECT_EQ(*restored.connection(p.id, 0x2001), events);
  hv_->delete_port(messages);
  hv_->delete_port(events);
  EXPECT_EQ(status(call(p, kPost, {1, 1 | (8ull << 32)})), HvStatus::HV_STATUS_INVALID_PORT_ID);
  EXPECT_EQ(got.size(), 3u);
  hv_->disconnect(p, 1);
  EXPECT_EQ(status(call(p, kPost, {1, 1 | (8ull << 32)})),
            HvStatus::HV_STATUS_INVALID_CONNECTION_ID);
  StateWriter w2;
  hv_->save(w2);
}

}  // namespace
}  // namespace hvsim::hv
