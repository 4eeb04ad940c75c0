"""The installed add-ons' user and system entries (tag 138's addons.json) in the agent's store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from handlers.homeassistant.addons.config import validate_config
from handlers.homeassistant.addons.installed import STORE_KEY, Installed
from handlers.store import Store

RAW = {"name": "Echo", "version": "1.0", "slug": "echo", "description": "d", "startup": "application",
       "boot": "auto", "options": {"message": "hi"}, "schema": {"message": "str"},
       "ports": {"80/tcp": 8080}}


def config(version: str = "1.0", **extra: Any) -> dict[str, Any]:
    """A store add-on's config as store.py keeps it: validated, with repository and location."""
    return {**validate_config({**RAW, "version": version, **extra}), "repository": "local",
            "location": "/data/addons/local/echo"}


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path)
    store.open()
    yield store
    store.close()


def test_install_fills_138s_defaults(store: Store) -> None:
    installed = Installed(store)
    assert installed.slugs() == [] and installed.user("local_echo") is None
    user = installed.install("local_echo", config())
    assert set(user) == {"version", "uuid", "options", "auto_update", "protected"}
    assert user["version"] == "1.0" and user["options"] == {} and user["auto_update"] is False
    assert user["protected"] is True and len(user["uuid"]) == 32 and int(user["uuid"], 16) >= 0
    system = installed.system("local_echo")
    assert system is not None and system["location"] == "/data/addons/local/echo"
    assert system["repository"] == "local" and system["options"] == {"message": "hi"}
    assert installed.slugs() == ["local_echo"] and installed.is_installed("local_echo")
    # one JSON value in the store, as addons.json's two sections
    raw = json.loads(store.get(STORE_KEY) or "")
    assert set(raw) == {"user", "system"} and set(raw["user"]) == {"local_echo"}


def test_entries_survive_a_new_store(store: Store, tmp_path: Path) -> None:
    Installed(store).install("local_echo", config())
    Installed(store).set_user("local_echo", options={"message": "bye"}, boot="manual")
    store.close()
    again = Store(tmp_path)
    again.open()
    try:
        user = Installed(again).user("local_echo")
        assert user is not None and user["options"] == {"message": "bye"} and user["boot"] == "manual"
    finally:
        again.close()


def test_set_user_as_138s_setters(store: Store) -> None:
    installed = Installed(store)
    installed.install("local_echo", config())
    user = installed.set_user("local_echo", options={"message": "x"}, boot="manual", auto_update=True,
                              network={"80/tcp": ["127.0.0.1", 9000]}, audio_output="0,0", protected=False,
                              access_token="a" * 64)
    assert user["network"] == {"80/tcp": ("127.0.0.1", 9000)} and user["protected"] is False
    stored = installed.user("local_echo")
    assert stored is not None and stored["network"] == {"80/tcp": ["127.0.0.1", 9000]}  # JSON has no tuples
    # None resets options to {} and removes network, audio, boot and the token
    user = installed.set_user("local_echo", options=None, network=None, audio_output=None, boot=None,
                              access_token=None)
    assert user["options"] == {} and not {"network", "audio_output", "boot", "access_token"} & set(user)


@pytest.mark.parametrize("changes", [
    {"boot": "always"}, {"access_token": "short"}, {"audio_input": "default"}, {"network": {"80/tcp": 70000}},
    {"uuid": "not-a-uuid"}, {"options": "not a dict"}, {"auto_update": "perhaps"},
])
def test_set_user_refuses_what_138s_schema_refuses(store: Store, changes: dict[str, Any]) -> None:
    installed = Installed(store)
    installed.install("local_echo", config())
    before = installed.entries()
    with pytest.raises(vol.Invalid):
        installed.set_user("local_echo", **changes)
    assert installed.entries() == before  # nothing stored


def test_set_user_of_an_add_on_not_installed(store: Store) -> None:
    with pytest.raises(KeyError):
        Installed(store).set_user("local_nothing", boot="auto")


def test_update_keeps_the_user_settings(store: Store) -> None:
    installed = Installed(store)
    first = installed.install("local_echo", config())
    installed.set_user("local_echo", options={"message": "kept"})
    installed.update("local_echo", config("1.1", timeout=30))
    user, system = installed.user("local_echo"), installed.system("local_echo")
    assert user is not None and system is not None
    assert (user["version"], user["options"], user["uuid"]) == ("1.1", {"message": "kept"}, first["uuid"])
    assert (system["version"], system["timeout"]) == ("1.1", 30)


def test_uninstall_and_restore(store: Store) -> None:
    installed = Installed(store)
    installed.install("local_echo", config())
    installed.install("local_other", {**config(), "slug": "other"})
    user, system = installed.user("local_echo"), installed.system("local_echo")
    assert user is not None and system is not None
    installed.uninstall("local_echo")
    installed.uninstall("local_echo")  # twice is fine
    assert installed.slugs() == ["local_other"] and installed.user("local_echo") is None
    installed.restore("local_echo", {**user, "unknown": 1}, system)
    assert installed.user("local_echo") == user  # unknown keys dropped
    assert installed.system("local_echo") == system
    with pytest.raises(vol.Invalid):
        installed.restore("local_bad", {"options": {}}, system)  # no version
    with pytest.raises(vol.Invalid):
        installed.restore("local_bad", user, {k: v for k, v in system.items() if k != "location"})
    assert "local_bad" not in installed.slugs()


def test_copies_not_the_stored_entries(store: Store) -> None:
    installed = Installed(store)
    installed.install("local_echo", config())
    user = installed.user("local_echo")
    assert user is not None
    user["options"]["message"] = "changed outside"
    stored = installed.user("local_echo")
    assert stored is not None and stored["options"] == {}
