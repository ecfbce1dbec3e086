// Guest-linear to guest-physical translation by walking a partition's own page tables, as
// an instruction emulator in the hypervisor must (Intel SDM Vol. 3A ch. 4: 4.3 32-bit
// paging, 4.4 PAE, 4.5 4-/5-level, 4.6 access rights, 4.7 #PF error codes, 4.8 A/D flags;
// ch. 3.4 and 5.3 for segmentation and limit checks). It follows the rules of the
// processor's own walk (cpu/paging_walk.cpp) but reads the tables through guest-physical
// memory (the partition's EPT space), so it needs nothing of the CPU's internals.
#pragma once

#include <cstdint>

#include "cpu/spec/paging.h"
#include "cpu/state.h"

namespace hvsim::hv {

/// Guest-physical memory as the emulator sees it: RAM of the partition. Reads and writes of
/// `len` bytes within one page; false if `gpa` is not RAM (or, for write, not writable).
class GuestPhysMemory {
 public:
  virtual ~GuestPhysMemory() = default;
  virtual bool read(uint64_t gpa, void* out, unsigned len) = 0;
  virtual bool write(uint64_t gpa, const void* in, unsigned len) = 0;
  /// True if `gpa` is RAM of the partition (else it is an MMIO address).
  virtual bool is_ram(uint64_t gpa) const = 0;
};

/// What the walk needs of the guest's registers (their guest-visible values).
struct PagingRegs {
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
  uint64_t rflags = 2;
  unsigned cpl = 0;
  /// PAE paging: the PDPTE registers (VMCS GUEST_PDPTE0-3 under EPT, SDM 4.4.1 / 26.3.2.4).
  uint64_t pdpte[4] = {};
};

enum class GuestAccess : uint8_t { kRead, kWrite, kFetch };

/// An exception the emulated instruction raises (injected at the next VM entry).
struct GuestFault {
  uint8_t vector = 0;
  bool has_error = false;
  uint32_t error = 0;
  uint64_t cr2 = 0;  ///< #PF: the faulting linear address
};

/// A translation: the guest-physical address, or the #PF to raise.
struct GuestTranslation {
  bool ok = false;
  uint64_t gpa = 0;
  GuestFault fault;
};

/// The paging mode CR0.PG, CR4.PAE, EFER.LME and CR4.LA57 select (SDM 4.1.1).
cpu::spec::PagingMode guest_paging_mode(const PagingRegs& r);

/// Translates `la` for an access of kind `acc`; `implicit` marks supervisor-mode accesses
/// the processor makes on its own (descriptor tables: SMAP always applies). Sets the A and
/// D flags a real walk sets, including the A flags of a faulting walk above the fault.
/// A paging-structure entry outside partition RAM stops the walk with *table_not_ram set
/// (on hardware that is an EPT violation on the walk itself; the caller crashes the
/// partition rather than emulate page tables in device memory).
GuestTranslation translate_linear(GuestPhysMemory& mem, const PagingRegs& r, uint64_t la,
                                  GuestAccess acc, bool implicit = false,
                                  bool* table_not_ram = nullptr);

/// The segment part of an address (SDM 3.4.5, 5.3): linear = base + offset, with the
/// limit and type checks of non-64-bit modes and the canonical check of 64-bit mode.
/// `seg` is the segment index (cpu::kEs..kGs), `size` the access width in bytes.
/// Returns false with `*fault` (#GP(0), or #SS(0) for SS) if the access is not allowed.
bool segment_linear(const cpu::SegReg& s, unsigned seg, bool long64, uint64_t offset, unsigned size,
                    unsigned addr_bytes, GuestAccess acc, unsigned la_bits, uint64_t* la,
                    GuestFault* fault);

}  // namespace hvsim::hv
