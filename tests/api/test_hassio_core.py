"""hassio /homeassistant and the Home Assistant proxy in process (hassio.md §2.4, §3.2): settings,
tag 138's option schema and messages, the proxy's add-on token check. No engine here (support.ENV):
the container itself is tested in tests/integration/test_hassio_core.py.
"""

from __future__ import annotations

import json
import platform
import socket

import pytest

from handlers.homeassistant.core import QEMU_MACHINES
from handlers.homeassistant.tokens import AddonGrant
from tests.api.support import API_KEY, Agent

STEM = "hassio"
KEY = {"X-HASSIO-KEY": API_KEY}
ADDON_TOKEN = "a" * 64
PLAIN = "text/plain; charset=utf-8"


def info(api: Agent) -> dict:
    response = api.request(STEM, "GET", "/homeassistant/info", headers=KEY)
    assert response.status_code == 200
    return response.json()["data"]


def post(api: Agent, path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    response = api.request(STEM, "POST", path, content=json.dumps(body), headers=headers or KEY)
    return response.status_code, response.json()


def grant(api: Agent, homeassistant_api: bool, slug: str = "core_ssh", token: str = ADDON_TOKEN) -> None:
    services = api.client.app.services  # type: ignore[attr-defined]
    services.hassio_tokens.save_grant(AddonGrant(slug, token, homeassistant_api=homeassistant_api))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_info_defaults(api: Agent) -> None:
    machine = QEMU_MACHINES.get(platform.machine(), "qemux86-64")
    assert info(api) == {"version": None, "last_version": None, "machine": machine,
                         "image": f"homeassistant/{machine}-homeassistant", "custom": False, "boot": True,
                         "port": 8123, "ssl": False, "watchdog": True, "wait_boot": 600}


def test_the_image_follows_the_device_type(agents) -> None:  # type: ignore[no-untyped-def]
    api = agents.start("--device-type", "raspberrypi3")
    assert info(api)["image"] == "homeassistant/raspberrypi3-homeassistant"


def test_home_assistant_posts_its_settings_at_every_start(api: Agent) -> None:
    body = {"ssl": False, "port": 8124, "password": None, "watchdog": False, "refresh_token": "r" * 40}
    assert post(api, "/homeassistant/options", body) == (200, {"result": "ok", "data": {}})
    found = info(api)
    assert (found["port"], found["ssl"], found["watchdog"], found["custom"]) == (8124, False, False, False)


def test_options_coerce_and_store(api: Agent) -> None:
    assert post(api, "/homeassistant/options", {"boot": "off", "wait_boot": "120", "port": "9000", "ssl": "yes"})[0] == 200
    found = info(api)
    assert (found["boot"], found["wait_boot"], found["port"], found["ssl"]) == (False, 120, 9000, True)


@pytest.mark.parametrize(("body", "message"), [
    ({"wait_boot": 59}, "value must be at least 60 for dictionary value @ data['wait_boot']. Got 59"),
    ({"port": 0}, "value must be at least 1 for dictionary value @ data['port']. Got 0"),
    ({"port": 65536}, "value must be at most 65535 for dictionary value @ data['port']. Got 65536"),
    ({"port": "x"}, "expected int for dictionary value @ data['port']. Got 'x'"),
    ({"ssl": "maybe"}, "expected boolean for dictionary value @ data['ssl']. Got 'maybe'"),
    ({"startup_time": 600}, "extra keys not allowed @ data['startup_time']. Got 600"),
    ({"image": "me/ha"},
     "some but not all values in the same group of inclusion 'custom_hass' @ data[<custom_hass>]. Got None"),
    # 138's bug: last_version goes through the docker image pattern
    ({"image": "me/ha", "last_version": "0.80.3"},
     "not a valid value for dictionary value @ data['last_version']. Got '0.80.3'"),
])
def test_options_refused_with_138s_messages(api: Agent, body: dict, message: str) -> None:
    assert post(api, "/homeassistant/options", body) == (400, {"result": "error", "message": message})
    assert info(api)["port"] == 8123  # nothing stored


def test_a_custom_image_and_its_reset(api: Agent) -> None:
    assert post(api, "/homeassistant/options", {"image": "me/ha", "last_version": "x/y"})[0] == 200
    found = info(api)
    assert (found["image"], found["last_version"], found["custom"]) == ("me/ha", "x/y", True)
    assert post(api, "/homeassistant/options", {"image": None, "last_version": None})[0] == 200
    assert info(api)["custom"] is False
    assert info(api)["image"].startswith("homeassistant/")


def test_bad_json_is_invalid_json(api: Agent) -> None:
    response = api.request(STEM, "POST", "/homeassistant/options", content=b"{", headers=KEY)
    assert (response.status_code, response.json()) == (400, {"result": "error", "message": "Invalid json"})


def test_update_body_is_validated(api: Agent) -> None:
    assert post(api, "/homeassistant/update", {"tag": "1"}) == (
        400, {"result": "error", "message": "extra keys not allowed @ data['tag']. Got '1'"})


def test_container_actions_without_an_engine_are_unknown_errors(api: Agent) -> None:
    for path in ("/homeassistant/start", "/homeassistant/stop", "/homeassistant/check"):
        assert post(api, path, {}) == (400, {"result": "error", "message": "Unknown Error, see logs"})
    response = api.request(STEM, "GET", "/homeassistant/logs", headers=KEY)
    assert (response.status_code, response.content) == (200, b"")  # api_process_raw: errors are 200
    assert response.headers["content-type"] == "application/octet-stream"


def test_homeassistant_routes_need_a_key(api: Agent) -> None:
    response = api.request(STEM, "GET", "/homeassistant/info")
    assert (response.status_code, response.text) == (401, "401: Unauthorized")


def test_an_addon_with_the_default_role_may_read_info_only(api: Agent) -> None:
    services = api.client.app.services  # type: ignore[attr-defined]
    services.hassio_tokens.save_grant(AddonGrant("reader", "b" * 64, hassio_api=True))
    headers = {"X-HASSIO-KEY": "b" * 64}
    assert api.request(STEM, "GET", "/homeassistant/info", headers=headers).status_code == 200
    assert api.request(STEM, "POST", "/homeassistant/options", headers=headers).status_code == 403


# the proxy
@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nope"}, {"X-HA-Access": "nope"},
    {"X-HASSIO-KEY": API_KEY},  # the supervisor's key is not an add-on token
])
def test_proxy_refuses_anyone_but_addons(api: Agent, headers: dict[str, str]) -> None:
    response = api.request(STEM, "GET", "/homeassistant/api/states", headers=headers)
    assert (response.status_code, response.text, response.headers["content-type"]) == (401, "401: Unauthorized", PLAIN)


