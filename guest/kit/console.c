/* 16550 UART polled output on COM1 (PC16550D datasheet: LSR.THRE before each byte). */
#include "kit/console.h"

#include "kit/cpu.h"
#include "kit/spec/uart16550.h"

void console_init(void) {
  outb(UART_COM1 + UART_IER, 0x00);  // no interrupts: the kit polls
  outb(UART_COM1 + UART_LCR, UART_LCR_DLAB);
  outb(UART_COM1 + UART_DLL, 0x01);  // divisor 1: 115200 baud
  outb(UART_COM1 + UART_DLM, 0x00);
  outb(UART_COM1 + UART_LCR, UART_LCR_8N1);
  outb(UART_COM1 + UART_FCR, UART_FCR_ENABLE_CLEAR);
  outb(UART_COM1 + UART_MCR, UART_MCR_DTR_RTS);
}

void console_putc(char c) {
  while (!(inb(UART_COM1 + UART_LSR) & UART_LSR_THRE)) {
  }
  outb(UART_COM1 + UART_THR, (uint8_t)c);
}

void console_puts(const char* s) {
  while (*s) console_putc(*s++);
}
