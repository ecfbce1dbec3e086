/* vmx_basic: a mini hypervisor that runs bare-metal. It checks the VMX capability reporting,
 * IA32_FEATURE_CONTROL and the VMX instructions' failure conventions, enters VMX operation,
 * builds a VMCS for a 64-bit guest that shares its page tables, GDT and IDT (no EPT), runs
 * a VM-entry check matrix, then launches the guest and checks every exit it provokes:
 * reason, qualification, instruction length and information, interruption information
 * (Intel SDM Vol. 3C ch. 24-28, 31). With `iterations=N` it is a benchmark instead: after
 * the same setup the guest loops on CPUID and the host handles N CPUID exits as a minimal
 * hypervisor does, then prints the round trips and the TSC cycles they took. The EPT part
 * (vmx_basic_ept.c) runs after the exits; `ept_iterations=N` is its EPT-violation benchmark. */
#include "vmx_basic.h"
#include "kit/expect.h"
#include "kit/intr.h"
#include "kit/kit.h"
#include "kit/spec/vmx.h"

static uint8_t vmxon_region[4096] __attribute__((aligned(4096)));
static uint8_t vmcs_region[4096] __attribute__((aligned(4096)));
static uint8_t io_bitmap_a[4096] __attribute__((aligned(4096)));
static uint8_t io_bitmap_b[4096] __attribute__((aligned(4096)));
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096)));
uint8_t guest_stack[16384] __attribute__((aligned(16)));

static struct gregs g;
static int launched;
static uint32_t revision;

/* ---- VMX instructions: 0 VMsucceed, 1 VMfailInvalid, 2 VMfailValid ---- */

static int status(uint64_t rflags) {
  return (rflags & 1) ? 1 : (rflags & 0x40) ? 2 : 0;
}
static int vmxon(uint64_t pa) {
  uint64_t fl;
  __asm__ volatile("vmxon %1; pushfq; pop %0" : "=r"(fl) : "m"(pa) : "cc", "memory");
  return status(fl);
}
static int vmxoff(void) {
  uint64_t fl;
  __asm__ volatile("vmxoff; pushfq; pop %0" : "=r"(fl) : : "cc", "memory");
  return status(fl);
}
static int vmclear(uint64_t pa) {
  uint64_t fl;
  __asm__ volatile("vmclear %1; pushfq; pop %0" : "=r"(fl) : "m"(pa) : "cc", "memory");
  return status(fl);
}
static int vmptrld(uint64_t pa) {
  uint64_t fl;
  __asm__ volatile("vmptrld %1; pushfq; pop %0" : "=r"(fl) : "m"(pa) : "cc", "memory");
  return status(fl);
}
static uint64_t vmptrst(void) {
  uint64_t p;
  __asm__ volatile("vmptrst %0" : "=m"(p) : : "cc");
  return p;
}
/* VMREAD/VMWRITE read CF and ZF with SETcc, as a hypervisor's hot path tests them with a
 * conditional jump (no PUSHF). */
static int vmread_s(uint64_t field, uint64_t* v) {
  uint64_t x = 0;
  uint8_t cf, zf;
  __asm__ volatile("vmread %3, %2; setc %0; setz %1"
                   : "=r"(cf), "=r"(zf), "+r"(x)
                   : "r"(field)
                   : "cc");
  *v = x;
  return cf ? 1 : zf ? 2 : 0;
}
static int vmwrite_s(uint64_t field, uint64_t v) {
  uint8_t cf, zf;
  __asm__ volatile("vmwrite %3, %2; setc %0; setz %1"
                   : "=r"(cf), "=r"(zf)
                   : "r"(field), "r"(v)
                   : "cc");
  return cf ? 1 : zf ? 2 : 0;
}
/* The hot-path forms: one SETNA (CF or ZF: either VMfail). */
uint64_t vmread(uint64_t field) {
  uint64_t v = 0;
  uint8_t failed;
  __asm__ volatile("vmread %2, %1; setna %0" : "=r"(failed), "+r"(v) : "r"(field) : "cc");
  if (failed) check(false, "VMREAD 0x%lx", (unsigned long)field);
  return v;
}
void vmwrite(uint64_t field, uint64_t v) {
  uint8_t failed;
  __asm__ volatile("vmwrite %2, %1; setna %0" : "=r"(failed) : "r"(field), "r"(v) : "cc");
  if (failed) check(false, "VMWRITE 0x%lx", (unsigned long)field);
}

/* ---- expected faults (instructions of known length) ---- */

static volatile int guest_pf_expected;
static volatile uint64_t guest_pf_cr2;

void handle_exception(struct frame* f) {
  if (guest_pf_expected && f->vector == 14) { /* in the guest, through the shared IDT */
    guest_pf_cr2 = read_cr2();
    guest_pf_expected = 0;
    f->rip += 3;
    return;
  }
  if (!expected_exception(f)) default_exception(f);
}


