"""Host configuration as balenaOS keeps it: proxy files and hostname on the boot partition.

<boot>/system-proxy/redsocks.conf and no_proxy hold the proxy (read by redsocks and the
proxy-config service); config.json's `hostname` key names the host. Writes are atomic.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from handlers.errors import BusReplyError, BusUnavailable, InvalidInput, PolyvisorError
from handlers.host.bus import HOSTNAMED, SYSTEMD, Bus
from handlers.host.hostfs import HostFS, uv_error
from handlers.jsvalues import js_string

log = logging.getLogger("polyvisor.hostconfig")


class HostConfigError(PolyvisorError):
    """A host file could not be read (answered with its message)."""

PROXY_FIELDS = ("type", "ip", "port", "login", "password")
QUOTED = ("login", "password")
PROXY_TYPES = ("socks4", "socks5", "http-connect", "http-relay")
REDSOCKS_HEADER = (
    "base {\n\tlog_debug = off;\n\tlog_info = on;\n\tlog = stderr;\n\tdaemon = off;\n"
    "\tredirector = iptables;\n}\n\nredsocks {\n\tlocal_ip = 127.0.0.1;\n\tlocal_port = 12345;\n"
)
# The 2019 patterns, unanchored: they also match the header's local_ip/local_port (a later line
# overrides the value, the key keeps its first place), and `type` written by the 2019 code on the
# local_port line (its header lost its last newline) is found there.
FIELD_PATTERNS = {
    name: re.compile(rf"{name}\s*=\s*\"(.*)\"\s*;" if name in QUOTED else rf"{name}\s*=\s*([^;\s]*)\s*;")
    for name in PROXY_FIELDS
}
# What may not appear in a value: it would end the directive or the block (config injection).
UNSAFE = re.compile(r"[\";{}\n\r\\]")
PROXY_UNITS = ("resin-proxy-config.service", "redsocks.service")


@dataclass
class HostConfig:
    """Reads and writes the proxy and hostname settings."""

    hostfs: HostFS
    bus: Bus
    boot: str = "/mnt/boot"

    @property
    def proxy_dir(self) -> str:
        return f"{self.boot}/system-proxy"

    def read(self) -> dict[str, Any]:
        """{"proxy": {...} (only when redsocks.conf exists), "hostname": "..."}."""
        network: dict[str, Any] = {}
        conf = self.hostfs.read_text(f"{self.proxy_dir}/redsocks.conf")
        if conf is not None:
            proxy: dict[str, Any] = {}
            for line in conf.split("\n"):
                for name, pattern in FIELD_PATTERNS.items():
                    match = pattern.search(line)
                    if match:
                        proxy[name] = match.group(1)  # the last line wins, the first keeps the place
            no_proxy = self.hostfs.read_text(f"{self.proxy_dir}/no_proxy")
            if no_proxy is not None:
                proxy["noProxy"] = no_proxy.split("\n")
            network["proxy"] = proxy
        try:
            network["hostname"] = self.hostfs.path("/etc/hostname").read_text(encoding="utf-8").strip()
        except OSError as err:  # the legacy readFile's error reached the client (503)
            raise HostConfigError(uv_error(err, "open", "/mnt/root/etc/hostname")) from err
        return network

    def patch(self, network: Any) -> None:
        """Apply {"proxy": ..., "hostname": ...}; absent keys are left as they are."""
        if not isinstance(network, dict):
            return
        if network.get("hostname") is not None:
            self.set_hostname(js_string(network["hostname"]))  # String(): 1 as "1", never repr
        if "proxy" in network and network["proxy"] is not None:
            self.set_proxy(network["proxy"])

    def config_json(self) -> dict[str, Any]:
        """The boot partition's config.json ({} when absent or unreadable)."""
        text = self.hostfs.read_text(f"{self.boot}/config.json")
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def set_hostname(self, name: str) -> None:
        """Write config.json's hostname; apply it at once where hostnamed answers."""
        if "\n" in name or len(name) > 253:
            raise InvalidInput("Invalid hostname")
        path = f"{self.boot}/config.json"
        text = self.hostfs.read_text(path)
        try:
            config = json.loads(text) if text else {}
        except ValueError as err:
            raise InvalidInput(f"{path} is not valid JSON: {err}") from err
        config["hostname"] = name
        self.hostfs.write_atomic(path, json.dumps(config, indent=None, separators=(",", ":")))
        if name:
            try:
                self.bus.call(HOSTNAMED, "SetStaticHostname", "sb", (name, False))
            except BusUnavailable as err:
                log.info("hostname stored in config.json; hostnamed not reachable: %s", err)

    def set_proxy(self, proxy: Any) -> None:
        """Write (or with {} remove) redsocks.conf and no_proxy, then restart the proxy units."""
        if not isinstance(proxy, dict):
            raise InvalidInput("proxy must be an object")
        conf_path, no_proxy_path = f"{self.proxy_dir}/redsocks.conf", f"{self.proxy_dir}/no_proxy"
        if not proxy:
            for path in (conf_path, no_proxy_path):
                self.hostfs.path(path).unlink(missing_ok=True)
        else:
            lines = []
            for name in PROXY_FIELDS:
                if name in proxy and proxy[name] is not None:
                    value = js_string(proxy[name])  # as the template string wrote it: true, not True
                    if UNSAFE.search(value):
                        raise InvalidInput(f"Invalid proxy {name}")
                    lines.append(f'\t{name} = "{value}";' if name in QUOTED else f"\t{name} = {value};")
            no_proxy = proxy.get("noProxy")
            if isinstance(no_proxy, list):
                entries = ["" if e is None else js_string(e) for e in no_proxy]  # Array.join
                if any("\n" in e for e in entries):
                    raise InvalidInput("Invalid noProxy entry")
                self.hostfs.write_atomic(no_proxy_path, "\n".join(entries))
            self.hostfs.write_atomic(conf_path, REDSOCKS_HEADER + "".join(f"{line}\n" for line in lines) + "}\n")
        self.restart_units(PROXY_UNITS)

    def restart_units(self, units: tuple[str, ...]) -> None:
        """systemd RestartUnit(unit, "fail") for each unit the host has."""
        for unit in units:
            try:
                self.bus.call(SYSTEMD, "RestartUnit", "ss", (unit, "fail"))
            except BusReplyError as err:
                if err.name != "org.freedesktop.systemd1.NoSuchUnit":
                    raise
                log.info("%s is not on this host; skipped", unit)
