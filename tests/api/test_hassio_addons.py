"""hassio /addons in process on the real Addons manager and store (hassio.md §2.3, §3.6, §5):
add-ons in the local repository folder, no engine (install and the containers: the integration
tests, tests/integration/test_hassio_addons_api.py). Roles, `self`, 138's request schemas and
messages, the raw routes, unknown and not installed add-ons.

Every response is checked against spec/hassio.yaml by Agent.request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.hassio_support import (  # noqa: F401 (fixtures)
    JSON,
    Hassio,
    HassioAgents,
    hassio_agents_fixture,
)
from tests.api.support import API_KEY, MACHINE_ID
from tests.openapi import load_spec

SERVER_ERROR = (b"<html><head><title>500 Internal Server Error</title></head><body>"
                b"<h1>500 Internal Server Error</h1>Server got itself in trouble</body></html>")
ECHO = {"name": "Echo", "version": "1.2", "slug": "echo", "description": "echoes stdin", "startup": "services",
        "boot": "auto", "options": {"word": "hi", "count": 2}, "schema": {"word": "str", "count": "int(1,5)"},
        "image": "pvtest/{arch}-addon-echo", "stdin": True, "ports": {"8000/tcp": 8000},
        "devices": ["/dev/ttyUSB0:/dev/ttyUSB0:rwm"], "services": ["mqtt:want"], "hassio_api": True,
        "hassio_role": "manager", "url": "https://example.invalid/echo"}
BUILT = {"name": "Built", "version": "0.1", "slug": "built", "description": "built here", "startup": "once",
         "boot": "manual", "options": {}, "schema": False}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # not UTF-8: read past the spec check


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert body["result"] == "ok"
    return body["data"]


def refused(response: Any, message: str | None) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {"result": "error", "message": message}


def raw(response: Any) -> tuple[int, str, bytes]:
    return response.status_code, response.headers["content-type"], response.content


def write(folder: Path, config: dict[str, Any], files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    for name, content in files.items():
        (folder / name).write_bytes(content)


@pytest.fixture
def hassio(hassio_agents: HassioAgents, tmp_path: Path) -> Hassio:
    """An agent whose local repository holds `local_echo` (image, with icon, logo, changelog and
    README) and `local_built` (local build, no files); read as the agent's start reads them."""
    agent = hassio_agents.start()
    local = agent.agent.data_dir / "hassio" / "addons" / "local"
    write(local / "echo", ECHO, {"icon.png": PNG, "logo.png": b"logo", "CHANGELOG.md": "# 1.2\n- caf\u00e9\n".encode(),
                                 "README.md": b"# Echo\nlong text\n"})
    write(local / "built", BUILT, {"Dockerfile": b"FROM scratch\n"})
    agent.services.hassio_addons.load()
    return agent


def install(hassio: Hassio, slug: str) -> None:
    """Record the add-on as installed, as a successful install does (no engine in process)."""
    addons = hassio.services.hassio_addons
    found = addons.store.get(slug)
    addons.installed.install(slug, {**found.config, "location": str(found.path), "repository": found.repository})


def test_listing(hassio: Hassio) -> None:
    data = ok(hassio.call("GET", "/addons"))
    by_slug = {a["slug"]: a for a in data["addons"]}
    assert by_slug["local_echo"] == {
        "name": "Echo", "slug": "local_echo", "description": "echoes stdin", "version": "1.2", "installed": None,
        "available": True, "detached": False, "repository": "local", "build": False,
        "url": "https://example.invalid/echo", "icon": True, "logo": True}
    assert (by_slug["local_built"]["build"], by_slug["local_built"]["icon"]) == (True, False)
    assert [r["slug"] for r in data["repositories"]] == ["local"]


