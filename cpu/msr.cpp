// RDMSR/WRMSR register file (Intel SDM Vol. 4 ch. 2; EFER: Vol. 3A 2.2.1, 5.8.8).
#include "cpu/spec/msr.h"
#include "cpu/cpu_impl.h"
#include "cpu/vmx/vmx.h"

namespace hvsim::cpu {

using spec::Msr;

bool CpuImpl::read_msr(uint32_t msr, uint64_t* v) {
  if (Lapic::is_msr(msr)) return lapic_->read_msr(msr, v);   // x2APIC, TSC deadline
  if (vmx::Vmx::is_msr(msr)) return vmx_->read_msr(msr, v);  // FEATURE_CONTROL, VMX caps
  switch (static_cast<Msr>(msr)) {
    case Msr::IA32_TIME_STAMP_COUNTER: *v = tsc(); return true;
    case Msr::IA32_APIC_BASE: *v = s_.apic_base; return true;
    case Msr::IA32_MTRRCAP: *v = 0; return true;            // no fixed or variable MTRRs
    case Msr::IA32_MTRR_DEF_TYPE: *v = 0x806; return true;  // MTRRs enabled, default WB
    case Msr::IA32_SYSENTER_CS: *v = s_.sysenter_cs; return true;
    case Msr::IA32_SYSENTER_ESP: *v = s_.sysenter_esp; return true;
    case Msr::IA32_SYSENTER_EIP: *v = s_.sysenter_eip; return true;
    case Msr::IA32_MISC_ENABLE: *v = s_.misc_enable; return true;
    case Msr::IA32_PAT: *v = s_.pat; return true;
    case Msr::IA32_EFER: *v = s_.efer; return true;
    case Msr::IA32_STAR: *v = s_.star; return true;
    case Msr::IA32_LSTAR: *v = s_.lstar; return true;
    case Msr::IA32_CSTAR: *v = s_.cstar; return true;
    case Msr::IA32_FMASK: *v = s_.sfmask; return true;
    case Msr::IA32_FS_BASE: *v = s_.seg[kFs].base; return true;
    case Msr::IA32_GS_BASE: *v = s_.seg[kGs].base; return true;
    case Msr::IA32_KERNEL_GS_BASE: *v = s_.kernel_gs_base; return true;
    case Msr::IA32_TSC_AUX: *v = s_.tsc_aux; return true;
  }
  return false;
}

bool CpuImpl::write_msr(uint32_t msr, uint64_t v) {
  if (Lapic::is_msr(msr)) return lapic_->write_msr(msr, v);  // x2APIC, TSC deadline
  if (vmx::Vmx::is_msr(msr)) return vmx_->write_msr(msr, v);
  switch (static_cast<Msr>(msr)) {
    case Msr::IA32_TIME_STAMP_COUNTER:
      s_.tsc_offset = v - cycles_;
      lapic_->tsc_changed();
      return true;
    case Msr::IA32_APIC_BASE: return lapic_->write_apic_base(v);
    case Msr::IA32_MTRRCAP: return false;
    case Msr::IA32_MTRR_DEF_TYPE: return (v & ~0xCFFull) == 0;
    case Msr::IA32_SYSENTER_CS: s_.sysenter_cs = v & 0xFFFF; return true;
    case Msr::IA32_SYSENTER_ESP:
      if (!canonical(v)) return false;
      s_.sysenter_esp = v;
      return true;
    case Msr::IA32_SYSENTER_EIP:
      if (!canonical(v)) return false;
      s_.sysenter_eip = v;
      return true;
    case Msr::IA32_MISC_ENABLE: s_.misc_enable = v; return true;
    case Msr::IA32_PAT:
      for (int k = 0; k < 8; ++k) {
        uint64_t t = (v >> (8 * k)) & 0xFF;
        if (t == 2 || t == 3 || t > 7) return false;
      }
      s_.pat = v;
      return true;
    case Msr::IA32_EFER: {
      constexpr uint64_t kWritable = kEferSCE | kEferLME | kEferNXE;
      if (v & ~(kWritable | kEferLMA)) return false;
      uint64_t nv = (v & kWritable) | (s_.efer & kEferLMA);
      // LME cannot change while paging is on (SDM 10.8.5).
      if ((s_.cr0 & kCr0PG) && ((nv ^ s_.efer) & kEferLME)) return false;
      bool nxe_changed = (nv ^ s_.efer) & kEferNXE;
      s_.efer = nv;
      if (nxe_changed) tlb_flush(true);
      return true;
    }
    case Msr::IA32_STAR: s_.star = v; return true;
    case Msr::IA32_LSTAR:
      if (!canonical(v)) return false;
      s_.lstar = v;
      return true;
    case Msr::IA32_CSTAR:
      if (!canonical(v)) return false;
      s_.cstar = v;
      return true;
    case Msr::IA32_FMASK: s_.sfmask = v & 0xFFFFFFFF; return true;
    case Msr::IA32_FS_BASE:
    case Msr::IA32_GS_BASE:
    case Msr::IA32_KERNEL_GS_BASE:
      if (!canonical(v)) return false;
      if (msr == static_cast<uint32_t>(Msr::IA32_FS_BASE))
        s_.seg[kFs].base = v;
      else if (msr == static_cast<uint32_t>(Msr::IA32_GS_BASE))
        s_.seg[kGs].base = v;
      else
        s_.kernel_gs_base = v;
      return true;
    case Msr::IA32_TSC_AUX:
      if (v >> 32) return false;
      s_.tsc_aux = v;
      return true;
  }
  return false;
}

}  // namespace hvsim::cpu