/* ---- the guest ---- */

static volatile uint64_t guest_results[8];
static volatile int go;

static void vmcall(uint64_t code) {
  __asm__ volatile("vmcall" ::"a"(code) : "memory");
}

/* Runs in VMX non-root operation. Every numbered step provokes the exit the host expects. */
static void __attribute__((noinline, noreturn)) guest_main(void) {
  uint32_t r[4];
  cpuid(0, 0, r); /* CPUID: the host answers */
  guest_results[0] = r[1];
  __asm__ volatile("hlt");                       /* HLT exiting */
  outb(0x80, 0x55);                              /* I/O bitmap A: port 0x80 */
  (void)inb(0x81);                               /* not in the bitmap */
  __asm__ volatile("outw %%ax, %%dx" ::"a"(0), "d"(0x7F)); /* 0x7F-0x80 touches 0x80 */
  (void)inl(0x8000);                             /* bitmap B */
  __asm__ volatile("rep outsb" ::"S"(guest_results), "c"(4), "d"(0x80) : "memory"); /* OUTS */
  guest_results[1] = rdmsr(0x174);               /* read bitmap */
  (void)rdmsr(0x175);                            /* not in the bitmap */
  wrmsr(0x175, 0);                               /* write bitmap */
  guest_results[2] = read_cr0();                 /* TS from the read shadow */
  guest_results[3] = read_cr4();                 /* VMXE from the read shadow */
  /* TS differs from the shadow: exit (MOV CR0, RAX: 3 bytes) */
  __asm__ volatile("mov %%cr0, %%rax; btr $3, %%rax; mov %%rax, %%cr0" ::: "rax", "cc");
  __asm__ volatile("ud2");                       /* exception bitmap: #UD */
  __asm__ volatile("int3");                      /* #BP: a software exception */
  vmcall(1);
  __asm__ volatile("pause");                     /* PAUSE exiting */
  (void)rdtsc();                                 /* RDTSC exiting */
  __asm__ volatile("invlpg (%%rax)" ::"a"(0x123000) : "memory"); /* INVLPG exiting */
  __asm__ volatile("movq (%%rbx), %%rax" ::"b"(0x700000000000ull) : "rax"); /* #PF exits */
  __asm__ volatile("vmxon (%%rdi)" ::"D"(&g) : "cc");                       /* VMXON exits */
  __asm__ volatile("vmread %%rax, %%rbx" ::"a"(0x4402) : "rbx", "cc");      /* VMREAD exits */
  vmcall(2); /* the host turns on the monitor trap flag */
  __asm__ volatile("nop; nop");
  vmcall(3); /* VMX-preemption timer */
  while (!go) {
  }
  vmcall(4); /* interrupt window: IF = 1 opens it after the STI shadow */
  __asm__ volatile("sti; nop; cli");
  vmcall(5); /* external interrupt with acknowledge on exit */
  vmcall(6); /* NMI window */
  vmcall(7); /* a #PF that does not match is delivered through the guest's IDT */
  guest_pf_expected = 1;
  __asm__ volatile("movq (%%rbx), %%rax" ::"b"(0x700000001000ull) : "rax");
  guest_results[4] = guest_pf_cr2;
  vmcall(8); /* no IDT: #UD becomes a triple fault */
  __asm__ volatile("ud2");
  for (;;) vmcall(99);
}

/* ---- host helpers ---- */

static uint32_t adjust(uint32_t msr, uint32_t want) {
  uint64_t cap = rdmsr(msr);
  uint32_t v = (want | (uint32_t)cap) & (uint32_t)(cap >> 32);
  if ((v & want) != want) check(false, "control bits 0x%x supported by MSR 0x%x", want, msr);
  return v;
}

/* One VM entry: VMLAUNCH the first time, VMRESUME after. Returns the exit reason, or
 * 0xFFFFFFFF if the entry failed with VMfail (the VM-instruction error is in the VMCS). */
uint32_t run_guest(void) {
  uint64_t rc = vmx_run(&g, launched);
  if (rc) return 0xFFFFFFFFu;
  uint32_t reason = (uint32_t)vmread(EXIT_REASON);
  if (!(reason & EXIT_ENTRY_FAILURE)) launched = 1;
  return reason;
}
void skip_instruction(void) {
  vmwrite(GUEST_RIP, vmread(GUEST_RIP) + vmread(VM_EXIT_INSTRUCTION_LENGTH));
}
/* Runs the guest to its next exit and checks the reason (and, if len >= 0, the length). */
bool expect_exit(uint32_t reason, int len, const char* what) {
  uint32_t r = run_guest();
  uint64_t l = vmread(VM_EXIT_INSTRUCTION_LENGTH);
  bool ok = r == reason && (len < 0 || (int)l == len);
  check(ok, "%s: exit reason %u (want %u), length %lu", what, r, reason, (unsigned long)l);
  return ok;
}
void expect_vmcall(uint64_t code) {
  if (expect_exit(EXIT_VMCALL, 3, "VMCALL"))
    check(g.rax == code, "VMCALL %lu from the guest (RAX = %lu)", (unsigned long)code,
          (unsigned long)g.rax);
  skip_instruction();
}
void set_bits(uint64_t field, uint64_t bits, bool on) {
  uint64_t v = vmread(field);
  vmwrite(field, on ? v | bits : v & ~bits);
}

