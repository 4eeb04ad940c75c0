"""hassio /addons through HTTP on a real agent process and the private dockerd (hassio.md §3.6,
§5): a custom repository served by `git daemon` on 127.0.0.1 holding an image add-on (its image
made with `docker import` of busybox, so "pulling" finds it on the engine) and a local-build
add-on (Dockerfile FROM the busybox image), added with POST /supervisor/options as Home
Assistant's panel did. Install, start, options, stdin, logs, stats, info, the add-on's own token,
stop, rebuild, uninstall. Every answer is checked against spec/hassio.yaml.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from integration.addon_repos import AddonRepo, GitDaemon, image_addon
from integration.engine_support import wait_for
from tests.openapi import check_response

TOKEN = "c0ffee" * 10 + "abcd"  # Home Assistant's token, provisioned as an image does
IMAGE = "pvapi/{arch}-addon-echo"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, docker_client: Any,
               busybox_image: str) -> Iterator[tuple[GitDaemon, str]]:
    """The git daemon and the URL of a repository with `echo` (image) and `builder` (local build)."""
    image_addon(docker_client, IMAGE, "1.0")
    with GitDaemon(tmp_path_factory.mktemp("repos")) as daemon:
        repo = AddonRepo.create(daemon.base / "addons")
        repo.add_image_addon("echo", IMAGE, "1.0", stdin=True, boot="auto", ports={"8000/tcp": 8000},
                             options={"message": "hi", "count": 2}, schema={"message": "str", "count": "int(1,5)"})
        repo.write("echo/CHANGELOG.md", "# 1.0\nfirst\n")
        repo.add_build_addon("builder", busybox_image, "0.1")
        repo.commit("two add-ons")
        yield daemon, daemon.url(repo)
    for image in docker_client.images.list(name="pvapi/amd64-addon-echo"):
        docker_client.images.remove(image.id, force=True)


class Client:
    """Home Assistant's or an add-on's calls to the agent, each checked against the spec."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def call(self, method: str, path: str, token: str = TOKEN, **kwargs: Any) -> httpx.Response:
        with self.agent.client(timeout=120) as client:
            response = client.request(method, path, headers={"X-HASSIO-KEY": token}, **kwargs)
        check_response("hassio", response, method, path)
        return response

    def ok(self, method: str, path: str, token: str = TOKEN, **kwargs: Any) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code == 200, response.content
        assert response.json()["result"] == "ok", response.content
        return response.json()["data"]


@pytest.fixture
def api(start_agent: Callable[..., Any], docker_host: str, repository: tuple[GitDaemon, str]) -> Client:
    agent = start_agent(args=["--dialects", "hassio"], ready="/supervisor/ping", dbus_address=None,
                        docker_host=docker_host, env={"HASSIO_TOKEN": TOKEN})
    client = Client(agent)
    client.ok("POST", "/supervisor/options", json={"addons_repositories": [repository[1]]})
    return client


