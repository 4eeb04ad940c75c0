"""The state engine on a real dockerd: local push, names/labels/env/binds, depends_on, networks,
volumes, adoption of legacy containers, bad targets, locks taken inside a container."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integration.engine_support import (
    cleanup,
    converged,
    post_target,
    request,
    service,
    status,
    supervised,
    target,
    wait_for,
)


@pytest.fixture
def engine_agent(start_agent: Callable[..., Any], docker_client: Any, busybox_image: str) -> Iterator[Any]:
    """An unmanaged agent (local mode) on a clean engine."""
    cleanup(docker_client)
    agent = start_agent()
    yield agent
    agent.stop()
    cleanup(docker_client)


def two_services(image: str, **extra: Any) -> dict[str, Any]:
    return target({1: service("db", 11, image, volumes=["data:/data"], labels={"io.resin.features.dbus": "1"}),
                   2: service("web", 12, image, depends_on=["db"], networks=["front"], **extra)},
                  volumes={"data": {}}, networks={"front": {}})


def test_local_push_becomes_containers(engine_agent: Any, docker_client: Any, busybox_image: str) -> None:
    response = post_target(engine_agent, two_services(busybox_image))
    assert (response.status_code, response.content) == (200, b'{"status":"success","message":"OK"}')
    body = wait_for(converged(engine_agent, 2, "c1"), what="two running services")
    assert [c["serviceName"] for c in sorted(body["containers"], key=lambda c: c["imageId"])] == ["db", "web"]
    assert list(body) == ["status", "appState", "overallDownloadProgress", "containers", "images", "release"]
    db = docker_client.containers.get("db_11_1")
    web = docker_client.containers.get("web_12_1")
    labels = db.labels
    assert (labels["io.balena.supervised"], labels["io.balena.app-id"], labels["io.balena.service-id"],
            labels["io.balena.service-name"], labels["io.balena.features.dbus"]) == ("true", "1", "1", "db", "1")
    env = dict(e.split("=", 1) for e in db.attrs["Config"]["Env"])
    assert env["BALENA_APP_ID"] == "1" and env["RESIN_SERVICE_NAME"] == "db" and env["BALENA_DEVICE_NAME_AT_INIT"] == "Home"
    binds = db.attrs["HostConfig"]["Binds"]
    assert "1_data:/data" in binds and any(b.endswith("/services/1/db:/tmp/balena") for b in binds)
    assert any(b.endswith(":/host/run/dbus") for b in binds)
    assert db.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {"1_front"}
    assert "web" in web.attrs["NetworkSettings"]["Networks"]["1_front"]["Aliases"]
    assert set(db.attrs["NetworkSettings"]["Networks"]) == {"1_default"}
    assert docker_client.volumes.get("1_data").attrs["Labels"]["io.balena.supervised"] == "true"
    # depends_on: web was started after db was running
    assert web.attrs["State"]["StartedAt"] >= db.attrs["State"]["StartedAt"]
    # a second apply changes nothing: same containers
    ids = {c.id for c in supervised(docker_client)}
    assert post_target(engine_agent, two_services(busybox_image)).status_code == 200
    wait_for(converged(engine_agent, 2, "c1"))
    assert {c.id for c in supervised(docker_client)} == ids


def test_target_state_get_round(engine_agent: Any, busybox_image: str) -> None:
    post_target(engine_agent, two_services(busybox_image))
    response = request(engine_agent, "GET", "/v2/local/target-state")
    assert response.status_code == 200
    state = response.json()["state"]
    assert list(state["local"]) == ["name", "config", "apps"] and state["local"]["name"] == "Home"
    assert list(state["local"]["config"])[:2] == ["SUPERVISOR_LOCAL_MODE", "SUPERVISOR_VPN_CONTROL"]
    services = state["local"]["apps"]["1"]["services"]
    assert isinstance(services, list) and services[0]["serviceName"] == "db"
    assert services[0]["environment"]["BALENA_SERVICE_NAME"] == "db"


def test_release_update_renames_or_recreates(engine_agent: Any, docker_client: Any, busybox_image: str) -> None:
    post_target(engine_agent, two_services(busybox_image))
    wait_for(converged(engine_agent, 2, "c1"))
    before = {c.name: c.id for c in supervised(docker_client)}
    # same config, new release: only renamed (updateMetadata)
    body = two_services(busybox_image)
    body["local"]["apps"]["1"]["releaseId"] = 2
    body["local"]["apps"]["1"]["commit"] = "c2"
    post_target(engine_agent, body)
    wait_for(converged(engine_agent, 2, "c2"))
    after = {c.name: c.id for c in supervised(docker_client)}
    assert after == {"db_11_2": before["db_11_1"], "web_12_2": before["web_12_1"]}
    # environment change: web is recreated, db kept
    body = two_services(busybox_image, environment={"MODE": "new"})
    body["local"]["apps"]["1"]["releaseId"] = 2
    body["local"]["apps"]["1"]["commit"] = "c3"
    post_target(engine_agent, body)
    wait_for(converged(engine_agent, 2, "c3"))
    final = {c.name: c.id for c in supervised(docker_client)}
    assert final["db_11_2"] == before["db_11_1"] and final["web_12_2"] != before["web_12_1"]
    web = docker_client.containers.get("web_12_2")
    assert "MODE=new" in web.attrs["Config"]["Env"]


def test_removed_service_and_network_go_volume_stays(engine_agent: Any, docker_client: Any,
                                                     busybox_image: str) -> None:
    post_target(engine_agent, two_services(busybox_image))
    wait_for(converged(engine_agent, 2, "c1"))
    post_target(engine_agent, target({1: service("db", 11, busybox_image)}, commit="c2"))
    wait_for(converged(engine_agent, 1, "c2"))
    assert [c.name for c in supervised(docker_client)] == ["db_11_1"]
    assert not docker_client.networks.list(names=["1_front"])
    assert docker_client.volumes.get("1_data")  # never removed implicitly


def test_legacy_container_is_adopted(engine_agent: Any, start_agent: Callable[..., Any], docker_client: Any,
                                     busybox_image: str, tmp_path: Any) -> None:
    """A container made with the legacy names, labels and config is kept as it is, not recreated."""
    post_target(engine_agent, target({1: service("main", 5, busybox_image)}))
    wait_for(converged(engine_agent, 1, "c1"))
    made = docker_client.containers.get("main_5_1")
    engine_agent.stop()
    # the same device (uuid, key) with no target, commit or image records: as after replacing the
    # node supervisor, whose containers carry these names, labels and config
    import sqlite3

    db = sqlite3.connect(engine_agent.data_dir / "polyvisor.sqlite")
    with db:
        db.execute("DELETE FROM app")
        db.execute("DELETE FROM image")
        db.execute("DELETE FROM config WHERE key IN ('current_commit', 'target_state_set')")
    db.close()
    fresh = start_agent()
    assert post_target(fresh, target({1: service("main", 5, busybox_image)})).status_code == 200
    wait_for(converged(fresh, 1, "c1"))
    assert [c.id for c in supervised(docker_client)] == [made.id]
    assert docker_client.containers.get(made.id).attrs["State"]["StartedAt"] == made.attrs["State"]["StartedAt"]


def test_bad_targets_are_refused_and_change_nothing(engine_agent: Any, docker_client: Any,
                                                    busybox_image: str) -> None:
    post_target(engine_agent, target({1: service("main", 5, busybox_image)}))
    wait_for(converged(engine_agent, 1, "c1"))
    ids = {c.id for c in supervised(docker_client)}
    bad = [
        ({"local": 1}, "Local state must be an object"),
        (target({1: service("main", 5, "BAD IMAGE")}), "Invalid apps"),
        (target({1: service("a", 5, busybox_image), 2: service("a", 6, busybox_image)}), "Invalid apps"),
        (target({1: service("a", 5, busybox_image, depends_on=["b"]),
                 2: service("b", 6, busybox_image, depends_on=["a"])}), "Invalid apps"),
        (target({1: service("main", 5, busybox_image, privileged="yes")}), "Invalid apps"),
        (target({1: service("main", 5, busybox_image, unknown_field=1)}), "Invalid apps"),
    ]
    for body, message in bad:
        response = post_target(engine_agent, body)
        assert response.status_code == 400, response.text
        assert response.content == b'{"status":"failed","message":"%s"}' % message.encode()
    assert {c.id for c in supervised(docker_client)} == ids
    assert status(engine_agent)["appState"] == "applied"


def test_update_lock_from_inside_the_container(engine_agent: Any, docker_client: Any, busybox_image: str) -> None:
    post_target(engine_agent, target({1: service("main", 5, busybox_image)}))
    wait_for(converged(engine_agent, 1, "c1"))
    container = docker_client.containers.get("main_5_1")
    # the application takes its lock the documented way, from inside
    assert container.exec_run(["sh", "-c", "touch /tmp/balena/updates.lock"]).exit_code == 0
    post_target(engine_agent, target({1: service("main", 5, busybox_image, environment={"V": "2"})}, commit="c2"))
    wait_for(lambda: request(engine_agent, "GET", "/v1/device").json()["update_failed"], 30, "locked update")
    assert docker_client.containers.get("main_5_1").id == container.id
    stop = request(engine_agent, "POST", "/v2/applications/1/stop-service", json={"serviceName": "main"})
    assert stop.status_code == 423
    assert stop.json()["message"].startswith("Updates are locked: EEXIST: file already exists, open '")
    assert container.exec_run(["rm", "/tmp/balena/updates.lock"]).exit_code == 0
    wait_for(converged(engine_agent, 1, "c2"), 60, "update after unlock")
    assert docker_client.containers.get("main_5_1").id != container.id


def test_lock_override_by_config(engine_agent: Any, docker_client: Any, busybox_image: str) -> None:
    post_target(engine_agent, target({1: service("main", 5, busybox_image)}))
    wait_for(converged(engine_agent, 1, "c1"))
    container = docker_client.containers.get("main_5_1")
    container.exec_run(["sh", "-c", "touch /tmp/balena/updates.lock"])
    post_target(engine_agent, target({1: service("main", 5, busybox_image, environment={"V": "2"})}, commit="c2",
                                     config={"SUPERVISOR_OVERRIDE_LOCK": "1"}))
    wait_for(converged(engine_agent, 1, "c2"), 60, "forced update")
    assert docker_client.containers.get("main_5_1").id != container.id


def test_a_start_the_engine_refuses_is_logged_and_retried(engine_agent: Any, docker_client: Any,
                                                          busybox_image: str) -> None:
    """A command that does not exist: dockerd refuses the start. The device's log says why (the
    legacy's startServiceError, which `balena push` streams), the agent's own log has one line per
    attempt and no traceback, and the next target that can start replaces it."""
    post_target(engine_agent, target({1: service("main", 5, busybox_image, command=["/no/such/program"])}))
    failed = "Failed to start service 'main sha256:"  # the image as the legacy named it: its id

    def failures() -> list[str]:
        return [line for line in engine_agent.log.read_text(errors="replace").splitlines() if failed in line]

    wait_for(lambda: len(failures()) >= 2, 60, "two refused starts, retried")
    assert all("due to '" in line and "/no/such/program" in line for line in failures()), failures()
    log = engine_agent.log.read_text(errors="replace")
    assert "apply failed (" in log and "Traceback" not in log
    post_target(engine_agent, target({1: service("main", 5, busybox_image)}, commit="c2"))
    wait_for(converged(engine_agent, 1, "c2"), 60, "the startable target")
