"""Home Assistant core, as tag 138's hassio/homeassistant.py kept it: its settings in the store
(image, last_version, boot, port, ssl, watchdog, wait_boot, password, refresh_token), and start,
stop, restart, update with rollback, config check, logs and stats of its container.

Blocking: the API calls these off the event loop. One lock serialises start/stop/update as 138's
process_lock did.
"""

from __future__ import annotations

import json
import logging
import platform
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handlers.docker import Engine
from handlers.errors import PolyvisorError
from handlers.homeassistant.container import LABEL_MACHINE, LABEL_VERSION, Container, RunOptions, Stats
from handlers.homeassistant.haapi import HomeAssistantAPI, Target
from handlers.homeassistant.watchdog import Watchdog
from handlers.store import Store

log = logging.getLogger("polyvisor.hassio.core")

STORE_KEY = "hassio_homeassistant"
# SCHEMA_HASS_CONFIG's defaults
DEFAULTS: dict[str, Any] = {"boot": True, "port": 8123, "ssl": False, "watchdog": True, "wait_boot": 600}
SETTINGS = ("image", "last_version", "boot", "port", "password", "ssl", "watchdog", "wait_boot", "refresh_token")
RE_YAML_ERROR = re.compile(r"homeassistant\.util\.yaml")
RE_COLORS = re.compile(r"\x1b(\[.*?[@-~]|\].*?(\x07|\x1b\\))")  # convert_to_ascii's
# hassio's machine names for a machine without a device type (its qemu builds)
QEMU_MACHINES = {"x86_64": "qemux86-64", "amd64": "qemux86-64", "aarch64": "qemuarm-64", "arm64": "qemuarm-64",
                 "armv7l": "qemuarm", "armv6l": "qemuarm", "i686": "qemux86", "i386": "qemux86"}
POLL = 0.5  # seconds between start-up checks (138 slept 10 s)


class HomeAssistantError(PolyvisorError):
    """Home Assistant did not start, update or check (the API's "Unknown Error, see logs")."""


def default_machine(device_type: str | None) -> str:
    """The machine in the default image name: the device type's slug, else hassio's qemu build."""
    if device_type:
        return device_type.partition(":")[0]
    return QEMU_MACHINES.get(platform.machine(), "qemux86-64")


def run_options(settings: Any) -> RunOptions:
    """The container's run options from the agent's settings: --hassio-data FOLDER[,privileged=false]
    (default <data-dir>/hassio) and HASSIO = where the hassio dialect listens, seen from the host's
    network (an any-address or a unix socket: 127.0.0.1)."""
    folder, _, flags = (getattr(settings, "hassio_data", None) or "").partition(",")
    privileged = "privileged=false" not in flags.replace(" ", "").lower().split(",")
    data_folder = Path(folder) if folder else Path(settings.data_dir) / "hassio"
    listen = dict(getattr(settings, "dialect_listen", {}) or {}).get("hassio", getattr(settings, "listen", ""))
    host, _, port = str(listen).rpartition(":")
    if str(listen).startswith("unix:") or not port.isdigit():
        supervisor = "127.0.0.1"
    else:
        host = host.strip("[]")
        supervisor = f"{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{port}"
    return RunOptions(data_folder=data_folder, supervisor=supervisor, privileged=privileged)


