/* Kit entry from the boot stub: console, CPU tables, kmain, exit with its result. */
#include "kit/kit.h"

void kit_start(uint32_t magic, uint32_t mbi);

void kit_start(uint32_t magic, uint32_t mbi) {
  console_init();
  cpu_tables_init();
  exit((uint32_t)kmain(magic, mbi));
}

void exit(uint32_t code) {
  outl(0xF4, code);
  for (;;) {
    cli();
    hlt();
  }
}
