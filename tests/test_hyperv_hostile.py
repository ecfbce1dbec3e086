"""Hostile guests (issue 5): guest/programs/hv_hostile.c attacks the hypervisor from a child
partition with deterministic random hypercalls (any call code, reserved bits, huge rep
counts, input/output GPAs that overlap, are unaligned, cross pages, lie beyond its memory or
are huge), synthetic-MSR reads and writes with random values (#GP or accepted), random
test-device commands and MMIO where it has no memory, while a victim partition on the same
processor holds a secret. Every hypercall gets a TLFS status, the simulator never stops on
its own, the victim's memory is untouched and the secret is never seen by the attacker."""

import re

import pytest

import hvsim

MASK64 = (1 << 64) - 1


def secret_word(seed, k):
    # guest/programs/hv_hostile.c secret_word()
    x = ((seed + 1) * 0x9E3779B97F4A7C15 ^ (k * 0xC2B2AE3D27D4EB4F)) & MASK64
    x ^= x >> 31
    return x | 0x0101010101010101


def attack(guest, seed, iterations=20000):
    m = hvsim.Machine(cpus=1, memory="256M", mode="hyperv", hyperv_testdev=True)
    victim = m.create_partition("victim", memory="8M", kernel=guest("hv_hostile"),
                                cmdline="role=victim seed=%d" % seed)
    stop = m.run()  # the victim writes its secret and halts for good
    assert stop.kind == "halted", stop
    before = victim.read(0, 8 << 20)
    attacker = m.create_partition("attacker", memory="8M", kernel=guest("hv_hostile"),
                                  cmdline="role=attacker seed=%d iterations=%d"
                                  % (seed, iterations))
    stop = m.run(until="10s")
    return m, victim, attacker, before, stop


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hostile_guest_never_crashes_the_simulator_nor_reaches_another_partition(guest, seed):
    m, victim, attacker, before, stop = attack(guest, seed)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    out = m.serial_output
    assert "PASS: every hypercall returned a TLFS status (0 others)" in out
    assert "PASS: secret found 0 times" in out
    # The victim's memory is exactly as it was, and its secret is there.
    assert victim.read(0, 8 << 20) == before
    where = int(re.search(r"victim's secret at 0x([0-9a-f]+)", out).group(1), 16)
    secret = victim.read(where, 16 * 8)
    words = [int.from_bytes(secret[8 * k:8 * k + 8], "little") for k in range(16)]
    assert words == [secret_word(seed, k) for k in range(16)]
    assert victim.crashed is None and attacker.crashed is None
    # The attack exercised every path: hypercalls with many statuses, MSRs, the device, MMIO.
    s = attacker.stats()
    statuses = s["hypercalls_by_status"]
    assert {"HV_STATUS_SUCCESS", "HV_STATUS_INVALID_HYPERCALL_CODE",
            "HV_STATUS_INVALID_HYPERCALL_INPUT", "HV_STATUS_INVALID_ALIGNMENT"} <= set(statuses)
    exits = s["vps"][0]["exits_by_reason"]
    assert exits["VMCALL"] > 5000 and exits["WRMSR"] > 2000 and exits["EPT_VIOLATION"] > 1000
    assert s["vps"][0]["emulated_mmio"] > 1000
    node = m.inspect()["hypervisor"]["partitions"]["attacker"]
    assert node["testdev_commands"] > 1000


def test_hostile_run_is_deterministic(guest):
    a = attack(guest, 5, iterations=5000)
    b = attack(guest, 5, iterations=5000)
    assert a[0].state_hash() == b[0].state_hash()
    assert a[0].serial_output == b[0].serial_output
    assert a[4] == b[4]