class Core:
    """The homeassistant container and its settings."""

    def __init__(self, store: Store, engine: Engine, options: RunOptions, device_type: str | None,
                 token: Callable[[], str], timezone: Callable[[], str] = lambda: "UTC",
                 api_host: str = "127.0.0.1", latest: Callable[[], str | None] = lambda: None) -> None:
        self._store = store
        self.container = Container(engine)
        self.options = options
        self.machine = default_machine(device_type)
        self._token = token
        self._timezone = timezone
        self._latest = latest  # the channel's newest Home Assistant (the supervisor's version JSON)
        self.api_host = api_host  # the container shares the host's network (network_mode host)
        self.api = HomeAssistantAPI(self.target)
        self._lock = threading.RLock()
        self.error_state = False
        self.watchdog = Watchdog(self)  # started by the agent that serves hassio (app.main)

    def in_progress(self) -> bool:
        """A start, stop or update is running in another thread."""
        if self._lock.acquire(blocking=False):
            self._lock.release()
            return False
        return True

    # settings
    def settings(self) -> dict[str, Any]:
        """The stored settings over the defaults."""
        raw = self._store.get(STORE_KEY)
        return {**DEFAULTS, **(json.loads(raw) if raw else {})}

    def save(self, changes: dict[str, Any]) -> None:
        """Store changed settings; None for image/last_version removes them (138's setters)."""
        with self._lock:
            data = self.settings()
            for key, value in changes.items():
                if key in ("image", "last_version") and not value:
                    data.pop(key, None)
                else:
                    data[key] = value
            self._store.set(**{STORE_KEY: json.dumps(data)})

    @property
    def image(self) -> str:
        return str(self.settings().get("image") or f"homeassistant/{self.machine}-homeassistant")

    def is_custom(self) -> bool:
        data = self.settings()
        return "image" in data and "last_version" in data

    def version(self) -> str | None:
        """The io.hass.version label of the image, else the tag last installed."""
        return self.container.image_labels(self.image).get(LABEL_VERSION) or self.settings().get("installed")

    def last_version(self) -> str | None:
        """The custom image's last_version; else the channel's newest (the version JSON the
        supervisor fetched, as 138 read it), else the one installed."""
        data = self.settings()
        if self.is_custom():
            return str(data["last_version"])
        return self._latest() or self.version()

    def target(self) -> Target:
        data = self.settings()
        return Target(self.api_host, int(data["port"]), bool(data["ssl"]), data.get("password"),
                      data.get("refresh_token"))

    def info(self) -> dict[str, Any]:
        """GET /homeassistant/info's data."""
        data = self.settings()
        labels = self.container.image_labels(self.image)
        return {"version": labels.get(LABEL_VERSION) or data.get("installed"), "last_version": self.last_version(),
                "machine": labels.get(LABEL_MACHINE) or self.machine, "image": self.image,
                "custom": self.is_custom(), "boot": data["boot"], "port": data["port"], "ssl": data["ssl"],
                "watchdog": data["watchdog"], "wait_boot": data["wait_boot"]}

    # lifecycle
    def environment(self) -> dict[str, str]:
        options = self.options
        return {"HASSIO": options.supervisor, "TZ": self._timezone(), "HASSIO_TOKEN": self._token()}

    def _start(self) -> None:
        if self.container.is_running(self.image):
            log.warning("Home Assistant is already running")
            return
        if not self.container.run(self.image, self.options, self.environment()):
            raise HomeAssistantError("Home Assistant's container did not start")
        self._block_till_run()

    def _block_till_run(self) -> None:
        """Until the API answers, the container stops (crashed) or wait_boot seconds pass."""
        deadline = time.monotonic() + int(self.settings()["wait_boot"])
        while True:
            if not self.container.is_running(self.image):
                log.error("Home Assistant has crashed")
                break
            if self.api.answers():
                self.error_state = False
                return
            if time.monotonic() > deadline:
                log.warning("Home Assistant did not answer within wait_boot")
                break
            time.sleep(POLL)
        self.error_state = True
        raise HomeAssistantError("Home Assistant did not come up")

    def start(self) -> None:
        """Run the container and wait for its API."""
        with self._lock:
            self._start()

    def stop(self) -> bool:
        """Stop and remove the container; False when there was none (400 with message null in 138)."""
        with self._lock:
            return self.container.stop()

    def restart(self) -> None:
        with self._lock:
            self.container.stop()
            self._start()

    def update(self, version: str | None) -> None:
        """Install `version` (default last_version) and restart if it ran; when the new one does not
        come up, the version that ran before comes back (138's rollback)."""
        with self._lock:
            version = version or self.last_version()
            current = self.version()
            rollback = current if not self.error_state else None
            running = self.container.is_running(self.image)
            if not version or (version == current and self.container.has_image(f"{self.image}:{current}")):
                log.warning("version %s is already installed", version)
                return  # 138 returned the error object instead of raising it: 200 ok
            try:
                self._update(version, running)
                self.container.cleanup(self.image)
                return
            except HomeAssistantError:
                if not (self.error_state and rollback):
                    raise
            log.error("Home Assistant %s failed: rolling back to %s", version, rollback)
            self._update(rollback, running)  # 138 then answered ok: the old version runs again

    def _update(self, version: str, running: bool) -> None:
        try:
            if not self.container.install(self.image, version):
                raise HomeAssistantError(f"cannot install {self.image}:{version}")
            self.save({"installed": version})
            self.container.stop()
        finally:
            if running:
                self._start()

    def check(self) -> tuple[bool, str]:
        """The config check's verdict and output without terminal colours (138's convert_to_ascii)."""
        environment = {"TZ": self._timezone()}
        code, output = self.container.run_command(self.image, self.options, environment)
        if code is None:
            raise HomeAssistantError("the config check did not run")
        text = RE_COLORS.sub("", output.decode(errors="replace"))
        return code == 0 and not RE_YAML_ERROR.search(text), text

    def logs(self) -> bytes:
        return self.container.logs()

    def stats(self) -> Stats | None:
        return self.container.stats()
