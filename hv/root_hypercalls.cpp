// The root partition's hypercalls (partition management; dossier §3.7, TLFS hypercalls/
// HvCallCreatePartition.md ... HvCallAssertVirtualInterrupt.md): a partition holding
// CreatePartitions creates, initializes and deletes child partitions, gives them virtual
// processors, lends them its own pages (HvCallMapGpaPages / HvCallUnmapGpaPages), sets and
// reads their VPs' registers and asserts interrupts at them. The target partition of every
// call must be a child of the caller (else HV_STATUS_INVALID_PARTITION_ID).
//
// Memory: HvCallMapGpaPages moves ownership of the caller's page to the child (the page
// leaves the caller's GPA space while lent), so no system page is ever mapped in two
// partitions; unmap or the child's deletion gives it back at the GPA it came from.
// HvCallCreatePort / HvCallConnectPort (Linux hvhdk.h hv_input_create_port,
// hv_input_connect_port) go to the PortTable of hv/ports.h for the caller or a child.
// HvCallInstallIntercept takes I/O port (type 0) and CPUID intercepts (type 2): a
// notification after the access (port I/O by IN/OUT), the child's CPUID
// is answered as usual and the parent's VP 0 gets an HvMessageTypeX64CpuidIntercept message
// at SINT0 (TLFS HV_X64_CPUID_INTERCEPT_MESSAGE). Other intercept types: INVALID_PARAMETER.
// Not implemented here (answer HV_STATUS_INVALID_HYPERCALL_CODE): HvCallFinalizePartition
// and the others of §3.7.
#include <algorithm>
#include <cstring>

#include "hv/hypervisor.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

using spec::HvCallCode;
using spec::HvStatus;

