"""The echo VSP and per-channel ring stats (issue 6; docs/vmbus.md "Echo VSP" and
"Per-channel stats"): guest/programs/vmbus_echo.c sends requests through hvsim's echo channel
and checks every completion; the echo's counters and the channel's ring stats in the inspect
tree match the requests sent; runs are deterministic; a hostile guest's malformed ring fails
its channel while another partition's echo completes; an offer added from Python with no VSP
shows the occupancy of the ring its guest filled."""

import json
import re

import pytest

import hvsim

ECHO_GUID = "e6c0ec40-45f3-4b27-9a0e-6873766d0001"


def machine(guest, cmdline):
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_echo"), cmdline=cmdline)
    m.enable_vmbus("child")
    assert m.add_vmbus_echo("child") == 1
    return m


def run_ok(m):
    stop = m.run(until="5s")
    out = m.serial_output
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, out)
    assert re.search(r"vmbus_echo: all \d+ checks passed", out), out
    return out


def echo_channel(m, partition="child", relid=1):
    return m.vmbus(partition)["channels"][str(relid)]


def check_counts(m, n, size, in_pages=32):
    ch = echo_channel(m)
    echo = ch["echo"]
    padded = (size + 7) // 8 * 8  # the payload as the ring carries it
    assert echo["state"] == "open" and echo["opens"] == 1
    assert echo["requests"] == n and echo["replies"] == n and echo["bytes"] == n * padded
    assert echo["failures"] == 0 and echo["ignored"] == 0 and echo["waiting"] == 0
    wire = 16 + padded + 8
    out, inb = ch["outbound"], ch["inbound"]
    assert out["host_reader"]["packets"] == n and out["host_reader"]["bytes"] == n * wire
    assert inb["host_writer"]["packets"] == n and inb["host_writer"]["bytes"] == n * wire
    assert out["host_reader"]["errors"] == 0 and inb["host_writer"]["errors"] == 0
    for ring, pages in ((out, 32), (inb, in_pages)):
        data = (pages - 1) * 4096
        assert ring["control"] == "ok" and ring["bytes_in_use"] == 0
        assert ring["data_size"] == data and ring["pending_send_sz"] == 0
        assert ring["read_index"] == ring["write_index"] == n * wire % data


def test_echo_round_trips_small(guest):
    m = machine(guest, "requests=200 size=64")
    out = run_ok(m)
    assert "vmbus_echo: 200 requests of 64 bytes, batch 1" in out, out
    assert re.search(r"cycles_per_rr=\d+", out)
    check_counts(m, 200, 64)
    assert echo_channel(m)["echo"]["full_waits"] == 0


def test_echo_large_payloads_batched_fill_the_ring(guest):
    # 4000-byte requests, 16 outstanding, a 4-page inbound ring (two completions): the echo
    # waits for the guest's reads (pending_send_sz) and loses nothing.
    m = machine(guest, "requests=300 size=4000 batch=16 in_pages=4")
    out = run_ok(m)
    assert "vmbus_echo: 300 requests of 4000 bytes, batch 16" in out, out
    check_counts(m, 300, 4000, in_pages=4)
    echo = echo_channel(m)["echo"]
    assert echo["full_waits"] > 0
    assert echo_channel(m)["inbound"]["host_writer"]["full"] > 0


def test_odd_sizes_are_echoed(guest):
    m = machine(guest, "requests=50 size=13 batch=4")
    run_ok(m)
    check_counts(m, 50, 13)


def test_same_run_twice_same_output_and_inspect(guest):
    def once():
        m = machine(guest, "requests=100 size=200 batch=16")
        out = run_ok(m)
        insp = m.inspect()
        insp.pop("host", None)  # host figures (seconds, MIPS) vary run to run
        return out, json.dumps(insp.get("vmbus"), sort_keys=True), m.stats()["state_hash"]
    a, b = once(), once()
    assert a == b


