// The VM-entry check matrix (Intel SDM Vol. 3C 27.2 "Checks on VMX controls and host-state
// area", 27.3.1 "Checks on the guest state area", 27.4 "Loading MSRs"): each case breaks one
// field of a VMCS that enters, and expects the documented failure (VMfailValid 7 or 8, or
// an entry-failure exit 33/34 with its qualification). A case may first change other fields
// to a still-valid setting (a control the check depends on); that setting is entered first
// to show it is valid. Also a virtual-8086 guest: its checks, a few of its instructions, an
// interrupt out of it and IRET back.
#include <utility>
#include <vector>

#include "cpu/vmx/spec/vmcs_layouts.h"
#include "cpu/vmx/vmcs.h"
#include "cpu/vmx/vmx_test_fixture.h"

namespace hvsim::cpu::vmx::testing_vmx {
namespace {

using namespace spec;

constexpr uint64_t kPd32 = 0x407000;         ///< 32-bit page directory of the v8086 guest
constexpr uint64_t kVirtualApic = 0x408000;  ///< virtual-APIC page (VTPR = 0x50)
constexpr uint64_t kLinkVmcs = 0x409000;     ///< a VMCS region for the link pointer
constexpr uint64_t kShadowVmcs = 0x40A000;   ///< the same with the shadow-VMCS indicator
constexpr uint64_t kExitStore = kMsrList + 0x800;
constexpr uint64_t kNonCanonical = 0x0000800000000000ull;
constexpr uint64_t kBeyondMaxPhys = 1ull << 40;

enum class Op { kSet, kOr, kClear };
struct Change {
  F field;
  Op op;
  uint64_t value;
};
Change set(F f, uint64_t v) {
  return {f, Op::kSet, v};
}
Change set_bits(F f, uint64_t v) {
  return {f, Op::kOr, v};
}
Change clear_bits(F f, uint64_t v) {
  return {f, Op::kClear, v};
}

/// Expected outcome: 0 enters; 7 or 8 VMfailValid with that error; 33 or 34 an entry
/// failure with that basic exit reason and `qual`.
struct Case {
  const char* what;
  std::vector<Change> setup;  ///< valid changes made first (and entered once)
  Change bad;
  int expect;
  uint64_t qual = 0;
};

class EntryChecksTest : public VmxTest {
 protected:
  using Snapshot = std::vector<std::pair<F, uint64_t>>;

  /// Every writable field of the current VMCS (not the read-only exit information).
  Snapshot snapshot() {
    Snapshot s;
    for (F f : kSupportedFields)
      if (encoding_type(static_cast<uint32_t>(f)) != FieldType::kExitInformation)
        s.push_back({f, r(f)});
    return s;
  }
  void restore(const Snapshot& s) {
    for (auto& [f, v] : s) w(f, v);
  }
  void apply(const Change& c) {
    uint64_t old = r(c.field);
    w(c.field, c.op == Op::kSet ? c.value : c.op == Op::kOr ? old | c.value : old & ~c.value);
  }
  RunResult enter() {
    RunResult x = api_.vm_enter(launched_ ? VmxApi::Entry::kResume : VmxApi::Entry::kLaunch, 1000);
    if (entered(x)) launched_ = true;
    return x;
  }
  static bool entered(const RunResult& x) {
    return x.kind != Kind::kEntryFailed && !(x.kind == Kind::kExit && (x.exit.reason >> 31));
  }

  void run_cases(const std::vector<Case>& cases) {
    {
      SCOPED_TRACE("the unbroken VMCS");
      Snapshot base = snapshot();
      EXPECT_TRUE(entered(enter()));
      restore(base);
    }
    for (const Case& c : cases) {
      SCOPED_TRACE(c.what);
      Snapshot base = snapshot();
      for (const Change& s : c.setup) apply(s);
      if (!c.setup.empty()) {
        Snapshot with_setup = snapshot();
        RunResult x = enter();
        if (!entered(x)) {
          ADD_FAILURE() << "the setup alone does not enter: kind " << static_cast<int>(x.kind)
                        << " error " << static_cast<int>(x.entry.error) << " reason "
                        << x.exit.reason;
          restore(base);
          continue;
        }
        restore(with_setup);  // the exit saved guest state over it
      }
      apply(c.bad);
      RunResult x = enter();
      if (c.expect == 0) {
        EXPECT_TRUE(entered(x)) << "kind " << static_cast<int>(x.kind) << " error "
                                << static_cast<int>(x.entry.error) << " reason " << x.exit.reason;
      } else if (c.expect == 7 || c.expect == 8) {
        EXPECT_EQ(x.kind, Kind::kEntryFailed);
        EXPECT_EQ(static_cast<int>(x.entry.error), c.expect);
      } else {
        EXPECT_EQ(x.kind, Kind::kExit);
        EXPECT_EQ(x.exit.reason, static_cast<uint32_t>(c.expect) | 0x80000000u);
        EXPECT_EQ(x.exit.qualification, c.qual);
        EXPECT_EQ(st().rip, r(F::HOST_RIP)) << "host state loaded";
      }
      restore(base);
    }
  }

