"""balena supervisor v2 API in process (balena-v2.md §1): auth rule, local target state, device routes.

No Docker Engine: routes that need it answer their documented 503; the engine itself is
exercised in tests/integration/test_engine*.py and test_v2*.py. Every response is checked
against spec/balena_v2.yaml by Agent.request.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pytest

from compat.balena.common import APP_NOT_FOUND
from tests.api.support import API_KEY, Agent, Agents, express_etag

STEM = "balena_v2"
KEY = {"Authorization": f"ApiKey {API_KEY}"}
SERVICE = {"serviceName": "one", "image": "local_image_one:latest", "environment": {}, "labels": {},
           "imageId": 1, "running": True, "network_mode": "host", "privileged": True, "tty": True,
           "restart": "always", "volumes": ["data:/data"], "labels_extra": None}
TARGET: dict[str, Any] = {
    "local": {"name": "Home", "config": {"SUPERVISOR_LOCAL_MODE": "1", "RESIN_SUPERVISOR_POLL_INTERVAL": "600000"},
              "apps": {"1": {"name": "localapp", "commit": "localcommit", "releaseId": "1",
                             "services": {"1": {k: v for k, v in SERVICE.items() if k != "labels_extra"}},
                             "volumes": {}, "networks": {}}}},
    "dependent": {"apps": [], "devices": []},
}


def json_of(response: Any, status: int) -> Any:
    assert response.status_code == status, response.content
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["etag"] == express_etag(response.content)
    return json.loads(response.content)


def test_balena_cli_calls_need_no_key_on_a_dev_device(agents: Agents) -> None:
    dev = agents.start(variant="dev")
    for path in ("/v2/version", "/v2/local/target-state", "/v2/device/name"):
        assert dev.request(STEM, "GET", path).status_code == 200, path
    response = dev.request(STEM, "POST", "/v2/local/target-state", json=TARGET)
    assert json_of(response, 200) == {"status": "success", "message": "OK"}


def test_prod_unmanaged_needs_the_key(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v2/version")
    assert (response.status_code, response.content) == (401, b"Unauthorized")
    assert api.request(STEM, "GET", "/v2/version", params={"apikey": API_KEY}).status_code == 200


def test_os_variant_flag_wins_over_os_release(agents: Agents) -> None:
    agent = agents.start("--os-variant", "dev")  # os-release says prod
    assert agent.request(STEM, "GET", "/v2/version").status_code == 200


def test_managed_device_needs_the_key_outside_local_mode(agents: Agents, tmp_path: Path) -> None:
    source = tmp_path / "target.json"
    source.write_text(json.dumps({**TARGET, "local": {**TARGET["local"], "config": {}}}))
    agent = agents.start("--target-url", source.as_uri(), variant="dev")
    assert agent.request(STEM, "GET", "/v2/version").status_code == 401  # managed, not local mode
    response = agent.request(STEM, "GET", "/v2/local/target-state", headers=KEY)
    assert json_of(response, 400) == {"status": "failed",
                                      "message": "Target state can only be retrieved when in local mode"}
    response = agent.request(STEM, "POST", "/v2/local/target-state", headers=KEY, json=TARGET)
    assert json_of(response, 400) == {"status": "failed",
                                      "message": "Target state can only set when device is in local mode"}


def test_version(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v2/version", headers=KEY)
    assert response.content == b'{"status":"success","version":"10.0.0"}'  # the release v10 imitates


def test_reported_version_follows_the_profile_and_the_setting(agents: Agents) -> None:
    """balena-cli's local push refuses supervisors older than 7.21.4: the version is the imitated one."""
    legacy = agents.start("--balena-profile", "legacy", variant="dev")
    assert json.loads(legacy.request(STEM, "GET", "/v2/version").content)["version"] == "2.6.3"
    chosen = agents.start("--supervisor-version", "12.11.0", variant="dev")
    assert json.loads(chosen.request(STEM, "GET", "/v2/version").content)["version"] == "12.11.0"


@pytest.mark.parametrize(("extra", "version"), [("", "10.0.0"), ("rpi-custom.1", "10.0.0+rpi-custom.1")])
def test_version_carries_supervisor_tag_extra(api: Agent, monkeypatch: pytest.MonkeyPatch,
                                              extra: str, version: str) -> None:
    """supervisor-version.ts: `+<SUPERVISOR_TAG_EXTRA>` when the variable is set and not empty."""
    monkeypatch.setenv("SUPERVISOR_TAG_EXTRA", extra)
    response = api.request(STEM, "GET", "/v2/version", headers=KEY)
    assert json.loads(response.content) == {"status": "success", "version": version}


