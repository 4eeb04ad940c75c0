"""The files an add-on repository holds, validated as tag 138's hassio/addons/validate.py did:
config.json (one per add-on), repository.json (one per custom repository) and build.json (local
builds). Unknown keys are dropped (REMOVE_EXTRA), defaults filled in, and a bad file is a
vol.Invalid whose text is voluptuous's, as the legacy logged and answered it.

Also the installed add-ons' entries of 138's addons.json (`user`, `system`), for installed.py.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import voluptuous as vol
from voluptuous.humanize import humanize_error

log = logging.getLogger("polyvisor.hassio.addons")

ARCH_ALL = ["armhf", "aarch64", "amd64", "i386"]
MACHINE_ALL = [
    "intel-nuc", "qemux86", "qemux86-64", "qemuarm", "qemuarm-64",
    "raspberrypi", "raspberrypi2", "raspberrypi3", "raspberrypi3-64",
    "tinker", "odroid-c2", "odroid-xu",
]
STARTUP_ALL = ["once", "initialize", "system", "services", "application"]
# The legacy names of two stages (before 0.50 add-ons said `before`/`after`).
STARTUP_LEGACY = {"before": "services", "after": "application"}
BOOT_ALL = ["auto", "manual"]
PRIVILEGED_ALL = ["NET_ADMIN", "SYS_ADMIN", "SYS_RAWIO", "IPC_LOCK", "SYS_TIME", "SYS_NICE",
                  "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"]
ROLE_ALL = ["default", "homeassistant", "backup", "manager", "admin"]
DISCOVERY_SERVICES = ["mqtt"]
BASE_IMAGE = {arch: f"homeassistant/{arch}-base:latest" for arch in ARCH_ALL}

# 138's volume pattern, quirk included: `:rw` or `::ro` (one colon too many), so `config:ro` is refused.
RE_VOLUME = re.compile(r"^(config|ssl|addons|backup|share)(?::(rw|:ro))?$")
RE_SERVICE = re.compile(r"^(?P<service>mqtt):(?P<rights>provide|want|need)$")
# One element of an add-on's option schema (options.py reads the groups).
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|str|bool|email|url|port"
    r"|int(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?"
    r"|float(?:\((?P<f_min>[\d\.]+)?,(?P<f_max>[\d\.]+)?\))?"
    r"|match\((?P<match>.*)\)"
    r")\??$"
)

# hassio/validate.py's shared validators
NETWORK_PORT = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))
ALSA_DEVICE = vol.Maybe(vol.Match(r"\d+,\d+"))
UUID_MATCH = vol.Match(r"^[0-9a-f]{32}$")
SHA256 = vol.Match(r"^[0-9a-f]{64}$")


def docker_host_ports(data: Any) -> Any:
    """One host side of a `ports` mapping: None (a dynamic port), a port, [ip, port] or a list of ports."""
    if data is None:
        return None
    if isinstance(data, int):  # a bool is an int here too, as in 138
        return NETWORK_PORT(data)
    if isinstance(data, list) and len(data) > 2:
        return vol.Schema([NETWORK_PORT])(data)
    if isinstance(data, list) and len(data) == 2:
        return (vol.Coerce(str)(data[0]), NETWORK_PORT(data[1]))
    raise vol.Invalid("Can't validate Docker host settings")


DOCKER_PORTS = vol.Schema({vol.All(vol.Coerce(str), vol.Match(r"^\d+(?:/tcp|/udp)?$")): docker_host_ports})


def simple_startup(value: Any) -> Any:
    """`before` and `after`, the stages' names before 0.50, as the ones 138 knew."""
    if isinstance(value, str):
        return STARTUP_LEGACY.get(value, value)
    return value