def test_info_of_an_add_on_not_installed(hassio: Hassio) -> None:
    info = ok(hassio.call("GET", "/addons/local_echo/info"))
    order = load_spec("hassio")["components"]["schemas"]["AddonInfoOk"]["properties"]["data"]["x-key-order"]
    assert list(info) == order  # 138's order: name, slug, description, long_description, version, ...
    listing = load_spec("hassio")["components"]["schemas"]["AddonsListOk"]["properties"]["data"]
    assert list(ok(hassio.call("GET", "/addons"))["addons"][0]) == listing["properties"]["addons"]["items"]["x-key-order"]
    assert (info["version"], info["last_version"], info["state"], info["protected"], info["auto_update"]) == (
        None, "1.2", "none", True, None)
    assert (info["long_description"], info["devices"], info["services"], info["options"]) == (
        "# Echo\nlong text\n", ["/dev/ttyUSB0"], ["mqtt:want"], {"word": "hi", "count": 2})
    assert (info["network"], info["changelog"], info["stdin"], info["hassio_role"], info["rating"]) == (
        {"8000/tcp": 8000}, True, True, "manager", 4)


@pytest.mark.parametrize(("method", "action"), [
    ("GET", "info"), ("POST", "install"), ("POST", "uninstall"), ("POST", "start"), ("POST", "stop"),
    ("POST", "restart"), ("POST", "update"), ("POST", "rebuild"), ("POST", "options"), ("POST", "security"),
    ("POST", "stdin"), ("GET", "stats")])
def test_unknown_add_on(hassio: Hassio, method: str, action: str) -> None:
    refused(hassio.call(method, f"/addons/local_nothing/{action}", json={"x": 1}), "Addon does not exist")


@pytest.mark.parametrize("action", ["uninstall", "start", "stop", "restart", "update", "rebuild", "options",
                                    "security", "stdin", "stats"])
def test_not_installed(hassio: Hassio, action: str) -> None:
    response = hassio.call("GET" if action == "stats" else "POST", f"/addons/local_echo/{action}",
                           content=b"not json")
    refused(response, "Addon is not installed")


def test_raw_routes(hassio: Hassio) -> None:
    icon = hassio.agent.client.get("/addons/local_echo/icon", headers={"X-HASSIO-KEY": API_KEY})
    assert raw(icon) == (200, "image/png", PNG)  # not checked against the spec: PNG is not UTF-8 text
    assert raw(hassio.call("GET", "/addons/local_echo/logo")) == (200, "image/png", b"logo")
    assert raw(hassio.call("GET", "/addons/local_echo/changelog")) == (
        200, "text/plain", "# 1.2\n- caf\u00e9\n".encode())
    for path, message in [("/addons/local_built/icon", b"No icon found!"), ("/addons/local_built/logo", b"No logo found!"),
                          ("/addons/local_built/changelog", b"No changelog found!"),
                          ("/addons/local_nothing/changelog", b"Addon does not exist"),
                          ("/addons/local_nothing/logs", b"Addon does not exist"),
                          ("/addons/local_echo/logs", b"Addon is not installed")]:
        assert raw(hassio.call("GET", path)) == (200, "application/octet-stream", message), path


def test_options_security_and_stdin_on_an_installed_add_on(hassio: Hassio) -> None:
    install(hassio, "local_echo")
    install(hassio, "local_built")
    installed = hassio.services.hassio_addons.installed
    body = {"boot": "manual", "auto_update": True, "audio_input": "0,1",
            "network": {"8000/tcp": 8080, "9999/tcp": 9999}, "options": {"word": "yo", "count": "3", "x": 1}}
    assert hassio.call("POST", "/addons/local_echo/options", json=body).content == b'{"result": "ok", "data": {}}'
    user = installed.user("local_echo")
    assert (user["boot"], user["auto_update"], user["network"], user["options"], user["audio_input"]) == (
        "manual", True, {"8000/tcp": 8080}, {"word": "yo", "count": 3}, "0,1")  # 9999 is not the add-on's port
    refused(hassio.call("POST", "/addons/local_echo/options", json={"options": {"word": "yo", "count": 9}}),
            "not a valid value for dictionary value @ data['options']. Got {'word': 'yo', 'count': 9}")
    refused(hassio.call("POST", "/addons/local_echo/options", json={"boot": "never"}),
            "value is not allowed for dictionary value @ data['boot']. Got 'never'")
    ok(hassio.call("POST", "/addons/local_echo/options", json={"options": None, "network": None}))
    user = installed.user("local_echo")
    assert (user["options"], "network" in user) == ({}, False)
    ok(hassio.call("POST", "/addons/local_built/options", json={"options": {"free": ["form"]}}))  # schema: false
    assert installed.user("local_built")["options"] == {"free": ["form"]}

    ok(hassio.call("POST", "/addons/local_echo/security", json={"protected": False}))
    assert installed.user("local_echo")["protected"] is False
    refused(hassio.call("POST", "/addons/local_echo/security", json={"protected": "x"}),
            "expected boolean for dictionary value @ data['protected']. Got 'x'")
    refused(hassio.call("POST", "/addons/local_built/stdin", content=b"hi\n"), "STDIN not supported by add-on")


