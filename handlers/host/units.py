"""systemd services over D-Bus (org.freedesktop.systemd1): list, status, start/stop/restart."""

from __future__ import annotations

from typing import Any

from handlers.errors import BusUnavailable, NotFound
from handlers.host.bus import SYSTEMD, Bus

ACTIONS = {"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit"}
RUNNING = ("active", "reloading", "activating")
STOPPED = ("inactive", "failed", "deactivating")


def unit_name(name: str) -> str:
    """`ssh` -> `ssh.service` (a name with a unit suffix is kept)."""
    return name if "." in name else f"{name}.service"


def status_of(active: str, file_state: str) -> str:
    """The page's status: running, stopped, disabled or unknown."""
    if active in RUNNING:
        return "running"
    if file_state in ("disabled", "masked", "masked-runtime"):
        return "disabled"
    if active in STOPPED:
        return "stopped"
    return "unknown"


class Units:
    """GET /platform/api/service/list, GET and PUT /platform/api/service/:name."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def _files(self) -> dict[str, str]:
        try:
            (files,) = self._bus.call(SYSTEMD, "ListUnitFiles")
        except BusUnavailable as err:
            if "UnknownMethod" in str(err):
                return {}
            raise
        return {path.rsplit("/", 1)[-1]: state for path, state in files}

    def list(self) -> list[dict[str, Any]]:
        """Every service unit systemd knows, loaded or only installed."""
        (units,) = self._bus.call(SYSTEMD, "ListUnits")
        files = self._files()
        found: dict[str, dict[str, Any]] = {}
        for unit in units:
            name, description, _load, active = unit[0], unit[1], unit[2], unit[3]
            if not name.endswith(".service"):
                continue
            found[name] = {"name": name.removesuffix(".service"), "displayName": description or name,
                           "description": description, "status": status_of(active, files.get(name, ""))}
        for name, state in files.items():
            if name.endswith(".service") and name not in found and "@" not in name:
                found[name] = {"name": name.removesuffix(".service"), "displayName": name,
                               "description": "", "status": status_of("inactive", state)}
        return [found[k] for k in sorted(found)]

    def status(self, name: str) -> str:
        """One service's status; NotFound when systemd has no such unit."""
        unit = unit_name(name)
        for entry in self.list():
            if unit_name(entry["name"]) == unit:
                return str(entry["status"])
        raise NotFound(f"unit {unit} not found")

    def control(self, name: str, action: str) -> None:
        """Start, stop or restart the unit (job mode `replace`)."""
        self.status(name)
        self._bus.call(SYSTEMD, ACTIONS[action], "ss", (unit_name(name), "replace"))