def test_target_state_round_trip(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v2/local/target-state", headers=KEY, json=TARGET)
    assert response.content == b'{"status":"success","message":"OK"}'
    state = json_of(api.request(STEM, "GET", "/v2/local/target-state", headers=KEY), 200)["state"]
    assert state["local"]["name"] == "Home"
    config = state["local"]["config"]
    # formatConfigKeys: RESIN_-prefixed keys come before unprefixed ones
    assert list(config)[:3] == ["SUPERVISOR_POLL_INTERVAL", "SUPERVISOR_LOCAL_MODE", "SUPERVISOR_VPN_CONTROL"]
    assert config["SUPERVISOR_POLL_INTERVAL"] == "600000"  # RESIN_ prefix stripped
    app = state["local"]["apps"]["1"]
    assert (app["appId"], app["name"], app["commit"], app["releaseId"]) == (1, "localapp", "localcommit", 1)
    service = app["services"][0]
    assert service["networkMode"] == "host" and service["privileged"] is True
    assert service["environment"]["BALENA_APP_NAME"] == "localapp"
    assert service["labels"]["io.balena.supervised"] == "true"
    assert state["dependent"] == {"apps": [], "devices": []}
    name = json_of(api.request(STEM, "GET", "/v2/device/name", headers=KEY), 200)
    assert name == {"status": "success", "deviceName": "Home"}


@pytest.mark.parametrize(("body", "message"), [
    ([], "Local state must be an object"),
    ({"local": {"name": "x", "config": {}, "apps": {"1": {"name": "a"}}}}, "Invalid apps"),
    ({"local": {"name": "x", "config": {"A": 1}, "apps": {}}}, "Invalid device configuration"),
    ({"local": {"config": {}, "apps": {}}}, "Cannot set value for name, as value failed validation: undefined"),
    ({"local": {"name": None, "config": {}, "apps": {}}}, "Cannot set value for name, as value failed validation: null"),
    ({"local": {"name": "😀" * 128, "config": {}, "apps": {}}}, "Invalid device name"),  # 256 UTF-16 units
])
def test_target_refused_with_legacy_messages(api: Agent, body: Any, message: str) -> None:
    response = api.request(STEM, "POST", "/v2/local/target-state", headers=KEY, json=body)
    assert json_of(response, 400) == {"status": "failed", "message": message}


def test_bad_json_is_the_express_error_page(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v2/local/target-state", headers={**KEY, "Content-Type": "application/json"},
                           content=b'{"local":')
    assert response.status_code == 400
    assert b"<pre>Bad Request</pre>" in response.content  # express's env was "production" (webpack)


def test_device_info_from_the_boot_partition(api: Agent) -> None:
    missing = api.request(STEM, "GET", "/v2/local/device-info", headers=KEY)
    assert json_of(missing, 503)["message"].startswith("Could not fetch device information: ")
    (api.root / "mnt/boot/device-type.json").write_text('{"slug": "raspberrypi3", "arch": "armv7hf"}')
    response = api.request(STEM, "GET", "/v2/local/device-info", headers=KEY)
    assert response.content == b'{"status":"success","info":{"arch":"armv7hf","deviceType":"raspberrypi3"}}'


# the machine's generic balena device type, as the README documents it
GENERIC = {"x86_64": ("amd64", "genericx86-64-ext"), "aarch64": ("aarch64", "generic-aarch64"),
           "armv7l": ("armv7hf", "generic-armv7ahf")}


@pytest.mark.skipif(platform.machine() not in GENERIC, reason="a machine the README names")
def test_device_info_on_an_image_that_is_not_balena_os(api: Agent) -> None:
    """No device-type.json is expected there: the machine's generic type, so balena push works."""
    (api.root / "etc/os-release").write_text('ID=debian\nNAME="Debian GNU/Linux"\nVARIANT_ID=prod\n')
    arch, slug = GENERIC[platform.machine()]
    response = api.request(STEM, "GET", "/v2/local/device-info", headers=KEY)
    assert json_of(response, 200) == {"status": "success", "info": {"arch": arch, "deviceType": slug}}


def test_device_info_from_the_option(agents: Agents) -> None:
    """--device-type answers on balenaOS without the file too, and wins over the file."""
    agent = agents.start("--device-type", "raspberrypi4-64:aarch64")
    response = agent.request(STEM, "GET", "/v2/local/device-info", headers=KEY)
    assert response.content == b'{"status":"success","info":{"arch":"aarch64","deviceType":"raspberrypi4-64"}}'
    (agent.root / "mnt/boot/device-type.json").write_text('{"slug": "raspberrypi3", "arch": "armv7hf"}')
    response = agent.request(STEM, "GET", "/v2/local/device-info", headers=KEY)
    assert json_of(response, 200)["info"] == {"arch": "aarch64", "deviceType": "raspberrypi4-64"}
    # the local target's services see it as BALENA_DEVICE_TYPE / RESIN_DEVICE_TYPE
    response = agent.request(STEM, "POST", "/v2/local/target-state", headers=KEY, json=TARGET)
    assert response.status_code == 200
    state = json_of(agent.request(STEM, "GET", "/v2/local/target-state", headers=KEY), 200)
    environment = state["state"]["local"]["apps"]["1"]["services"][0]["environment"]
    assert (environment["BALENA_DEVICE_TYPE"], environment["RESIN_DEVICE_TYPE"]) == ("raspberrypi4-64",) * 2


def test_device_tags(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v2/device/tags", headers=KEY)
    assert json_of(response, 503) == {"status": "failed",
                                      "message": "Attempt to communicate with API, without initialized client"}
    body = {**TARGET, "local": {**TARGET["local"], "tags": {"DeviceLocation": "warehouse #3"}}}
    api.request(STEM, "POST", "/v2/local/target-state", headers=KEY, json=body)
    response = api.request(STEM, "GET", "/v2/device/tags", headers=KEY)
    assert json_of(response, 200) == {"status": "success",
                                      "tags": [{"id": 1, "name": "DeviceLocation", "value": "warehouse #3"}]}


@pytest.mark.parametrize("path", ["/v2/state/status", "/v2/applications/state", "/v2/applications/1/state",
                                  "/v2/containerId", "/v2/cleanup-volumes"])
def test_engine_routes_answer_503_json_without_an_engine(api: Agent, path: str) -> None:
    body = json_of(api.request(STEM, "GET", path, headers=KEY), 503)
    assert body["status"] == "failed" and body["message"]


def test_service_action_without_an_engine_is_503_text(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v2/applications/1/stop-service", headers=KEY, json={"serviceName": "x"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_unknown_v2_route_is_cannot_get(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v2/nothing", headers=KEY)
    assert response.status_code == 404 and b"Cannot GET /v2/nothing" in response.content


# the db config `name` defaults to "local" until a target state names the device (balena-v2.md §1.13)
def test_device_name_defaults_to_local(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v2/device/name", headers=KEY)
    assert (response.status_code, response.content) == (200, b'{"status":"success","deviceName":"local"}')


@pytest.mark.parametrize("app_id", ["01", "1abc", "+1", "1_0"])
def test_only_a_canonical_app_id_names_an_app(api: Agent, app_id: str) -> None:
    """The 2019 routes looked the app up by the path's string in an object keyed by number."""
    action = api.request(STEM, "POST", f"/v2/applications/{app_id}/stop-service", headers=KEY,
                         json={"serviceName": "main"})
    assert (action.status_code, action.content) == (404, APP_NOT_FOUND.encode())
    restart = api.request(STEM, "POST", f"/v2/applications/{app_id}/restart", headers=KEY)
    assert (restart.status_code, restart.content) == (503, b"Cannot read property 'services' of undefined")
    purge = api.request(STEM, "POST", f"/v2/applications/{app_id}/purge", headers=KEY)
    assert (purge.status_code, purge.content) == (503, APP_NOT_FOUND.encode())


def test_compose_spellings_the_legacy_took(api: Agent) -> None:
    """camelCase keys, unsupported compose fields (dropped) and the app's own appId are accepted."""
    service = {**{k: v for k, v in SERVICE.items() if k not in ("labels_extra", "network_mode")},
               "networkMode": "host", "container_name": "x", "logging": {"driver": "none"}}
    body = {"local": {**TARGET["local"], "apps": {"1": {**TARGET["local"]["apps"]["1"], "appId": 1,
                                                        "services": {"1": service}}}}}
    response = api.request(STEM, "POST", "/v2/local/target-state", headers=KEY, json=body)
    assert json_of(response, 200) == {"status": "success", "message": "OK"}
