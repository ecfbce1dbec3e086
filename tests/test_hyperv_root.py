"""The partition tree and the root calls from Python (docs/hv.md "Partition tree and root
calls"; dossier §1.2, §3.7): a root partition's kernel (hv_root) creates a child, lends it a
page with a program, starts and runs it, takes the page back and deletes it; the host sees
the tree (Partition.parent / children) and deletes subtrees, and every page comes back;
partitions without the root privileges are refused; runs are deterministic."""

import pytest

import hvsim


def run_root(guest):
    m = hvsim.Machine(cpus=1, memory="256M", mode="hyperv")
    root = m.create_partition("root", memory="32M", kernel=guest("hv_root"), root=True)
    stop = m.run(until="200ms")
    return m, root, stop


def test_root_kernel_creates_runs_and_deletes_a_child(guest):
    m, root, stop = run_root(guest)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    assert "hv_root: all 13 checks passed" in m.serial_output
    by_code = root.stats()["hypercalls_by_code"]
    assert by_code["HvCallCreatePartition"] == 1
    assert by_code["HvCallDeletePartition"] == 2
    assert by_code["HvCallMapGpaPages"] == 2
    # The child is gone and the root has its 32 MiB back (the lent page returned).
    assert [p.name for p in m.partitions()] == ["root"]
    assert root.stats()["pages"] == (32 << 20) // 4096
    assert root.children == [] and root.parent is None
    hv = m.inspect()["hypervisor"]
    assert hv["free_pages"] + hv["hypervisor_pages"] + root.stats()["pages"] == hv["system_pages"]


def test_a_partition_without_create_partitions_is_refused(guest):
    m = hvsim.Machine(cpus=1, memory="256M", mode="hyperv")
    p = m.create_partition("plain", memory="32M", kernel=guest("hv_root"))
    stop = m.run(until="200ms")
    assert stop.kind == "debug_exit" and stop.exit_value != 0
    assert "FAIL: CPUID 0x40000003 EBX bit 0: CreatePartitions" in m.serial_output
    assert p.stats()["hypercalls"] == 0


def test_host_builds_and_deletes_a_tree():
    m = hvsim.Machine(cpus=2, memory="256M", mode="hyperv")
    free0 = m.inspect()["hypervisor"]["free_pages"]
    a = m.create_partition("a", memory="8M", root=True)
    b = m.create_partition("b", memory="4M", parent=a, root=True)
    c = m.create_partition("c", memory="4M", parent="b")
    d = m.create_partition("d", memory="4M")
    assert b.parent.name == "a" and c.parent.name == "b" and d.parent is None
    assert [p.name for p in a.children] == ["b"]
    assert [p.name for p in b.children] == ["c"]
    a.delete()
    assert [p.name for p in m.partitions()] == ["d"]
    with pytest.raises(hvsim.InputError):
        m.delete_partition("a")
    with pytest.raises(hvsim.InputError):
        m.create_partition("e", memory="4M", parent="nobody")
    d.delete()
    assert m.partitions() == []
    assert m.inspect()["hypervisor"]["free_pages"] == free0


def test_run_twice_gives_the_same_state(guest):
    results = []
    for _ in range(2):
        m, root, stop = run_root(guest)
        results.append((stop.kind, stop.exit_value, m.serial_output, m.state_hash(),
                        root.stats()))
    assert results[0] == results[1]
