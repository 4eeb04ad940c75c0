"""Host information, CPU and memory as gopsutil reports them (the rest-server's field names).

Readers use the host's files under --root (DMI, os-release, /proc/cpuinfo, /proc/meminfo),
falling back to the live /proc for the kernel's own files when the root has none.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

from handlers.docker import Engine
from handlers.errors import NotSupported
from handlers.host.hostfs import HostFS

# gopsutil VirtualMemoryStat JSON keys, in struct order, with their /proc/meminfo source
# (None: computed, or a BSD-only field gopsutil leaves 0 on Linux).
MEMORY_KEYS: tuple[tuple[str, str | None], ...] = (
    ("total", "MemTotal"), ("available", "MemAvailable"), ("used", None), ("usedPercent", None),
    ("free", "MemFree"), ("active", "Active"), ("inactive", "Inactive"), ("wired", None),
    ("laundry", None), ("buffers", "Buffers"), ("cached", "Cached"), ("writeBack", "Writeback"),
    ("dirty", "Dirty"), ("writeBackTmp", "WritebackTmp"), ("shared", "Shmem"), ("slab", "Slab"),
    ("sreclaimable", "SReclaimable"), ("sunreclaim", "SUnreclaim"), ("pageTables", "PageTables"),
    ("swapCached", "SwapCached"), ("commitLimit", "CommitLimit"), ("committedAS", "Committed_AS"),
    ("highTotal", "HighTotal"), ("highFree", "HighFree"), ("lowTotal", "LowTotal"),
    ("lowFree", "LowFree"), ("swapTotal", "SwapTotal"), ("swapFree", "SwapFree"),
    ("mapped", "Mapped"), ("vmallocTotal", "VmallocTotal"), ("vmallocUsed", "VmallocUsed"),
    ("vmallocChunk", "VmallocChunk"), ("hugePagesTotal", "HugePages_Total"),
    ("hugePagesFree", "HugePages_Free"), ("hugePagesRsvd", "HugePages_Rsvd"),
    ("hugePagesSurp", "HugePages_Surp"), ("hugePageSize", "Hugepagesize"),
)
DMI = "/sys/class/dmi/id"


class SysInfo:
    """host/info, systemperf/cpu and systemperf/memory."""

    def __init__(self, hostfs: HostFS, engine: Engine | None = None) -> None:
        self._fs = hostfs
        self._engine = engine
        self._cpu_lock = threading.Lock()
        self._primed = False

    def _proc(self, name: str) -> str:
        text = self._fs.read_text(f"/proc/{name}")
        if text is None:
            text = Path("/proc", name).read_text(encoding="utf-8", errors="replace")
        return text

    def _dmi(self, name: str) -> str | None:
        value = self._fs.read_text(f"{DMI}/{name}")
        return value.strip() if value is not None and value.strip() else None

    def boot_time(self) -> int:
        """Boot time (epoch seconds) from /proc/stat btime."""
        for line in self._proc("stat").splitlines():
            if line.startswith("btime "):
                return int(line.split()[1])
        raise NotSupported("no boot time")

    def host_info(self) -> dict[str, Any]:
        """The host/info document: only the keys this machine has a source for."""
        release = self._fs.os_release()
        boot = self.boot_time()
        info: dict[str, Any] = {}
        for key, source in (("biosSerialNumber", "product_serial"), ("biosUUID", "product_uuid"),
                            ("biosVersion", "bios_version")):
            value = self._dmi(source)
            if value is not None:
                info[key] = value
        info["bootTime"] = boot
        name = self._dmi("product_name") or self._dmi("board_name")
        if name is not None:
            info["deviceName"] = name
        docker = self.docker_version()
        if docker is not None:
            info["dockerVersion"] = docker
        machine_id = (self._fs.read_text("/etc/machine-id") or "").strip()
        hostid = self._dmi("product_uuid") or machine_id
        if hostid:
            info["hostid"] = _uuid_form(hostid)
        info["hostname"] = self._fs.hostname()
        info["kernelArch"] = platform.machine()
        info["os"] = "linux"
        info["platform"] = release.get("PRETTY_NAME") or release.get("NAME") or "Linux"
        date = self._dmi("bios_date")
        if date is not None:
            info["releaseDate"] = date
        info["upTime"] = max(0, int(time.time()) - boot)
        return info

    def docker_version(self) -> str | None:
        """`Docker version X, build Y` when the engine answers, else None."""
        if self._engine is None:
            return None
        try:
            version = self._engine.call(lambda c: c.version())
        except Exception:  # noqa: BLE001 - no engine, no docker version
            return None
        return f"Docker version {version.get('Version', '')}, build {version.get('GitCommit', '')}"

    def cpu_info(self) -> dict[str, Any]:
        """gopsutil's InfoStat of the first logical CPU (/proc/cpuinfo)."""
        block: dict[str, str] = {}
        for line in self._proc("cpuinfo").splitlines():
            if not line.strip():
                if block:
                    break
                continue
            key, _, value = line.partition(":")
            block[key.strip()] = value.strip()
        mhz = _number(block.get("cpu MHz", "0"))
        max_khz = self._fs.read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        if max_khz and max_khz.strip().isdigit():
            mhz = int(max_khz) / 1000.0
        return {
            "cpu": int(block.get("processor", "0") or 0),
            "vendorId": block.get("vendor_id", block.get("CPU implementer", "")),
            "family": block.get("cpu family", block.get("CPU architecture", "")),
            "model": block.get("model", block.get("CPU part", "")),
            "stepping": int(_number(block.get("stepping", block.get("CPU revision", "0")))),
            "physicalId": block.get("physical id", ""),
            "coreId": block.get("core id", ""),
            "cores": 1,  # gopsutil on Linux: one InfoStat per logical CPU, cores 1
            "modelName": block.get("model name", block.get("Processor", "")),
            "mhz": mhz,
            "cacheSize": int(_number(block.get("cache size", "0").split()[0] if block.get("cache size") else "0")),
            "flags": (block.get("flags") or block.get("Features") or "").split(),
            "microcode": block.get("microcode", ""),
        }

    def cpu_usage(self) -> list[float]:
        """Per logical CPU busy percent since the previous call (the first call measures 0.2 s)."""
        import psutil

        with self._cpu_lock:
            if not self._primed:
                self._primed = True
                return [float(v) for v in psutil.cpu_percent(interval=0.2, percpu=True)]
            return [float(v) for v in psutil.cpu_percent(interval=None, percpu=True)]

    def cpu(self) -> dict[str, Any]:
        """systemperf/cpu: {"info": ..., "usage": [...]}."""
        return {"info": self.cpu_info(), "usage": self.cpu_usage()}

    def memory(self) -> dict[str, Any]:
        """gopsutil's VirtualMemoryStat from /proc/meminfo (bytes; HugePages_* are counts)."""
        raw: dict[str, int] = {}
        for line in self._proc("meminfo").splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                raw[key.strip()] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
        if "MemTotal" not in raw:
            raise NotSupported("no memory information")
        stat: dict[str, Any] = {key: raw.get(source, 0) if source else 0 for key, source in MEMORY_KEYS}
        stat["cached"] += stat["sreclaimable"]  # gopsutil adds SReclaimable to Cached
        if "MemAvailable" not in raw:
            stat["available"] = stat["cached"] + stat["free"]
        stat["used"] = stat["total"] - stat["free"] - stat["buffers"] - stat["cached"]
        stat["usedPercent"] = stat["used"] / stat["total"] * 100.0 if stat["total"] else 0.0
        return stat

    def systemperf(self) -> dict[str, Any]:
        """{"cpu": cpu(), "memory": memory()}."""
        return {"cpu": self.cpu(), "memory": self.memory()}

    def cpu_count(self) -> int:
        """Logical CPUs."""
        return os.cpu_count() or 1


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _uuid_form(value: str) -> str:
    """A 32-hex machine id in the 8-4-4-4-12 form gopsutil's HostID shows; others unchanged."""
    v = value.strip().lower()
    if len(v) == 32 and all(c in "0123456789abcdef" for c in v):
        return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"
    return v
