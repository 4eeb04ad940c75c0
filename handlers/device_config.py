"""Device configuration variables: the known keys, their defaults and parsing (balena-v2.md 4.3).

Values are strings in a target's `config`; BALENA_/RESIN_ prefixes are stripped, unknown keys
dropped, and reading one applies the legacy parsing (checkTruthy for booleans, parseInt for
integers) with the default for a missing or invalid value.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
# OVERRIDE_LOCK is the resin-era spelling of SUPERVISOR_OVERRIDE_LOCK.
ALIASES = {"OVERRIDE_LOCK": "SUPERVISOR_OVERRIDE_LOCK"}
# Boot-config variables are kept in the target as given (applying them is the host's business).
BOOT_PREFIXES = ("HOST_CONFIG_", "HOST_EXTLINUX_")


def truthy(value: Any) -> bool | None:
    """checkTruthy: 1/true/on, 0/false/off (case-insensitive), else None."""
    lowered = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
    return True if lowered in ("1", "true", "on") else False if lowered in ("0", "false", "off") else None


def parse_int(value: Any) -> int | None:
    """parseInt(value, 10): leading digits, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    match = re.match(r"^\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else None


def filter_config(config: Mapping[str, str]) -> dict[str, str]:
    """Known keys only, BALENA_/RESIN_ prefixes stripped (deviceConfig.setTarget)."""
    kept: dict[str, str] = {}
    for raw, value in config.items():
        key = raw
        for prefix in ("BALENA_", "RESIN_"):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        key = ALIASES.get(key, key)
        if key in KEYS_BY_NAME or key == VPN_CONTROL or key.startswith(BOOT_PREFIXES):
            kept[key] = value
    return kept


def config_with_defaults(stored: Mapping[str, str]) -> dict[str, str]:
    """What GET /v2/local/target-state shows: stored keys, VPN control, then missing defaults."""
    shown = dict(stored)
    shown.setdefault(VPN_CONTROL, "true")
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
