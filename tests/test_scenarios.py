"""The README's walk-throughs (scenarios/*.py) run and end as the README shows: the restored
machine ends exactly as the uninterrupted one."""

import os
import subprocess

import pytest

from conftest import ROOT, _env


@pytest.mark.parametrize("script", ["checkpoint_replay.py", "vmbus_partitions.py"])
def test_scenario_runs_and_matches(script):
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scenarios", script)],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "identical: True" in p.stdout, p.stdout
    if script == "vmbus_partitions.py":
        assert p.stdout.count("heartbeats sent 2, acknowledged 2 (alive: yes)") == 3, p.stdout
        assert "shutdown of child1 -> Stop(debug_exit, value=51)" in p.stdout, p.stdout
