"""Integration services over VMBus (issue 6; docs/vmbus.md "Integration services";
spec/hyperv-interfaces.md §9): guest/programs/vmbus_ic.c opens the heartbeat, shutdown and
time sync channels the host's VSPs (devices/vmbus/ic) offer and answers them as Linux's
hv_utils does; heartbeats are counted per period of simulated time, a shutdown request ends
the guest, time samples reach the guest's clock, a misbehaving guest's answers are dropped
and counted; runs are deterministic."""

import json

import pytest

import hvsim

SHUTDOWN_EXIT = 0x33


def machine(guest, cmdline="", period="10ms"):
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_ic"), cmdline=cmdline)
    m.enable_vmbus("child", integration_services=True, ic_period=period)
    return m


def test_guest_opens_all_integration_channels(guest):
    m = machine(guest)
    stop = m.run(until="5ms")  # before the first tick
    assert stop.kind == "time_limit", (stop, m.serial_output)
    out = m.serial_output
    for name, version in (("heartbeat", "3.0"), ("shutdown", "3.2"), ("timesync", "4.0")):
        assert "vmbus_ic: %s negotiated framework 3.0 message %s" % (name, version) in out, out
    ic = m.integration_services()
    for relid, name, version in ((1, "heartbeat", "3.0"), (2, "shutdown", "3.2"),
                                 (3, "timesync", "4.0")):
        assert ic[name]["relid"] == relid and ic[name]["state"] == "ready"
        assert ic[name]["version"] == version and ic[name]["framework"] == "3.0"
        assert ic[name]["dropped"] == 0
    channels = m.vmbus()["channels"]
    assert [channels[str(k)]["name"] for k in (1, 2, 3)] == ["heartbeat", "shutdown", "timesync"]
    assert all(channels[str(k)]["state"] == "open" for k in (1, 2, 3))
    assert ic["heartbeat"]["sent"] == 0 and ic["heartbeat"]["alive"] == "no"


@pytest.mark.parametrize("period,until,count", [("10ms", "55ms", 5), ("20ms", "105ms", 5),
                                                ("5ms", "52ms", 10)])
def test_heartbeats_counted_per_period(guest, period, until, count):
    m = machine(guest, period=period)
    m.run(until=until)
    hb = m.partition("child").heartbeat
    assert hb["sent"] == count and hb["acked"] == count, hb
    assert hb["missed"] == 0 and hb["bad_sequence"] == 0 and hb["alive"] == "yes"
    assert hb["sequence"] == count and hb["last_echo"] == count + 1
    assert m.integration_services()["ticks"] == count


def test_shutdown_request_ends_the_guest(guest):
    m = machine(guest)
    p = m.partition("child")
    m.run(until="25ms")
    assert p.shutdown()
    stop = m.run(until="1s")
    assert stop.kind == "debug_exit" and stop.exit_value == SHUTDOWN_EXIT, (stop, m.serial_output)
    sd = m.integration_services()["shutdown"]
    assert sd["shutdown_requests"] == 1 and sd["result"] == "ok" and sd["answered_ok"] == 1
    assert "vmbus_ic: shutdown requested (flags 0)" in m.serial_output


def test_shutdown_flags_reach_the_guest(guest):
    m = machine(guest)
    m.run(until="3ms")
    assert m.request_shutdown(flags=3, reason=7)
    stop = m.run(until="1s")
    assert stop.exit_value == SHUTDOWN_EXIT
    assert "vmbus_ic: shutdown requested (flags 3)" in m.serial_output


def test_shutdown_before_the_channel_is_ready_is_refused(guest):
    m = machine(guest)
    assert not m.request_shutdown()  # the guest has not opened the channel yet
    assert m.integration_services()["shutdown"]["shutdown_requests"] == 0
    bare = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    bare.create_partition("child", memory="4M")
    bare.enable_vmbus("child")
    with pytest.raises(hvsim.InputError):
        bare.request_shutdown()
    assert bare.integration_services() is None


def test_time_sync_samples_reach_the_guest_clock(guest):
    m = machine(guest)
    m.run(until="35ms")
    ts = m.integration_services()["timesync"]
    # One SYNC at negotiation, then a SAMPLE per tick.
    assert ts["samples"] == 4 and ts["samples_answered"] == 4
    epoch = 116444736000000000
    rtc_start = 1704067200  # the machine's default RTC start
    assert ts["last_parent_time"] == epoch + rtc_start * 10**7 + 30 * 10**4  # 30 ms
    assert 0 < ts["last_reference_time"] <= 30 * 10**4
    assert m.request_shutdown()
    m.run(until="1s")
    assert "time samples 4, clock %d s" % rtc_start in m.serial_output
    assert "vmbus_ic: time sync: unix time %d s" % rtc_start in m.serial_output


