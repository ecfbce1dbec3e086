"""`hvsim run --hyperv --vmbus` and `hvsim timeline`: the VMBus channel messages of a run,
from its trace, in simulated-time order (docs/vmbus.md "Observability")."""

import json
import re

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
        # Each message with its own fields: the version asked for, the answer.
        contact = [r for r in rows if "InitiateContact" in r]
        assert all(re.search(r"requested=\d+\.\d+ target_vcpu=0 msg_sint=2", r)
                   for r in contact), contact
        assert any("supported=1" in r and "msg_conn_id=1" in r for r in rows), rows
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


def test_integration_services_from_the_cli(cli, guest, tmp_path):
    trace = tmp_path / "ic.jsonl"
    p = cli("run", "--hyperv", "--vmbus", "--ic", "--kernel", guest("vmbus_ic"),
            "--until", "5ms", "--trace", str(trace), "-q")
    assert p.returncode == 0, p.stderr  # the time limit
    rows = cli("timeline", str(trace)).stdout.splitlines()
    devices = [re.search(r"relid=(\d) device=(\w+)", r).groups() for r in rows
               if "OfferChannel" in r]
    assert devices == [("1", "heartbeat"), ("2", "shutdown"), ("3", "timesync")], rows
    assert len([r for r in rows if "OpenChannelResult" in r and "status=0x0" in r]) == 3, rows
    ic = cli("timeline", str(trace), "--category", "vmbus_ic").stdout
    assert "heartbeat:negotiate" in ic and "timesync:timesync" in ic, ic
    bad = cli("run", "--hyperv", "--ic", "--kernel", guest("vmbus_ic"))
    assert bad.returncode == 2 and "--integration-services needs --vmbus" in bad.stderr


def test_the_launcher_runs_timeline(tmp_path):
    # `./hvsim timeline` (the README's command) reaches the timeline, without a build.
    import os
    import subprocess
    from conftest import ROOT, _env
    p = subprocess.run([os.path.join(ROOT, "hvsim"), "timeline", str(tmp_path / "none.jsonl")],
                       capture_output=True, text=True, env=_env(), timeout=60)
    assert p.returncode == 2 and "cannot read trace" in p.stderr, (p.stdout, p.stderr)
