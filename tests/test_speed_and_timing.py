"""The benchmark guests (memcopy, pagewalk, syscall_loop) pass and are deterministic, also
across a checkpoint cut mid-run; the timing table overrides change cycles exactly and are
recorded in checkpoints; `hvsim bench --quick` produces every row. No timed assertions."""

import json

import pytest

import hvsim

BENCH_GUESTS = [
    ("memcopy", "rounds=1", "64M"),
    ("pagewalk", "accesses=20000", "256M"),
    ("syscall_loop", "iterations=2000", "64M"),
]


def boot(path, cmdline, memory, **kw):
    m = hvsim.Machine(memory=memory, **kw)
    m.load_kernel(path, cmdline=cmdline)
    return m


@pytest.mark.parametrize("program,cmdline,memory", BENCH_GUESTS)
def test_bench_guest_passes_twice_with_the_same_state(guest, program, cmdline, memory):
    runs = []
    for _ in range(2):
        m = boot(guest(program), cmdline, memory)
        stop = m.run()
        assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
        runs.append((m.state_hash(), m.instructions, m.stats()["cycles"], m.serial_output))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("program,cmdline,memory", BENCH_GUESTS)
def test_bench_guest_checkpoint_mid_run_continues_identically(guest, tmp_path, program,
                                                              cmdline, memory):
    ref = boot(guest(program), cmdline, memory)
    ref.run()
    cut = boot(guest(program), cmdline, memory)
    cut.run(max_instructions=ref.instructions // 2 + 7)  # lands inside a block
    cut.save(tmp_path / "c.ckpt")
    restored = hvsim.Machine.restore(tmp_path / "c.ckpt")
    restored.run()
    assert restored.state_hash() == ref.state_hash()
    assert restored.instructions == ref.instructions
    assert restored.stats()["cycles"] == ref.stats()["cycles"]


def test_syscall_loop_runs_in_ring_3(guest):
    m = boot(guest("syscall_loop"), "iterations=100", "64M")
    assert m.run().exit_value == 0, m.serial_output
    assert "100 round trips" in m.serial_output


def test_pagewalk_walks_on_nearly_every_access(guest):
    m = boot(guest("pagewalk"), "accesses=20000", "256M")
    assert m.run().exit_value == 0, m.serial_output
    s = m.stats()
    assert s["page_walks"] > 15000 and s["tlb_misses"] >= s["page_walks"]
    assert s["walk_references"] >= 4 * 15000
    assert s["cpi"] > 1.0


def test_timing_override_changes_cycles_deterministically(guest):
    def cycles(**timing):
        m = boot(guest("compute"), "rounds=1", "64M", timing=timing or None)
        assert m.run().exit_value == 0
        return m.instructions, m.stats()["cycles"], m.state_hash()

    base = cycles()
    slower = cycles(alu=2)
    assert slower[0] == base[0] and slower[2] == base[2]  # same work, same state
    assert slower[1] > base[1]
    assert cycles(alu=2) == slower  # deterministic


def test_vm_entry_and_exit_costs_come_from_the_timing_table(guest):
    def run(**timing):
        m = boot(guest("vmx_basic"), "iterations=100", "64M", timing=timing or None)
        assert m.run().exit_value == 0, m.serial_output
        return m.instructions, m.stats()["cycles"], m.serial_output

    base = run()
    slower = run(vm_entry=1400, vm_exit=900)
    assert "vmx_bench: 100 round trips" in base[2]
    assert slower[0] == base[0]
    # 100 entries (VMLAUNCH, then VMRESUMEs) and 100 exits, 1000 and 500 cycles dearer.
    assert slower[1] - base[1] == 100 * (1400 - 400) + 100 * (900 - 400)
    assert run(vm_entry=1400, vm_exit=900) == slower


def test_timing_is_recorded_in_checkpoints_and_settable_later(guest, tmp_path):
    m = boot(guest("compute"), "rounds=1", "64M", timing={"divide": 31})
    assert m.timing()["divide"] == 31
    m.run(max_instructions=100000)
    m.set_timing(multiply=9)
    m.save(tmp_path / "t.ckpt")
    r = hvsim.Machine.restore(tmp_path / "t.ckpt")
    assert r.timing()["divide"] == 31 and r.timing()["multiply"] == 9
    m.run()
    r.run()
    assert r.stats()["cycles"] == m.stats()["cycles"]


def test_timing_rejects_unknown_entries_and_bad_values():
    with pytest.raises(hvsim.InputError, match="unknown entry 'bogus'"):
        hvsim.Machine(memory="64M", timing={"bogus": 1})
    with pytest.raises(hvsim.InputError, match="non-negative integer"):
        hvsim.Machine(memory="64M", timing={"alu": -1})
    names = [e[0] for e in hvsim.timing_entries()]
    assert "walk_reference" in names and "interrupt" in names and "exception" in names


def test_stats_report_cpi_tlb_and_walks(guest):
    m = boot(guest("compute"), "rounds=1", "64M")
    m.run()
    s = m.stats()
    for key in ("cpi", "tlb_hits", "tlb_misses", "page_walks", "walk_references",
                "exceptions", "interrupts"):
        assert key in s
    assert s["cpi"] == pytest.approx(s["cycles"] / s["instructions"])


def test_bench_quick_produces_every_row(cli, tmp_path):
    out = tmp_path / "bench.json"
    p = cli("bench", "--quick", "--json", out, timeout=600)
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())
    names = {r["workload"] for r in rows}
    for name in ("integer-mix", "memcopy-rep", "memcopy-loop", "pagewalk", "syscall-loop",
                 "integer-loop", "store-heavy", "rep-movsb", "memcopy", "vmx-cpuid-exit-guest",
                 "vmx-cpuid-exit-api", "vmx-ept-violation-exit"):
        assert name in names, (name, names)
    for r in rows:
        assert "error" not in r, r
    vmx = [r for r in rows if r["workload"].startswith("vmx-")]
    assert all(r["round_trips"] > 0 and r["cycles_per_round_trip"] > 0 for r in vmx), vmx
    assert "GB/s" in p.stdout and "ratio" in p.stdout
