#!/usr/bin/python3
"""Scenario: a root and two child partitions, each with the root stack's VMBus server and the
integration services. Run 25 ms (negotiation, offers, channels opened, two heartbeats), save a
checkpoint, then shut child1 down both in the original machine and in one restored from the
checkpoint: both end the same way, with the same state hash.

Run with:  PYTHONPATH=python:build/python /usr/bin/python3 scenarios/vmbus_partitions.py
"""

import os
import sys
import tempfile

import hvsim
import hvsim.timeline

NAMES = ("root", "child1", "child2")


def build():
    m = hvsim.Machine(cpus=2, memory="256M", mode="hyperv")
    kernel = hvsim.guest_program("vmbus_ic")
    m.create_partition("root", memory="16M", kernel=kernel, root=True)
    for child in NAMES[1:]:
        m.create_partition(child, memory="16M", kernel=kernel, parent="root")
    for name in NAMES:
        m.enable_vmbus(name, integration_services=True, ic_period="10ms")
    return m


def shut_down(m, name):
    """Asks `name`'s guest to shut down and runs until it does (debug exit 0x33)."""
    assert m.partition(name).shutdown(), name
    return m.run(until="1s")


def main():
    m = build()
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "vmbus.jsonl")
        m.trace(trace)
        m.run(until="25ms")
        m.trace_stop()
        lines = hvsim.timeline.lines(trace, track="vmbus:child1")
        ckpt = os.path.join(tmp, "25ms.ckpt")
        m.save(ckpt)
        print("checkpoint at 25 ms: %d bytes" % os.path.getsize(ckpt))
        restored = hvsim.Machine.restore(ckpt)

    print("child1's VMBus messages in the first 25 ms (%d):" % (len(lines) - 1))
    for line in lines[:7]:
        print("  " + line)
    for name in NAMES:
        hb = m.partition(name).heartbeat
        ts = m.partition(name).timesync
        print("%-7s heartbeats sent %d, acknowledged %d (alive: %s); time samples %d"
              % (name, hb["sent"], hb["acked"], hb["alive"], ts["samples"]))

    stop = shut_down(m, "child1")
    print("original: shutdown of child1 -> %r, hash %s" % (stop, m.state_hash()))
    stop2 = shut_down(restored, "child1")
    print("restored: shutdown of child1 -> %r, hash %s" % (stop2, restored.state_hash()))
    same = (stop == stop2 and m.state_hash() == restored.state_hash()
            and stop.kind == "debug_exit" and stop.exit_value == 0x33)
    print("identical:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
