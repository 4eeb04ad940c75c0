"""Every compose option the target accepts, through the agent's own code path on the real dockerd:
target -> validate -> create config -> create (+ start) -> inspect -> current form -> compare.

A difference here is a container the reconciler would kill and create again on every poll (the
issue: `balena push` of a plain Dockerfile, privileged + host networking, recreated for ever
because the daemon fills in Hostname and SecurityOpt). The daemon fills in and normalises the
compared fields at create: when this table was written every row was also started (where this
machine allows) and no compared field of any row changed. Rows marked "start" are still started,
for what the daemon does most at start (host namespaces, network joins, working dir, mounts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from handlers.engine.compose import DeviceInfo, container_name, image_name
from handlers.engine.compose_compare import networks_differ, prepared, volumes_differ
from handlers.engine.current import read_current
from handlers.engine.executor import create_container, create_network, create_volume
from handlers.engine.target import SERVICE_FIELDS, validate
from handlers.host.hostfs import HostFS
from integration.engine_support import (
    COMMAND,
    cleanup,
    converged,
    post_target,
    service,
    status,
    supervised,
    target,
    wait_for,
)

RICH_IMAGE = "polyvisor-test/rich:latest"
# what a Dockerfile can give an image: the comparison must take each from it as the daemon does
RICH_CONFIG = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["trap 'exit 0' TERM; sleep 3600 & wait"],
               "WorkingDir": "/srv", "User": "0:0", "StopSignal": "SIGINT", "Env": ["PATH=/bin", "FROM_IMAGE=1"],
               "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000, "Retries": 2},
               "ExposedPorts": {"8000/tcp": {}}, "Volumes": {"/cache": {}}, "Labels": {"from-image": "yes"}}
SUBNET, ADDRESS = "10.213.247.0/24", "10.213.247.10"
NETWORKS = {"front": {"ipam": {"config": [{"subnet": SUBNET, "gateway": "10.213.247.1"}]}, "labels": {"tier": "front"}},
            "back": {"internal": True},
            "v6": {"enable_ipv6": True, "ipam": {"config": [{"subnet": "fd8e:1f0c:7d2a::/64"}]}}}
VOLUMES = {"data": {}, "scratch": {"driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
                                   "labels": {"kind": "scratch"}}}
HOST_PORTS = "create only: starting would listen on the host's own interfaces; PortBindings are fixed at create"
NO_PRIVILEGED = "create only: this machine cannot start privileged containers (no CAP_SYS_RESOURCE)"

# (service name, compose options, how): "create", "start" (created, then started), "create: why it
# is not started", or "refused: why" (the engine refuses the option here; where it accepts it, the
# row is compared like the others).
ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("plain", {}, "start"),
    ("cap-add", {"cap_add": ["NET_ADMIN", "sys_time", "CAP_SYS_NICE"]}, "create"),
    ("cap-drop", {"cap_drop": ["CHOWN", "cap_net_raw"]}, "create"),
    ("cap-drop-all", {"cap_drop": ["ALL"], "cap_add": ["kill"]}, "create"),
    ("cgroup-parent", {"cgroup_parent": "/polyvisor-test-parent"},
     "create: starting would make a cgroup outside the test dockerd's own"),
    ("command-string", {"command": "sleep 3600"}, "create"),
    ("command-empty", {"command": []}, "create"),  # the image's Cmd
    ("entrypoint-only", {"entrypoint": ["sh", "-c", COMMAND[2]], "command": None}, "create"),  # the daemon clears Cmd
    ("entrypoint-empty", {"entrypoint": ""}, "create"),
    ("devices", {"devices": ["/dev/null:/dev/mynull", "/dev/zero", "/dev/full:/dev/full:r"]}, "create"),
    ("dns", {"dns": "192.0.2.53"}, "create"),
    ("dns-list", {"dns": ["192.0.2.53", "192.0.2.54"]}, "create"),
    ("dns-opt", {"dns_opt": ["ndots:2", "timeout:1"]}, "create"),
    ("dns-search", {"dns_search": "example.com"}, "create"),
    ("dns-search-list", {"dns_search": ["a.example.com", "b.example.com"]}, "create"),
    ("tmpfs", {"tmpfs": "/run"}, "create"),
    ("tmpfs-options", {"tmpfs": ["/run:rw,size=64m,mode=1777", "/cache"]}, "create"),
    ("environment", {"environment": {"A": "1", "WORDS": "two words", "EMPTY": ""}}, "create"),
    ("expose", {"expose": ["80", "81/udp", 82]}, "create"),
    ("extra-hosts", {"extra_hosts": ["db:192.0.2.10", "cache:192.0.2.11"]}, "create"),
    ("extra-hosts-map", {"extra_hosts": {"db": "192.0.2.10"}}, "create"),
    ("group-add", {"group_add": ["20", 1000]}, "create"),
    ("healthcheck", {"healthcheck": {"test": "true", "interval": "30s", "timeout": "5s", "retries": 3,
                                     "start_period": "1s"}}, "create"),
    ("healthcheck-cmd", {"healthcheck": {"test": ["CMD", "true"], "interval": "1m30s"}}, "create"),
    ("healthcheck-disable", {"healthcheck": {"disable": True}}, "create"),
    ("init", {"init": True}, "start"),
    ("init-false", {"init": False}, "create"),
    ("labels", {"labels": {"x": "y", "io.resin.features.dbus": "1", "io.balena.features.kernel-modules": "1",
                           "io.balena.features.firmware": "1", "io.balena.features.balena-socket": "1"}}, "create"),
    ("not-running", {"running": False}, "create: the agent creates a service that is not to run, no more"),
    ("depends-on", {"depends_on": ["plain"]}, "create"),
    ("host", {"network_mode": "host"}, "start"),
    ("host-pid", {"network_mode": "host", "pid": "host"}, "start"),
    ("host-hostname", {"network_mode": "host", "hostname": "given"}, "start"),
    ("host-ports", {"network_mode": "host", "ports": ["127.0.0.1:18080:80"]}, "create"),
    ("network-none", {"network_mode": "none"}, "create"),
    ("network-bridge", {"network_mode": "bridge"}, "create"),
    ("network-named", {"network_mode": "front"}, "start"),
    ("network-container", {"network_mode": "container:other"}, "create"),  # ignored with a warning (v10)
    ("networks", {"networks": ["front"]}, "create"),
    ("networks-extra", {"networks": {"front": {"aliases": ["web"], "ipv4_address": ADDRESS}, "default": {},
                                     "back": {}}}, "start"),
    ("networks-v6", {"networks": ["v6"]}, "start"),
    ("pid", {"pid": "host"}, "start"),
    ("pids-limit", {"pids_limit": 100}, "create"),
    ("pids-unlimited", {"pids_limit": -1}, "create"),
    ("pids-zero", {"pids_limit": 0}, "create"),
    ("ports-expose", {"ports": ["80", "81/udp"]}, "create"),
    ("ports-loopback", {"ports": ["127.0.0.1::80"]}, "start"),  # an ephemeral port on loopback
    ("ports", {"ports": ["18080:80"]}, f"create: {HOST_PORTS}"),
    ("ports-ip-udp", {"ports": ["127.0.0.1:18081:81/udp"]}, f"create: {HOST_PORTS}"),
    ("ports-range", {"ports": ["18090-18091:90-91"]}, f"create: {HOST_PORTS}"),
    ("security-opt", {"security_opt": ["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined"]}, "create"),
    ("security-opt-label", {"security_opt": ["label=disable"]}, "create"),
    ("security-opt-old-label", {"pid": "host", "security_opt": ["label:disable"]}, "create"),
    ("stop-grace-period", {"stop_grace_period": "1m30s"}, "create"),
    ("stop-grace-seconds", {"stop_grace_period": 5}, "create"),
    ("stop-signal", {"stop_signal": "SIGINT"}, "create"),
    ("stop-signal-term", {"stop_signal": "SIGTERM"}, "create"),
    ("storage-opt", {"storage_opt": {"size": "1G"}},
     "refused: the daemon takes storage_opt only on overlay over xfs with pquota"),
    ("sysctls", {"sysctls": {"net.ipv4.ip_forward": "1", "net.core.somaxconn": 1024}}, "create"),
    ("sysctls-list", {"sysctls": ["net.ipv4.tcp_syncookies=0"]}, "create"),
    ("ulimits", {"ulimits": {"nofile": 1024}}, "create"),
    ("ulimits-soft-hard", {"ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512}}, "create"),
    ("userns-mode", {"userns_mode": "host"}, "create"),
    ("volumes", {"volumes": ["data:/data", "scratch:/scratch:ro", "/anonymous", "data:/rw:rw"]}, "start"),
    ("restart-no", {"restart": "no"}, "create"),
    ("restart-unless-stopped", {"restart": "unless-stopped"}, "create"),
    ("restart-on-failure", {"restart": "on-failure"}, "create"),
    ("restart-on-failure-3", {"restart": "on-failure:3"}, "create"),
    ("restart-invalid", {"restart": "sometimes"}, "create"),
    ("cpu-shares", {"cpu_shares": 512}, "create"),
    ("cpu-quota", {"cpu_quota": 50000}, "create"),
    ("cpus", {"cpus": 0.5}, "create"),
    ("cpuset", {"cpuset": "0"}, "create"),
    ("domainname", {"domainname": "example.com"}, "create"),
    ("hostname", {"hostname": "myhost"}, "create"),
    ("ipc-private", {"ipc": "private"}, "create"),
    ("ipc-shareable", {"ipc": "shareable"}, "create"),
    ("ipc-none", {"ipc": "none"}, "create"),
    ("ipc-host", {"ipc": "host"}, "start"),
    ("mac-address", {"mac_address": "02:42:ac:1f:f7:99"}, "create"),
    ("mem-limit", {"mem_limit": "64m"}, "create"),
    ("mem-reservation", {"mem_reservation": "32m"}, "create"),
    ("oom-kill-disable", {"oom_kill_disable": True, "mem_limit": "64m"}, "create"),
    ("oom-score-adj", {"oom_score_adj": 100}, "create"),
    ("privileged", {"privileged": True}, f"create: {NO_PRIVILEGED}"),
    ("privileged-host", {"privileged": True, "network_mode": "host"}, f"create: {NO_PRIVILEGED}"),
    ("read-only", {"read_only": True}, "create"),
    ("shm-size", {"shm_size": "128m"}, "create"),
    ("shm-size-zero", {"shm_size": 0}, "create"),  # the daemon's default
    ("user", {"user": 1000}, "create"),
    ("user-group", {"user": "1000:1000"}, "create"),
    ("working-dir", {"working_dir": "/tmp/"}, "create"),
    ("working-dir-dots", {"working_dir": "/tmp/../var"}, "start"),
    ("tty", {"tty": False}, "create"),
    # an image with its own Entrypoint, Cmd, WorkingDir, User, StopSignal, Healthcheck, ports...
    ("rich", {"image": RICH_IMAGE}, "start"),
    ("rich-command", {"image": RICH_IMAGE, "command": "sleep 3600"}, "create"),
    ("rich-entrypoint", {"image": RICH_IMAGE, "entrypoint": ["sleep", "3600"]}, "create"),
    ("rich-healthcheck-interval", {"image": RICH_IMAGE, "healthcheck": {"interval": "10s"}}, "create"),
    ("rich-healthcheck-test", {"image": RICH_IMAGE, "healthcheck": {"test": "false", "timeout": "3s"}}, "create"),
    ("rich-healthcheck-disable", {"image": RICH_IMAGE, "healthcheck": {"disable": True}}, "create"),
    ("rich-user-empty", {"image": RICH_IMAGE, "user": ""}, "create"),
    ("rich-working-dir", {"image": RICH_IMAGE, "working_dir": "/srv/x/"}, "start"),
    ("rich-stop-signal", {"image": RICH_IMAGE, "stop_signal": "SIGTERM"}, "create"),
    ("rich-merged", {"image": RICH_IMAGE, "expose": ["9000"], "environment": {"FROM_IMAGE": "2"},
                     "labels": {"from-image": "no"}, "volumes": ["/cache", "/more"]}, "create"),
]
# what the supervisor itself carries in a service: no compose option
METADATA = {"imageId", "serviceName", "appId", "releaseId", "serviceId", "imageName", "createdAt", "commit"}


def test_the_table_has_every_option_the_target_accepts() -> None:
    covered = {key for _, options, _ in ROWS for key in options} | {"image", "command", "environment", "labels"}
    assert covered == set(SERVICE_FIELDS) - METADATA


@pytest.fixture
def rich_image(docker_client: Any, busybox_image: str) -> Iterator[str]:
    """An image whose config sets what a Dockerfile can (docker commit with a config)."""
    made = docker_client.api.create_container(busybox_image, ["true"], network_disabled=True)
    try:
        docker_client.api.commit(made["Id"], repository=RICH_IMAGE.split(":")[0], tag="latest", conf=RICH_CONFIG)
    finally:
        docker_client.api.remove_container(made["Id"])
    yield RICH_IMAGE
    docker_client.api.remove_image(RICH_IMAGE, force=True)


def services(busybox_image: str) -> dict[int, dict[str, Any]]:
    """The rows as target services (one each)."""
    found = {}
    for number, (name, options, _) in enumerate(ROWS, start=1):
        service = {"serviceName": name, "imageId": number, "image": busybox_image, "environment": {}, "labels": {},
                   **({} if options.get("image") else {"command": COMMAND}), **options}
        found[number] = {k: v for k, v in service.items() if v is not None}
    return found


def test_every_option_compares_equal_after_create(docker_client: Any, docker_host: str, busybox_image: str,
                                                  rich_image: str, host_root: Path) -> None:
    cleanup(docker_client)
    app = validate(target(services(busybox_image), networks=NETWORKS, volumes=VOLUMES)).apps[1]
    device = DeviceInfo(uuid="a" * 32, device_type="raspberrypi3", os_version="balenaOS 2.38.0+rev1",
                        supervisor_version="10.0.0", device_name="Home", api_key="k" * 32, api_port=48484,
                        docker_socket=docker_host.removeprefix("unix://"), root=str(host_root),
                        hostname=HostFS(host_root).hostname())
    how = {name: mode for name, _, mode in ROWS}
    try:
        for name, conf in {"default": {}, **app.networks}.items():
            create_network(docker_client, f"1_{name}", conf)
        for name, conf in app.volumes.items():
            create_volume(docker_client, f"1_{name}", conf)
        forms, to_start, refused = {}, [], {}
        for service in app.services:
            image = docker_client.api.inspect_image(image_name(service["image"]))
            config, extra, forms[service["serviceName"]] = prepared(service, app.name, device, image)
            try:
                made = create_container(docker_client, config, container_name(service), extra)
            except Exception as err:  # noqa: BLE001 - the table says which options the engine may refuse
                refused[service["serviceName"]] = str(err)
                continue
            if how[service["serviceName"]] == "start":
                to_start.append(made)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(docker_client.api.start, to_start))
        current = read_current(docker_client)
        found = {c.service_name: c.form for c in current.containers}
        assert {n: e for n, e in refused.items() if not how[n].startswith("refused")} == {}
        assert sorted(found) == sorted(n for n, _, _ in ROWS if n not in refused)
        assert len(to_start) == sum(mode == "start" for _, _, mode in ROWS)
        changes = {name: {k: (form.get(k), forms[name].get(k)) for k in form if form.get(k) != forms[name].get(k)}
                   for name, form in found.items()}
        assert {name: diff for name, diff in changes.items() if diff} == {}
        assert found["host"]["Hostname"] == "polyvisor-test"  # the device's name, as legacy hostnameOnHost
        for name, conf in {"default": {}, **app.networks}.items():
            assert not networks_differ(conf, current.networks[(1, name)]), name
        for name, conf in app.volumes.items():
            assert not volumes_differ(conf, current.volumes[(1, name)]), name
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:  # ~100 containers: their removal is half the time
            list(pool.map(lambda c: c.remove(force=True, v=True), supervised(docker_client)))
        cleanup(docker_client)


# the balena CLI's service for a project with only a Dockerfile, less `privileged` (this machine
# cannot start privileged containers) and the supervisor-api label (no supervisor0 bridge needed)
PUSHED = {"network_mode": "host", "restart": "always", "volumes": ["resin-data:/data"],
          "labels": {"io.resin.features.kernel-modules": "1", "io.resin.features.firmware": "1",
                     "io.resin.features.dbus": "1", "io.resin.features.resin-api": "1"}}


def test_host_namespaces_keep_one_container_through_a_minute_of_polls(
        start_agent: Callable[..., Any], clean_engine: Any, busybox_image: str) -> None:
    agent = start_agent(args=["--log-level", "info"])
    body = target({1: service("main", 11, busybox_image, **PUSHED),
                   2: service("pidhost", 12, busybox_image, network_mode="host", pid="host"),
                   3: service("ipchost", 13, busybox_image, ipc="host"),
                   4: service("probe", 14, busybox_image)},
                  config={"SUPERVISOR_POLL_INTERVAL": "1000"})  # a poll a second: ~60 comparisons
    assert post_target(agent, body).status_code == 200
    wait_for(converged(agent, 4, "c1"), what="four running services")
    ids = {c.name: c.id for c in supervised(clean_engine)}
    states = []
    end = time.monotonic() + 60
    while time.monotonic() < end:
        state = status(agent)
        assert all(c["status"] == "Running" for c in state["containers"]), state
        assert {c.name: c.id for c in supervised(clean_engine)} == ids
        # none was ever replaced (the recreate guard would stop a loop after 3, and it must never need to)
        assert "Killing service" not in agent.log.read_text()
        states.append(state["appState"])  # `applying` while a poll compares (as legacy), else applied
        time.sleep(1)
    assert states.count("applied") >= len(states) / 2, states  # a loop never reaches applied
    main = clean_engine.containers.get("main_11_1")
    assert main.attrs["Config"]["Hostname"] == "polyvisor-test"  # the device's (--root/etc/hostname)
    assert main.attrs["HostConfig"]["Privileged"] is False
    # the loop polled all along: a container removed behind its back is back at the next poll
    clean_engine.containers.get("probe_14_1").remove(force=True)
    wait_for(lambda: {c.name for c in supervised(clean_engine)} == set(ids), timeout=10, what="probe recreated")
    log = agent.log.read_text()
    assert " changes: " not in log and "Killing service" not in log and "recreated" not in log, log[-3000:]