  /// The 64-bit guest (CPUID; HLT) with many controls on, so that each check has its
  /// subject: NMI exiting, virtual NMIs, the preemption timer (and saving it), HLT exiting,
  /// I/O and MSR bitmaps, TPR shadow, VPID, an MSR-store list; plus the memory the MSR-load
  /// and link-pointer cases use.
  void build_rich_vmcs() {
    Asm g;
    g(ZYDIS_MNEMONIC_CPUID)(ZYDIS_MNEMONIC_HLT);
    load(kGuestCode, g);
    build_vmcs(kGuestCode, pin::kNmiExiting | pin::kVirtualNmis | pin::kActivateVmxPreemptionTimer,
               proc::kHltExiting | proc::kUseIoBitmaps | proc::kUseMsrBitmaps | proc::kUseTprShadow,
               proc2::kEnableVpid);
    w(F::PRIMARY_VM_EXIT_CONTROLS,
      r(F::PRIMARY_VM_EXIT_CONTROLS) | exit_ctl::kSaveVmxPreemptionTimerValue);
    w(F::VMX_PREEMPTION_TIMER_VALUE, 0xFFFFFFFF);
    w(F::ADDRESS_OF_IO_BITMAP_A, kIoBitmapA);
    w(F::ADDRESS_OF_IO_BITMAP_B, kIoBitmapB);
    w(F::ADDRESS_OF_MSR_BITMAPS, kMsrBitmap);
    mem_.store<uint8_t>(kVirtualApic + kVtprOffset, 0x50);
    w(F::VIRTUAL_APIC_ADDRESS, kVirtualApic);
    w(F::TPR_THRESHOLD, 5);  // = VTPR[7:4]: allowed
    w(F::VIRTUAL_PROCESSOR_ID, 1);
    put64(kExitStore, 0xC0000081);  // IA32_STAR, twice (lists of 1 or 2 entries)
    put64(kExitStore + 16, 0xC0000081);
    w(F::VM_EXIT_MSR_STORE_ADDRESS, kExitStore);
    w(F::VM_EXIT_MSR_STORE_COUNT, 1);
    // VM-entry MSR-load entries: one valid, then one failing reason each.
    const uint64_t entries[][2] = {
        {0xC0000081, 0},                 // IA32_STAR: fine
        {0xC0000100, 0},                 // IA32_FS_BASE: never from the list
        {0xC0000081 | (1ull << 32), 0},  // reserved bits 63:32
        {0x808, 0},                      // an x2APIC MSR
        {0x9B, 0},                       // IA32_SMM_MONITOR_CTL outside SMM
        {0x12345, 0},                    // no such MSR (WRMSR #GP)
        {0xC0000080, 1u << 1},           // IA32_EFER reserved bit (WRMSR #GP)
        {0xC0000101, 0},                 // IA32_GS_BASE
    };
    for (unsigned k = 0; k < std::size(entries); ++k) {
      put64(kMsrList + 16 * k, entries[k][0]);
      put64(kMsrList + 16 * k + 8, entries[k][1]);
    }
    uint32_t rev = static_cast<uint32_t>(Vmx::capability(VmxMsr::IA32_VMX_BASIC) & 0x7FFFFFFF);
    mem_.store<uint32_t>(kLinkVmcs, rev);
    mem_.store<uint32_t>(kShadowVmcs, rev | 0x80000000u);
  }

  /// A virtual-8086 guest: 32-bit paging (4 MiB user pages), no IA-32e mode, CS:IP =
  /// 0x5000:0, SS:SP = 0x6003:0x1000, DS = 0x7000; `code` at linear 0x50000.
  void build_v8086_vmcs(const std::vector<uint8_t>& code) {
    build_vmcs(0);
    for (uint64_t k = 0; k < 4; ++k) mem_.store<uint32_t>(kPd32 + 4 * k, (k << 22) | 0x87);
    mem_.write(0x50000, code.data(), code.size());
    w(F::VM_ENTRY_CONTROLS, r(F::VM_ENTRY_CONTROLS) & ~entry_ctl::kIa32eModeGuest);
    w(F::GUEST_IA32_EFER, 0);
    w(F::GUEST_CR0, kCr0PE | kCr0ET | kCr0NE | kCr0PG);
    w(F::GUEST_CR3, kPd32);
    w(F::GUEST_CR4, kCr4VMXE | kCr4PSE);
    // ES CS SS DS FS GS; SS.RPL (3) != CS.RPL (0) is fine for a v8086 guest.
    const uint16_t sels[kNumSegs] = {0x7000, 0x5000, 0x6003, 0x7000, 0, 0};
    for (int k = 0; k < kNumSegs; ++k) {
      const GuestSegmentFields& f = kGuestSegmentFields[k];
      w(f.selector, sels[k]);
      w(f.base, uint64_t{sels[k]} << 4);
      w(f.limit, 0xFFFF);
      w(f.access_rights, 0xF3);
    }
    w(F::GUEST_RIP, 0);
    w(F::GUEST_RSP, 0x1000);
    w(F::GUEST_RFLAGS, kFlagVM | 2);
  }