struct desc {
  uint64_t base;
  uint32_t limit, ar;
};
static struct desc descriptor(uint64_t gdt, uint16_t sel) {
  uint64_t d = *(volatile uint64_t*)(gdt + (sel & ~7));
  struct desc r;
  r.base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
  r.limit = (uint32_t)((d & 0xFFFF) | (((d >> 48) & 0xF) << 16));
  r.ar = (uint32_t)((d >> 40) & 0xF0FF);
  if (r.ar & 0x8000) r.limit = (r.limit << 12) | 0xFFF;
  if (!(r.ar & 0x10)) r.base |= *(volatile uint64_t*)(gdt + (sel & ~7) + 8) << 32;
  else r.ar |= 1; /* accessed */
  return r;
}

struct dtr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

static void build_vmcs(void) {
  struct dtr gdtr, idtr;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(idtr));
  uint16_t cs, ds, tr;
  __asm__ volatile("mov %%cs, %0; mov %%ds, %1; str %2" : "=r"(cs), "=r"(ds), "=r"(tr));
  struct desc dcs = descriptor(gdtr.base, cs), dds = descriptor(gdtr.base, ds);
  struct desc dtr_ = descriptor(gdtr.base, tr);
  dtr_.ar |= 2; /* busy */

  vmwrite(PIN_BASED_VM_EXECUTION_CONTROLS, adjust(MSR_IA32_VMX_TRUE_PINBASED_CTLS, 0));
  vmwrite(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS,
          adjust(MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
                 PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS |
                     PROC_PAUSE_EXITING | PROC_RDTSC_EXITING | PROC_INVLPG_EXITING));
  vmwrite(PRIMARY_VM_EXIT_CONTROLS,
          adjust(MSR_IA32_VMX_TRUE_EXIT_CTLS,
                 EXIT_CTL_HOST_ADDRESS_SPACE_SIZE | EXIT_CTL_SAVE_EFER | EXIT_CTL_LOAD_EFER));
  vmwrite(VM_ENTRY_CONTROLS,
          adjust(MSR_IA32_VMX_TRUE_ENTRY_CTLS, ENTRY_CTL_IA32E_MODE_GUEST | ENTRY_CTL_LOAD_EFER));
  /* Secondary controls stay inactive (treated as 0); the entry matrix activates them. */
  vmwrite(SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC2_ENABLE_EPT);
  vmwrite(ADDRESS_OF_IO_BITMAP_A, (uint64_t)io_bitmap_a);
  vmwrite(ADDRESS_OF_IO_BITMAP_B, (uint64_t)io_bitmap_b);
  vmwrite(ADDRESS_OF_MSR_BITMAPS, (uint64_t)msr_bitmap);
  io_bitmap_a[0x80 / 8] = 1u << (0x80 % 8);
  io_bitmap_b[0] = 1; /* port 0x8000 */
  msr_bitmap[0x174 / 8] |= 1u << (0x174 % 8);          /* RDMSR 0x174 */
  msr_bitmap[0x800 + 0x175 / 8] |= 1u << (0x175 % 8);  /* WRMSR 0x175 */
  vmwrite(EXCEPTION_BITMAP, (1u << 6) | (1u << 3) | (1u << 14));
  vmwrite(PAGE_FAULT_ERROR_CODE_MASK, 1);  /* #PF exits when P = 0 ... */
  vmwrite(PAGE_FAULT_ERROR_CODE_MATCH, 0); /* ... (not-present faults) */
  vmwrite(CR0_GUEST_HOST_MASK, 1u << 3);   /* the host owns CR0.TS ... */
  vmwrite(CR0_READ_SHADOW, 1u << 3);       /* ... and shows it as 1 */
  vmwrite(CR4_GUEST_HOST_MASK, CR4_VMXE);  /* the guest sees CR4.VMXE = 0 */
  vmwrite(CR4_READ_SHADOW, 0);

  /* Host state: this very context. HOST_RIP is vmx_run's exit point; HOST_RSP is written
   * by vmx_run whenever it differs from the last value written (vmx_host_rsp). */
  vmwrite(HOST_RIP, (uint64_t)&vmx_exit_point);
  vmx_host_rsp = 0;
  vmwrite(HOST_CR0, read_cr0());
  vmwrite(HOST_CR3, read_cr3());
  vmwrite(HOST_CR4, read_cr4());
  vmwrite(HOST_CS_SELECTOR, cs);
  vmwrite(HOST_SS_SELECTOR, ds);
  vmwrite(HOST_DS_SELECTOR, ds);
  vmwrite(HOST_ES_SELECTOR, ds);
  vmwrite(HOST_FS_SELECTOR, ds);
  vmwrite(HOST_GS_SELECTOR, ds);
  vmwrite(HOST_TR_SELECTOR, tr);
  vmwrite(HOST_FS_BASE, rdmsr(0xC0000100));
  vmwrite(HOST_GS_BASE, rdmsr(0xC0000101));
  vmwrite(HOST_TR_BASE, dtr_.base);
  vmwrite(HOST_GDTR_BASE, gdtr.base);
  vmwrite(HOST_IDTR_BASE, idtr.base);
  vmwrite(HOST_IA32_EFER, rdmsr(0xC0000080));

  /* Guest state: the same flat 64-bit world on its own stack, at guest_main. */
  vmwrite(GUEST_CR0, read_cr0());
  vmwrite(GUEST_CR3, read_cr3());
  vmwrite(GUEST_CR4, read_cr4());
  vmwrite(GUEST_IA32_EFER, rdmsr(0xC0000080));
  vmwrite(GUEST_DR7, 0x400);
  static const uint32_t kData[][4] = {
      {GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_ACCESS_RIGHTS},
      {GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_ACCESS_RIGHTS},
      {GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_ACCESS_RIGHTS},
      {GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_ACCESS_RIGHTS},
      {GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_ACCESS_RIGHTS}};
  for (unsigned k = 0; k < 5; ++k) {
    vmwrite(kData[k][0], ds);
    vmwrite(kData[k][1], 0);
    vmwrite(kData[k][2], dds.limit);
    vmwrite(kData[k][3], dds.ar);
  }
  vmwrite(GUEST_CS_SELECTOR, cs);
  vmwrite(GUEST_CS_BASE, 0);
  vmwrite(GUEST_CS_LIMIT, dcs.limit);
  vmwrite(GUEST_CS_ACCESS_RIGHTS, dcs.ar);
  vmwrite(GUEST_TR_SELECTOR, tr);
  vmwrite(GUEST_TR_BASE, dtr_.base);
  vmwrite(GUEST_TR_LIMIT, dtr_.limit);
  vmwrite(GUEST_TR_ACCESS_RIGHTS, dtr_.ar);
  vmwrite(GUEST_LDTR_ACCESS_RIGHTS, 0x10000); /* unusable */
  vmwrite(GUEST_GDTR_BASE, gdtr.base);
  vmwrite(GUEST_GDTR_LIMIT, gdtr.limit);
  vmwrite(GUEST_IDTR_BASE, idtr.base);
  vmwrite(GUEST_IDTR_LIMIT, idtr.limit);
  vmwrite(GUEST_RSP, (uint64_t)guest_stack + sizeof guest_stack - 8);
  vmwrite(GUEST_RIP, (uint64_t)&guest_main);
  vmwrite(GUEST_RFLAGS, 2);
  vmwrite(VMCS_LINK_POINTER, ~0ull);
}

