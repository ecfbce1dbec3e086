#!/usr/bin/python3
"""Scenario: run the compute workload halfway, checkpoint, and show that the restored machine
finishes exactly as the uninterrupted one (same output, instruction count, time, state hash).

Run with:  PYTHONPATH=python:build/python /usr/bin/python3 scenarios/checkpoint_replay.py
"""

import os
import sys
import tempfile

import hvsim


def main():
    kernel = hvsim.guest_program("compute")

    ref = hvsim.Machine(cpus=1, memory="256M", seed=0)
    ref.load_kernel(kernel, cmdline="rounds=1")
    ref_stop = ref.run()
    print("uninterrupted: %r after %d instructions, %.3f ms simulated, hash %s"
          % (ref_stop, ref.instructions, ref.sim_time_ns / 1e6, ref.state_hash()))

    m = hvsim.Machine(cpus=1, memory="256M", seed=0)
    m.load_kernel(kernel, cmdline="rounds=1")
    half = ref.instructions // 2
    m.run(max_instructions=half)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "half.ckpt")
        m.save(path)
        print("checkpoint at %d instructions: %d bytes" % (half, os.path.getsize(path)))
        restored = hvsim.Machine.restore(path)
    stop = restored.run()
    print("restored:      %r after %d instructions, %.3f ms simulated, hash %s"
          % (stop, restored.instructions, restored.sim_time_ns / 1e6, restored.state_hash()))

    same = (stop == ref_stop and restored.state_hash() == ref.state_hash()
            and m.serial_output + restored.serial_output == ref.serial_output)
    print("identical:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