  bool launched_ = false;
};

TEST_F(EntryChecksTest, ControlsMatrix) {
  build_rich_vmcs();
  const F kPin = F::PIN_BASED_VM_EXECUTION_CONTROLS;
  const F kProc = F::PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS;
  const F kProc2 = F::SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS;
  const F kExit = F::PRIMARY_VM_EXIT_CONTROLS;
  const F kEntry = F::VM_ENTRY_CONTROLS;
  const F kInfo = F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD;
  const uint64_t kEptp = 0x410000 | (3 << 3) | 6;  // 4-level, write-back
  std::vector<Change> ept = {set_bits(kProc2, proc2::kEnableEpt), set(F::EPT_POINTER, kEptp)};
  std::vector<Case> cases = {
      // 27.2.1.1 reserved bits, and the controls of features hvsim does not advertise
      {"pin-based reserved bit 8", {}, set_bits(kPin, 1u << 8), 7},
      {"pin-based default1 bit 1 cleared", {}, clear_bits(kPin, 1u << 1), 7},
      {"process posted interrupts", {}, set_bits(kPin, pin::kProcessPostedInterrupts), 7},
      {"primary reserved bit 0", {}, set_bits(kProc, 1u << 0), 7},
      {"primary default1 bit 1 cleared", {}, clear_bits(kProc, 1u << 1), 7},
      {"activate tertiary controls", {}, set_bits(kProc, proc::kActivateTertiaryControls), 7},
      {"virtualize APIC accesses", {}, set_bits(kProc2, proc2::kVirtualizeApicAccesses), 7},
      {"virtualize x2APIC mode", {}, set_bits(kProc2, proc2::kVirtualizeX2apicMode), 7},
      {"APIC-register virtualization", {}, set_bits(kProc2, proc2::kApicRegisterVirtualization), 7},
      {"virtual-interrupt delivery", {}, set_bits(kProc2, proc2::kVirtualInterruptDelivery), 7},
      {"enable VM functions", {}, set_bits(kProc2, proc2::kEnableVmFunctions), 7},
      {"VMCS shadowing", {}, set_bits(kProc2, proc2::kVmcsShadowing), 7},
      {"enable PML", {}, set_bits(kProc2, 1u << 17), 7},
      {"EPT-violation #VE", {}, set_bits(kProc2, proc2::kEptViolationVe), 7},
      {"mode-based execute control", {}, set_bits(kProc2, 1u << 22), 7},
      {"sub-page write permissions", {}, set_bits(kProc2, 1u << 23), 7},
      {"PT uses guest-physical addresses", {}, set_bits(kProc2, 1u << 24), 7},
      {"TSC scaling", {}, set_bits(kProc2, proc2::kUseTscScaling), 7},
      {"secondary controls ignored when not activated",
       {clear_bits(kProc, proc::kActivateSecondaryControls)},
       set_bits(kProc2, proc2::kVirtualizeApicAccesses),
       0},
      {"CR3-target count 5", {}, set(F::CR3_TARGET_COUNT, 5), 7},
      {"CR3-target count 4", {}, set(F::CR3_TARGET_COUNT, 4), 0},
      {"I/O bitmap A not aligned", {}, set(F::ADDRESS_OF_IO_BITMAP_A, kIoBitmapA + 8), 7},
      {"I/O bitmap B beyond MAXPHYADDR", {}, set(F::ADDRESS_OF_IO_BITMAP_B, kBeyondMaxPhys), 7},
      {"MSR bitmap not aligned", {}, set(F::ADDRESS_OF_MSR_BITMAPS, kMsrBitmap + 0x800), 7},
      {"MSR bitmap beyond MAXPHYADDR", {}, set(F::ADDRESS_OF_MSR_BITMAPS, kBeyondMaxPhys), 7},
      {"virtual-APIC address not aligned", {}, set(F::VIRTUAL_APIC_ADDRESS, kVirtualApic + 4), 7},
      {"virtual-APIC address beyond MAXPHYADDR",
       {},
       set(F::VIRTUAL_APIC_ADDRESS, kBeyondMaxPhys),
       7},
      {"TPR threshold bits 31:4", {}, set(F::TPR_THRESHOLD, 0x10), 7},
      {"TPR threshold above VTPR[7:4]", {}, set(F::TPR_THRESHOLD, 6), 7},
      {"virtual NMIs without NMI exiting", {}, clear_bits(kPin, pin::kNmiExiting), 7},
      {"NMI-window exiting without virtual NMIs",
       {set_bits(kProc, proc::kNmiWindowExiting)},
       clear_bits(kPin, pin::kVirtualNmis | pin::kNmiExiting),
       7},
      {"VPID 0", {}, set(F::VIRTUAL_PROCESSOR_ID, 0), 7},
      {"EPTP memory type 2", ept, set(F::EPT_POINTER, (kEptp & ~7ull) | 2), 7},
      {"EPTP page-walk length 2", ept, set(F::EPT_POINTER, (kEptp & ~0x38ull) | (1 << 3)), 7},
      {"EPTP page-walk length 5", ept, set(F::EPT_POINTER, (kEptp & ~0x38ull) | (4 << 3)), 0},
      {"EPTP bit 7 (supervisor shadow stack)", ept, set_bits(F::EPT_POINTER, 1u << 7), 7},
      {"EPTP reserved bit 8", ept, set_bits(F::EPT_POINTER, 1u << 8), 7},
      {"EPTP beyond MAXPHYADDR", ept, set_bits(F::EPT_POINTER, kBeyondMaxPhys), 7},
      {"unrestricted guest without EPT", {}, set_bits(kProc2, proc2::kUnrestrictedGuest), 7},
      // 27.2.1.2 VM-exit controls
      {"exit reserved bit 0 cleared", {}, clear_bits(kExit, 1u << 0), 7},
      {"load IA32_PERF_GLOBAL_CTRL on exit",
       {},
       set_bits(kExit, exit_ctl::kLoadIa32PerfGlobalCtrl),
       7},
      {"clear IA32_BNDCFGS", {}, set_bits(kExit, 1u << 23), 7},
      {"load CET state on exit", {}, set_bits(kExit, 1u << 28), 7},
      {"activate secondary VM-exit controls", {}, set_bits(kExit, 1u << 31), 7},
      {"save preemption timer without the timer",
       {},
       clear_bits(kPin, pin::kActivateVmxPreemptionTimer),
       7},
      {"exit MSR-store address not 16-byte aligned",
       {},
       set(F::VM_EXIT_MSR_STORE_ADDRESS, kExitStore + 8),
       7},
      {"exit MSR-store address beyond MAXPHYADDR (wrapping)",
       {set(F::VM_EXIT_MSR_STORE_COUNT, 2)},
       set(F::VM_EXIT_MSR_STORE_ADDRESS, ~0ull - 15),
       7},
      {"exit MSR-load address not aligned",
       {set(F::VM_EXIT_MSR_LOAD_COUNT, 1), set(F::VM_EXIT_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_EXIT_MSR_LOAD_ADDRESS, kMsrList + 4),
       7},
      // 27.2.1.3 VM-entry controls
      {"entry default1 bit 0 cleared", {}, clear_bits(kEntry, 1u << 0), 7},
      {"entry to SMM", {}, set_bits(kEntry, entry_ctl::kEntryToSmm), 7},
      {"deactivate dual-monitor treatment",
       {},
       set_bits(kEntry, entry_ctl::kDeactivateDualMonitorTreatment),
       7},
      {"load IA32_PERF_GLOBAL_CTRL on entry",
       {},
       set_bits(kEntry, entry_ctl::kLoadIa32PerfGlobalCtrl),
       7},
      {"load IA32_BNDCFGS", {}, set_bits(kEntry, 1u << 16), 7},
      {"load CET state on entry", {}, set_bits(kEntry, 1u << 20), 7},
      {"load PKRS", {}, set_bits(kEntry, 1u << 22), 7},
      {"injection type 1 (reserved)", {}, set(kInfo, 0x80000120), 7},
      {"NMI with vector 3", {}, set(kInfo, 0x80000203), 7},
      {"hardware exception vector 32", {}, set(kInfo, 0x80000320), 7},
      {"other event with vector 1", {}, set(kInfo, 0x80000701), 7},
      {"#GP without error code", {}, set(kInfo, 0x8000030D), 7},
      {"#UD with error code", {}, set(kInfo, 0x80000B06), 7},
      {"external interrupt with error code",
       {set(F::GUEST_RFLAGS, 0x202)},
       set(kInfo, 0x80000820),
       7},
      {"#CP with error code", {}, set(kInfo, 0x80000B15), 0},
      {"reserved bit 12 of the interruption information", {}, set(kInfo, 0x80001306), 7},
      {"error code bits 31:16",
       {set(kInfo, 0x80000B0D)},
       set(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0x10000),
       7},
      {"software interrupt with length 0",
       {set(kInfo, 0x80000420), set(F::VM_ENTRY_INSTRUCTION_LENGTH, 2)},
       set(F::VM_ENTRY_INSTRUCTION_LENGTH, 0),
       7},
      {"software exception with length 16",
       {set(kInfo, 0x80000603), set(F::VM_ENTRY_INSTRUCTION_LENGTH, 1)},
       set(F::VM_ENTRY_INSTRUCTION_LENGTH, 16),
       7},
      {"entry MSR-load address not aligned",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 8),
       7},
      {"entry MSR-load address beyond MAXPHYADDR",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kBeyondMaxPhys),
       7},
  };
  run_cases(cases);
}

TEST_F(EntryChecksTest, HostStateMatrix) {
  build_rich_vmcs();
  uint64_t cr0 = st().cr0;
  std::vector<Case> cases = {
      {"host CR0.PE = 0", {}, set(F::HOST_CR0, cr0 & ~kCr0PE), 8},
      {"host CR0.NE = 0", {}, set(F::HOST_CR0, cr0 & ~kCr0NE), 8},
      {"host CR0 bit 32", {}, set_bits(F::HOST_CR0, 1ull << 32), 8},
      {"host CR4.VMXE = 0", {}, clear_bits(F::HOST_CR4, kCr4VMXE), 8},
      {"host CR4 reserved bit 15", {}, set_bits(F::HOST_CR4, 1u << 15), 8},
      {"host CR3 beyond MAXPHYADDR", {}, set_bits(F::HOST_CR3, kBeyondMaxPhys), 8},
      {"host SYSENTER_ESP not canonical", {}, set(F::HOST_IA32_SYSENTER_ESP, kNonCanonical), 8},
      {"host SYSENTER_EIP not canonical", {}, set(F::HOST_IA32_SYSENTER_EIP, kNonCanonical), 8},
      {"host PAT memory type 2",
       {set_bits(F::PRIMARY_VM_EXIT_CONTROLS, exit_ctl::kLoadIa32Pat),
        set(F::HOST_IA32_PAT, 0x0007040600070406)},
       set(F::HOST_IA32_PAT, 0x0007040600070402),
       8},
      {"host EFER reserved bit 1", {}, set_bits(F::HOST_IA32_EFER, 1u << 1), 8},
      {"host EFER.LMA = 0", {}, clear_bits(F::HOST_IA32_EFER, kEferLMA), 8},
      {"host EFER.LME = 0", {}, clear_bits(F::HOST_IA32_EFER, kEferLME), 8},
      {"host ES selector RPL", {}, set_bits(F::HOST_ES_SELECTOR, 1), 8},
      {"host CS selector RPL", {}, set_bits(F::HOST_CS_SELECTOR, 3), 8},
      {"host SS selector TI", {}, set_bits(F::HOST_SS_SELECTOR, 4), 8},
      {"host DS selector RPL", {}, set_bits(F::HOST_DS_SELECTOR, 2), 8},
      {"host FS selector TI", {}, set_bits(F::HOST_FS_SELECTOR, 4), 8},
      {"host GS selector RPL", {}, set_bits(F::HOST_GS_SELECTOR, 1), 8},
      {"host TR selector TI", {}, set_bits(F::HOST_TR_SELECTOR, 4), 8},
      {"host CS selector null", {}, set(F::HOST_CS_SELECTOR, 0), 8},
      {"host TR selector null", {}, set(F::HOST_TR_SELECTOR, 0), 8},
      {"host SS null with a 64-bit host", {}, set(F::HOST_SS_SELECTOR, 0), 0},
      {"host FS base not canonical", {}, set(F::HOST_FS_BASE, kNonCanonical), 8},
      {"host GS base not canonical", {}, set(F::HOST_GS_BASE, kNonCanonical), 8},
      {"host TR base not canonical", {}, set(F::HOST_TR_BASE, kNonCanonical), 8},
      {"host GDTR base not canonical", {}, set(F::HOST_GDTR_BASE, kNonCanonical), 8},
      {"host IDTR base not canonical", {}, set(F::HOST_IDTR_BASE, kNonCanonical), 8},
      {"host address-space size 0 in IA-32e mode",
       {clear_bits(F::PRIMARY_VM_EXIT_CONTROLS, exit_ctl::kLoadIa32Efer)},
       clear_bits(F::PRIMARY_VM_EXIT_CONTROLS, exit_ctl::kHostAddressSpaceSize),
       8},
      {"64-bit host with CR4.PAE = 0", {}, clear_bits(F::HOST_CR4, kCr4PAE), 8},
      {"host RIP not canonical", {}, set(F::HOST_RIP, kNonCanonical), 8},
  };
  run_cases(cases);
}

TEST_F(EntryChecksTest, GuestStateMatrix) {
  build_rich_vmcs();
  const F kInfo = F::VM_ENTRY_INTERRUPTION_INFORMATION_FIELD;
  const F kIntr = F::GUEST_INTERRUPTIBILITY_STATE;
  const F kAct = F::GUEST_ACTIVITY_STATE;
  const F kPdbg = F::GUEST_PENDING_DEBUG_EXCEPTIONS;
  const Change kIf = set(F::GUEST_RFLAGS, 0x202);
  const Change kUsableLdtr[] = {set(F::GUEST_LDTR_SELECTOR, 0x40),
                                set(F::GUEST_LDTR_ACCESS_RIGHTS, 0x82),
                                set(F::GUEST_LDTR_LIMIT, 0xFFFF)};
  std::vector<Change> ldtr(std::begin(kUsableLdtr), std::end(kUsableLdtr));
  uint64_t cr0 = st().cr0;
  constexpr uint64_t kBs = 1u << 14;
  std::vector<Case> cases = {
      // 27.3.1.1 control registers, debug registers, MSRs
      {"CR0.NE = 0", {}, set(F::GUEST_CR0, cr0 & ~kCr0NE), 33},
      {"CR0.PE = 0", {}, set(F::GUEST_CR0, cr0 & ~kCr0PE), 33},
      {"CR0.PG = 0", {}, set(F::GUEST_CR0, cr0 & ~kCr0PG), 33},
      {"CR0 bit 32", {}, set_bits(F::GUEST_CR0, 1ull << 32), 33},
      {"CR4.VMXE = 0", {}, clear_bits(F::GUEST_CR4, kCr4VMXE), 33},
      {"CR4 reserved bit 15", {}, set_bits(F::GUEST_CR4, 1u << 15), 33},
      {"IA-32e mode guest with CR4.PAE = 0", {}, clear_bits(F::GUEST_CR4, kCr4PAE), 33},
      {"CR3 beyond MAXPHYADDR", {}, set_bits(F::GUEST_CR3, kBeyondMaxPhys), 33},
      {"DEBUGCTL reserved bit 2",
       {set_bits(F::VM_ENTRY_CONTROLS, entry_ctl::kLoadDebugControls)},
       set(F::GUEST_IA32_DEBUGCTL, 1u << 2),
       33},
      {"DR7 bit 32",
       {set_bits(F::VM_ENTRY_CONTROLS, entry_ctl::kLoadDebugControls)},
       set_bits(F::GUEST_DR7, 1ull << 32),
       33},
      {"SYSENTER_ESP not canonical", {}, set(F::GUEST_IA32_SYSENTER_ESP, kNonCanonical), 33},
      {"SYSENTER_EIP not canonical", {}, set(F::GUEST_IA32_SYSENTER_EIP, kNonCanonical), 33},
      {"PAT memory type 3",
       {set_bits(F::VM_ENTRY_CONTROLS, entry_ctl::kLoadIa32Pat),
        set(F::GUEST_IA32_PAT, 0x0007040600070406)},
       set(F::GUEST_IA32_PAT, 0x0307040600070406),
       33},
      {"EFER reserved bit 1", {}, set_bits(F::GUEST_IA32_EFER, 1u << 1), 33},
      {"EFER.LMA = 0 with IA-32e mode guest", {}, clear_bits(F::GUEST_IA32_EFER, kEferLMA), 33},
      {"EFER.LME = 0 with IA-32e mode guest", {}, clear_bits(F::GUEST_IA32_EFER, kEferLME), 33},
      // 27.3.1.2 selectors and bases
      {"TR selector TI", {}, set_bits(F::GUEST_TR_SELECTOR, 4), 33},
      {"usable LDTR selector TI", ldtr, set(F::GUEST_LDTR_SELECTOR, 0x44), 33},
      {"unusable LDTR selector TI", {}, set(F::GUEST_LDTR_SELECTOR, 0x44), 0},
      {"SS.RPL != CS.RPL", {}, set_bits(F::GUEST_SS_SELECTOR, 3), 33},
      {"TR base not canonical", {}, set(F::GUEST_TR_BASE, kNonCanonical), 33},
      {"FS base not canonical", {}, set(F::GUEST_FS_BASE, kNonCanonical), 33},
      {"GS base not canonical", {}, set(F::GUEST_GS_BASE, kNonCanonical), 33},
      {"usable LDTR base not canonical", ldtr, set(F::GUEST_LDTR_BASE, kNonCanonical), 33},
      {"CS base bit 32", {}, set(F::GUEST_CS_BASE, 1ull << 32), 33},
      {"SS base bit 32", {}, set(F::GUEST_SS_BASE, 1ull << 32), 33},
      {"DS base bit 32", {}, set(F::GUEST_DS_BASE, 1ull << 32), 33},
      {"ES base bit 32", {}, set(F::GUEST_ES_BASE, 1ull << 32), 33},
      {"unusable DS with base bit 32",
       {set(F::GUEST_DS_ACCESS_RIGHTS, 0x10000)},
       set(F::GUEST_DS_BASE, 1ull << 32),
       0},
      // CS access rights (base: 0xA09B, 64-bit code DPL 0)
      {"CS type 3 without unrestricted guest", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA093), 33},
      {"CS type 8 (not accessed)", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA098), 33},
      {"CS S = 0", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA08B), 33},
      {"CS not present", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA01B), 33},
      {"CS reserved bit 8", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA19B), 33},
      {"CS reserved bit 17", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0x2A09B), 33},
      {"CS unusable", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0x1A09B), 33},
      {"nonconforming CS DPL != SS DPL", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA0FB), 33},
      {"conforming CS DPL > SS DPL", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA0FF), 33},
      {"conforming CS DPL <= SS DPL", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xA09F), 0},
      {"CS G = 1 with limit bits 11:0 not all 1", {}, set(F::GUEST_CS_LIMIT, 0xFFFFF000), 33},
      {"CS G = 0 with limit bits 31:20", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0x209B), 33},
      {"CS L and D/B in IA-32e mode", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xE09B), 33},
      // SS (base: usable, type 3, DPL 0)
      {"SS type 5 (read-only)", {}, set(F::GUEST_SS_ACCESS_RIGHTS, 0xC095), 33},
      {"SS S = 0", {}, clear_bits(F::GUEST_SS_ACCESS_RIGHTS, 0x10), 33},
      {"SS not present", {}, clear_bits(F::GUEST_SS_ACCESS_RIGHTS, 0x80), 33},
      {"SS DPL != SS.RPL", {}, set_bits(F::GUEST_SS_ACCESS_RIGHTS, 0x60), 33},
      {"unusable SS with DPL != SS.RPL", {}, set(F::GUEST_SS_ACCESS_RIGHTS, 0x10060), 33},
      {"unusable SS with DPL 0", {}, set(F::GUEST_SS_ACCESS_RIGHTS, 0x10000), 0},
      {"SS reserved bit 11", {}, set_bits(F::GUEST_SS_ACCESS_RIGHTS, 1u << 11), 33},
      {"SS limit bits 31:20 with G = 0", {}, clear_bits(F::GUEST_SS_ACCESS_RIGHTS, 1u << 15), 33},
      // DS, ES, FS, GS (base: usable read/write data, DPL 0)
      {"DS not accessed", {}, clear_bits(F::GUEST_DS_ACCESS_RIGHTS, 1), 33},
      {"ES execute-only code", {}, set(F::GUEST_ES_ACCESS_RIGHTS, 0xC099), 33},
      {"FS readable code", {}, set(F::GUEST_FS_ACCESS_RIGHTS, 0xC09B), 0},
      {"GS S = 0", {}, clear_bits(F::GUEST_GS_ACCESS_RIGHTS, 0x10), 33},
      {"DS not present", {}, clear_bits(F::GUEST_DS_ACCESS_RIGHTS, 0x80), 33},
      {"ES DPL < RPL", {}, set_bits(F::GUEST_ES_SELECTOR, 3), 33},
      {"FS reserved bit 9", {}, set_bits(F::GUEST_FS_ACCESS_RIGHTS, 1u << 9), 33},
      {"GS reserved bit 20", {}, set_bits(F::GUEST_GS_ACCESS_RIGHTS, 1u << 20), 33},
      {"DS limit bits 31:20 with G = 0", {}, clear_bits(F::GUEST_DS_ACCESS_RIGHTS, 1u << 15), 33},
      {"unusable ES with garbage", {}, set(F::GUEST_ES_ACCESS_RIGHTS, 0x1FF00), 0},
      // TR (base: 64-bit busy TSS) and LDTR
      {"TR 16-bit busy TSS in IA-32e mode", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x83), 33},
      {"TR available TSS", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x89), 33},
      {"TR S = 1", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x9B), 33},
      {"TR not present", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x0B), 33},
      {"TR reserved bit 10", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x48B), 33},
      {"TR G = 1 with limit 0x67", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x808B), 33},
      {"TR unusable", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x1008B), 33},
      {"LDTR type 3", ldtr, set(F::GUEST_LDTR_ACCESS_RIGHTS, 0x83), 33},
      {"LDTR S = 1", ldtr, set(F::GUEST_LDTR_ACCESS_RIGHTS, 0x92), 33},
      {"LDTR not present", ldtr, set(F::GUEST_LDTR_ACCESS_RIGHTS, 0x02), 33},
      {"LDTR limit bits 31:20 with G = 0", ldtr, set(F::GUEST_LDTR_LIMIT, 0x100000), 33},
      // 27.3.1.3 descriptor-table registers
      {"GDTR base not canonical", {}, set(F::GUEST_GDTR_BASE, kNonCanonical), 33},
      {"IDTR base not canonical", {}, set(F::GUEST_IDTR_BASE, kNonCanonical), 33},
      {"GDTR limit bit 16", {}, set(F::GUEST_GDTR_LIMIT, 0x10000), 33},
      {"IDTR limit bit 16", {}, set(F::GUEST_IDTR_LIMIT, 0x10000), 33},
      // 27.3.1.4 RIP and RFLAGS
      {"RIP not canonical", {}, set(F::GUEST_RIP, kNonCanonical), 33},
      {"RFLAGS bit 1 clear", {}, set(F::GUEST_RFLAGS, 0), 33},
      {"RFLAGS bit 3", {}, set(F::GUEST_RFLAGS, 2 | (1u << 3)), 33},
      {"RFLAGS bit 5", {}, set(F::GUEST_RFLAGS, 2 | (1u << 5)), 33},
      {"RFLAGS bit 15", {}, set(F::GUEST_RFLAGS, 2 | (1u << 15)), 33},
      {"RFLAGS bit 22", {}, set(F::GUEST_RFLAGS, 2 | (1u << 22)), 33},
      {"RFLAGS.VM in IA-32e mode", {}, set(F::GUEST_RFLAGS, 2 | kFlagVM), 33},
      {"IF = 0 with an external interrupt injected",
       {kIf, set(kInfo, 0x80000020)},
       set(F::GUEST_RFLAGS, 2),
       33},
      // 27.3.1.5 activity state
      {"activity state 4", {}, set(kAct, 4), 33},
      {"activity state 5", {}, set(kAct, 5), 33},
      {"shutdown with blocking by MOV SS", {set(kIntr, kBlockingByMovSs)}, set(kAct, 2), 33},
      {"shutdown with an injected #DB", {set(kInfo, 0x80000301)}, set(kAct, 2), 33},
      {"shutdown with an injected NMI", {set(kInfo, 0x80000202)}, set(kAct, 2), 0},
      {"wait-for-SIPI with an injected NMI", {set(kInfo, 0x80000202)}, set(kAct, 3), 33},
      {"HLT with blocking by STI", {kIf, set(kIntr, kBlockingBySti)}, set(kAct, 1), 33},
      {"HLT with blocking by MOV SS", {set(kIntr, kBlockingByMovSs)}, set(kAct, 1), 33},
      {"HLT with an injected #GP", {set(kInfo, 0x80000B0D)}, set(kAct, 1), 33},
      {"HLT with an injected software interrupt",
       {set(kInfo, 0x80000420), set(F::VM_ENTRY_INSTRUCTION_LENGTH, 2)},
       set(kAct, 1),
       33},
      {"HLT with an injected #DB", {set(kInfo, 0x80000301)}, set(kAct, 1), 0},
      {"HLT with an injected #MC", {set(kInfo, 0x80000312)}, set(kAct, 1), 0},
      {"HLT with a pending MTF exit", {set(kInfo, 0x80000700)}, set(kAct, 1), 0},
      // interruptibility state
      {"interruptibility reserved bit 5", {}, set(kIntr, 1u << 5), 33},
      {"blocking by STI and MOV SS", {kIf}, set(kIntr, kBlockingBySti | kBlockingByMovSs), 33},
      {"blocking by STI with IF = 0", {}, set(kIntr, kBlockingBySti), 33},
      {"external interrupt under STI blocking",
       {kIf, set(kInfo, 0x80000020)},
       set(kIntr, kBlockingBySti),
       33},
      {"external interrupt under MOV-SS blocking",
       {kIf, set(kInfo, 0x80000020)},
       set(kIntr, kBlockingByMovSs),
       33},
      {"NMI under MOV-SS blocking", {set(kInfo, 0x80000202)}, set(kIntr, kBlockingByMovSs), 33},
      {"NMI under STI blocking (allowed here)",
       {kIf, set(kInfo, 0x80000202)},
       set(kIntr, kBlockingBySti),
       0},
      {"blocking by SMI outside SMM", {}, set(kIntr, kBlockingBySmi), 33},
      {"enclave interruption without SGX", {}, set(kIntr, kEnclaveInterruption), 33},
      {"NMI injected under virtual-NMI blocking",
       {set(kInfo, 0x80000202)},
       set(kIntr, kBlockingByNmi),
       33},
      // pending debug exceptions
      {"pending debug bit 4", {}, set(kPdbg, 1u << 4), 33},
      {"pending debug bit 13", {}, set(kPdbg, 1u << 13), 33},
      {"pending debug bit 15", {}, set(kPdbg, 1u << 15), 33},
      {"pending debug RTM bit 16 without RTM", {}, set(kPdbg, 1u << 16), 33},
      {"pending debug bit 32", {}, set(kPdbg, 1ull << 32), 33},
      {"BS without TF under STI blocking", {kIf, set(kIntr, kBlockingBySti)}, set(kPdbg, kBs), 33},
      {"TF without BS under STI blocking",
       {kIf, set(kIntr, kBlockingBySti)},
       set(F::GUEST_RFLAGS, 0x302),
       33},
      {"TF with BS under STI blocking",
       {set(F::GUEST_RFLAGS, 0x302), set(kPdbg, kBs)},
       set(kIntr, kBlockingBySti),
       0},
      {"BS with TF and BTF under STI blocking",
       {set(F::GUEST_RFLAGS, 0x302), set(kPdbg, kBs), set(kIntr, kBlockingBySti)},
       set(F::GUEST_IA32_DEBUGCTL, 2),
       33},
      // VMCS link pointer (qualification 4)
      {"VMCS link pointer 0 (no VMCS there)", {}, set(F::VMCS_LINK_POINTER, 0), 33, 4},
      {"VMCS link pointer not aligned", {}, set(F::VMCS_LINK_POINTER, kLinkVmcs + 8), 33, 4},
      {"VMCS link pointer beyond MAXPHYADDR", {}, set(F::VMCS_LINK_POINTER, kBeyondMaxPhys), 33, 4},
      {"VMCS link pointer to a shadow VMCS", {}, set(F::VMCS_LINK_POINTER, kShadowVmcs), 33, 4},
      {"VMCS link pointer to an ordinary VMCS", {}, set(F::VMCS_LINK_POINTER, kLinkVmcs), 0},
      // 27.4 the VM-entry MSR-load list (exit reason 34, qualification = entry index)
      {"MSR load of IA32_FS_BASE",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 16),
       34,
       1},
      {"MSR load entry bits 63:32",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 32),
       34,
       1},
      {"MSR load of an x2APIC MSR",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 48),
       34,
       1},
      {"MSR load of IA32_SMM_MONITOR_CTL",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 64),
       34,
       1},
      {"MSR load of a missing MSR",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 80),
       34,
       1},
      {"MSR load WRMSR would #GP",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 96),
       34,
       1},
      {"MSR load of IA32_GS_BASE",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList + 112),
       34,
       1},
      {"second entry of the list fails",
       {set(F::VM_ENTRY_MSR_LOAD_COUNT, 1), set(F::VM_ENTRY_MSR_LOAD_ADDRESS, kMsrList)},
       set(F::VM_ENTRY_MSR_LOAD_COUNT, 2),
       34,
       2},
  };
  run_cases(cases);
}

