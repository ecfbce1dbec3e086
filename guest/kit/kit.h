/* The guest kit in one include: what a guest program may use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kit/boot.h"
#include "kit/check.h"
#include "kit/cmdline.h"
#include "kit/console.h"
#include "kit/cpu.h"
#include "kit/cpu_tables.h"
#include "kit/exception.h"
#include "kit/exit.h"
#include "kit/fw_cfg.h"
#include "kit/layout.h"
#include "kit/multiboot.h"
#include "kit/paging.h"
#include "kit/spec/x86.h"
#include "kit/string_ops.h"
