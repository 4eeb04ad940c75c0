"""The supervisor itself in the hassio dialect's terms: its version, architecture, settings, the
versions its channel offers, its log and resource use, and the host facts /info summarises.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable

from handlers.errors import BusUnavailable
from handlers.homeassistant.process import LogRing, OwnProcess
from handlers.homeassistant.settings import Settings
from handlers.homeassistant.updater import Updater
from handlers.host.bus import HOSTNAMED, Bus
from handlers.host.hostfs import HostFS
from handlers.store import Store

log = logging.getLogger("polyvisor.hassio")

# The supervisor image's io.hass.arch label names, by the kernel's machine name.
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64",
          "armv7l": "armhf", "armv6l": "armhf", "armv8l": "armhf", "i386": "i386", "i686": "i386"}


class HassioSupervisor:
    """This agent as the Home Assistant supervisor."""

    def __init__(self, store: Store, hostfs: HostFS, bus: Bus, version: str, version_url: str | None,
                 machine: Callable[[], str | None] = lambda: None) -> None:
        self.version = version
        self.settings = Settings(store)
        self.updater = Updater(store, version_url, self.settings, machine)
        self.logs = LogRing()
        self.process = OwnProcess()
        self._hostfs = hostfs
        self._bus = bus

    @property
    def arch(self) -> str | None:
        """The architecture in the supervisor's names (amd64, i386, armhf, aarch64); None if unknown."""
        return ARCHES.get(platform.machine().lower())

    def hostname(self) -> str | None:
        """hostnamed's StaticHostname, else /etc/hostname under --root; None when both are empty
        (the legacy showed null for an empty property)."""
        try:
            name = str(self._bus.get_property(HOSTNAMED, "StaticHostname"))
        except BusUnavailable as err:
            log.debug("hostnamed: %s; reading /etc/hostname", err)
            name = self._hostfs.read_text("/etc/hostname") or ""
        return name.strip() or None
