"""The hardware watchdog (/dev/watchdogN ioctls, /sys/class/watchdog) behind /platform/api/perif/wdt.

Enabling opens the device (which arms it), sets the timeout and pings it from a thread at
a third of the timeout; disabling sends the magic close ('V') and WDIOS_DISABLECARD. The
device is a backend object so tests substitute one: a real watchdog is never armed in tests.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from handlers.errors import InvalidInput, NotSupported, PolyvisorError
from handlers.host.hostfs import HostFS

log = logging.getLogger("polyvisor.watchdog")

# linux/watchdog.h: _IOR('W', n, int) = 0x80045700 | n, _IOWR('W', 6, int) = 0xC0045706
WDIOC_SETOPTIONS = 0x80045704
WDIOC_KEEPALIVE = 0x80045705
WDIOC_SETTIMEOUT = 0xC0045706
WDIOS_DISABLECARD = 0x0001


@dataclass(frozen=True)
class WatchdogInfo:
    """What the device says about itself."""

    identity: str
    timeout: int
    min_timeout: int
    max_timeout: int
    active: bool


class WatchdogDevice(Protocol):
    """The device operations the Watchdog needs."""

    def info(self) -> WatchdogInfo: ...

    def start(self, timeout: int) -> int: ...

    def keepalive(self) -> None: ...

    def set_timeout(self, timeout: int) -> int: ...

    def stop(self) -> None: ...


class LinuxWatchdog:
    """A /dev/watchdogN and its /sys/class/watchdog/watchdogN attributes."""

    def __init__(self, hostfs: HostFS, device: str) -> None:
        self.device = hostfs.path(device)
        self.sysfs = hostfs.path(f"/sys/class/watchdog/{Path(device).name}")
        self._fd: int | None = None

    def _attr(self, name: str, default: str | None = None) -> str:
        try:
            return (self.sysfs / name).read_text().strip()
        except OSError:
            if default is None:
                raise NotSupported(f"no watchdog at {self.sysfs}") from None
            return default

    def info(self) -> WatchdogInfo:
        if not self.sysfs.is_dir():
            raise NotSupported("no hardware watchdog")
        return WatchdogInfo(self._attr("identity", "Watchdog"), int(self._attr("timeout", "60")),
                            int(self._attr("min_timeout", "1")), int(self._attr("max_timeout", "65535")),
                            self._fd is not None or self._attr("state", "inactive") == "active")

    def _ioctl(self, request: int, value: int) -> int:
        if self._fd is None:
            raise PolyvisorError("the watchdog is not open")
        out = fcntl.ioctl(self._fd, request, struct.pack("i", value))
        return int(struct.unpack("i", out)[0])

    def start(self, timeout: int) -> int:
        try:
            self._fd = os.open(self.device, os.O_WRONLY | os.O_CLOEXEC)  # opening arms it
        except OSError as err:
            raise PolyvisorError(f"{self.device}: {err.strerror}") from err
        return self.set_timeout(timeout)

    def keepalive(self) -> None:
        self._ioctl(WDIOC_KEEPALIVE, 0)

    def set_timeout(self, timeout: int) -> int:
        return self._ioctl(WDIOC_SETTIMEOUT, timeout)

    def stop(self) -> None:
        if self._fd is None:
            return
        try:
            self._ioctl(WDIOC_SETOPTIONS, WDIOS_DISABLECARD)
        except OSError:
            pass  # not every driver can; the magic close below is the standard way
        os.write(self._fd, b"V")
        os.close(self._fd)
        self._fd = None


class Watchdog:
    """Enable, disable and time the watchdog; a thread keeps it fed while enabled."""

    def __init__(self, device: WatchdogDevice) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._enabled = False
        self._timeout: int | None = None
        self._stop = threading.Event()
        self._feeder: threading.Thread | None = None

    def info(self) -> dict[str, Any]:
        """GET /perif/wdt."""
        info = self.device.info()
        with self._lock:
            return {"enabled": self._enabled or info.active, "type": info.identity,
                    "timeoutInSeconds": self._timeout or info.timeout,
                    "timeoutMaxInSeconds": info.max_timeout, "timeoutMinInSeconds": info.min_timeout}

    def _check(self, seconds: int, info: WatchdogInfo) -> None:
        if not info.min_timeout <= seconds <= info.max_timeout:
            raise InvalidInput(f"seconds {seconds} is out of range [{info.min_timeout}, {info.max_timeout}]")

    def configure(self, enabled: bool, seconds: int | None) -> dict[str, Any]:
        """PUT /perif/wdt: {"enabled", "seconds"} as applied."""
        info = self.device.info()
        if seconds is not None:
            self._check(seconds, info)
        with self._lock:
            timeout = seconds or self._timeout or info.timeout
            if enabled and not self._enabled:
                self._timeout = self.device.start(timeout) or timeout
                self._enabled = True
                self._stop.clear()
                self._feeder = threading.Thread(target=self._feed, name="watchdog", daemon=True)
                self._feeder.start()
            elif enabled:
                self._timeout = self.device.set_timeout(timeout) or timeout
            else:
                self._disable()
                self._timeout = timeout
            return {"enabled": self._enabled, "seconds": self._timeout}

    def set_timeout(self, seconds: int) -> dict[str, Any]:
        """PUT /perif/wdt/timeout: applied now when enabled, at the next enable otherwise."""
        self._check(seconds, self.device.info())
        with self._lock:
            self._timeout = self.device.set_timeout(seconds) or seconds if self._enabled else seconds
            return {"seconds": self._timeout}

    def _disable(self) -> None:
        if self._enabled:
            self._stop.set()
            self.device.stop()
            self._enabled = False

    def _feed(self) -> None:
        while not self._stop.wait(max((self._timeout or 3) / 3.0, 0.2)):
            try:
                self.device.keepalive()
            except Exception as err:  # noqa: BLE001 - keep feeding whatever one ping did
                log.error("watchdog keep-alive failed: %s", err)

    def close(self) -> None:
        """Disarm on agent stop (magic close), so a clean stop never reboots the machine."""
        with self._lock:
            self._disable()
