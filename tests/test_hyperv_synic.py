"""SynIC, synthetic timers, ports and connections of hvsim's hypervisor (docs/hv.md "SynIC",
"Synthetic timers", "Ports and connections"): the host creates ports and connections through
the Machine's host API, guest/programs/hv_synic.c checks the guest-visible behaviour from
inside the child partition (MSRs and their #GP rules, overlay pages, HvPostMessage and
HvSignalEvent with every status, EOM redelivery, timers firing at the right reference time),
and the host posts and signals into the partition. The guest takes the SINT and direct-timer
vectors through its x2APIC (virtual interrupts, hv/interrupts.cpp): messages, events and EOM
redeliveries interrupt, timers wake HLT at their deadlines."""

import pytest

import hvsim
import hvsim.bench


def setup_ports(m):
    # The ports and connections hv_synic.c expects (see its header comment).
    hvsim.bench.synic_ports(m)


def boot_synic(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.load_kernel(guest("hv_synic"))
    setup_ports(m)
    return m, m.run()


def test_synic_and_timers_from_inside_the_partition(guest):
    m, stop = boot_synic(guest)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
    assert "hv_synic: all" in m.serial_output, m.serial_output
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    by_status = child["hypercalls_by_status"]
    # Every status the program provokes, counted by the hypervisor.
    assert by_status["HV_STATUS_INVALID_CONNECTION_ID"] == 3
    assert by_status["HV_STATUS_INVALID_PORT_ID"] == 3
    assert by_status["HV_STATUS_INVALID_PARAMETER"] == 6
    assert by_status["HV_STATUS_INVALID_SYNIC_STATE"] == 2
    assert by_status["HV_STATUS_INSUFFICIENT_BUFFERS"] == 1
    assert by_status["HV_STATUS_INVALID_ALIGNMENT"] == 1
    assert by_status["HV_STATUS_INVALID_HYPERCALL_INPUT"] == 1
    vp = child["vp0"]
    synic = vp["synic"]
    assert synic["scontrol"] == 1 and synic["simp"] & 1 and synic["siefp"] & 1
    assert synic["messages_waiting"] == 0
    # Posted messages: 3 + 17 + 1 with interrupts off, 1 + 2 + 1 with them on; timer
    # messages: STIMER0 twice, STIMER1 6 times in message mode, STIMER2 5 times.
    assert synic["messages_delivered"] == 25 + 13
    stimers = vp["stimers"]
    assert stimers["stimer0"]["expirations"] == 2
    assert stimers["stimer1"]["expirations"] == 6 + 1  # + once in direct mode
    assert stimers["stimer1"]["missed"] >= 3  # the periods while the slot stayed busy
    assert stimers["stimer2"]["expirations"] == 5 and stimers["stimer3"]["expirations"] == 0
    # Interrupts taken: 5 SINT2 messages and events, the STIMER0 message, the direct timer,
    # 5 periodic SINT3 messages.
    assert vp["interrupts_injected"] == 12
    assert vp["exits_by_reason"]["HLT"] >= 3
    hv = m.inspect()["hypervisor"]
    assert sorted(hv["ports"]) == [str(p) for p in (0x100, 0x101, 0x102, 0x103)]
    assert hv["connections"] == {"1:1": 0x100, "1:2": 0x101, "1:3": 0x102, "1:4": 0x103,
                                 "1:5": 0x104}


def test_run_twice_is_identical(guest):
    a, sa = boot_synic(guest)
    b, sb = boot_synic(guest)
    assert sa == sb
    assert a.serial_output == b.serial_output
    assert a.state_hash() == b.state_hash()
    assert a.instructions == b.instructions and a.sim_time_ns == b.sim_time_ns
    assert a.inspect()["hypervisor"] == b.inspect()["hypervisor"]


def test_without_the_ports_the_guest_sees_invalid_connections(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.load_kernel(guest("hv_synic"))
    stop = m.run()
    assert stop.exit_value != 0
    assert "FAIL: HvPostMessage to itself" in m.serial_output, m.serial_output


def test_host_posts_and_signals_into_the_partition(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.load_kernel(guest("hv_synic"))
    setup_ports(m)
    # Before the guest enables its SynIC nothing can be delivered.
    assert m.post_message(1, b"early") == "HV_STATUS_INVALID_SYNIC_STATE"
    assert m.signal_event(1) == "HV_STATUS_INVALID_SYNIC_STATE"
    assert m.run().exit_value == 0, m.serial_output
    synic = lambda: m.inspect()["hypervisor"]["partitions"]["child"]["vp0"]["synic"]
    before = synic()
    # The guest left its SynIC on with SINT2 unmasked: a host message lands in slot 7 (SINT7
    # masked: the message arrives, no interrupt); an event on SINT2 raises it.
    assert m.post_message(0x42, b"from the host", sint=7, sender=9) == "HV_STATUS_SUCCESS"
    assert m.signal_event(100, sint=2) == "HV_STATUS_SUCCESS"
    assert m.signal_event(100, sint=5) == "HV_STATUS_INVALID_SYNIC_STATE"  # masked
    assert m.signal_event(2048) == "HV_STATUS_INVALID_PARAMETER"
    after = synic()
    assert after["messages_delivered"] == before["messages_delivered"] + 1
    assert after["interrupts_raised"] == before["interrupts_raised"] + 1
    # 16 waiting messages per sender, then INSUFFICIENT_BUFFERS; another sender still fits.
    # (The same through the Partition object.)
    child = m.partition("child")
    statuses = [child.post_message(0x42, b"x", sint=7, sender=9) for _ in range(17)]
    assert statuses == ["HV_STATUS_SUCCESS"] * 16 + ["HV_STATUS_INSUFFICIENT_BUFFERS"]
    assert child.post_message(0x42, b"x", sint=7, sender=10) == "HV_STATUS_SUCCESS"
    assert child.signal_event(101) == "HV_STATUS_SUCCESS"
    child.create_port(0x200, "event", sint=2, flag_count=4)
    child.connect(9, 0x200)
    assert m.inspect()["hypervisor"]["connections"]["1:9"] == 0x200


def test_host_api_refuses_bad_requests(guest):
    m = hvsim.Machine(memory="256M", mode="hyperv")
    with pytest.raises(hvsim.InputError, match="no partition named 'child'"):
        m.create_port(1, "message")
    m.load_kernel(guest("hv_synic"))
    with pytest.raises(hvsim.InputError, match="expected 'message' or 'event'"):
        m.create_port(1, "mailbox")
    with pytest.raises(hvsim.InputError, match="SINT must be 0 to 15"):
        m.create_port(1, "message", sint=16)
    with pytest.raises(hvsim.InputError, match="no virtual processor 1"):
        m.create_port(1, "message", vp=1)
    with pytest.raises(hvsim.InputError, match="within 0-2047"):
        m.create_port(1, "event", base_flag=2040, flag_count=9)
    with pytest.raises(hvsim.InputError, match="id must be"):
        m.create_port(1 << 24, "message")
    m.create_port(1, "message")
    with pytest.raises(hvsim.InputError, match="already in use"):
        m.create_port(1, "event")
    with pytest.raises(hvsim.InputError, match="no such port"):
        m.connect(1, 2)
    with pytest.raises(hvsim.InputError, match="at most 240"):
        m.post_message(1, bytes(241))
    bare = hvsim.Machine()
    with pytest.raises(hvsim.InputError, match="not a hypervisor-mode machine"):
        bare.create_port(1, "message")


def test_message_benchmark_mode(guest):
    # hvsim bench's HvPostMessage row: N messages to itself, each delivered and interrupting.
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.load_kernel(guest("hv_synic"), cmdline="messages=500")
    setup_ports(m)
    stop = m.run()
    assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
    assert "hv_msg_bench: 500 messages" in m.serial_output
    assert "PASS: benchmark: 500 messages, each one interrupt" in m.serial_output
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    assert child["hypercalls_by_code"]["HvCallPostMessage"] >= 500


def test_hyperv_test_device(guest):
    # QEMU's hyperv-testdev protocol at port 0x3000: SINT routes asserted, message connections
    # that deliver into a SINT slot, event connections that assert a SINT, all destroyed again.
    m = hvsim.Machine(memory="256M", mode="hyperv", hyperv_testdev=True)
    m.load_kernel(guest("hv_synic"), cmdline="testdev=1")
    setup_ports(m)
    stop = m.run()
    assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
    assert m.serial_output.count("PASS: testdev:") == 7, m.serial_output
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    # 10 commands; the assert without a route and the one after its destruction are refused.
    assert child["testdev_commands"] == 10 and child["testdev_refused"] == 2
    # Without the device the port is the machine's (nothing there): the checks fail, the
    # simulator carries on.
    m = hvsim.Machine(memory="256M", mode="hyperv")
    m.load_kernel(guest("hv_synic"), cmdline="testdev=1")
    setup_ports(m)
    stop = m.run()
    assert stop.kind == "debug_exit" and stop.exit_value != 0
    assert "FAIL: testdev: each assert of the route" in m.serial_output
    with pytest.raises(hvsim.InputError, match="only in hypervisor mode"):
        hvsim.Machine(hyperv_testdev=True)
