"""Hypervisor mode, first cut (docs/hv.md): guest-kit kernels boot unchanged in a child
partition (EPT-mapped memory, one virtual processor); their port I/O reaches the machine's
devices through VM exits, so the serial output and the debug exit are as on bare metal; the
hypervisor's exits are in the inspect tree; runs are deterministic; what is not built yet
stops the run with a message that says so."""

import pytest

import hvsim


def boot(guest, program, memory="256M", partition_memory=None, cmdline=""):
    m = hvsim.Machine(memory=memory, mode="hyperv", partition_memory=partition_memory)
    m.load_kernel(guest(program), cmdline=cmdline)
    return m, m.run()


@pytest.mark.parametrize("program", ["compute", "exceptions", "pagefault", "syscall",
                                     "realmode", "paging_la57", "debugregs", "memcopy"])
def test_program_runs_in_a_child_partition_as_on_bare_metal(guest, program):
    m, stop = boot(guest, program)
    assert stop.kind == "debug_exit" and stop.exit_value == 0, (stop, m.serial_output)
    bare = hvsim.Machine(memory="256M")
    bare.load_kernel(guest(program))
    assert bare.run() == stop
    assert m.serial_output == bare.serial_output
    hv = m.inspect()["hypervisor"]
    vp = hv["partitions"]["child"]["vp0"]
    # Every byte of serial output (and the debug exit) went out through an I/O exit.
    assert vp["exits_by_reason"]["IO_INSTRUCTION"] > len(m.serial_output)
    assert hv["partitions"]["child"]["pages"] == (128 << 20) // 4096


def test_partition_sees_its_own_memory_and_the_hypervisor(guest):
    m, stop = boot(guest, "hello", partition_memory="64M")
    assert stop.kind == "debug_exit" and stop.exit_value == 0
    # The Multiboot memory map is the partition's: 64 MiB, not the machine's 256.
    assert "upper 64512 KiB" in m.serial_output, m.serial_output
    hv = m.inspect()["hypervisor"]
    assert hv["partitions"]["child"]["memory"] == 64 << 20
    assert hv["hypervisor_pages"] > 0 and hv["free_pages"] > 0


def test_hypervisor_interface_from_inside_the_partition(guest):
    # guest/programs/hv_basic.c: CPUID leaves, GUEST_OS_ID and the hypercall page overlay,
    # hypercall status codes, VP_INDEX, TIME_REF_COUNT, the reference TSC page, the
    # frequency MSRs and every #GP rule, checked by the guest itself.
    m, stop = boot(guest, "hv_basic")
    assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
    assert "hv_basic: all" in m.serial_output
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    assert child["hypercalls"] == 8
    assert child["hypercalls_by_status"] == {
        "HV_STATUS_SUCCESS": 2, "HV_STATUS_INVALID_HYPERCALL_CODE": 1,
        "HV_STATUS_INVALID_HYPERCALL_INPUT": 1, "HV_STATUS_INVALID_ALIGNMENT": 3,
        "HV_STATUS_INVALID_PARAMETER": 1}
    assert child["guest_os_id"] == 0 and child["hypercall_msr"] & 1 == 0  # disabled at the end
    exits = child["vp0"]["exits_by_reason"]
    assert exits["VMCALL"] == 8 and exits["RDMSR"] > 10 and exits["EPT_VIOLATION"] == 1
    a, _ = boot(guest, "hv_basic")
    assert a.state_hash() == m.state_hash()
    # On bare metal there is no hypervisor to find.
    bare = hvsim.Machine()
    bare.load_kernel(guest("hv_basic"))
    assert bare.run().exit_value != 0
    assert "FAIL: CPUID.1:ECX[31]" in bare.serial_output


def test_hypercall_benchmark_mode(guest):
    m, stop = boot(guest, "hv_basic", cmdline="hypercalls=1000")
    assert stop.kind == "debug_exit" and stop.exit_value == 0, m.serial_output
    assert "hv_bench: 1000 hypercalls" in m.serial_output
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    assert child["hypercalls_by_status"] == {"HV_STATUS_SUCCESS": 1000}


