"""A target service becomes a docker create config, named and labelled as the balena supervisor did.

balena-v2.md 2.1-2.6: `<serviceName>_<imageId>_<releaseId>`, `io.balena.*` labels, BALENA_/RESIN_
environment, lock-folder binds, `<appId>_<name>` networks and volumes, restart `always`, shm 64m,
tty on, ipc shareable. comparable() reduces a create config or an inspected container to the
same normalised form, so containers made by the legacy supervisor are adopted when equal.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from handlers.engine.compose_values import (
    duration_ns,
    healthcheck,
    parse_devices,
    parse_ports,
    size_bytes,
    ulimits,
)

log = logging.getLogger("polyvisor.compose")

LOCK_ROOT = "/tmp/balena-supervisor/services"
SUPERVISOR_NETWORK = "supervisor0"
SUPERVISOR_SUBNET = "10.114.104.0/25"
SUPERVISOR_GATEWAY = "10.114.104.1"
NAME_AT_INIT = ("BALENA_DEVICE_NAME_AT_INIT", "RESIN_DEVICE_NAME_AT_INIT")
# Not compared: an agent or OS upgrade (node supervisor -> polyvisor) must not recreate the apps.
UPGRADE_ENV = ("BALENA_SUPERVISOR_VERSION", "RESIN_SUPERVISOR_VERSION", "BALENA_HOST_OS_VERSION",
               "RESIN_HOST_OS_VERSION")
RESTART_POLICIES = ("always", "unless-stopped", "on-failure", "no")
STRATEGIES = ("download-then-kill", "kill-then-download", "delete-then-download", "hand-over")


@dataclass(frozen=True)
class DeviceInfo:
    """What the environment of a service says about the device."""

    uuid: str
    device_type: str
    os_version: str
    supervisor_version: str
    device_name: str
    api_key: str
    api_port: int
    docker_socket: str
    root: str = "/"
    hostname: str = ""  # the host's (HostFS.hostname): host-networked services get it by default

    def host_path(self, path: str) -> str:
        """A host path as docker must see it (under --root in tests, itself on a device)."""
        return path if self.root in ("", "/") else self.root.rstrip("/") + path


def normalise_labels(labels: dict[str, str] | None) -> dict[str, str]:
    """io.resin.* -> io.balena.* (resin -> balena inside the key too)."""
    out: dict[str, str] = {}
    for key, value in (labels or {}).items():
        if key.startswith("io.resin."):
            key = "io.balena." + key[len("io.resin."):].replace("resin", "balena")
        out[key] = value
    return out


def image_name(image: str) -> str:
    """`name` -> `name:latest`; digests and image ids stay as they are."""
    if image.startswith("sha256:") or "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else image + ":latest"


def container_name(service: dict[str, Any]) -> str:
    """<serviceName>_<imageId>_<releaseId>."""
    return f"{service['serviceName']}_{service['imageId']}_{service.get('releaseId')}"


def strategy(service: dict[str, Any]) -> str:
    """The update strategy label (download-then-kill when missing or unknown)."""
    value = normalise_labels(service.get("labels")).get("io.balena.update.strategy", "")
    return value if value in STRATEGIES else "download-then-kill"


def network_mode(service: dict[str, Any]) -> str:
    """host/bridge/none as given; else <appId>_<first network> or <appId>_default."""
    app_id = service["appId"]
    mode = service.get("network_mode")
    if mode in ("host", "bridge", "none"):
        return str(mode)
    if mode and mode.split(":", 1)[0] in ("service", "container"):
        # v10.0.0 dropped these with a warning (service: arrived in v10.1.0)
        log.warning("Ignoring network_mode %s of service %s", mode, service["serviceName"])
    elif mode:
        return f"{app_id}_{mode}"
    networks = service.get("networks")
    if networks:
        first = networks[0] if isinstance(networks, list) else next(iter(networks))
        return f"{app_id}_{first}"
    return f"{app_id}_default"


def service_networks(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Docker network name -> endpoint config (aliases: the service name first)."""
    mode = network_mode(service)
    if mode in ("host", "none") or mode.startswith("container:"):
        return {}
    if mode == "bridge":
        return {"bridge": {}}
    app_id, name = service["appId"], service["serviceName"]
    found: dict[str, dict[str, Any]] = {}
    given = service.get("networks") or {}
    items = {n: {} for n in given} if isinstance(given, list) else given
    if not items:
        items = {mode.split("_", 1)[1]: {}}
    for net, conf in items.items():
        conf = conf or {}
        endpoint: dict[str, Any] = {"Aliases": [name, *[a for a in conf.get("aliases", []) if a != name]]}
        ipam = {k: v for k, v in (("IPv4Address", conf.get("ipv4_address")),
                                  ("IPv6Address", conf.get("ipv6_address"))) if v}
        if ipam:
            endpoint["IPAMConfig"] = ipam
        found[f"{app_id}_{net}"] = endpoint
    if _has_label(service, "io.balena.features.supervisor-api"):
        found[SUPERVISOR_NETWORK] = {}
    return found


