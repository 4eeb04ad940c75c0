"""Comparison of containers with their target for what the engine fills in (handlers/engine/compose_compare.py).

data/privileged_host_inspect.json is a real `docker inspect` (Docker 20.10.24) of the container
`balena push` of a plain Dockerfile gets: the balena CLI's default service (privileged, host
networking, the feature labels, resin-data) created through create_config by an agent that did not
set a hostname, so the daemon put the host's name in Config.Hostname and `label=disable` in
SecurityOpt. It was created but not started: this machine cannot start privileged containers (its
capability set lacks CAP_SYS_RESOURCE); neither field changes at start. The private dockerd's
data and exec roots in it were rewritten to /var/lib/docker and /var/run/docker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handlers.engine.compose import DeviceInfo, create_config
from handlers.engine.compose_compare import comparable, differences, discarded, networks_differ, prepared
from handlers.engine.current import container_from

RECORDED = json.loads((Path(__file__).parent / "data" / "privileged_host_inspect.json").read_text())


def device(hostname: str) -> DeviceInfo:
    return DeviceInfo(uuid="a" * 32, device_type="raspberrypi3", os_version="balenaOS 2.38.0+rev1",
                      supervisor_version="10.0.0", device_name="Home", api_key="k" * 32, api_port=48484,
                      docker_socket="/var/run/balena.sock", hostname=hostname)


def target_form(service: dict[str, Any], hostname: str) -> dict[str, Any]:
    return prepared(service, "app", device(hostname), RECORDED["image"])[2]


def test_the_recording_shows_what_the_daemon_filled_in() -> None:
    attrs = RECORDED["container"]
    assert attrs["HostConfig"]["Privileged"] is True and attrs["HostConfig"]["NetworkMode"] == "host"
    assert attrs["Config"]["Hostname"] == RECORDED["host_hostname"]
    assert attrs["HostConfig"]["SecurityOpt"] == ["label=disable"]
    assert "SecurityOpt" not in create_config(RECORDED["service"], "app", device(""), RECORDED["image"]["Id"])["HostConfig"]


def test_a_privileged_host_networked_container_equals_its_target() -> None:
    current = container_from(RECORDED["container"])
    assert current is not None
    assert differences(current.form, target_form(RECORDED["service"], RECORDED["host_hostname"])) == []


def test_host_networking_takes_the_device_hostname_unless_the_target_sets_one() -> None:
    service = RECORDED["service"]
    current = container_from(RECORDED["container"])
    assert current is not None
    # the device was renamed: the container is recreated once with the new name (legacy hostnameOnHost)
    assert differences(current.form, target_form(service, "renamed")) == ["Hostname"]
    assert create_config(service, "app", device("renamed"))["Hostname"] == "renamed"
    given = {**service, "hostname": "given"}
    assert create_config(given, "app", device("renamed"))["Hostname"] == "given"
    # other network modes keep the daemon's default (the container id's first 12 characters)
    bridged = {k: v for k, v in service.items() if k != "network_mode"}
    assert "Hostname" not in create_config(bridged, "app", device("renamed"))


def test_a_label_option_of_the_target_is_still_compared() -> None:
    current = container_from(RECORDED["container"])
    assert current is not None
    own_label = {**RECORDED["service"], "security_opt": ["label=level:s0"]}
    assert differences(current.form, target_form(own_label, RECORDED["host_hostname"])) == ["SecurityOpt"]
    unprivileged = {**RECORDED["service"], "privileged": False}
    assert differences(current.form, target_form(unprivileged, RECORDED["host_hostname"])) == \
        ["Privileged", "SecurityOpt"]


def test_label_disable_is_derived_as_the_daemon_does() -> None:
    def opts(**host: Any) -> list[str]:
        return list(comparable({"HostConfig": host}, None, "f" * 64)["SecurityOpt"])

    assert opts(PidMode="host") == opts(IpcMode="host") == opts(Privileged=True) == ["label=disable"]
    assert opts(PidMode="host", SecurityOpt=["label=user:u"]) == ["label=user:u"]
    # the old `label:` separator is not a label option to the daemon: it adds its own
    assert opts(PidMode="host", SecurityOpt=["label:disable"]) == ["label:disable", "label=disable"]
    assert opts(IpcMode="shareable", PidMode="container:x") == []


def test_an_ipv4_pool_the_daemon_adds_to_an_ipv6_network_is_no_difference() -> None:
    target = {"enable_ipv6": True, "ipam": {"config": [{"subnet": "fd00:1::/64"}]}}
    engine = {"Driver": "bridge", "EnableIPv6": True, "Labels": {"io.balena.supervised": "true"},
              "IPAM": {"Config": [{"Subnet": "172.28.0.0/16", "Gateway": "172.28.0.1"}, {"Subnet": "fd00:1::/64"}]}}
    assert not networks_differ(target, engine)
    assert networks_differ({**target, "ipam": {"config": [{"subnet": "fd00:2::/64"}]}}, engine)
    assert networks_differ({"ipam": {"config": [{"subnet": "10.9.0.0/16"}]}}, engine)


def test_limits_the_engine_discards_for_want_of_kernel_support_are_no_difference() -> None:
    # the recorded container as a kernel without CFS quota or memory cgroup leaves it: the daemon
    # dropped the limits with a warning; `docker info` says which it drops
    current = container_from(RECORDED["container"])
    assert current is not None
    limited = {**RECORDED["service"], "cpu_quota": 50000, "mem_limit": "64m", "cpu_shares": 512}
    image = RECORDED["image"]
    full = prepared(limited, "app", device(RECORDED["host_hostname"]), image)[2]
    assert differences(current.form, full) == ["CpuQuota", "CpuShares", "Memory"]
    dropped = discarded({"CpuCfsQuota": False, "MemoryLimit": False, "CPUShares": True, "OomKillDisable": True})
    assert dropped == {"CpuQuota", "Memory", "MemoryReservation"}
    partial = prepared(limited, "app", device(RECORDED["host_hostname"]), image, dropped)[2]
    assert differences(current.form, partial) == ["CpuShares"]