def test_deterministic(guest):
    a, sa = boot(guest, "compute")
    b, sb = boot(guest, "compute")
    assert sa == sb
    assert a.state_hash() == b.state_hash()
    assert a.instructions == b.instructions and a.sim_time_ns == b.sim_time_ns
    bare = hvsim.Machine(memory="256M")
    bare.load_kernel(guest("compute"))
    bare.run()
    assert bare.state_hash() != a.state_hash()


def test_memory_beyond_the_partition_is_not_there(guest):
    # pagewalk maps 1 GiB of virtual addresses onto a pool at 128 MiB; in a 32 MiB partition
    # every access to the pool is an EPT violation outside partition memory, which the
    # hypervisor emulates as device memory (docs/hv.md "Instruction emulation"): no device
    # claims it, so loads read all ones and stores are dropped. No path leads to the
    # machine's RAM at that address (which holds the hypervisor's pages).
    m, stop = boot(guest, "pagewalk", memory="256M", partition_memory="32M")
    assert stop.kind == "debug_exit" and stop.exit_value == 1, (stop, m.serial_output)
    assert "FAIL: virtual page 5 maps pool page 5" in m.serial_output
    vp = m.inspect()["hypervisor"]["partitions"]["child"]["vp0"]
    assert vp["emulated_mmio"] >= 2000000
    assert vp["exits_by_reason"]["EPT_VIOLATION"] >= 2000000


def test_guest_triple_fault_crashes_the_partition(guest):
    m, stop = boot(guest, "triple_fault")
    assert stop.kind == "triple_fault"
    assert "partition 'child' crashed: triple fault" in stop.message
    assert stop.exit_status == 4


def test_reset_msr_stops_the_machine_with_a_reset(guest, cli):
    m, stop = boot(guest, "hv_basic", cmdline="reset=1")
    assert stop.kind == "reset" and stop.exit_status == 8
    assert stop.message == "partition 'child' requested a reset (HV_X64_MSR_RESET)"
    assert "still running after RESET" not in m.serial_output
    assert "PASS: RESET reserved bit: #GP" in m.serial_output
    p = cli("run", "--hyperv", "--kernel", guest("hv_basic"), "--append", "reset=1", "-q")
    assert p.returncode == 8 and "requested a reset" in p.stderr, p.stderr


def test_guest_crash_report_through_the_crash_msrs(guest):
    # hv_basic crash=1 reports a panic as Linux does: CRASH_P3/P4 = its message's GPA and
    # length, then CRASH_CTL = CrashNotify | CrashMessage.
    m, stop = boot(guest, "hv_basic", cmdline="crash=1")
    assert stop.kind == "triple_fault" and stop.exit_status == 4
    assert "partition 'child' crashed: guest crash (P0=0 P1=0 P2=0 P3=0x" in stop.message
    assert stop.message.endswith("P4=0x2a): Kernel panic - not syncing: hv_basic test")
    assert "still running after CrashNotify" not in m.serial_output
    child = m.inspect()["hypervisor"]["partitions"]["child"]
    assert child["guest_crashes"] == 1 and child["state"].startswith("crashed: guest crash")


def test_bad_hypervisor_parameters(guest):
    with pytest.raises(hvsim.InputError, match="at least 16 MiB"):
        hvsim.Machine(memory="8M", mode="hyperv")
    with pytest.raises(hvsim.InputError, match="leave the hypervisor at least 4 MiB"):
        hvsim.Machine(memory="64M", mode="hyperv", partition_memory="62M")
    with pytest.raises(hvsim.InputError, match="bad mode"):
        hvsim.Machine(mode="hyper-v")
    m = hvsim.Machine(memory="64M", mode="hyperv")
    m.load_kernel(guest("hello"))
    with pytest.raises(hvsim.InputError, match="already loaded"):
        m.load_kernel(guest("hello"))


def test_cli_hyperv_flag(cli, guest):
    p = cli("run", "--hyperv", "--kernel", guest("hello"))
    assert p.returncode == 1, p.stderr
    assert "Hello from hvsim guest" in p.stdout
    p = cli("run", "--hyperv", "--kernel", guest("triple_fault"), "-q")
    assert p.returncode == 4