def _has_label(service: dict[str, Any], name: str) -> bool:
    return normalise_labels(service.get("labels")).get(name) not in (None, "0", "false")


def named_volumes(service: dict[str, Any]) -> list[str]:
    """The app-level volume names a service mounts (`name:/path`)."""
    names = []
    for spec in service.get("volumes") or []:
        source = spec.split(":", 1)[0] if ":" in spec else ""
        if source and not source.startswith("/") and not source.startswith("."):
            names.append(source)
    return names


def environment(service: dict[str, Any], app_name: str, device: DeviceInfo) -> dict[str, str]:
    """User environment > supervisor defaults (image env is merged by docker); feature vars last."""
    env = dict(service.get("environment") or {})
    defaults: dict[str, str] = {}
    for ns in ("BALENA", "RESIN"):
        for key, value in (("APP_ID", str(service["appId"])), ("APP_NAME", app_name),
                           ("SERVICE_NAME", service["serviceName"]), ("DEVICE_UUID", device.uuid),
                           ("DEVICE_TYPE", device.device_type), ("HOST_OS_VERSION", device.os_version),
                           ("SUPERVISOR_VERSION", device.supervisor_version),
                           ("APP_LOCK_PATH", "/tmp/balena/updates.lock")):
            defaults[f"{ns}_{key}"] = value
        defaults[ns] = "1"
    defaults["RESIN_SERVICE_KILL_ME_PATH"] = "/tmp/balena/handover-complete"
    defaults["BALENA_SERVICE_HANDOVER_COMPLETE_PATH"] = "/tmp/balena/handover-complete"
    defaults["USER"] = "root"
    for key, value in defaults.items():
        env.setdefault(key, value)
    if _has_label(service, "io.balena.features.supervisor-api"):
        host = "127.0.0.1" if network_mode(service) == "host" else SUPERVISOR_GATEWAY
        for ns in ("BALENA", "RESIN"):
            env[f"{ns}_SUPERVISOR_PORT"] = str(device.api_port)
            env[f"{ns}_SUPERVISOR_API_KEY"] = device.api_key
            env[f"{ns}_SUPERVISOR_HOST"] = host
            env[f"{ns}_SUPERVISOR_ADDRESS"] = f"http://{host}:{device.api_port}"
    if _has_label(service, "io.balena.features.balena-socket"):
        env.setdefault("DOCKER_HOST", f"unix://{device.docker_socket}")
    return env


