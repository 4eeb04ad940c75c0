"""Devices as libudev lists them, read straight from sysfs and udev's database (under --root).

What pyudev's Context.list_devices(subsystem=...) gave tag 138's supervisor: each device of
/sys/class/<subsystem> (and /sys/bus/<subsystem>/devices), its node from the uevent's DEVNAME,
and its properties: the uevent's KEY=VALUE lines and the `E:` lines of /run/udev/data/<id>, where
<id> is c<major>:<minor> (b... for block devices) or +<subsystem>:<name> for devices without a
number. No libudev needed: these files are its whole database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handlers.host.hostfs import HostFS


@dataclass(frozen=True)
class UdevDevice:
    """One device: its sysfs name, /dev node (None without one) and properties."""

    sys_name: str
    device_node: str | None
    properties: dict[str, str] = field(default_factory=dict)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


class Udev:
    """list_devices(subsystem) over the files under --root."""

    def __init__(self, hostfs: HostFS) -> None:
        self._fs = hostfs

    def list_devices(self, subsystem: str) -> list[UdevDevice]:
        """The subsystem's devices, by sysfs name."""
        found: dict[str, Path] = {}
        for folder in (f"/sys/class/{subsystem}", f"/sys/bus/{subsystem}/devices"):
            base = self._fs.path(folder)
            if base.is_dir():
                for entry in sorted(base.iterdir()):
                    found.setdefault(entry.name, entry)
        return [self._device(subsystem, name, path) for name, path in sorted(found.items())]

    def _device(self, subsystem: str, name: str, path: Path) -> UdevDevice:
        properties: dict[str, str] = {}
        for line in _lines(path / "uevent"):
            key, sep, value = line.partition("=")
            if sep:
                properties[key] = value
        major, minor = properties.get("MAJOR"), properties.get("MINOR")
        kind = "b" if subsystem == "block" else "c"
        db_id = f"{kind}{major}:{minor}" if major and minor else f"+{subsystem}:{name}"
        for line in _lines(self._fs.path(f"/run/udev/data/{db_id}")):
            if line.startswith("E:"):
                key, sep, value = line[2:].partition("=")
                if sep:
                    properties[key] = value
        devname = properties.get("DEVNAME")
        node = None if not devname else devname if devname.startswith("/") else f"/dev/{devname}"
        return UdevDevice(name, node, properties)
