"""The v1 app routes of the real agent on apps made the legacy way on a real dockerd.

Containers carry the supervisor's labels and names, the lock folder bind-mounted at
/tmp/balena, a named volume `<appId>_data` at /data; locks are taken from inside the
container the way an application does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

APP = 1
KEY_HEADER = "Authorization"
POLITE = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]  # exits at once on docker stop
NOT_FOUND = ("App not found: an app needs to be installed for this endpoint to work.\n"
             "\tIf you've recently moved this device from another app,\n"
             "\tplease push an app and wait for it to be installed first.")


def labels(service: str, service_id: int, app_id: int = APP) -> dict[str, str]:
    return {"io.balena.supervised": "true", "io.balena.app-id": str(app_id),
            "io.balena.service-id": str(service_id), "io.balena.service-name": service}


@pytest.fixture
def legacy_app(docker_client: Any, busybox_image: str, host_root: Path) -> Iterator[Callable[..., Any]]:
    """make(service, image_id, release_id, ...) -> a container as the balena supervisor made it."""
    made: list[str] = []
    volumes: list[str] = []

    def make(service: str = "main", image_id: int = 12, release_id: int = 34, app_id: int = APP,
             env: dict[str, str] | None = None, volume: bool = True) -> Any:
        lock_dir = host_root / f"tmp/balena-supervisor/services/{app_id}/{service}"
        lock_dir.mkdir(parents=True, exist_ok=True)
        binds = {str(lock_dir): {"bind": "/tmp/balena", "mode": "rw"}}
        if volume:
            name = f"{app_id}_data"
            if name not in volumes:
                docker_client.volumes.create(name, labels={"io.balena.supervised": "true"})
                volumes.append(name)
            binds[name] = {"bind": "/data", "mode": "rw"}
        container = docker_client.containers.run(
            busybox_image, POLITE, name=f"{service}_{image_id}_{release_id}", detach=True,
            labels=labels(service, image_id + 1, app_id), network_mode="none", volumes=binds,
            environment={"FOO": "bar", "BALENA_SUPERVISOR_API_KEY": "secret", "RESIN_API_KEY": "x",
                         **(env or {})},
            restart_policy={"Name": "always"})
        made.append(container.name)
        return container

    yield make
    for name in made:
        try:
            docker_client.containers.get(name).remove(force=True)
        except Exception:
            pass
    for name in volumes:
        try:
            docker_client.volumes.get(name).remove(force=True)
        except Exception:
            pass


def call(agent: Any, method: str, path: str, **kwargs: Any) -> Any:
    headers = {KEY_HEADER: f"ApiKey {agent.key}", **kwargs.pop("headers", {})}
    with agent.client() as client:
        return client.request(method, path, headers=headers, **kwargs)


def running(docker_client: Any, name: str) -> bool:
    return bool(docker_client.containers.get(name).attrs["State"]["Running"])


def test_get_app_answers_as_the_2019_route(agent: Any, legacy_app: Callable[..., Any]) -> None:
    container = legacy_app()
    response = call(agent, "GET", f"/v1/apps/{APP}")
    assert response.status_code == 200, response.text
    body = response.json()
    # the 2019 route read properties its Service class lacked: env {} and no imageId, as it answered
    assert list(body) == ["appId", "containerId", "env", "releaseId"]
    assert body["appId"] == APP and body["containerId"] == container.id and body["releaseId"] == 34
    assert body["env"] == {}


def test_unknown_and_multi_service_apps_are_refused_untouched(agent: Any, legacy_app: Callable[..., Any],
                                                              docker_client: Any) -> None:
    legacy_app("one", 1, 1)
    legacy_app("two", 2, 1)
    for method, path in (("GET", f"/v1/apps/{APP}"), ("POST", f"/v1/apps/{APP}/stop")):
        response = call(agent, method, path)
        assert (response.status_code, response.text) == (
            400, "Some v1 endpoints are only allowed on single-container apps")
    assert running(docker_client, "one_1_1") and running(docker_client, "two_2_1")
    response = call(agent, "POST", "/v1/apps/99/stop")
    assert (response.status_code, response.text) == (400, "App not found")
    response = call(agent, "POST", "/v1/apps/abc/start")
    assert (response.status_code, response.text) == (400, "Missing app id")


def test_stop_and_start(agent: Any, legacy_app: Callable[..., Any], docker_client: Any) -> None:
    container = legacy_app()
    response = call(agent, "POST", f"/v1/apps/{APP}/stop")
    assert response.status_code == 200 and response.content == f'{{"containerId":"{container.id}"}}'.encode()
    assert not running(docker_client, container.name)
    response = call(agent, "POST", f"/v1/apps/{APP}/start", data={"force": "1"})
    assert response.status_code == 200 and response.json() == {"containerId": container.id}
    assert running(docker_client, container.name)


def test_lock_taken_inside_the_container_blocks_until_forced(agent: Any, legacy_app: Callable[..., Any],
                                                             docker_client: Any, host_root: Path) -> None:
    container = legacy_app()
    exit_code, _ = container.exec_run(["touch", "/tmp/balena/updates.lock"])
    assert exit_code == 0
    lock = host_root / f"tmp/balena-supervisor/services/{APP}/main/updates.lock"
    assert lock.exists()
    response = call(agent, "POST", f"/v1/apps/{APP}/stop")
    assert response.status_code == 503
    shown = f"/mnt/root/tmp/balena-supervisor/services/{APP}/main/updates.lock"  # as the supervisor saw it
    assert response.text == f"Updates are locked: EEXIST: file already exists, open '{shown}'"
    assert running(docker_client, container.name) and lock.exists()
    response = call(agent, "POST", "/v1/reboot")  # reboot stops apps under their locks first
    assert response.status_code == 423
    assert response.json() == {"Data": "", "Error": f"Updates are locked: EEXIST: file already exists, open '{shown}'"}
    assert running(docker_client, container.name)
    response = call(agent, "POST", f"/v1/apps/{APP}/stop", json={"force": True})
    assert response.status_code == 200
    assert not running(docker_client, container.name) and not lock.exists()
    lock.touch()  # the 2019 start step took no update lock: a held lock does not stop a start
    response = call(agent, "POST", f"/v1/apps/{APP}/start")
    assert response.status_code == 200 and running(docker_client, container.name) and lock.exists()


def test_restart_recreates_the_container(agent: Any, legacy_app: Callable[..., Any], docker_client: Any) -> None:
    old = legacy_app()
    response = call(agent, "POST", "/v1/restart", data={"appId": str(APP)})  # curl -d appId=1
    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    new = docker_client.containers.get(old.name)
    assert new.id != old.id and new.attrs["State"]["Running"]
    assert new.labels == old.labels
    assert new.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert sorted(new.attrs["HostConfig"]["Binds"]) == sorted(old.attrs["HostConfig"]["Binds"])
    response = call(agent, "POST", "/v1/restart", json={})
    assert (response.status_code, response.text) == (400, "Missing app id")


def test_purge_empties_the_volume_and_restarts(agent: Any, legacy_app: Callable[..., Any],
                                               docker_client: Any) -> None:
    old = legacy_app()
    assert old.exec_run(["sh", "-c", "echo kept > /data/file"]).exit_code == 0
    response = call(agent, "POST", "/v1/purge", json={"appId": APP})
    assert response.status_code == 200
    assert response.content == b'{"Data":"OK","Error":""}'
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    new = docker_client.containers.get(old.name)
    assert new.attrs["State"]["Running"]
    assert new.exec_run(["ls", "-A", "/data"]).output == b""
    assert docker_client.volumes.get(f"{APP}_data").attrs["Labels"] == {"io.balena.supervised": "true"}


def test_purge_of_an_unknown_app(agent: Any, docker_client: Any) -> None:
    response = call(agent, "POST", "/v1/purge", json={"appId": 77})
    assert (response.status_code, response.text) == (503, NOT_FOUND)
    response = call(agent, "POST", "/v1/purge", json={"appId": "nope"})
    assert (response.status_code, response.text) == (400, "Invalid or missing appId")


def test_host_config_hostname_reaches_config_json_and_hostnamed(agent: Any, host_root: Path,
                                                                system_bus: str) -> None:
    from integration.components import bus_call

    response = call(agent, "PATCH", "/v1/device/host-config", json={"network": {"hostname": "pv-device"}})
    assert (response.status_code, response.text) == (200, "OK")
    assert json.loads((host_root / "mnt/boot/config.json").read_text())["hostname"] == "pv-device"
    (value,) = bus_call(system_bus, "org.freedesktop.hostname1", "/org/freedesktop/hostname1",
                        "org.freedesktop.DBus.Properties", "Get", "ss",
                        ("org.freedesktop.hostname1", "StaticHostname"))
    assert value[1] == "pv-device"


def test_blink_toggles_the_led_under_root(agent: Any, host_root: Path) -> None:
    led = host_root / "sys/class/leds/led0/brightness"
    response = call(agent, "POST", "/v1/blink")
    assert (response.status_code, response.text) == (200, "OK")
    seen = set()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        seen.add(led.read_text())
        time.sleep(0.02)
    assert {"0", "1"} <= seen


def test_regenerated_key_replaces_the_old_one_and_survives_restart(start_agent: Callable[..., Any]) -> None:
    first = start_agent()
    response = call(first, "POST", "/v1/regenerate-api-key")
    assert response.status_code == 200
    new_key = response.text
    assert len(new_key) == 62 and new_key != first.key
    assert call(first, "GET", "/v1/device/host-config").status_code == 401  # old key, at once
    assert first.get("/v1/device/host-config", key=new_key).status_code == 200
    data_dir, root = first.data_dir, first.root
    first.stop()
    second = start_agent(data_dir=data_dir, root=root)  # same --api-key as before: the new key stays
    assert second.get("/v1/device/host-config", key=new_key).status_code == 200
    assert second.get("/v1/device/host-config").status_code == 401
