/* Reading firmware-configuration items through the legacy I/O ports 0x510/0x511. */
#include "kit/fw_cfg.h"

#include "kit/cpu.h"

void fw_cfg_read(uint16_t key, void* buf, size_t n) {
  outw(FW_CFG_PORT_SELECTOR, key);
  uint8_t* p = buf;
  for (size_t i = 0; i < n; i++) p[i] = inb(FW_CFG_PORT_DATA);
}

uint64_t fw_cfg_read_le(uint16_t key, unsigned width) {
  uint8_t bytes[8];
  if (width > 8) width = 8;
  fw_cfg_read(key, bytes, width);
  uint64_t v = 0;
  for (unsigned i = 0; i < width; i++) v |= (uint64_t)bytes[i] << (8 * i);
  return v;
}
