"""handlers.homeassistant.discovery and auth on a real store, Home Assistant unreachable."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.homeassistant.auth import Auth, AuthError
from handlers.homeassistant.coreapi import CoreAccess, CoreAPI
from handlers.homeassistant.discovery import Discovery, DiscoveryError
from handlers.store import Store

MQTT = {"host": "broker", "port": 1883, "password": "p4ss"}


def closed_port() -> int:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path)
    store.open()
    yield store
    store.close()


@pytest.fixture
def core() -> CoreAPI:
    url = f"http://127.0.0.1:{closed_port()}"
    return CoreAPI(lambda: CoreAccess(url))


def test_uninstalling_an_add_on_removes_its_messages(store: Store, core: CoreAPI) -> None:
    discovery = Discovery(store, core)
    mine = discovery.send("core_mosquitto", "mqtt", MQTT)
    other = discovery.send("local_other", "mqtt", MQTT)
    assert discovery.send("core_mosquitto", "mqtt", {**MQTT, "port": 1}) == mine  # same (addon, service)
    discovery.remove_addon("core_mosquitto")
    assert discovery.messages() == [other]
    discovery.close()


def test_an_invalid_config_is_logged_without_its_values(store: Store, core: CoreAPI,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(DiscoveryError):
        Discovery(store, core).send("core_mosquitto", "mqtt", {**MQTT, "port": 0, "password": "hunter2"})
    assert "hunter2" not in caplog.text and "port" in caplog.text


def test_no_password_is_an_auth_error_and_home_assistant_down_asks_the_cache(store: Store, core: CoreAPI) -> None:
    auth = Auth(store, core)
    with pytest.raises(AuthError):
        auth.check_login("local_nginx", "alice", None)
    assert auth.check_login("local_nginx", "alice", "s3cret") is False  # nothing cached yet
