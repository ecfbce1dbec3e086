"""`hvsim demo` (one of the README's two commands): every guest program passes, and the
hypervisor part shows a root and two child partitions negotiating VMBus, their offers,
heartbeats, and a shutdown each."""


def test_demo_passes_and_shows_vmbus(cli):
    p = cli("demo", timeout=600)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "== hypervisor mode: a root and two child partitions with VMBus" in out
    assert "vmbus:child1     in   InitiateContact" in out
    assert "out  OfferChannel" in out
    for name in ("root", "child1", "child2"):
        assert "shutdown of %-7s -> Stop(debug_exit, value=51)" % name in out
    alive = [line for line in out.splitlines() if "guest alive: yes" in line]
    assert len(alive) == 3
    table = out[out.index("program "):]
    assert "FAIL" not in table and table.count(" pass ") >= 10
