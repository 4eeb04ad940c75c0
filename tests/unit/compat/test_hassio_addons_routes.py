"""compat/hassio/addons.py over a stand-in `hassio_addons` (the Addons contract of
handlers/homeassistant/addons/__init__.py) and the real Installed entries: the order of 138's
checks, its request schemas and messages, the raw routes' error answers, `self` and the roles.
The real manager on the real dockerd: tests/integration/test_hassio_addons_api.py.
Every answer is checked against spec/hassio.yaml by Agent.request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.errors import InvalidInput
from handlers.homeassistant.addons.config import validate_config
from handlers.homeassistant.addons.installed import Installed
from handlers.homeassistant.container import Stats
from tests.api.hassio_support import Hassio, HassioAgents

ECHO = {"name": "Echo", "version": "1.0", "slug": "echo", "description": "echoes", "startup": "application",
        "boot": "auto", "options": {"word": "hi", "count": 1}, "schema": {"word": "str", "count": "int(1,5)"},
        "ports": {"80/tcp": 8080}, "stdin": True, "image": "local/{arch}-echo"}
PLAIN = {"name": "Plain", "version": "2.0", "slug": "plain", "description": "plain", "startup": "once",
         "boot": "manual", "options": {}, "schema": False}
DEFAULT = "https://github.com/hassio-addons/repository"  # the settings' default, never cloned here
SERVER_ERROR = (b"<html><head><title>500 Internal Server Error</title></head><body>"
                b"<h1>500 Internal Server Error</h1>Server got itself in trouble</body></html>")


class StandInAddons:
    """What compat/hassio/addons.py calls, answering as the contract says, recording the calls."""

    def __init__(self, installed: Installed) -> None:
        self.installed = installed
        self.configs = {"local_echo": validate_config(ECHO), "local_plain": validate_config(PLAIN)}
        self.calls: list[tuple[Any, ...]] = []
        self.running: set[str] = set()
        self.repositories: list[str] = []

    def _check(self, slug: str) -> None:
        if slug not in self.configs:
            raise InvalidInput("Addon does not exist")

    def installed_slugs(self) -> list[str]:
        return self.installed.slugs()

    @property
    def store(self) -> Any:
        """The AddonStore's get(slug): the add-on's store entry or None."""
        configs = self.configs

        owner = self

        class Store:
            def get(self, slug: str) -> Any:
                return configs.get(slug)

            def sources(self) -> list[str]:
                return list(owner.repositories)

        return Store()

    def listing(self) -> dict[str, Any]:
        addons = []
        for slug, config in self.configs.items():
            user = self.installed.user(slug)
            addons.append({"name": config["name"], "slug": slug, "description": config["description"],
                           "version": config["version"], "installed": user["version"] if user else None,
                           "available": True, "detached": False, "repository": "local",
                           "build": "image" not in config, "url": None, "icon": slug == "local_echo",
                           "logo": False})
        return {"addons": addons, "repositories": [
            {"slug": "local", "name": "Local Add-Ons", "source": None, "url": "https://home-assistant.io/hassio",
             "maintainer": "you"}]}

    def info(self, slug: str) -> dict[str, Any]:
        self._check(slug)
        config, user = self.configs[slug], self.installed.user(slug)
        keys = ("name", "slug", "description", "long_description", "version", "auto_update", "repository",
                "last_version", "state", "protected", "rating", "boot", "options", "arch", "machine", "url",
                "detached", "available", "build", "network", "host_network", "host_pid", "host_ipc",
                "host_dbus", "privileged", "full_access", "apparmor", "devices", "icon", "logo", "changelog",
                "webui", "stdin", "hassio_api", "hassio_role", "auth_api", "homeassistant_api", "gpio",
                "devicetree", "docker_api", "audio", "audio_input", "audio_output", "services", "discovery")
        values = {**{k: config.get(k, False) for k in keys}, "slug": slug, "long_description": None,
                  "version": user["version"] if user else None, "auto_update": None, "repository": "local",
                  "last_version": config["version"], "state": self._state(slug), "protected": True, "rating": 5,
                  "options": config["options"], "machine": [], "url": None, "devices": None, "webui": None,
                  "network": config.get("ports"), "privileged": [], "apparmor": "default", "audio_input": None,
                  "audio_output": None, "services": [], "discovery": []}
        return {key: values[key] for key in keys}

    def _state(self, slug: str) -> str:
        if slug not in self.installed.slugs():
            return "none"
        return "started" if slug in self.running else "stopped"

    def install(self, slug: str) -> bool:
        self._check(slug)
        if slug in self.installed.slugs():
            return False  # 138's install: already installed -> False -> 400 message null
        self.installed.install(slug, {**self.configs[slug], "location": "/nowhere", "repository": "local"})
        self.calls.append(("install", slug))
        return True

    def __getattr__(self, name: str) -> Any:
        if name in ("uninstall", "start", "stop", "restart", "update", "rebuild", "set_options", "set_security",
                    "stdin", "reload"):
            return lambda *args: self.calls.append((name, *args))
        raise AttributeError(name)

    def logs(self, slug: str) -> bytes:
        return b"line one\nline two\n"

    def stats(self, slug: str) -> Stats | None:
        if slug not in self.running:
            return None
        return Stats(1.5, 100, 1000, 1, 2, 3, 4)

    def asset(self, slug: str, name: str) -> bytes:
        if slug == "local_echo" and name == "icon":
            return b"PNG-ish bytes"
        if name == "changelog" and slug == "local_plain":
            return "# 2.0\n- caf\u00e9\n".encode()
        raise InvalidInput({"icon": "No icon found!", "logo": "No logo found!",
                            "changelog": "No changelog found!"}[name])

    def is_running(self, slug: str) -> bool:
        return slug in self.running

    def set_repositories(self, urls: list[str]) -> list[str]:
        self.calls.append(("set_repositories", urls))
        self.repositories = [url for url in urls if "unreachable" not in url]
        return self.repositories


@pytest.fixture(name="hassio")
def hassio_fixture(tmp_path: Path) -> Iterator[Hassio]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        agent = HassioAgents(tmp_path, stack).start()
        real = agent.services.hassio_addons
        agent.services.hassio_addons = StandInAddons(Installed(agent.services.store))  # type: ignore[assignment]
        yield agent
        agent.services.hassio_addons = real  # closed with the agent


def fake(hassio: Hassio) -> StandInAddons:
    found: StandInAddons = hassio.services.hassio_addons  # type: ignore[attr-defined]
    return found


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["result"] == "ok"
    return body["data"]


def refused(response: Any, message: str | None) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {"result": "error", "message": message}


def installed(hassio: Hassio, slug: str = "local_echo") -> None:
    ok(hassio.call("POST", f"/addons/{slug}/install"))


# ---- existence, installation and `self` ----

@pytest.mark.parametrize(("method", "path"), [
    ("GET", "info"), ("POST", "install"), ("POST", "uninstall"), ("POST", "start"), ("POST", "stop"),
    ("POST", "restart"), ("POST", "update"), ("POST", "rebuild"), ("POST", "options"), ("POST", "security"),
    ("POST", "stdin"), ("GET", "stats")])
def test_an_unknown_add_on_is_400_does_not_exist(hassio: Hassio, method: str, path: str) -> None:
    refused(hassio.call(method, f"/addons/local_nothing/{path}", json={"bad": 1}), "Addon does not exist")
    assert fake(hassio).calls == []


@pytest.mark.parametrize("path", ["uninstall", "start", "stop", "restart", "update", "rebuild", "options",
                                  "security", "stdin", "stats"])
def test_an_add_on_not_installed_is_400_before_the_body_is_read(hassio: Hassio, path: str) -> None:
    refused(hassio.call("POST" if path != "stats" else "GET", f"/addons/local_echo/{path}", content=b"{not json"),
            "Addon is not installed")
    assert fake(hassio).calls == []


def test_info_and_install_take_an_add_on_not_installed(hassio: Hassio) -> None:
    assert ok(hassio.call("GET", "/addons/local_echo/info"))["state"] == "none"
    response = hassio.call("POST", "/addons/local_echo/install")
    assert response.content == b'{"result": "ok", "data": {}}'
    assert ok(hassio.call("GET", "/addons/local_echo/info"))["state"] == "stopped"
    refused(hassio.call("POST", "/addons/local_echo/install"), None)  # 138's install returned False


@pytest.mark.parametrize("token", ["homeassistant", "host", "operator"])
@pytest.mark.parametrize(("method", "path"), [("GET", "info"), ("POST", "start"), ("GET", "logs"),
                                              ("POST", "options"), ("GET", "icon"), ("POST", "security")])
def test_self_with_another_callers_token_is_138s_500(hassio: Hassio, token: str, method: str, path: str) -> None:
    key = {"homeassistant": hassio.services.hassio_tokens.homeassistant_token(),
           "host": "0123456789abcdef0123456789abcdef", "operator": "testkey_0123456789"}[token]
    response = hassio.call(method, f"/addons/self/{path}", token=key)
    assert (response.status_code, response.content) == (500, SERVER_ERROR)


def test_self_is_the_calling_add_on_whatever_its_role(hassio: Hassio) -> None:
    installed(hassio)
    token = hassio.addon("local_echo", role="default", hassio_api=False)
    assert ok(hassio.call("GET", "/addons/self/info", token=token))["slug"] == "local_echo"
    ok(hassio.call("POST", "/addons/self/restart", token=token))
    ok(hassio.call("POST", "/addons/self/options", token=token, json={"boot": "manual"}))
    assert hassio.call("GET", "/addons/self/logs", token=token).content == b"line one\nline two\n"
    assert fake(hassio).calls[1:] == [("restart", "local_echo"), ("set_options", "local_echo", {"boot": "manual"})]
    # 138's bypass list leaves out security and update; the default role gives nothing more
    for method, path in [("POST", "/addons/self/security"), ("POST", "/addons/self/update"),
                         ("GET", "/addons/local_echo/info"), ("POST", "/addons/local_plain/start")]:
        response = hassio.call(method, path, token=token)
        assert (response.status_code, response.text) == (403, "403: Forbidden"), path


def test_roles(hassio: Hassio) -> None:
    installed(hassio)
    default = hassio.addon("local_default", role="default")
    manager = hassio.addon("local_manager", role="manager")
    admin = hassio.addon("local_admin", role="admin")
    ok(hassio.call("GET", "/addons", token=default))  # `/addons` is in the default role's pattern
    assert hassio.call("GET", "/addons/local_echo/info", token=default).status_code == 403
    assert ok(hassio.call("GET", "/addons/local_echo/info", token=manager))["slug"] == "local_echo"
    ok(hassio.call("POST", "/addons/local_echo/start", token=manager))
    # 138's manager pattern takes /addons and /addons/<x>/<action>, not /addons/reload
    assert hassio.call("POST", "/addons/reload", token=manager).status_code == 403
    ok(hassio.call("POST", "/addons/reload", token=admin))
    assert hassio.call("POST", "/addons/local_echo/security", token=manager).status_code == 403
    ok(hassio.call("POST", "/addons/local_echo/security", token=admin, json={"protected": "false"}))
    assert ("set_security", "local_echo", False) in fake(hassio).calls


# ---- listing and the actions ----

def test_listing_is_the_managers(hassio: Hassio) -> None:
    data = ok(hassio.call("GET", "/addons"))
    assert [a["slug"] for a in data["addons"]] == ["local_echo", "local_plain"]
    assert data["repositories"][0]["slug"] == "local"


@pytest.mark.parametrize("action", ["uninstall", "start", "stop", "restart", "update", "rebuild"])
def test_actions_reach_the_manager(hassio: Hassio, action: str) -> None:
    installed(hassio)
    response = hassio.call("POST", f"/addons/local_echo/{action}")
    assert response.content == b'{"result": "ok", "data": {}}'
    assert fake(hassio).calls[-1] == (action, "local_echo")


def test_stats(hassio: Hassio) -> None:
    installed(hassio)
    refused(hassio.call("GET", "/addons/local_echo/stats"), "No stats available")
    fake(hassio).running.add("local_echo")
    assert ok(hassio.call("GET", "/addons/local_echo/stats")) == {
        "cpu_percent": 1.5, "memory_usage": 100, "memory_limit": 1000, "network_rx": 1, "network_tx": 2,
        "blk_read": 3, "blk_write": 4}


def test_stdin_writes_the_raw_body_and_needs_the_add_ons_stdin(hassio: Hassio) -> None:
    installed(hassio)
    installed(hassio, "local_plain")
    ok(hassio.call("POST", "/addons/local_echo/stdin", content=b"hello\n", headers={"content-type": "x/y"}))
    assert fake(hassio).calls[-1] == ("stdin", "local_echo", b"hello\n")
    refused(hassio.call("POST", "/addons/local_plain/stdin", content=b"x"), "STDIN not supported by add-on")


# ---- POST options and security: 138's schemas ----

def test_options_are_validated_and_passed_on(hassio: Hassio) -> None:
    installed(hassio)
    body = {"boot": "manual", "auto_update": "yes", "network": {"80/tcp": 8081, "22": ["127.0.0.1", 22],
                                                                    "53/udp": None},
            "audio_output": "0,0", "audio_input": None, "options": {"word": "yo", "count": "3", "extra": 1}}
    ok(hassio.call("POST", "/addons/local_echo/options", json=body))
    assert fake(hassio).calls[-1] == ("set_options", "local_echo", {
        "boot": "manual", "auto_update": True, "network": {"80/tcp": 8081, "22": ("127.0.0.1", 22), "53/udp": None},
        "audio_output": "0,0", "audio_input": None, "options": {"word": "yo", "count": 3}})
    ok(hassio.call("POST", "/addons/local_echo/options", json={"options": None, "network": None}))
    assert fake(hassio).calls[-1] == ("set_options", "local_echo", {"options": None, "network": None})


@pytest.mark.parametrize(("body", "message"), [
    # voluptuous' Any(None, <schema>) kept None's failure: never the add-on schema's own message
    ({"options": {"word": "yo"}}, "not a valid value for dictionary value @ data['options']. Got {'word': 'yo'}"),
    ({"options": {"word": "yo", "count": 9}},
     "not a valid value for dictionary value @ data['options']. Got {'word': 'yo', 'count': 9}"),
    ({"options": []}, "not a valid value for dictionary value @ data['options']. Got []"),
    ({"boot": "sometimes"}, "value is not allowed for dictionary value @ data['boot']. Got 'sometimes'"),
    ({"auto_update": "maybe"}, "expected boolean for dictionary value @ data['auto_update']. Got 'maybe'"),
    ({"audio_output": "left"}, "not a valid value for dictionary value @ data['audio_output']. Got 'left'"),
    ({"network": 5}, "not a valid value for dictionary value @ data['network']. Got 5"),
    ({"network": {"80/tcp": [1, 2, 0]}}, "value must be at least 1 @ data['network']['80/tcp'][2]. Got 0"),
    ({"network": {"80/tcp": 0}}, "value must be at least 1 for dictionary value @ data['network']['80/tcp']. Got 0"),
    ({"network": {"80/sctp": 1}}, "extra keys not allowed @ data['network']['80/sctp']. Got 1"),
    ({"network": {"80/tcp": "x"}}, ("Can't validate Docker host settings for dictionary value @ "
                                   "data['network']['80/tcp']. Got 'x'")),
    ({"protected": False}, "extra keys not allowed @ data['protected']. Got False"),
    ({"boot": "x", "options": {}}, ("not a valid value for dictionary value @ data['options']. Got {}\n"
                                   "value is not allowed for dictionary value @ data['boot']. Got 'x'")),
])
def test_options_refused_with_138s_messages(hassio: Hassio, body: dict[str, Any], message: str) -> None:
    installed(hassio)
    refused(hassio.call("POST", "/addons/local_echo/options", json=body), message)
    assert fake(hassio).calls == [("install", "local_echo")]


def test_options_with_schema_false_take_any_object(hassio: Hassio) -> None:
    installed(hassio, "local_plain")
    ok(hassio.call("POST", "/addons/local_plain/options", json={"options": {"anything": [1, 2]}}))
    assert fake(hassio).calls[-1] == ("set_options", "local_plain", {"options": {"anything": [1, 2]}})
    refused(hassio.call("POST", "/addons/local_plain/options", json={"options": 5}),
            "not a valid value for dictionary value @ data['options']. Got 5")


def test_bad_json_and_security_schema(hassio: Hassio) -> None:
    installed(hassio)
    refused(hassio.call("POST", "/addons/local_echo/options", content=b"{"), "Invalid json")
    refused(hassio.call("POST", "/addons/local_echo/security", json={"protected": "perhaps"}),
            "expected boolean for dictionary value @ data['protected']. Got 'perhaps'")
    refused(hassio.call("POST", "/addons/local_echo/security", json={"boot": "auto"}),
            "extra keys not allowed @ data['boot']. Got 'auto'")
    ok(hassio.call("POST", "/addons/local_echo/security"))  # nothing to change: ok, nothing called
    assert fake(hassio).calls == [("install", "local_echo")]


# ---- raw routes ----

def test_raw_routes_answer_errors_with_status_200(hassio: Hassio) -> None:
    for path, message in [("/addons/local_nothing/logs", b"Addon does not exist"),
                          ("/addons/local_echo/logs", b"Addon is not installed"),
                          ("/addons/local_nothing/icon", b"Addon does not exist"),
                          ("/addons/local_plain/icon", b"No icon found!"),
                          ("/addons/local_plain/logo", b"No logo found!"),
                          ("/addons/local_echo/changelog", b"No changelog found!")]:
        response = hassio.call("GET", path)
        assert (response.status_code, response.headers["content-type"], response.content) == (
            200, "application/octet-stream", message), path


def test_raw_routes_content_types(hassio: Hassio) -> None:
    installed(hassio)
    logs = hassio.call("GET", "/addons/local_echo/logs")
    assert (logs.headers["content-type"], logs.content) == ("application/octet-stream", b"line one\nline two\n")
    icon = hassio.call("GET", "/addons/local_echo/icon")  # not installed is fine for the assets
    assert (icon.headers["content-type"], icon.content) == ("image/png", b"PNG-ish bytes")
    changelog = hassio.call("GET", "/addons/local_plain/changelog")
    assert (changelog.headers["content-type"], changelog.text) == ("text/plain", "# 2.0\n- caf\u00e9\n")


def test_wrong_method_and_unknown_path(hassio: Hassio) -> None:
    response = hassio.call("GET", "/addons/reload")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    response = hassio.call("GET", "/addons/local_echo")
    assert (response.status_code, response.text) == (404, "404: Not Found")


# ---- /supervisor ----

def test_supervisor_info_lists_the_installed_add_ons(hassio: Hassio) -> None:
    installed(hassio)
    fake(hassio).running.add("local_echo")
    addons = ok(hassio.call("GET", "/supervisor/info"))["addons"]
    assert addons == [{"name": "Echo", "slug": "local_echo", "description": "echoes", "state": "started",
                       "version": "1.0", "installed": "1.0", "repository": "local", "icon": True, "logo": False}]
    assert list(addons[0]) == ["name", "slug", "description", "state", "version", "installed", "repository",
                               "icon", "logo"]


def test_supervisor_options_repositories_keep_only_the_ones_that_load(hassio: Hassio) -> None:
    urls = ["http://127.0.0.1:9/a.git", "http://127.0.0.1:9/unreachable.git#dev"]
    ok(hassio.call("POST", "/supervisor/options", json={"addons_repositories": urls, "wait_boot": 7}))
    assert fake(hassio).calls == [("set_repositories", urls)]
    info = ok(hassio.call("GET", "/supervisor/info"))
    # the default repository never loaded here: 138 kept it (it only dropped ones it had loaded)
    assert (info["addons_repositories"], info["wait_boot"]) == ([DEFAULT, "http://127.0.0.1:9/a.git"], 7)
    ok(hassio.call("POST", "/supervisor/options", json={"wait_boot": 8}))
    assert len(fake(hassio).calls) == 1  # no repository list given: nothing cloned or dropped
    ok(hassio.call("POST", "/supervisor/options", json={"addons_repositories": []}))
    assert ok(hassio.call("GET", "/supervisor/info"))["addons_repositories"] == [DEFAULT]  # a.git dropped
