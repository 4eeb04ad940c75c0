"""Target-state validation (legacy messages), device-config keys and storage."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from handlers.engine.target import (
    TargetError,
    config_value,
    config_with_defaults,
    filter_config,
    validate,
)
from handlers.engine.target_store import Targets
from handlers.host.identity import Identity
from handlers.store import Store

SERVICE = {"serviceName": "one", "image": "local_image_one:latest", "environment": {}, "labels": {},
           "imageId": 1, "running": True}
STATE: dict[str, Any] = {
    "local": {"name": "Home", "config": {"SUPERVISOR_LOCAL_MODE": "1"},
              "apps": {"1": {"name": "localapp", "commit": "localcommit", "releaseId": "1",
                             "services": {"1": SERVICE}, "volumes": {}, "networks": {}}}},
    "dependent": {"apps": [], "devices": []},
}


def state(**changes: Any) -> dict[str, Any]:
    """STATE with dotted-path changes: state(**{"local.name": 5})."""
    copied = copy.deepcopy(STATE)
    for path, value in changes.items():
        node = copied
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return copied


def refused(body: Any) -> str:
    with pytest.raises(TargetError) as caught:
        validate(body)
    return str(caught.value)


def test_valid_target_is_normalised() -> None:
    target = validate(STATE)
    assert target.name == "Home"
    assert target.config == {"SUPERVISOR_LOCAL_MODE": "1"}
    app = target.apps[1]
    assert (app.name, app.commit, app.release_id) == ("localapp", "localcommit", 1)
    service = app.services[0]
    assert (service["appId"], service["serviceId"], service["imageId"], service["releaseId"]) == (1, 1, 1, 1)


@pytest.mark.parametrize(("body", "message"), [
    ("nope", "State must be an object"),
    ({"local": 3}, "Local state must be an object"),
    (state(**{"local.name": "x" * 256}), "Invalid device name"),
    (state(**{"local.apps": ...}), "Invalid apps"),
    (state(**{"local.apps": {"0": STATE["local"]["apps"]["1"]}}), "Invalid apps"),
    (state(**{"local.apps.1.name": ...}), "Invalid apps"),
    (state(**{"local.apps.1.releaseId": "abc"}), "Invalid apps"),
    (state(**{"local.apps.1.services.1.image": ...}), "Invalid apps"),
    (state(**{"local.apps.1.services.1.imageId": "x"}), "Invalid apps"),
    (state(**{"local.apps.1.services.1.environment": {"1BAD": "x"}}), "Invalid apps"),
    (state(**{"local.apps.1.services.1.environment": {"A": 1}}), "Invalid apps"),
    (state(**{"local.apps.1.services.1.labels": {"-bad": "x"}}), "Invalid apps"),
    (state(**{"local.config": {"A": 1}}), "Invalid device configuration"),
    (state(**{"local.config": ...}), "Invalid device configuration"),
    (state(**{"local.name": ...}), "Cannot set value for name, as value failed validation: undefined"),
    (state(**{"dependent.apps": 5}), "Invalid dependent apps"),
    (state(**{"dependent.devices": "x"}), "Invalid dependent devices"),
])
def test_legacy_messages(body: Any, message: str) -> None:
    assert refused(body) == message


@pytest.mark.parametrize("change", [
    {"local.apps.1.services.1.bogus": 1},                       # unknown field
    {"local.apps.1.services.1.privileged": "yes"},              # wrong type
    {"local.apps.1.services.1.image": "UPPER/Case"},            # bad reference
    {"local.apps.1.services.1.image": "a::b"},
    {"local.apps.1.services.1.ports": ["80-81:90"]},            # uneven range
    {"local.apps.1.services.1.stop_grace_period": "soon"},
    {"local.apps.1.services.2": {**SERVICE, "imageId": 2}},     # duplicate serviceName
    {"local.apps.1.extra": 1},
    {"local.apps.1.volumes": {"data": {"size": "1G"}}},
])
def test_what_cannot_run_is_refused_as_invalid_apps(change: dict[str, Any]) -> None:
    assert refused(state(**change)) == "Invalid apps"


@pytest.mark.parametrize(("change", "service_key", "value"), [
    # the legacy camel-cased every key: networkMode is network_mode
    ({"local.apps.1.services.1.networkMode": "host"}, "network_mode", "host"),
    # known compose fields it did not support were dropped with a warning
    ({"local.apps.1.services.1.container_name": "x", "local.apps.1.services.1.logging": {}}, "container_name", None),
    # an unknown depends_on name waited for nothing
    ({"local.apps.1.services.1.depends_on": ["ghost"]}, "depends_on", ["ghost"]),
    # the app's own appId and a volume driver (always local) were ignored
    ({"local.apps.1.appId": 1, "local.apps.1.volumes": {"data": {"driver": "local"}}}, "serviceName", "one"),
])
def test_what_the_legacy_accepted_is_accepted(change: dict[str, Any], service_key: str, value: Any) -> None:
    service = validate(state(**change)).apps[1].services[0]
    assert service.get(service_key) == value


def test_depends_on_cycle_is_refused() -> None:
    services = {"1": {**SERVICE, "serviceName": "a", "depends_on": ["b"]},
                "2": {**SERVICE, "serviceName": "b", "imageId": 2, "depends_on": ["c"]},
                "3": {**SERVICE, "serviceName": "c", "imageId": 3, "depends_on": ["a"]}}
    assert refused(state(**{"local.apps.1.services": services})) == "Invalid apps"
    services["3"]["depends_on"] = []
    assert [s["serviceName"] for s in validate(state(**{"local.apps.1.services": services})).apps[1].services] \
        == ["a", "b", "c"]


def test_cli_push_fields_are_accepted() -> None:
    service = {**SERVICE, "network_mode": "host", "privileged": True, "tty": True, "restart": "always",
               "volumes": ["data:/data"], "labels": {"io.resin.features.dbus": "1"},
               "image": "registry.local:5000/org/app@sha256:" + "a" * 64}
    validate(state(**{"local.apps.1.services.1": service}))


def test_config_keys_filtered_and_defaults_in_order() -> None:
    given = {"RESIN_SUPERVISOR_POLL_INTERVAL": "1000", "BALENA_OVERRIDE_LOCK": "1", "UNKNOWN": "x",
             "HOST_CONFIG_gpu_mem": "16", "SUPERVISOR_POLL_INTERVAL": "5", "SUPERVISOR_OVERRIDE_LOCK": "0"}
    # BALENA_ keys first, then RESIN_ ones, then plain ones; the first found wins; OVERRIDE_LOCK is
    # kept and copied over SUPERVISOR_OVERRIDE_LOCK; boot-config variables only for their device types
    kept = filter_config(given, "raspberrypi3")
    assert list(kept.items()) == [("OVERRIDE_LOCK", "1"), ("SUPERVISOR_POLL_INTERVAL", "1000"),
                                  ("HOST_CONFIG_gpu_mem", "16"), ("SUPERVISOR_OVERRIDE_LOCK", "1")]
    assert "HOST_CONFIG_gpu_mem" not in filter_config(given, "intel-nuc")
    assert "HOST_CONFIG_gpu_mem" not in filter_config(given)
    assert "HOST_EXTLINUX_isolcpus" in filter_config({"HOST_EXTLINUX_isolcpus": "1"}, "jetson-tx2")
    shown = config_with_defaults({"SUPERVISOR_POLL_INTERVAL": "1"})
    assert list(shown)[:3] == ["SUPERVISOR_POLL_INTERVAL", "SUPERVISOR_VPN_CONTROL", "SUPERVISOR_INSTANT_UPDATE_TRIGGER"]
    assert shown["SUPERVISOR_LOCAL_MODE"] == "false"
    unmanaged = config_with_defaults({"SUPERVISOR_POLL_INTERVAL": "1"}, unmanaged=True)
    assert list(unmanaged)[:3] == ["SUPERVISOR_POLL_INTERVAL", "SUPERVISOR_VPN_CONTROL", "SUPERVISOR_LOCAL_MODE"]
    assert unmanaged["SUPERVISOR_LOCAL_MODE"] == "true"
    assert shown["SUPERVISOR_DELTA_APPLY_TIMEOUT"] == "0"
    assert config_value({"SUPERVISOR_POLL_INTERVAL": "junk"}, "SUPERVISOR_POLL_INTERVAL") == 60000
    assert config_value({"SUPERVISOR_LOCAL_MODE": "on"}, "SUPERVISOR_LOCAL_MODE") is True


def test_storage_round_trip_per_source(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open()
    identity = Identity(store)
    identity.load()
    targets = Targets(store, identity)
    targets.save(validate(STATE), "local")
    assert targets.name() == "Home"
    assert list(targets.apps("local")) == [1]
    assert targets.apps("cloud") == {}
    assert targets.device_config() == {"SUPERVISOR_LOCAL_MODE": "1"}
    targets.save(validate(state(**{"local.apps": {}})), "local")
    assert targets.apps("local") == {}
    store.close()