def binds(service: dict[str, Any], device: DeviceInfo) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """(Binds, anonymous Volumes): `<appId>_name` volumes, lock folders, feature-label binds."""
    app_id = service["appId"]
    found: list[str] = []
    anonymous: dict[str, dict[str, Any]] = {}
    for spec in service.get("volumes") or []:
        parts = spec.split(":")
        if len(parts) == 1:
            anonymous[parts[0]] = {}
        elif parts[0].startswith("/") or parts[0].startswith("."):
            log.warning("Ignoring invalid bind mount %s", spec)
        else:
            found.append(":".join([f"{app_id}_{parts[0]}", *parts[1:]]))
    lock_dir = device.host_path(f"{LOCK_ROOT}/{app_id}/{service['serviceName']}")
    found += [f"{lock_dir}:/tmp/resin", f"{lock_dir}:/tmp/balena"]
    if _has_label(service, "io.balena.features.dbus"):
        found.append(f"{device.host_path('/run/dbus')}:/host/run/dbus")
    for feature, path in (("kernel-modules", "/lib/modules"), ("firmware", "/lib/firmware")):
        if _has_label(service, f"io.balena.features.{feature}"):
            found.append(f"{device.host_path(path)}:{path}")
    if _has_label(service, "io.balena.features.balena-socket"):
        found.append(f"{device.docker_socket}:{device.docker_socket}")
        if device.docker_socket != "/var/run/balena.sock":
            found.append(f"{device.docker_socket}:/var/run/balena.sock")
    return found, anonymous


def labels(service: dict[str, Any]) -> dict[str, str]:
    """The supervisor's four labels, then the user's (user wins)."""
    out = {"io.balena.supervised": "true", "io.balena.app-id": str(service["appId"]),
           "io.balena.service-id": str(service["serviceId"]),
           "io.balena.service-name": service["serviceName"]}
    out.update(normalise_labels(service.get("labels")))
    return out


def restart_policy(value: Any) -> dict[str, Any]:
    """restart: always by default and for invalid values; `no` -> an empty policy name."""
    name, _, count = str(value or "always").partition(":")
    if name not in RESTART_POLICIES:
        name = "always"
    policy: dict[str, Any] = {"Name": "" if name == "no" else name}
    if name == "on-failure" and count.isdigit():
        policy["MaximumRetryCount"] = int(count)
    return policy


def _list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _cmd(value: Any) -> list[str] | None:
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    return _list(value)


