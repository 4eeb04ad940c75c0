"""Disks from /sys/block, their mounted partitions and S.M.A.R.T. attributes (`smartctl -j`)."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handlers.errors import NotSupported
from handlers.host.hostfs import HostFS

Runner = Callable[[list[str]], str | None]
SMART_TTL = 60.0


def smartctl(argv: list[str]) -> str | None:
    """`smartctl ARGV` stdout (its exit code is a bit mask, so any JSON output counts); None when absent."""
    if shutil.which("smartctl") is None:
        return None
    try:
        done = subprocess.run(["smartctl", *argv], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout or None


def smart_attributes(report: dict[str, Any]) -> list[dict[str, Any]] | None:
    """smartctl's ata_smart_attributes.table as the page's smartAttributes (rawData: 6 LE bytes)."""
    table = (report.get("ata_smart_attributes") or {}).get("table")
    if not isinstance(table, list):
        return None
    found = []
    for row in table:
        raw = int((row.get("raw") or {}).get("value", 0)) & 0xFFFFFFFFFFFF
        found.append({"id": row.get("id", 0), "name": row.get("name", ""),
                      "statusFlags": (row.get("flags") or {}).get("value", 0), "value": row.get("value", 0),
                      "worst": row.get("worst", 0), "threshold": row.get("thresh", 0),
                      "rawData": list(raw.to_bytes(6, "little"))})
    return found


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return default


class Disks:
    """GET /platform/api/perif/disk and /perif/disk/partition."""

    def __init__(self, hostfs: HostFS, runner: Runner = smartctl) -> None:
        self._fs = hostfs
        self._run = runner
        self._smart_cache: dict[str, tuple[float, Any]] = {}

    def _mounts(self) -> list[tuple[str, str, bool]]:
        text = self._fs.read_text("/proc/self/mounts") or self._fs.read_text("/proc/mounts")
        if text is None:
            text = Path("/proc/self/mounts").read_text()
        mounts, seen = [], set()
        for line in text.splitlines():
            fields = line.split()
            # one entry per block device: its first mount (bind mounts of it are the same volume)
            if len(fields) >= 4 and fields[0].startswith("/dev/") and fields[0] not in seen:
                seen.add(fields[0])
                point = fields[1].replace("\\040", " ")
                mounts.append((fields[0], point, "ro" in fields[3].split(",")))
        return mounts

    def _partition(self, point: str, read_only: bool) -> dict[str, Any] | None:
        try:
            st = os.statvfs(self._fs.path(point))
        except OSError:
            return None
        size, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        percent = used / (used + free) * 100.0 if used + free else 0.0
        return {"mountPoint": point, "sizeBytes": size, "freeBytes": free, "usedBytes": used,
                "usedPercent": percent, "readOnly": read_only}

    def list(self) -> list[dict[str, Any]]:
        """Physical disks (those with a device behind them), partitions and SMART when known."""
        base = self._fs.path("/sys/block")
        disks = sorted(p for p in base.iterdir() if (p / "device").exists()) if base.is_dir() else []
        if not disks:
            raise NotSupported("no disk")
        mounts = self._mounts()
        found = []
        for disk in disks:
            parts = {disk.name} | {p.name for p in disk.iterdir() if (p / "partition").exists()}
            partitions = []
            for device, point, read_only in mounts:
                if device.removeprefix("/dev/") in parts:
                    entry = self._partition(point, read_only)
                    if entry is not None:
                        partitions.append(entry)
            rotational = _read(disk / "queue/rotational", "0") == "1"
            removable = _read(disk / "removable", "0") == "1"
            item: dict[str, Any] = {
                "name": f"/dev/{disk.name}",
                "sizeBytes": int(_read(disk / "size", "0") or 0) * 512,
                "physicalBlockSizeBytes": int(_read(disk / "queue/physical_block_size", "0") or 0),
                "removable": removable,
                "vendor": _read(disk / "device/vendor"),
                "model": _read(disk / "device/model"),
                "serialNumber": _read(disk / "device/serial") or _read(disk / "serial"),
                "firmwareRevision": _read(disk / "device/rev") or _read(disk / "device/firmware_rev"),
                "mediaType": "Removable media" if removable else
                ("Fixed hard disk media" if rotational else "Fixed solid state media"),
                "partitions": partitions,
            }
            smart = self._smart(f"/dev/{disk.name}")
            if smart is not None:
                item["smartAttributes"] = smart
            found.append(item)
        return found

    def _smart(self, device: str) -> builtins.list[dict[str, Any]] | None:
        """SMART attributes, re-read at most every SMART_TTL seconds (smartctl wakes the disk)."""
        cached = self._smart_cache.get(device)
        if cached is not None and time.monotonic() - cached[0] < SMART_TTL:
            return cached[1]
        found = self._read_smart(device)
        self._smart_cache[device] = (time.monotonic(), found)
        return found

    def _read_smart(self, device: str) -> builtins.list[dict[str, Any]] | None:
        out = self._run(["-j", "-i", "-A", device])
        if not out:
            return None
        try:
            return smart_attributes(json.loads(out))
        except ValueError:
            return None

    def partitions(self) -> builtins.list[dict[str, Any]]:
        """Every mounted partition of every disk."""
        return [p for disk in self.list() for p in disk["partitions"]]
