/* The access-rights rules of SDM Vol. 3A 4.6 and the #PF error code of 4.7, as guest
 * programs' expectations for every paging mode. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kit/spec/x86.h"

enum paging_access { PAGING_READ, PAGING_WRITE, PAGING_FETCH };

/// Controls that decide an access's rights.
struct paging_controls {
  bool wp, smep, smap, ac;  ///< CR0.WP, CR4.SMEP, CR4.SMAP, EFLAGS.AC (supervisor data)
  bool nx;                  ///< execute-disable in force: PAE/4/5-level paging and EFER.NXE
};

/// 0 if an access to a page with the combined U/S, R/W and XD is allowed, else its #PF
/// error code (P = 1: a protection fault; I/D only if SMEP or NX can cause fetch faults).
static inline uint32_t paging_expected_error(bool us, bool rw, bool xd, struct paging_controls c,
                                             bool user, enum paging_access a) {
  bool nx = c.nx && xd, fault;
  if (user)
    fault = !us || (a == PAGING_WRITE && !rw) || (a == PAGING_FETCH && nx);
  else if (a == PAGING_FETCH)
    fault = nx || (c.smep && us);
  else
    fault = (c.smap && us && !c.ac) || (a == PAGING_WRITE && !rw && c.wp);
  if (!fault) return 0;
  return PF_ERR_P | (a == PAGING_WRITE ? PF_ERR_W : 0) | (user ? PF_ERR_U : 0) |
         (a == PAGING_FETCH && (c.smep || c.nx) ? PF_ERR_I : 0);
}
