"""Two partitions exchanging messages and an event through ports and connections (issue 5;
docs/hv.md "Ports and connections"): guest/programs/hv_pingpong.c as "ping" and "pong", the
ports created by the host; each message wakes the other partition's halted VP through its
SINT interrupt; on one processor they take turns, on two they run side by side; the run is
deterministic and survives a checkpoint."""

import re

import pytest

import hvsim


def pingpong(guest, cpus=1, rounds=100):
    m = hvsim.Machine(cpus=cpus, memory="256M", mode="hyperv")
    ping = m.create_partition("ping", memory="16M", kernel=guest("hv_pingpong"),
                              cmdline="role=ping rounds=%d" % rounds)
    pong = m.create_partition("pong", memory="16M", kernel=guest("hv_pingpong"),
                              cmdline="role=pong rounds=%d" % rounds)
    pong.create_port(0x100, "message", sint=2)            # ping's connection 1 -> pong SINT2
    ping.create_port(0x200, "message", sint=2)            # pong's connection 2 -> ping SINT2
    pong.create_port(0x300, "event", sint=3, base_flag=5)  # ping's connection 3 -> flag 5
    ping.connect(1, 0x100)
    pong.connect(2, 0x200)
    ping.connect(3, 0x300)
    return m, ping, pong


@pytest.mark.parametrize("cpus", [1, 2])
def test_two_partitions_exchange_messages_and_an_event(guest, cpus):
    m, ping, pong = pingpong(guest, cpus)
    stop = m.run(until="2s")
    out = m.serial_output
    # Pong's debug exit 0 comes only after all its checks passed and ping's event, which
    # ping sends only when every answer was right (else ping exits with 1).
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, out)
    if cpus == 1:  # on two processors both write COM1 at once: their lines interleave
        assert "ping: all 2 checks passed" in out and "pong: all 3 checks passed" in out, out
        assert re.search(r"ping: 100 round trips \d+ cycles", out)
    sp, so = ping.stats(), pong.stats()
    assert sp["hypercalls_by_code"]["HvCallPostMessage"] >= 100
    assert sp["hypercalls_by_code"]["HvCallSignalEvent"] == 1
    assert so["hypercalls_by_code"]["HvCallPostMessage"] == 100
    # Each side slept in HLT and was woken by the other's message.
    assert sp["vps"][0]["wakeups"] >= 90 and so["vps"][0]["wakeups"] >= 90
    assert so["vps"][0]["synic"]["messages_delivered"] == 100
    pcpus = m.inspect()["hypervisor"]["pcpus"]
    if cpus == 1:
        assert pcpus["pcpu0"]["vps"] == "ping/vp0 pong/vp0"
    else:
        assert pcpus["pcpu0"]["vps"] == "ping/vp0" and pcpus["pcpu1"]["vps"] == "pong/vp0"


def test_pingpong_is_deterministic_and_survives_a_checkpoint(guest, tmp_path):
    m, _, _ = pingpong(guest, 2)
    ref = m.run(until="2s")
    a, _, _ = pingpong(guest, 2)
    assert a.run(until="2s") == ref and a.state_hash() == m.state_hash()
    b, _, _ = pingpong(guest, 2)
    b.run(until="300us")
    b.save(tmp_path / "pp.ckpt")
    r = hvsim.Machine.restore(tmp_path / "pp.ckpt")
    assert r.run(until="2s") == ref
    assert r.state_hash() == m.state_hash()