// 16-bit code: mov ax, 0x1234; mov bx, 0x101; add ax, bx; push ax; pop cx; mov [0x10], cx;
// mov dx, 0x8000; mov es, dx; cpuid; hlt.
const std::vector<uint8_t> kV8086Code = {0xB8, 0x34, 0x12, 0xBB, 0x01, 0x01, 0x01, 0xD8,
                                         0x50, 0x59, 0x89, 0x0E, 0x10, 0x00, 0xBA, 0x00,
                                         0x80, 0x8E, 0xC2, 0x0F, 0xA2, 0xF4};
constexpr uint64_t kV8086CpuidIp = 19;

TEST_F(EntryChecksTest, Virtual8086Matrix) {
  build_v8086_vmcs(kV8086Code);
  std::vector<Case> cases = {
      {"v8086 ES base != selector << 4", {}, set(F::GUEST_ES_BASE, 0x70010), 33},
      {"v8086 CS base != selector << 4", {}, set(F::GUEST_CS_BASE, 0), 33},
      {"v8086 SS limit 0xFFFE", {}, set(F::GUEST_SS_LIMIT, 0xFFFE), 33},
      {"v8086 DS limit 0x1FFFF", {}, set(F::GUEST_DS_LIMIT, 0x1FFFF), 33},
      {"v8086 FS access rights 0xF2", {}, set(F::GUEST_FS_ACCESS_RIGHTS, 0xF2), 33},
      {"v8086 GS unusable", {}, set(F::GUEST_GS_ACCESS_RIGHTS, 0x100F3), 33},
      {"v8086 CS access rights 0xFB (code)", {}, set(F::GUEST_CS_ACCESS_RIGHTS, 0xFB), 33},
      {"v8086 SS access rights 0x93 (DPL 0)", {}, set(F::GUEST_SS_ACCESS_RIGHTS, 0x93), 33},
      {"v8086 with HLT activity (SS.DPL 3)", {}, set(F::GUEST_ACTIVITY_STATE, 1), 33},
      {"16-bit busy TSS outside IA-32e mode", {}, set(F::GUEST_TR_ACCESS_RIGHTS, 0x83), 0},
      {"CR4.PCIDE outside IA-32e mode", {}, set_bits(F::GUEST_CR4, kCr4PCIDE), 33},
      {"EFER.LME with paging outside IA-32e mode", {}, set(F::GUEST_IA32_EFER, kEferLME), 33},
      {"RIP bit 32 outside IA-32e mode", {}, set(F::GUEST_RIP, 1ull << 32), 33},
  };
  run_cases(cases);
}