/* ---- VM-entry check matrix: each broken field gives its documented failure ---- */

struct entry_case {
  const char* what;
  uint32_t field;
  uint64_t bad; /* value, or bits to flip if flip */
  bool flip;
  int expect; /* 7, 8: VMfailValid with that error; 33: entry-failure exit */
};

static void entry_check_matrix(void) {
  static const struct entry_case kCases[] = {
      {"pin-based control outside allowed-1", PIN_BASED_VM_EXECUTION_CONTROLS, 1u << 30, true, 7},
      {"default1 primary control cleared", PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, 1u << 1,
       true, 7},
      {"secondary controls activated with EPT and EPTP 0 (page-walk length 1)",
       PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_SECONDARY_CONTROLS, true, 7},
      {"CR3-target count 5", CR3_TARGET_COUNT, 5, false, 7},
      {"entry to SMM", VM_ENTRY_CONTROLS, ENTRY_CTL_ENTRY_TO_SMM, true, 7},
      {"injection type 1 (reserved)", VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x80000120, false, 7},
      {"injected #GP without error code", VM_ENTRY_INTERRUPTION_INFORMATION_FIELD, 0x8000030D,
       false, 7},
      {"I/O bitmap A not page aligned", ADDRESS_OF_IO_BITMAP_A, 0x800, true, 7},
      {"host CR0.PG clear", HOST_CR0, 1ull << 31, true, 8},
      {"host CR4.VMXE clear", HOST_CR4, CR4_VMXE, true, 8},
      {"host CS selector 0", HOST_CS_SELECTOR, 0, false, 8},
      {"host SS selector RPL 3", HOST_SS_SELECTOR, 3, true, 8},
      {"host TR selector 0", HOST_TR_SELECTOR, 0, false, 8},
      {"host GDTR base not canonical", HOST_GDTR_BASE, 0x0000800000000000ull, false, 8},
      {"host EFER.LMA without host address-space size", HOST_IA32_EFER, 1u << 10, true, 8},
      {"guest CR0.PE clear", GUEST_CR0, 1, true, 33},
      {"guest CR4.VMXE clear", GUEST_CR4, CR4_VMXE, true, 33},
      {"guest CS not a code segment", GUEST_CS_ACCESS_RIGHTS, 8, true, 33},
      {"guest CS L and D both set", GUEST_CS_ACCESS_RIGHTS, 1u << 14, true, 33},
      {"guest SS DPL 3", GUEST_SS_ACCESS_RIGHTS, 3u << 5, true, 33},
      {"guest TR unusable", GUEST_TR_ACCESS_RIGHTS, 0x10000, true, 33},
      {"guest RIP not canonical", GUEST_RIP, 0x0000800000000000ull, false, 33},
      {"guest RFLAGS bit 1 clear", GUEST_RFLAGS, 0, false, 33},
      {"guest RFLAGS.VM in IA-32e mode", GUEST_RFLAGS, 0x20002, false, 33},
      {"guest activity state 4 (undefined)", GUEST_ACTIVITY_STATE, 4, false, 33},
      {"guest STI blocking with IF = 0", GUEST_INTERRUPTIBILITY_STATE, 1, false, 33},
      {"guest EFER.LMA clear", GUEST_IA32_EFER, 1u << 10, true, 33},
      {"VMCS link pointer not ~0", VMCS_LINK_POINTER, 0, false, 33},
  };
  for (unsigned k = 0; k < sizeof kCases / sizeof kCases[0]; ++k) {
    const struct entry_case* c = &kCases[k];
    uint64_t old = vmread(c->field);
    vmwrite(c->field, c->flip ? old ^ c->bad : c->bad);
    uint32_t r = run_guest();
    if (c->expect == 33) {
      uint64_t qual = vmread(EXIT_QUALIFICATION);
      uint64_t want_qual = c->field == VMCS_LINK_POINTER ? 4 : 0;
      check(r == (EXIT_INVALID_GUEST_STATE | EXIT_ENTRY_FAILURE) && qual == want_qual,
            "entry check: %s -> exit reason 0x%x qualification %lu", c->what, r,
            (unsigned long)qual);
    } else {
      uint64_t err = vmread(VM_INSTRUCTION_ERROR);
      check(r == 0xFFFFFFFFu && (int)err == c->expect, "entry check: %s -> VMfailValid %lu",
            c->what, (unsigned long)err);
    }
    vmwrite(c->field, old);
  }
}

