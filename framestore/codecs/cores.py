"""How many cores this process may run on: what its threads and workers are counted from."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity (``taskset``, a cgroup cpuset, a
    cluster job's allocation) where the system reports one, else every core."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows report no affinity
        return os.cpu_count() or 1