TEST_F(EntryChecksTest, Virtual8086GuestRuns) {
  // The v8086 guest runs real-mode-style 16-bit code at CPL 3 and exits on CPUID; its HLT
  // is privileged (#GP(0), intercepted through the exception bitmap).
  build_v8086_vmcs(kV8086Code);
  w(F::EXCEPTION_BITMAP, 1u << 13);
  RunResult x = enter();
  ASSERT_EQ(x.kind, Kind::kExit) << static_cast<int>(x.entry.error);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID) << x.exit.reason;
  EXPECT_EQ(r(F::GUEST_RIP), kV8086CpuidIp);
  EXPECT_EQ(r(F::GUEST_RFLAGS) & kFlagVM, kFlagVM);
  EXPECT_EQ(r(F::GUEST_RSP), 0x1000u) << "push and pop";
  EXPECT_EQ(r(F::GUEST_ES_SELECTOR), 0x8000u);
  EXPECT_EQ(r(F::GUEST_ES_BASE), 0x80000u) << "MOV ES loads base = selector << 4";
  EXPECT_EQ(r(F::GUEST_ES_ACCESS_RIGHTS), 0xF3u);
  EXPECT_EQ(r(F::GUEST_CS_SELECTOR), 0x5000u);
  EXPECT_EQ(mem_.load<uint16_t>(0x70010), 0x1335u) << "DS:0x10";
  EXPECT_EQ(st().rip, r(F::HOST_RIP)) << "back in the host";
  x = resume_after(x);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::EXCEPTION_OR_NMI);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du) << "#GP(0) from HLT at CPL 3";
  EXPECT_EQ(r(F::GUEST_RIP), kV8086CpuidIp + 2);
}

