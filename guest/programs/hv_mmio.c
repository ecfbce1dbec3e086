/* hv_mmio: device registers through the instructions kernels use on them, and string port
 * I/O. In a child partition every access below is a VM exit that the hypervisor serves by
 * instruction emulation (docs/hv.md "Instruction emulation"; Intel SDM Vol. 2 for each
 * instruction, Vol. 3C 29.3.3 EPT violations); on bare metal the processor does it
 * directly. Both must print the same values: the tests compare the two outputs.
 *   - IOAPIC (0xFEC00000: IOREGSEL at +0, IOWIN at +0x10; 82093AA datasheet 3.1): MOV of
 *     every size and moffs, MOVZX/MOVSX, AND/OR/ADD/SUB/CMP/TEST with flags, XCHG,
 *     BT/BTS/BTR, MOVNTI, REP MOVS and STOS.
 *   - REP OUTSB to COM1, OUTSW to the firmware-config selector, REP INSB (forwards and,
 *     with DF = 1, backwards) from its data port.
 *   - A #PF with CR2 when the string buffer runs into a page that is not present, with
 *     RCX/RSI telling how far it got.
 * With `uncovered=1` it then runs IMUL on an IOAPIC register, which the emulator does not
 * cover: in a partition that crashes the partition (and only it). */
#include "kit/expect.h"
#include "kit/kit.h"

#define IOAPIC 0xFEC00000ull
#define IOREGSEL ((volatile uint32_t*)IOAPIC)
#define IOWIN ((volatile uint32_t*)(IOAPIC + 0x10))

static uint64_t fault_cr2;
static uint8_t pages[2 * 4096] __attribute__((aligned(4096)));

void handle_exception(struct frame* f) {
  if (f->vector == 14) fault_cr2 = read_cr2();
  if (!expected_exception(f)) default_exception(f);
}

