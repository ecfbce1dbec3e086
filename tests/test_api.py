"""The Python API: inspect tree, stats, serial, registers, docstrings."""

import inspect as pyinspect

import hvsim


def test_inspect_tree_has_components(guest):
    m = hvsim.Machine(cpus=2)
    m.load_kernel(guest("hello"))
    m.run()
    tree = m.inspect()
    for key in ("machine", "cpu0", "cpu1", "memory", "port_io", "devices"):
        assert key in tree, tree.keys()
    assert tree["devices"]["com1"]["tx_bytes"] == len(m.serial_bytes)
    assert tree["machine"]["instructions"] == m.instructions
    assert tree["memory"]["touched_pages"] > 0
    assert m.cpu_state(1)["run_state"] == "wait_for_sipi"


def test_serial_callback_sees_every_byte(guest):
    m = hvsim.Machine()
    seen = []
    m.on_serial(seen.append)
    m.load_kernel(guest("hello"))
    m.run()
    assert bytes(seen) == m.serial_bytes and len(seen) > 10


def test_cpu_state_after_exit_is_long_mode(guest):
    m = hvsim.Machine()
    m.load_kernel(guest("hello"))
    m.run()
    s = m.cpu_state()
    assert s["efer"] & (1 << 10)  # LMA
    assert s["cr0"] & (1 << 31)


def test_public_api_is_documented():
    for obj in (hvsim.Machine, hvsim.Stop):
        assert obj.__doc__
        for name, member in vars(obj).items():
            if name.startswith("_") or not callable(member) and not isinstance(member, property):
                continue
            assert pyinspect.getdoc(member), "%s.%s has no docstring" % (obj.__name__, name)
