/* Firmware configuration interface: ports and item keys (QEMU docs/specs/fw_cfg.rst, legacy I/O).
 */
#pragma once

#define FW_CFG_PORT_SELECTOR 0x510 /* 16-bit write selects an item, resets the offset */
#define FW_CFG_PORT_DATA 0x511     /* byte reads walk the selected item */

#define FW_CFG_SIGNATURE 0x00 /* 4 bytes "QEMU" */
#define FW_CFG_ID 0x01        /* u32 feature bitmap */
#define FW_CFG_RAM_SIZE 0x03  /* u64 bytes of RAM */
#define FW_CFG_NB_CPUS 0x05   /* u16 processors present */
#define FW_CFG_MAX_CPUS 0x0F  /* u16 processors possible */
#define FW_CFG_RAM_LIMIT \
  0x11 /* u64 RAM limit (hvsim convention; QEMU uses this key for kernel data) */
