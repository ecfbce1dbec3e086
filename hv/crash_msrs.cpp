// The guest crash MSRs, the reset MSR and the VP assist page (TLFS "Partition crash
// enlightenment", "VP assist page"; spec/hyperv-interfaces.md §2, CPUID 0x40000003.EDX bit
// 10 and EAX bit 7). RESET bit 0 stops the partition and the machine reports a reset.
//
// CRASH_P0-P4 hold the guest's crash parameters (partition-wide, read/write). CRASH_CTL reads
// as the capabilities (CrashNotify, bit 63; CrashMessage, bit 62); writing it with
// CrashNotify set reports the crash: the partition stops ("guest crash") with P0-P4 in the
// report and, with CrashMessage, the text of the message the guest left at GPA P3 (P4 bytes,
// at most 4096; Linux's kmsg dump). VP_ASSIST_PAGE is stored per VP (enable, PFN); hvsim does
// not recommend lazy EOI (CPUID 0x40000004 bit 3), so nothing is read from the page.
#include <cstdio>
#include <string>

#include "hv/hypervisor.h"
#include "hv/spec/tlfs.h"

namespace hvsim::hv {

using M = spec::SyntheticMsr;

namespace {

constexpr uint64_t kCrashNotify = 1ull << 63, kCrashMessage = 1ull << 62;
constexpr uint64_t kMaxCrashMessage = 4096;

/// The guest's crash message as report text: printable ASCII kept, line breaks as " | ",
/// anything else as '?', trailing NULs and blanks dropped.
std::string printable(const std::string& raw) {
  std::string out;
  for (char c : raw) {
    if (c == '\n')
      out += " | ";
    else if (c >= 0x20 && c < 0x7F)
      out += c;
    else if (c != '\0' && c != '\r')
      out += '?';
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '|')) out.pop_back();
  return out;
}

}  // namespace

bool Hypervisor::handle_crash_msr(Partition& p, VirtualProcessor& vp, uint32_t msr, bool write,
                                  uint64_t* v, bool* ok) {
  auto m = static_cast<M>(msr);
  if (m == M::HV_X64_MSR_RESET) {
    // Bit 0 asks for a reset of the partition (dossier §2, privilege AccessResetReg); the
    // other bits are reserved; it reads as 0. What a reset means (reload a kernel, power
    // off) is the host's: the partition stops and the machine reports it.
    *ok = (p.cpuid.privileges & spec::privilege::kAccessResetReg) && !(write && (*v >> 1));
    if (*ok && !write) *v = 0;
    if (*ok && write && (*v & 1)) {
      p.reset_requested = true;
      crash(p, "requested a reset (HV_X64_MSR_RESET)");
    }
    return true;
  }
  if (m == M::HV_X64_MSR_VP_ASSIST_PAGE) {
    *ok = (p.cpuid.privileges & spec::privilege::kAccessIntrCtrlRegs) &&
          !(write && (*v & spec::overlay_msr::kReservedMask));
    if (*ok && write) vp.assist_page_msr = *v;
    if (*ok && !write) *v = vp.assist_page_msr;
    return true;
  }
  bool param = msr >= static_cast<uint32_t>(M::HV_X64_MSR_CRASH_P0) &&
               msr <= static_cast<uint32_t>(M::HV_X64_MSR_CRASH_P4);
  if (!param && m != M::HV_X64_MSR_CRASH_CTL) return false;
  *ok = (p.cpuid.features & spec::feature::kGuestCrashMsrsAvailable) != 0;
  if (!*ok) return true;
  if (param) {
    uint64_t& slot = p.crash_params[msr - static_cast<uint32_t>(M::HV_X64_MSR_CRASH_P0)];
    if (write)
      slot = *v;
    else
      *v = slot;
    return true;
  }
  if (!write) {
    *v = kCrashNotify | kCrashMessage;
    return true;
  }
  if (*v & ~(kCrashNotify | kCrashMessage)) return *ok = false, true;
  if (!(*v & kCrashNotify)) return true;
  char params[200];
  std::snprintf(params, sizeof params, "P0=%#llx P1=%#llx P2=%#llx P3=%#llx P4=%#llx",
                static_cast<unsigned long long>(p.crash_params[0]),
                static_cast<unsigned long long>(p.crash_params[1]),
                static_cast<unsigned long long>(p.crash_params[2]),
                static_cast<unsigned long long>(p.crash_params[3]),
                static_cast<unsigned long long>(p.crash_params[4]));
  std::string reason = std::string("guest crash (") + params + ")";
  if (*v & kCrashMessage) {
    uint64_t len = std::min(p.crash_params[4], kMaxCrashMessage);
    std::string raw(len, '\0');
    if (len && read_guest(p, p.crash_params[3], raw.data(), len))
      reason += ": " + printable(raw);
    else if (len)
      reason += ": (message not readable at its GPA)";
  }
  ++p.guest_crashes;
  crash(p, reason);
  return true;
}

}  // namespace hvsim::hv
