"""hassio discovery, services and /auth on the real agent process, with a stand-in Home Assistant on
127.0.0.1 that calls the agent back the way Home Assistant 0.81's hassio component did.

test_home_assistant_0_81_session plays HA's own hassio client (handler.py and discovery.py at
0.81) in its order. Some of its calls go to routes other slices of issue 13 serve
(/homeassistant/info and /options, /supervisor/options): on a branch without them the agent
answers the router's plain `404: Not Found`; those calls are listed and the test is skipped for
them at the end, after every served call was checked. /addons/<slug>/info (HA's get_addon_info
after a push, for the add-on's name) answers from the core add-on repository, a git repository on
disk here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers.homeassistant.core import STORE_KEY as CORE_SETTINGS
from handlers.homeassistant.tokens import AddonGrant, Tokens, stored_token
from handlers.store import Store
from integration.addon_repos import AddonRepo
from tests.hassio_core import HassioAPIError, HassioClient, StandInCore, wait_for

MOSQUITTO = AddonGrant("core_mosquitto", "a" * 64, discovery=("mqtt",), services=("mqtt:provide",))
NGINX = AddonGrant("local_nginx", "d" * 64, auth_api=True)
MQTT = {"host": "172.30.32.5", "port": 1883, "username": "homeassistant", "password": "p4ss"}


def provision(data_dir: Path, refresh_token: str) -> None:
    """What the add-on installs (part 2) and HA's POST /homeassistant/options would have stored."""
    store = Store(data_dir)
    store.open()
    try:
        tokens = Tokens(store, lambda: None, lambda key: False)
        for grant in (MOSQUITTO, NGINX):
            tokens.save_grant(grant)
        store.set(**{CORE_SETTINGS: json.dumps({"refresh_token": refresh_token})})  # what HA posted before
    finally:
        store.close()



def not_served(response: httpx.Response) -> bool:
    """The router's answer for a path no route takes (hassio.md §1.2), with a valid token."""
    return response.status_code == 404 and response.content == b"404: Not Found"


