"""Checkpoints with VMBus servers, integration services and echo channels (issue 6;
docs/vmbus.md "Checkpoints"): a machine saved at any point of a VMBus guest's run
(mid-handshake, channels open, a heartbeat outstanding, a shutdown requested and not yet
answered, the echo waiting for room in a full inbound ring, a monitor poll pending, after the
guest left) and restored into a new machine continues exactly as the uninterrupted run: same
stop, guest output, state hash and VMBus and hypervisor inspect trees. A corrupt VMBus or
echo section is refused with InputError naming it. Also: integration services whose channels the guest never
opened do not keep the machine from stopping as idle."""

import pytest

import hvsim
from test_hyperv_checkpoint import _rewrite, _replace_field_value, _sections

HEARTBEAT = "57164f39-9115-4e78-ab55-382f3bd5422d"
SHUTDOWN = "0e0b6031-5213-4934-818b-38d90ced39db"
SHUTDOWN_EXIT = 0x33


def _basic(guest):
    # The whole handshake twice (unload, reconnect) with a host signal awaited in between.
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_basic"),
                       cmdline="offers=2 rounds=2")
    m.enable_vmbus("child")
    for k, guid in enumerate((HEARTBEAT, SHUTDOWN)):
        m.add_vmbus_offer(guid, "00000000-0000-0000-0000-%012x" % (k + 1), name="dev%d" % k)
    return m


def _ic(guest):
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_ic"))
    m.enable_vmbus("child", integration_services=True, ic_period="10ms")
    return m


def _two(guest):
    m = hvsim.Machine(cpus=1, memory="256M", mode="hyperv")
    for name, cmdline in (("bad", "hostile=1"), ("good", "")):
        m.create_partition(name, memory="16M", kernel=guest("vmbus_ic"), cmdline=cmdline)
        m.enable_vmbus(name, integration_services=True, ic_period="10ms")
    return m


def _echo(cmdline):
    def make(guest):
        m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
        m.create_partition("child", memory="16M", kernel=guest("vmbus_echo"), cmdline=cmdline)
        m.enable_vmbus("child")
        m.add_vmbus_echo("child")
        return m
    return make


def _monitored(guest):
    # The heartbeat offer monitored: the guest signals it through the monitor page, which the
    # machine polls while the channel is open; then it waits in HLT for the host's signal.
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_basic"),
                       cmdline="offers=2 monitored=1 wait_event=1 garbage=1 rounds=2")
    m.enable_vmbus("child")
    for k, guid in enumerate((HEARTBEAT, SHUTDOWN)):
        m.add_vmbus_offer(guid, "00000000-0000-0000-0000-%012x" % (k + 1), name="dev%d" % k,
                          monitored=True)
    return m


# Each scenario: a machine maker and phases (run until, then an action on the machine).
SCENARIOS = {
    "basic": (_basic, [(None, None)]),
    "echo": (_echo("requests=300 size=100 batch=8"), [(None, None)]),
    # A 4-page inbound ring (three 4000-byte completions) and batches of 16: the echo waits
    # for room again and again.
    "echo_full": (_echo("requests=120 size=4000 batch=16 in_pages=4"), [(None, None)]),
    "monitored": (_monitored, [(None, lambda m: m.signal_vmbus_channel(1)),
                               (None, lambda m: m.signal_vmbus_channel(1)), (None, None)]),
    "ic": (_ic, [(25_000_000, lambda m: m.request_shutdown()), (1_000_000_000, None)]),
    "two": (_two, [(35_000_000, lambda m: m.request_shutdown("good")),
                   (1_000_000_000, lambda m: m.request_shutdown("bad")),
                   (2_000_000_000, None)]),
}


def _run_phases(m, phases, start=0):
    """Runs phases[start:] on m; returns the last stop and the actions' results."""
    stop, results = None, []
    for until, action in phases[start:]:
        stop = m.run(until=until)
        if action:
            results.append(action(m))
    return stop, results


def _run_to_cut(m, phases, at):
    """Runs the phases until simulated time `at` (ns); returns the phase it fell in and the
    actions' results so far, or None if the guest finished first."""
    results = []
    for k, (until, action) in enumerate(phases):
        stop = m.run(until=at if until is None else min(at, until))
        if stop.kind == "time_limit" and m.sim_time_ns >= at:
            return k, results
        if action:
            results.append(action(m))
    return None, results


def _compare(r, ref, context):
    assert r.state_hash() == ref.state_hash(), context
    a, b = r.inspect(), ref.inspect()
    assert a["vmbus"] == b["vmbus"], context
    assert a["hypervisor"] == b["hypervisor"], context


def _field(payload, field, tag, size):
    """The value of a field (type tag and byte size as core/state.cpp's) in a section."""
    key = len(field).to_bytes(2, "little") + field.encode() + bytes([tag])
    f = payload.index(key) + len(key)
    return int.from_bytes(payload[f:f + size], "little")


