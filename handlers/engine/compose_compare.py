"""Comparison of containers, networks and volumes with their target (the supervisor's isEqualConfig).

comparable() reduces a create config or an inspected container to one normalised form, so a
container the legacy supervisor made is adopted as it is when it equals the target. A target's
form is what the engine will make of it: the image's values merged in as the daemon merges them
(_image_merged), and what the daemon derives or normalises at create applied to both sides
(_derived), so a container made from its target compares equal instead of being recreated
forever (tests/integration/test_engine_compare.py runs every accepted option through dockerd).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from handlers.engine.compose import (
    NAME_AT_INIT,
    UPGRADE_ENV,
    DeviceInfo,
    create_config,
    normalise_labels,
    service_networks,
)

COMPARED_CONFIG = ("Cmd", "Entrypoint", "WorkingDir", "User", "Tty", "Hostname", "Domainname",
                   "StopSignal", "StopTimeout", "Healthcheck", "MacAddress")
COMPARED_HOST = ("NetworkMode", "RestartPolicy", "Privileged", "ShmSize", "IpcMode", "PortBindings",
                 "Dns", "DnsOptions", "DnsSearch", "PidMode", "ReadonlyRootfs", "Sysctls", "Tmpfs",
                 "Ulimits", "UsernsMode", "CpuShares", "CpuQuota", "CpusetCpus", "Memory",
                 "MemoryReservation", "OomKillDisable", "OomScoreAdj", "PidsLimit", "Init",
                 "CgroupParent", "StorageOpt")
# Compared as sets, as the legacy's configArrayFields were (sorted before comparing).
SET_FIELDS = ("Binds", "CapAdd", "CapDrop", "ExtraHosts", "Devices", "GroupAdd", "SecurityOpt")
HEALTHCHECK_KEYS = ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
# Limits the daemon drops at create, with a warning, when the kernel lacks the feature (moby
# daemon/daemon_unix.go verifyPlatformContainerResources): HostConfig field -> the `docker info`
# flag saying the kernel has it. A target asking for one compares as if it had not.
ENGINE_FEATURES = {"Memory": "MemoryLimit", "MemoryReservation": "MemoryLimit", "CpuShares": "CPUShares",
                   "CpuQuota": "CpuCfsQuota", "CpusetCpus": "CPUSet", "PidsLimit": "PidsLimit",
                   "OomKillDisable": "OomKillDisable"}
# moby daemon/config DefaultShmSize: ShmSize 0 in a create config becomes this (balenaEngine's too).
DOCKER_SHM_SIZE = 64 * 1024 * 1024


def _empty(value: Any) -> Any:
    """Docker reports unset values as null, [], {}, "" or 0 depending on the field: one form."""
    if value in (None, [], {}, "", 0, False):
        return None
    if isinstance(value, dict) and value.get("Name") == "" and not value.get("MaximumRetryCount"):
        return None  # RestartPolicy {"Name": "", "MaximumRetryCount": 0}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if _empty(v) is not None} or None
    return value


def _env_map(items: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        found[key] = value
    return found


def _image_merged(config: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """The Config the daemon makes from a create config and its image (moby daemon/commit.go
    merge): empty User/WorkingDir/StopSignal come from the image; the image's Cmd only when
    neither Entrypoint nor Cmd is given (an Entrypoint alone clears it); a Healthcheck is
    completed field by field; environment, labels, ports and volumes are unions."""
    out = dict(config)
    for key in ("User", "WorkingDir", "StopSignal"):
        if not out.get(key):
            out[key] = image_config.get(key)
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = image_config.get("Cmd")
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = image_config.get("Entrypoint")
    image_check = image_config.get("Healthcheck")
    if image_check:
        own = out.get("Healthcheck")
        out["Healthcheck"] = image_check if own is None else \
            {**own, **{k: image_check.get(k) for k in HEALTHCHECK_KEYS if not own.get(k)}}
    out["Env"] = [f"{k}={v}" for k, v in {**_env_map(image_config.get("Env")), **_env_map(config.get("Env"))}.items()]
    out["Labels"] = {**normalise_labels(image_config.get("Labels")), **normalise_labels(config.get("Labels"))}
    for key in ("ExposedPorts", "Volumes"):
        out[key] = {**(image_config.get(key) or {}), **(config.get(key) or {})}
    return out


def _clean_path(path: Any) -> Any:
    """Go's filepath.Clean, which the daemon applies to WorkingDir at create (legacy getWorkingDir
    stripped the trailing slash)."""
    if not path:
        return path
    cleaned = posixpath.normpath(str(path))
    return "/" + cleaned.lstrip("/") if cleaned.startswith("/") else cleaned


def _capability(name: str) -> str:
    """NET_ADMIN, net_admin and CAP_NET_ADMIN are one capability to the daemon."""
    upper = name.upper()
    return upper if upper == "ALL" or upper.startswith("CAP_") else "CAP_" + upper


def _security_opts(host: dict[str, Any]) -> list[str]:
    """SecurityOpt as the daemon stores it: moby daemon/create.go generateSecurityOpt appends
    `label=disable` for privileged, pid: host or ipc: host containers unless an option's part
    before `=` is `label` (the legacy `label:` form does not count, as there)."""
    opts = list(host.get("SecurityOpt") or [])
    shares_host = host.get("Privileged") or host.get("PidMode") == "host" or host.get("IpcMode") == "host"
    if shares_host and not any(opt.split("=", 1)[0] == "label" for opt in opts):
        opts.append("label=disable")
    return opts


def _derived(host: dict[str, Any]) -> dict[str, Any]:
    """HostConfig values as the daemon stores them, whichever side they come from."""
    out: dict[str, Any] = {key: host.get(key) for key in COMPARED_HOST}
    out["ShmSize"] = host.get("ShmSize") or DOCKER_SHM_SIZE
    if (host.get("PidsLimit") or 0) <= 0:
        out["PidsLimit"] = None  # 0 and negative mean unlimited: the daemon stores null
    policy = dict(host.get("RestartPolicy") or {})
    if policy.get("Name") == "no":
        out["RestartPolicy"] = {**policy, "Name": ""}
    if out.get("NetworkMode") == "default":
        out["NetworkMode"] = "bridge"
    out["Ulimits"] = sorted([u.get("Name"), u.get("Soft") or 0, u.get("Hard") or 0] for u in host.get("Ulimits") or [])
    out["Binds"] = [b[:-3] if b.endswith(":rw") and b.count(":") == 2 else b for b in host.get("Binds") or []]
    out["CapAdd"] = [_capability(c) for c in host.get("CapAdd") or []]
    out["CapDrop"] = [_capability(c) for c in host.get("CapDrop") or []]
    out["Devices"] = [json.dumps(d, sort_keys=True) for d in host.get("Devices") or []]
    out["GroupAdd"] = [str(g) for g in host.get("GroupAdd") or []]
    out["SecurityOpt"] = _security_opts(host)
    out["ExtraHosts"] = host.get("ExtraHosts")
    return out


def discarded(info: dict[str, Any]) -> frozenset[str]:
    """The HostConfig fields this engine drops for want of kernel support (from `docker info`)."""
    return frozenset(key for key, flag in ENGINE_FEATURES.items() if info.get(flag) is False)


def comparable(config: dict[str, Any], image: dict[str, Any] | None,
               container_id: str | None = None, networks: list[str] | None = None,
               dropped: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A create config (with the image's inspect) or an inspected container's Config+HostConfig,
    reduced to what decides whether a container must be recreated; `dropped`: fields the engine
    discards (a target's only)."""
    if container_id is None:  # a target: what the daemon takes from the image
        config = _image_merged(config, (image or {}).get("Config") or {})
    out: dict[str, Any] = {}
    for key in COMPARED_CONFIG:
        value = config.get(key)
        if key == "Hostname" and container_id and value == container_id[:12]:
            value = None  # docker's default hostname
        if key == "WorkingDir":
            value = _clean_path(value)
        if key == "StopSignal" and value in (None, "SIGTERM", "15"):
            value = None
        if key == "StopTimeout" and value == 10:
            value = None
        if key == "Healthcheck" and isinstance(value, dict) and value.get("Test") == ["NONE"]:
            # a disabled check is no check, whatever its other fields: v10 sent {Test: [NONE]}
            # when neither the target nor the image had one (compose/utils.ts getHealthcheck)
            value = None
        out[key] = _empty(value)
    env = _env_map(config.get("Env"))
    for key in NAME_AT_INIT + UPGRADE_ENV:
        env.pop(key, None)
    out["Env"] = env
    out["Labels"] = normalise_labels(config.get("Labels"))
    out["ExposedPorts"] = sorted(config.get("ExposedPorts") or {})
    out["Volumes"] = sorted(config.get("Volumes") or {})
    host = _derived({k: v for k, v in (config.get("HostConfig") or {}).items() if k not in dropped})
    for key in COMPARED_HOST:
        out[key] = _empty(host.get(key))
    for key in SET_FIELDS:
        out[key] = sorted(host.get(key) or [])
    if networks is not None:
        out["Networks"] = sorted(networks)
    return out


