"""The target state: validation (legacy messages) and storage in the database.

A target arrives in the 2019 local-mode format (balena-v2.md 1.10, 2.1):
{"local": {"name", "config": {KEY: str}, "apps": {"<appId>": App}}, "dependent": {...}}.
validate() refuses what the legacy validateState refused, with its messages, and also what
the legacy accepted only to fail on later (unknown fields, wrong compose types, bad image
references, duplicate service names, depends_on cycles): those answer its `Invalid apps`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.engine.device_config import (  # noqa: F401  (re-exported for callers)
    CONFIG_KEYS,
    KEYS_BY_NAME,
    config_value,
    config_with_defaults,
    filter_config,
    parse_int,
    truthy,
)
from handlers.engine.target_input import normalised_apps
from handlers.errors import InvalidInput

log = logging.getLogger("polyvisor.target")

ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9\.\-]*$")

# distribution/reference's grammar (name[:tag][@digest]); a bare image id is also accepted.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
IMAGE_REF = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")
IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


class TargetError(InvalidInput):
    """The target was refused; the message is the legacy one."""


# ---- validation ----

def _is_object(value: Any) -> bool:
    """lodash _.isObject for JSON values: objects and arrays."""
    return isinstance(value, (dict, list))


def _entries(value: Any) -> Iterator[tuple[Any, Any]]:
    """lodash _.every's (value, key) pairs: array keys are numbers, not strings."""
    return iter(value.items()) if isinstance(value, dict) else iter(enumerate(value))


def _short_text(value: Any) -> bool:
    """isValidShortText: a string of at most 255 UTF-16 code units (JavaScript's length)."""
    return isinstance(value, str) and len(value.encode("utf-16-le")) // 2 <= 255


def _valid_map(value: Any, key_pattern: re.Pattern[str]) -> bool:
    if not _is_object(value):
        return False
    return all(_short_text(k) and key_pattern.match(k) and isinstance(v, str) for k, v in _entries(value))


def _positive_id(key: Any) -> bool:
    """isValidShortText(id) && checkInt(id): 0 and non-numbers are refused."""
    return _short_text(key) and bool(parse_int(key))


def _str_or_list(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v))


def _list_of(*types: type) -> Any:
    return lambda v: isinstance(v, list) and all(isinstance(i, types) and not isinstance(i, bool) for i in v)


def _str_dict(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool)
                                       for x in v.values())


def _number_or_str(v: Any) -> bool:
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _networks(v: Any) -> bool:
    if isinstance(v, list):
        return all(isinstance(i, str) for i in v)
    return isinstance(v, dict) and all(x is None or isinstance(x, dict) for x in v.values())


def _ulimits(v: Any) -> bool:
    return isinstance(v, dict) and all(
        _int(x) or (isinstance(x, dict) and set(x) <= {"soft", "hard"} and all(_int(y) for y in x.values()))
        for x in v.values())


def _healthcheck(v: Any) -> bool:
    allowed = {"test", "interval", "timeout", "retries", "start_period", "disable"}
    return isinstance(v, dict) and set(v) <= allowed and ("test" not in v or _str_or_list(v["test"]))


def _any_id(v: Any) -> bool:
    return parse_int(v) is not None


