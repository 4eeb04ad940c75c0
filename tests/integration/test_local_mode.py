"""Local mode (balena-v2.md 3.2, 4.2; application-manager.coffee, local-mode.ts): images are never
pulled nor recorded; on a managed device entering stores an engine snapshot, leaving removes what
appeared since and the local apps, and the URL's target runs again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors

from integration.engine_support import (
    converged,
    managed,
    post_target,
    request,
    service,
    status,
    supervised,
    target,
    wait_for,
)


def exists(collection: Any, name: str) -> bool:
    try:
        collection.get(name)
        return True
    except docker.errors.NotFound:
        return False


def test_leaving_local_mode_removes_what_it_left(start_agent: Callable[..., Any], clean_engine: Any,
                                                busybox_image: str, tmp_path: Path) -> None:
    client = clean_engine
    bystander = client.containers.create(busybox_image, ["sleep", "1"], name="pv-bystander")
    source = tmp_path / "target.json"
    cloud = {1: service("cloud", 11, busybox_image)}

    def publish(local_mode: bool) -> None:
        body = managed(cloud, "m1")
        if local_mode:
            body["local"]["config"]["SUPERVISOR_LOCAL_MODE"] = "1"
        source.write_text(json.dumps(body))

    try:
        publish(False)
        agent = start_agent(args=["--target-url", source.as_uri(), "--log-level", "info"])
        wait_for(converged(agent, 1, "m1"), 60, "the URL's target")
        assert request(agent, "GET", "/v2/local/target-state").status_code == 400  # not in local mode

        publish(True)
        wait_for(lambda: request(agent, "GET", "/v2/local/target-state").status_code == 200, 30,
                 "local mode entered")
        pushed = target({5: service("pushed", 55, busybox_image, volumes=["scratch:/scratch"], networks=["extra"])},
                        commit="l1", volumes={"scratch": {}}, networks={"extra": {}},
                        config={"SUPERVISOR_POLL_INTERVAL": "1000"})
        assert post_target(agent, pushed).status_code == 200
        wait_for(converged(agent, 1, "l1"), 60, "the pushed target")
        assert [c.name for c in supervised(client)] == ["pushed_55_1"]
        stray = client.containers.create(busybox_image, ["sleep", "1"], name="pv-made-in-local-mode")
        assert exists(client.volumes, "1_scratch") and exists(client.networks, "1_extra")

        publish(False)
        wait_for(converged(agent, 1, "m1"), 60, "the URL's target again")
        assert [c.name for c in supervised(client)] == ["cloud_11_1"]
        assert not exists(client.volumes, "1_scratch") and not exists(client.networks, "1_extra")
        assert not exists(client.containers, stray.id)  # everything made since the snapshot goes
        assert exists(client.containers, bystander.id)  # what was there before stays
        assert "leaving local mode: removing what appeared since" in agent.log.read_text(errors="replace")
        assert request(agent, "GET", "/v2/local/target-state").status_code == 400
    finally:
        for name in ("pv-bystander", "pv-made-in-local-mode"):
            try:
                client.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass


def test_local_mode_never_pulls_nor_records_images(start_agent: Callable[..., Any], clean_engine: Any,
                                                   busybox_image: str) -> None:
    """A target naming an image the engine lacks: the old container goes (download-then-kill has
    nothing to download), no pull is tried, the create fails and is retried; once balena push has
    built the image on the device the service runs. Nothing is recorded, so the status documents
    list no images and /v2/applications/state no services (they come from the image records)."""
    client = clean_engine
    agent = start_agent(args=["--log-level", "info"])
    fast = {"SUPERVISOR_POLL_INTERVAL": "2000"}  # caps the retry back-off
    post_target(agent, target({1: service("main", 5, busybox_image)}, config=fast))
    assert wait_for(converged(agent, 1, "c1"), 60, "release 1")["images"] == []
    assert request(agent, "GET", "/v2/applications/state").json() == \
        {"app": {"appId": 1, "commit": "c1", "services": {}}}

    missing = "pv-local/built-on-device:2"
    post_target(agent, target({1: service("main", 6, missing)}, release=2, commit="c2", config=fast))
    wait_for(lambda: request(agent, "GET", "/v1/device").json()["update_failed"] and not supervised(client),
             30, "old container removed, update failing")
    body = status(agent)
    assert (body["appState"], body["containers"], body["images"], body["release"]) == ("applying", [], [], "c1")
    assert request(agent, "GET", "/v2/applications/state").json() == \
        {"app": {"appId": 1, "commit": "c2", "services": {}}}
    log = agent.log.read_text(errors="replace")
    assert f"Installing service 'main {missing}'" in log and "Downloading image" not in log

    client.images.get(busybox_image).tag("pv-local/built-on-device", "2")  # what balena push does
    try:
        assert wait_for(converged(agent, 1, "c2"), 30, "the retried apply")["images"] == []
        assert [c.name for c in supervised(client)] == ["main_6_2"]
    finally:
        client.images.remove(missing)  # only the tag: the image keeps its own name
