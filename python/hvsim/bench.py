"""`hvsim bench`: guest speed on this host, measured in one run and reported as numbers and
ratios (never asserted): the integer mix, memory copies (REP MOVSB/MOVSQ and a plain loop),
a page-walk-heavy workload, a SYSCALL round-trip loop, VM-exit round trips (a CPUID exit
under the guest-kit mini hypervisor and through the C++ VMX API; an EPT-violation exit under
the mini hypervisor; a fast hypercall to hvsim's hypervisor), the same flat code side by
side with Unicorn 2.0.1, packets per second through a VMBus ring (host side), VMBus
request/response round trips between a guest and the echo VSP, and the
simulator's peak memory against the guest RAM it touched.

The simulated results (instructions, state hash) are printed too, so a reader can see the
same work was done; the host figures (seconds, MIPS, GB/s) vary from machine to machine."""

import json
import os
import platform
import re
import subprocess

from ._native import BUILD_DIR, guest_program
from .machine import Machine

# name, program, command line (full, quick), memory, description
WORKLOADS = [
    ("integer-mix", "compute", ("rounds=10", "rounds=1"), "256M",
     "sieve, sort, hash, bytecode interpreter"),
    ("memcopy-rep", "memcopy", ("mode=rep rounds=16", "mode=rep rounds=2"), "256M",
     "REP MOVSB and REP MOVSQ over 4 MiB buffers"),
    ("memcopy-loop", "memcopy", ("mode=loop rounds=4", "mode=loop rounds=1"), "256M",
     "8-byte load/store loop over 4 MiB"),
    ("pagewalk", "pagewalk", ("accesses=2000000", "accesses=100000"), "256M",
     "random accesses over 1 GiB of 4 KiB pages"),
    ("syscall-loop", "syscall_loop", ("iterations=300000", "iterations=20000"), "256M",
     "ring 3 SYSCALL -> ring 0 handler -> SYSRET"),
]

MIB = 1 << 20


def run_one(program, cmdline, memory):
    m = Machine(memory=memory)
    m.load_kernel(guest_program(program), cmdline=cmdline)
    stop = m.run()
    if stop.kind != "debug_exit" or stop.exit_value != 0:
        raise RuntimeError("benchmark guest %s failed: %r\n%s" % (program, stop, m.serial_output))
    s = m.stats()
    s["serial"] = m.serial_output
    return s


def _extra(name, s):
    """Workload-specific figures: GB/s for copies, walks per instruction, round trips/s."""
    host = s["host_seconds"] or 1e-9
    if name.startswith("memcopy"):
        m = re.search(r"rep_bytes=(\d+) loop_bytes=(\d+)", s["serial"])
        copied = int(m.group(1)) + int(m.group(2)) if m else 0
        return {"guest_bytes_copied": copied, "gb_per_s": round(copied / host / 1e9, 3)}
    if name == "pagewalk":
        return {"page_walks": s["page_walks"], "walk_references": s["walk_references"],
                "cpi": round(s["cpi"], 3)}
    if name == "syscall-loop":
        m = re.search(r"(\d+) round trips", s["serial"])
        trips = int(m.group(1)) if m else 0
        return {"round_trips": trips, "round_trips_per_s": round(trips / host)}
    return {"cpi": round(s["cpi"], 3)}


def _tool(name):
    path = os.path.join(BUILD_DIR, "bench", name)
    return path if os.path.exists(path) else None


