"""The C allocator's share of this process's memory after a burst: bounded at start, given back
when the load drops.

glibc's malloc gives each thread that allocates an arena of its own (up to 8 per core), keeps
freed memory for reuse instead of returning it, and raises its mmap threshold each time a big
block is freed, so later big blocks come from the heap and pin it. After a burst of requests on
worker threads that is memory the process holds without using it. configure() caps the arenas at
two and fixes the thresholds (what MALLOC_ARENA_MAX=2 and MALLOC_TRIM_THRESHOLD_ would do, set
from inside, so the binary needs no environment); Trimmer returns the free pages once a busy
spell is over. On a libc without these calls (musl) both do nothing.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("polyvisor")

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2  # the event loop's thread and the worker threads share the second
# Fixed: blocks from it up are mmapped (and unmapped on free), a free heap top above it trimmed. Above
# asyncio's 256 KiB receive buffer (one per read, shrunk to what came): at 256 KiB every request's
# read would cost an mmap, an mremap and a munmap.
THRESHOLD = 1 << 20
BUSY_SHARE = 0.05  # a CPU share (of one core) over a tick that counts as busy


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def configure(libc: ctypes.CDLL | None = None) -> bool:
    """Cap the malloc arenas and fix the thresholds; True when the C library took them."""
    libc = libc or _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    done = [mallopt(param, value) == 1 for param, value in (
        (M_ARENA_MAX, ARENAS), (M_MMAP_THRESHOLD, THRESHOLD), (M_TRIM_THRESHOLD, THRESHOLD))]
    return all(done)


def trim(libc: ctypes.CDLL | None = None) -> None:
    """Collect garbage cycles, then give the allocator's free pages back to the kernel."""
    gc.collect()
    libc = libc or _libc()
    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


class Trimmer:
    """Decides, tick by tick, when to trim: after a tick that was busy, at the first quiet one.

    Busy is this process's CPU time over the tick above BUSY_SHARE of the tick's wall time, so
    the check costs no per-request work; one trim per busy spell, none while idle.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.process_time) -> None:
        self._clock, self._cpu = clock, cpu
        self._last = (clock(), cpu())
        self.busy = False

    def tick(self) -> bool:
        """Record the tick; True when the allocator should be trimmed now."""
        now = (self._clock(), self._cpu())
        wall, used = now[0] - self._last[0], now[1] - self._last[1]
        self._last = now
        if wall > 0 and used / wall > BUSY_SHARE:
            self.busy = True
            return False
        if self.busy:
            self.busy = False
            return True
        return False
