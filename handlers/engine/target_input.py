"""Target input as the 2019 supervisor read it before validation: every service key was
camel-cased, and compose fields it did not support were dropped with a warning."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("polyvisor.target")

# Compose service keys the supervisor did not support: dropped with its warning, not refused
# (anything else unknown is refused). The legacy camel-cased every key before filtering, so the
# camelCase spelling of a supported key (networkMode) is that key.
UNSUPPORTED_COMPOSE = frozenset({
    "annotations", "attach", "blkio_config", "build", "cgroup", "configs", "container_name",
    "cpu_count", "cpu_percent", "cpu_period", "cpu_rt_period", "cpu_rt_runtime", "credential_spec",
    "deploy", "develop", "device_cgroup_rules", "env_file", "extends", "external_links", "gpus",
    "isolation", "links", "logging", "mem_swappiness", "memswap_limit", "platform", "profiles",
    "pull_policy", "runtime", "scale", "secrets", "stdin_open", "uts", "volume_driver", "volumes_from",
})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _normalised_service(service: dict[str, Any], snake_of: dict[str, str]) -> dict[str, Any]:
    """Supported keys in their compose spelling; unsupported compose keys dropped with the
    legacy warning (sanitiseComposeConfig)."""
    found: dict[str, Any] = {}
    dropped = []
    for key, value in service.items():
        name = snake_of.get(key, key)
        if name in UNSUPPORTED_COMPOSE or snake_of.get(_camel(name)) in UNSUPPORTED_COMPOSE:
            dropped.append(key)
            continue
        found.setdefault(name, value)
    if dropped:
        log.warning("Ignoring unsupported or unknown compose fields: %s", ", ".join(dropped))
    return found


def normalised_apps(apps: Any, supported: Iterable[str]) -> Any:
    """The apps with each service normalised (other shapes are left for validation to refuse);
    `supported` are the service keys in their compose spelling."""
    if not isinstance(apps, dict):
        return apps
    snake_of = {_camel(name): name for name in supported if "_" in name}
    result: dict[Any, Any] = {}
    for app_id, app in apps.items():
        if isinstance(app, dict) and isinstance(app.get("services"), (dict, list)):
            app = dict(app)
            app["services"] = (
                {k: _normalised_service(v, snake_of) if isinstance(v, dict) else v for k, v in app["services"].items()}
                if isinstance(app["services"], dict)
                else [_normalised_service(v, snake_of) if isinstance(v, dict) else v for v in app["services"]])
        result[app_id] = app
    return result
