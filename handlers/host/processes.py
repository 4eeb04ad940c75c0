"""Running processes (psutil, imported on first use) with the rest-server's fields, and kill."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from handlers.errors import InvalidInput, NotFound, PolyvisorError

PID_MAX = 2 ** 31 - 1  # pid_t


class KillRefused(PolyvisorError):
    """The process may not be killed (the init process, or the agent itself)."""


class Processes:
    """GET /platform/api/processes and DELETE /platform/api/processes/:pid."""

    def list(self) -> list[dict[str, Any]]:
        """One entry per process, keys as the page shows them (empty values left out)."""
        import psutil

        now = time.time()
        found = []
        attrs = ["pid", "ppid", "name", "num_threads", "memory_info", "cpu_times", "username",
                 "create_time", "exe", "cmdline"]
        for proc in psutil.process_iter(attrs, ad_value=None):
            info = proc.info
            entry: dict[str, Any] = {"pid": info["pid"]}
            if info.get("ppid"):
                entry["ppid"] = info["ppid"]
            entry["name"] = info.get("name") or ""
            if info.get("num_threads"):
                entry["numThreads"] = info["num_threads"]
            memory = info.get("memory_info")
            entry["memUsage"] = memory.rss if memory is not None else 0
            created = info.get("create_time") or now
            times = info.get("cpu_times")
            busy = (times.user + times.system) if times is not None else 0.0
            # gopsutil's Process.CPUPercent: CPU time over the whole life of the process
            entry["cpuPercent"] = 100.0 * busy / max(now - created, 1e-3)
            if info.get("username"):
                entry["username"] = info["username"]
            entry["elapsedTime"] = int(max(now - created, 0))
            if info.get("exe"):
                entry["path"] = info["exe"]
            if info.get("cmdline"):
                entry["cmdline"] = " ".join(info["cmdline"])
            found.append(entry)
        return found

    def kill(self, pid: int) -> None:
        """SIGKILL the process; NotFound when there is none, KillRefused for 1 and ourselves."""
        if pid <= 1 or pid == os.getpid():
            raise KillRefused(f"process {pid} may not be killed")
        if pid > PID_MAX:  # no process has it (os.kill would refuse the number itself)
            raise NotFound(f"process {pid} not found")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError as err:
            raise NotFound(f"process {pid} not found") from err
        except PermissionError as err:
            raise InvalidInput(f"process {pid}: operation not permitted") from err
