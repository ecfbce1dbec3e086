"""`hvsim demo`: boots each guest-kit program, shows what it printed, and a short table of
instructions, simulated time, host time and MIPS; then, in hypervisor mode, a root and two
child partitions with VMBus: negotiation, channel offers, heartbeats and a shutdown each."""

import os
import sys
import tempfile

from . import timeline
from ._native import guest_program
from .machine import Machine

PROGRAMS = [
    ("hello", "greeting=hello-from-the-demo", "prints its command line and memory size"),
    ("pagefault", "", "handles a page fault, maps the page and resumes"),
    ("exceptions", "", "#DE, #UD, #BP, #GP error codes, an IST stack"),
    ("compute", "rounds=1", "integer mix: sieve, sort, hash, bytecode interpreter"),
    ("mbcheck", "expect_mem=256 expect_cpus=2 exit=0", "checks the Multiboot and fw_cfg contract"),
    ("smp", "", "starts 3 APs with INIT/SIPI, then fixed, broadcast, logical, NMI and self IPIs"),
    ("timers", "tsc_hz=2000000000 apic_hz=1000000000 rtc_start=1704067200",
     "LAPIC timer modes, PIT via 8259 and IOAPIC, RTC, ACPI PM timer"),
    ("fpu_sse", "", "x87 and SSE-SSE4.2 results, XSAVE, #NM/#XM/#MF/#UD rules"),
    ("vmx_basic", "", "a mini hypervisor: VMXON, VM-entry checks, a guest and its VM exits"),
]

CPUS = {"mbcheck": 2, "smp": 4}


def _row(cells, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def main(args=None):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "env")
        with open(module, "w") as f:
            f.write("MODULE_OK=1\n")
        for name, cmdline, what in PROGRAMS:
            m = Machine(cpus=CPUS.get(name, 1), memory="256M")
            m.load_kernel(guest_program(name), cmdline=cmdline,
                          modules=[module] if name == "mbcheck" else [])
            stop = m.run(max_instructions=2_000_000_000)
            print("== %s: %s" % (name, what))
            for line in m.serial_output.rstrip("\n").splitlines():
                print("   | " + line)
            verdict = "pass" if stop.kind == "debug_exit" and stop.exit_value == 0 else "FAIL"
            print("   -> %r  [%s]\n" % (stop, verdict))
            s = m.stats()
            rows.append((name, verdict, s["instructions"], "%.3f" % (s["sim_time_ns"] / 1e6),
                         "%.3f" % s["host_seconds"], "%.1f" % s["mips"]))
    head = ("program", "result", "instructions", "sim ms", "host s", "MIPS")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print(_row(head, widths))
    print(_row(["-" * w for w in widths], widths))
    for r in rows:
        print(_row(r, widths))
    rows.append(vmbus_demo())
    print(_row(rows[-1], widths))
    failed = [r[0] for r in rows if r[1] != "pass"]
    if failed:
        sys.stderr.write("hvsim demo: failed: %s\n" % ", ".join(failed))
        return 1
    return 0


def vmbus_demo():
    """A root partition and two children on two processors, each with a VMBus server of the
    root's stack and the integration services (docs/vmbus.md): the VMBus negotiation and
    offers as a timeline, the heartbeats, then a shutdown request to each partition, which
    its guest (guest/programs/vmbus_ic.c) answers and ends with exit value 0x33."""
    names = ("root", "child1", "child2")
    m = Machine(cpus=2, memory="256M", mode="hyperv")
    m.create_partition("root", memory="16M", kernel=guest_program("vmbus_ic"), root=True)
    for child in names[1:]:
        m.create_partition(child, memory="16M", kernel=guest_program("vmbus_ic"), parent="root")
    for name in names:
        m.enable_vmbus(name, integration_services=True, ic_period="10ms")
    print("== hypervisor mode: a root and two child partitions with VMBus")
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "vmbus.jsonl")
        m.trace(trace)
        m.run(until="60ms")
        m.trace_stop()
        lines = timeline.lines(trace, track="vmbus:child1")
    for line in lines[:9]:
        print("   | " + line)
    print("   | ... (%d VMBus messages of child1; `hvsim timeline` shows them all)"
          % (len(lines) - 1))
    ok = True
    for name in names:
        hb = m.partition(name).heartbeat or {}
        print("   %-7s heartbeats sent %s, acknowledged %s, guest alive: %s"
              % (name, hb.get("sent"), hb.get("acked"), hb.get("alive")))
        ok = ok and hb.get("alive") == "yes" and hb.get("acked", 0) > 0
    for name in names:
        ok = m.partition(name).shutdown() and ok
        stop = m.run(until="2s")
        done = stop.kind == "debug_exit" and stop.exit_value == 0x33
        print("   shutdown of %-7s -> %r" % (name, stop))
        ok = ok and done
    verdict = "pass" if ok else "FAIL"
    print("   -> [%s]\n" % verdict)
    s = m.stats()
    return ("vmbus (3 partitions)", verdict, s["instructions"],
            "%.3f" % (s["sim_time_ns"] / 1e6), "%.3f" % s["host_seconds"], "%.1f" % s["mips"])
