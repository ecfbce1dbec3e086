"""Guest programs of the processor's modes, paging and debug work: each passes its own
checks; the triple-fault program stops the machine with the right RIP; the paging programs
are deterministic."""

import re

import pytest

import hvsim


def boot(path, cmdline=""):
    m = hvsim.Machine()
    m.load_kernel(path, cmdline=cmdline)
    stop = m.run(max_instructions=300_000_000)
    return m, stop


@pytest.mark.parametrize("program", ["syscall", "debugregs", "realmode", "paging_matrix",
                                     "paging_legacy", "paging_la57", "exception_matrix"])
def test_modes_program_passes(guest, program):
    m, stop = boot(guest(program))
    assert stop.kind == "debug_exit", (stop, m.serial_output)
    assert stop.exit_value == 0, m.serial_output
    assert "%s: all" % program in m.serial_output


def test_triple_fault_stops_with_rip_of_the_faulting_instruction(guest):
    m, stop = boot(guest("triple_fault"))
    assert stop.kind == "triple_fault", (stop, m.serial_output)
    match = re.search(r"ud2 at 0x([0-9a-f]+)", m.serial_output)
    assert match, m.serial_output
    assert stop.rip == int(match.group(1), 16)
    assert "while delivering #DF" in stop.message


@pytest.mark.parametrize("program", ["paging_matrix", "paging_legacy", "paging_la57"])
def test_paging_program_is_deterministic(guest, program):
    a, _ = boot(guest(program))
    b, _ = boot(guest(program))
    assert a.stats()["state_hash"] == b.stats()["state_hash"]
    assert a.instructions == b.instructions
    assert a.serial_output == b.serial_output


def test_page_walk_references_in_inspect(guest):
    m, _ = boot(guest("paging_matrix"))
    tlb = m.inspect()["cpu0"]["tlb"]
    assert tlb["page_walks"] > 0 and tlb["walk_refs"] >= tlb["page_walks"]
