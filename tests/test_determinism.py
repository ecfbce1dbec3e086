"""Same run twice: same state hash and byte-identical trace. Checkpoint after N
instructions, restore, continue: same result as the uninterrupted run."""

import json

import hvsim


def run_traced(path, trace, **kw):
    m = hvsim.Machine(**kw)
    m.trace(trace)
    m.load_kernel(path, cmdline="rounds=1")
    stop = m.run()
    m.trace_stop()
    return m, stop


def test_twice_same_hash_and_trace(guest, tmp_path):
    for name in ("compute", "exceptions"):
        a, sa = run_traced(guest(name), tmp_path / ("a_%s.jsonl" % name))
        b, sb = run_traced(guest(name), tmp_path / ("b_%s.jsonl" % name))
        assert sa == sb
        assert a.state_hash() == b.state_hash()
        assert a.instructions == b.instructions and a.sim_time_ns == b.sim_time_ns
        ta = (tmp_path / ("a_%s.jsonl" % name)).read_bytes()
        assert ta == (tmp_path / ("b_%s.jsonl" % name)).read_bytes()
        assert len(ta.splitlines()) > 3


def test_chrome_trace_is_valid_json(guest, tmp_path):
    run_traced(guest("exceptions"), tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    names = {e.get("name") for e in doc["traceEvents"]}
    assert "exception" in names and "debug_exit" in names


def test_seed_changes_nothing_that_the_guest_does_not_ask_for(guest):
    a = hvsim.Machine(seed=1)
    a.load_kernel(guest("hello"))
    a.run()
    b = hvsim.Machine(seed=2)
    b.load_kernel(guest("hello"))
    b.run()
    assert a.state_hash() == b.state_hash()


def test_checkpoint_restore_equals_uninterrupted(guest, tmp_path):
    ref = hvsim.Machine()
    ref.load_kernel(guest("compute"), cmdline="rounds=1")
    ref_stop = ref.run()

    for n in (1, 777, 250_000, 1_234_567):
        m = hvsim.Machine()
        m.load_kernel(guest("compute"), cmdline="rounds=1")
        assert m.run(max_instructions=n).kind == "instruction_limit"
        ckpt = tmp_path / ("at_%d.ckpt" % n)
        m.save(ckpt)
        before = m.serial_output
        r = hvsim.Machine.restore(ckpt)
        assert r.state_hash() == m.state_hash()
        assert r.instructions == n
        stop = r.run()
        assert stop == ref_stop
        assert r.state_hash() == ref.state_hash(), n
        assert r.instructions == ref.instructions
        assert r.sim_time_ns == ref.sim_time_ns
        assert before + r.serial_output == ref.serial_output


def test_cli_save_and_restore(cli, guest, tmp_path):
    full = tmp_path / "full.json"
    p = cli("run", "--kernel", guest("compute"), "--append", "rounds=1", "--stats", full, "-q")
    assert p.returncode == 1, p.stderr
    ck = tmp_path / "c.ckpt"
    p1 = cli("run", "--kernel", guest("compute"), "--append", "rounds=1", "--max-insns", "300000",
             "--save", ck, "-q")
    assert p1.returncode == 0, p1.stderr
    part = tmp_path / "part.json"
    p2 = cli("run", "--restore", ck, "--stats", part, "-q")
    assert p2.returncode == 1, p2.stderr
    assert json.loads(full.read_text())["state_hash"] == json.loads(part.read_text())["state_hash"]
    assert p1.stdout + p2.stdout == p.stdout
