"""Reboot and power off the host through logind, after stopping the apps under their locks."""

from __future__ import annotations

import logging
import threading

from handlers.engine.actions import Actions
from handlers.errors import BusUnavailable
from handlers.host.bus import LOGIND, Bus

log = logging.getLogger("polyvisor.power")

METHODS = {"reboot": "Reboot", "shutdown": "PowerOff"}


class Power:
    """POST /v1/reboot and /v1/shutdown: apps stopped first, logind called a second after the answer."""

    def __init__(self, bus: Bus, actions: Actions, delay: float = 1.0) -> None:
        self._bus = bus
        self._actions = actions
        self.delay = delay

    def request(self, action: str, force: bool = False) -> None:
        """Stop the apps (UpdatesLocked when one holds its lock), then schedule the logind call."""
        if action not in METHODS:  # before any app is stopped
            raise KeyError(action)
        self._actions.stop_all(force)
        self.schedule(action)

    def schedule(self, action: str) -> None:
        """Call logind's Reboot or PowerOff(false) `delay` seconds from now; the apps are left alone
        (the resin Go helper's part: node had stopped them before calling it)."""
        method = METHODS[action]
        log.info("%s", "Rebooting" if action == "reboot" else "Shutting down")
        timer = threading.Timer(self.delay, self._call, args=(method,))
        timer.daemon = True
        timer.start()

    def logind_reachable(self) -> bool:
        """Whether logind answers on the system bus now."""
        try:
            self._bus.ping(LOGIND[0], LOGIND[1])
        except BusUnavailable as err:
            log.warning("logind unreachable: %s", err)
            return False
        return True

    def _call(self, method: str) -> None:
        try:
            self._bus.call(LOGIND, method, "b", (False,))
        except Exception as err:  # after the answer nobody can be told (legacy); log it
            log.error("logind %s failed: %s", method, err)
