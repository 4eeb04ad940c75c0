"""Target service -> docker create config, and the comparison that adopts legacy containers."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.engine.compose import (
    DeviceInfo,
    container_name,
    create_config,
    image_name,
    network_mode,
    restart_policy,
    service_networks,
    strategy,
)
from handlers.engine.compose_compare import comparable, differences
from handlers.engine.compose_values import duration_ns, parse_ports, size_bytes

DEVICE = DeviceInfo(uuid="abc123", device_type="raspberrypi3", os_version="balenaOS 2.38.0",
                    supervisor_version="0.1.0", device_name="Home", api_key="key_1", api_port=48484,
                    docker_socket="/var/run/docker.sock")


def service(**extra: Any) -> dict[str, Any]:
    return {"serviceName": "main", "image": "app", "environment": {"A": "1"}, "labels": {},
            "imageId": 12, "appId": 1, "serviceId": 5, "releaseId": 34, **extra}


def env_of(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config["Env"])


def test_names_and_labels() -> None:
    config = create_config(service(labels={"io.resin.update.strategy": "hand-over"}), "app", DEVICE)
    assert container_name(service()) == "main_12_34"
    assert config["Image"] == "app:latest"
    assert config["Labels"] == {"io.balena.supervised": "true", "io.balena.app-id": "1",
                                "io.balena.service-id": "5", "io.balena.service-name": "main",
                                "io.balena.update.strategy": "hand-over"}
    assert strategy(service(labels={"io.resin.update.strategy": "hand-over"})) == "hand-over"
    assert strategy(service(labels={"io.balena.update.strategy": "bogus"})) == "download-then-kill"


def test_environment_defaults_and_user_precedence() -> None:
    env = env_of(create_config(service(environment={"USER": "me"}), "app", DEVICE))
    assert env["USER"] == "me" and env["BALENA_APP_ID"] == "1" and env["RESIN_APP_NAME"] == "app"
    assert env["BALENA_APP_LOCK_PATH"] == "/tmp/balena/updates.lock"
    assert env["BALENA_DEVICE_NAME_AT_INIT"] == "Home"
    assert "BALENA_SUPERVISOR_API_KEY" not in env
    api = env_of(create_config(service(labels={"io.balena.features.supervisor-api": "1"}), "app", DEVICE))
    assert api["BALENA_SUPERVISOR_ADDRESS"] == "http://10.114.104.1:48484"
    assert api["RESIN_SUPERVISOR_API_KEY"] == "key_1"
    host = env_of(create_config(service(network_mode="host",
                                        labels={"io.balena.features.supervisor-api": "1"}), "app", DEVICE))
    assert host["BALENA_SUPERVISOR_HOST"] == "127.0.0.1"


def test_host_config_defaults_binds_and_networks() -> None:
    config = create_config(service(volumes=["data:/data:ro", "/host:/x", "/anon"], ports=["8080:80"]),
                           "app", DEVICE)
    host = config["HostConfig"]
    assert host["Binds"] == ["1_data:/data:ro", "/tmp/balena-supervisor/services/1/main:/tmp/resin",
                             "/tmp/balena-supervisor/services/1/main:/tmp/balena"]
    assert config["Volumes"] == {"/anon": {}}
    assert host["RestartPolicy"] == {"Name": "always"}
    assert (host["ShmSize"], host["IpcMode"], config["Tty"], config["StopTimeout"]) == (64 << 20, "shareable", True, 10)
    assert host["NetworkMode"] == "1_default"
    assert config["NetworkingConfig"] == {"EndpointsConfig": {"1_default": {"Aliases": ["main"]}}}
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}


def test_network_modes() -> None:
    assert network_mode(service(network_mode="host")) == "host"
    assert network_mode(service(network_mode="container:one")) == "1_default"  # ignored in v10.0
    assert network_mode(service(networks=["front", "back"])) == "1_front"
    nets = service_networks(service(networks={"front": {"aliases": ["web"]}, "back": None},
                                    labels={"io.balena.features.supervisor-api": "1"}))
    assert nets == {"1_front": {"Aliases": ["main", "web"]}, "1_back": {"Aliases": ["main"]}, "supervisor0": {}}
    assert service_networks(service(network_mode="host")) == {}


@pytest.mark.parametrize(("value", "policy"), [
    (None, {"Name": "always"}), ("no", {"Name": ""}), ("bogus", {"Name": "always"}),
    ("on-failure:3", {"Name": "on-failure", "MaximumRetryCount": 3}), ("unless-stopped", {"Name": "unless-stopped"}),
])
def test_restart_policy(value: Any, policy: dict[str, Any]) -> None:
    assert restart_policy(value) == policy


def test_values() -> None:
    assert duration_ns("1m30s") == 90 * 10**9 and duration_ns(5) == 5 * 10**9 and duration_ns("500ms") == 5 * 10**8
    assert size_bytes("64m") == 64 << 20 and size_bytes(1000) == 1000
    assert parse_ports(["127.0.0.1:80-81:90-91/udp"])[1]["91/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "81"}]
    assert image_name("reg:5000/a/b") == "reg:5000/a/b:latest"
    assert image_name("a@sha256:" + "0" * 64).endswith("0" * 64)


def inspected(config: dict[str, Any], image: dict[str, Any], container_id: str) -> dict[str, Any]:
    """What docker inspect shows for a container made from `config` (image fields merged, nulls)."""
    image_config = image["Config"]
    merged = dict(config)
    merged["Env"] = image_config["Env"] + [e for e in config["Env"] if "_DEVICE_NAME_AT_INIT" not in e]
    merged["Labels"] = {**image_config.get("Labels", {}), **config["Labels"]}
    merged["Cmd"] = config.get("Cmd") or image_config["Cmd"]
    merged["Hostname"] = container_id[:12]
    host = dict(config["HostConfig"])
    host.update(CapAdd=None, Dns=[], RestartPolicy={"MaximumRetryCount": 0, **host["RestartPolicy"]})
    merged["HostConfig"] = host
    return merged


def test_comparison_adopts_an_equal_container_and_sees_changes() -> None:
    image = {"Config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"from": "image"}}}
    config = create_config(service(), "app", DEVICE)
    current = inspected(config, image, "f" * 64)
    target_form = comparable(config, image)
    assert differences(target_form, comparable(current, None, "f" * 64)) == []
    changed = comparable(create_config(service(environment={"A": "2"}), "app", DEVICE), image)
    assert differences(changed, comparable(current, None, "f" * 64)) == ["Env"]
    renamed = create_config(service(), "app", DeviceInfo(**{**DEVICE.__dict__, "device_name": "Other"}))
    assert differences(comparable(renamed, image), comparable(current, None, "f" * 64)) == []
    # made by the node supervisor 10.0.0 on an older OS: still the same service
    upgraded = DeviceInfo(**{**DEVICE.__dict__, "supervisor_version": "10.0.0", "os_version": "balenaOS 2.29"})
    assert differences(comparable(create_config(service(), "app", upgraded), image),
                       comparable(current, None, "f" * 64)) == []
