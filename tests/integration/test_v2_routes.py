"""The v2 routes over a real engine: status documents, service actions, restart, purge, container
ids, volume cleanup, the NDJSON log stream. Every response is checked against spec/balena_v2.yaml."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integration.engine_support import (
    cleanup,
    converged,
    post_target,
    request,
    service,
    supervised,
    target,
    wait_for,
)
from tests.openapi import check_response

STEM = "balena_v2"
APP_NOT_FOUND = ("App not found: an app needs to be installed for this endpoint to work.\n"
                 "\tIf you've recently moved this device from another app,\n"
                 "\tplease push an app and wait for it to be installed first.")


@pytest.fixture
def app_agent(start_agent: Callable[..., Any], docker_client: Any, busybox_image: str) -> Iterator[Any]:
    """An agent running a two-service app (main with a volume, side) on a clean engine."""
    cleanup(docker_client)
    agent = start_agent()
    body = target({1: service("main", 11, busybox_image, volumes=["data:/data"]),
                   2: service("side", 12, busybox_image)}, volumes={"data": {}})
    assert post_target(agent, body).status_code == 200
    wait_for(converged(agent, 2, "c1"), 60)
    yield agent
    agent.stop()
    cleanup(docker_client)


def call(agent: Any, method: str, path: str, **kwargs: Any) -> Any:
    """A keyed request, checked against the spec."""
    response = request(agent, method, path, **kwargs)
    check_response(STEM, response, method, path.split("?")[0])
    return response


def test_status_documents(app_agent: Any, docker_client: Any) -> None:
    body = call(app_agent, "GET", "/v2/state/status").json()
    # containers in the engine's list order (both were created in the same iteration)
    assert sorted(c["serviceName"] for c in body["containers"]) == ["main", "side"]
    main = next(c for c in body["containers"] if c["serviceName"] == "main")
    assert list(main) == ["status", "serviceName", "appId", "imageId", "serviceId", "containerId", "createdAt"]
    assert (main["status"], main["appId"], main["imageId"], main["serviceId"]) == ("Running", 1, 11, 1)
    assert body["release"] == "c1" and body["overallDownloadProgress"] is None
    # local mode records no images (no fetch, no saveImage), and services are listed from the image
    # records: none here (the managed case is in test_engine_registry.py)
    assert body["images"] == []
    apps = call(app_agent, "GET", "/v2/applications/state").content
    assert apps == b'{"app":{"appId":1,"commit":"c1","services":{}}}'
    one = call(app_agent, "GET", "/v2/applications/99/state").content  # the appId is ignored (2019)
    assert one == (b'{"local":{"1":{"services":{"11":{"status":"Running","releaseId":1,"download_progress":null},'
                   b'"12":{"status":"Running","releaseId":1,"download_progress":null}}}},"dependent":{},"commit":"c1"}')
    ids = call(app_agent, "GET", "/v2/containerId").json()
    assert ids["services"] == {"main": docker_client.containers.get("main_11_1").id,
                               "side": docker_client.containers.get("side_12_1").id}
    one_id = call(app_agent, "GET", "/v2/containerId?service=side").json()
    assert one_id == {"status": "success", "containerId": ids["services"]["side"]}
    missing = call(app_agent, "GET", "/v2/containerId?serviceName=nope")
    assert (missing.status_code, missing.json()["message"]) == (503, "Could not find service with that name")
    empty = call(app_agent, "GET", "/v2/containerId?serviceName=")  # present but empty: matches nothing
    assert (empty.status_code, empty.json()["message"]) == (503, "Could not find service with that name")
    fallback = call(app_agent, "GET", "/v2/containerId?serviceName=&service=side")  # JS ||
    assert fallback.json() == one_id
    device = request(app_agent, "GET", "/v1/device").json()
    assert (device["status"], device["commit"], device["update_pending"]) == ("Idle", "c1", False)


def test_stop_start_restart_service(app_agent: Any, docker_client: Any) -> None:
    first = docker_client.containers.get("side_12_1").id
    stop = call(app_agent, "POST", "/v2/applications/1/stop-service", json={"serviceName": "side"})
    assert (stop.status_code, stop.text, stop.headers["content-type"]) == (200, "OK", "text/html; charset=utf-8")
    assert docker_client.containers.get(first).status == "exited"
    # the engine leaves it stopped (volatile running:false), even when asked to apply
    request(app_agent, "POST", "/v1/update")
    time.sleep(1.5)
    assert docker_client.containers.get(first).status == "exited"
    start = call(app_agent, "POST", "/v2/applications/1/start-service", json={"imageId": 12})
    assert start.text == "OK" and docker_client.containers.get(first).status == "running"
    restart = call(app_agent, "POST", "/v2/applications/1/restart-service", json={"serviceName": "side"})
    assert restart.text == "OK"
    second = docker_client.containers.get("side_12_1")
    assert second.id != first and second.status == "running"


@pytest.mark.parametrize(("path", "body", "status", "text"), [
    ("/v2/applications/7/stop-service", {"serviceName": "main"}, 404, APP_NOT_FOUND),
    ("/v2/applications/1/stop-service", {"serviceName": "nope"}, 404,
     "Service not found, a container must exist for this endpoint to work"),
    ("/v2/applications/1/stop-service", {"imageId": "11"}, 404,  # a string never matches (===)
     "Service not found, a container must exist for this endpoint to work"),
    ("/v2/applications/1/start-service", {}, 503, "This endpoint requires one of imageId or serviceName"),
    ("/v2/applications/7/restart", {}, 503, "Cannot read property 'services' of undefined"),
    ("/v2/applications/7/purge", {}, 503, APP_NOT_FOUND),
])
def test_action_errors(app_agent: Any, path: str, body: dict[str, Any], status: int, text: str) -> None:
    response = call(app_agent, "POST", path, json=body)
    assert (response.status_code, response.text) == (status, text)


def test_restart_and_purge(app_agent: Any, docker_client: Any) -> None:
    main = docker_client.containers.get("main_11_1")
    assert main.exec_run(["sh", "-c", "echo kept > /data/file"]).exit_code == 0
    before = {c.id for c in supervised(docker_client)}
    assert call(app_agent, "POST", "/v2/applications/1/restart", json={}).text == "OK"
    after = {c.id for c in supervised(docker_client)}
    assert not before & after and len(after) == 2
    main = docker_client.containers.get("main_11_1")
    assert main.exec_run(["cat", "/data/file"]).output == b"kept\n"  # restart keeps the data
    assert call(app_agent, "POST", "/v2/applications/1/purge", json={"force": True}).text == "OK"
    main = docker_client.containers.get("main_11_1")
    assert main.status == "running"
    assert main.exec_run(["ls", "/data"]).output == b""  # purge emptied the volume
    wait_for(converged(app_agent, 2, "c1"), 30)


def test_cleanup_volumes_keeps_target_volumes(app_agent: Any, docker_client: Any) -> None:
    stray = docker_client.volumes.create("stray_volume")
    assert call(app_agent, "GET", "/v2/cleanup-volumes").content == b'{"status":"success"}'
    names = {v.name for v in docker_client.volumes.list()}
    assert "1_data" in names and stray.name not in names


def test_local_logs_stream(app_agent: Any, docker_client: Any) -> None:
    records: list[dict[str, Any]] = []
    stop = threading.Event()
    headers: dict[str, str] = {}

    def read() -> None:
        with app_agent.client(timeout=30) as client, client.stream(
                "GET", "/v2/local/logs", headers={"Authorization": f"ApiKey {app_agent.key}"}) as response:
            headers.update(response.headers)
            for line in response.iter_lines():
                if line:
                    records.append(json.loads(line))
                if stop.is_set():
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: records, 10, "first record")
    assert records[0] == {"message": "Streaming logs", "isSystem": True}
    assert "content-type" not in headers
    time.sleep(1.5)  # the followers attach within a second
    docker_client.containers.get("main_11_1").exec_run(["sh", "-c", "echo hello-from-main > /proc/1/fd/1"])
    call(app_agent, "POST", "/v2/applications/1/restart-service", json={"serviceName": "side"})
    wait_for(lambda: any(r.get("message") == "hello-from-main" for r in records), 15, "container line")
    line = next(r for r in records if r.get("message") == "hello-from-main")
    assert list(line) == ["serviceName", "serviceId", "imageId", "isStdout", "timestamp", "message"]
    assert (line["serviceName"], line["serviceId"], line["imageId"], line["isStdout"]) == ("main", 1, 11, True)
    assert abs(line["timestamp"] - time.time() * 1000) < 60_000
    # the legacy restart step: kill, then start, with their messages
    wait_for(lambda: any(r.get("message", "").startswith("Started service 'side") for r in records), 10)
    killed = [r["message"] for r in records if r.get("message", "").startswith(("Killing service 'side",
                                                                               "Killed service 'side"))]
    assert len(killed) == 2
    assert all(r["isSystem"] is True for r in records if "serviceId" not in r)
    stop.set()
    docker_client.containers.get("main_11_1").exec_run(["sh", "-c", "echo bye > /proc/1/fd/1"])
    reader.join(10)
    assert not reader.is_alive()
    # the agent stays healthy after the client went away
    assert request(app_agent, "GET", "/v2/version").status_code == 200