def test_hostile_partition_fails_its_channel_the_other_completes(guest):
    m = hvsim.Machine(cpus=1, memory="256M", mode="hyperv")
    for name, cmdline in (("bad", "hostile=1"), ("good", "requests=500 size=64 batch=16")):
        m.create_partition(name, memory="16M", kernel=guest("vmbus_echo"), cmdline=cmdline)
        m.enable_vmbus(name)
        assert m.add_vmbus_echo(name) == 1
    stops = [m.run(until="5s"), m.run(until="5s")]
    assert all(s.kind == "debug_exit" and s.exit_value == 0 for s in stops), (stops,
                                                                             m.serial_output)
    bad, good = echo_channel(m, "bad")["echo"], echo_channel(m, "good")["echo"]
    assert bad["state"] == "failed" and bad["failures"] == 1 and bad["replies"] == 0
    assert bad["failures_by_reason"] == {"packet-larger-than-available": 1}, bad
    assert good["state"] == "open" and good["replies"] == 500 and good["failures"] == 0
    assert echo_channel(m, "bad")["outbound"]["host_reader"]["errors"] == 1
    assert "vmbus_echo: hostile packet sent; the channel answered nothing" in m.serial_output
    assert m.partition("bad").crashed is None and m.partition("good").crashed is None


def test_python_offer_without_vsp_shows_ring_occupancy(guest):
    # vmbus_echo finds the offer by its GUID; with no VSP behind it nobody reads the ring:
    # the guest's first request stays there, visible in the stats.
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_echo"),
                       cmdline="requests=1 size=100")
    m.enable_vmbus("child")
    relid = m.add_vmbus_offer(ECHO_GUID, "00000000-0000-0000-0000-000000000001", name="bare")
    stop = m.run(until="100ms")  # the guest waits in HLT for a completion that never comes
    assert stop.kind in ("time_limit", "halted"), (stop, m.serial_output)
    ch = echo_channel(m, relid=relid)
    assert ch["state"] == "open" and "echo" not in ch
    wire = 16 + 104 + 8
    assert ch["outbound"]["control"] == "ok"
    assert ch["outbound"]["write_index"] == wire and ch["outbound"]["read_index"] == 0
    assert ch["outbound"]["bytes_in_use"] == wire
    assert ch["outbound"]["host_reader"]["packets"] == 0
    assert ch["inbound"]["bytes_in_use"] == 0 and ch["guest_signals"] == 1


def test_bench_runner_reports_round_trips():
    # `hvsim bench`'s vmbus-echo rows run this; the numbers are reported, never asserted.
    import hvsim.bench
    s = hvsim.bench._echo_run(40, 64, 4)
    m = re.search(r"vmbus_echo_bench: (\d+) round trips (\d+) cycles", s["serial"])
    assert m and int(m.group(1)) == 40 and int(m.group(2)) > 0, s["serial"]
    per = re.search(r"cycles_per_rr=(\d+)", s["serial"])
    assert per and int(per.group(1)) == int(m.group(2)) // 40


def test_integration_service_channels_count_into_the_same_stats(guest):
    # The ICs' ring ends count into the server's per-channel stats, as the echo's do.
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_ic"))
    m.enable_vmbus("child", integration_services=True, ic_period="10ms")
    m.run(until="25ms")  # negotiation on all three, then two heartbeats and time samples
    channels = m.vmbus()["channels"]
    ic = m.integration_services()
    for relid, name in ((1, "heartbeat"), (2, "shutdown"), (3, "timesync")):
        ch = channels[str(relid)]
        sent = ic[name]["requests"]
        assert sent >= 1 and ch["inbound"]["host_writer"]["packets"] == sent, (name, ch)
        assert ch["outbound"]["host_reader"]["packets"] == ic[name]["answers"], (name, ch)
        for ring in (ch["outbound"], ch["inbound"]):
            assert ring["control"] == "ok" and ring["bytes_in_use"] == 0, (name, ring)


def test_echo_needs_a_server(guest):
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_echo"))
    with pytest.raises(hvsim.InputError, match="no VMBus server"):
        m.add_vmbus_echo("child")
    with pytest.raises(hvsim.InputError):
        m.add_vmbus_echo("nobody")
    m.enable_vmbus("child")
    assert m.add_vmbus_echo("child") == 1 and m.add_vmbus_echo("child") == 2
    assert echo_channel(m, relid=2)["echo"]["state"] == "closed"


def test_a_released_relid_reused_by_a_new_echo_works(guest):
    # Echo 1 is rescinded before the guest saw it (gone at once, relid 1 free again); the
    # next echo gets relid 1 with a new instance, and it answers: the old echo did not take
    # its handlers with it.
    m = machine(guest, "requests=20 size=64")
    assert m.add_vmbus_echo("child") == 2
    m.rescind_vmbus_offer(1)
    assert m.add_vmbus_echo("child") == 1
    channels = m.vmbus()["channels"]
    assert channels["1"]["instance"] != channels["2"]["instance"]
    run_ok(m)
    assert echo_channel(m, relid=1)["echo"]["replies"] == 20
