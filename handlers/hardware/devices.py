"""Attached hardware from sysfs (PCI and USB buses) and connected displays (DRM connectors)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from handlers.host.hostfs import HostFS

# PCI base classes (the first byte of `class`), for devices pci.ids does not name.
PCI_CLASSES = {
    0x00: "Unclassified device", 0x01: "Mass storage controller", 0x02: "Network controller",
    0x03: "Display controller", 0x04: "Multimedia controller", 0x05: "Memory controller",
    0x06: "Bridge", 0x07: "Communication controller", 0x08: "Generic system peripheral",
    0x09: "Input device controller", 0x0A: "Docking station", 0x0B: "Processor",
    0x0C: "Serial bus controller", 0x0D: "Wireless controller", 0x0E: "Intelligent controller",
    0x0F: "Satellite communications controller", 0x10: "Encryption controller",
    0x11: "Signal processing controller", 0x12: "Processing accelerators",
}
IDS_FILES = {"pci": ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"),
             "usb": ("/usr/share/misc/usb.ids", "/var/lib/usbutils/usb.ids", "/usr/share/hwdata/usb.ids")}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _hex(value: str, width: int = 4) -> str:
    return value.lower().removeprefix("0x").upper().zfill(width)[-width:] if value else ""


class Devices:
    """GET /platform/api/devmgr and host/display/count."""

    def __init__(self, hostfs: HostFS) -> None:
        self._fs = hostfs
        self._names: dict[str, dict[tuple[str, str], str]] = {}
        self._lock = threading.Lock()

    def _ids(self, bus: str) -> dict[tuple[str, str], str]:
        """(vendor, device) -> name from the hwdata id database under --root ("" keys: vendors)."""
        with self._lock:
            if bus in self._names:
                return self._names[bus]
            names: dict[tuple[str, str], str] = {}
            for candidate in IDS_FILES[bus]:
                text = self._fs.read_text(candidate)
                if text is None:
                    continue
                vendor = ""
                for line in text.splitlines():
                    if not line or line.startswith(("#", "C ")):
                        if line.startswith("C "):
                            break  # the class section follows the vendors
                        continue
                    if not line.startswith("\t"):
                        vendor = line[:4].upper()
                        names[(vendor, "")] = line[4:].strip()
                    elif not line.startswith("\t\t") and vendor:
                        names[(vendor, line[1:5].upper())] = line[5:].strip()
                break
            self._names[bus] = names
            return names

    def list(self) -> list[dict[str, Any]]:
        """PCI then USB devices: class, instancePath (sysfs path), name, vendorID, deviceID, status."""
        found: list[dict[str, Any]] = []
        pci = self._fs.path("/sys/bus/pci/devices")
        for dev in sorted(pci.iterdir()) if pci.is_dir() else []:
            vendor, device = _hex(_read(dev / "vendor")), _hex(_read(dev / "device"))
            cls = _read(dev / "class")
            name = self._ids("pci").get((vendor, device))
            if not name:
                base = int(cls, 16) >> 16 if cls.startswith("0x") else -1
                name = PCI_CLASSES.get(base, "PCI device")
            found.append(self._entry("PCI", dev, name, vendor, device))
        usb = self._fs.path("/sys/bus/usb/devices")
        for dev in sorted(usb.iterdir()) if usb.is_dir() else []:
            if ":" in dev.name or not (dev / "idVendor").exists():
                continue  # interfaces, not devices
            vendor, device = _hex(_read(dev / "idVendor")), _hex(_read(dev / "idProduct"))
            name = _read(dev / "product") or self._ids("usb").get((vendor, device)) or "USB device"
            found.append(self._entry("USB", dev, name, vendor, device))
        return found

    def _entry(self, cls: str, dev: Path, name: str, vendor: str, device: str) -> dict[str, Any]:
        host_path = "/" + str(dev.relative_to(self._fs.root)).lstrip("/")
        return {"class": cls, "instancePath": host_path, "name": name, "vendorID": vendor,
                "deviceID": device, "status": "running" if (dev / "driver").exists() else "stopped"}

    def display_count(self) -> int:
        """DRM connectors whose status is `connected`."""
        drm = self._fs.path("/sys/class/drm")
        if not drm.is_dir():
            return 0
        return sum(1 for c in drm.glob("card*-*") if _read(c / "status") == "connected")