static void ioapic_tests(void) {
  uint32_t v;
  /* MOV r/m32, imm32 then MOV r32, r/m32. */
  __asm__ volatile("movl $1, (%1)\n\tmovl 0x10(%1), %0" : "=r"(v) : "r"(IOAPIC) : "memory");
  printf("ioapic version 0x%x\n", v);
  check((v & 0xFF) != 0 && ((v >> 16) & 0xFF) >= 23, "IOAPIC version register 0x%x", v);
  uint32_t version = v;
  /* MOV r/m8, imm8 selects; MOVZX and MOVSX of the window. */
  uint64_t zb, zw, sb;
  __asm__ volatile(
      "movb $1, (%3)\n\tmovzbl 0x10(%3), %k0\n\tmovzwq 0x10(%3), %1\n\tmovsbq 0x10(%3), %2"
      : "=&r"(zb), "=&r"(zw), "=&r"(sb)
      : "r"(IOAPIC)
      : "memory");
  printf("movzx 0x%lx 0x%lx movsx 0x%lx\n", (unsigned long)zb, (unsigned long)zw,
         (unsigned long)sb);
  check(zb == (version & 0xFF) && zw == (version & 0xFFFF), "MOVZX of the version register");
  /* moffs forms (A3: MOV moffs32, EAX; A1: MOV EAX, moffs32) with 64-bit addresses. */
  uint32_t m = 0x10;
  __asm__ volatile("movabs %%eax, 0xfec00000" ::"a"(m) : "memory");
  __asm__ volatile("movabs 0xfec00010, %%eax" : "=a"(v)::"memory");
  printf("moffs: redirection entry 0 low 0x%x\n", v);
  /* Redirection entry 0 (index 0x10): masked, vector 0x30; then read-modify-writes. */
  *IOREGSEL = 0x10;
  *IOWIN = 0x10030;
  uint64_t fl;
  __asm__ volatile("orl $0x100, 0x10(%1)\n\tpushfq\n\tpopq %0" : "=r"(fl) : "r"(IOAPIC) : "memory");
  printf("or: 0x%x flags 0x%lx\n", *IOWIN, (unsigned long)(fl & 0x8D5));
  __asm__ volatile("andl $0xFFFFFF0F, 0x10(%1)\n\tpushfq\n\tpopq %0"
                   : "=r"(fl)
                   : "r"(IOAPIC)
                   : "memory");
  printf("and: 0x%x flags 0x%lx\n", *IOWIN, (unsigned long)(fl & 0x8D5));
  __asm__ volatile("addl $0x42, 0x10(%1)\n\tpushfq\n\tpopq %0" : "=r"(fl) : "r"(IOAPIC) : "memory");
  printf("add: 0x%x flags 0x%lx\n", *IOWIN, (unsigned long)(fl & 0x8D5));
  __asm__ volatile("subl $0x10112, 0x10(%1)\n\tpushfq\n\tpopq %0"
                   : "=r"(fl)
                   : "r"(IOAPIC)
                   : "memory");
  printf("sub: 0x%x flags 0x%lx\n", *IOWIN, (unsigned long)(fl & 0x8D5));
  check(*IOWIN == 0x30, "OR, AND, ADD, SUB on the window: 0x%x", *IOWIN);
  uint8_t eq, zero;
  __asm__ volatile("cmpl $0x30, 0x10(%2)\n\tsete %0\n\ttestl $0x10000, 0x10(%2)\n\tsetz %1"
                   : "=r"(eq), "=r"(zero)
                   : "r"(IOAPIC)
                   : "memory", "cc");
  check(eq && zero, "CMP and TEST flags from the window");
  /* XCHG, BTS/BTR/BT, MOVNTI. */
  uint32_t x = 0x10031;
  __asm__ volatile("xchgl %0, 0x10(%1)" : "+r"(x) : "r"(IOAPIC) : "memory");
  printf("xchg: old 0x%x new 0x%x\n", x, *IOWIN);
  uint8_t cf1, cf2;
  __asm__ volatile("btsl $1, 0x10(%2)\n\tsetc %0\n\tbtrl $16, 0x10(%2)\n\tsetc %1"
                   : "=r"(cf1), "=r"(cf2)
                   : "r"(IOAPIC)
                   : "memory", "cc");
  printf("bts/btr: cf %u %u value 0x%x\n", cf1, cf2, *IOWIN);
  check(!cf1 && cf2 && *IOWIN == 0x33, "BTS and BTR: 0x%x", *IOWIN);
  /* Why: hvsim's processor raises #UD for MOVNTI while CR4.OSFXSR = 0 (the SDM asks only
   * for SSE2 in CPUID); enable it, as every SSE-capable kernel has. */
  write_cr4(read_cr4() | (1u << 9));
  uint32_t nt = 0x10040;
  __asm__ volatile("movnti %0, 0x10(%1)" ::"r"(nt), "r"(IOAPIC) : "memory");
  check(*IOWIN == 0x10040, "MOVNTI: 0x%x", *IOWIN);
  /* 64-bit and 16-bit MOV of IOREGSEL. */
  uint64_t sel64;
  uint16_t sel16;
  __asm__ volatile("movq (%2), %0\n\tmovw (%2), %1" : "=r"(sel64), "=r"(sel16) : "r"(IOAPIC));
  printf("ioregsel as 64 and 16 bits: 0x%lx 0x%x\n", (unsigned long)sel64, sel16);
  /* REP STOSD selects the version register; MOVSD (REP, count 1) copies the window to RAM,
   * three times from the same address. */
  uint32_t buf[3] = {0, 0, 0};
  uint64_t c = 1, d = IOAPIC;
  __asm__ volatile("rep stosl" : "+c"(c), "+D"(d) : "a"(1) : "memory");
  d = (uint64_t)(uintptr_t)buf;
  for (int k = 0; k < 3; ++k) {
    uint64_t one = 1, src = IOAPIC + 0x10;
    __asm__ volatile("rep movsl" : "+c"(one), "+S"(src), "+D"(d) : : "memory");
  }
  printf("movs: 0x%x 0x%x 0x%x\n", buf[0], buf[1], buf[2]);
  check(buf[0] == version && buf[2] == version, "REP STOSD and MOVSD through the window");
  *IOREGSEL = 0x10;
  *IOWIN = 0x10000; /* leave entry 0 masked as the reset state has it */
}

