"""Checkpoints in hypervisor mode (docs/hv.md "Checkpoints"): a machine saved in the middle of
a partition's run and restored into a new machine continues exactly as the uninterrupted run
(same stop, serial output and state hash), whatever the guest was doing (LAPIC timers, SMP
start-up and IPIs, SynIC messages and events, hypercalls, two partitions sharing a processor);
saving is deterministic; a corrupt checkpoint is refused with InputError naming what is wrong."""

import json
import subprocess

import pytest

import hvsim
from hvsim.bench import synic_ports


def _child(program, cpus=1, cmdline="", setup=None):
    def make(guest):
        m = hvsim.Machine(cpus=cpus, memory="256M", mode="hyperv")
        m.load_kernel(guest(program), cmdline=cmdline)
        if setup:
            setup(m)
        return m
    return make


def _two_partitions(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.create_partition("a", memory="32M", kernel=guest("compute"))
    m.create_partition("b", memory="32M", kernel=guest("hv_basic"))
    return m


def _root(guest):
    # A root partition whose kernel creates, runs and deletes a child by hypercalls.
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.create_partition("root", memory="32M", kernel=guest("hv_root"), root=True)
    return m


def _testdev(guest):
    # The SynIC driven through the Hyper-V test device, then the message benchmark loop.
    m = hvsim.Machine(memory="256M", mode="hyperv", hyperv_testdev=True)
    m.load_kernel(guest("hv_synic"), cmdline="testdev=1 messages=2000")
    synic_ports(m)
    return m


SCENARIOS = {
    "root": _root,
    "testdev": _testdev,
    "timers": _child("timers", cmdline="tsc_hz=2000000000 apic_hz=1000000000 wake_latency=3000"),
    "smp2": _child("smp", cpus=2),
    "smp4": _child("smp", cpus=4),
    "hv_synic": _child("hv_synic", setup=synic_ports),
    "hv_basic": _child("hv_basic"),
    "two_partitions": _two_partitions,
}
UNTIL = {"two_partitions": 200_000_000}  # ns: compute would run on after hv_basic's exit


def _ok(stop):
    return stop.kind == "debug_exit" and stop.exit_value == 0


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_restored_run_equals_uninterrupted(guest, tmp_path, name):
    make, until = SCENARIOS[name], UNTIL.get(name)
    ref = make(guest)
    ref_stop = ref.run(until=until)
    assert _ok(ref_stop), (ref_stop, ref.serial_output)
    length = ref.sim_time_ns
    operations = []
    for percent in (1, 10, 50):
        m = make(guest)
        at = length * percent // 100
        assert m.run(until=at).kind == "time_limit"
        before = m.serial_output
        tree = m.inspect()
        operations += [tree[c]["vmx"]["operation"] for c in tree if c.startswith("cpu")]
        ckpt = tmp_path / ("%s_%d.ckpt" % (name, percent))
        m.save(ckpt)
        r = hvsim.Machine.restore(ckpt)
        assert r.state_hash() == m.state_hash(), percent
        assert r.inspect()["hypervisor"] == m.inspect()["hypervisor"], percent
        stop = r.run(until=until)
        assert stop == ref_stop, (percent, stop)
        assert before + r.serial_output == ref.serial_output, percent
        assert r.state_hash() == ref.state_hash(), percent
        # The saved machine itself goes on as well, unaffected by the save. A run cut by
        # until= interleaves the processors as one run does (core/scheduler.h), so both end
        # with the uninterrupted run's time and instruction count.
        assert m.run(until=until) == ref_stop and m.state_hash() == ref.state_hash()
        assert (r.sim_time_ns, r.instructions) == (m.sim_time_ns, m.instructions)
        assert (m.sim_time_ns, m.instructions) == (ref.sim_time_ns, ref.instructions)
    # At least one save point was mid-slice: a processor in VMX non-root operation with a
    # VP's guest state loaded (the others find the processors in root operation, idle).
    assert "non-root" in operations


@pytest.mark.parametrize("name", ["smp4", "hv_synic", "two_partitions"])
def test_saves_are_deterministic(guest, tmp_path, name):
    m = SCENARIOS[name](guest)
    m.run(until=3_000_000)
    a, b, c = (tmp_path / n for n in ("a.ckpt", "b.ckpt", "c.ckpt"))
    m.save(a)
    m.save(b)
    assert a.read_bytes() == b.read_bytes()
    # A restored machine saves the same hypervisor sections: nothing of the hypervisor is lost
    # or added by a round trip. (Not the whole file: the processors' restore drops some TLB
    # entries, on bare metal too.)
    hvsim.Machine.restore(a).save(c)
    ha = {k: v for k, v in _sections(a).items() if k.startswith("hv")}
    hc = {k: v for k, v in _sections(c).items() if k.startswith("hv")}
    assert len(ha) > 10 and ha == hc


def _saved(guest, tmp_path):
    m = SCENARIOS["hv_synic"](guest)
    m.run(until=3_000_000)
    path = tmp_path / "good.ckpt"
    m.save(path)
    return path


def _decompress(path):
    """The section stream of a checkpoint (magic, format version, one zstd frame)."""
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=path.read_bytes()[12:],
                          capture_output=True, check=True).stdout


