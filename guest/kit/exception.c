/* Default exception handling: print the interrupted state and stop with a distinct code. */
#include "kit/exception.h"

#include "kit/console.h"
#include "kit/cpu.h"
#include "kit/exit.h"

static const char* const kNames[32] = {"#DE", "#DB",  "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                       "#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
                                       "#MF", "#AC",  "#MC", "#XM", "#VE", "#CP", "#22", "#23",
                                       "#24", "#25",  "#26", "#27", "#HV", "#VC", "#SX", "#31"};

const char* exception_name(uint64_t vector) {
  return vector < 32 ? kNames[vector] : "#??";
}

void default_exception(const struct frame* f) {
  static int active;
  if (active++) exit(KIT_EXIT_NESTED_EXCEPTION);  // printing faulted: say nothing more
  printf("\n*** unexpected exception %s (vector %lu) error=0x%lx\n", exception_name(f->vector),
         f->vector, f->error_code);
  printf("    rip=%016lx cs=%04lx rflags=%016lx rsp=%016lx ss=%04lx\n", f->rip, f->cs, f->rflags,
         f->rsp, f->ss);
  printf("    cr0=%016lx cr2=%016lx cr3=%016lx cr4=%016lx\n", read_cr0(), read_cr2(), read_cr3(),
         read_cr4());
  printf("    rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
  printf("    rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx\n", f->rsi, f->rdi, f->rbp, f->r8);
  printf("    r9 =%016lx r10=%016lx r11=%016lx r12=%016lx\n", f->r9, f->r10, f->r11, f->r12);
  printf("    r13=%016lx r14=%016lx r15=%016lx\n", f->r13, f->r14, f->r15);
  exit(KIT_EXIT_EXCEPTION_BASE + (uint32_t)(f->vector & 31));
}

__attribute__((weak)) void handle_exception(struct frame* f) {
  default_exception(f);
}
