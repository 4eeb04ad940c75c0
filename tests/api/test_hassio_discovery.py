"""hassio /discovery, /services and /auth in process (hassio.md §2.3 items 4-5, §2.5, §3.7-3.8),
with a stand-in Home Assistant on 127.0.0.1 recording the supervisor's calls.

Every response is checked against spec/hassio.yaml by Agent.request.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from handlers.homeassistant.tokens import AddonGrant
from tests.api.support import MACHINE_ID, Agent, Agents
from tests.hassio_core import StandInCore, wait_for

STEM = "hassio"
UNKNOWN = "Unknown Error, see logs"
SERVER_ERROR = (b"<html><head><title>500 Internal Server Error</title></head><body>"
                b"<h1>500 Internal Server Error</h1>Server got itself in trouble</body></html>")
MQTT = {"host": "172.30.32.5", "port": 1883, "username": "homeassistant", "password": "p4ss"}
GRANTS = {
    "mosquitto": AddonGrant("core_mosquitto", "a" * 64, discovery=("mqtt",), services=("mqtt:provide",)),
    "want": AddonGrant("local_zigbee", "b" * 64, services=("mqtt:want",)),
    "plain": AddonGrant("local_plain", "c" * 64, discovery=("mqtt",)),
    "auth": AddonGrant("local_nginx", "d" * 64, auth_api=True),
}


@dataclass
class Setup:
    """The agent, the stand-in Home Assistant and the callers' tokens."""

    agent: Agent
    core: StandInCore
    ha: str

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-HASSIO-KEY": token, **kwargs.pop("headers", {})}
        return self.agent.request(STEM, method, path, headers=headers, **kwargs)

    def addon(self, name: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(method, path, GRANTS[name].access_token, **kwargs)


@pytest.fixture
def setup(agents: Agents) -> Iterator[Setup]:
    core = StandInCore().start()
    try:
        agent = agents.start("--dialects", "hassio", "--hassio-core-url", core.url)
        services = agent.client.app.services
        for grant in GRANTS.values():
            services.hassio_tokens.save_grant(grant)
        services.hassio_core.save({"refresh_token": core.refresh_token})  # as HA posts it to /homeassistant/options
        yield Setup(agent, core, services.hassio_tokens.homeassistant_token())
    finally:
        core.stop()


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["result"] == "ok"
    return body["data"]


def refused(response: httpx.Response, message: str | None) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {"result": "error", "message": message}


def server_error(response: httpx.Response) -> None:
    assert (response.status_code, response.content) == (500, SERVER_ERROR)
    assert response.headers["content-type"] == "text/html; charset=utf-8"



# -- discovery ------------------------------------------------------------------------------------


def test_discovery_round_trip_pushes_to_home_assistant(setup: Setup) -> None:
    sent = {**MQTT, "port": "1883"}  # kept as sent: 138 stored the caller's config, not the validated one
    uuid = ok(setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt", "config": sent}))["uuid"]
    assert re.fullmatch(r"[0-9a-f]{32}", uuid)
    push = wait_for(lambda: setup.core.calls_to("/api/hassio_push/"), what="the push")[0]
    assert (push.method, push.path) == ("POST", f"/api/hassio_push/discovery/{uuid}")
    assert push.body == {"addon": "core_mosquitto", "service": "mqtt", "uuid": uuid}
    assert push.headers["authorization"] == f"Bearer {setup.core.access_token}"  # via /auth/token
    message = {"addon": "core_mosquitto", "service": "mqtt", "uuid": uuid, "config": sent}
    assert ok(setup.call("GET", f"/discovery/{uuid}", setup.ha)) == message
    assert ok(setup.call("GET", "/discovery", setup.ha)) == {"discovery": [message]}

    again = setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt", "config": MQTT})
    assert ok(again) == {"uuid": uuid}  # same (addon, service): the old message, config unchanged
    assert ok(setup.call("GET", f"/discovery/{uuid}", setup.ha))["config"] == sent

    assert ok(setup.addon("mosquitto", "DELETE", f"/discovery/{uuid}")) == {}
    removal = wait_for(lambda: [c for c in setup.core.calls_to("/api/hassio_push/") if c.method == "DELETE"],
                       what="the removal push")[0]
    assert removal.body == {"addon": "core_mosquitto", "service": "mqtt", "uuid": uuid}
    assert len([c for c in setup.core.calls_to("/api/hassio_push/") if c.method == "POST"]) == 1
    refused(setup.call("GET", f"/discovery/{uuid}", setup.ha), "Discovery message not found")
    assert ok(setup.call("GET", "/discovery", setup.ha)) == {"discovery": []}


def test_no_push_while_home_assistant_is_down(setup: Setup) -> None:
    setup.core.stop()
    uuid = ok(setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt", "config": MQTT}))["uuid"]
    assert ok(setup.call("GET", f"/discovery/{uuid}", setup.ha))["uuid"] == uuid  # kept all the same


@pytest.mark.parametrize(("body", "message"), [
    ({}, "required key not provided @ data['service']. Got None"),
    ({"service": "zwave", "config": {}}, "value is not allowed for dictionary value @ data['service']. Got 'zwave'"),
    ({"service": "mqtt", "config": [1]}, "not a valid value for dictionary value @ data['config']. Got [1]"),
    ({"service": "mqtt", "config": {}, "x": 1}, "extra keys not allowed @ data['x']. Got 1"),
])
def test_discovery_body_is_validated(setup: Setup, body: dict[str, Any], message: str) -> None:
    refused(setup.addon("mosquitto", "POST", "/discovery", json=body), message)


@pytest.mark.parametrize("config", [
    None, {}, {"host": "h"}, {"host": "h", "port": 0}, {"host": "h", "port": 65536}, {"host": "h", "port": "x"},
    {"host": "h", "port": 1883, "protocol": "5"}, {"host": "h", "port": 1883, "ssl": "maybe"},
    {"host": "h", "port": 1883, "extra": 1},
])
def test_an_invalid_mqtt_config_is_unknown_error(setup: Setup, config: Any) -> None:
    refused(setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt", "config": config}), UNKNOWN)
    assert ok(setup.call("GET", "/discovery", setup.ha)) == {"discovery": []}


def test_discovery_permissions(setup: Setup) -> None:
    for token in (GRANTS["mosquitto"].access_token, MACHINE_ID):
        refused(setup.call("GET", "/discovery", token), "Only HomeAssistant can use this API!")
    refused(setup.addon("want", "POST", "/discovery", json={"service": "mqtt", "config": MQTT}),
            "Can't use discovery!")
    uuid = ok(setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt", "config": MQTT}))["uuid"]
    # the uuid is looked up before the caller is checked
    refused(setup.addon("want", "GET", "/discovery/" + "0" * 32), "Discovery message not found")
    refused(setup.addon("want", "GET", f"/discovery/{uuid}"), "Only HomeAssistant can use this API!")
    refused(setup.addon("plain", "DELETE", f"/discovery/{uuid}"), "Can't remove discovery message")
    refused(setup.call("DELETE", "/discovery/" + "0" * 32, setup.ha), "Discovery message not found")


@pytest.mark.parametrize("token", ["ha", MACHINE_ID])
def test_add_on_routes_called_by_home_assistant_are_500(setup: Setup, token: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """138 read add-on attributes off Home Assistant's (or the host's) object: AttributeError, 500.
    Expected here, so logged as one line, no traceback (the fuzz tests fail on any)."""
    token = setup.ha if token == "ha" else token
    uuid = ok(setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt", "config": MQTT}))["uuid"]
    server_error(setup.call("POST", "/discovery", token, json={"service": "mqtt", "config": MQTT}))
    server_error(setup.call("DELETE", f"/discovery/{uuid}", token))
    for method in ("GET", "DELETE"):
        server_error(setup.call(method, "/services/mqtt", token))
    server_error(setup.call("POST", "/services/mqtt", token, json=MQTT))
    server_error(setup.call("POST", "/auth", token, auth=("alice", "s3cret")))
    # validation runs first, so a bad body is still its 400
    refused(setup.call("POST", "/discovery", token, json={}), "required key not provided @ data['service']. Got None")
    assert not [r for r in caplog.records if r.exc_info]


def test_discovery_without_config_is_500(setup: Setup) -> None:
    """138's send() was called without its config argument: TypeError, aiohttp's 500."""
    server_error(setup.addon("mosquitto", "POST", "/discovery", json={"service": "mqtt"}))


def test_invalid_json_is_400(setup: Setup) -> None:
    refused(setup.addon("mosquitto", "POST", "/discovery", content=b"{nope"), "Invalid json")


# -- services -------------------------------------------------------------------------------------


def test_mqtt_service_record(setup: Setup) -> None:
    listing = {"slug": "mqtt", "available": False, "providers": ["core_mosquitto"]}
    assert ok(setup.call("GET", "/services", setup.ha)) == {"services": [listing]}
    refused(setup.addon("want", "GET", "/services/mqtt"), "Service not enabled")
    assert ok(setup.addon("mosquitto", "POST", "/services/mqtt", json={"host": "core-mosquitto", "port": "1883"})) == {}
    record = {"host": "core-mosquitto", "port": 1883, "ssl": False, "protocol": "3.1.1", "addon": "core_mosquitto"}
    assert ok(setup.addon("want", "GET", "/services/mqtt")) == record
    assert ok(setup.addon("plain", "GET", "/services")) == {"services": [{**listing, "available": True}]}
    refused(setup.addon("mosquitto", "POST", "/services/mqtt", json=MQTT), UNKNOWN)  # set already
    refused(setup.addon("want", "DELETE", "/services/mqtt"), "No access to write mqtt service!")
    assert ok(setup.addon("mosquitto", "DELETE", "/services/mqtt")) == {}
    refused(setup.addon("mosquitto", "DELETE", "/services/mqtt"), UNKNOWN)  # nothing to remove
    refused(setup.addon("want", "GET", "/services/mqtt"), "Service not enabled")


def test_service_access_and_names(setup: Setup) -> None:
    for method in ("GET", "DELETE"):
        refused(setup.addon("plain", method, "/services/mqtt"), "No access to mqtt service!")
        refused(setup.addon("plain", method, "/services/zwave"), "Service does not exist")
    refused(setup.addon("plain", "POST", "/services/mqtt", json=MQTT), "No access to mqtt service!")
    # 138 checks only that the add-on has a role on the service before a write (provide: delete)
    assert ok(setup.addon("want", "POST", "/services/mqtt", json=MQTT)) == {}
    assert ok(setup.addon("mosquitto", "GET", "/services/mqtt"))["addon"] == "local_zigbee"


@pytest.mark.parametrize(("body", "message"), [
    ({"port": 1883}, "required key not provided @ data['host']. Got None"),
    ({"host": "h", "port": 0}, "value must be at least 1 for dictionary value @ data['port']. Got 0"),
    ({"host": "h", "port": 1, "protocol": "5"}, "value is not allowed for dictionary value @ data['protocol']. Got '5'"),
])
def test_service_body_is_validated_before_access(setup: Setup, body: dict[str, Any], message: str) -> None:
    refused(setup.addon("plain", "POST", "/services/mqtt", json=body), message)


# -- auth -----------------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auth_is_forwarded_to_home_assistant(setup: Setup) -> None:
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    forwarded = setup.core.calls_to("/api/hassio_auth")[-1]
    assert forwarded.body == {"username": "alice", "password": "s3cret", "addon": "local_nginx"}
    refused(setup.addon("auth", "POST", "/auth", headers=basic("alice", "wrong")), None)
    json_type = {"Content-Type": "application/json"}
    assert ok(setup.addon("auth", "POST", "/auth", content=b'{"user": "alice", "password": "s3cret"}',
                          headers=json_type)) == {}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert ok(setup.addon("auth", "POST", "/auth", content=b"username=alice&password=s3cret", headers=form)) == {}
    assert ok(setup.addon("auth", "POST", "/auth", content=b"username=alice;password=s3cret", headers=form)) == {}


@pytest.mark.parametrize(("headers", "body", "message"), [
    ({}, b"", "Auth method not detected!"),
    ({"Content-Type": "application/json; charset=utf-8"}, b'{"username": "alice", "password": "s3cret"}',
     "Auth method not detected!"),  # 138 compared the whole header
    ({"Content-Type": "application/json"}, b'{"username": "alice"}', UNKNOWN),  # no password: AuthError
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"username=alice", UNKNOWN),
])
def test_auth_needs_credentials(setup: Setup, headers: dict[str, str], body: bytes, message: str) -> None:
    refused(setup.addon("auth", "POST", "/auth", content=body, headers=headers), message)


@pytest.mark.parametrize(("headers", "body"), [
    ({"Authorization": "Bearer abc"}, b""),
    ({"Authorization": "Basic abc"}, b""),  # bad padding: binascii.Error
    ({"Authorization": ""}, b""),
    ({"Content-Type": "application/json"}, b"{nope"),
    ({"Content-Type": "application/json"}, b"[1, 2]"),
])
def test_auth_input_138_choked_on_is_500(setup: Setup, headers: dict[str, str], body: bytes) -> None:
    server_error(setup.addon("auth", "POST", "/auth", content=body, headers=headers))


def test_base64_junk_is_an_empty_login() -> None:
    """b64decode without validate drops what is not base64: `Basic !!!` is login "" password ""."""
    from compat.hassio.auth import basic as decode

    assert decode("Basic !!!") == ("", "")
    assert decode("basic " + base64.b64encode(b"a:b:c").decode()) == ("a", "b:c")


def test_auth_needs_auth_api(setup: Setup) -> None:
    refused(setup.addon("want", "POST", "/auth", headers=basic("alice", "s3cret")), "Can't use Home Assistant auth!")


def test_auth_cache_answers_while_home_assistant_is_down(setup: Setup) -> None:
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    cache = setup.agent.client.app.services.store.get("hassio_auth_cache")
    assert cache and "s3cret" not in cache and "alice" not in cache
    setup.core.stop()
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    refused(setup.addon("auth", "POST", "/auth", headers=basic("alice", "wrong")), None)
    refused(setup.addon("auth", "POST", "/auth", headers=basic("bob", "s3cret")), None)


def test_a_refused_password_leaves_the_cache(setup: Setup) -> None:
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    setup.core.users["alice"] = "changed"
    refused(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret")), None)
    setup.core.stop()
    refused(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret")), None)


def test_an_expired_access_token_is_fetched_again(setup: Setup) -> None:
    """make_request: a 401 with a refresh token drops the access token and tries once more."""
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    setup.core.access_token = "access-rotated"
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    assert len(setup.core.calls_to("/auth/token")) == 2
    assert setup.core.calls_to("/api/hassio_auth")[-1].headers["authorization"] == "Bearer access-rotated"


def test_a_refused_refresh_token_is_home_assistant_down(setup: Setup) -> None:
    """No access token: the API counts as not running (check_api_state), so the cache answers."""
    setup.agent.client.app.services.hassio_core.save({"refresh_token": "revoked"})
    refused(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret")), None)
    assert setup.core.calls_to("/api/hassio_auth") == []


def test_the_legacy_api_password_is_sent_as_x_ha_access(setup: Setup) -> None:
    setup.core.api_password = "legacy-pw"
    setup.agent.client.app.services.hassio_core.save({"password": "legacy-pw", "refresh_token": None})
    assert ok(setup.addon("auth", "POST", "/auth", headers=basic("alice", "s3cret"))) == {}
    forwarded = setup.core.calls_to("/api/hassio_auth")[-1]
    assert forwarded.headers["x-ha-access"] == "legacy-pw" and "authorization" not in forwarded.headers
