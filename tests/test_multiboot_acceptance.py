"""The acceptance kernel checks its entry state, command line, module, memory map and
firmware-configuration values, and exits with the status it was asked for."""

import json

import pytest


def write_module(tmp_path):
    env = tmp_path / "env"
    env.write_text("MODULE_OK=1\nOTHER=2\n")
    return env


@pytest.mark.parametrize("smp,memory,mib", [(1, "256M", 256), (2, "128M", 128)])
def test_mbcheck_exits_with_chosen_status(cli, guest, tmp_path, smp, memory, mib):
    env = write_module(tmp_path)
    stats = tmp_path / "stats.json"
    p = cli("run", "--kernel", guest("mbcheck"), "--append",
            "expect_mem=%d expect_cpus=%d exit=21" % (mib, smp), "--module", env,
            "--smp", smp, "--memory", memory, "--stats", stats)
    assert p.returncode == (21 << 1) | 1, p.stdout + p.stderr
    s = json.loads(stats.read_text())
    for key in ("instructions", "sim_time_ns", "host_seconds", "mips", "state_hash"):
        assert key in s
    assert s["stop"]["kind"] == "debug_exit" and s["stop"]["exit_value"] == 21


def test_mbcheck_fails_on_wrong_expectation(cli, guest, tmp_path):
    env = write_module(tmp_path)
    p = cli("run", "--kernel", guest("mbcheck"), "--append", "expect_mem=512 expect_cpus=1 exit=21",
            "--module", env)
    assert p.returncode not in (0, (21 << 1) | 1), p.stdout
    assert p.returncode % 2 == 1  # the guest chose the failure status