def _echo_waits(m, ckpt):
    return m.vmbus("child")["channels"]["1"]["echo"]["waiting"] == 1


def _monitor_poll_pending(m, ckpt):
    return _field(_sections(ckpt)["machine.vmbus"][1], "server0.monitor_poll", 1, 8) != 0


# States some cut of a scenario must fall in (m at the cut, its checkpoint).
WITNESSES = {"echo_full": _echo_waits, "monitored": _monitor_poll_pending}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_restored_run_equals_uninterrupted(guest, tmp_path, name):
    make, phases = SCENARIOS[name]
    ref = make(guest)
    ref_stop, ref_results = _run_phases(ref, phases)
    assert ref_stop.kind == "debug_exit", (ref_stop, ref.serial_output)
    assert all(ref_results), ref_results
    length = ref.sim_time_ns
    # Cut points across the run: the handshake, GPADLs, open channels, heartbeats, the
    # shutdown between its request and its answer, and near the end.
    cuts = sorted({length * p // 1000 for p in (2, 5, 11, 30, 120, 260, 500, 700, 950, 999)})
    saved, witnessed = 0, 0
    witness = WITNESSES.get(name)
    for at in cuts:
        m = make(guest)
        k, results = _run_to_cut(m, phases, at)
        if k is None:
            continue
        saved += 1
        before = m.serial_output
        ckpt = tmp_path / ("%s_%d.ckpt" % (name, at))
        m.save(ckpt)
        witnessed += bool(witness and witness(m, ckpt))
        r = hvsim.Machine.restore(ckpt)
        _compare(r, m, (name, at, "restored"))
        # The rest of the phase the cut fell in, then the following ones, on the restored
        # machine.
        stop, res = _run_phases(r, phases, start=k)
        results += res
        assert stop == ref_stop, (name, at, stop)
        assert results == ref_results, (name, at)
        assert before + r.serial_output == ref.serial_output, (name, at)
        _compare(r, ref, (name, at))
    assert saved >= 8, saved
    if witness:
        assert witnessed, (name, witness.__name__)


def test_a_shutdown_requested_before_the_checkpoint_is_answered_after_it(guest, tmp_path):
    m = _ic(guest)
    m.run(until="25ms")
    assert m.request_shutdown()
    sd = m.integration_services()["shutdown"]
    assert sd["shutdown_requests"] == 1 and sd["result"] == "none"
    m.save(tmp_path / "c.ckpt")
    r = hvsim.Machine.restore(tmp_path / "c.ckpt")
    assert r.integration_services()["shutdown"] == sd
    stop = r.run(until="1s")
    assert stop.kind == "debug_exit" and stop.exit_value == SHUTDOWN_EXIT
    assert r.integration_services()["shutdown"]["result"] == "ok"
    ref = _ic(guest)
    ref.run(until="25ms")
    ref.request_shutdown()
    assert ref.run(until="1s") == stop
    assert ref.state_hash() == r.state_hash()


def test_saves_are_deterministic_and_round_trip(guest, tmp_path):
    m = _two(guest)
    m.run(until="22ms")
    a, b, c = (tmp_path / n for n in ("a.ckpt", "b.ckpt", "c.ckpt"))
    m.save(a)
    m.save(b)
    assert a.read_bytes() == b.read_bytes()
    hvsim.Machine.restore(a).save(c)
    va = {k: v for k, v in _sections(a).items() if "vmbus" in k}
    vc = {k: v for k, v in _sections(c).items() if "vmbus" in k}
    assert "machine.vmbus" in va and "vmbus.p1.server" in va and "vmbus.p2.ic.heartbeat" in va
    assert va == vc


def _saved(guest, tmp_path):
    m = _ic(guest)
    m.run(until="12ms")  # channels open, the first heartbeat answered
    path = tmp_path / "good.ckpt"
    m.save(path)
    return path


def test_corrupt_vmbus_sections_are_refused(guest, tmp_path):
    good = _saved(guest, tmp_path)
    cases = [("machine.vmbus", "servers", 9, "servers"),
             ("machine.vmbus", "server0.partition", 77, "no such partition"),
             ("machine.vmbus", "server0.retry_tries", 5000, "retry_tries"),
             ("vmbus.p1", "message_port", 5, "not bound to the message port"),
             ("vmbus.p1.server", "channel0.relid", 4000, "relid: outside 1..2047"),
             ("vmbus.p1.server", "channel1.connection_id", 3, "connection_id"),
             ("vmbus.p1.server", "gpadl0.pfn_total", 1, "pfn_total"),
             ("vmbus.p1.server", "channel0.downstream_offset", 1000, "downstream offset"),
             ("vmbus.p1.server", "target_vcpu", 3, "target_vcpu"),
             ("vmbus.p1.ic", "heartbeat", 9, "vmbus.p1.ic"),
             ("vmbus.p1.ic.heartbeat", "reader.position", 3, "reader")]
    for section, field, value, what in cases:
        bad = _rewrite(good, tmp_path / (section + field + ".ckpt"),
                       lambda raw: _replace_field_value(raw, section, field, value))
        with pytest.raises(hvsim.InputError, match=what):
            hvsim.Machine.restore(bad)
    # A field name damaged: the reader names the field it expected.
    bad = _rewrite(good, tmp_path / "name.ckpt",
                   lambda raw: raw.replace(b"offers_requested", b"offers_requestex", 1))
    with pytest.raises(hvsim.InputError, match="offers_requested"):
        hvsim.Machine.restore(bad)
    # A truncated file.
    data = good.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) - 40])
    with pytest.raises(hvsim.InputError, match="cut.ckpt"):
        hvsim.Machine.restore(tmp_path / "cut.ckpt")
    # The edit itself is sound.
    same = _rewrite(good, tmp_path / "same.ckpt", lambda raw: raw)
    assert hvsim.Machine.restore(same).state_hash() == hvsim.Machine.restore(good).state_hash()