TEST_F(EntryChecksTest, Virtual8086InterruptAndIret) {
  // INT 0x21 in the v8086 guest (IOPL 3) goes through a 32-bit interrupt gate to DPL-0
  // code on the TSS's SS0:ESP0, pushing GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP and
  // nulling the data segments (SDM 20.3.1.1); the handler's CPUID exits, its IRETD
  // returns to v8086 mode. With IOPL 0, INT n raises #GP(0) instead (SDM 20.2.7).
  constexpr uint64_t kTss32 = 0x40B000, kIdt32 = 0x40C000, kHandler = 0x51000;
  build_v8086_vmcs({0xCD, 0x21, 0x0F, 0xA2});  // int 0x21; cpuid
  mem_.store<uint32_t>(kTss32 + 4, 0x9000);    // ESP0
  mem_.store<uint16_t>(kTss32 + 8, 0x10);      // SS0: flat data, DPL 0
  uint64_t gate = (kHandler & 0xFFFF) | (uint64_t{Layout::kCode32} << 16) | (0xEEull << 40) |
                  ((kHandler >> 16) << 48);
  put64(kIdt32 + 0x21 * 8, gate);
  const uint8_t handler[] = {0x0F, 0xA2, 0xCF};  // cpuid; iretd
  mem_.write(kHandler, handler, sizeof(handler));
  w(F::GUEST_TR_BASE, kTss32);
  w(F::GUEST_IDTR_BASE, kIdt32);
  w(F::GUEST_IDTR_LIMIT, 0x7FF);
  w(F::GUEST_RFLAGS, kFlagVM | kFlagIOPL | 2);
  w(F::EXCEPTION_BITMAP, 1u << 13);
  RunResult x = enter();
  ASSERT_EQ(x.kind, Kind::kExit) << static_cast<int>(x.entry.error);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID) << x.exit.reason << " " << x.exit.interruption_info;
  EXPECT_EQ(r(F::GUEST_CS_SELECTOR), Layout::kCode32);
  EXPECT_EQ(r(F::GUEST_RIP), kHandler);
  EXPECT_EQ(r(F::GUEST_RFLAGS) & kFlagVM, 0u);
  EXPECT_EQ(r(F::GUEST_SS_SELECTOR), 0x10u);
  uint64_t sp = r(F::GUEST_RSP);
  ASSERT_EQ(sp, 0x9000u - 36);
  const uint32_t frame[9] = {2, 0x5000, kFlagVM | kFlagIOPL | 2, 0x1000, 0x6003, 0x7000, 0x7000,
                             0, 0};
  for (unsigned k = 0; k < 9; ++k)
    EXPECT_EQ(mem_.load<uint32_t>(sp + 4 * k), frame[k]) << "frame dword " << k;
  for (F ar : {F::GUEST_ES_ACCESS_RIGHTS, F::GUEST_DS_ACCESS_RIGHTS, F::GUEST_FS_ACCESS_RIGHTS,
               F::GUEST_GS_ACCESS_RIGHTS})
    EXPECT_TRUE(r(ar) & 0x10000) << "data segments nulled: " << to_string(ar);
  x = resume_after(x);  // IRETD back to v8086 mode, then its CPUID
  ASSERT_EQ(x.kind, Kind::kExit);
  ASSERT_EQ(x.exit.basic(), ExitReason::CPUID) << x.exit.reason << " " << x.exit.interruption_info;
  EXPECT_EQ(r(F::GUEST_CS_SELECTOR), 0x5000u);
  EXPECT_EQ(r(F::GUEST_RIP), 2u);
  EXPECT_EQ(r(F::GUEST_RFLAGS), kFlagVM | kFlagIOPL | 2);
  EXPECT_EQ(r(F::GUEST_RSP), 0x1000u);
  EXPECT_EQ(r(F::GUEST_SS_SELECTOR), 0x6003u);
  EXPECT_EQ(r(F::GUEST_DS_BASE), 0x70000u);
  EXPECT_EQ(r(F::GUEST_DS_ACCESS_RIGHTS), 0xF3u);
  // IOPL 0: INT n faults.
  w(F::GUEST_RIP, 0);
  w(F::GUEST_RFLAGS, kFlagVM | 2);
  x = api_.vm_enter(VmxApi::Entry::kResume, 1000);
  ASSERT_EQ(x.kind, Kind::kExit);
  EXPECT_EQ(x.exit.basic(), ExitReason::EXCEPTION_OR_NMI);
  EXPECT_EQ(x.exit.interruption_info, 0x80000B0Du);
  EXPECT_EQ(x.exit.interruption_error, 0u);
  EXPECT_EQ(r(F::GUEST_RIP), 0u);
}

}  // namespace
}  // namespace hvsim::cpu::vmx::testing_vmx

