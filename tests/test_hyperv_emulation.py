"""Instruction emulation in hypervisor mode (docs/hv.md "Instruction emulation"): a child
partition's accesses to device memory (EPT violations outside partition memory) and its
INS/OUTS are decoded and emulated by the hypervisor against the machine's devices, giving
what the same instructions give on bare metal; guest faults are injected (#PF with CR2);
what the emulator does not cover crashes only the partition, naming the instruction."""

import hvsim


def run(guest, mode, cmdline=""):
    if mode == "hyperv":
        m = hvsim.Machine(memory="256M", mode="hyperv")
    else:
        m = hvsim.Machine(memory="256M")
    m.load_kernel(guest("hv_mmio"), cmdline=cmdline)
    return m, m.run()


def test_device_registers_and_string_io_as_on_bare_metal(guest):
    # guest/programs/hv_mmio.c: IOAPIC registers through MOV (all sizes, moffs), MOVZX/MOVSX,
    # OR/AND/ADD/SUB/CMP/TEST with flags, XCHG, BTS/BTR, MOVNTI, REP STOS/MOVS; REP OUTSB to
    # COM1, OUTSW and REP INSB (both directions) on the firmware-config ports.
    m, stop = run(guest, "hyperv")
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    assert "hv_mmio: all 12 checks passed" in m.serial_output
    bare, bare_stop = run(guest, "bare")
    assert bare_stop == stop
    assert m.serial_output == bare.serial_output
    out = m.serial_output
    assert "ioapic version 0x170011" in out  # the machine's IOAPIC, through the window
    assert "hv_mmio: rep outsb to the serial port\n" in out
    assert "fw_cfg signature via rep insb: QEMU" in out
    vp = m.inspect()["hypervisor"]["partitions"]["child"]["vp0"]
    # Five INS/OUTS instructions: REP OUTSB, OUTSW, REP INSB twice, the faulting REP OUTSB.
    assert vp["string_io"] == 5
    # Every IOAPIC access was an EPT violation; some instructions made two accesses (RMW,
    # XCHG) and REP STOS/MOVS counted theirs.
    ept = vp["exits_by_reason"]["EPT_VIOLATION"]
    assert ept >= 30 and vp["emulated_mmio"] > ept
    # INS/OUTS exit as I/O instructions; nothing else is counted as one of them.
    assert vp["exits_by_reason"]["IO_INSTRUCTION"] > vp["string_io"]


def test_page_fault_from_an_emulated_string_instruction(guest):
    # REP OUTSB whose source runs into a non-present page: #PF injected with CR2 at the page,
    # two bytes out, RCX and RSI where the processor leaves them.
    m, stop = run(guest, "hyperv")
    assert stop.exit_value == 0, m.serial_output
    assert "PASS: REP OUTSB into a non-present page" in m.serial_output
    assert "#PF: vector 14 cr2 offset 0 rcx 3 rsi offset 0" in m.serial_output
    assert "<>\n" in m.serial_output


def test_deterministic(guest):
    a, sa = run(guest, "hyperv")
    b, sb = run(guest, "hyperv")
    assert sa == sb
    assert a.state_hash() == b.state_hash()
    assert a.instructions == b.instructions and a.sim_time_ns == b.sim_time_ns
    assert a.inspect()["hypervisor"] == b.inspect()["hypervisor"]


def test_uncovered_instruction_crashes_only_the_partition(guest):
    # IMUL with an IOAPIC operand: on bare metal the processor does it; the emulator does not
    # cover IMUL, so the partition crashes with a report naming it, and the simulator goes on.
    bare, bare_stop = run(guest, "bare", "uncovered=1")
    assert bare_stop.exit_value == 0 and "imul: 0x" in bare.serial_output
    m, stop = run(guest, "hyperv", "uncovered=1")
    assert stop.kind == "triple_fault" and stop.exit_status == 4
    assert "partition 'child' crashed" in stop.message
    assert "cannot emulate imul" in stop.message, stop.message
    assert "guest-physical address 0xfec00010" in stop.message
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    assert child["state"].startswith("crashed: cannot emulate imul")
    assert "imul: 0x" not in m.serial_output
    assert "hv_mmio: all 12 checks passed" not in m.serial_output
    # The simulator is fine: the machine reports, and a new one runs the program through.
    assert m.state_hash() == m.state_hash()
    again, again_stop = run(guest, "hyperv")
    assert again_stop.exit_value == 0
