"""Interrupts, timers and SMP through guest programs: the smp program (INIT/SIPI bring-up,
IPIs) and the timers program (LAPIC timer modes, PIT via PIC and IOAPIC, RTC, PM timer),
on 1, 2 and 4 processors; determinism and checkpoints with timers and IPIs in flight."""

import re

import pytest

import hvsim

TIMER_ARGS = "tsc_hz=2000000000 apic_hz=1000000000 rtc_start=1704067200"


def boot(path, cmdline="", cpus=1, **kw):
    m = hvsim.Machine(cpus=cpus, **kw)
    m.load_kernel(path, cmdline=cmdline)
    return m


def finish(m):
    return m.run(max_instructions=400_000_000, until="2s")


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_smp_brings_up_aps_and_passes_ipi_checks(guest, cpus):
    m = boot(guest("smp"), cpus=cpus)
    stop = finish(m)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    assert "smp: %d processors" % cpus in m.serial_output
    assert "%d of %d application processors online" % (cpus - 1, cpus - 1) in m.serial_output
    tree = m.inspect()
    for i in range(1, cpus):
        cpu = tree["cpu%d" % i]
        assert cpu["interrupts"]["sipi"] == 1  # the second SIPI is ignored
        assert cpu["interrupts"]["init"] == 1
        assert cpu["interrupts"]["nmi"] == 1
        assert cpu["interrupts"]["by_vector"]["vector64"] >= 1  # fixed ping
        assert cpu["interrupts"]["by_vector"]["vector69"] == 2  # broadcasts
        assert cpu["lapic"]["ipis_sent"] >= 1
    assert tree["cpu0"]["lapic"]["ipis_sent"] >= 6


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_timers(guest, cpus):
    m = boot(guest("timers"), TIMER_ARGS, cpus=cpus)
    stop = finish(m)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    out = m.serial_output
    tsc_hz = int(re.search(r"tsc_hz=(\d+)", out).group(1))
    assert abs(tsc_hz - 2_000_000_000) < 2_000_000
    assert "rtc 2024-01-01 00:00:00" in out
    tree = m.inspect()
    assert tree["devices"]["pit"]["irq0_pulses"] >= 10
    assert tree["devices"]["rtc"]["periodic_irqs"] >= 5
    assert tree["cpu0"]["lapic"]["timer_expiries"] >= 8
    assert tree["cpu0"]["interrupts"]["extint"] >= 5  # PIT through the 8259 (virtual wire)
    assert tree["devices"]["ioapic"]["delivered"]["pin2"] >= 5


def test_timer_rates_follow_the_configured_clock(guest):
    # At 1 GHz the TSC counts half as fast against the same PIT and LAPIC timer.
    m = boot(guest("timers"), "tsc_hz=1000000000 apic_hz=1000000000", cpu_freq_hz=1_000_000_000)
    stop = finish(m)
    assert stop.exit_value == 0, m.serial_output
    import re
    fired = re.search(r"one-shot fired (\d+) cycles after arming \(expected 100000\)",
                      m.serial_output)
    assert fired, m.serial_output
    # The expiry plus the wake-up and delivery costs of the timing table, nothing more.
    t = m.timing()
    assert 100_000 <= int(fired.group(1)) < 100_000 + t["hlt_wake"] + t["interrupt"] + 200


def test_rtc_start_time_is_a_parameter(guest):
    m = boot(guest("timers"), "rtc_start=951782400", rtc_start="2000-02-29T00:00:00")
    stop = finish(m)
    assert stop.exit_value == 0, m.serial_output
    assert "rtc 2000-02-29 00:00:00" in m.serial_output


def test_bad_rtc_start_is_named():
    with pytest.raises(hvsim.InputError, match="rtc_start"):
        hvsim.Machine(rtc_start="yesterday")


def test_smp_twice_same_hash(guest):
    results = []
    for _ in range(2):
        m = boot(guest("smp"), cpus=4)
        stop = finish(m)
        assert stop.exit_value == 0, m.serial_output
        results.append((m.state_hash(), m.instructions, m.sim_time_ns, m.serial_output))
    assert results[0] == results[1]


@pytest.mark.parametrize("program,cpus,args,cuts", [
    # Cuts as fractions of the whole run: early boot, AP bring-up / calibration, IPIs or
    # timers in flight, near the end.
    ("smp", 4, "", (0.005, 0.25, 0.55, 0.95)),
    ("timers", 2, TIMER_ARGS, (0.01, 0.08, 0.6, 0.95)),
])
def test_checkpoint_with_pending_interrupts_equals_uninterrupted(guest, tmp_path, program, cpus,
                                                                 args, cuts):
    ref = boot(guest(program), args, cpus=cpus)
    ref_stop = finish(ref)
    assert ref_stop.exit_value == 0, ref.serial_output
    for fraction in cuts:
        n = max(1, int(ref.instructions * fraction))
        m = boot(guest(program), args, cpus=cpus)
        assert m.run(max_instructions=n).kind == "instruction_limit"
        ckpt = tmp_path / ("%s_%d.ckpt" % (program, n))
        m.save(ckpt)
        before = m.serial_output
        r = hvsim.Machine.restore(ckpt)
        assert r.state_hash() == m.state_hash()
        stop = finish(r)
        assert stop == ref_stop, (n, r.serial_output)
        assert r.state_hash() == ref.state_hash(), n
        assert r.instructions == ref.instructions and r.sim_time_ns == ref.sim_time_ns, n
        assert before + r.serial_output == ref.serial_output
