/* Reading firmware-configuration items through the legacy I/O ports 0x510/0x511. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kit/spec/fw_cfg.h"

/// Selects `key` and reads `n` bytes of it into buf.
void fw_cfg_read(uint16_t key, void* buf, size_t n);

/// Selects `key` and reads its first `width` bytes (1-8) as a little-endian integer.
uint64_t fw_cfg_read_le(uint16_t key, unsigned width);