@pytest.fixture
def core() -> Iterator[StandInCore]:
    stand_in = StandInCore().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def start_hassio(start_agent: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    """start_hassio(core_url, components=False) -> an agent serving only hassio on tmp_path/data;
    with the private engine and bus when `components` (the routes of the other slices need them),
    else none."""
    def start(core_url: str, components: bool = False, addons_core_url: str = "") -> Any:
        where = {} if components else {"docker_host": None, "dbus_address": None}
        return start_agent(args=["--dialects", "hassio", "--hassio-core-url", core_url,
                                 "--hassio-addons-core-url", addons_core_url],
                           ready="/supervisor/ping", data_dir=tmp_path / "data", **where)
    return start


def addon(agent: Any, grant: AddonGrant, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-HASSIO-KEY": grant.access_token, **kwargs.pop("headers", {})}
    with agent.client() as client:
        return client.request(method, path, headers=headers, **kwargs)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_home_assistant_0_81_session(start_hassio: Callable[..., Any], core: StandInCore, tmp_path: Path) -> None:
    provision(tmp_path / "data", core.refresh_token)
    repository = AddonRepo.create(tmp_path / "addons-core", name=None)  # the core repository needs no repository.json
    repository.add_image_addon("mosquitto", "homeassistant/{arch}-addon-mosquitto", "3.0", name="Mosquitto broker",
                               discovery=["mqtt"], services=["mqtt:provide"])
    repository.commit("mosquitto")
    agent = start_hassio(core.url, components=True, addons_core_url=repository.file_url)
    http = agent.client()
    ha = HassioClient(http, stored_token(tmp_path / "data"))
    core.client = lambda: HassioClient(agent.client(), ha.token)
    unserved: list[str] = []

    def maybe(name: str, method: str, path: str, payload: Any = None) -> dict[str, Any] | None:
        """One of HA's calls to a route another slice serves: its answer, or None (listed) when
        this branch does not serve the route."""
        response = http.request(method, path, json=payload, headers={"X-HASSIO-KEY": ha.token})
        if not_served(response):
            unserved.append(f"{method} {path} ({name})")
            return None
        assert response.status_code in (200, 400), (name, response.status_code)  # HA's acceptance rule
        answer: dict[str, Any] = response.json()
        return answer

    try:
        # async_setup: is_connected, then update_hass_api and update_hass_timezone
        assert ha.is_connected()
        options = {"ssl": False, "port": 8123, "password": None, "watchdog": True,
                   "refresh_token": core.refresh_token}
        for name, method, path, payload in (
                ("update_hass_api", "POST", "/homeassistant/options", options),
                ("update_hass_timezone", "POST", "/supervisor/options", {"timezone": "Europe/Zurich"}),
                ("get_homeassistant_info", "GET", "/homeassistant/info", None)):
            answer = maybe(name, method, path, payload)
            assert answer is None or answer["result"] == "ok", (name, answer)

        # EVENT_HOMEASSISTANT_START: retrieve_discovery_messages (none yet)
        assert ha.retrieve_discovery_messages() == {"discovery": []}

        # an add-on announces MQTT: the push makes HA read the message back (HassIODiscovery.post)
        sent = addon(agent, MOSQUITTO, "POST", "/discovery", json={"service": "mqtt", "config": MQTT})
        uuid = sent.json()["data"]["uuid"]
        event = wait_for(lambda: [e for e in core.processed if e[0] in ("new", "unreadable")], what="HA's view")[-1]
        assert not [e for e in core.processed if e[0] == "addon info failed"], core.processed
        assert event[0] == "new" and event[1]["addon_name"] == "Mosquitto broker"
        assert {k: event[1][k] for k in ("addon", "service", "uuid", "config")} == {
            "addon": MOSQUITTO.slug, "service": "mqtt", "uuid": uuid, "config": MQTT}
        assert ha.get_discovery_message(uuid)["config"] == MQTT
        assert [m["uuid"] for m in ha.retrieve_discovery_messages()["discovery"]] == [uuid]

        # the add-on goes away: HA is told, checks the message is gone (async_process_del)
        assert addon(agent, MOSQUITTO, "DELETE", f"/discovery/{uuid}").status_code == 200
        removed = wait_for(lambda: [e for e in core.processed if e[0] in ("removed", "wrong unload")], what="the removal")
        assert removed[-1] == ("removed", {"addon": MOSQUITTO.slug, "service": "mqtt", "uuid": uuid})
        with pytest.raises(HassioAPIError, match="Discovery message not found"):
            ha.get_discovery_message(uuid)
        pushes = [(c.method, c.path) for c in core.calls_to("/api/hassio_push/")]
        assert pushes == [("POST", f"/api/hassio_push/discovery/{uuid}"), ("DELETE", f"/api/hassio_push/discovery/{uuid}")]
    finally:
        http.close()
    if unserved:
        pytest.skip("every served call passed; routes not served on this branch: " + "; ".join(unserved))


def test_messages_records_and_logins_survive_kill_9(start_hassio: Callable[..., Any], core: StandInCore,
                                                     tmp_path: Path) -> None:
    provision(tmp_path / "data", core.refresh_token)
    agent = start_hassio(core.url)
    # HA up: the login goes to api/hassio_auth and lands in the cache
    assert addon(agent, NGINX, "POST", "/auth", headers=basic("alice", "s3cret")).status_code == 200
    assert core.calls_to("/api/hassio_auth")[-1].body == {"username": "alice", "password": "s3cret",
                                                           "addon": NGINX.slug}
    wrong = addon(agent, NGINX, "POST", "/auth", headers=basic("alice", "nope"))
    assert (wrong.status_code, wrong.json()) == (400, {"result": "error", "message": None})
    uuid = addon(agent, MOSQUITTO, "POST", "/discovery", json={"service": "mqtt", "config": MQTT}).json()["data"]["uuid"]
    assert addon(agent, MOSQUITTO, "POST", "/services/mqtt", json=MQTT).status_code == 200
    agent.kill()  # at once after the answers: they must already be on disk
    core.stop()  # and Home Assistant is down from now on

    again = start_hassio(core.url)
    ha = stored_token(tmp_path / "data")
    with again.client() as client:
        message = client.get(f"/discovery/{uuid}", headers={"X-HASSIO-KEY": ha}).json()["data"]
    assert message == {"addon": MOSQUITTO.slug, "service": "mqtt", "uuid": uuid, "config": MQTT}
    record = addon(again, MOSQUITTO, "GET", "/services/mqtt").json()["data"]
    assert record == {**MQTT, "ssl": False, "protocol": "3.1.1", "addon": MOSQUITTO.slug}
    # HA down: the cache answers
    assert addon(again, NGINX, "POST", "/auth", headers=basic("alice", "s3cret")).status_code == 200
    for user, password in (("alice", "nope"), ("bob", "s3cret")):
        refused = addon(again, NGINX, "POST", "/auth", headers=basic(user, password))
        assert (refused.status_code, refused.json()["message"]) == (400, None)
    log = again.log.read_text()
    assert "s3cret" not in log and "p4ss" not in log