static void string_io_tests(void) {
  static const char line[] = "hv_mmio: rep outsb to the serial port\n";
  uint64_t c = sizeof line - 1, s = (uint64_t)(uintptr_t)line;
  uint16_t port = 0x3F8;
  __asm__ volatile("rep outsb" : "+c"(c), "+S"(s) : "d"(port) : "memory");
  check(c == 0 && s == (uint64_t)(uintptr_t)line + sizeof line - 1, "REP OUTSB: RCX 0, RSI past");
  /* OUTSW writes the selector from memory; REP INSB reads the signature. */
  uint16_t key = FW_CFG_SIGNATURE;
  char sig[5] = {0};
  s = (uint64_t)(uintptr_t)&key;
  port = FW_CFG_PORT_SELECTOR;
  __asm__ volatile("outsw" : "+S"(s) : "d"(port) : "memory");
  c = 4;
  uint64_t d = (uint64_t)(uintptr_t)sig;
  port = FW_CFG_PORT_DATA;
  __asm__ volatile("rep insb" : "+c"(c), "+D"(d) : "d"(port) : "memory");
  printf("fw_cfg signature via rep insb: %s\n", sig);
  check(sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U', "REP INSB signature");
  /* Backwards (DF = 1): the RAM size, read into a buffer from its end. */
  uint8_t ram[8] = {0};
  outw(FW_CFG_PORT_SELECTOR, FW_CFG_RAM_SIZE);
  c = 8;
  d = (uint64_t)(uintptr_t)&ram[7];
  __asm__ volatile("std\n\trep insb\n\tcld" : "+c"(c), "+D"(d) : "d"(port) : "memory");
  uint64_t backwards = 0; /* byte k of the item landed at ram[7 - k] */
  for (int k = 0; k < 8; ++k) backwards |= (uint64_t)ram[7 - k] << (8 * k);
  uint64_t size = fw_cfg_read_le(FW_CFG_RAM_SIZE, 8);
  printf("fw_cfg ram size 0x%lx, backwards 0x%lx\n", (unsigned long)size, (unsigned long)backwards);
  check(backwards == size && d == (uint64_t)(uintptr_t)ram - 1, "REP INSB with DF = 1");
}

static void page_fault_test(void) {
  /* The second page of `pages` made not present: REP OUTSB from 2 bytes before it. */
  uint64_t second = (uint64_t)(uintptr_t)pages + 4096;
  uint64_t* pte = paging_split_2m(second) ? paging_pte(second) : 0;
  if (!check(pte != 0, "split the 2 MiB page")) return;
  pages[4094] = '<';
  pages[4095] = '>';
  *pte &= ~1ull;
  invlpg(second);
  uint64_t c = 5, s = second - 2;
  uint16_t port = 0x3F8;
  expect_exception(14, 2);
  __asm__ volatile("rep outsb" : "+c"(c), "+S"(s) : "d"(port) : "memory");
  int vec = exception_taken();
  printf("\n");
  *pte |= 1;
  invlpg(second);
  printf("#PF: vector %d cr2 offset %ld rcx %lu rsi offset %ld\n", vec, (long)(fault_cr2 - second),
         (unsigned long)c, (long)(s - second));
  check(vec == 14 && fault_cr2 == second && c == 3 && s == second,
        "REP OUTSB into a non-present page: #PF at its start after two bytes");
}

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  uint64_t uncovered = cmdline_u64(mb_cmdline(mb_info(mbi)), "uncovered", 0);
  ioapic_tests();
  string_io_tests();
  page_fault_test();
  if (uncovered) {
    uint32_t v = 3;
    *IOREGSEL = 1;
    __asm__ volatile("imull 0x10(%1), %0" : "+r"(v) : "r"(IOAPIC) : "memory");
    printf("imul: 0x%x\n", v);
  }
  return check_summary("hv_mmio");
}
