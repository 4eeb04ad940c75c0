"""edgehub-agent's local side: the registration MAC, the function profile, AppHub and the EdgeBus
broker as systemd units over D-Bus, the broker's `$SYS` status, and PEM uploads.

- macaddr: the interface of the lowest-metric IPv4 default route (IPv6 when there is none), read
  through netlink; upper-case `XX:XX:XX:XX:XX:XX` as the seed writes it.
- profile: what this agent really serves, probed at the time of asking (seed 004's keys, sorted).
- AppHub: a systemd service (`--edgehub-apphub-unit`); its log configuration lives in a systemd
  drop-in `<unit>.d/50-edgehub-log.conf` (Environment APPHUB_LOG_FILE, APPHUB_LOG_LEVEL and
  LogLevelMax), applied with Manager.Reload and TryRestartUnit.
- EdgeBus: a real mosquitto as a systemd unit (`--edgehub-edgebus-unit`); "installed" means
  systemd has the unit (LoadState not `not-found`); its status comes from its `$SYS/#` topics.

pyroute2 (through handlers.host.netwatch) and paho-mqtt are imported on first use. PEM uploads are checked in pem.py.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from handlers.errors import BusUnavailable, InvalidInput, NotSupported, PolyvisorError, Unavailable
from handlers.host.bus import SYSTEMD, Bus
from handlers.host.hostfs import HostFS
from handlers.host.netwatch import TABLES, NetWatch

NO_MAC = "00:00:00:00:00:00"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
SERVICE_IFACE = "org.freedesktop.systemd1.Service"
ACTIONS = {"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit"}
LOG_LEVELS = {"error": "err", "info": "info"}  # the seed's levels -> systemd's LogLevelMax
LOG_DROPIN = "50-edgehub-log.conf"
UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@-]{1,255}$")
# The seed's AppHub statuses (the Windows service's words); other ActiveStates are "unknown status: X".
RUNNING, STOPPED, UNKNOWN = "running", "stopped", "unknown or not available"
ACTIVE_STATUS = {"active": RUNNING, "reloading": RUNNING, "inactive": STOPPED, "failed": STOPPED}
ENABLED_FILES = ("enabled", "enabled-runtime", "linked", "linked-runtime", "alias")

# mochi-mqtt's system.Info keys (the seed's mqttBrokerStatus) <- mosquitto's $SYS topics.
SYS_TOPICS = {
    "$SYS/broker/bytes/received": "bytes_received", "$SYS/broker/bytes/sent": "bytes_sent",
    "$SYS/broker/clients/connected": "clients_connected", "$SYS/broker/clients/disconnected": "clients_disconnected",
    "$SYS/broker/clients/maximum": "clients_maximum", "$SYS/broker/clients/total": "clients_total",
    # PUBLISH packets are mochi's "messages"; every packet is mosquitto's "messages"
    "$SYS/broker/publish/messages/received": "messages_received",
    "$SYS/broker/publish/messages/sent": "messages_sent",
    "$SYS/broker/retained messages/count": "retained",
    "$SYS/broker/store/messages/count": "inflight",  # messages held, less the retained ones
    "$SYS/broker/publish/messages/dropped": "inflight_dropped",
    "$SYS/broker/subscriptions/count": "subscriptions",
    "$SYS/broker/messages/received": "packets_received", "$SYS/broker/messages/sent": "packets_sent",
    "$SYS/broker/heap/current": "memory_alloc",
}
STATUS_KEYS = ("version", "started", "time", "uptime", "bytes_received", "bytes_sent", "clients_connected",
               "clients_disconnected", "clients_maximum", "clients_total", "messages_received", "messages_sent",
               "retained", "inflight", "inflight_dropped", "subscriptions", "packets_received", "packets_sent",
               "memory_alloc", "threads")


def unit_name(name: str) -> str:
    """`apphub` -> `apphub.service`; ValueError for a name systemd could not have."""
    full = name if "." in name else f"{name}.service"
    if not UNIT_NAME.match(full) or "/" in full or full.startswith("."):
        raise ValueError(f"invalid unit name {name!r}")
    return full


def format_mac(raw: str, upper: bool = True) -> str:
    """aa:bb:.. as the seed writes it (upper case) or as Go's HardwareAddr.String() (lower)."""
    return raw.upper() if upper else raw.lower()