namespace hvsim::cpu::vmx::testing_vmx {
namespace {

// After a VM entry whose checks passed, later entries skip the checks of the controls and
// host-state area until such a field changes (Vmcs::checked): every way of changing one must
// bring them back, so the result is never different from checking every time.
TEST_F(EntryChecksTest, SkippedChecksSeeEveryChange) {
  Asm g;
  g(ZYDIS_MNEMONIC_CPUID)(ZYDIS_MNEMONIC_HLT);
  load(kGuestCode, g);
  build_vmcs(kGuestCode);
  // Each entry starts the guest at its CPUID (a guest-state write: the checks stay skipped).
  auto cpuid_exit = [&] {
    w(F::GUEST_RIP, kGuestCode);
    RunResult x = enter();
    return x.kind == Kind::kExit && x.exit.basic() == ExitReason::CPUID;
  };
  ASSERT_TRUE(cpuid_exit());
  struct Bad {
    F field;
    uint64_t value;
    int error;
  };
  const Bad kBad[] = {
      {F::HOST_CS_SELECTOR, 0, 8},
      {F::HOST_CR4, st().cr4 & ~kCr4VMXE, 8},
      {F::HOST_RIP, kNonCanonical, 8},
      {F::PIN_BASED_VM_EXECUTION_CONTROLS, r(F::PIN_BASED_VM_EXECUTION_CONTROLS) | (1u << 8), 7},
      {F::CR3_TARGET_COUNT, 5, 7},
      {F::PRIMARY_VM_EXIT_CONTROLS,
       r(F::PRIMARY_VM_EXIT_CONTROLS) & ~exit_ctl::kHostAddressSpaceSize, 8},
  };
  for (const Bad& b : kBad) {
    SCOPED_TRACE(to_string(b.field));
    uint64_t good = r(b.field);
    w(b.field, b.value);
    RunResult x = enter();
    EXPECT_EQ(x.kind, Kind::kEntryFailed);
    EXPECT_EQ(static_cast<int>(x.entry.error), b.error);
    w(b.field, good);
    EXPECT_TRUE(cpuid_exit()) << "valid again";
    EXPECT_TRUE(cpuid_exit()) << "and with the checks skipped";
  }
  // The high half of a 64-bit control field.
  w(F::VM_EXIT_MSR_LOAD_COUNT, 1);
  w(F::VM_EXIT_MSR_LOAD_ADDRESS, kMsrList);
  mem_.store<uint64_t>(kMsrList, 0x174);  // IA32_SYSENTER_CS = 0
  mem_.store<uint64_t>(kMsrList + 8, 0);
  EXPECT_TRUE(cpuid_exit());
  uint32_t high = static_cast<uint32_t>(F::VM_EXIT_MSR_LOAD_ADDRESS) | 1;
  ASSERT_TRUE(api_.vmwrite(static_cast<F>(high), 0x100).ok());
  RunResult x = enter();
  EXPECT_EQ(x.kind, Kind::kEntryFailed) << "MSR-load list beyond MAXPHYADDR";
  EXPECT_EQ(static_cast<int>(x.entry.error), 7);
  w(F::VM_EXIT_MSR_LOAD_COUNT, 0);
  EXPECT_TRUE(cpuid_exit());
  // A field changed in the VMCS region while it was not current (VMCLEAR, edit, VMPTRLD).
  ASSERT_TRUE(api_.vmclear(kVmcs).ok());
  unsigned slot = kSlotOfKey[field_key(static_cast<uint32_t>(F::HOST_TR_SELECTOR))];
  mem_.store<uint64_t>(kVmcs + region::kFields + 8 * slot, 0);
  ASSERT_TRUE(api_.vmptrld(kVmcs).ok());
  x = api_.vm_enter(VmxApi::Entry::kLaunch, 1000);
  EXPECT_EQ(x.kind, Kind::kEntryFailed) << "host TR selector 0";
  EXPECT_EQ(static_cast<int>(x.entry.error), 8);
}

}  // namespace
}  // namespace hvsim::cpu::vmx::testing_vmx
