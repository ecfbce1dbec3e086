"""The command line as a user drives it: serial to a file, traces, stats, progress-free runs."""

import json


def test_serial_to_file_and_chrome_trace(cli, guest, tmp_path):
    serial = tmp_path / "serial.txt"
    trace = tmp_path / "trace.json"
    p = cli("run", "--kernel", guest("exceptions"), "--serial", serial, "--trace", trace)
    assert p.returncode == 1, p.stderr
    assert p.stdout == ""
    assert "exceptions" in serial.read_text()
    events = json.loads(trace.read_text())["traceEvents"]
    exc = [e for e in events if e.get("name") == "exception"]
    assert exc and all("ts" in e for e in exc)


def test_jsonl_trace_identical_across_runs(cli, guest, tmp_path):
    outs = []
    for i in range(2):
        t = tmp_path / ("t%d.jsonl" % i)
        p = cli("run", "--kernel", guest("pagefault"), "--trace", t, "--serial", "none")
        assert p.returncode == 1, p.stderr
        outs.append(t.read_bytes())
        for line in t.read_text().splitlines():
            json.loads(line)
    assert outs[0] == outs[1]


def test_limits_and_stop_messages(cli, guest, tmp_path):
    stats = tmp_path / "s.json"
    p = cli("run", "--kernel", guest("compute"), "--max-insns", "50k", "--stats", stats)
    assert p.returncode == 0, p.stderr
    assert "instruction limit reached" in p.stderr
    s = json.loads(stats.read_text())
    assert s["instructions"] == 50_000 and s["stop"]["kind"] == "instruction_limit"
    p = cli("run", "--kernel", guest("compute"), "--until", "200us", "--stats", stats)
    assert p.returncode == 0 and json.loads(stats.read_text())["sim_time_ns"] == 200_000


def test_help_lists_every_run_flag(cli):
    p = cli("run", "--help")
    for flag in ("--kernel", "--append", "--module", "--smp", "--memory", "--serial",
                 "--max-insns", "--stats", "--trace"):
        assert flag in p.stdout


def test_timing_override_from_the_command_line(cli, guest, tmp_path):
    base, slow = tmp_path / "base.json", tmp_path / "slow.json"
    assert cli("run", "--kernel", guest("compute"), "--append", "rounds=1", "--stats", base,
               "-q").returncode == 1
    p = cli("run", "--kernel", guest("compute"), "--append", "rounds=1", "--stats", slow,
            "--timing", "divide=400", "--timing", "multiply=20", "-q")
    assert p.returncode == 1, p.stderr
    b, s = json.loads(base.read_text()), json.loads(slow.read_text())
    assert s["instructions"] == b["instructions"] and s["cycles"] > b["cycles"]
    bad = cli("run", "--kernel", guest("hello"), "--timing", "warp=1")
    assert bad.returncode == 2 and "warp" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("run", "--kernel", guest("hello"), "--timing", "divide")
    assert bad.returncode == 2 and "NAME=CYCLES" in bad.stderr
