"""Reboot and power off through logind, answered first (POST /platform/api/control/*)."""

from __future__ import annotations

import logging
import threading

from handlers.errors import NotSupported
from handlers.host.bus import LOGIND, Bus

log = logging.getLogger("polyvisor.control")

METHODS = {"reboot": ("Reboot", "CanReboot"), "shutdown": ("PowerOff", "CanPowerOff")}


class Control:
    """Asks logind whether it may, then calls it `delay` seconds later (after the answer)."""

    def __init__(self, bus: Bus, delay: float = 1.0) -> None:
        self._bus = bus
        self.delay = delay

    def request(self, action: str) -> None:
        """BusUnavailable when logind does not answer, NotSupported when it says it cannot."""
        method, can = METHODS[action]
        (answer,) = self._bus.call(LOGIND, can)
        if answer not in ("yes", "challenge"):
            raise NotSupported(f"logind {can}: {answer}")
        log.info("%s requested through the platform API", action)
        timer = threading.Timer(self.delay, self._call, args=(method,))
        timer.daemon = True
        timer.start()

    def _call(self, method: str) -> None:
        try:
            self._bus.call(LOGIND, method, "b", (False,))
        except Exception as err:  # noqa: BLE001 - the client has its answer already: log it
            log.error("logind %s failed: %s", method, err)
