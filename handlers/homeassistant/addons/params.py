"""How tag 138 ran an add-on's container (hassio/docker/addon.py): the docker run parameters built
from the add-on's installed config (its `system` entry), its `user` entry and the host, with no
Docker call, so every rule is tested without an engine.

Network (hassio.md §5.3): on the `hassio` bridge (172.30.32.0/23, add-ons in 172.30.33.0/24, alias
= hostname, `homeassistant` and `hassio` in /etc/hosts), or the host's network with `host_network`.
An engine started without bridge networking (dockerd --bridge none, as on the tests' engine) gets
no network made behind its owner's back: the add-on then runs with network_mode none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.errors import InvalidInput

NETWORK = "hassio"  # DOCKER_NETWORK
NETWORK_MASK = "172.30.32.0/23"
NETWORK_RANGE = "172.30.33.0/24"
GATEWAY = "172.30.32.1"  # the host, seen from the bridge: Home Assistant (host network) and this agent
AUDIO_DEVICE = "/dev/snd:/dev/snd:rwm"
RE_VOLUME = re.compile(r"^(config|ssl|addons|backup|share)(?::(rw|:ro))?$")  # 138's, ":ro" typo and all
# map entry -> (folder under the hassio data folder, path in the container)
MAPS = {"config": ("homeassistant", "/config"), "ssl": ("ssl", "/ssl"), "addons": ("addons/local", "/addons"),
        "backup": ("backup", "/backup"), "share": ("share", "/share")}


@dataclass(frozen=True)
class Host:
    """What the host offers add-ons (138's sys_host / sys_hardware), chosen by the caller."""

    data_folder: Path  # the hassio data folder: homeassistant/, ssl/, share/, backup/, addons/
    network: str = NETWORK  # NETWORK (the bridge, 138) or "none" (an engine without bridges)
    apparmor: bool = False  # the host enforces AppArmor (no profiles are loaded here)
    audio: bool = False  # /dev/snd exists
    gpio: bool = False  # /sys/class/gpio exists
    serial: tuple[str, ...] = field(default=())  # serial devices for auto_uart
    docker_socket: str = "/var/run/docker.sock"

    def addon_data(self, slug: str) -> Path:
        """An add-on's /data on the host."""
        return self.data_folder / "addons" / "data" / folder_name(slug)

    def asound(self, slug: str) -> Path:
        """The generated ALSA config of an add-on (138: <tmp>/<slug>_asound)."""
        return self.data_folder / "tmp" / f"{folder_name(slug)}_asound"


def folder_name(slug: str) -> str:
    """slug as one folder name; InvalidInput for one that would leave its folder (a config.json's
    slug or a snapshot's add-on entry naming `..` or a path)."""
    if not slug or slug in (".", "..") or "/" in slug or "\\" in slug or "\0" in slug:
        raise InvalidInput(f"invalid add-on slug {slug!r}")
    return slug


def image_name(config: dict[str, Any], arch: str) -> str:
    """`image` with {arch} filled in, or the local build's <repository>/<arch>-addon-<slug>."""
    if config.get("image"):
        return str(config["image"]).format(arch=arch)
    return f"{config.get('repository', 'local')}/{arch}-addon-{config['slug']}"


def container_name(slug: str) -> str:
    return f"addon_{slug}"


def hostname(slug: str) -> str:
    return slug.replace("_", "-")


def ports(config: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any] | None:
    """The add-on's port mapping as 138's Addon.ports gave it: None with host_network or without
    `ports`; the user's `network` over the config's."""
    if config.get("host_network") or "ports" not in config:
        return None
    if user is None or "network" not in user:
        return dict(config["ports"] or {})
    return dict(user["network"] or {})


def port_bindings(mapping: dict[str, Any] | None) -> dict[str, Any] | None:
    """Null host ports removed (138's DockerAddon.ports); [ip, port] becomes the SDK's (ip, port)
    (the SDK would read a JSON list as two host ports)."""
    if not mapping:
        return None
    bound: dict[str, Any] = {}
    for container_port, host_port in mapping.items():
        if not host_port:
            continue
        if isinstance(host_port, list) and len(host_port) == 2 and isinstance(host_port[0], str):
            host_port = (host_port[0], host_port[1])
        bound[container_port] = host_port
    return bound


def map_volumes(config: dict[str, Any]) -> dict[str, str]:
    """{"config": "rw", "ssl": "ro", ...} from `map` (ro unless `:rw`)."""
    volumes: dict[str, str] = {}
    for entry in config.get("map") or ():
        found = RE_VOLUME.match(entry)
        if found:
            volumes[found.group(1)] = found.group(2) or "ro"
    return volumes


def protected(user: dict[str, Any] | None) -> bool:
    return bool((user or {}).get("protected", True))


def environment(config: dict[str, Any], user: dict[str, Any], timezone: str, token: str | None,
                audio: tuple[str | None, str | None] = (None, None)) -> dict[str, str]:
    """The config's environment, ALSA_OUTPUT/ALSA_INPUT with audio, then TZ and HASSIO_TOKEN."""
    env = {str(k): str(v) for k, v in (config.get("environment") or {}).items()}
    if config.get("audio"):
        output, given = audio
        env.update(ALSA_OUTPUT=str(output or ""), ALSA_INPUT=str(given or ""))
    env["TZ"] = timezone
    env["HASSIO_TOKEN"] = token or ""
    return env


def devices(config: dict[str, Any], host: Host) -> list[str] | None:
    found = list(config.get("devices") or ())
    if config.get("audio") and host.audio:
        found.append(AUDIO_DEVICE)
    if config.get("auto_uart"):
        found += [f"{device}:{device}:rwm" for device in host.serial]
    return found or None


def security_opt(config: dict[str, Any], host: Host, profile: bool = False) -> list[str]:
    """AppArmor unconfined without AppArmor on the host or with `apparmor: false`, the add-on's own
    profile when it has one loaded; seccomp always unconfined (138)."""
    options = []
    if not host.apparmor or not config.get("apparmor", True):
        options.append("apparmor=unconfined")  # 138 wrote apparmor:unconfined, which dockerd no longer takes
    elif profile:
        options.append(f"apparmor={config['slug']}")
    options.append("seccomp=unconfined")
    return options


def volumes(slug: str, config: dict[str, Any], user: dict[str, Any], host: Host) -> dict[str, dict[str, str]]:
    """/data rw, the `map` folders, gpio, device tree, the docker socket, D-Bus and asound.conf."""
    found = {str(host.addon_data(slug)): {"bind": "/data", "mode": "rw"}}
    for name, mode in map_volumes(config).items():
        folder, target = MAPS[name]
        found[str(host.data_folder / folder)] = {"bind": target, "mode": mode}
    if config.get("gpio") and host.gpio:
        for path in ("/sys/class/gpio", "/sys/devices/platform/soc"):
            found[path] = {"bind": path, "mode": "rw"}
    if config.get("devicetree"):
        found["/sys/firmware/devicetree/base"] = {"bind": "/device-tree", "mode": "ro"}
    if not protected(user) and config.get("docker_api"):
        found[host.docker_socket] = {"bind": "/var/run/docker.sock", "mode": "ro"}
    if config.get("host_dbus"):
        found["/var/run/dbus"] = {"bind": "/var/run/dbus", "mode": "rw"}
    if config.get("audio"):
        found[str(host.asound(slug))] = {"bind": "/etc/asound.conf", "mode": "ro"}
    return found


def run_parameters(slug: str, config: dict[str, Any], user: dict[str, Any], host: Host, timezone: str,
                   token: str | None, audio: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """docker-py containers.create keyword arguments as 138's DockerAddon._run passed them, with
    the network decided here: `network` (+ `aliases`, for the endpoint) or `network_mode`."""
    unprotected = not protected(user)
    params: dict[str, Any] = {
        "name": container_name(slug), "hostname": hostname(slug), "detach": True, "init": True,
        "privileged": bool(config.get("full_access")) and unprotected,
        "ipc_mode": "host" if config.get("host_ipc") else None,
        "stdin_open": bool(config.get("stdin")),
        "pid_mode": "host" if config.get("host_pid") and unprotected else None,
        "devices": devices(config, host), "cap_add": list(config.get("privileged") or ()) or None,
        "security_opt": security_opt(config, host),
        "environment": environment(config, user, timezone, token, audio),
        "volumes": volumes(slug, config, user, host),
        "tmpfs": {"/tmpfs": str(config["tmpfs"])} if config.get("tmpfs") else None,
    }
    bindings = port_bindings(ports(config, user))
    if config.get("host_network"):
        # 138 also set dns to the supervisor (dockerd refuses dns here); on the host's network this
        # agent and Home Assistant are the host itself
        params.update(network_mode="host", extra_hosts={"homeassistant": "127.0.0.1", "hassio": "127.0.0.1"})
    elif host.network == NETWORK:
        params.update(network=NETWORK, aliases=[hostname(slug)], ports=bindings, dns_search=["."],
                      extra_hosts={"homeassistant": GATEWAY, "hassio": GATEWAY})
    else:
        params["network_mode"] = "none"  # nothing to publish ports from
    return {key: value for key, value in params.items() if value is not None}


def build_arguments(config: dict[str, Any], build: dict[str, Any], arch: str, version: str) -> dict[str, Any]:
    """docker build's labels and build args as 138's AddonBuild.get_docker_args made them (from
    config.read_build for the arch: build_from, squash, args)."""
    def label(name: str) -> str:
        return str(config.get(name) or "").replace("'", "")  # _fix_label

    labels = {"io.hass.version": version, "io.hass.arch": arch, "io.hass.type": "addon",
              "io.hass.name": label("name"), "io.hass.description": label("description")}
    if config.get("url"):
        labels["io.hass.url"] = str(config["url"])
    base = build.get("build_from") or f"homeassistant/{arch}-base:latest"  # config.read_build: this arch's
    if isinstance(base, dict):
        base = base.get(arch) or f"homeassistant/{arch}-base:latest"
    arguments: dict[str, Any] = {
        "labels": labels,
        "buildargs": {"BUILD_FROM": base, "BUILD_VERSION": version, "BUILD_ARCH": arch,
                      **{str(k): str(v) for k, v in (build.get("args") or {}).items()}}}
    if build.get("squash"):
        arguments["squash"] = True  # only an experimental dockerd takes it: not sent otherwise
    return arguments
