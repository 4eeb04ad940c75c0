"""The domain objects behind the platform API (/auth, /platform/api), wired from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.accounts.logins import Auth
from handlers.accounts.os_accounts import make_verifier
from handlers.docker import Engine
from handlers.errors import NotSupported
from handlers.hardware.backlight import Backlight
from handlers.hardware.devices import Devices
from handlers.hardware.disks import Disks
from handlers.hardware.gpio import Gpio
from handlers.hardware.leds import Leds
from handlers.hardware.screens import Screens
from handlers.hardware.sensors import Sensors
from handlers.hardware.watchdog import LinuxWatchdog, Watchdog
from handlers.host.bus import Bus
from handlers.host.control import Control
from handlers.host.dhcp import Dhcp
from handlers.host.hostfs import HostFS
from handlers.host.netconfig import Netconfig
from handlers.host.netwatch import NetWatch
from handlers.host.processes import Processes
from handlers.host.sysinfo import SysInfo
from handlers.host.units import Units
from handlers.host.wifi import Wifi
from handlers.store import Store


@dataclass
class Platform:
    """Everything compat/platform*.py calls into; built once, nothing opened at build time."""

    auth: Auth
    sysinfo: SysInfo
    processes: Processes
    units: Units
    control: Control
    devices: Devices
    sensors: Sensors
    leds: Leds
    watchdog: Watchdog
    gpio: Gpio
    backlight: Backlight
    screens: Screens
    disks: Disks
    netconfig: Netconfig
    wifi: Wifi
    sse_interval: float = 2.0  # seconds between two SSE frames of one source
    snapshots: Any = None  # compat's shared SSE readings, made on first stream

    @classmethod
    def build(cls, settings: Any, store: Store, hostfs: HostFS, bus: Bus, engine: Engine,
              netwatch: NetWatch | None = None) -> Platform:
        """Wire the platform's domain objects from settings."""
        verifier = make_verifier(getattr(settings, "os_accounts", "pam"),
                                 getattr(settings, "pam_service", "login"))
        auth = Auth(store, Path(settings.data_dir), verifier, getattr(settings, "admin_group", "sudo"),
                    int(getattr(settings, "jwt_lifetime", 3600)))
        device = getattr(settings, "watchdog_device", None) or "/dev/watchdog0"
        return cls(
            auth=auth, sysinfo=SysInfo(hostfs, engine), processes=Processes(), units=Units(bus),
            control=Control(bus), devices=Devices(hostfs), sensors=Sensors(hostfs), leds=Leds(hostfs),
            watchdog=Watchdog(LinuxWatchdog(hostfs, device)), gpio=Gpio(hostfs), backlight=Backlight(hostfs),
            screens=Screens(), disks=Disks(hostfs), netconfig=Netconfig(hostfs, dhcp=Dhcp(bus), watch=netwatch), wifi=Wifi(bus),
        )

    def power_status(self) -> dict[str, int]:
        """Redundant power inputs: Linux has no generic source (vendor EC/SUSI only)."""
        raise NotSupported("redundant power status is not available on this machine")

    def close(self) -> None:
        """Disarm the watchdog if the API armed it (a clean stop must not reboot the machine)."""
        self.watchdog.close()
        self.netconfig.close()
