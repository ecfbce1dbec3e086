"""`hvsim run --hyperv --vmbus` and `hvsim timeline`: the VMBus channel messages of a run,
from its trace, in simulated-time order (docs/vmbus.md "Observability")."""

import json

import hvsim.timeline


def test_vmbus_timeline_from_a_cli_run(cli, guest, tmp_path):
    for name in ("t.jsonl", "t.json"):  # both trace formats
        trace = tmp_path / name
        p = cli("run", "--hyperv", "--vmbus", "--kernel", guest("vmbus_basic"),
                "--append", "offers=0", "--trace", str(trace), "-q")
        # The guest's debug exit (odd status; without offers it fails its own offer check).
        assert p.returncode % 2 == 1, p.stderr
        t = cli("timeline", str(trace))
        assert t.returncode == 0, t.stderr
        rows = t.stdout.splitlines()
        assert rows[0].split()[:3] == ["time", "(us)", "track"]
        events = [r.split()[1:4] for r in rows[1:]]
        assert events[:2] == [["vmbus:child", "in", "InitiateContact"],
                              ["vmbus:child", "out", "VersionResponse"]]
        assert ["vmbus:child", "in", "RequestOffers"] in events
        times = [float(r.split()[0]) for r in rows[1:]]
        assert times == sorted(times) and times[0] > 0
    # The same lines from both formats.
    assert hvsim.timeline.lines(str(tmp_path / "t.jsonl")) == \
        hvsim.timeline.lines(str(tmp_path / "t.json"))


def test_timeline_errors(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    p = cli("timeline", str(bad))
    assert p.returncode == 2 and "is not an hvsim trace" in p.stderr
    p = cli("timeline", str(tmp_path / "missing.jsonl"))
    assert p.returncode == 2 and "cannot read trace" in p.stderr
    empty = tmp_path / "e.jsonl"
    empty.write_text(json.dumps({"t_ps": 1, "track": "cpu0", "cat": "cpu", "name": "x",
                                 "args": {}}) + "\n")
    p = cli("timeline", str(empty))
    assert p.returncode == 0 and "no vmbus records" in p.stdout


def test_vmbus_flag_needs_hyperv(cli, guest):
    p = cli("run", "--vmbus", "--kernel", guest("hello"), "-q")
    assert p.returncode == 2 and "--vmbus needs --hyperv" in p.stderr