def _json_tool_rows(name, workload, quick):
    """Runs bench/`name` --json (and --quick) and returns its rows, or one error row."""
    tool = _tool(name)
    if not tool:
        return [{"workload": workload, "error": "build/bench/%s not built" % name}]
    out = subprocess.run([tool, "--json"] + (["--quick"] if quick else []), capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        return [{"workload": workload, "error": out.stderr.strip()}]
    return json.loads(out.stdout)


def unicorn_rows(quick):
    """Runs bench/unicorn_compare (same flat code on both engines, one process)."""
    return _json_tool_rows("unicorn_compare", "unicorn", quick)


def _round_trip_row(workload, run, pattern, n, repeats):
    """Round trips of a benchmark guest: `run(count)` runs it for `count` round trips and
    returns its stats with the serial output; the guest prints `pattern` (round trips,
    cycles). The host time of one round trip is the difference between a run of n and one
    of n/10 (boot and set-up cancel out), each the best of `repeats` runs on this shared
    host."""
    def best(count):
        return min((run(count) for _ in range(repeats)), key=lambda s: s["host_seconds"])
    small = max(n // 10, 1)
    try:
        s, s0 = best(n), best(small)
    except RuntimeError as e:
        return {"workload": workload, "error": str(e)[-300:]}
    m = re.search(pattern, s["serial"])
    trips, cycles = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    host = max(s["host_seconds"] - s0["host_seconds"], 0.0)
    return {"workload": workload, "round_trips": trips,
            "host_seconds": round(s["host_seconds"], 4),
            "ns_per_round_trip": round(host * 1e9 / max(trips - small, 1), 1),
            "cycles_per_round_trip": round(cycles / max(trips, 1), 1),
            "state_hash": s["state_hash"]}


def _mini_hypervisor_row(workload, arg, marker, n, repeats):
    """Round trips under the bare-metal mini hypervisor (vmx_basic `arg`=N)."""
    return _round_trip_row(
        workload, lambda count: run_one("vmx_basic", "%s=%d" % (arg, count), "64M"),
        marker + r": (\d+) round trips (\d+) cycles", n, repeats)


def synic_ports(m):
    """The ports and connections guest/programs/hv_synic.c expects (its header comment)."""
    m.create_port(0x100, "message", sint=2)
    m.create_port(0x101, "event", sint=2, base_flag=16, flag_count=8)
    m.create_port(0x102, "event", sint=5, base_flag=0, flag_count=1)
    m.create_port(0x103, "message", sint=4)
    m.create_port(0x104, "message", sint=2)
    for conn, port in ((1, 0x100), (2, 0x101), (3, 0x102), (4, 0x103), (5, 0x104)):
        m.connect(conn, port)
    m.delete_port(0x104)


def _hyperv_row(workload, program, arg, marker, n, repeats, setup=None, unit="hypercalls"):
    """Round trips of a guest program in a child partition (hypervisor mode); `setup(m)`
    runs after loading (host-side ports and connections)."""
    def run(count):
        m = Machine(memory="256M", mode="hyperv")
        m.load_kernel(guest_program(program), cmdline="%s=%d" % (arg, count))
        if setup:
            setup(m)
        stop = m.run()
        if stop.kind != "debug_exit" or stop.exit_value != 0:
            raise RuntimeError("benchmark guest %s failed: %r\n%s" % (program, stop, m.serial_output))
        s = m.stats()
        s["serial"] = m.serial_output
        return s
    return _round_trip_row(workload, run, marker + r": (\d+) " + unit + r" (\d+) cycles", n,
                           repeats)


def vmx_rows(quick):
    """Simple VM-exit round trips (a CPUID exit, handled and resumed): host ns and simulated
    cycles per round trip, under the bare-metal mini hypervisor (vmx_basic iterations=N, its
    guest with a VPID as production hypervisors run theirs) and through the C++ front door
    (bench/vmx_roundtrip: the timed loop only). Plus EPT-violation round trips under the mini
    hypervisor (vmx_basic ept_iterations=N: a write to an EPT read-only page exits, the host
    swaps which of two pages is read-only, INVEPT, VMRESUME)."""
    n = 5000 if quick else 200000
    repeats = 1 if quick else 5
    rows = [_mini_hypervisor_row("vmx-cpuid-exit-guest", "iterations", "vmx_bench", n, repeats)]
    tool = _tool("vmx_roundtrip")
    if not tool:
        rows.append({"workload": "vmx-cpuid-exit-api", "error": "build/bench/vmx_roundtrip not built"})
    else:
        out = subprocess.run([tool, "--json"] + (["--quick"] if quick else []),
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            rows.append({"workload": "vmx-cpuid-exit-api", "error": out.stderr.strip()})
        else:
            rows.extend(json.loads(out.stdout))
    rows.append(_mini_hypervisor_row("vmx-ept-violation-exit", "ept_iterations", "vmx_ept_bench",
                                     n, repeats))
    # hvsim's own hypervisor (hypervisor mode): a fast hypercall from a child partition.
    rows.append(_hyperv_row("hv-fast-hypercall", "hv_basic", "hypercalls", "hv_bench", n,
                            repeats))
    # HvPostMessage to itself: hypercall, message delivered into the SIM slot, SINT interrupt
    # injected and handled, slot freed.
    rows.append(_hyperv_row("hv-post-message", "hv_synic", "messages", "hv_msg_bench", n // 2,
                            repeats, setup=synic_ports, unit="messages"))
    return rows


def ring_rows(quick):
    """Runs bench/ring_bench: packets per second through a VMBus ring, host writer -> host
    reader in one process (devices/vmbus/ring.h), for a few payload sizes."""
    return _json_tool_rows("ring_bench", "vmbus-ring", quick)


def _echo_run(count, size, batch):
    """vmbus_echo in a child partition against the echo VSP: `count` request/response round
    trips of `size` bytes with `batch` outstanding; its stats with the serial output."""
    m = Machine(cpus=1, memory="128M", mode="hyperv")
    m.create_partition("child", memory="16M", kernel=guest_program("vmbus_echo"),
                       cmdline="requests=%d size=%d batch=%d" % (count, size, batch))
    m.enable_vmbus("child")
    m.add_vmbus_echo("child")
    stop = m.run()
    if stop.kind != "debug_exit" or stop.exit_value != 0:
        raise RuntimeError("vmbus_echo failed: %r\n%s" % (stop, m.serial_output))
    s = m.stats()
    s["serial"] = m.serial_output
    return s


def vmbus_echo_rows(quick):
    """VMBus request/response round trips (guest/programs/vmbus_echo.c against the echo VSP,
    devices/vmbus/echo): the guest writes an in-band request with completion requested into
    its outbound ring, signals the host (HvSignalEvent), the VSP reads it and writes the
    completion into the inbound ring and signals back (SINT2 event), the guest reads and
    checks it. Per round trip: simulated cycles (the guest's RDTSC around its loop), simulated
    time and guest instructions (the machine's, difference of an N and an N/10 run, so boot
    and set-up cancel out) and host ns (same difference, best of `repeats` runs)."""
    n = 400 if quick else 4000
    repeats = 1 if quick else 3
    rows = []
    for size, batch in ((64, 1), (64, 16), (4000, 1), (4000, 16)):
        name = "vmbus-echo-%dB-batch%d" % (size, batch)
        small = n // 10
        def best(count, size=size, batch=batch):
            return min((_echo_run(count, size, batch) for _ in range(repeats)),
                       key=lambda s: s["host_seconds"])
        try:
            s, s0 = best(n), best(small)
        except RuntimeError as e:
            rows.append({"workload": name, "error": str(e)[-300:]})
            continue
        m = re.search(r"vmbus_echo_bench: (\d+) round trips (\d+) cycles", s["serial"])
        trips, cycles = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        d = max(trips - small, 1)
        rows.append({
            "workload": name, "round_trips": trips, "payload": size, "batch": batch,
            "cycles_per_rr": round(cycles / max(trips, 1), 1),
            "sim_ns_per_rr": round((s["sim_time_ns"] - s0["sim_time_ns"]) / d, 1),
            "guest_instructions_per_rr": round((s["instructions"] - s0["instructions"]) / d, 1),
            "host_ns_per_rr": round(max(s["host_seconds"] - s0["host_seconds"], 0.0) * 1e9 / d, 1),
            "host_seconds": round(s["host_seconds"], 4), "state_hash": s["state_hash"]})
    return rows


def memory_rows(quick):
    """Peak RSS of the simulator process (bench/guest_run, no Python around it) against the
    allowance 64 MiB + 1.05 x guest RAM touched."""
    tool = _tool("guest_run")
    if not tool:
        return [{"workload": "memory", "error": "build/bench/guest_run not built"}]
    rows = []
    for name, program, cmdline, memory in [
            ("pagewalk", "pagewalk", "accesses=%d" % (100000 if quick else 2000000), "256M"),
            ("memcopy", "memcopy", "rounds=1", "256M")]:
        out = subprocess.run([tool, guest_program(program), cmdline, memory], capture_output=True,
                             text=True, timeout=600)
        m = re.search(r"touched_pages=(\d+) peak_rss_kib=(\d+)", out.stdout)
        if out.returncode != 0 or not m:
            rows.append({"workload": name, "error": (out.stderr or out.stdout)[-300:]})
            continue
        touched_mib = int(m.group(1)) * 4096 / MIB
        rss_mib = int(m.group(2)) / 1024
        allowance = 64 + 1.05 * touched_mib
        rows.append({"workload": name, "touched_mib": round(touched_mib, 1),
                     "peak_rss_mib": round(rss_mib, 1), "allowance_mib": round(allowance, 1),
                     "ratio": round(rss_mib / allowance, 3)})
    return rows


def main(args):
    quick = bool(args.quick)
    repeats = 1 if quick else 3
    results = []
    print("hvsim bench (%s, %s)%s" % (platform.machine(), platform.processor() or "cpu",
                                      " --quick" if quick else ""))
    for name, program, cmdlines, memory, what in WORKLOADS:
        cmdline = cmdlines[1] if quick else cmdlines[0]
        best = None
        for _ in range(repeats):
            s = run_one(program, cmdline, memory)
            if best is None or s["mips"] > best["mips"]:
                best = s
        row = {"workload": name, "description": what, "program": program, "cmdline": cmdline,
               "instructions": best["instructions"], "cycles": best["cycles"],
               "host_seconds": round(best["host_seconds"], 4), "mips": round(best["mips"], 2),
               "state_hash": best["state_hash"]}
        row.update(_extra(name, best))
        results.append(row)
        extra = ""
        if "gb_per_s" in row:
            extra = "%.2f GB/s copied" % row["gb_per_s"]
        elif "round_trips_per_s" in row:
            extra = "%.2f M round trips/s" % (row["round_trips_per_s"] / 1e6)
        elif name == "pagewalk":
            extra = "%d walks, CPI %.2f" % (row["page_walks"], row["cpi"])
        else:
            extra = "CPI %.2f" % row["cpi"]
        print("  %-14s %11d insns %8.3f s %7.1f MIPS  %-24s (best of %d; %s)"
              % (name, row["instructions"], row["host_seconds"], row["mips"], extra, repeats,
                 what))

    def section(title, rows, kind, width, line):
        """Prints a titled group of rows: `line(row)` for each measured one."""
        print("  " + title)
        for r in rows:
            results.append(dict(r, kind=kind))
            if "error" in r:
                print("    %-*s not measured: %s" % (width, r["workload"], r["error"]))
            elif "not_yet" in r:
                print("    %-*s not yet: %s" % (width, r["workload"], r["not_yet"]))
            else:
                print("    %-*s %s" % (width, r["workload"], line(r)))

    section("side by side with Unicorn 2.0.1 (same flat 64-bit code, one process):",
            unicorn_rows(quick), "unicorn", 14,
            lambda u: ("hvsim %7.2f GB/s  unicorn %7.3f GB/s  ratio %8.2f"
                       % (u["hvsim_gbps"], u["unicorn_gbps"], u["ratio"]))
            if u.get("hvsim_gbps") else
            ("hvsim %7.1f MIPS  unicorn %7.1f MIPS  ratio %8.2f"
             % (u["hvsim_mips"], u["unicorn_mips"], u["ratio"])))
    section("VM-exit round trips (CPUID or EPT-violation exit, or a hypercall, handled, resumed;"
            " target <= 1000 ns):", vmx_rows(quick), "vmx", 24,
            lambda v: "%8d round trips %8.1f ns each %7.1f cycles each"
            % (v["round_trips"], v["ns_per_round_trip"], v["cycles_per_round_trip"]))
    section("VMBus ring, host writer -> host reader (in-band packets, 64 KiB ring):",
            ring_rows(quick), "ring", 18,
            lambda r: "%9d packets %7.3f s %7.2f M packets/s %6.2f GB/s payload"
            % (r["packets"], r["host_seconds"], r["packets_per_s"] / 1e6, r["gb_per_s"]))
    section("VMBus request/response through the echo VSP (guest vmbus_echo in a child "
            "partition):", vmbus_echo_rows(quick), "vmbus_echo", 24,
            lambda r: "%6d round trips %8.1f cycles %8.1f sim ns %7.1f guest insns "
            "%8.1f host ns each" % (r["round_trips"], r["cycles_per_rr"], r["sim_ns_per_rr"],
                                     r["guest_instructions_per_rr"], r["host_ns_per_rr"]))
    section("memory: peak RSS vs 64 MiB + 1.05 x guest RAM touched (ratio <= 1 meets it):",
            memory_rows(quick), "memory", 14,
            lambda r: "RSS %6.1f MiB vs %6.1f MiB (touched %6.1f MiB): ratio %.2f"
            % (r["peak_rss_mib"], r["allowance_mib"], r["touched_mib"], r["ratio"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0
