"""The bare-metal mini hypervisor (guest/programs/vmx_basic.c, with its EPT part
vmx_basic_ept.c) on the emulated VMX engine: every check passes, the run is deterministic,
and a checkpoint taken while the guest runs in VMX non-root operation restores to the same
result (docs/vmx.md)."""

import hvsim


def run_vmx(guest, max_instructions=None):
    m = hvsim.Machine()
    m.load_kernel(guest("vmx_basic"))
    stop = m.run(max_instructions=max_instructions)
    return m, stop


def test_mini_hypervisor_passes(guest):
    m, stop = run_vmx(guest)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
    assert "vmx_basic: all" in m.serial_output
    vmx = m.inspect()["cpu0"]["vmx"]
    assert vmx["operation"] == "off"
    assert vmx["exits"] > 40
    assert vmx["exits_by_reason"]["CPUID"] == 1
    assert vmx["exits_by_reason"]["VM_ENTRY_FAILURE_INVALID_GUEST_STATE"] >= 10
    # EPT part: not present, read-only, not executable; one misconfiguration.
    assert vmx["exits_by_reason"]["EPT_VIOLATION"] == 3
    assert vmx["exits_by_reason"]["EPT_MISCONFIGURATION"] == 1


def test_twice_same_hash(guest):
    a, sa = run_vmx(guest)
    b, sb = run_vmx(guest)
    assert sa == sb
    assert a.state_hash() == b.state_hash()
    assert a.instructions == b.instructions and a.sim_time_ns == b.sim_time_ns


def test_checkpoint_in_guest_and_host(guest, tmp_path):
    ref, ref_stop = run_vmx(guest)
    # Find cut points in VMX non-root operation (the guest) and in root operation.
    scan = hvsim.Machine()
    scan.load_kernel(guest("vmx_basic"))
    cuts = {"non-root": [], "root": []}
    while scan.run(max_instructions=97).kind == "instruction_limit":
        op = scan.inspect()["cpu0"]["vmx"]["operation"]
        if op in cuts and len(cuts[op]) < 3:
            cuts[op].append(scan.instructions)
    assert len(cuts["non-root"]) == 3 and len(cuts["root"]) == 3, cuts
    for n in cuts["non-root"] + cuts["root"]:
        m, stop = run_vmx(guest, max_instructions=n)
        assert stop.kind == "instruction_limit"
        ckpt = tmp_path / ("at_%d.ckpt" % n)
        m.save(ckpt)
        r = hvsim.Machine.restore(ckpt)
        assert r.state_hash() == m.state_hash()
        r_stop = r.run()
        assert r_stop == ref_stop
        assert r.state_hash() == ref.state_hash(), n
        assert r.instructions == ref.instructions and r.sim_time_ns == ref.sim_time_ns
        assert m.serial_output + r.serial_output == ref.serial_output


def test_ept_violation_round_trips_deterministic(guest):
    """The benchmark loop of `hvsim bench` (ept_iterations=N): N EPT-violation exits, each
    swapping which of two pages is read-only in EPT; twice with the same result."""
    runs = []
    for _ in range(2):
        m = hvsim.Machine(memory="64M")
        m.load_kernel(guest("vmx_basic"), cmdline="ept_iterations=200")
        stop = m.run()
        assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
        assert "vmx_ept_bench: 200 round trips" in m.serial_output
        assert m.inspect()["cpu0"]["vmx"]["exits_by_reason"]["EPT_VIOLATION"] == 200
        runs.append((m.state_hash(), m.instructions, m.sim_time_ns))
    assert runs[0] == runs[1]
