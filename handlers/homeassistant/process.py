"""This agent as the supervisor's own container was (GET /supervisor/logs and /supervisor/stats):
its last log lines and its resource use.

The 2018 supervisor read both from Docker (`logs(tail=100)`, `stats(stream=False)` of its own
container). polyvisor is a host process, so the log is a bounded ring a logging handler fills (it
works the same under systemd, in a container or in a terminal, needs no journal access, and costs
100 lines of memory) and the figures come from the kernel's accounting of this process.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.homeassistant.container import Stats  # DockerStats' figures, here for this process

if TYPE_CHECKING:
    import psutil


LOG_LINES = 100  # docker logs tail=100
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # app.main's format
CPU_WINDOW = 0.25  # seconds sampled on the first stats call, when there is no earlier sample


class LogRing(logging.Handler):
    """The last LOG_LINES lines the agent logged (a multi-line record counts each line)."""

    def __init__(self, lines: int = LOG_LINES) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted record (called under the handler's lock)."""
        try:
            self._lines.extend(self.format(record).splitlines() or [""])
        except Exception:  # noqa: BLE001 (logging must never raise into the caller)
            self.handleError(record)

    def text(self) -> bytes:
        """The kept lines, newline-terminated, as docker logs gave them."""
        with self.lock or threading.Lock():
            lines = list(self._lines)
        return "".join(f"{line}\n" for line in lines).encode("utf-8", "replace")



class OwnProcess:
    """Resource use of this process: CPU since the previous call (percent of one CPU, as docker's
    cpu_delta / system_delta * CPUs * 100), resident memory against its cgroup's limit (the
    machine's memory when unlimited, as docker reported), its network namespace's traffic (the
    non-loopback interfaces, as docker counted a container's) and its storage I/O."""

    def __init__(self, cgroup_root: Path = Path("/sys/fs/cgroup")) -> None:
        self._cgroup_root = cgroup_root
        self._process: psutil.Process | None = None
        self._lock = threading.Lock()

    def stats(self) -> Stats | None:
        """The figures, None when the kernel does not give them ("No stats available")."""
        import psutil  # on the first call: 1.3 MiB of the idle agent otherwise

        with self._lock:
            try:
                first = self._process is None
                if self._process is None:
                    self._process = psutil.Process()
                process = self._process
                cpu = process.cpu_percent(CPU_WINDOW if first else None)
                io = process.io_counters()
                nics = psutil.net_io_counters(pernic=True)
                return Stats(
                    cpu_percent=float(cpu),
                    memory_usage=process.memory_info().rss,
                    memory_limit=self.memory_limit(),
                    network_rx=sum(n.bytes_recv for name, n in nics.items() if name != "lo"),
                    network_tx=sum(n.bytes_sent for name, n in nics.items() if name != "lo"),
                    blk_read=io.read_bytes,
                    blk_write=io.write_bytes,
                )
            except (psutil.Error, OSError, AttributeError):  # AttributeError: no io_counters here
                self._process = None
                return None

    def memory_limit(self) -> int:
        """This process's cgroup memory limit (v1 memory.limit_in_bytes or v2 memory.max) when
        one is set, else the machine's memory; never more than the machine has."""
        import psutil

        total = int(psutil.virtual_memory().total)
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return total
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "memory":  # v1 (hybrid hosts, the 2018 supervisor's)
                limit = self._read(f"memory/{path.lstrip('/')}/memory.limit_in_bytes")
            elif controllers == "":  # v2 (the unified hierarchy)
                limit = self._read(f"{path.lstrip('/')}/memory.max")
            else:
                continue
            if limit is not None:
                return min(limit, total)
        return total

    def _read(self, relative: str) -> int | None:
        """A number in a file under the cgroup root; None when absent or "max"."""
        try:
            text = (self._cgroup_root / relative).read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None