namespace {

using C = HvCallCode;

/// The root calls, as the guest ones are described in hv/hypercall_abi.cpp (input sizes
/// from the dossier's layouts).
constexpr HypercallDescriptor kRootCalls[] = {
    {C::HvCallCreatePartition, false, false, false, 56, 0, 8, 0},
    {C::HvCallInitializePartition, false, false, true, 8, 0, 0, 0},
    {C::HvCallDeletePartition, false, false, true, 8, 0, 0, 0},
    {C::HvCallMapGpaPages, true, false, false, 24, 8, 0, 0},
    {C::HvCallUnmapGpaPages, true, false, false, 24, 0, 0, 0},
    {C::HvCallCreateVp, false, false, false, 40, 0, 0, 0},
    {C::HvCallGetVpRegisters, true, false, false, 16, 4, 0, 16},
    {C::HvCallSetVpRegisters, true, false, false, 16, 32, 0, 0},
    {C::HvCallAssertVirtualInterrupt, false, false, false, 32, 0, 0, 0},
    {C::HvCallInstallIntercept, false, false, false, 24, 0, 0, 0},
    {C::HvCallCreatePort, false, false, false, 56, 0, 0, 0},
    {C::HvCallConnectPort, false, false, false, 64, 0, 0, 0},
};

/// The privilege each root call needs (dossier §1.2): CreatePort and ConnectPort for the
/// port calls, CreatePartitions for the rest.
uint64_t required_privilege(HvCallCode code) {
  if (code == C::HvCallCreatePort) return spec::privilege::kCreatePort;
  if (code == C::HvCallConnectPort) return spec::privilege::kConnectPort;
  return spec::privilege::kCreatePartitions;
}

/// HV_PORT_TYPE (Linux hvhdk.h): message and event ports are what hvsim's PortTable has.
constexpr uint32_t kHvPortTypeMessage = 1, kHvPortTypeEvent = 2;

/// Reps done per call before it returns to the guest with fewer reps completed than asked
/// (the guest re-issues from there; dossier §3.4): bounds the host time of one exit.
constexpr uint16_t kRepsPerCall = 64;

/// HV_REGISTER_NAME values of the x64 architectural registers (TLFS "Virtual Processor
/// Register Names"; the dossier marks them UNCONFIRMED: these are hvgdk.h's values).
constexpr uint32_t kRegRax = 0x00020000;  // .. R15 = 0x2000F in SDM GPR order
constexpr uint32_t kRegRip = 0x00020010, kRegRflags = 0x00020011;
constexpr uint32_t kRegCr0 = 0x00040000, kRegCr3 = 0x00040002, kRegCr4 = 0x00040003;
constexpr uint32_t kRegEs = 0x00060000;  // ES CS SS DS FS GS LDTR TR
constexpr uint32_t kRegIdtr = 0x00070000, kRegGdtr = 0x00070001;
constexpr uint32_t kRegEfer = 0x00080001;

/// One register of `s` as a 16-byte HV_REGISTER_VALUE; false for a name not in the subset.
bool get_register(const cpu::ArchState& s, uint32_t name, uint64_t v[2]) {
  v[0] = v[1] = 0;
  if (name >= kRegRax && name < kRegRax + 16) {
    v[0] = s.gpr[name - kRegRax];
  } else if (name == kRegRip) {
    v[0] = s.rip;
  } else if (name == kRegRflags) {
    v[0] = s.rflags;
  } else if (name == kRegCr0) {
    v[0] = s.cr0;
  } else if (name == kRegCr3) {
    v[0] = s.cr3;
  } else if (name == kRegCr4) {
    v[0] = s.cr4;
  } else if (name == kRegEfer) {
    v[0] = s.efer;
  } else if (name >= kRegEs && name < kRegEs + 8) {
    // HV_X64_SEGMENT_REGISTER: u64 base, u32 limit, u16 selector, u16 attributes.
    unsigned k = name - kRegEs;
    const cpu::SegReg& r = k < cpu::kNumSegs ? s.seg[k] : k == 6 ? s.ldtr : s.tr;
    v[0] = r.base;
    v[1] = r.limit | (uint64_t{r.selector} << 32) | (uint64_t{r.attr & 0xFFFF} << 48);
  } else if (name == kRegIdtr || name == kRegGdtr) {
    // HV_X64_TABLE_REGISTER: u16 pad[3], u16 limit, u64 base.
    const cpu::TableReg& t = name == kRegIdtr ? s.idtr : s.gdtr;
    v[0] = uint64_t{t.limit} << 48;
    v[1] = t.base;
  } else {
    return false;
  }
  return true;
}

/// Sets one register of `s`; false for a name not in the subset.
bool set_register(cpu::ArchState& s, uint32_t name, const uint64_t v[2]) {
  uint64_t probe[2];
  if (!get_register(s, name, probe)) return false;
  if (name >= kRegRax && name < kRegRax + 16) {
    s.gpr[name - kRegRax] = v[0];
  } else if (name == kRegRip) {
    s.rip = v[0];
  } else if (name == kRegRflags) {
    s.rflags = v[0] | 2;
  } else if (name == kRegCr0) {
    s.cr0 = v[0];
  } else if (name == kRegCr3) {
    s.cr3 = v[0];
  } else if (name == kRegCr4) {
    s.cr4 = v[0];
  } else if (name == kRegEfer) {
    s.efer = v[0];
  } else if (name >= kRegEs && name < kRegEs + 8) {
    unsigned k = name - kRegEs;
    cpu::SegReg& r = k < cpu::kNumSegs ? s.seg[k] : k == 6 ? s.ldtr : s.tr;
    r.base = v[0];
    r.limit = static_cast<uint32_t>(v[1]);
    r.selector = static_cast<uint16_t>(v[1] >> 32);
    r.attr = static_cast<uint32_t>(v[1] >> 48);
  } else {
    cpu::TableReg& t = name == kRegIdtr ? s.idtr : s.gdtr;
    t.limit = static_cast<uint16_t>(v[0] >> 48);
    t.base = v[1];
  }
  return true;
}

/// The state a VP created by HvCallCreateVp has until its registers are set: the
/// architectural reset state (SDM 9.1.1), real mode at F000:FFF0.
cpu::ArchState reset_state() {
  cpu::ArchState s;
  s.cr0 = cpu::kCr0ET;
  for (int k = 0; k < cpu::kNumSegs; ++k) s.seg[k] = cpu::SegReg{0, 0, 0xFFFF, 0x93};
  s.seg[cpu::kCs] = cpu::SegReg{0xF000, 0xFFFF0000, 0xFFFF, 0x9B};
  s.gdtr = cpu::TableReg{0, 0xFFFF};
  s.idtr = cpu::TableReg{0, 0xFFFF};
  s.ldtr = cpu::SegReg{0, 0, 0xFFFF, 0x82};
  s.tr = cpu::SegReg{0, 0, 0xFFFF, 0x8B};
  s.rflags = 2;
  s.rip = 0xFFF0;
  return s;
}

}  // namespace

