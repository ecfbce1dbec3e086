"""The command line: `hvsim run`, `hvsim demo`, `hvsim bench` (the ./hvsim launcher builds
first and handles `build` and `test` itself)."""

import argparse
import json
import os
import sys
import time

from .machine import InputError, Machine

# Exit statuses of the simulator itself are even; a guest's debug exit gives odd ones.
EXIT_BAD_INPUT = 2


def _count(text):
    """An instruction count: 1000000, 1_000_000, 1e6, 5M, 2G."""
    t = text.strip().lower().replace("_", "")
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(t[-1:], 1)
    if scale != 1:
        t = t[:-1]
    try:
        v = float(t) if "e" in t or "." in t else int(t)
    except ValueError:
        raise argparse.ArgumentTypeError("bad instruction count %r (e.g. 1000000, 1e9, 50M)" % text)
    v = int(v * scale)
    if v <= 0:
        raise argparse.ArgumentTypeError("instruction count must be positive: %r" % text)
    return v


def _timing_entry(text):
    """NAME=CYCLES for --timing (names: hvsim.timing_entries())."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=CYCLES, e.g. divide=30, got %r" % text)
    try:
        cycles = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("cycles of %s must be an integer, got %r" % (name, value))
    return name.strip(), cycles


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive integer, got %r" % text)
    if v <= 0:
        raise argparse.ArgumentTypeError("expected a positive integer, got %r" % text)
    return v


def _write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError("cannot write %s: %s" % (path, e.strerror))


class _Progress:
    """Prints a status line to stderr about once a second on long runs (terminal only)."""

    def __init__(self, machine, enabled):
        self.m = machine
        self.enabled = enabled
        self.last = time.monotonic()

    def __call__(self):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 1.0:
            return
        self.last = now
        s = self.m.stats()
        sys.stderr.write("\rhvsim: %.3g instructions, %.3f ms simulated, %.1f MIPS   "
                         % (s["instructions"], s["sim_time_ns"] / 1e6, s["mips"]))
        sys.stderr.flush()

    def done(self):
        if self.enabled and self.last is not None:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _check_output_path(path, flag):
    """Fails before the run (not after it) if an output file could not be created."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError("%s %s: directory %s does not exist" % (flag, path, parent))
    if os.path.isdir(path):
        raise InputError("%s %s: is a directory" % (flag, path))


def cmd_run(args):
    for flag, path in (("--stats", args.stats), ("--trace", args.trace), ("--save", args.save)):
        if path:
            _check_output_path(path, flag)
    if args.serial not in ("stdio", "none"):
        _check_output_path(args.serial, "--serial")
    if args.restore:
        m = Machine.restore(args.restore)
    else:
        if not args.kernel:
            raise InputError("run needs --kernel FILE (or --restore CHECKPOINT)")
        m = Machine(cpus=args.smp, memory=args.memory, seed=args.seed, rtc_start=args.rtc_start,
                    timing=dict(args.timing or []),
                    mode="hyperv" if args.hyperv else "bare-metal",
                    partition_memory=args.partition_memory,
                    hyperv_testdev=args.hyperv_testdev)
        # Load before opening any output: bad input must not truncate an existing file.
        m.load_kernel(args.kernel, cmdline=args.append or "", modules=args.module or [])
        if args.vmbus:
            if not args.hyperv:
                raise InputError("--vmbus needs --hyperv (VMBus serves partitions)")
            m.enable_vmbus("child", integration_services=args.integration_services)
        elif args.integration_services:
            raise InputError("--integration-services needs --vmbus (they are VMBus channels)")
    serial_file = None
    if args.serial == "stdio":
        out = sys.stdout.buffer

        def sink(b):
            out.write(bytes((b,)))
            if b == 10:
                out.flush()
        m.on_serial(sink)
    elif args.serial != "none":
        try:
            serial_file = open(args.serial, "wb")
        except OSError as e:
            raise InputError("cannot open serial output file %s: %s" % (args.serial, e.strerror))
        m.on_serial(lambda b: serial_file.write(bytes((b,))))
    if args.trace:
        m.trace(args.trace)
    progress = _Progress(m, sys.stderr.isatty() and not args.quiet)
    m.set_progress("10ms", progress)
    try:
        stop = m.run(max_instructions=args.max_insns, until=args.until)
    except KeyboardInterrupt:
        progress.done()
        sys.stderr.write("hvsim: interrupted\n")
        return 130
    finally:
        sys.stdout.flush()
        if serial_file:
            serial_file.close()
    progress.done()
    if args.trace:
        m.trace_stop()
    if args.save:
        m.save(args.save)
    stats = m.stats()
    stats["stop"] = {"kind": stop.kind, "exit_value": stop.exit_value, "rip": stop.rip,
                     "cpu": stop.cpu, "message": stop.message, "exit_status": stop.exit_status}
    if args.stats:
        _write_atomic(args.stats, json.dumps(stats, indent=2) + "\n")
    if stop.kind == "triple_fault":
        sys.stderr.write("hvsim: triple fault on cpu %d at rip %#x: %s\n"
                         % (stop.cpu, stop.rip, stop.message))
    elif stop.kind == "reset":
        sys.stderr.write("hvsim: %s\n" % stop.message)
    elif stop.kind == "halted" and not args.quiet:
        sys.stderr.write("hvsim: %s (rip %#x)\n" % (stop.message, stop.rip))
    elif stop.kind in ("instruction_limit", "time_limit") and not args.quiet:
        sys.stderr.write("hvsim: stopped: %s reached after %d instructions\n"
                         % (stop.kind.replace("_", " "), stats["instructions"]))
    return stop.exit_status