def test_unopened_integration_services_let_the_machine_stop_as_idle(guest):
    # vmbus_basic opens the first heartbeat offer (a host device without a VSP, relid 1),
    # signals it and waits in HLT for a host signal that never comes; the integration
    # services' channels (relids 2-4) are offered but never opened. Their ticks have nothing
    # to do, so the machine stops as idle instead of running to the time limit.
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_basic"),
                       cmdline="offers=4 wait_event=1")
    m.enable_vmbus("child")
    m.add_vmbus_offer(HEARTBEAT, "00000000-0000-0000-0000-000000000001", name="dev")
    m._m.vmbus_enable_ic("child", 10_000_000_000)  # after the offer: integration services
    stop = m.run(until="2s")
    assert stop.kind == "halted", (stop, m.serial_output)
    assert m.sim_time_ns < 1_000_000_000
    ic = m.integration_services()
    assert all(ic[s]["state"] == "closed" for s in ("heartbeat", "shutdown", "timesync")), ic
    assert m.vmbus()["channels"]["1"]["state"] == "open"


def _echo_waiting(guest):
    """An echo machine run until its echo waits for room in the full inbound ring."""
    m = _echo("requests=120 size=4000 batch=16 in_pages=4")(guest)
    for k in range(1, 400):
        m.run(until=k * 50_000)
        if _echo_waits(m, None):
            return m
    raise AssertionError("the echo never waited: " + m.serial_output)


def test_an_echo_waiting_for_room_saves_its_packet_and_answers_it_after_restore(guest,
                                                                                tmp_path):
    m = _echo_waiting(guest)
    a, b, c = (tmp_path / n for n in ("a.ckpt", "b.ckpt", "c.ckpt"))
    m.save(a)
    m.save(b)
    assert a.read_bytes() == b.read_bytes()
    r = hvsim.Machine.restore(a)
    r.save(c)
    va = {k: v for k, v in _sections(a).items() if "vmbus" in k}
    assert "vmbus.p1.echo0" in va
    assert va == {k: v for k, v in _sections(c).items() if "vmbus" in k}
    echo = r.vmbus("child")["channels"]["1"]["echo"]
    assert echo == m.vmbus("child")["channels"]["1"]["echo"] and echo["waiting"] == 1
    stop = r.run(until="5s")
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, r.serial_output)
    echo = r.vmbus("child")["channels"]["1"]["echo"]
    assert echo["replies"] == echo["requests"] == 120 and echo["waiting"] == 0
    assert m.run(until="5s") == stop
    assert m.state_hash() == r.state_hash()


def _replace_u8(raw, section, field, value):
    """Sets a u8 field of `section` (type tag 3) to `value`."""
    at = raw.index(len(section).to_bytes(2, "little") + section.encode())
    key = len(field).to_bytes(2, "little") + field.encode() + b"\x03"
    f = raw.index(key, at) + len(key)
    return raw[:f] + bytes([value]) + raw[f + 1:]


def _edit_packet(raw, offset, value):
    """Sets byte `offset` of the echo's saved packet (bytes field: u64 length, then data)."""
    at = raw.index(b"\x0e\x00vmbus.p1.echo0")
    key = b"\x06\x00packet\x06"
    f = raw.index(key, at) + len(key) + 8 + offset
    return raw[:f] + bytes([value]) + raw[f + 1:]


