"""systemd units by name over D-Bus (org.freedesktop.systemd1): state, jobs and unit files.

The calls go-systemd's dbus package made for the resin Go helper: unit properties, StartUnit,
StopUnit and RestartUnit in job mode "fail", EnableUnitFiles and DisableUnitFiles (not runtime,
not forced).
"""

from __future__ import annotations

from typing import Any

from handlers.host.bus import SYSTEMD, Bus

UNIT_IFACE = "org.freedesktop.systemd1.Unit"
JOBS = {"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit"}


class Systemd:
    """One unit at a time, by its full name (`openvpn-resin.service`)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def connect(self) -> None:
        """Reach the system bus now (BusUnavailable when it cannot be)."""
        self._bus.connect()

    def unit_property(self, unit: str, name: str) -> Any:
        """A property of org.freedesktop.systemd1.Unit (LoadState, ActiveState, ...).

        LoadUnit answers for any name: a unit without a file comes back with LoadState
        `not-found`, which is how the helper told the OS generations apart.
        """
        (path,) = self._bus.call(SYSTEMD, "LoadUnit", "s", (unit,))
        return self._bus.get_property((SYSTEMD[0], path, UNIT_IFACE), name)

    def job(self, unit: str, action: str) -> str:
        """start, stop or restart the unit in job mode `fail`; the job's object path."""
        (job,) = self._bus.call(SYSTEMD, JOBS[action], "ss", (unit, "fail"))
        return str(job)

    def enable(self, units: list[str]) -> None:
        """EnableUnitFiles(units, runtime=false, force=false)."""
        self._bus.call(SYSTEMD, "EnableUnitFiles", "asbb", (units, False, False))

    def disable(self, units: list[str]) -> None:
        """DisableUnitFiles(units, runtime=false)."""
        self._bus.call(SYSTEMD, "DisableUnitFiles", "asb", (units, False))