SCHEMA_ELEMENT = vol.Match(RE_SCHEMA_ELEMENT)
# An option schema: elements, lists of elements or of one-level dicts, one-level dicts; or false.
OPTION_SCHEMA = vol.Any(vol.Schema({
    vol.Coerce(str): vol.Any(
        SCHEMA_ELEMENT,
        [vol.Any(SCHEMA_ELEMENT, {vol.Coerce(str): vol.Any(SCHEMA_ELEMENT, [SCHEMA_ELEMENT])})],
        vol.Schema({vol.Coerce(str): vol.Any(SCHEMA_ELEMENT, [SCHEMA_ELEMENT])}),
    ),
}), False)

# SCHEMA_ADDON_CONFIG, key for key in 138's order.
CONFIG_FIELDS: dict[Any, Any] = {
    vol.Required("name"): vol.Coerce(str),
    vol.Required("version"): vol.Coerce(str),
    vol.Required("slug"): vol.Coerce(str),
    vol.Required("description"): vol.Coerce(str),
    vol.Optional("url"): vol.Url(),
    vol.Optional("arch", default=lambda: list(ARCH_ALL)): [vol.In(ARCH_ALL)],
    vol.Optional("machine"): [vol.In(MACHINE_ALL)],
    vol.Required("startup"): vol.All(simple_startup, vol.In(STARTUP_ALL)),
    vol.Required("boot"): vol.In(BOOT_ALL),
    vol.Optional("ports"): DOCKER_PORTS,
    vol.Optional("webui"): vol.Match(r"^(?:https?|\[PROTO:\w+\]):\/\/\[HOST\]:\[PORT:\d+\].*$"),
    vol.Optional("host_network", default=False): vol.Boolean(),
    vol.Optional("host_pid", default=False): vol.Boolean(),
    vol.Optional("host_ipc", default=False): vol.Boolean(),
    vol.Optional("host_dbus", default=False): vol.Boolean(),
    vol.Optional("devices"): [vol.Match(r"^(.*):(.*):([rwm]{1,3})$")],
    vol.Optional("auto_uart", default=False): vol.Boolean(),
    vol.Optional("tmpfs"): vol.Match(r"^size=(\d)*[kmg](,uid=\d{1,4})?(,rw)?$"),
    vol.Optional("map", default=list): [vol.Match(RE_VOLUME)],
    vol.Optional("environment"): {vol.Match(r"\w*"): vol.Coerce(str)},
    vol.Optional("privileged"): [vol.In(PRIVILEGED_ALL)],
    vol.Optional("apparmor", default=True): vol.Boolean(),
    vol.Optional("full_access", default=False): vol.Boolean(),
    vol.Optional("audio", default=False): vol.Boolean(),
    vol.Optional("gpio", default=False): vol.Boolean(),
    vol.Optional("devicetree", default=False): vol.Boolean(),
    vol.Optional("hassio_api", default=False): vol.Boolean(),
    vol.Optional("hassio_role", default="default"): vol.In(ROLE_ALL),
    vol.Optional("homeassistant_api", default=False): vol.Boolean(),
    vol.Optional("stdin", default=False): vol.Boolean(),
    vol.Optional("legacy", default=False): vol.Boolean(),
    vol.Optional("docker_api", default=False): vol.Boolean(),
    vol.Optional("auth_api", default=False): vol.Boolean(),
    vol.Optional("services"): [vol.Match(RE_SERVICE)],
    vol.Optional("discovery"): [vol.In(DISCOVERY_SERVICES)],
    vol.Required("options"): dict,
    vol.Required("schema"): OPTION_SCHEMA,
    vol.Optional("image"): vol.Match(r"^([a-zA-Z.:\d{}]+/)*?([\w{}]+)/([\-\w{}]+)$"),
    vol.Optional("timeout", default=10): vol.All(vol.Coerce(int), vol.Range(min=10, max=120)),
}
SCHEMA_ADDON_CONFIG = vol.Schema(CONFIG_FIELDS, extra=vol.REMOVE_EXTRA)

SCHEMA_REPOSITORY_CONFIG = vol.Schema({
    vol.Required("name"): vol.Coerce(str),
    vol.Optional("url"): vol.Url(),
    vol.Optional("maintainer"): vol.Coerce(str),
}, extra=vol.REMOVE_EXTRA)