def _truncate_section(raw, section, cut):
    """Drops the last `cut` bytes of `section`'s fields (its length adjusted to match)."""
    name = len(section).to_bytes(2, "little") + section.encode()
    at = raw.index(name) + len(name) + 4  # past the version: the u64 length
    length = int.from_bytes(raw[at:at + 8], "little")
    end = at + 8 + length
    return raw[:at] + (length - cut).to_bytes(8, "little") + raw[at + 8:end - cut] + raw[end:]


def test_corrupt_echo_sections_are_refused(guest, tmp_path):
    good = tmp_path / "good.ckpt"
    _echo_waiting(guest).save(good)
    assert hvsim.Machine.restore(good).vmbus("child")["channels"]["1"]["echo"]["waiting"] == 1
    sec = "vmbus.p1.echo0"
    cases = [
        ("relid", lambda raw: _replace_field_value(raw, sec, "relid", 5),
         sec + ": relid: the server has no channel 5"),
        ("relid_range", lambda raw: _replace_field_value(raw, sec, "relid", 4000),
         sec + ": relid: outside 1..2047"),
        ("state", lambda raw: _replace_u8(raw, sec, "state", 9), sec + ": state: unknown"),
        # The waiting packet kept on a channel that is no longer open (failed).
        ("waiting", lambda raw: _replace_u8(raw, sec, "state", 2),
         sec + ": waiting: a packet on a channel that is not open"),
        ("packet", lambda raw: _edit_packet(raw, 0, 0x42), sec + ": packet: "),
        ("packet_flags", lambda raw: _edit_packet(raw, 6, 0), sec + ": packet: not a request"),
        ("reader", lambda raw: _replace_field_value(raw, sec, "reader.position", 3),
         sec + ": reader: "),
        ("echoes", lambda raw: _replace_field_value(raw, "machine.vmbus", "server0.echoes", 2),
         "vmbus.p1.echo1"),
        ("reasons", lambda raw: _replace_field_value(raw, sec, "ignored_reasons", 1),
         sec + ".*ignored0.reason"),
        ("truncated", lambda raw: _truncate_section(raw, sec, 12),
         sec + ".*ignored_reasons"),
    ]
    for name, edit, what in cases:
        bad = _rewrite(good, tmp_path / (name + ".ckpt"), edit)
        with pytest.raises(hvsim.InputError, match=what):
            hvsim.Machine.restore(bad)
    same = _rewrite(good, tmp_path / "same.ckpt", lambda raw: raw)
    assert hvsim.Machine.restore(same).state_hash() == hvsim.Machine.restore(good).state_hash()


def test_an_echo_restored_onto_a_channel_it_cannot_drive_is_refused(guest, tmp_path):
    # relid 1 a Python offer (no VSP), relids 2 and 3 echo channels.
    m = hvsim.Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest("vmbus_echo"), cmdline="requests=50")
    m.enable_vmbus("child")
    m.add_vmbus_offer(HEARTBEAT, "00000000-0000-0000-0000-000000000001", name="hb")
    assert m.add_vmbus_echo("child") == 2 and m.add_vmbus_echo("child") == 3
    m.run(until="1ms")
    good = tmp_path / "good.ckpt"
    m.save(good)
    r = hvsim.Machine.restore(good)
    assert r.vmbus("child")["channels"]["3"]["echo"] == m.vmbus("child")["channels"]["3"]["echo"]
    cases = [("vmbus.p1.echo0", 1, "vmbus.p1.echo0: relid: channel 1 is not an echo offer"),
             ("vmbus.p1.echo1", 2, "vmbus.p1.echo1: relid: the channel is already driven")]
    for section, relid, what in cases:
        bad = _rewrite(good, tmp_path / (section + ".ckpt"),
                       lambda raw: _replace_field_value(raw, section, "relid", relid))
        with pytest.raises(hvsim.InputError, match=what):
            hvsim.Machine.restore(bad)


def test_an_echo_whose_channel_was_rescinded_round_trips(guest, tmp_path):
    # Rescinded mid-run (closed by the host, waiting for RelIdReleased) and, in a machine whose
    # guest never connected, removed at once: the echo stays, unattached, and saves as it was.
    for run_first in (True, False):
        m = _echo("requests=200 size=64")(guest)
        if run_first:
            m.run(until="1ms")
            assert m.vmbus("child")["channels"]["1"]["echo"]["state"] == "open"
        m.rescind_vmbus_offer(1)
        a, b = tmp_path / "a.ckpt", tmp_path / "b.ckpt"
        m.save(a)
        before = m.serial_output
        r = hvsim.Machine.restore(a)
        r.save(b)
        va = {k: v for k, v in _sections(a).items() if "vmbus" in k}
        assert "vmbus.p1.echo0" in va
        assert va == {k: v for k, v in _sections(b).items() if "vmbus" in k}
        _compare(r, m, run_first)
        assert r.run(until="20ms") == m.run(until="20ms")
        assert before + r.serial_output == m.serial_output
        _compare(r, m, run_first)