class Local:
    """GET macaddr and profile, AppHub and EdgeBus control and status (Services.edgehub_local)."""

    def __init__(self, bus: Bus, hostfs: HostFS, version: str, platform_api: Any = None,
                 apphub_unit: str = "apphub.service", edgebus_unit: str = "mosquitto.service",
                 edgebus_url: str = "mqtt://127.0.0.1:1883", netns: str | None = None,
                 netwatch: NetWatch | None = None) -> None:
        self._bus = bus
        self._fs = hostfs
        self._version = version
        self._platform = platform_api
        self.apphub_unit = unit_name(apphub_unit)
        self.edgebus_unit = unit_name(edgebus_unit)
        self.edgebus_url = edgebus_url
        self._net = (netwatch or NetWatch()).state(netns)  # links, addresses, routes from memory
        self._lock = threading.Lock()  # one drop-in writer at a time

    # ---- network -----------------------------------------------------------------------------

    def default_link(self) -> dict[str, str] | None:
        """{"name","mac","ip"} of the default-route interface (lowest metric, IPv4 first; routes through
        an interface without a MAC skipped), or None."""
        found = self._net.derived("edgehub.default_link", TABLES, self._default_link)
        return dict(found) if found is not None else None

    def _default_link(self) -> dict[str, str] | None:
        net = self._net
        for family in (socket.AF_INET, socket.AF_INET6):
            routes = [(r.get_attr("RTA_PRIORITY") or 0, r.get_attr("RTA_OIF")) for r in net.routes(family)
                      if r["dst_len"] == 0 and r.get_attr("RTA_OIF") is not None]
            for _metric, oif in sorted(routes, key=lambda item: item[0]):
                links = [link for link in net.links() if link["index"] == oif]
                mac = (links[0].get_attr("IFLA_ADDRESS") or "") if links else ""
                if mac in ("", NO_MAC):  # a tunnel (wireguard, tun) has none: the next route's
                    continue
                addrs = [a.get_attr("IFA_ADDRESS") for a in net.addresses()
                         if a["family"] == socket.AF_INET and a["index"] == oif]
                return {"name": links[0].get_attr("IFLA_IFNAME") or "", "mac": mac,
                        "ip": addrs[0] if addrs else ""}
        return None

    def macaddr(self) -> str:
        """The default-route interface's MAC; NotSupported (404) without a default route or MAC."""
        try:
            link = self.default_link()
        except OSError as err:
            raise Unavailable(f"netlink: {err}") from err
        if link is None:
            raise NotSupported("no default-route interface with a MAC address")
        return format_mac(link["mac"])

    # ---- systemd -----------------------------------------------------------------------------

    def _unit(self, unit: str, prop: str, iface: str = UNIT_IFACE) -> Any:
        (path,) = self._bus.call(SYSTEMD, "LoadUnit", "s", (unit,))
        return self._bus.get_property((SYSTEMD[0], path, iface), prop)

    def _installed(self, unit: str) -> bool:
        return str(self._unit(unit, "LoadState")) not in ("not-found", "")

    def apphub_status(self) -> str:
        """running, stopped, `unknown status: X`, or `unknown or not available` when systemd does not
        answer; NotSupported (404) when the AppHub unit is not installed."""
        try:
            if not self._installed(self.apphub_unit):
                raise NotSupported(f"{self.apphub_unit} is not installed")
            active = str(self._unit(self.apphub_unit, "ActiveState"))
        except BusUnavailable:
            return UNKNOWN
        return ACTIVE_STATUS.get(active, f"unknown status: {active}")

    def apphub_control(self, action: str) -> None:
        """start, stop or restart the AppHub unit (job mode replace)."""
        if action not in ACTIONS:
            raise InvalidInput(f"invalid action {action!r}: use start, stop or restart")
        if not self._installed(self.apphub_unit):
            raise PolyvisorError(f"{self.apphub_unit} is not installed")
        self._bus.call(SYSTEMD, ACTIONS[action], "ss", (self.apphub_unit, "replace"))

    def _dropin(self) -> str:
        return f"/etc/systemd/system/{self.apphub_unit}.d/{LOG_DROPIN}"

    def apphub_log_config(self) -> dict[str, Any]:
        """{"logFile": bool, "logLevel": "error"|"info"} as the drop-in holds it (defaults false, info)."""
        config: dict[str, Any] = {"logFile": False, "logLevel": "info"}
        for line in (self._fs.read_text(self._dropin()) or "").splitlines():
            if line.startswith("Environment=APPHUB_LOG_FILE="):
                config["logFile"] = line.rsplit("=", 1)[1].strip() == "true"
            elif line.startswith("Environment=APPHUB_LOG_LEVEL="):
                level = line.rsplit("=", 1)[1].strip()
                config["logLevel"] = level if level in LOG_LEVELS else "info"
        return config

    def set_apphub_log_config(self, log_file: bool | None, log_level: str | None) -> dict[str, Any]:
        """Change logFile and/or logLevel, write the drop-in atomically, reload systemd and restart
        AppHub if it runs; the configuration as written."""
        if log_file is None and log_level is None:
            raise InvalidInput("logFile or logLevel is required")
        if log_level is not None and log_level not in LOG_LEVELS:
            raise InvalidInput(f"invalid logLevel {log_level!r}: use error or info")
        with self._lock:
            if not self._installed(self.apphub_unit):
                raise PolyvisorError(f"{self.apphub_unit} is not installed")
            config = self.apphub_log_config()
            if log_file is not None:
                config["logFile"] = log_file
            if log_level is not None:
                config["logLevel"] = log_level
            text = ("# written by polyvisor (PUT /edgehub/api/apphub/log/config)\n[Service]\n"
                    f"Environment=APPHUB_LOG_FILE={'true' if config['logFile'] else 'false'}\n"
                    f"Environment=APPHUB_LOG_LEVEL={config['logLevel']}\n"
                    f"LogLevelMax={LOG_LEVELS[config['logLevel']]}\n")
            self._fs.write_atomic(self._dropin(), text)
            self._bus.call(SYSTEMD, "Reload")
            self._bus.call(SYSTEMD, "TryRestartUnit", "ss", (self.apphub_unit, "replace"))
        return config

    # ---- EdgeBus -----------------------------------------------------------------------------

    def edgebus_status(self) -> dict[str, Any]:
        """{"enabled", "mqttBrokerStatus"?, "clientStatus"}; NotSupported (404) when not installed."""
        if not self._installed(self.edgebus_unit):
            raise NotSupported(f"{self.edgebus_unit} is not installed")
        enabled = str(self._unit(self.edgebus_unit, "UnitFileState")) in ENABLED_FILES
        active = str(self._unit(self.edgebus_unit, "ActiveState")) in ("active", "reloading")
        answer: dict[str, Any] = {"enabled": enabled}
        status = self._broker_status() if active else None
        if status is not None:
            answer["mqttBrokerStatus"] = status
        answer["clientStatus"] = "connected" if status is not None else "disconnected"
        return answer

    def set_edgebus(self, enabled: bool) -> dict[str, bool]:
        """Enable and start, or stop and disable, the broker unit; {"enabled": enabled}."""
        unit = self.edgebus_unit
        if not self._installed(unit):
            raise PolyvisorError(f"{unit} is not installed")
        if enabled:
            self._bus.call(SYSTEMD, "EnableUnitFiles", "asbb", ([unit], False, False))
            self._bus.call(SYSTEMD, "StartUnit", "ss", (unit, "replace"))
        else:
            self._bus.call(SYSTEMD, "StopUnit", "ss", (unit, "replace"))
            self._bus.call(SYSTEMD, "DisableUnitFiles", "asb", ([unit], False))
        return {"enabled": enabled}

    def _threads(self) -> int:
        """Threads of the broker's main process (systemd's MainPID), 0 when unknown."""
        try:
            pid = int(self._unit(self.edgebus_unit, "MainPID", SERVICE_IFACE))
            return len(os.listdir(f"/proc/{pid}/task")) if pid > 0 else 0
        except (PolyvisorError, OSError, ValueError, TypeError):
            return 0

    def _broker_status(self, timeout: float = 3.0) -> dict[str, Any] | None:
        """The broker's retained `$SYS/#` values in mqttBrokerStatus form; None when it does not answer."""
        values = read_sys_topics(self.edgebus_url, timeout)
        if values is None:
            return None
        now = int(time.time())
        status: dict[str, Any] = dict.fromkeys(STATUS_KEYS, 0)
        version = values.get("$SYS/broker/version", "")
        status["version"] = version.rsplit(" ", 1)[-1] if version else ""
        uptime = _number(values.get("$SYS/broker/uptime", "0").split(" ")[0])
        status.update(started=now - uptime, time=now, uptime=uptime)
        for topic, key in SYS_TOPICS.items():
            if topic in values:
                status[key] = _number(values[topic])
        # mosquitto 2.0 has no clients/maximum; its store counts retained messages too
        status["clients_maximum"] = max(status["clients_maximum"], status["clients_connected"])
        status["inflight"] = max(0, status["inflight"] - status["retained"])
        status["threads"] = self._threads()
        return status

    # ---- profile -----------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        """The function profile: agent versions and what this machine supports, keys sorted."""
        version = self._version if self._version.startswith("v") else f"v{self._version}"
        found: dict[str, Any] = {f"agent:version:{name}": version
                                 for name in ("auth-server", "edgehub-agent", "portal-service", "rest-server")}
        release = self._fs.os_release()
        found.update({"host:info": 1, "ibmc": 0, "os": "linux", "os:arch": platform.machine(),
                      "os:description": release.get("PRETTY_NAME") or release.get("NAME") or "Linux",
                      "systemperf": 1})
        model = (self._fs.read_text("/sys/class/dmi/id/product_name") or "").strip()
        if model:
            found["model:name"] = model
        found["apphub"] = self._apphub_level()
        found["service:list"] = _probe(lambda: self._bus.call(SYSTEMD, "ListUnits") and 1)
        link = _probe(self.default_link, None)
        if link:
            found["system:ip"] = link["ip"]
            found["system:mac"] = format_mac(link["mac"], upper=False)
        api = self._platform
        if api is not None:
            found["host:display:count"] = _probe(api.devices.display_count)
            found["hwmon"] = _probe(lambda: 1 if api.sensors.all() else 0)
            found["networking:interfaces"] = _probe(lambda: len(api.netconfig.interfaces()))
            found["perif:brightness"] = _probe(lambda: api.backlight.brightness() and 1)
            found["perif:disk"] = _probe(lambda: 1 if api.disks.list() else 0)
            count = _probe(api.gpio.count)
            found["perif:gpio:all"] = 1 if count else 0
            found["perif:gpio:count"] = count
            found["perif:led"] = _probe(lambda: 1 if api.leds.states() else 0)
            found["processes"] = _probe(lambda: len(api.processes.list()))
            wdt = _probe(api.watchdog.info, None)
            found["perif:wdt"] = 1 if wdt else 0
            if wdt:
                found.update({"perif:wdt:enabled": wdt["enabled"], "perif:wdt:type": wdt["type"],
                              "perif:wdt:timeoutInSeconds": wdt["timeoutInSeconds"],
                              "perif:wdt:timeoutMaxInSeconds": wdt["timeoutMaxInSeconds"],
                              "perif:wdt:timeoutMinInSeconds": wdt["timeoutMinInSeconds"]})
        return dict(sorted(found.items()))

    def _apphub_level(self) -> int:
        """0: no AppHub unit (or no systemd), 1: installed, 2: installed and running."""
        try:
            return {RUNNING: 2, UNKNOWN: 0}.get(self.apphub_status(), 1)
        except NotSupported:
            return 0


