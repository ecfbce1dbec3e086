"""Partitions from Python (docs/hv.md "Scheduling" and "Python API"): several child partitions
share the processors in turns, each with its own memory and kernel; their figures (turns,
exits, hypercalls by code and status) come from the inspect tree; observers see every exit
and hypercall; bad requests are refused with the reason; runs are deterministic."""

import pytest

import hvsim


def two_partitions(guest, cpus=1):
    m = hvsim.Machine(cpus=cpus, memory="256M", mode="hyperv")
    a = m.create_partition("a", memory="32M", kernel=guest("compute"))
    b = m.create_partition("b", memory="32M", kernel=guest("hv_basic"))
    return m, a, b


def test_two_partitions_share_one_processor_in_turns(guest):
    m, a, b = two_partitions(guest)
    stop = m.run(until="200ms")
    # hv_basic finishes (its debug exit stops the machine) while compute is still running:
    # both ran, in turns of the 1 ms time slice.
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    assert "hv_basic: all" in m.serial_output
    sa, sb = a.stats(), b.stats()
    assert sa["vps"][0]["turns"] >= 2 and sb["vps"][0]["turns"] >= 2
    assert sa["vps"][0]["exits"] > 0 and sb["vps"][0]["exits"] > 0
    assert sb["hypercalls_by_code"]["HvCallNotifyLongSpinWait"] >= 1
    assert sa["hypercalls"] == 0 and sb["hypercalls"] == 8
    assert sa["pages"] == sb["pages"] == (32 << 20) // 4096
    assert [p.name for p in m.partitions()] == ["a", "b"]
    assert a.crashed is None and b.vcpus == 1
    pcpu = m.inspect()["hypervisor"]["pcpus"]["pcpu0"]
    assert pcpu["vps"] == "a/vp0 b/vp0" and pcpu["switches"] >= 3


def test_each_partition_gets_its_own_processor_when_there_are_enough(guest):
    m, a, b = two_partitions(guest, cpus=2)
    stop = m.run(until="200ms")
    assert stop.kind == "debug_exit" and stop.exit_value == 0
    pcpus = m.inspect()["hypervisor"]["pcpus"]
    assert pcpus["pcpu0"]["vps"] == "a/vp0" and pcpus["pcpu1"]["vps"] == "b/vp0"
    assert a.stats()["vps"][0]["pcpu"] == 0 and b.stats()["vps"][0]["pcpu"] == 1


def test_vp_registers_between_runs(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    p = m.create_partition("child", memory="64M", kernel=guest("hv_basic"))
    # Before the first run: the Multiboot loader's state (EAX magic, EBX the info structure,
    # 32-bit protected mode, paging off).
    entry = p.registers(0)
    assert entry["rax"] == 0x2BADB002 and entry["cr0"] == 0x11 and entry["efer"] == 0
    m.run(until="20us")
    # From the VMCS and the saved GPRs: the kit has turned on long mode and paging.
    mid = p.registers(0)
    assert mid["rbx"] == 0x2BADB002 and mid["rip"] != entry["rip"]
    assert mid["cr0"] & 0x80000001 == 0x80000001 and mid["efer"] & 0x500 == 0x500
    with pytest.raises(hvsim.InputError, match="no virtual processor 1"):
        p.registers(1)


def test_observers_see_every_exit_and_hypercall(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    p = m.create_partition("child", memory="64M", kernel=guest("hv_basic"))
    exits, calls = [], []
    m.on_exit(exits.append)
    m.on_hypercall(calls.append)
    stop = m.run()
    assert stop.kind == "debug_exit" and stop.exit_value == 0
    s = p.stats()
    assert len(exits) == s["vps"][0]["exits"]
    by_reason = {}
    for e in exits:
        by_reason[e["reason"]] = by_reason.get(e["reason"], 0) + 1
    assert by_reason == s["vps"][0]["exits_by_reason"]
    assert len(calls) == s["hypercalls"] == 8
    assert {c["call"] for c in calls} >= {"HvCallNotifyLongSpinWait"}
    statuses = {}
    for c in calls:
        statuses[c["status"]] = statuses.get(c["status"], 0) + 1
    assert statuses == s["hypercalls_by_status"]
    assert all(e["partition"] == "child" and e["vp"] == 0 for e in exits + calls)


def test_an_observer_that_raises_ends_the_run(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.create_partition("child", memory="64M", kernel=guest("hv_basic"))

    def boom(event):
        raise RuntimeError("observer failed at %s" % event["reason"])

    m.on_exit(boom)
    with pytest.raises(RuntimeError, match="observer failed"):
        m.run()


def test_bad_requests_are_refused_with_the_reason(guest, tmp_path):
    bare = hvsim.Machine(memory="64M")
    with pytest.raises(hvsim.InputError, match="only in hypervisor mode"):
        bare.create_partition("x")
    assert bare.partitions() == []
    m = hvsim.Machine(memory="64M", mode="hyperv")
    m.create_partition("x", memory="8M")
    with pytest.raises(hvsim.InputError, match="exists already"):
        m.create_partition("x", memory="8M")
    with pytest.raises(hvsim.InputError, match="does not fit"):
        m.create_partition("huge", memory="1G")
    with pytest.raises(hvsim.InputError, match="1 to 64"):
        m.create_partition("many", vcpus=65, memory="8M")
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"not an ELF")
    with pytest.raises(hvsim.InputError):
        m.create_partition("badkernel", memory="8M", kernel=str(bad))
    assert [p.name for p in m.partitions()] == ["x"], "a bad kernel leaves no partition"
    with pytest.raises(hvsim.InputError, match="no partition named"):
        m.partition("nope")
    with pytest.raises(hvsim.InputError, match="16-255"):
        m.partition("x").assert_interrupt(3)
    assert m.partition("x").read(0x1000, 16) == bytes(16)  # fresh memory is zeroed
    with pytest.raises(hvsim.InputError, match="has no memory"):
        m.partition("x").read((8 << 20) - 8, 16)


def test_partitions_are_deterministic(guest):
    def run():
        m, a, b = two_partitions(guest)
        stop = m.run(until="200ms")
        return stop, m.state_hash(), m.serial_output, a.stats(), b.stats()

    assert run() == run()
