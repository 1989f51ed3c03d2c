"""A process's own peak resident memory, for the benchmarks that run their subject in a child."""

from __future__ import annotations

import resource


def peak_kib() -> int:
    """This process's peak resident set (VmHWM) in KiB.

    Not ``ru_maxrss``: Linux carries a process's peak over into the program it executes, so a
    child started from a large benchmark process reported the parent's peak, not its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