def build_parser():
    p = argparse.ArgumentParser(
        prog="hvsim", description="hvsim: a deterministic x86-64 full-system simulator of the "
        "Hyper-V architecture.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("run", help="boot a kernel and run it",
                       description="Boot a Multiboot (or ELF64) kernel. Exit status: "
                       "(v<<1)|1 when the guest writes v to port 0xF4; 0 when a limit is "
                       "reached; 2 bad input; 4 triple fault (or a partition crash); 6 all "
                       "processors halted; 8 a partition asked for a reset.")
    r.add_argument("--kernel", metavar="FILE", help="kernel: Multiboot v1 ELF32/ELF64, or ELF64")
    r.add_argument("--append", metavar="STR", help="kernel command line after the file name")
    r.add_argument("--module", metavar="FILE", action="append",
                   help="a Multiboot module (repeatable)")
    r.add_argument("--smp", metavar="N", type=_positive_int, default=1, help="processors (1)")
    r.add_argument("--hyperv", action="store_true",
                   help="hypervisor mode: boot the kernel in a child partition (one VP per --smp processor)")
    r.add_argument("--hyperv-testdev", action="store_true",
                   help="with --hyperv: the Hyper-V test device at port 0x3000 (QEMU's "
                        "hyperv-testdev)")
    r.add_argument("--vmbus", action="store_true",
                   help="with --hyperv: a VMBus server of the root's stack for the child "
                        "(docs/vmbus.md); see its messages with --trace and hvsim timeline")
    r.add_argument("--integration-services", "--ic", action="store_true",
                   help="with --vmbus: offer the heartbeat, shutdown and time sync channels "
                        "(docs/vmbus.md \"Integration services\")")
    r.add_argument("--partition-memory", metavar="SIZE",
                   help="with --hyperv: the child partition's memory (half of --memory)")
    r.add_argument("--memory", metavar="SIZE", default="256M", help="RAM, e.g. 256M, 1G (256M)")
    r.add_argument("--seed", metavar="N", type=int, default=0, help="RNG seed (0)")
    r.add_argument("--rtc-start", metavar="TIME",
                   help="CMOS RTC time at start: seconds since 1970 or an ISO date "
                   "(2024-01-01T00:00:00)")
    r.add_argument("--timing", metavar="NAME=CYCLES", type=_timing_entry, action="append",
                   help="override a cycle cost, e.g. divide=30 (repeatable; names and "
                   "defaults: hvsim.timing_entries() or cpu/timing.h)")
    r.add_argument("--serial", metavar="stdio|FILE|none", default="stdio",
                   help="where COM1 output goes (stdio)")
    r.add_argument("--max-insns", metavar="N", type=_count, help="stop after N instructions")
    r.add_argument("--until", metavar="TIME", help="stop at simulated time, e.g. 10ms")
    r.add_argument("--stats", metavar="FILE", help="write run statistics as JSON")
    r.add_argument("--trace", metavar="FILE",
                   help="structured trace: .json = Chrome/Perfetto, else JSON lines")
    r.add_argument("--save", metavar="FILE", help="write a checkpoint when the run stops")
    r.add_argument("--restore", metavar="FILE", help="continue from a checkpoint")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress or stop messages")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("timeline", help="print one category of a trace as a timeline",
                       description="The records of one category of a trace written by "
                       "run --trace (JSON lines or Chrome JSON), in simulated-time order: by "
                       "default the VMBus channel messages.")
    t.add_argument("trace", metavar="TRACE", help="a trace file from run --trace")
    t.add_argument("--category", default="vmbus", help="record category (vmbus)")
    t.add_argument("--track", help="only this track, e.g. vmbus:child")
    t.set_defaults(func=lambda a: __import__("hvsim.timeline", fromlist=["main"]).main(a))

    d = sub.add_parser("demo", help="boot the guest programs and show what they print")
    d.set_defaults(func=lambda a: __import__("hvsim.demo", fromlist=["main"]).main(a))
    b = sub.add_parser("bench", help="run the benchmarks and report guest MIPS")
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    b.add_argument("--quick", action="store_true", help="smaller workloads (for smoke tests)")
    b.set_defaults(func=lambda a: __import__("hvsim.bench", fromlist=["main"]).main(a))
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except (InputError, FileNotFoundError) as e:
        sys.stderr.write("hvsim: error: %s\n" % e)
        return EXIT_BAD_INPUT