def prepared(service: dict[str, Any], app_name: str, device: DeviceInfo, image: dict[str, Any] | None,
             dropped: frozenset[str] = frozenset()) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """A target service's create config, the networks it joins after create, and its form."""
    config = create_config(service, app_name, device, str(image["Id"]) if image else None)
    extra = {k: v for k, v in service_networks(service).items() if k != config["HostConfig"]["NetworkMode"]}
    return config, extra, comparable(config, image, None, target_networks(config, extra), dropped)


def target_networks(config: dict[str, Any], extra: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the networks a created container ends up on."""
    mode = config["HostConfig"].get("NetworkMode", "")
    if mode in ("host", "none") or mode.startswith("container:"):
        return []
    return sorted({mode, *extra})


def current_networks(attrs: dict[str, Any]) -> list[str]:
    """Names of the networks an inspected container is on."""
    mode = (attrs.get("HostConfig") or {}).get("NetworkMode", "")
    if mode in ("host", "none") or mode.startswith("container:"):
        return []
    return sorted(((attrs.get("NetworkSettings") or {}).get("Networks") or {}).keys())


def network_form(config: dict[str, Any], from_engine: bool) -> dict[str, Any]:
    """Driver, IPAM subnets (only when the target sets them), IPv6, internal, labels, options."""
    if from_engine:
        ipam = [{k: v for k, v in c.items() if k in ("Subnet", "Gateway", "IPRange")}
                for c in ((config.get("IPAM") or {}).get("Config") or [])]
        return {"driver": config.get("Driver") or "bridge", "ipam": ipam,
                "ipv6": bool(config.get("EnableIPv6")), "internal": bool(config.get("Internal")),
                "labels": {k: v for k, v in (config.get("Labels") or {}).items() if k != "io.balena.supervised"},
                "options": config.get("Options") or {}}
    ipam = [{k: v for k, v in (("Subnet", c.get("subnet")), ("Gateway", c.get("gateway")),
                                ("IPRange", c.get("ip_range"))) if v}
            for c in ((config.get("ipam") or {}).get("config") or [])]
    return {"driver": config.get("driver") or "bridge", "ipam": ipam,
            "ipv6": bool(config.get("enable_ipv6")), "internal": bool(config.get("internal")),
            "labels": dict(config.get("labels") or {}), "options": dict(config.get("driver_opts") or {})}


def networks_differ(target: dict[str, Any], current: dict[str, Any]) -> bool:
    """True when the engine's network must be recreated for the target."""
    want, have = network_form(target, False), network_form(current, True)
    # addresses the engine chose are not a difference: all of them when the target gives none, the
    # IPv4 pool the daemon adds when the target gives only IPv6 subnets
    families = {":" in str(c.get("Subnet", "")) for c in want["ipam"]}
    have["ipam"] = [c for c in have["ipam"] if (":" in str(c.get("Subnet", ""))) in families]
    return want != have


def volumes_differ(target: dict[str, Any], current: dict[str, Any]) -> bool:
    """Volumes compare driver options and labels."""
    labels = {k: v for k, v in (current.get("Labels") or {}).items() if k != "io.balena.supervised"}
    return (dict(target.get("driver_opts") or {}) != dict(current.get("Options") or {})
            or dict(target.get("labels") or {}) != labels)


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys whose values differ (for logs and tests)."""
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