# The compose fields service.ts understood in 2019, and what each may hold.
SERVICE_FIELDS: dict[str, Any] = {
    "cap_add": _list_of(str), "cap_drop": _list_of(str), "command": _str_or_list,
    "cgroup_parent": lambda v: isinstance(v, str), "devices": _list_of(str), "dns": _str_or_list,
    "dns_opt": _list_of(str), "dns_search": _str_or_list, "tmpfs": _str_or_list,
    "entrypoint": _str_or_list, "environment": lambda v: True, "expose": _list_of(str, int),
    "extra_hosts": lambda v: _list_of(str)(v) or _str_dict(v), "group_add": _list_of(str, int),
    "healthcheck": _healthcheck, "image": lambda v: True, "init": _bool, "labels": lambda v: True,
    "running": _bool, "network_mode": lambda v: isinstance(v, str), "networks": _networks,
    "pid": lambda v: isinstance(v, str), "pids_limit": _int, "ports": _list_of(str, int),
    "security_opt": _list_of(str), "stop_grace_period": _number_or_str,
    "stop_signal": lambda v: isinstance(v, str), "storage_opt": _str_dict,
    "sysctls": lambda v: _str_dict(v) or _list_of(str)(v), "ulimits": _ulimits,
    "userns_mode": lambda v: isinstance(v, str), "volumes": _list_of(str),
    "restart": lambda v: isinstance(v, str), "cpu_shares": _int, "cpu_quota": _int,
    "cpus": _number_or_str, "cpuset": lambda v: isinstance(v, str),
    "domainname": lambda v: isinstance(v, str), "hostname": lambda v: isinstance(v, str),
    "ipc": lambda v: isinstance(v, str), "mac_address": lambda v: isinstance(v, str),
    "mem_limit": _number_or_str, "mem_reservation": _number_or_str, "oom_kill_disable": _bool,
    "oom_score_adj": _int, "privileged": _bool, "read_only": _bool, "shm_size": _number_or_str,
    "user": lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
    "working_dir": lambda v: isinstance(v, str), "tty": _bool,
    # metadata the supervisor itself carries in a service
    "imageId": _any_id, "serviceName": lambda v: True, "appId": _any_id, "releaseId": _any_id,
    "serviceId": _any_id, "imageName": lambda v: isinstance(v, str), "depends_on": _list_of(str),
    "createdAt": lambda v: isinstance(v, str), "commit": lambda v: v is None or isinstance(v, str),
}
APP_FIELDS = {"name", "commit", "releaseId", "services", "volumes", "networks", "appId"}
# `driver` is taken and ignored, as the 2019 Volume did (volumes are always local)
VOLUME_FIELDS = {"driver", "driver_opts", "labels"}
NETWORK_FIELDS = {"driver", "driver_opts", "ipam", "enable_ipv6", "internal", "labels"}


def _service_ok(service: Any, service_id: Any) -> bool:
    """isValidService: the five required keys with their checks."""
    if not _positive_id(service_id) or not isinstance(service, dict):
        return False
    required = ("serviceName", "image", "environment", "imageId", "labels")
    if any(k not in service for k in required):
        return False
    return (_short_text(service["serviceName"]) and _short_text(service["image"])
            and _valid_map(service["environment"], ENV_KEY) and parse_int(service["imageId"]) is not None
            and _valid_map(service["labels"], LABEL_KEY))


def _strict_problem(app_id: str, app: dict[str, Any]) -> str | None:
    """What the legacy let through but cannot run: a reason, or None."""
    unknown = set(app) - APP_FIELDS
    if unknown:
        return f"app {app_id}: unknown fields {sorted(unknown)}"
    names: dict[str, str] = {}
    services = app["services"] if isinstance(app["services"], dict) else dict(_entries(app["services"]))
    for service_id, service in services.items():
        unknown = set(service) - set(SERVICE_FIELDS)
        if unknown:
            return f"service {service_id}: unknown fields {sorted(unknown)}"
        for name, check in SERVICE_FIELDS.items():
            if name in service and not check(service[name]):
                return f"service {service_id}: bad value for {name}"
        problem = _value_problem(service)
        if problem:
            return f"service {service_id}: {problem}"
        image = service["image"]
        if not (IMAGE_REF.match(image) or IMAGE_ID.match(image)):
            return f"service {service_id}: bad image reference {image!r}"
        if service["serviceName"] in names or not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
                                                             service["serviceName"]):
            return f"service {service_id}: duplicate or bad service name {service['serviceName']!r}"
        names[service["serviceName"]] = str(service_id)
    graph = {s["serviceName"]: list(s.get("depends_on") or []) for s in services.values()}
    for name, deps in graph.items():
        missing = [d for d in deps if d not in graph]
        if missing:  # the legacy waited only for services of the target: an unknown name is no wait
            log.warning("service %s: depends_on names no service of the app: %s", name, missing)
    cycle = _find_cycle({name: [d for d in deps if d in graph] for name, deps in graph.items()})
    if cycle:
        return f"depends_on cycle: {' -> '.join(cycle)}"
    for kind, fields in (("volumes", VOLUME_FIELDS), ("networks", NETWORK_FIELDS)):
        value = app.get(kind, {})
        if not isinstance(value, dict):
            return f"app {app_id}: {kind} must be an object"
        for name, item in value.items():
            if not isinstance(item, dict) or set(item) - fields or not re.match(r"^[a-zA-Z0-9][\w.-]*$", name):
                return f"app {app_id}: bad {kind[:-1]} {name!r}"
    return None