bool Hypervisor::root_hypercall(Pcpu&, Partition& p, const HypercallInput& in,
                                const HypercallRegisters& regs, HvStatus* status, uint16_t* reps) {
  const HypercallDescriptor* desc = nullptr;
  for (const HypercallDescriptor& d : kRootCalls)
    if (static_cast<uint16_t>(d.code) == in.call_code) desc = &d;
  if (!desc) return false;
  *reps = 0;
  auto done = [&](HvStatus st) {
    *status = st;
    return true;
  };
  // One rule for every call: the input value first, then the privilege the call needs
  // (required_privilege), then the blocks and the target.
  HvStatus st = validate_input(in, desc);
  if (st != HvStatus::HV_STATUS_SUCCESS) return done(st);
  if (!(p.cpuid.privileges & required_privilege(desc->code)))
    return done(HvStatus::HV_STATUS_ACCESS_DENIED);
  if (!in.fast) {
    st = check_memory_blocks(regs, in, *desc, GpaSpace::kGpaBits);
    if (st != HvStatus::HV_STATUS_SUCCESS) return done(st);
  }
  // The input block: registers for a fast call, else read from the caller's memory (a GPA
  // without memory is outside its space: INVALID_ALIGNMENT, as for the guest calls).
  uint8_t input[kPageSize] = {};  // check_memory_blocks: a block lies within one page
  uint32_t in_bytes = input_block_bytes(in, *desc);
  if (in.fast) {
    std::memcpy(input, &regs.rdx, 8);
    std::memcpy(input + 8, &regs.r8, 8);
  } else if (!read_guest(p, regs.input_gpa(), input, std::min<uint32_t>(in_bytes, sizeof input))) {
    return done(HvStatus::HV_STATUS_INVALID_ALIGNMENT);
  }
  auto u64 = [&](unsigned off) {
    uint64_t v;
    std::memcpy(&v, input + off, 8);
    return v;
  };
  auto u32 = [&](unsigned off) {
    uint32_t v;
    std::memcpy(&v, input + off, 4);
    return v;
  };
  auto code = static_cast<HvCallCode>(in.call_code);
  if (code == C::HvCallCreatePartition) {
    // Flags the dossier names (EXO, LAPIC, intercept message page, x2APIC) are accepted;
    // the isolation properties are RsvdZ for hvsim.
    if (u64(48)) return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
    if (pages_.free_pages() < 16) return done(HvStatus::HV_STATUS_INSUFFICIENT_MEMORY);
    Partition& c = new_partition(p.name + "." + std::to_string(next_id_), p.id, false);
    c.initialized = false;
    uint64_t id = c.id;
    if (!write_guest(p, regs.output_gpa(), &id, 8)) {
      delete_partition(c.id);
      return done(HvStatus::HV_STATUS_INVALID_ALIGNMENT);
    }
    return done(HvStatus::HV_STATUS_SUCCESS);
  }
  // The port calls name the caller itself or one of its children.
  auto self_or_child = [&](uint64_t id) -> Partition* {
    Partition* q = id >> 32 ? nullptr : partition_by_id(static_cast<PartitionId>(id));
    return q && (q == &p || q->parent == p.id) ? q : nullptr;
  };
  if (code == C::HvCallCreatePort) {
    // hv_input_create_port: 0 port partition, 8 port id, 12 port VTL, 13 minimum connection
    // VTL, 16 connection partition, 24 port type, 32 target SINT, 36 target VP, 40 base flag,
    // 42 flag count, 44 RsvdZ, 48 proximity domain.
    Partition* owner = self_or_child(u64(0));
    if (!owner || !self_or_child(u64(16))) return done(HvStatus::HV_STATUS_INVALID_PARTITION_ID);
    uint32_t type = u32(24);
    if (input[12] || input[13] || u32(44) ||
        (type != kHvPortTypeMessage && type != kHvPortTypeEvent))
      return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
    Port port;
    port.id = u32(8);
    port.type = type == kHvPortTypeMessage ? PortType::kMessage : PortType::kEvent;
    port.partition = owner->id;
    port.sint = u32(32);
    port.vp = u32(36);
    uint16_t base, count;
    std::memcpy(&base, input + 40, 2);
    std::memcpy(&count, input + 42, 2);
    port.base_flag = base;
    port.flag_count = count;
    if (port.vp >= owner->vps.size()) return done(HvStatus::HV_STATUS_INVALID_VP_INDEX);
    switch (ports_.create_port(port)) {
      case PortError::kOk: return done(HvStatus::HV_STATUS_SUCCESS);
      case PortError::kBadId:
      case PortError::kIdInUse: return done(HvStatus::HV_STATUS_INVALID_PORT_ID);
      default: return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
    }
  }
  if (code == C::HvCallConnectPort) {
    // hv_input_connect_port: 0 connection partition, 8 connection id, 12 VTL, 16 port
    // partition, 24 port id, 28 RsvdZ, 32 port type, 36.. connection info.
    Partition* sender = self_or_child(u64(0));
    Partition* owner = self_or_child(u64(16));
    if (!sender || !owner) return done(HvStatus::HV_STATUS_INVALID_PARTITION_ID);
    if (input[12] || u32(28)) return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
    uint32_t connection_id = u32(8), port_id = u32(24);
    const Port* port = ports_.port(port_id);
    if (!port || port->partition != owner->id) return done(HvStatus::HV_STATUS_INVALID_PORT_ID);
    uint32_t want = port->type == PortType::kMessage ? kHvPortTypeMessage : kHvPortTypeEvent;
    if (u32(32) != want) return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
    switch (ports_.connect(sender->id, connection_id, port_id)) {
      case PortError::kOk: return done(HvStatus::HV_STATUS_SUCCESS);
      case PortError::kNoSuchPort: return done(HvStatus::HV_STATUS_INVALID_PORT_ID);
      default: return done(HvStatus::HV_STATUS_INVALID_CONNECTION_ID);
    }
  }
  // Every other call names a child of the caller first.
  Partition* child = partition_by_id(static_cast<PartitionId>(u64(0)));
  if (!child || child->parent != p.id || u64(0) >> 32)
    return done(HvStatus::HV_STATUS_INVALID_PARTITION_ID);
  auto flush = [&] {
    invept_all(child->gpa->eptp());
    invept_all(p.gpa->eptp());
  };
  switch (code) {
    case C::HvCallInitializePartition:
      if (child->initialized) return done(HvStatus::HV_STATUS_INVALID_PARTITION_STATE);
      child->initialized = true;
      return done(HvStatus::HV_STATUS_SUCCESS);
    case C::HvCallDeletePartition:
      if (!deletable(*child)) return done(HvStatus::HV_STATUS_INVALID_PARTITION_STATE);
      delete_partition(child->id);
      return done(HvStatus::HV_STATUS_SUCCESS);
    case C::HvCallCreateVp: {
      if (!child->initialized) return done(HvStatus::HV_STATUS_INVALID_PARTITION_STATE);
      // VP indexes are dense: the next one (at most 64, as create_partition allows).
      if (u32(8) != child->vps.size() || child->vps.size() >= 64)
        return done(HvStatus::HV_STATUS_INVALID_VP_INDEX);
      if (input[12] || input[13] || input[14] || (input[15] & 0x7F))
        return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
      if (!add_vp(*child)) return done(HvStatus::HV_STATUS_INSUFFICIENT_MEMORY);
      // It stays stopped (as an application processor before its start-up IPI) until the
      // parent's first HvCallSetVpRegisters gives it a state to start from.
      VirtualProcessor& vp = child->vps.back();
      vp.waiting_for_sipi = true;
      vp.apic->set_waiting_for_sipi(true);
      return done(HvStatus::HV_STATUS_SUCCESS);
    }
    case C::HvCallMapGpaPages:
    case C::HvCallUnmapGpaPages: {
      bool map = code == C::HvCallMapGpaPages;
      uint64_t base = u64(8);
      uint32_t flags = u32(16);
      // MapFlags: R (required), W, kernel-X, user-X; UnmapFlags: none (no large pages).
      if (map ? ((flags & ~0xFu) || !(flags & 1)) : flags != 0)
        return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
      uint8_t rwx = static_cast<uint8_t>(1 | (flags & 2) | ((flags & 0xC) ? 4 : 0));
      uint16_t i = in.rep_start_index;
      uint16_t stop = static_cast<uint16_t>(std::min<uint32_t>(in.rep_count, i + kRepsPerCall));
      st = HvStatus::HV_STATUS_SUCCESS;
      for (; i < stop; ++i) {
        uint64_t tgpa = (base + i) << 12;
        if (((base + i) >> (GpaSpace::kGpaBits - 12)) != 0) {
          st = HvStatus::HV_STATUS_INVALID_PARAMETER;
          break;
        }
        if (map) {
          uint64_t sgpn = u64(24 + 8 * i);
          uint64_t sgpa = sgpn << 12;
          std::optional<uint64_t> spa =
              (sgpn >> (GpaSpace::kGpaBits - 12)) ? std::nullopt : p.gpa->translate(sgpa);
          // Only pages the caller owns: not an overlay, not a page lent to it by its parent.
          if (!spa || pages_.owner(*spa) != p.id || p.lent.count(sgpa) ||
              child->gpa->translate(tgpa)) {
            st = HvStatus::HV_STATUS_INVALID_PARAMETER;
            break;
          }
          p.gpa->unmap(sgpa);
          pages_.transfer(*spa, p.id, child->id);
          if (child->gpa->map(tgpa, *spa, rwx) != MapError::kOk) {  // no page for a table
            pages_.transfer(*spa, child->id, p.id);
            p.gpa->map(sgpa, *spa, 7);
            st = HvStatus::HV_STATUS_INSUFFICIENT_MEMORY;
            break;
          }
          child->lent[tgpa] = Partition::Lent{sgpa, *spa};
        } else {
          auto it = child->lent.find(tgpa);
          if (it == child->lent.end() || p.gpa->translate(it->second.parent_gpa)) {
            st = HvStatus::HV_STATUS_INVALID_PARAMETER;
            break;
          }
          uint64_t spa = 0;
          child->gpa->unmap(tgpa, &spa);
          pages_.transfer(spa, child->id, p.id);
          p.gpa->map(it->second.parent_gpa, spa, 7);
          child->lent.erase(it);
        }
      }
      flush();
      *reps = i;
      return done(st);
    }
    case C::HvCallGetVpRegisters:
    case C::HvCallSetVpRegisters: {
      uint32_t vpi = u32(8);
      if (u32(12)) return done(HvStatus::HV_STATUS_INVALID_PARAMETER);  // InputVtl, RsvdZ
      if (vpi >= child->vps.size()) return done(HvStatus::HV_STATUS_INVALID_VP_INDEX);
      VirtualProcessor& vp = child->vps[vpi];
      // Before the VP's first run: the state it will start from. After: its VMCS and
      // registers, reachable unless its physical CPU is running a guest right now (another
      // processor, mid-slice): then INVALID_VP_STATE, and the parent tries again.
      bool started = vp.vmcs_ready && !vp.pending_state;
      cpu::ArchState s = vp.pending_state ? *vp.pending_state : reset_state();
      if (started && !read_vp_state(vp, &s)) return done(HvStatus::HV_STATUS_INVALID_VP_STATE);
      bool set = code == C::HvCallSetVpRegisters;
      uint16_t i = in.rep_start_index;
      st = HvStatus::HV_STATUS_SUCCESS;
      for (; i < in.rep_count; ++i) {
        uint64_t v[2];
        if (set) {
          unsigned off = 16 + 32 * i;
          v[0] = u64(off + 16);
          v[1] = u64(off + 24);
          if (u32(off + 4) || u64(off + 8) || !set_register(s, u32(off), v)) {
            st = HvStatus::HV_STATUS_INVALID_PARAMETER;
            break;
          }
        } else {
          if (!get_register(s, u32(16 + 4 * i), v) ||
              !write_guest(p, regs.output_gpa() + 16 * i, v, 16)) {
            st = HvStatus::HV_STATUS_INVALID_PARAMETER;
            break;
          }
        }
      }
      if (set && i > in.rep_start_index && started) {
        if (!write_vp_state(vp, s)) st = HvStatus::HV_STATUS_INVALID_VP_STATE;
      } else if (set && i > in.rep_start_index) {
        vp.pending_state = std::make_unique<cpu::ArchState>(s);
        vp.waiting_for_sipi = false;  // starts from this state
        vp.apic->set_waiting_for_sipi(false);
        // The VP now waits for a turn: a turn that began without anyone waiting (no end)
        // gets one, and a kick makes the running VP see it.
        Pcpu& pc = pcpus_[vp.pcpu];
        if (pc.slice_end == ~0ull) pc.slice_end = pc.cpu->cycles() + slice_cycles_;
        kick(pc, pc.cpu->cycles());
      }
      *reps = i;
      return done(st);
    }
    case C::HvCallInstallIntercept: {
      // 8 AccessType mask, 12 InterceptType (0: I/O port, 2: CPUID), 16 parameter (the
      // port, or the CPUID leaf).
      constexpr uint32_t kInterceptTypeIoPort = 0, kInterceptTypeCpuid = 2;
      constexpr uint32_t kAccessRead = 1, kAccessWrite = 2, kAccessExecute = 4;
      if (u32(12) == kInterceptTypeIoPort) {
        uint32_t access = u32(8);
        if (!access || (access & ~(kAccessRead | kAccessWrite)) || (u64(16) >> 16))
          return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
        child->io_intercepts[static_cast<uint16_t>(u64(16))] |= static_cast<uint8_t>(access);
        return done(HvStatus::HV_STATUS_SUCCESS);
      }
      if (u32(12) != kInterceptTypeCpuid || (u32(8) & ~kAccessExecute) || (u64(16) >> 32))
        return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
      auto leaf = static_cast<uint32_t>(u64(16));
      std::vector<uint32_t>& v = child->cpuid_intercepts;
      auto at = std::lower_bound(v.begin(), v.end(), leaf);
      if (at == v.end() || *at != leaf) v.insert(at, leaf);
      return done(HvStatus::HV_STATUS_SUCCESS);
    }
    case C::HvCallAssertVirtualInterrupt: {
      // Fixed interrupts, edge-triggered, physical destination = the VP index (hvsim's
      // APIC ids), VTL 0.
      uint32_t type = u32(8), control = u32(12);
      uint64_t dest = u64(16);
      uint32_t vector = u32(24);
      if (type != 0 || control != 0 || vector < 16 || vector > 255 || input[28] || input[29] ||
          input[30] || input[31])
        return done(HvStatus::HV_STATUS_INVALID_PARAMETER);
      if (dest >= child->vps.size()) return done(HvStatus::HV_STATUS_INVALID_VP_INDEX);
      assert_interrupt(*child, static_cast<uint32_t>(dest), static_cast<uint8_t>(vector));
      return done(HvStatus::HV_STATUS_SUCCESS);
    }
    default: return done(HvStatus::HV_STATUS_INVALID_HYPERCALL_CODE);
  }
}

