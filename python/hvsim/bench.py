"""`hvsim bench`: guest MIPS on the compute workload (integer mix), measured on this host.

Reports host-dependent speed; the simulated results (instructions, state hash) are also
printed so a reader can see the same work was done."""

import json
import platform

from ._native import guest_program
from .machine import Machine

WORKLOADS = [
    # name, program, command line, description
    ("integer-mix", "compute", "rounds=%d", "sieve, sort, hash, bytecode interpreter"),
]


def run_one(program, cmdline):
    m = Machine(memory="256M")
    m.load_kernel(guest_program(program), cmdline=cmdline)
    stop = m.run()
    if stop.kind != "debug_exit" or stop.exit_value != 0:
        raise RuntimeError("benchmark guest %s failed: %r\n%s" % (program, stop, m.serial_output))
    return m.stats()


def main(args):
    rounds = 1 if args.quick else 10
    repeats = 1 if args.quick else 3
    results = []
    print("hvsim bench (%s, %s)" % (platform.machine(), platform.processor() or "cpu"))
    for name, program, cmdline, what in WORKLOADS:
        best = None
        for _ in range(repeats):
            s = run_one(program, cmdline % rounds if "%d" in cmdline else cmdline)
            if best is None or s["mips"] > best["mips"]:
                best = s
        results.append({"workload": name, "description": what, "instructions": best["instructions"],
                        "host_seconds": round(best["host_seconds"], 4),
                        "mips": round(best["mips"], 2), "state_hash": best["state_hash"]})
        print("  %-14s %12d insns  %8.3f s  %8.1f MIPS  (best of %d; %s)"
              % (name, best["instructions"], best["host_seconds"], best["mips"], repeats, what))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0