def test_sync_time_from_python(guest):
    m = machine(guest)
    p = m.partition("child")
    assert not p.sync_time()  # nothing negotiated yet
    m.run(until="12ms")  # negotiation (SYNC) and the first tick (SAMPLE)
    assert p.timesync["samples"] == 2
    m.run(until="15ms")
    assert p.sync_time()
    m.run(until="16ms")
    ts = p.timesync
    assert ts["samples"] == 3 and ts["samples_answered"] == 3, ts
    epoch, rtc_start = 116444736000000000, 1704067200
    assert ts["last_parent_time"] == epoch + rtc_start * 10**7 + 15 * 10**4  # sent at 15 ms
    with pytest.raises(hvsim.InputError, match="no integration services"):
        hvsim.Machine(cpus=1, memory="64M", mode="hyperv").sync_time("child")


def test_hostile_heartbeat_answers_are_dropped(guest):
    m = machine(guest, cmdline="hostile=1")
    m.run(until="45ms")
    hb = m.partition("child").heartbeat
    # The first heartbeat: a short packet first, then an echo of seq + 2; both dropped.
    assert hb["dropped_by_reason"] == {"short packet": 1, "bad sequence": 1}, hb
    assert hb["bad_sequence"] == 1 and hb["acked"] == 3 and hb["sent"] == 4
    assert hb["alive"] == "yes"  # the later ones are fine
    assert m.partition("child").crashed is None
    assert m.request_shutdown()
    assert m.run(until="1s").exit_value == SHUTDOWN_EXIT


def test_errors_from_the_host_side(guest):
    m = machine(guest)
    with pytest.raises(hvsim.InputError):
        m._m.vmbus_enable_ic("child", 10**9)  # has them already
    h = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    h.create_partition("child", memory="4M")
    with pytest.raises(hvsim.InputError):
        h._m.vmbus_enable_ic("child", 10**9)  # no VMBus server
    h.enable_vmbus("child")
    with pytest.raises(hvsim.InputError):
        h._m.vmbus_enable_ic("child", 0)


def test_deterministic(guest, tmp_path):
    runs = []
    for k in range(2):
        m = machine(guest, cmdline="hostile=1")
        m.trace(str(tmp_path / ("t%d.jsonl" % k)))
        m.run(until="42ms")
        m.request_shutdown(flags=1)
        stop = m.run(until="1s")
        m.trace_stop()
        runs.append((stop, m.state_hash(), m.serial_output, json.dumps(m.vmbus()),
                     m.instructions))
    assert runs[0] == runs[1]
    assert runs[0][0].exit_value == SHUTDOWN_EXIT
    assert (tmp_path / "t0.jsonl").read_bytes() == (tmp_path / "t1.jsonl").read_bytes()


def test_every_ic_message_is_traced(guest, tmp_path):
    m = machine(guest, cmdline="hostile=1")
    path = tmp_path / "t.jsonl"
    m.trace(str(path))
    m.run(until="25ms")
    m.trace_stop()
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    ic = [r for r in recs if r["track"] == "vmbus_ic:child"]
    names = [(r["args"].get("dir"), r["name"]) for r in ic]
    for service in ("heartbeat", "shutdown", "timesync"):
        assert ("out", service + ":negotiate") in names and ("in", service + ":negotiate") in names
    hb = m.integration_services()["heartbeat"]
    assert names.count(("out", "heartbeat:heartbeat")) == hb["sent"] == 2
    assert names.count(("in", "heartbeat:heartbeat")) == 2  # the bad echo too
    dropped = [r["args"]["reason"] for r in ic if r["name"] == "heartbeat:dropped"]
    assert dropped == ["short packet", "bad sequence"]


def test_two_partitions_one_hostile_each_shut_down(guest):
    m = hvsim.Machine(cpus=1, memory="256M", mode="hyperv")
    for name, cmdline in (("bad", "hostile=1"), ("good", "")):
        m.create_partition(name, memory="16M", kernel=guest("vmbus_ic"), cmdline=cmdline)
        m.enable_vmbus(name, integration_services=True, ic_period="10ms")
    m.run(until="35ms")
    bad, good = m.partition("bad").heartbeat, m.partition("good").heartbeat
    assert bad["dropped"] == 2 and bad["acked"] == 2 and bad["sent"] == 3
    assert good["dropped"] == 0 and good["acked"] == 3 and good["alive"] == "yes"
    assert m.partition("good").shutdown()
    stop = m.run(until="1s")
    assert stop.kind == "debug_exit" and stop.exit_value == SHUTDOWN_EXIT
    assert m.integration_services("good")["shutdown"]["result"] == "ok"
    assert m.integration_services("bad")["shutdown"]["result"] == "none"
    assert m.partition("bad").shutdown()
    stop = m.run(until="2s")
    assert stop.kind == "debug_exit" and stop.exit_value == SHUTDOWN_EXIT
    assert m.integration_services("bad")["shutdown"]["result"] == "ok"
    assert m.partition("bad").crashed is None and m.partition("good").crashed is None