def test_start_checks_the_stored_options_first(hassio: Hassio) -> None:
    install(hassio, "local_echo")
    hassio.services.hassio_addons.installed.set_user("local_echo", options={"count": 9})  # over the defaults
    refused(hassio.call("POST", "/addons/local_echo/start"), "value must be at most 5.0. Got {'word': 'hi', 'count': 9}")


def test_roles_and_self(hassio: Hassio) -> None:
    install(hassio, "local_echo")
    default = hassio.addon("local_echo", role="default", hassio_api=False)  # the add-on's own token
    manager = hassio.addon("local_manager", role="manager")
    admin = hassio.addon("local_admin", role="admin")
    assert ok(hassio.call("GET", "/addons/self/info", token=default))["slug"] == "local_echo"
    assert raw(hassio.call("GET", "/addons/self/changelog", token=default))[0] == 200
    for path in ("/addons/self/security", "/addons/self/update", "/addons/local_echo/info", "/addons"):
        response = hassio.call("GET" if path.endswith(("info", "addons")) else "POST", path, token=default)
        assert (response.status_code, response.text) == (403, "403: Forbidden"), path
    ok(hassio.call("GET", "/addons", token=manager))
    ok(hassio.call("GET", "/addons/local_echo/info", token=manager))
    assert hassio.call("POST", "/addons/local_echo/security", token=manager).status_code == 403
    assert hassio.call("POST", "/addons/reload", token=manager).status_code == 403  # not in 138's pattern
    ok(hassio.call("POST", "/addons/local_echo/security", token=admin, json={"protected": True}))
    ok(hassio.call("POST", "/addons/reload", token=admin))
    homeassistant = hassio.services.hassio_tokens.homeassistant_token()
    for token in (homeassistant, MACHINE_ID, API_KEY):
        response = hassio.call("GET", "/addons/self/info", token=token)
        assert (response.status_code, response.content) == (500, SERVER_ERROR)
        ok(hassio.call("GET", "/addons/local_echo/info", token=token))


def test_supervisor_info_lists_installed_add_ons(hassio: Hassio) -> None:
    assert ok(hassio.call("GET", "/supervisor/info"))["addons"] == []
    install(hassio, "local_echo")
    assert ok(hassio.call("GET", "/supervisor/info"))["addons"] == [{
        "name": "Echo", "slug": "local_echo", "description": "echoes stdin", "state": "stopped",  # no engine
        "version": "1.2", "installed": "1.2", "repository": "local", "icon": True, "logo": True}]


def test_supervisor_options_keeps_only_repositories_that_load(hassio: Hassio) -> None:
    unreachable = "http://127.0.0.1:9/nothing.git"
    ok(hassio.call("POST", "/supervisor/options", json={"addons_repositories": [unreachable], "channel": "beta"}))
    info = ok(hassio.call("GET", "/supervisor/info"))
    # the default repository stays too: it never loaded here, and 138 only dropped loaded ones
    assert (info["addons_repositories"], info["channel"]) == (["https://github.com/hassio-addons/repository"], "beta")
    assert [r["slug"] for r in ok(hassio.call("GET", "/addons"))["repositories"]] == ["local"]