def container(client: Any, name: str) -> Any:
    import docker.errors

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def test_image_addon_over_http(api: Client, repository: tuple[GitDaemon, str], docker_client: Any) -> None:
    url = repository[1]
    repo_id = hashlib.sha1(url.lower().encode()).hexdigest()[:8]
    slug = f"{repo_id}_echo"
    # the default one stays: never cloned here (git reaches only loopback), 138 kept it
    assert api.ok("GET", "/supervisor/info")["addons_repositories"] == ["https://github.com/hassio-addons/repository", url]
    listing = api.ok("GET", "/addons")
    assert {a["slug"] for a in listing["addons"]} >= {slug, f"{repo_id}_builder"}
    assert next(r for r in listing["repositories"] if r["slug"] == repo_id)["source"] == url
    assert api.ok("GET", f"/addons/{slug}/info")["state"] == "none"

    api.ok("POST", f"/addons/{slug}/install")
    info = api.ok("GET", f"/addons/{slug}/info")
    assert (info["version"], info["state"], info["boot"], info["protected"]) == ("1.0", "stopped", "auto", True)
    assert api.ok("GET", "/supervisor/info")["addons"] == [{
        "name": "Test echo", "slug": slug, "description": "The echo test add-on", "state": "stopped",
        "version": "1.0", "installed": "1.0", "repository": repo_id, "icon": False, "logo": False}]

    body = {"options": {"message": "from the api", "count": "3"}, "network": {"8000/tcp": 18000}, "boot": "manual"}
    api.ok("POST", f"/addons/{slug}/options", json=body)
    refused = api.call("POST", f"/addons/{slug}/options", json={"options": {"count": 9}})
    assert refused.json() == {"result": "error", "message":
                              "not a valid value for dictionary value @ data['options']. Got {'count': 9}"}

    api.ok("POST", f"/addons/{slug}/start")
    found = container(docker_client, f"addon_{slug}")
    assert found is not None
    env = dict(line.split("=", 1) for line in found.attrs["Config"]["Env"])
    data = api.agent.data_dir / "hassio" / "addons" / "data" / slug
    assert json.loads((data / "options.json").read_text()) == {"message": "from the api", "count": 3}
    info = api.ok("GET", f"/addons/{slug}/info")
    assert (info["state"], info["boot"], info["network"], info["options"]) == (
        "started", "manual", {"8000/tcp": 18000}, {"message": "from the api", "count": 3})
    assert api.ok("GET", "/supervisor/info")["addons"][0]["state"] == "started"

    def logs() -> bytes:
        response = api.call("GET", f"/addons/{slug}/logs")
        assert response.headers["content-type"] == "application/octet-stream"
        return response.content

    wait_for(lambda: b"started 1.0" in logs(), 20, "the add-on's first lines")
    assert b'"message": "from the api"' in logs()
    api.ok("POST", f"/addons/{slug}/stdin", content=b"ping\n")
    wait_for(lambda: b"stdin: ping" in logs(), 20, "stdin echoed")
    assert api.ok("GET", f"/addons/{slug}/stats")["memory_usage"] > 0
    changelog = api.call("GET", f"/addons/{slug}/changelog")
    assert (changelog.headers["content-type"], changelog.content) == ("text/plain", b"# 1.0\nfirst\n")

    # the add-on's own token: /addons/self/... resolves to it; its default role gives no more
    own = env["HASSIO_TOKEN"]
    assert api.ok("GET", "/addons/self/info", token=own)["slug"] == slug
    assert api.call("GET", f"/addons/{slug}/info", token=own).status_code == 403
    assert api.call("POST", "/addons/self/security", token=own).status_code == 403
    assert api.call("GET", "/addons/self/info").status_code == 500  # Home Assistant's token: 138's crash

    api.ok("POST", f"/addons/{slug}/stop")
    assert container(docker_client, f"addon_{slug}") is None
    assert api.call("GET", f"/addons/{slug}/stats").json() == {"result": "error", "message": "No stats available"}
    assert api.call("POST", f"/addons/{slug}/update").json() == {"result": "error", "message": "No update available!"}
    assert api.call("POST", f"/addons/{slug}/rebuild").json() == {
        "result": "error", "message": "Only local build addons are supported"}

    api.ok("POST", f"/addons/{slug}/uninstall")
    assert api.ok("GET", f"/addons/{slug}/info")["state"] == "none"
    assert api.ok("GET", "/supervisor/info")["addons"] == []
    assert not data.exists()
    assert api.call("GET", "/addons/self/info", token=own).status_code == 403  # its token is gone
    assert api.call("POST", f"/addons/{slug}/start").json() == {"result": "error", "message": "Addon is not installed"}
    image_addon(docker_client, IMAGE, "1.0")  # the uninstall removed the add-on's images, as 138 did


def test_local_build_addon_over_http(api: Client, repository: tuple[GitDaemon, str], docker_client: Any) -> None:
    repo_id = hashlib.sha1(repository[1].lower().encode()).hexdigest()[:8]
    slug = f"{repo_id}_builder"
    assert api.ok("GET", f"/addons/{slug}/info")["build"] is True
    api.ok("POST", f"/addons/{slug}/install")
    image = f"{repo_id}/amd64-addon-builder"
    assert docker_client.images.get(f"{image}:latest").labels["io.hass.version"] == "0.1"
    api.ok("POST", f"/addons/{slug}/start")
    wait_for(lambda: b"started 0.1" in api.call("GET", f"/addons/{slug}/logs").content, 30, "the build's output")
    assert api.call("POST", f"/addons/{slug}/stdin", content=b"x").json() == {
        "result": "error", "message": "STDIN not supported by add-on"}
    before = container(docker_client, f"addon_{slug}").id
    api.ok("POST", f"/addons/{slug}/rebuild")  # built again and started again, as it ran
    assert api.ok("GET", f"/addons/{slug}/info")["state"] == "started"
    assert container(docker_client, f"addon_{slug}").id != before
    refused = api.call("POST", f"/addons/{slug}/install")
    assert refused.json() == {"result": "error", "message": None}  # 138: already installed -> False
    api.ok("POST", f"/addons/{slug}/uninstall")
    assert container(docker_client, f"addon_{slug}") is None
    assert docker_client.images.list(name=image) == []
