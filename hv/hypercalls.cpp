// Hypercalls (TLFS; spec/hyperv-interfaces.md §3): VMCALL from the hypercall page, the input
// value decoded and checked (hv/hypercall_abi.h), the call dispatched, the result in RAX.
// Implemented calls: HvCallSendSyntheticClusterIpi (hv/interrupts.cpp), HvCallNotifyLongSpinWait,
// HvCallFlushVirtualAddressSpace and HvCallFlushVirtualAddressList (they flush more than asked:
// every translation of the partition's VPs, which the TLFS allows), HvCallPostMessage and
// HvCallSignalEvent (TLFS hypercalls/HvCallPostMessage.md, HvCallSignalEvent.md; dossier §3.6,
// §4.7). Other codes answer HV_STATUS_INVALID_HYPERCALL_CODE, as a hypervisor that does not offer a
// call does.
#include <cstring>
#include "cpu/spec/descriptors.h"
#include "cpu/vmx/spec/ept.h"

#include "hv/hypercall_abi.h"
#include "hv/hypervisor.h"

namespace hvsim::hv {

using cpu::vmx::VmcsField;
using F = VmcsField;
using spec::HvCallCode;
using spec::HvStatus;

void Hypervisor::handle_hypercall(Pcpu& pc, Partition& p, const cpu::vmx::ExitInfo& e) {
  (void)e;
  cpu::vmx::VmxApi& api = *pc.api;
  cpu::ArchState& s = pc.cpu->state();
  // 64-bit callers pass the input value in RCX, GPAs or fast data in RDX and R8; 32-bit
  // callers in EDX:EAX, EBX:ECX and EDI:ESI, and get the result in EDX:EAX (TLFS).
  bool long64 = (api.read(F::GUEST_IA32_EFER) & cpu::kEferLMA) &&
                (api.read(F::GUEST_CS_ACCESS_RIGHTS) & cpu::spec::kAttrL);
  auto pair = [&](int hi, int lo) { return (s.gpr[hi] << 32) | static_cast<uint32_t>(s.gpr[lo]); };
  HypercallRegisters regs;
  regs.rcx = long64 ? s.gpr[cpu::kRcx] : pair(cpu::kRdx, cpu::kRax);
  regs.rdx = long64 ? s.gpr[cpu::kRdx] : pair(cpu::kRbx, cpu::kRcx);
  regs.r8 = long64 ? s.gpr[cpu::kR8] : pair(cpu::kRdi, cpu::kRsi);
  HypercallInput in = decode_input(regs.rcx);
  uint32_t caller_vp = pc.current != Pcpu::kNone ? pc.runq[pc.current].vp : 0;
  const HypercallDescriptor* desc = guest_call_descriptor(in.call_code);
  auto code = static_cast<HvCallCode>(in.call_code);
  bool implemented =
      code == HvCallCode::HvCallNotifyLongSpinWait ||
      code == HvCallCode::HvCallFlushVirtualAddressSpace ||
      code == HvCallCode::HvCallFlushVirtualAddressList || code == HvCallCode::HvCallPostMessage ||
      code == HvCallCode::HvCallSignalEvent || code == HvCallCode::HvCallSendSyntheticClusterIpi;
  // Root calls (partition management, dossier §3.7) are in hv/root_hypercalls.cpp.
  HvStatus status = HvStatus::HV_STATUS_SUCCESS;
  uint16_t reps = 0;
  bool root_call = root_hypercall(pc, p, in, regs, &status, &reps);
  if (!root_call) {
    status = validate_input(in, implemented ? desc : nullptr);
    if (status == HvStatus::HV_STATUS_SUCCESS && !in.fast)
      status = check_memory_blocks(regs, in, *desc, GpaSpace::kGpaBits);
  }
  // The input block is read from the partition's own memory: a GPA it has no memory at is
  // outside its GPA space (HV_STATUS_INVALID_ALIGNMENT, as for addresses beyond the width).
  uint64_t header[3] = {0, 0, 0};  // flush calls: AddressSpace, Flags, ProcessorMask
  bool flush = code == HvCallCode::HvCallFlushVirtualAddressSpace ||
               code == HvCallCode::HvCallFlushVirtualAddressList;
  if (status == HvStatus::HV_STATUS_SUCCESS && flush) {
    if (in.fast) {
      header[0] = regs.rdx;
      header[1] = regs.r8;
    } else if (!read_guest(p, regs.rdx, header, sizeof header)) {
      status = HvStatus::HV_STATUS_INVALID_ALIGNMENT;
    }
    // Flags bits 0-3 are defined (dossier §3.6); the rest are reserved.
    if (status == HvStatus::HV_STATUS_SUCCESS && (header[1] & ~uint64_t{0xF}))
      status = HvStatus::HV_STATUS_INVALID_PARAMETER;
  }
  if (status == HvStatus::HV_STATUS_SUCCESS && !root_call) {
    switch (code) {
      case HvCallCode::HvCallNotifyLongSpinWait: break;  // a hint; nothing to schedule
      case HvCallCode::HvCallFlushVirtualAddressSpace:
      case HvCallCode::HvCallFlushVirtualAddressList:
        for (const VirtualProcessor& vp : p.vps)
          pcpus_[vp.pcpu].api->invvpid(
              static_cast<uint64_t>(cpu::vmx::spec::InvvpidType::kSingleContext), vp.vpid);
        reps = in.rep_count;
        break;
      case HvCallCode::HvCallPostMessage: status = post_message_call(p, caller_vp, regs.rdx); break;
      case HvCallCode::HvCallSendSyntheticClusterIpi: {
        // Vector (u32), reserved (u32), CpuMask (u64): fast in RDX and R8, else at RDX.
        uint64_t ipi[2] = {regs.rdx, regs.r8};
        if (!in.fast && !read_guest(p, regs.rdx, ipi, sizeof ipi))
          status = HvStatus::HV_STATUS_INVALID_ALIGNMENT;
        else
          status = send_ipi_call(p, ipi[0], ipi[1]);
        break;
      }
      case HvCallCode::HvCallSignalEvent:
        // Fast (Linux's way): the 8-byte input is RDX itself; else it is read at RDX.
        if (in.fast) {
          status = signal_event_call(p, caller_vp, regs.rdx);
        } else {
          uint64_t input = 0;
          status = read_guest(p, regs.rdx, &input, sizeof input)
                       ? signal_event_call(p, caller_vp, input)
                       : HvStatus::HV_STATUS_INVALID_ALIGNMENT;
        }
        break;
      default: break;
    }
  }
  ++p.hypercalls;
  auto st = static_cast<uint16_t>(status);
  if (st < std::size(p.hypercalls_by_status)) ++p.hypercalls_by_status[st];
  uint64_t rax = encode_result(status, reps);
  if (long64) {
    s.gpr[cpu::kRax] = rax;
  } else {
    s.gpr[cpu::kRax] = static_cast<uint32_t>(rax);
    s.gpr[cpu::kRdx] = rax >> 32;
  }
}

// The checks of both calls follow the order of the TLFS tables: privilege, connection, port,
// parameters, buffers, target VP, SynIC state (docs/hv.md "Ports and connections").

HvStatus Hypervisor::post_message_call(Partition& p, uint32_t vp_index, uint64_t input_gpa) {
  if (!(p.cpuid.privileges & spec::privilege::kPostMessages))
    return HvStatus::HV_STATUS_ACCESS_DENIED;
  namespace pm = spec::post_message_input;
  uint8_t in[pm::kSize];
  // As for the flush calls: no memory at the input GPA is outside the GPA space.
  if (!read_guest(p, input_gpa, in, sizeof in)) return HvStatus::HV_STATUS_INVALID_ALIGNMENT;
  uint32_t connection_id, reserved, type, size;
  std::memcpy(&connection_id, in + pm::kConnectionIdOffset, 4);
  std::memcpy(&reserved, in + 4, 4);
  std::memcpy(&type, in + pm::kMessageTypeOffset, 4);
  std::memcpy(&size, in + pm::kPayloadSizeOffset, 4);
  const uint32_t* port_id = ports_.connection(p.id, connection_id);
  if (!port_id) return HvStatus::HV_STATUS_INVALID_CONNECTION_ID;
  const Port* port = ports_.port(*port_id);
  if (!port || (port->type != PortType::kMessage && port->type != PortType::kHost))
    return HvStatus::HV_STATUS_INVALID_PORT_ID;
  // Type 0 is an empty slot and bit 31 is the hypervisor's (dossier §4.2); RsvdZ must be 0.
  if (reserved || type == 0 || (type & spec::kHvMessageTypeHypervisorMask) ||
      size > spec::kHvMessagePayloadSize)
    return HvStatus::HV_STATUS_INVALID_PARAMETER;
  if (port->type == PortType::kHost) {
    HostDelivery d;
    d.sender = &p;
    d.vp = vp_index;
    d.connection_id = connection_id;
    d.message_type = type;
    d.payload = in + pm::kPayloadOffset;
    d.size = size;
    return deliver_to_host(port->id, d);
  }
  VirtualProcessor* target = port_target(*port);
  if (!target) return HvStatus::HV_STATUS_INVALID_VP_INDEX;
  spec::HvMessage m{};
  m.header.message_type = type;
  m.header.payload_size = static_cast<uint8_t>(size);
  m.header.sender = port->id;  // the 24-bit PortId of the header's union (dossier §4.1)
  std::memcpy(m.payload, in + pm::kPayloadOffset, size);  // only PayloadSize bytes travel
  return target->synic->post_message(port->sint, m, port->id);
}

HvStatus Hypervisor::signal_event_call(Partition& p, uint32_t vp_index, uint64_t input) {
  if (!(p.cpuid.privileges & spec::privilege::kSignalEvents))
    return HvStatus::HV_STATUS_ACCESS_DENIED;
  namespace se = spec::signal_event_input;
  const uint32_t* port_id = ports_.connection(p.id, static_cast<uint32_t>(input));
  if (!port_id) return HvStatus::HV_STATUS_INVALID_CONNECTION_ID;
  const Port* port = ports_.port(*port_id);
  if (port && port->type == PortType::kHost) {
    if (input & se::kReservedMask) return HvStatus::HV_STATUS_INVALID_PARAMETER;
    HostDelivery d;
    d.sender = &p;
    d.vp = vp_index;
    d.connection_id = static_cast<uint32_t>(input);
    d.event = true;
    d.flag = static_cast<unsigned>((input & se::kFlagNumberMask) >> se::kFlagNumberShift);
    return deliver_to_host(port->id, d);
  }
  if (port && port->type == PortType::kSintAssert) {
    VirtualProcessor* target = port_target(*port);
    if (!target) return HvStatus::HV_STATUS_INVALID_VP_INDEX;
    target->synic->assert_sint(port->sint);
    return HvStatus::HV_STATUS_SUCCESS;
  }
  if (!port || port->type != PortType::kEvent) return HvStatus::HV_STATUS_INVALID_PORT_ID;
  auto flag = static_cast<unsigned>((input & se::kFlagNumberMask) >> se::kFlagNumberShift);
  if ((input & se::kReservedMask) || flag >= port->flag_count)
    return HvStatus::HV_STATUS_INVALID_PARAMETER;
  VirtualProcessor* target = port_target(*port);
  if (!target) return HvStatus::HV_STATUS_INVALID_VP_INDEX;
  return target->synic->signal_event(port->sint, port->base_flag + flag);
}

}  // namespace hvsim::hv
