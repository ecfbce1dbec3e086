"""Every guest-kit program boots on a bare-metal machine and passes its own checks."""

import pytest

import hvsim


def boot(path, cmdline="", **kw):
    m = hvsim.Machine(**kw)
    m.load_kernel(path, cmdline=cmdline)
    stop = m.run(max_instructions=500_000_000)
    return m, stop


def test_hello_prints_and_exits_zero(guest):
    m, stop = boot(guest("hello"), "greeting=hi")
    assert stop.kind == "debug_exit", (stop, m.serial_output)
    assert stop.exit_value == 0
    assert stop.exit_status == 1
    assert "Hello from hvsim guest" in m.serial_output
    assert "hello.elf greeting=hi" in m.serial_output  # the Multiboot command line


@pytest.mark.parametrize("program", ["pagefault", "exceptions"])
def test_fault_programs_pass(guest, program):
    m, stop = boot(guest(program))
    assert stop.kind == "debug_exit", (stop, m.serial_output)
    assert stop.exit_value == 0, m.serial_output


def test_exceptions_are_counted_by_vector(guest):
    m, stop = boot(guest("exceptions"))
    assert stop.exit_value == 0, m.serial_output
    cpu0 = m.inspect()["cpu0"]
    text = str(cpu0)
    assert "#UD" in text and "#DE" in text and "#GP" in text, cpu0


def test_compute_workload(guest):
    m, stop = boot(guest("compute"), "rounds=1")
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    assert m.instructions > 1_000_000
    s = m.stats()
    for key in ("instructions", "cycles", "sim_time_ns", "host_seconds", "mips", "state_hash"):
        assert key in s
    assert s["sim_time_ns"] > 0 and s["cycles"] >= s["instructions"]


def test_instruction_limit_stops_exactly(guest):
    m = hvsim.Machine()
    m.load_kernel(guest("compute"), cmdline="rounds=1")
    stop = m.run(max_instructions=12345)
    assert stop.kind == "instruction_limit"
    assert m.instructions == 12345
    stop = m.run(max_instructions=655)
    assert m.instructions == 13000


def test_time_limit(guest):
    m = hvsim.Machine()
    m.load_kernel(guest("compute"), cmdline="rounds=1")
    stop = m.run(until="100us")
    assert stop.kind == "time_limit"
    assert m.sim_time_ns == 100_000


def test_rdtsc_follows_simulated_time_not_host(guest):
    # Same program at two clock rates: the same instructions, different simulated time.
    a = hvsim.Machine(cpu_freq_hz=1_000_000_000)
    a.load_kernel(guest("hello"))
    a.run()
    b = hvsim.Machine(cpu_freq_hz=2_000_000_000)
    b.load_kernel(guest("hello"))
    b.run()
    assert a.instructions == b.instructions
    assert a.sim_time_ns == pytest.approx(2 * b.sim_time_ns, rel=0.01)


def test_fpu_sse_program_passes_and_is_deterministic(guest):
    """x87 and SSE-SSE4.2 results, CRC32, string compares, FXSAVE/XSAVE and the #NM, #XM,
    #MF and #UD rules (guest/programs/fpu_sse.c); two runs end in the same state."""
    a, sa = boot(guest("fpu_sse"))
    assert sa.kind == "debug_exit" and sa.exit_value == 0, (sa, a.serial_output)
    assert "fpu_sse: all" in a.serial_output, a.serial_output
    b, sb = boot(guest("fpu_sse"))
    assert sb == sa
    assert a.state_hash() == b.state_hash()
    assert a.instructions == b.instructions
    assert a.cpu_state(0)["mxcsr"] == b.cpu_state(0)["mxcsr"]


def test_vmbus_ring_kit_runs_in_the_guest(guest):
    """The guest kit's VMBus ring (guest/kit/vmbus_ring.c) on the simulated processor: round
    trips wrapping at every 8-byte position, full ring, signaling, malformed rings."""
    m, stop = boot(guest("vmbus_ring"), "rounds=1500")
    assert stop.kind == "debug_exit", (stop, m.serial_output)
    assert stop.exit_value == 0, m.serial_output
    assert "vmbus_ring: all 22 checks passed" in m.serial_output, m.serial_output
    assert "1500 packet round trips" in m.serial_output
