"""One add-on as tag 138's hassio/addons/addon.py saw it: its config from the `system` entry when
installed (the config it was installed with) else from the store, its `user` entry, and what the
API's /addons and /addons/{slug}/info listed (hassio/api/addons.py), keys in 138's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.homeassistant.addons import params

RE_WEBUI = re.compile(r"^(?:(?P<s_prefix>https?)|\[PROTO:(?P<t_proto>\w+)\]):\/\/\[HOST\]:\[PORT:(?P<t_port>\d+)\]"
                      r"(?P<s_suffix>.*)$")
RE_SERVICE = re.compile(r"^(?P<service>mqtt):(?P<rights>provide|want|need)$")
RISKY_CAPABILITIES = ("NET_ADMIN", "SYS_ADMIN", "SYS_RAWIO", "SYS_PTRACE", "DAC_READ_SEARCH")
ASSETS = {"icon": ("icon.png", "No icon found!"), "logo": ("logo.png", "No logo found!"),
          "changelog": ("CHANGELOG.md", "No changelog found!")}


@dataclass(frozen=True)
class Addon:
    """An add-on's data at one moment: `cache` is the store's config (None when detached), `system`
    and `user` the installed entries (None when not installed)."""

    slug: str
    cache: dict[str, Any] | None
    system: dict[str, Any] | None
    user: dict[str, Any] | None
    arch: str
    machine: str

    @property
    def mesh(self) -> dict[str, Any]:
        """138's _mesh: the installed config, else the store's."""
        return self.system if self.system is not None else (self.cache or {})

    @property
    def installed(self) -> bool:
        return self.system is not None

    @property
    def detached(self) -> bool:
        return self.cache is None

    @property
    def version_installed(self) -> str | None:
        return (self.user or {}).get("version")

    @property
    def last_version(self) -> str | None:
        return str(self.cache["version"]) if self.cache is not None else self.version_installed

    @property
    def image(self) -> str:
        return params.image_name(self.mesh, self.arch)

    @property
    def need_build(self) -> bool:
        return not self.mesh.get("image")

    @property
    def location(self) -> Path:
        return Path(str(self.mesh.get("location", "")))

    @property
    def supported_machine(self) -> list[str]:
        from handlers.homeassistant.addons.config import MACHINE_ALL  # voluptuous schemas: on first use

        return list(self.mesh.get("machine") or MACHINE_ALL)

    @property
    def available(self) -> bool:
        """The arch is listed, and the machine when the add-on names machines. (138: the machine
        must be in the list, every machine by default; its machines were all in that default,
        while a device type of today may not be: such a device still takes unrestricted add-ons.)"""
        if self.arch not in (self.mesh.get("arch") or ()):
            return False
        return not self.mesh.get("machine") or self.machine in self.supported_machine

    @property
    def protected(self) -> bool:
        return bool(self.user["protected"]) if self.user is not None and "protected" in self.user else True

    @property
    def boot(self) -> str:
        user = self.user or {}
        return str(user["boot"] if "boot" in user else self.mesh.get("boot"))

    @property
    def options(self) -> dict[str, Any]:
        """The config's defaults with the user's options over them when installed."""
        if self.installed:
            return {**(self.mesh.get("options") or {}), **((self.user or {}).get("options") or {})}
        return dict((self.cache or {}).get("options") or {})

    @property
    def ports(self) -> dict[str, Any] | None:
        return params.ports(self.mesh, self.user if self.installed else None)

    @property
    def apparmor(self) -> str:
        """disable / profile / default (no profiles are loaded here: never `profile`)."""
        return "default" if self.mesh.get("apparmor", True) else "disable"

    def audio(self, key: str) -> str | None:
        """ALSA output/input: the user's, else the host's default (none known here)."""
        if not self.mesh.get("audio"):
            return None
        return (self.user or {}).get(key) if self.installed else None

    def services_role(self) -> dict[str, str]:
        roles: dict[str, str] = {}
        for entry in self.mesh.get("services") or ():
            found = RE_SERVICE.match(entry)
            if found:
                roles[found.group("service")] = found.group("rights")
        return roles

    def webui(self) -> str | None:
        """`webui` with the host port the user mapped (138's Addon.webui)."""
        found = RE_WEBUI.match(str(self.mesh.get("webui") or ""))
        if found is None:
            return None
        t_port, t_proto = found.group("t_port"), found.group("t_proto")
        mapping = self.ports
        port: Any = t_port if mapping is None else mapping.get(f"{t_port}/tcp", t_port)
        if isinstance(port, (tuple, list)):
            port = port[-1]
        proto = ("https" if self.options.get(t_proto) else "http") if t_proto else found.group("s_prefix") or ""
        return f"{proto}://[HOST]:{port}{found.group('s_suffix') or ''}"

    def rating(self) -> int:
        """rating_security: 1 (not secure) .. 6."""
        mesh = self.mesh
        rating = 5
        if self.apparmor == "disable":
            rating -= 1
        elif self.apparmor == "profile":
            rating += 1
        if any(cap in (mesh.get("privileged") or ()) for cap in RISKY_CAPABILITIES):
            rating -= 1
        rating -= {"manager": 1, "admin": 2}.get(str(mesh.get("hassio_role", "default")), 0)
        if mesh.get("host_network"):
            rating -= 1
        if mesh.get("host_pid"):
            rating -= 2
        if mesh.get("full_access"):
            rating -= 2
        if mesh.get("docker_api"):
            rating = 1
        return max(min(6, rating), 1)

    def asset(self, kind: str) -> Path:
        return self.location / ASSETS[kind][0]

    def long_description(self) -> str | None:
        readme = self.location / "README.md"
        try:
            return readme.read_text(encoding="utf-8", errors="replace") if readme.is_file() else None
        except OSError:
            return None

    def listing(self) -> dict[str, Any]:
        """One entry of GET /addons (138's key order)."""
        mesh = self.mesh
        return {"name": mesh.get("name"), "slug": self.slug, "description": mesh.get("description"),
                "version": self.last_version, "installed": self.version_installed, "available": self.available,
                "detached": self.detached, "repository": mesh.get("repository"), "build": self.need_build,
                "url": mesh.get("url"), "icon": self.asset("icon").exists(), "logo": self.asset("logo").exists()}

    def info(self, state: str) -> dict[str, Any]:
        """GET /addons/{slug}/info (138's keys, order and quirks, hassio.md §5.3)."""
        mesh = self.mesh
        devices = mesh.get("devices")
        return {
            "name": mesh.get("name"), "slug": self.slug, "description": mesh.get("description"),
            "long_description": self.long_description(), "version": self.version_installed,
            "auto_update": (self.user or {}).get("auto_update"), "repository": mesh.get("repository"),
            "last_version": self.last_version, "state": state, "protected": self.protected,
            "rating": self.rating(), "boot": self.boot, "options": self.options,
            "arch": mesh.get("arch"), "machine": self.supported_machine, "url": mesh.get("url"),
            "detached": self.detached, "available": self.available, "build": self.need_build,
            "network": self.ports, "host_network": mesh.get("host_network"), "host_pid": mesh.get("host_pid"),
            "host_ipc": mesh.get("host_ipc"), "host_dbus": mesh.get("host_dbus"),
            "privileged": mesh.get("privileged", []), "full_access": mesh.get("full_access"),
            "apparmor": self.apparmor, "devices": [row.split(":")[0] for row in devices] if devices else None,
            "icon": self.asset("icon").exists(), "logo": self.asset("logo").exists(),
            "changelog": self.asset("changelog").exists(), "webui": self.webui(), "stdin": mesh.get("stdin"),
            "hassio_api": mesh.get("hassio_api"), "hassio_role": mesh.get("hassio_role"),
            "auth_api": mesh.get("auth_api"), "homeassistant_api": mesh.get("homeassistant_api"),
            "gpio": mesh.get("gpio"), "devicetree": mesh.get("devicetree"), "docker_api": mesh.get("docker_api"),
            "audio": mesh.get("audio"), "audio_input": self.audio("audio_input"),
            "audio_output": self.audio("audio_output"),
            "services": [f"{name}:{role}" for name, role in self.services_role().items()],
            "discovery": mesh.get("discovery", []),
        }