def _sections(path):
    """{section name: (version, payload)} of a checkpoint (core/state.h's format)."""
    raw, out, i = _decompress(path), {}, 0
    while i < len(raw):
        n = int.from_bytes(raw[i:i + 2], "little")
        name = raw[i + 2:i + 2 + n].decode()
        i += 2 + n
        version = int.from_bytes(raw[i:i + 4], "little")
        length = int.from_bytes(raw[i + 4:i + 12], "little")
        out[name] = (version, raw[i + 12:i + 12 + length])
        i += 12 + length
    return out


def _rewrite(path, out, edit):
    """Decompresses a checkpoint (magic, format version, one zstd frame), applies `edit` to
    the section stream and writes it back compressed, so that the reader gets past the
    decompression to the section contents."""
    head, raw = path.read_bytes()[:12], _decompress(path)
    plain = out.with_suffix(".raw")  # from a file, zstd records the size (the reader needs it)
    plain.write_bytes(edit(raw))
    frame = subprocess.run(["zstd", "-c", "-q", str(plain)], capture_output=True,
                           check=True).stdout
    out.write_bytes(head + frame)
    return out


def _replace_field_value(raw, section, field, value):
    """Sets a u32 field of `section` (type tag 2) to `value`."""
    at = raw.index(len(section).to_bytes(2, "little") + section.encode())
    key = len(field).to_bytes(2, "little") + field.encode() + b"\x02"
    f = raw.index(key, at) + len(key)
    return raw[:f] + value.to_bytes(4, "little") + raw[f + 4:]


def test_truncated_checkpoint_is_refused(guest, tmp_path):
    good = _saved(guest, tmp_path)
    data = good.read_bytes()
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(hvsim.InputError, match="bad.ckpt"):
        hvsim.Machine.restore(bad)


def test_flipped_byte_in_a_hypervisor_section_is_refused(guest, tmp_path):
    good = _saved(guest, tmp_path)
    # A field name damaged: the reader names the section and the field it expected.
    bad = _rewrite(good, tmp_path / "name.ckpt",
                   lambda raw: raw.replace(b"\x0c\x00stimer_cycle", b"\x0c\x00stimer_cyclf", 1))
    with pytest.raises(hvsim.InputError, match=r"hv\.p0\.vp0.*stimer_cycle"):
        hvsim.Machine.restore(bad)
    # Values that cannot be: the hypervisor's own checks name the section and the problem.
    cases = [("hv.p0.vp0", "pcpu", 7, "a physical CPU that does not exist"),
             ("hv.p0", "vcpus", 65, "bad number of virtual processors"),
             ("hv", "pcpus", 3, "a different number of processors"),
             ("hv.ports", "ports", 1000, "hv.ports")]
    for section, field, value, what in cases:
        bad = _rewrite(good, tmp_path / (field + ".ckpt"),
                       lambda raw: _replace_field_value(raw, section, field, value))
        with pytest.raises(hvsim.InputError, match=what):
            hvsim.Machine.restore(bad)
    # The edit itself is sound: the same round trip without a change restores.
    same = _rewrite(good, tmp_path / "same.ckpt", lambda raw: raw)
    assert hvsim.Machine.restore(same).state_hash() == hvsim.Machine.restore(good).state_hash()


def test_a_failed_save_leaves_the_file_alone(guest, tmp_path):
    good = _saved(guest, tmp_path)
    before = good.read_bytes()
    m = hvsim.Machine.restore(good)
    (tmp_path / "dir").mkdir()
    with pytest.raises(hvsim.InputError):
        m.save(tmp_path / "dir")
    assert good.read_bytes() == before
    m.run(until=4_000_000)
    m.save(good)  # replaced whole
    assert hvsim.Machine.restore(good).state_hash() == m.state_hash()


def test_cli_save_and_restore_in_hypervisor_mode(cli, guest, tmp_path):
    run = ("run", "--hyperv", "--kernel", guest("hv_basic"))
    full = tmp_path / "full.json"
    p = cli(*run, "--stats", full, "-q")
    assert p.returncode == 1, p.stderr  # the debug exit's status for value 0 (QEMU's rule)
    ck = tmp_path / "c.ckpt"
    p1 = cli(*run, "--until", "100us", "--save", ck, "-q")
    assert p1.returncode == 0 and ck.exists(), p1.stderr
    part = tmp_path / "part.json"
    p2 = cli("run", "--restore", ck, "--stats", part, "-q")
    assert p2.returncode == 1, p2.stderr
    assert json.loads(full.read_text())["state_hash"] == json.loads(part.read_text())["state_hash"]
    assert p1.stdout + p2.stdout == p.stdout
