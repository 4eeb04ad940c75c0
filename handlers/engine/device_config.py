"""Device configuration variables: the known keys, their defaults and parsing (balena-v2.md 4.3).

Values are strings in a target's `config`; BALENA_/RESIN_ prefixes are stripped, unknown keys
dropped, and reading one applies the legacy parsing (checkTruthy for booleans, parseInt for
integers) with the default for a missing or invalid value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.jsvalues import js_string
from handlers.jsvalues import parse_int as js_parse_int

log = logging.getLogger("polyvisor.device_config")

# ---- device configuration (device-config.ts configKeys, balena-v2.md 4.3) ----

@dataclass(frozen=True)
class ConfigKey:
    """One known device-config variable."""

    name: str
    kind: str  # "int" | "bool" | "str"
    default: str


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("SUPERVISOR_POLL_INTERVAL", "int", "60000"),
    ConfigKey("SUPERVISOR_INSTANT_UPDATE_TRIGGER", "bool", "true"),
    ConfigKey("SUPERVISOR_LOCAL_MODE", "bool", "false"),
    ConfigKey("SUPERVISOR_CONNECTIVITY_CHECK", "bool", "true"),
    ConfigKey("SUPERVISOR_LOG_CONTROL", "bool", "true"),
    ConfigKey("SUPERVISOR_DELTA", "bool", "false"),
    ConfigKey("SUPERVISOR_DELTA_REQUEST_TIMEOUT", "int", "30000"),
    ConfigKey("SUPERVISOR_DELTA_APPLY_TIMEOUT", "int", "0"),
    ConfigKey("SUPERVISOR_DELTA_RETRY_COUNT", "int", "30"),
    ConfigKey("SUPERVISOR_DELTA_RETRY_INTERVAL", "int", "10000"),
    ConfigKey("SUPERVISOR_DELTA_VERSION", "int", "2"),
    ConfigKey("SUPERVISOR_OVERRIDE_LOCK", "bool", "false"),
    ConfigKey("SUPERVISOR_PERSISTENT_LOGGING", "bool", "false"),
)
KEYS_BY_NAME = {k.name: k for k in CONFIG_KEYS}
VPN_CONTROL = "SUPERVISOR_VPN_CONTROL"
# OVERRIDE_LOCK is the resin-era spelling of SUPERVISOR_OVERRIDE_LOCK: both are kept, and its
# value is copied over the new one (deviceConfig.setTarget).
LEGACY_OVERRIDE = "OVERRIDE_LOCK"
VALID_KEYS = (VPN_CONTROL, LEGACY_OVERRIDE, *KEYS_BY_NAME)


def boot_prefix(device_type: str | None) -> str | None:
    """The boot-config variables the device type's backend takes (config/utils.ts getConfigBackend):
    config.txt on Raspberry Pis, extlinux on Jetson TX boards; none elsewhere."""
    if device_type is None:
        return None
    if device_type.startswith("raspberry") or device_type == "fincm3":
        return "HOST_CONFIG_"
    if device_type.startswith("jetson-tx"):
        return "HOST_EXTLINUX_"
    return None


def truthy(value: Any) -> bool | None:
    """checkTruthy: 1/true/on, 0/false/off (case-insensitive), else None."""
    lowered = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
    return True if lowered in ("1", "true", "on") else False if lowered in ("0", "false", "off") else None


def parse_int(value: Any) -> int | None:
    """checkInt: parseInt(String(value), 10) (ASCII digits: "١" is no number; 1e21 is 1), else
    None. Past Number.MAX_SAFE_INTEGER (Infinity included) counts as no number too: JavaScript
    held no such integer exactly, and no id or setting is that large (nor fits the store)."""
    number = js_parse_int(js_string(value)) if value is not None else None
    return number if isinstance(number, int) else None


def filter_config(config: Mapping[str, str], device_type: str | None = None) -> dict[str, str]:
    """formatConfigKeys + setTarget: BALENA_* keys first (prefix stripped), then RESIN_* ones, then
    unprefixed ones, each key taken from the first of these that has it; only known keys and the
    device type's boot-config variables are kept; OVERRIDE_LOCK's value is copied to
    SUPERVISOR_OVERRIDE_LOCK."""
    merged: dict[str, str] = {}
    for prefix in ("BALENA_", "RESIN_"):
        for raw, value in config.items():
            if raw.startswith(prefix):
                merged.setdefault(raw[len(prefix):], value)
    for raw, value in config.items():
        if not raw.startswith(("BALENA_", "RESIN_")):
            merged.setdefault(raw, value)
    boot = boot_prefix(device_type)
    kept = {k: v for k, v in merged.items() if k in VALID_KEYS or (boot is not None and k.startswith(boot))}
    if kept.get(LEGACY_OVERRIDE) is not None:
        kept["SUPERVISOR_OVERRIDE_LOCK"] = kept[LEGACY_OVERRIDE]
    return kept


def config_with_defaults(stored: Mapping[str, str], unmanaged: bool = False) -> dict[str, str]:
    """deviceConfig.getTarget: the stored keys, VPN control, local mode on for an unmanaged
    device, then the defaults of the keys still missing (GET /v2/local/target-state)."""
    shown = dict(stored)
    shown.setdefault(VPN_CONTROL, "true")
    if unmanaged:
        shown.setdefault("SUPERVISOR_LOCAL_MODE", "true")
    for key in CONFIG_KEYS:
        shown.setdefault(key.name, key.default)
    return shown


def config_value(stored: Mapping[str, str], name: str) -> Any:
    """A typed device-config value; invalid values fall back to the default (with the legacy warning)."""
    key = KEYS_BY_NAME[name]
    raw = stored.get(name, key.default)
    parsed: Any = truthy(raw) if key.kind == "bool" else parse_int(raw) if key.kind == "int" else raw
    if parsed is None:
        log.warning("Warning: Ignoring invalid device configuration value for %s, value: %s. "
                    "Falling back to default (%s)", name, raw, key.default)
        parsed = truthy(key.default) if key.kind == "bool" else parse_int(key.default)
    return parsed
