// CPUID leaves (Intel SDM Vol. 2A "CPUID"). Only implemented features are reported.
#include <cstring>

#include "cpu/cpu_impl.h"

namespace hvsim::cpu {

namespace {
constexpr uint32_t kMaxBasicLeaf = 0xD;
constexpr uint32_t kMaxExtendedLeaf = 0x80000008;
constexpr char kVendor[] = "GenuineIntel";
constexpr char kBrand[48] = "hvsim x86-64";

// Leaf 1 EDX
constexpr uint32_t kEdxPse = 1u << 3, kEdxTsc = 1u << 4, kEdxMsr = 1u << 5, kEdxPae = 1u << 6,
                   kEdxCx8 = 1u << 8, kEdxPge = 1u << 13, kEdxCmov = 1u << 15, kEdxPat = 1u << 16,
                   kEdxPse36 = 1u << 17, kEdxApic = 1u << 9;
// Leaf 1 EDX: DE (debug extensions: CR4.DE, I/O breakpoints)
constexpr uint32_t kEdxDe = 1u << 2;
// Leaf 1 EDX: x87, MMX, FXSAVE, SSE, SSE2, CLFLUSH, SYSENTER (cpu/exec_x87*.cpp,
// exec_sse_*.cpp, exec_xsave.cpp, exec_bitmanip.cpp)
constexpr uint32_t kEdxFpu = 1u << 0, kEdxSep = 1u << 11, kEdxClfsh = 1u << 19, kEdxMmx = 1u << 23,
                   kEdxFxsr = 1u << 24, kEdxSse = 1u << 25, kEdxSse2 = 1u << 26;
// Leaf 1 ECX
// Leaf 1 ECX: VMX (cpu/vmx/)
constexpr uint32_t kEcxVmx = 1u << 5;
constexpr uint32_t kEcxCx16 = 1u << 13, kEcxPcid = 1u << 17, kEcxX2Apic = 1u << 21,
                   kEcxTscDeadline = 1u << 24;
constexpr uint32_t kEcxSse3 = 1u << 0, kEcxSsse3 = 1u << 9, kEcxSse41 = 1u << 19,
                   kEcxSse42 = 1u << 20, kEcxMovbe = 1u << 22, kEcxPopcnt = 1u << 23,
                   kEcxXsave = 1u << 26, kEcxOsxsave = 1u << 27;
// Leaf 7 subleaf 0 (structured extended features)
constexpr uint32_t kL7EbxFsgsbase = 1u << 0, kL7EbxBmi1 = 1u << 3, kL7EbxSmep = 1u << 7,
                   kL7EbxBmi2 = 1u << 8, kL7EbxInvpcid = 1u << 10, kL7EbxAdx = 1u << 19,
                   kL7EbxSmap = 1u << 20, kL7EbxClflushopt = 1u << 23;
constexpr uint32_t kL7EcxLa57 = 1u << 16;
// Leaf 0xD: the XSAVE area of x87 + SSE in the standard format (cpu/exec_xsave.cpp).
constexpr uint32_t kXsaveAreaBytes = 576;
constexpr uint32_t kXsaveoptSupported = 1u << 0;
// Leaf 0x80000001
constexpr uint32_t kExtEdxSyscall = 1u << 11, kExtEdxNx = 1u << 20, kExtEdxPage1Gb = 1u << 26,
                   kExtEdxRdtscp = 1u << 27, kExtEdxLm = 1u << 29;
constexpr uint32_t kExtEcxLahf = 1u << 0;
constexpr uint32_t kExtEcxAbm = 1u << 5;  // LZCNT

void vendor(uint32_t out[4]) {
  std::memcpy(&out[1], kVendor, 4);
  std::memcpy(&out[3], kVendor + 4, 4);
  std::memcpy(&out[2], kVendor + 8, 4);
}
}  // namespace

void CpuImpl::cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) const {
  out[0] = out[1] = out[2] = out[3] = 0;
  switch (leaf) {
    case 0:
      out[0] = kMaxBasicLeaf;
      vendor(out);
      return;
    case 1:
      out[0] = 0x000306A0;  // family 6, model 0x3A, stepping 0
      out[1] = (params_.index << 24) | (1u << 16) | (8u << 8);
      out[2] = kEcxCx16 | kEcxPcid | kEcxX2Apic | kEcxTscDeadline | kEcxSse3 | kEcxSsse3 |
               kEcxSse41 | kEcxSse42 | kEcxMovbe | kEcxPopcnt | kEcxXsave | kEcxVmx |
               ((s_.cr4 & kCr4OSXSAVE) ? kEcxOsxsave : 0);
      out[3] = kEdxDe | kEdxPse | kEdxTsc | kEdxMsr | kEdxPae | kEdxCx8 | kEdxPge | kEdxCmov |
               kEdxPat | kEdxPse36 | kEdxFpu | kEdxSep | kEdxClfsh | kEdxMmx | kEdxFxsr | kEdxSse |
               kEdxSse2;
      // CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (SDM 10.4.3).
      if (s_.apic_base & lapic::kBaseEnable) out[3] |= kEdxApic;
      return;
    case 0xB: {
      // x2APIC topology (SDM Vol. 2A CPUID leaf 0BH): one thread per core, cpu_count cores.
      unsigned shift = 0;
      while ((1u << shift) < params_.cpu_count) ++shift;
      out[3] = params_.index;
      out[2] = subleaf & 0xFF;
      if (subleaf == 0) {
        out[0] = 0;
        out[1] = 1;
        out[2] |= 1u << 8;  // SMT level
      } else if (subleaf == 1) {
        out[0] = shift;
        out[1] = params_.cpu_count;
        out[2] |= 2u << 8;  // core level
      }
      return;
    }
    case 7:
      if (subleaf != 0) return;
      out[1] = kL7EbxSmep | kL7EbxInvpcid | kL7EbxSmap | kL7EbxFsgsbase | kL7EbxBmi1 | kL7EbxBmi2 |
               kL7EbxAdx | kL7EbxClflushopt;
      out[2] = kL7EcxLa57;
      return;
    case 0xD:
      // Subleaf 0: supported XCR0 bits, area size for the enabled ones, maximum size.
      // Subleaf 1: XSAVEOPT only (no XSAVEC, XGETBV with ECX = 1, XSAVES).
      if (subleaf == 0) {
        out[0] = static_cast<uint32_t>(kXcr0Supported);
        out[1] = kXsaveAreaBytes;
        out[2] = kXsaveAreaBytes;
      } else if (subleaf == 1) {
        out[0] = kXsaveoptSupported;
      }
      return;
    case 0x80000000: out[0] = kMaxExtendedLeaf; return;
    case 0x80000001:
      out[2] = kExtEcxLahf | kExtEcxAbm;
      out[3] = kExtEdxSyscall | kExtEdxNx | kExtEdxPage1Gb | kExtEdxRdtscp | kExtEdxLm;
      return;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: std::memcpy(out, kBrand + (leaf - 0x80000002) * 16, 16); return;
    case 0x80000008: out[0] = spec::kMaxPhysAddrBits | (spec::kLinearAddrBits57 << 8); return;
    default: return;
  }
}

}  // namespace hvsim::cpu