void Hypervisor::io_intercepted(Pcpu& pc, Partition& p, const VirtualProcessor& vp,
                                const cpu::vmx::ExitInfo& e) {
  // Port I/O exit qualification (SDM Table 28-5): size - 1 in 2:0, IN in 3, string 4, REP
  // 5, port 31:16. INS/OUTS are emulated elsewhere and are not reported here.
  uint64_t q = e.qualification;
  auto port = static_cast<uint16_t>(q >> 16);
  bool in = q & 8;
  auto it = p.io_intercepts.find(port);
  if (it == p.io_intercepts.end() || !(it->second & (in ? 1 : 2))) return;
  Partition* parent = partition_by_id(p.parent);
  if (!parent || parent->vps.empty()) return;
  // HV_X64_IO_PORT_INTERCEPT_MESSAGE: the intercept header (as for CPUID), the port, the
  // access (size, string, REP), the instruction length, RAX after the access; then the
  // instruction bytes, DS and ES, RCX, RSI, RDI, which a port access by IN/OUT leaves 0.
  cpu::vmx::VmxApi& api = *pc.api;
  uint8_t m[128] = {};
  auto put = [&](unsigned off, uint64_t v, unsigned n) { std::memcpy(m + off, &v, n); };
  put(0, vp.index, 4);
  put(4, e.instruction_length, 1);
  put(5, in ? 0 : 1, 1);  // HV_INTERCEPT_ACCESS_READ / WRITE
  put(8, api.read(cpu::vmx::VmcsField::GUEST_CS_BASE), 8);
  put(16, api.read(cpu::vmx::VmcsField::GUEST_CS_LIMIT), 4);
  put(20, api.read(cpu::vmx::VmcsField::GUEST_CS_SELECTOR), 2);
  put(22, api.read(cpu::vmx::VmcsField::GUEST_CS_ACCESS_RIGHTS), 2);
  put(24, api.read(cpu::vmx::VmcsField::GUEST_RIP), 8);
  put(32, api.read(cpu::vmx::VmcsField::GUEST_RFLAGS), 8);
  put(40, port, 2);
  put(42, (q & 7) + 1, 1);  // access size; string and REP bits stay 0
  put(43, e.instruction_length, 1);
  put(48, pc.cpu->state().gpr[cpu::kRax], 8);
  post_message(*parent, 0, spec::sint::kInterceptSint,
               static_cast<uint32_t>(spec::HvMessageType::HvMessageTypeX64IoPortIntercept), m,
               sizeof m);
}

