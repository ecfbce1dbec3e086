"""VMBus monitored channels (MNF) and protocol 6.0 (issue 6; docs/vmbus.md "Monitored
channels"; spec/hyperv-interfaces.md §6.2, §6.6): guest/programs/vmbus_basic.c gives its two
monitor pages in InitiateContact and signals a monitored offer by setting its bit in the
child->parent page, which the machine polls; garbage bits are counted and dropped; a guest
that set its bit and halted lets the machine stop as idle once the poll saw it; runs are
deterministic."""

import json
import re

import hvsim

HEARTBEAT = "57164f39-9115-4e78-ab55-382f3bd5422d"
SHUTDOWN = "0e0b6031-5213-4934-818b-38d90ced39db"


def machine(guest, cmdline, versions=None, monitored=True):
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_basic"), cmdline=cmdline)
    m.enable_vmbus("child", versions=versions)
    m.add_vmbus_offer(HEARTBEAT, "00000000-0000-0000-0000-000000000001", name="hb",
                      monitored=monitored)
    m.add_vmbus_offer(SHUTDOWN, "00000000-0000-0000-0000-000000000002", name="sd",
                      monitored=monitored)
    return m


def finish(m):
    stop = m.run(until="2s")
    out = m.serial_output
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, out)
    assert re.search(r"vmbus_basic: all \d+ checks passed", out), out
    return out


def signal_round(m):
    """Runs until the guest, having set its monitor bit, sleeps waiting for the host: the
    machine stops as idle after the poll that saw the bit. Returns the server's subtree
    then; answers the guest and runs it to its end."""
    stop = m.run(until="2s")
    # Idle: every VP halted and the poll, having seen the bit, scheduled no other.
    assert stop.kind == "halted", (stop, m.serial_output)
    assert m.sim_time_ns < 1_000_000_000
    v = m.vmbus()
    assert m.signal_vmbus_channel(1)
    out = finish(m)
    return v, out


def test_monitored_channel_signals_through_the_monitor_page(guest):
    m = machine(guest, "offers=2 monitored=1 wait_event=1")
    v, out = signal_round(m)
    assert "PASS: offer: relid 1, dedicated interrupt, monitor_allocated 1 id 0" in out, out
    assert "PASS: monitor page: group 0 enabled, parameter connection 0x2001, latency 500" in out
    assert "PASS: signal through the monitor page (id 0)" in out
    assert "PASS: host signal: flag 1 of SINT2 taken once" in out
    assert v["monitor_page1"] != 0 and v["monitor_page2"] != 0
    assert v["monitor_page2"] - v["monitor_page1"] == 4096
    hb, sd = v["channels"]["1"], v["channels"]["2"]
    assert hb["monitored"] == 1 and hb["monitor_id"] == 0 and sd["monitor_id"] == 1
    assert hb["monitor_signals"] == 1 and hb["guest_signals"] == 0
    assert v["monitor_signals"] == 1 and v["monitor_polls"] >= 1
    assert v["guest_events"] == 0  # no hypercall signal at all
    assert v["rejected"] == 0
    end = m.vmbus()
    assert end["monitor_page2"] == 0  # forgotten at unload
    assert end["channels"]["1"]["monitor_signals"] == 1
    assert m.partition("child").crashed is None


def test_garbage_bits_are_counted_and_dropped(guest):
    m = machine(guest, "offers=2 monitored=1 wait_event=1 garbage=1")
    v, _ = signal_round(m)
    # 126 ids never allocated; id 1 is the shutdown channel's, offered but not open.
    r = v["rejected_by_reason"]
    assert r == {"monitor: unallocated id": 126, "monitor: channel not open": 1}, r
    assert v["channels"]["1"]["monitor_signals"] == 1
    assert v["channels"]["2"]["monitor_signals"] == 0


def test_without_monitor_pages_the_offer_falls_back(guest):
    m = machine(guest, "offers=2 nomonitor=1")
    out = finish(m)
    assert "PASS: offer: relid 1, dedicated interrupt, monitor_allocated 0 id 255" in out, out
    v = m.vmbus()
    assert v["channels"]["1"]["guest_signals"] == 1
    assert v["channels"]["1"]["monitor_signals"] == 0 and v["monitor_polls"] == 0


def test_plain_offers_keep_the_hypercall(guest):
    m = machine(guest, "offers=2", monitored=False)
    finish(m)
    v = m.vmbus()
    assert v["channels"]["1"]["guest_signals"] == 1 and v["monitor_polls"] == 0
    assert v["channels"]["1"]["monitor_id"] == 255


def test_version_6_0_when_the_host_lists_it(guest):
    m = machine(guest, "offers=2 monitored=1 wait_event=1", versions=[0x60000, 0x50003])
    v, out = signal_round(m)
    assert "vmbus: version 0x60000 after 0 refused, message connection 1, features 0x0" in out
    assert v["version"] == 0x60000 and v["features"] == 0
    assert v["channels"]["1"]["monitor_signals"] == 1


def test_monitored_run_twice_is_identical(guest):
    def once():
        m = machine(guest, "offers=2 monitored=1 wait_event=1 garbage=1 rounds=1")
        v, out = signal_round(m)
        return out, v, m.vmbus(), m.sim_time_ns, m.instructions

    assert once() == once()


def test_monitor_signals_and_garbage_are_traced(guest, tmp_path):
    m = machine(guest, "offers=2 monitored=1 wait_event=1 garbage=1")
    path = tmp_path / "t.jsonl"
    m.trace(str(path))
    signal_round(m)
    m.trace_stop()
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    vm = [r for r in recs if r["track"] == "vmbus:child"]
    sig = [r for r in vm if r["name"] == "monitor_signal"]
    assert len(sig) == 1 and sig[0]["args"] == {"relid": 1, "monitor_id": 0}, sig
    bad = [r["args"]["reason"] for r in vm if r["name"] == "rejected"]
    assert bad.count("monitor: unallocated id") == 126
    assert bad.count("monitor: channel not open") == 1
