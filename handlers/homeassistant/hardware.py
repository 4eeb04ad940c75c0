"""GET /hardware/info's lists as tag 138 made them (hassio/misc/hardware.py), from udev's files,
/sys/class/gpio and /proc/asound under --root. 138 built them as sets (order unspecified); they
come sorted here.
"""

from __future__ import annotations

import re
from typing import Any

from handlers.hardware.asound import Asound
from handlers.hardware.udev import Udev
from handlers.host.hostfs import HostFS

RE_TTY = re.compile(r"tty[A-Z]+")


class HassioHardware:
    """serial, input, disk, gpio and audio."""

    def __init__(self, hostfs: HostFS, machine: str | None = None) -> None:
        self._fs = hostfs
        self.udev = Udev(hostfs)
        self.asound = Asound(hostfs, machine)

    def serial_devices(self) -> list[str]:
        """tty nodes of devices udev knows a vendor of, or named tty<CAPITALS> (ttyAMA0, ttyUSB0)."""
        return sorted({d.device_node for d in self.udev.list_devices("tty")
                       if d.device_node and ("ID_VENDOR" in d.properties or RE_TTY.search(d.device_node))})

    def input_devices(self) -> list[str]:
        """The input devices' NAME, quotes removed."""
        return sorted({d.properties["NAME"].replace('"', "") for d in self.udev.list_devices("input")
                       if "NAME" in d.properties})

    def disk_devices(self) -> list[str]:
        """Block nodes under /dev/sd."""
        return sorted({d.device_node for d in self.udev.list_devices("block")
                       if d.device_node and d.device_node.startswith("/dev/sd")})

    def gpio_devices(self) -> list[str]:
        """Names matching gpio* in /sys/class/gpio (gpiochip0, gpio17)."""
        base = self._fs.path("/sys/class/gpio")
        return sorted(p.name for p in base.glob("gpio*")) if base.is_dir() else []

    def info(self) -> dict[str, Any]:
        """GET /hardware/info."""
        return {"serial": self.serial_devices(), "input": self.input_devices(), "disk": self.disk_devices(),
                "gpio": self.gpio_devices(), "audio": self.asound.cards()}
