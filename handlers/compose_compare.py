"""Comparison of containers with their target (the supervisor's isEqualConfig).

comparable() reduces a create config or an inspected container to one normalised form, so a
container the legacy supervisor made is adopted as it is when it equals the target.
"""

from __future__ import annotations

from typing import Any

from handlers.compose import NAME_AT_INIT, UPGRADE_ENV, normalise_labels

COMPARED_CONFIG = ("Cmd", "Entrypoint", "WorkingDir", "User", "Tty", "Hostname", "Domainname",
                   "StopSignal", "StopTimeout", "Healthcheck", "MacAddress")
COMPARED_HOST = ("NetworkMode", "RestartPolicy", "Privileged", "ShmSize", "IpcMode", "PortBindings",
                 "Devices", "Dns", "DnsOptions", "DnsSearch", "GroupAdd", "PidMode", "ReadonlyRootfs",
                 "SecurityOpt", "Sysctls", "Tmpfs", "Ulimits", "UsernsMode", "CpuShares", "CpuQuota",
                 "CpusetCpus", "Memory", "MemoryReservation", "OomKillDisable", "OomScoreAdj",
                 "PidsLimit", "Init", "CgroupParent", "StorageOpt")
SET_FIELDS = ("Binds", "CapAdd", "CapDrop", "ExtraHosts")


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


def comparable(config: dict[str, Any], image: dict[str, Any] | None,
               container_id: str | None = None, networks: list[str] | None = None) -> dict[str, Any]:
    """A create config (with the image's inspect) or an inspected container's Config+HostConfig,
    reduced to what decides whether a container must be recreated."""
    image_config = (image or {}).get("Config") or {}
    host = config.get("HostConfig") or {}
    from_image = container_id is None  # a target: fields left unset come from the image
    out: dict[str, Any] = {}
    for key in COMPARED_CONFIG:
        value = config.get(key)
        if from_image and value is None and key in ("Cmd", "Entrypoint", "WorkingDir", "User",
                                                      "StopSignal", "Healthcheck"):
            value = image_config.get(key)
        if key == "Hostname" and container_id and value == container_id[:12]:
            value = None  # docker's default hostname
        if key == "StopSignal" and value in (None, "SIGTERM", "15"):
            value = None
        if key == "StopTimeout" and value == 10:
            value = None
        out[key] = _empty(value)
    env = _env_map(config.get("Env"))
    if from_image:
        env = {**_env_map(image_config.get("Env")), **env}
    for key in NAME_AT_INIT + UPGRADE_ENV:
        env.pop(key, None)
    out["Env"] = env
    found_labels = normalise_labels(config.get("Labels"))
    if from_image:
        found_labels = {**normalise_labels(image_config.get("Labels")), **found_labels}
    out["Labels"] = found_labels
    exposed = set(config.get("ExposedPorts") or {})
    if from_image:
        exposed |= set(image_config.get("ExposedPorts") or {})
    out["ExposedPorts"] = sorted(exposed)
    volumes = set(config.get("Volumes") or {})
    if from_image:
        volumes |= set(image_config.get("Volumes") or {})
    out["Volumes"] = sorted(volumes)
    for key in COMPARED_HOST:
        out[key] = _empty(host.get(key))
    for key in SET_FIELDS:
        out[key] = sorted(host.get(key) or [])
    if networks is not None:
        out["Networks"] = sorted(networks)
    return out


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


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys whose values differ (for logs and tests)."""
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