/* ---- the exits ---- */

static void exercise_exits(void) {
  uint32_t info;
  expect_exit(EXIT_CPUID, 2, "CPUID");
  g.rbx = 0x1234;
  skip_instruction();
  expect_exit(EXIT_HLT, 1, "HLT");
  skip_instruction();
  if (expect_exit(EXIT_IO_INSTRUCTION, 2, "OUT 0x80 (I/O bitmap A)"))
    check(vmread(EXIT_QUALIFICATION) == ((0x80u << 16) | (1u << 6)),
          "I/O qualification: byte OUT, immediate port 0x80");
  skip_instruction();
  if (expect_exit(EXIT_IO_INSTRUCTION, 2, "OUT DX=0x7F, word (touches 0x80)"))
    check(vmread(EXIT_QUALIFICATION) == ((0x7Fu << 16) | 1u), "I/O qualification: word, DX");
  skip_instruction();
  if (expect_exit(EXIT_IO_INSTRUCTION, 1, "IN from 0x8000 (I/O bitmap B)"))
    check(vmread(EXIT_QUALIFICATION) == ((0x8000u << 16) | (1u << 3) | 3u),
          "I/O qualification: dword IN, DX");
  g.rax = 0xFFFFFFFF;
  skip_instruction();
  if (expect_exit(EXIT_IO_INSTRUCTION, 2, "REP OUTSB to 0x80")) {
    check(vmread(EXIT_QUALIFICATION) == ((0x80u << 16) | (1u << 5) | (1u << 4)),
          "I/O qualification: byte OUTS with REP, DX");
    check(vmread(GUEST_LINEAR_ADDRESS) == (uint64_t)guest_results,
          "OUTS guest-linear address = DS:RSI");
    check(((vmread(VM_EXIT_INSTRUCTION_INFORMATION) >> 15) & 7) == 3, "OUTS segment DS");
  }
  skip_instruction();
  if (expect_exit(EXIT_RDMSR, 2, "RDMSR 0x174 (MSR read bitmap)"))
    check(g.rcx == 0x174, "RDMSR exit with ECX = 0x174");
  g.rax = 0xCAFE;
  g.rdx = 0;
  skip_instruction();
  if (expect_exit(EXIT_WRMSR, 2, "WRMSR 0x175 (MSR write bitmap)"))
    check(g.rcx == 0x175, "WRMSR exit with ECX = 0x175");
  skip_instruction();
  if (expect_exit(EXIT_CR_ACCESS, 3, "MOV to CR0 changing a host-owned bit")) {
    uint64_t q = vmread(EXIT_QUALIFICATION);
    check((q & 0xF) == 0 && ((q >> 4) & 3) == 0, "CR qualification: MOV to CR0 (0x%lx)",
          (unsigned long)q);
  }
  skip_instruction();
  if (expect_exit(EXIT_EXCEPTION_OR_NMI, -1, "UD2 (exception bitmap)")) {
    info = (uint32_t)vmread(VM_EXIT_INTERRUPTION_INFORMATION);
    check(info == 0x80000306, "#UD interruption information 0x%x", info);
  }
  vmwrite(GUEST_RIP, vmread(GUEST_RIP) + 2);
  if (expect_exit(EXIT_EXCEPTION_OR_NMI, 1, "INT3 (exception bitmap)")) {
    info = (uint32_t)vmread(VM_EXIT_INTERRUPTION_INFORMATION);
    check(info == 0x80000603, "#BP is a software exception: 0x%x", info);
  }
  skip_instruction();
  expect_vmcall(1);
  check(guest_results[0] == 0x1234, "guest saw the host's CPUID answer");
  check(guest_results[1] == 0xCAFE, "guest saw the host's RDMSR answer");
  check(guest_results[2] & (1u << 3), "guest reads CR0.TS = 1 from the read shadow");
  check(!(guest_results[3] & CR4_VMXE), "guest reads CR4.VMXE = 0 from the read shadow");
  expect_exit(EXIT_PAUSE, 2, "PAUSE");
  skip_instruction();
  expect_exit(EXIT_RDTSC, 2, "RDTSC");
  skip_instruction();
  if (expect_exit(EXIT_INVLPG, 3, "INVLPG"))
    check(vmread(EXIT_QUALIFICATION) == 0x123000, "INVLPG qualification = linear address");
  skip_instruction();
  if (expect_exit(EXIT_EXCEPTION_OR_NMI, -1, "#PF matching the error-code mask/match")) {
    info = (uint32_t)vmread(VM_EXIT_INTERRUPTION_INFORMATION);
    check(info == 0x80000B0E && vmread(VM_EXIT_INTERRUPTION_ERROR_CODE) == 0,
          "#PF interruption information 0x%x, error code 0", info);
    check(vmread(EXIT_QUALIFICATION) == 0x700000000000ull, "#PF qualification = address");
  }
  vmwrite(GUEST_RIP, vmread(GUEST_RIP) + 3);
  if (expect_exit(EXIT_VMXON, 4, "VMXON in the guest"))
    check(vmread(EXIT_QUALIFICATION) == 0, "VMXON qualification = displacement 0");
  skip_instruction();
  if (expect_exit(EXIT_VMREAD, 3, "VMREAD in the guest")) {
    uint32_t ii = (uint32_t)vmread(VM_EXIT_INSTRUCTION_INFORMATION);
    /* reg1 = RBX (3), register form, 64-bit addresses, reg2 = RAX (0) */
    check(ii == ((3u << 3) | (1u << 10) | (2u << 7)), "VMREAD instruction information 0x%x", ii);
  }
  skip_instruction();

  expect_vmcall(2);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_MONITOR_TRAP_FLAG, true);
  uint64_t rip = vmread(GUEST_RIP);
  if (expect_exit(EXIT_MONITOR_TRAP_FLAG, -1, "monitor trap flag"))
    check(vmread(GUEST_RIP) == rip + 1, "MTF exit after one instruction (NOP)");
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_MONITOR_TRAP_FLAG, false);

  expect_vmcall(3);
  set_bits(PIN_BASED_VM_EXECUTION_CONTROLS, PIN_PREEMPTION_TIMER, true);
  set_bits(PRIMARY_VM_EXIT_CONTROLS, EXIT_CTL_SAVE_PREEMPTION_TIMER, true);
  vmwrite(VMX_PREEMPTION_TIMER_VALUE, 200);
  if (expect_exit(EXIT_PREEMPTION_TIMER, -1, "VMX-preemption timer"))
    check(vmread(VMX_PREEMPTION_TIMER_VALUE) == 0, "preemption timer saved as 0");
  set_bits(PIN_BASED_VM_EXECUTION_CONTROLS, PIN_PREEMPTION_TIMER, false);
  set_bits(PRIMARY_VM_EXIT_CONTROLS, EXIT_CTL_SAVE_PREEMPTION_TIMER, false);
  go = 1;

  expect_vmcall(4);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_INTERRUPT_WINDOW_EXITING, true);
  rip = vmread(GUEST_RIP);
  if (expect_exit(EXIT_INTERRUPT_WINDOW, -1, "interrupt window"))
    check(vmread(GUEST_RIP) == rip + 2 && (vmread(GUEST_RFLAGS) & (1u << 9)),
          "interrupt window opens after STI's shadow (past the NOP)");
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_INTERRUPT_WINDOW_EXITING, false);

  expect_vmcall(5);
  lapic_write(LAPIC_SVR, 0x1FF);
  lapic_send_ipi(0, ICR_SELF | ICR_ASSERT | 0x41);
  set_bits(PIN_BASED_VM_EXECUTION_CONTROLS, PIN_EXTERNAL_INTERRUPT_EXITING, true);
  set_bits(PRIMARY_VM_EXIT_CONTROLS, EXIT_CTL_ACK_INTERRUPT_ON_EXIT, true);
  if (expect_exit(EXIT_EXTERNAL_INTERRUPT, -1, "external interrupt")) {
    info = (uint32_t)vmread(VM_EXIT_INTERRUPTION_INFORMATION);
    check(info == 0x80000041, "acknowledged on exit: vector 0x41 (0x%x)", info);
  }
  lapic_eoi();
  set_bits(PIN_BASED_VM_EXECUTION_CONTROLS, PIN_EXTERNAL_INTERRUPT_EXITING, false);
  set_bits(PRIMARY_VM_EXIT_CONTROLS, EXIT_CTL_ACK_INTERRUPT_ON_EXIT, false);

  expect_vmcall(6);
  set_bits(PIN_BASED_VM_EXECUTION_CONTROLS, PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, true);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_NMI_WINDOW_EXITING, true);
  expect_exit(EXIT_NMI_WINDOW, -1, "NMI window");
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_NMI_WINDOW_EXITING, false);
  set_bits(PIN_BASED_VM_EXECUTION_CONTROLS, PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, false);

  expect_vmcall(7);
  vmwrite(PAGE_FAULT_ERROR_CODE_MATCH, 1); /* not-present faults no longer match */
  expect_vmcall(8);
  check(guest_results[4] == 0x700000001000ull, "#PF delivered through the guest IDT (CR2 0x%lx)",
        (unsigned long)guest_results[4]);
  vmwrite(GUEST_IDTR_LIMIT, 0);
  vmwrite(EXCEPTION_BITMAP, 0);
  expect_exit(EXIT_TRIPLE_FAULT, -1, "triple fault in the guest");
}