def _value_problem(service: dict[str, Any]) -> str | None:
    """Durations, sizes and ports the engine could not take."""
    from handlers.engine.compose_values import duration_ns, healthcheck, parse_ports, size_bytes

    checks: list[tuple[str, Any]] = [("stop_grace_period", duration_ns), ("shm_size", size_bytes), ("mem_limit", size_bytes),
              ("mem_reservation", size_bytes), ("ports", parse_ports), ("healthcheck", healthcheck)]
    for name, parse in checks:
        if name in service:
            try:
                parse(service[name])
            except (ValueError, TypeError, AttributeError, OverflowError):  # Infinity is no size either
                return f"bad value for {name}"
    if "cpus" in service:
        try:
            if not math.isfinite(float(service["cpus"])):
                return "bad value for cpus"
        except (ValueError, TypeError):
            return "bad value for cpus"
    return None


def _find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@dataclass
class AppTarget:
    """One target application, as stored."""

    app_id: int
    name: str
    commit: str | None
    release_id: int | None
    services: list[dict[str, Any]]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Target:
    """A validated target state."""

    name: str
    config: dict[str, str]
    apps: dict[int, AppTarget]


def validate(state: Any, device_type: str | None = None) -> Target:
    """validateState + what the legacy failed on later; TargetError(legacy message). The device
    type decides which boot-config variables the config keeps."""
    if not _is_object(state):
        raise TargetError("State must be an object")
    local = state.get("local") if isinstance(state, dict) else None
    if not _is_object(local):
        raise TargetError("Local state must be an object")
    local_map = local if isinstance(local, dict) else {}
    if local_map.get("name") is not None and not _short_text(local_map["name"]):
        raise TargetError("Invalid device name")
    apps = normalised_apps(local_map.get("apps"), SERVICE_FIELDS)
    if apps is None or not _apps_ok(apps):
        raise TargetError("Invalid apps")
    config = local_map.get("config")
    if config is None or not _valid_map(config, re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")):
        raise TargetError("Invalid device configuration")
    dependent = state.get("dependent") if isinstance(state, dict) else None
    if dependent is not None:
        _check_dependent(dependent)
    for app_id, app in _entries(apps):
        problem = _strict_problem(str(app_id), app)
        if problem:
            log.warning("target refused: %s", problem)
            raise TargetError("Invalid apps")
    name = local_map.get("name")
    if name is None:
        # config.set({name}) failed the schema check after validation passed (util.inspect of the value)
        shown = "null" if "name" in local_map else "undefined"
        raise TargetError(f"Cannot set value for name, as value failed validation: {shown}")
    return Target(name=name, config=filter_config(dict(_entries(config)), device_type),
                  apps={int(parse_int(k) or 0): _app_target(k, v) for k, v in _entries(apps)})


def _apps_ok(apps: Any) -> bool:
    if not _is_object(apps):
        return False
    for app_id, app in _entries(apps):
        if not _positive_id(app_id) or not isinstance(app, dict):
            return False
        if "name" not in app or not _short_text(app["name"]):
            return False
        if app.get("releaseId") is not None and parse_int(app["releaseId"]) is None:
            return False
        if "services" not in app or not _is_object(app["services"]):
            return False
        if not all(_service_ok(s, sid) for sid, s in _entries(app["services"])):
            return False
    return True


def _check_dependent(dependent: Any) -> None:
    if not isinstance(dependent, dict):
        return
    for key, message in (("apps", "Invalid dependent apps"), ("devices", "Invalid dependent devices")):
        value = dependent.get(key)
        if value is None:
            continue
        if not _is_object(value) or any(not isinstance(v, dict) for _, v in _entries(value)):
            raise TargetError(message)
        if len(value):
            # dependent devices (the proxyvisor) are not supported: say so instead of ignoring them
            raise TargetError(message)


def _app_target(app_id: Any, app: dict[str, Any]) -> AppTarget:
    number = int(parse_int(app_id) or 0)
    release = parse_int(app.get("releaseId"))
    commit = app.get("commit")
    services = []
    for service_id, service in _entries(app["services"]):
        item = dict(service)
        # the key wins over a serviceId inside the service (applications.setTarget)
        item.update(appId=number, serviceId=int(parse_int(service_id) or 0), releaseId=release,
                    commit=commit, imageId=int(parse_int(service["imageId"]) or 0))
        services.append(item)
    return AppTarget(number, app["name"], commit if isinstance(commit, str) else None, release, services,
                     dict(app.get("networks") or {}), dict(app.get("volumes") or {}))