void Hypervisor::cpuid_intercepted(Pcpu& pc, Partition& p, const VirtualProcessor& vp,
                                   const cpu::vmx::ExitInfo& e, const uint64_t in[4]) {
  auto leaf = static_cast<uint32_t>(in[0]);
  if (!std::binary_search(p.cpuid_intercepts.begin(), p.cpuid_intercepts.end(), leaf)) return;
  Partition* parent = partition_by_id(p.parent);
  if (!parent || parent->vps.empty()) return;
  // HV_X64_INTERCEPT_MESSAGE_HEADER (VP index, instruction length, access type, execution
  // state, CS as HV_X64_SEGMENT_REGISTER, RIP, RFLAGS), then RAX RCX RDX RBX as the guest
  // gave them and the results it gets.
  cpu::vmx::VmxApi& api = *pc.api;
  uint8_t m[104] = {};
  auto put = [&](unsigned off, uint64_t v, unsigned n) { std::memcpy(m + off, &v, n); };
  put(0, vp.index, 4);
  put(4, e.instruction_length, 1);
  put(5, 2, 1);  // HV_INTERCEPT_ACCESS_EXECUTE
  put(8, api.read(cpu::vmx::VmcsField::GUEST_CS_BASE), 8);
  put(16, api.read(cpu::vmx::VmcsField::GUEST_CS_LIMIT), 4);
  put(20, api.read(cpu::vmx::VmcsField::GUEST_CS_SELECTOR), 2);
  put(22, api.read(cpu::vmx::VmcsField::GUEST_CS_ACCESS_RIGHTS), 2);
  put(24, api.read(cpu::vmx::VmcsField::GUEST_RIP), 8);
  put(32, api.read(cpu::vmx::VmcsField::GUEST_RFLAGS), 8);
  const uint64_t* g = pc.cpu->state().gpr;
  for (unsigned k = 0; k < 4; ++k) put(40 + 8 * k, in[k], 8);
  const int out[4] = {cpu::kRax, cpu::kRcx, cpu::kRdx, cpu::kRbx};
  for (unsigned k = 0; k < 4; ++k) put(72 + 8 * k, g[out[k]], 8);
  // Undeliverable (the parent's SynIC off, its slot queue full): the message is dropped,
  // the child's CPUID is not held up.
  post_message(*parent, 0, spec::sint::kInterceptSint,
               static_cast<uint32_t>(spec::HvMessageType::HvMessageTypeX64CpuidIntercept), m,
               sizeof m);
}

}  // namespace hvsim::hv