def _probe(fn: Callable[[], Any], failed: Any = 0) -> Any:
    """One capability probe: its value, or `failed` when the thing is absent or fails."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a probe that fails means "not supported here"
        return failed


def _number(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        return 0


def read_sys_topics(url: str, timeout: float = 3.0, quiet: float = 0.3) -> dict[str, str] | None:
    """Connect to the broker at mqtt://[user:password@]host:port, take the retained `$SYS/#`
    messages until none came for `quiet` seconds (or `timeout`), disconnect; None when it does
    not answer."""
    import paho.mqtt.client as mqtt  # first use only

    parts = urlsplit(url)
    values: dict[str, str] = {}
    connected = threading.Event()
    last = [time.monotonic()]

    refused: list[Any] = []

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            refused.append(reason)  # wrong credentials, not authorised: no status
        else:
            client.subscribe("$SYS/#")
        connected.set()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        values[message.topic] = message.payload.decode("utf-8", "replace")
        last[0] = time.monotonic()

    # an id of its own per probe: two at once must not take each other's session
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"polyvisor-edgebus-{secrets.token_hex(6)}")
    client.connect_timeout = timeout
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
    client.on_connect = on_connect
    client.on_message = on_message
    deadline = time.monotonic() + timeout
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        if not connected.wait(max(0.0, deadline - time.monotonic())) or refused:
            return None
        last[0] = time.monotonic()
        while time.monotonic() < deadline:
            if "$SYS/broker/version" in values and time.monotonic() - last[0] >= quiet:
                break
            time.sleep(0.05)
        return dict(values) if values else None
    finally:
        client.disconnect()
        client.loop_stop()
