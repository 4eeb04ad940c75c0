"""Local mode on a managed device (balena-v2.md 4.2, local-mode.ts): entering stores an engine
snapshot; leaving removes what appeared since and the local apps, and the URL's target runs again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors

from integration.engine_support import converged, managed, post_target, request, service, supervised, target, wait_for


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
