"""hvsim: a deterministic, cycle-approximate x86-64 full-system simulator of the Hyper-V
architecture, scriptable from Python.

    import hvsim
    m = hvsim.Machine(cpus=1, memory="256M", seed=0)
    m.load_kernel(hvsim.guest_program("hello"), cmdline="greeting=hi")
    stop = m.run(max_instructions=10_000_000)
    print(stop, m.serial_output, m.stats())
"""

from ._native import guest_program, native
from .machine import InputError, Machine, Partition, Stop, timing_entries

__all__ = ["Machine", "Partition", "Stop", "InputError", "guest_program", "native", "timing_entries"]