SCHEMA_BUILD_CONFIG = vol.Schema({
    vol.Optional("build_from", default=lambda: dict(BASE_IMAGE)): vol.Schema({
        vol.In(ARCH_ALL): vol.Match(r"(?:^[\w{}]+/)?[\-\w{}]+:[\.\-\w{}]+$"),
    }),
    vol.Optional("squash", default=False): vol.Boolean(),
    vol.Optional("args", default=dict): vol.Schema({vol.Coerce(str): vol.Coerce(str)}),
}, extra=vol.REMOVE_EXTRA)

# addons.json: `user` is what the user set for an installed add-on, `system` the config.json
# taken at install/update plus where it came from.
SCHEMA_ADDON_USER = vol.Schema({
    vol.Required("version"): vol.Coerce(str),
    vol.Optional("uuid", default=lambda: uuid.uuid4().hex): UUID_MATCH,
    vol.Optional("access_token"): SHA256,
    vol.Optional("options", default=dict): dict,
    vol.Optional("auto_update", default=False): vol.Boolean(),
    vol.Optional("boot"): vol.In(BOOT_ALL),
    vol.Optional("network"): DOCKER_PORTS,
    vol.Optional("audio_output"): ALSA_DEVICE,
    vol.Optional("audio_input"): ALSA_DEVICE,
    vol.Optional("protected", default=True): vol.Boolean(),
}, extra=vol.REMOVE_EXTRA)
SCHEMA_ADDON_SYSTEM = SCHEMA_ADDON_CONFIG.extend({
    vol.Required("location"): vol.Coerce(str),
    vol.Required("repository"): vol.Coerce(str),
})
SCHEMA_ADDONS_FILE = vol.Schema({
    vol.Optional("user", default=dict): {vol.Coerce(str): SCHEMA_ADDON_USER},
    vol.Optional("system", default=dict): {vol.Coerce(str): SCHEMA_ADDON_SYSTEM},
})


def validate_config(raw: Any) -> dict[str, Any]:
    """A config.json's content, checked, defaults filled, unknown keys dropped; vol.Invalid."""
    result: dict[str, Any] = SCHEMA_ADDON_CONFIG(raw)
    return result


def validate_repository(raw: Any) -> dict[str, Any]:
    """A repository.json's content ({name, url?, maintainer?}); vol.Invalid."""
    result: dict[str, Any] = SCHEMA_REPOSITORY_CONFIG(raw)
    return result


def validate_build(raw: Any, arch: str) -> dict[str, Any]:
    """A build.json's content for `arch`: {"build_from": image, "squash", "args"}; vol.Invalid.

    An arch that build_from does not name gets homeassistant/<arch>-base:latest, as 138's
    AddonBuild.base_image did."""
    data = SCHEMA_BUILD_CONFIG(raw)
    base = data["build_from"].get(arch) or BASE_IMAGE.get(arch, f"homeassistant/{arch}-base:latest")
    return {"build_from": base, "squash": data["squash"], "args": data["args"]}


def read_json(path: Path) -> Any:
    """A JSON file's content (OSError, ValueError for unreadable or not JSON)."""
    return json.loads(path.read_text(encoding="utf-8"))


def read_build(folder: Path, arch: str) -> dict[str, Any]:
    """An add-on folder's build.json for `arch`; as 138's JsonConfig, a missing, unreadable or
    invalid file gives the defaults (the last two logged)."""
    path = folder / "build.json"
    raw: Any = {}
    if path.is_file():
        try:
            raw = read_json(path)
        except (OSError, ValueError):
            log.warning("Can't read %s", path)
            raw = {}
    try:
        return validate_build(raw, arch)
    except vol.Invalid as err:
        log.error("Can't parse %s: %s", path, humanize_error(raw, err))
        log.warning("Reset %s to default", path)
        return validate_build({}, arch)
