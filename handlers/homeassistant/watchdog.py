"""Home Assistant kept running as tag 138 kept it: started when the supervisor starts if `boot` is
set (core.py start), its container checked every 15 s and restarted when it stopped, its API asked
every 300 s and the container restarted after two misses in a row (tasks.py's watchdogs), both
only with `watchdog` set and not while an update or start is in progress or after a failed start.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from handlers.errors import PolyvisorError
from handlers.homeassistant.haapi import HomeAssistantAPIError

log = logging.getLogger("polyvisor.hassio.core")

DOCKER_EVERY = 15.0  # RUN_WATCHDOG_HOMEASSISTANT_DOCKER
API_EVERY = 300.0  # RUN_WATCHDOG_HOMEASSISTANT_API


class Watchdog:
    """One thread: the boot start, then both watchdogs."""

    def __init__(self, core: Any) -> None:  # a handlers.homeassistant.core.Core (which makes this one)
        self.core = core
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._api_misses = 0
        self.addons: Any = None  # hassio part 2's Addons: loaded and booted by stage in boot()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hassio-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        self.boot()
        next_api = time.monotonic() + API_EVERY
        while not self._stop.wait(DOCKER_EVERY):
            self.check_container()
            if time.monotonic() >= next_api:
                next_api = time.monotonic() + API_EVERY
                self.check_api()

    def boot(self) -> None:
        """The add-ons' boot stages around Home Assistant's start as 138's core.start ran them
        (initialize, system, services, Home Assistant, application); Home Assistant started when
        `boot` is set and its image is installed (138 installed the landing page first on a new
        device; here nothing is pulled unasked)."""
        core = self.core
        self._addons_boot("initialize", "system", "services")
        try:
            if core.settings()["boot"] and core.container.has_image(core.image):
                core.start()
        except PolyvisorError as err:
            log.warning("Home Assistant did not start at boot: %s", err)
        self._addons_boot("application")

    def _addons_boot(self, *stages: str) -> None:
        if self.addons is None:
            return
        try:  # the installed add-ons' entries: the store itself is read on first use
            for stage in stages:
                if self._stop.is_set():
                    return
                self.addons.boot(stage)
        except Exception:  # the add-ons must not keep Home Assistant from starting
            log.exception("add-ons did not boot")

    def _watched(self) -> bool:
        core = self.core
        return bool(core.settings()["watchdog"]) and not core.error_state and not core.in_progress() \
            and core.container.exists()

    def check_container(self) -> None:
        """A container that stopped is started again."""
        core = self.core
        try:
            if not self._watched() or core.container.is_running(core.image):
                return
            log.warning("Watchdog found a problem with Home Assistant Docker!")
            core.start()
        except PolyvisorError as err:
            log.error("watchdog: %s", err)

    def check_api(self) -> None:
        """Two misses in a row restart Home Assistant."""
        core = self.core
        try:
            if not self._watched():
                return
            try:
                up = core.api.request("GET", "api/", timeout=30)[0] in (200, 201)
            except HomeAssistantAPIError:
                up = False
            if up:
                self._api_misses = 0  # 138 kept counting across answers; a miss days later is a first one
                return
            self._api_misses += 1
            if self._api_misses == 1:
                log.warning("Watchdog miss API response from Home Assistant")
                return
            log.error("Watchdog found a problem with Home Assistant API!")
            self._api_misses = 0
            core.restart()
        except PolyvisorError as err:
            log.error("watchdog: %s", err)