/* ---- iterations=N: VM-exit round trips ---- */

static void __attribute__((noinline, noreturn)) cpuid_guest(void) {
  for (;;) {
    uint32_t a = 0, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  }
}

/* N round trips: VMRESUME, CPUID exit, read the reason, answer CPUID, advance RIP. */
static void cpuid_round_trips(uint64_t n) {
  vmwrite(GUEST_RIP, (uint64_t)&cpuid_guest);
  vmwrite(VIRTUAL_PROCESSOR_IDENTIFIER, 1);
  vmwrite(SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC2_ENABLE_VPID);
  set_bits(PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, PROC_SECONDARY_CONTROLS, true);
  uint64_t done = 0, t0 = rdtsc();
  for (; done < n; ++done) {
    if (run_guest() != EXIT_CPUID) break;
    g.rax = 0;
    g.rbx = 0x756E6547; /* "GenuineIntel" */
    g.rdx = 0x49656E69;
    g.rcx = 0x6C65746E;
    skip_instruction();
  }
  uint64_t cycles = rdtsc() - t0;
  check(done == n, "%lu CPUID exits handled", (unsigned long)done);
  printf("vmx_bench: %lu round trips %lu cycles\n", (unsigned long)done, (unsigned long)cycles);
}

int kmain(uint32_t magic, uint32_t mbi) {
  uint64_t bench = cmdline_u64(mb_cmdline(mb_info(mbi)), "iterations", 0);
  uint64_t ept_bench = cmdline_u64(mb_cmdline(mb_info(mbi)), "ept_iterations", 0);
  uint32_t r[4];
  cpuid(1, 0, r);
  if (!check(r[2] & (1u << 5), "CPUID.1:ECX.VMX")) return check_summary("vmx_basic");
  uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
  revision = (uint32_t)(basic & 0x7FFFFFFF);
  check(((basic >> 32) & 0x1FFF) == 4096 && ((basic >> 50) & 0xF) == 6 && (basic >> 54 & 1) &&
            (basic >> 55 & 1),
        "IA32_VMX_BASIC: 4 KiB regions, write-back, INS/OUTS information, true controls (0x%lx)",
        (unsigned long)basic);
  uint64_t p2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32;
  check((p2 & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST)) ==
            (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST),
        "EPT, VPID and unrestricted guest advertised");
  check(rdmsr(MSR_IA32_VMX_CR0_FIXED0) == 0x80000021, "CR0 fixed to 1: PE, NE, PG");
  check(rdmsr(MSR_IA32_VMX_CR4_FIXED0) == CR4_VMXE, "CR4 fixed to 1: VMXE");
  check((rdmsr(MSR_IA32_VMX_MISC) & 0x1F) == 5, "preemption timer rate: TSC / 32");

  /* VMXON outside the rules: #UD without CR4.VMXE, #GP without IA32_FEATURE_CONTROL. */
  *(uint32_t*)vmxon_region = revision;
  uint64_t pa = (uint64_t)vmxon_region;
  expect_exception(6, 4);
  __asm__ volatile("vmxon (%%rdi)" ::"D"(&pa) : "cc", "memory");
  check(exception_taken() == 6, "VMXON with CR4.VMXE = 0: #UD");
  write_cr4(read_cr4() | CR4_VMXE);
  expect_exception(13, 4);
  __asm__ volatile("vmxon (%%rdi)" ::"D"(&pa) : "cc", "memory");
  check(exception_taken() == 13, "VMXON with IA32_FEATURE_CONTROL unlocked: #GP");
  check(rdmsr(MSR_IA32_FEATURE_CONTROL) == 0, "IA32_FEATURE_CONTROL starts unlocked");
  check(wrmsr_faults(MSR_IA32_FEATURE_CONTROL, 2), "FEATURE_CONTROL bit 1 (SMX) reserved: #GP");
  wrmsr(MSR_IA32_FEATURE_CONTROL, FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
  check(wrmsr_faults(MSR_IA32_FEATURE_CONTROL, 5), "FEATURE_CONTROL locked: #GP");

  /* CR0 and CR4 as the fixed-bit MSRs demand (the boot stub leaves CR0.NE clear). */
  write_cr0((read_cr0() | rdmsr(MSR_IA32_VMX_CR0_FIXED0)) & rdmsr(MSR_IA32_VMX_CR0_FIXED1));
  write_cr4((read_cr4() | rdmsr(MSR_IA32_VMX_CR4_FIXED0)) & rdmsr(MSR_IA32_VMX_CR4_FIXED1));
  *(uint32_t*)vmxon_region = revision ^ 1;
  check(vmxon(pa) == 1, "VMXON with a wrong revision id: VMfailInvalid");
  *(uint32_t*)vmxon_region = revision;
  check(vmxon(pa) == 0, "VMXON: VMsucceed");
  check(vmxon(pa) == 1, "VMXON in VMX root operation without a VMCS: VMfailInvalid");
  check(wrmsr_faults(0x480, 0), "capability MSRs are read-only");
  expect_exception(13, 3);
  __asm__ volatile("mov %%rax, %%cr4" ::"a"(read_cr4() & ~(uint64_t)CR4_VMXE)); /* 3 bytes */
  check(exception_taken() == 13 && (read_cr4() & CR4_VMXE),
        "clearing CR4.VMXE in VMX operation: #GP");

  uint64_t vmcs = (uint64_t)vmcs_region;
  *(uint32_t*)vmcs_region = revision;
  check(vmptrld(pa) == 1, "VMPTRLD of the VMXON region, no current VMCS: VMfailInvalid");
  check(vmclear(vmcs) == 0 && vmptrld(vmcs) == 0, "VMCLEAR, VMPTRLD: VMsucceed");
  check(vmptrst() == vmcs, "VMPTRST returns the current VMCS");
  check(vmptrld(pa) == 2 && vmread(VM_INSTRUCTION_ERROR) == VMERR_VMPTRLD_VMXON_POINTER,
        "VMPTRLD of the VMXON region: VMfailValid 10");
  uint64_t v;
  /* 0x2016: the posted-interrupt descriptor address (posted interrupts not implemented). */
  check(vmread_s(0x2016, &v) == 2 && vmread(VM_INSTRUCTION_ERROR) == VMERR_UNSUPPORTED_COMPONENT,
        "VMREAD of POSTED_INTERRUPT_DESCRIPTOR_ADDRESS (unsupported): VMfailValid 12");
  check(vmwrite_s(EXIT_REASON, 0) == 2 && vmread(VM_INSTRUCTION_ERROR) == VMERR_READ_ONLY_COMPONENT,
        "VMWRITE of a read-only field: VMfailValid 13");

  build_vmcs();
  if (ept_bench) {
    ept_violation_round_trips(ept_bench);
  } else if (bench) {
    cpuid_round_trips(bench);
  } else {
    launched = 1; /* VMRESUME of a VMCS that was never launched */
    check(run_guest() == 0xFFFFFFFFu &&
              vmread(VM_INSTRUCTION_ERROR) == VMERR_VMRESUME_NON_LAUNCHED,
          "VMRESUME before VMLAUNCH: VMfailValid 5");
    launched = 0;
    entry_check_matrix();
    exercise_exits();
    ept_exits();
  }

  check(vmclear(vmcs) == 0 && vmptrst() == ~0ull, "VMCLEAR of the current VMCS");
  check(vmxoff() == 0, "VMXOFF");
  write_cr4(read_cr4() & ~(uint64_t)CR4_VMXE);
  (void)magic;
  (void)mbi;
  return check_summary("vmx_basic");
}
