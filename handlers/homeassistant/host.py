"""The host as tag 138's supervisor drove it (hassio/host/*, hassio/dbus/*): hostnamed's properties,
systemd's power calls and service jobs, and the managed containers stopped before a reboot.

138 spoke D-Bus with `gdbus` and treated a service as there when it could introspect it; here a
service is there when it answers org.freedesktop.DBus.Peer.Ping (which also activates hostnamed,
as gdbus's introspection did).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from handlers.docker import Engine
from handlers.errors import EngineUnavailable, PolyvisorError
from handlers.host.bus import HOSTNAMED, SYSTEMD, Bus

log = logging.getLogger("polyvisor.hassio.host")

RAUC = ("de.pengutronix.rauc", "/", "de.pengutronix.rauc.Installer")
PROPERTIES = "org.freedesktop.DBus.Properties"
# GET /host/info's keys (in 138's order) and the hostname1 property behind each (host/info.py).
INFO_KEYS = (("chassis", "Chassis"), ("cpe", "OperatingSystemCPEName"), ("features", ""),
             ("hostname", "StaticHostname"), ("operating_system", "OperatingSystemPrettyName"),
             ("deployment", "Deployment"), ("kernel", "KernelRelease"))
POWER = {"reboot": "Reboot", "shutdown": "PowerOff"}  # Manager methods (dbus/systemd.py)
# /host/services/{service}/<action> -> Manager method, job mode "replace" (host/services.py)
JOBS = {"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit", "reload": "ReloadOrRestartUnit"}
STOP_TIMEOUT = 30  # DockerInterface.timeout
ADDON_CONTAINER = re.compile(r"addon_.+")
HOMEASSISTANT_CONTAINER = "homeassistant"


class HostNotSupported(PolyvisorError):
    """The D-Bus service an action needs is not on the bus (138's HostNotSupportedError)."""


class HostServiceError(PolyvisorError):
    """The unit is not among the loaded services last listed (138's HostServiceError)."""


@dataclass(frozen=True)
class Cpe:
    """The parts of a CPE name HassOS detection reads (the `cpe` package's get_* answers)."""

    product: str | None
    version: str | None
    target_hw: str | None


def parse_cpe(name: str | None) -> Cpe | None:
    """A CPE 2.3 formatted string or 2.2 URI; None when it is neither (cpe raised NotImplementedError)."""
    if not name:
        return None
    if name.startswith("cpe:2.3:"):
        parts = re.split(r"(?<!\\):", name)[2:]
        if len(parts) != 11:
            return None
    elif name.startswith("cpe:/"):
        parts = name[5:].split(":")
        parts += [""] * (11 - len(parts))
    else:
        return None

    def value(index: int) -> str | None:
        return parts[index].replace("\\", "") or None

    return Cpe(product=value(2), version=value(3), target_hw=value(9))


@dataclass
class HostState:
    """Which services answer and hostnamed's properties, read once for one request."""

    systemd: bool
    hostname: bool
    rauc: bool
    properties: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """A hostname1 property, None for an empty string (`or None` in host/info.py)."""
        return self.properties.get(name) or None

    @property
    def hassos(self) -> Cpe | None:
        """The CPE when this is HassOS: rauc, systemd and hostnamed there, CPE product `hassos` (hassos.py load)."""
        if not (self.rauc and self.systemd and self.hostname):
            return None
        cpe = parse_cpe(self.value("OperatingSystemCPEName"))
        return cpe if cpe is not None and cpe.product == "hassos" else None

    def features(self) -> list[str]:
        """supperted_features: systemd's three, hostname, then hassos."""
        features = ["reboot", "shutdown", "services"] if self.systemd else []
        if self.hostname:
            features.append("hostname")
        if self.hassos is not None:
            features.append("hassos")
        return features


class HassioHost:
    """The /host routes' domain: info, power, hostname, services."""

    def __init__(self, bus: Bus, engine: Engine, stop_timeout: int = STOP_TIMEOUT) -> None:
        self.bus = bus
        self._engine = engine
        self._stop_timeout = stop_timeout
        self._units: list[dict[str, str]] | None = None  # ServiceManager's set, filled on first use
        self._lock = threading.Lock()

    def answers(self, destination: str) -> bool:
        """True when the service is on the bus (or activatable)."""
        try:
            self.bus.ping(destination)
        except PolyvisorError:
            return False
        return True

    def state(self) -> HostState:
        """Which of systemd, hostnamed and rauc answer, with hostnamed's properties."""
        state = HostState(self.answers(SYSTEMD[0]), self.answers(HOSTNAMED[0]), self.answers(RAUC[0]))
        if state.hostname:
            try:
                (values,) = self.bus.call((HOSTNAMED[0], HOSTNAMED[1], PROPERTIES), "GetAll", "s", (HOSTNAMED[2],))
                state.properties = {name: variant[1] for name, variant in values.items()}
            except PolyvisorError as err:  # InfoCenter.update: a warning, the info stays empty
                log.warning("Can't update host system information! %s", err)
        return state

    def info(self) -> dict[str, Any]:
        """GET /host/info."""
        state = self.state()
        return {key: state.features() if key == "features" else state.value(name) for key, name in INFO_KEYS}

    def _need(self, destination: str, flag: str) -> None:
        if not self.answers(destination):
            log.error("No %s D-Bus connection available", flag)
            raise HostNotSupported(f"No {flag} D-Bus connection available")

    def power(self, action: str) -> None:
        """Reboot or shutdown: the managed containers stop, then systemd's Reboot() / PowerOff()."""
        self._need(SYSTEMD[0], "manager")
        log.info("Initialize host %s over systemd", action)
        try:
            self.stop_containers()
        finally:  # control.py: the host goes down even when a container would not stop
            self.bus.call(SYSTEMD, POWER[action])

    def stop_containers(self) -> list[str]:
        """Stop the running add-on containers, then Home Assistant's (core.shutdown); their names."""
        import docker.errors

        def stop(client: Any) -> list[str]:
            running = client.containers.list()
            addons = sorted((c for c in running if ADDON_CONTAINER.fullmatch(c.name)), key=lambda c: c.name)
            core = [c for c in running if c.name == HOMEASSISTANT_CONTAINER]
            stopped = []
            for container in addons + core:
                log.info("Stop %s", container.name)
                try:
                    container.stop(timeout=self._stop_timeout)
                    stopped.append(container.name)
                except docker.errors.APIError as err:  # 138 logged it and went on
                    log.warning("Can't stop %s: %s", container.name, err)
            return stopped

        try:
            return self._engine.call(stop)
        except EngineUnavailable as err:
            log.warning("No containers stopped: %s", err)
            return []

    def set_hostname(self, name: str) -> None:
        """hostname1.SetStaticHostname(name, false); GET info reads it back."""
        self._need(HOSTNAMED[0], "hostname")
        log.info("Set hostname %s", name)
        self.bus.call(HOSTNAMED, "SetStaticHostname", "sb", (name, False))

    def reload(self) -> None:
        """POST /host/reload: the unit list again (the info is read on every GET)."""
        if self.answers(SYSTEMD[0]):
            self.refresh_units()

    def refresh_units(self) -> list[dict[str, str]]:
        """Manager.ListUnits(): the loaded *.service units as {name, description, state}."""
        units: list[dict[str, str]] = []
        try:
            (listed,) = self.bus.call(SYSTEMD, "ListUnits")
            for unit in listed:
                if unit[0].endswith(".service") and unit[2] == "loaded":
                    units.append({"name": unit[0], "description": unit[1], "state": unit[3]})
        except PolyvisorError as err:  # ServiceManager.update: a warning, the list stays empty
            log.warning("Can't update host service information! %s", err)
        with self._lock:
            self._units = units
        return units

    def services(self) -> list[dict[str, str]]:
        """The service list as last read (read now the first time, as 138 did at start)."""
        with self._lock:
            units = self._units
        if units is None:
            units = self.refresh_units() if self.answers(SYSTEMD[0]) else []
        return list(units)

    def unit_job(self, unit: str, action: str) -> None:
        """start, stop, restart or reload a listed unit in job mode `replace`."""
        self._need(SYSTEMD[0], "systemd")
        if unit not in {entry["name"] for entry in self.services()}:
            log.error("Unit '%s' not found", unit)
            raise HostServiceError(f"Unit '{unit}' not found")
        log.info("%s local service %s", action.capitalize(), unit)
        self.bus.call(SYSTEMD, JOBS[action], "ss", (unit, "replace"))