def create_config(service: dict[str, Any], app_name: str, device: DeviceInfo,
                  image_id: str | None = None, at_creation: bool = True) -> dict[str, Any]:
    """The body of POST /containers/create for a target service (name: container_name())."""
    found_binds, anonymous = binds(service, device)
    mode = network_mode(service)
    networks = service_networks(service)
    env = environment(service, app_name, device)
    if at_creation:
        for key in NAME_AT_INIT:
            env[key] = device.device_name
    exposed, port_bindings = parse_ports(service.get("ports") or [])
    for port in service.get("expose") or []:
        exposed.setdefault(str(port) if "/" in str(port) else f"{port}/tcp", {})
    host: dict[str, Any] = {
        "Binds": found_binds, "NetworkMode": mode, "RestartPolicy": restart_policy(service.get("restart")),
        "Privileged": bool(service.get("privileged", False)),
        "ShmSize": size_bytes(service.get("shm_size", "64m")),
        "IpcMode": service.get("ipc", "shareable"),
        "PortBindings": port_bindings, "CapAdd": service.get("cap_add"), "CapDrop": service.get("cap_drop"),
        "Devices": parse_devices(service.get("devices") or []), "Dns": _list(service.get("dns")),
        "DnsOptions": service.get("dns_opt"), "DnsSearch": _list(service.get("dns_search")),
        "ExtraHosts": _extra_hosts(service.get("extra_hosts")),
        "GroupAdd": _list(service.get("group_add")), "PidMode": service.get("pid"),
        "ReadonlyRootfs": bool(service.get("read_only", False)), "SecurityOpt": service.get("security_opt"),
        "Sysctls": _sysctls(service.get("sysctls")), "Tmpfs": _tmpfs(service.get("tmpfs")),
        "Ulimits": ulimits(service.get("ulimits")), "UsernsMode": service.get("userns_mode"),
        "CpuShares": service.get("cpu_shares"), "CpuQuota": service.get("cpu_quota"),
        "CpusetCpus": service.get("cpuset"),
        "NanoCpus": int(float(service["cpus"]) * 1e9) if service.get("cpus") is not None else None,
        "Memory": size_bytes(service.get("mem_limit", 0)),
        "MemoryReservation": size_bytes(service.get("mem_reservation", 0)),
        "OomKillDisable": service.get("oom_kill_disable"), "OomScoreAdj": service.get("oom_score_adj"),
        "PidsLimit": service.get("pids_limit"), "Init": service.get("init"),
        "CgroupParent": service.get("cgroup_parent"), "StorageOpt": service.get("storage_opt"),
    }
    config: dict[str, Any] = {
        "Image": image_id or image_name(service["image"]),
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": labels(service),
        "Tty": bool(service.get("tty", True)),
        "StopTimeout": int(duration_ns(service.get("stop_grace_period", "10s")) // 1_000_000_000),
        "HostConfig": {k: v for k, v in host.items() if v is not None},
    }
    for key, field, convert in (("Cmd", "command", _cmd), ("Entrypoint", "entrypoint", _cmd),
                                ("WorkingDir", "working_dir", str), ("User", "user", str),
                                ("Hostname", "hostname", str), ("Domainname", "domainname", str),
                                ("StopSignal", "stop_signal", str), ("MacAddress", "mac_address", str)):
        if service.get(field) is not None:
            config[key] = convert(service[field])
    if mode == "host" and not config.get("Hostname") and device.hostname:
        # fromComposeObject: the host's name unless the target sets one (the daemon would put
        # its own there, which the comparison could not tell from a changed target)
        config["Hostname"] = device.hostname
    if service.get("healthcheck") is not None:
        config["Healthcheck"] = healthcheck(service["healthcheck"])
    if exposed:
        config["ExposedPorts"] = exposed
    if anonymous:
        config["Volumes"] = anonymous
    if networks and mode in networks:
        config["NetworkingConfig"] = {"EndpointsConfig": {mode: networks[mode]}}
    return config


def _extra_hosts(value: Any) -> list[str] | None:
    if isinstance(value, dict):
        return [f"{k}:{v}" for k, v in value.items()]
    return _list(value)


def _sysctls(value: Any) -> dict[str, str] | None:
    if isinstance(value, list):
        return dict(item.split("=", 1) for item in value if "=" in item)
    return {k: str(v) for k, v in value.items()} if value else None


def _tmpfs(value: Any) -> dict[str, str] | None:
    items = _list(value)
    if not items:
        return None
    return {i.split(":", 1)[0]: (i.split(":", 1)[1] if ":" in i else "") for i in items}


def internal_form(service: dict[str, Any], app_name: str, device: DeviceInfo,
                  image_id: str | None) -> dict[str, Any]:
    """The camel-cased service GET /v2/local/target-state shows (not round-trippable, as legacy)."""
    found_binds, _ = binds(service, device)
    out: dict[str, Any] = {
        "appId": service["appId"], "serviceId": service["serviceId"],
        "serviceName": service["serviceName"], "imageId": service["imageId"],
        "releaseId": service.get("releaseId"), "commit": service.get("commit"),
        "image": image_id or image_name(service["image"]),
        "imageName": image_name(service["image"]),
        "running": service.get("running", True),
        "environment": environment(service, app_name, device), "labels": labels(service),
        "networkMode": network_mode(service),
        "networks": {k: {"aliases": v.get("Aliases", [])} for k, v in service_networks(service).items()},
        "volumes": found_binds, "restart": service.get("restart", "always"),
        "privileged": bool(service.get("privileged", False)), "tty": bool(service.get("tty", True)),
        "dependsOn": list(service.get("depends_on") or []),
    }
    skip = {"environment", "labels", "network_mode", "networks", "volumes", "restart", "privileged",
            "tty", "depends_on", "image", "running"}
    for key, value in service.items():
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        if key not in skip and camel not in out:
            out[camel] = value
    return out