def test_proxy_refuses_an_addon_without_homeassistant_api(api: Agent) -> None:
    grant(api, homeassistant_api=False)
    response = api.request(STEM, "GET", "/homeassistant/api/states", headers={"Authorization": f"Bearer {ADDON_TOKEN}"})
    assert response.status_code == 401


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {ADDON_TOKEN}"},
                                     {"Authorization": f"x y {ADDON_TOKEN}"},  # its last word
                                     {"X-HA-Access": ADDON_TOKEN}])
def test_proxy_with_home_assistant_away_is_502(api: Agent, headers: dict[str, str]) -> None:
    grant(api, homeassistant_api=True)
    assert post(api, "/homeassistant/options", {"port": closed_port()})[0] == 200
    for method, path in (("GET", "/homeassistant/api/"), ("POST", "/homeassistant/api/services"),
                         ("GET", "/homeassistant/api/stream")):
        response = api.request(STEM, method, path, headers=headers)
        assert (response.status_code, response.text) == (502, "502: Bad Gateway")


def test_proxy_blacklist_comes_first(api: Agent) -> None:
    grant(api, homeassistant_api=True)
    response = api.request(STEM, "GET", "/homeassistant/api/hassio/x", headers={"X-HA-Access": ADDON_TOKEN})
    assert (response.status_code, response.text) == (403, "403: Forbidden")


@pytest.mark.parametrize("path", ["/homeassistant/websocket", "/homeassistant/api/websocket"])
def test_websocket_handshake_refuses_unknown_tokens(api: Agent, path: str) -> None:
    with api.client.websocket_connect(path) as socket_:
        assert json.loads(socket_.receive_text()) == {"type": "auth_required", "ha_version": None}
        socket_.send_text(json.dumps({"type": "auth", "access_token": "nope"}))
        assert socket_.receive_text() == '{"type": "auth_invalid", "message": "Invalid access"}'


def test_websocket_handshake_accepts_an_addon_then_closes_when_home_assistant_is_away(api: Agent) -> None:
    grant(api, homeassistant_api=True)
    assert post(api, "/homeassistant/options", {"port": closed_port()})[0] == 200
    with api.client.websocket_connect("/homeassistant/websocket") as socket_:
        socket_.receive_text()
        socket_.send_text(json.dumps({"type": "auth", "api_password": ADDON_TOKEN}))
        assert json.loads(socket_.receive_text()) == {"type": "auth_ok", "ha_version": None}
        message = socket_.receive()
        assert message["type"] == "websocket.close"


@pytest.mark.parametrize("path", ["/homeassistant/websocket", "/homeassistant/api/websocket"])
def test_a_plain_get_of_the_websocket_is_aiohttps_400(api: Agent, path: str) -> None:
    response = api.request(STEM, "GET", path)
    assert (response.status_code, response.headers["content-type"]) == (400, PLAIN)
    assert response.text == 'No WebSocket UPGRADE hdr: None\n Can "Upgrade" only to "WebSocket".'
    response = api.request(STEM, "GET", path, headers={"Upgrade": "websocket", "Connection": "close"})
    assert response.text == "No CONNECTION upgrade hdr: close"
