"""The engine state cache on the real dockerd: the same bytes as direct reads, changes made behind
the agent's back seen within a second, a broken stream or a restarted engine rebuilt, and the
agent's own writes seen by the very next GET."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import API_KEY, free_port, make_host_root

from handlers.engine.apps import Apps
from handlers.engine.cache import StateCache
from handlers.engine.current import read_current
from handlers.engine.status import Status
from handlers.errors import EngineUnavailable
from integration.components import NO_ADDONS_CORE, NO_BUS, Dockerd, import_busybox
from integration.engine_support import cleanup, converged, post_target, request, service, target, wait_for

EXTRA_IMAGE = "polyvisor-test/cache-extra:1"  # recorded, in the engine, used by no container


def seen_within(check: Callable[[], Any], seconds: float = 1.0) -> Any:
    """Poll check() (no fixed sleep) until truthy; fail when that took longer than `seconds`."""
    start = time.monotonic()
    found = wait_for(check, 10, "the change in the cached answer", step=0.01)
    took = time.monotonic() - start
    assert took <= seconds, f"seen after {took:.2f} s"
    return found


@pytest.fixture(scope="module")
def domain(docker_host: str, docker_client: Any, busybox_image: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """In-process domain objects on the private engine: a converged 3-service app with a network
    and a volume, its apply loop then stopped so containers made behind its back stay; a stopped
    supervised container, an io.resin one, and two image records (one image present, one not)."""
    import app

    cleanup(docker_client)
    base = tmp_path_factory.mktemp("state-cache")
    root = make_host_root(base / "root")
    settings = app.Settings.from_sources(
        ["--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(base / "data"), "--root", str(root),
         "--docker-host", docker_host, "--dbus-address", NO_BUS, "--api-key", API_KEY, "--log-level", "warning"],
        dict(NO_ADDONS_CORE))
    services = app.build_services(settings)
    services.open()
    supervisor = services.supervisor
    try:
        body = target({1: service("main", 11, busybox_image, volumes=["data:/data"], networks=["backend"]),
                       2: service("web", 12, busybox_image), 3: service("side", 13, busybox_image)},
                      volumes={"data": {}}, networks={"backend": {}})
        supervisor.set_local_target(body)
        direct = Status(supervisor.reconciler)
        wait_for(lambda: [c["status"] for c in direct.state_status()["containers"]] == ["Running"] * 3
                 and not supervisor.reconciler.busy(), 60, "converged")
        supervisor.reconciler.close()  # nothing puts the engine back to the target from now on
        docker_client.containers.create(busybox_image, ["sleep", "3600"], name="stopped_9_1", network_mode="none",
                                        labels={"io.balena.supervised": "true", "io.balena.app-id": "1",
                                                "io.balena.service-id": "9", "io.balena.service-name": "stopped"})
        docker_client.containers.run(busybox_image, ["sleep", "3600"], name="legacy_8_1", network_mode="none",
                                     detach=True, labels={"io.resin.supervised": "true", "io.resin.app-id": "1",
                                                          "io.resin.service-id": "8",
                                                          "io.resin.service-name": "legacy"})
        docker_client.images.get(busybox_image).tag(EXTRA_IMAGE)
        # no engine id recorded: the status reads inspect it by name, so untagging makes it absent
        supervisor.images.record(EXTRA_IMAGE, 1, 7, "extra", 7, 1, "")
        supervisor.images.record("polyvisor-test/absent:1", 1, 6, "absent", 6, 1, "sha256:" + "0" * 64)
        supervisor.status.current()  # the first read opens the event stream
        wait_for(lambda: supervisor.cache.live, 10, "the event stream")
        yield services
    finally:
        services.close()
        cleanup(docker_client)
        for name in (EXTRA_IMAGE,):
            try:
                docker_client.images.remove(name)
            except Exception as err:  # already gone is fine
                if "No such image" not in str(err):
                    raise


def answers(status: Status, apps: Apps) -> list[bytes]:
    """Every read the API makes of the engine, serialised (the dialects only rename these)."""
    current = status.current()
    return [orjson.dumps(status.state_status()), orjson.dumps(status.applications_state()),
            orjson.dumps(status.app_state()), orjson.dumps(status.first_service()),
            orjson.dumps([(c.service_name, c.id) for c in current.containers]),
            orjson.dumps(sorted(current.networks.items())), orjson.dumps(sorted(current.volumes.items())),
            orjson.dumps(apps.list())]


def both(services: Any) -> tuple[list[bytes], list[bytes]]:
    """(the cache's answers, the direct reads' answers) for the same engine state."""
    supervisor = services.supervisor
    return (answers(supervisor.status, services.apps),
            answers(Status(supervisor.reconciler), Apps(services.engine)))


def statuses(services: Any) -> dict[str, str]:
    return {c["serviceName"]: c["status"] for c in services.supervisor.status.state_status()["containers"]}


def test_answers_are_byte_identical_to_direct_reads_and_come_from_memory(domain: Any) -> None:
    cached, direct = both(domain)
    assert cached == direct
    state = orjson.loads(cached[0])
    assert [c["serviceName"] for c in state["containers"]][-2:] == ["stopped", "legacy"]
    assert [i["imageId"] for i in state["images"]] == [7]  # present without a container; the absent one not
    assert domain.supervisor.status.cache is not None and domain.supervisor.cache.live
    calls: list[Any] = []
    real = domain.engine.call

    def counted(action: Any) -> Any:
        calls.append(action)
        return real(action)

    domain.engine.call = counted
    try:
        again = answers(domain.supervisor.status, domain.apps)
    finally:
        del domain.engine.call
    assert again == cached and calls == []  # no engine round trip at all


def test_changes_behind_the_agents_back_show_within_a_second(domain: Any, docker_client: Any,
                                                             busybox_image: str) -> None:
    made = docker_client.containers.create(
        busybox_image, ["sleep", "3600"], name="behind_5_1", network_mode="none",
        labels={"io.balena.supervised": "true", "io.balena.app-id": "1", "io.balena.service-id": "5",
                "io.balena.service-name": "behind"})
    seen_within(lambda: statuses(domain).get("behind") == "Installed")
    made.start()
    seen_within(lambda: statuses(domain).get("behind") == "Running")
    made.stop(timeout=0)
    seen_within(lambda: statuses(domain).get("behind") == "exited")
    assert both(domain)[0] == both(domain)[1]
    main = docker_client.containers.get("main_11_1")
    main.remove(force=True)  # docker rm -f
    seen_within(lambda: "main" not in statuses(domain))
    seen_within(lambda: not [s for s in domain.apps.list()[0].services if s.service_name == "main"])
    cached, direct = both(domain)
    assert cached == direct
    docker_client.images.remove(EXTRA_IMAGE)  # an image event: the record is no longer Downloaded
    seen_within(lambda: not domain.supervisor.status.state_status()["images"])
    assert both(domain)[0] == both(domain)[1]
    made.remove(force=True)


def test_a_broken_stream_is_rebuilt_and_answers_stay_right(domain: Any, docker_client: Any) -> None:
    cache = domain.supervisor.cache
    fills = cache.fills
    cache.break_stream()
    docker_client.containers.get("legacy_8_1").remove(force=True)  # while the stream may be down
    wait_for(lambda: cache.live and cache.fills == fills + 1, 5, "the stream reopened")
    seen_within(lambda: "legacy" not in statuses(domain))
    cached, direct = both(domain)
    assert cached == direct


def test_an_engine_restart_is_rebuilt(busybox_image: str) -> None:
    import docker

    from handlers.docker import Engine

    daemon = Dockerd(Path(tempfile.mkdtemp(prefix="pv-dockerd-")))
    daemon.start()
    engine = Engine(daemon.host)
    cache = StateCache(engine)
    try:
        client = docker.DockerClient(base_url=daemon.host)
        import_busybox(client, busybox_image)
        client.containers.run(busybox_image, ["sleep", "3600"], name="one_1_1", network_mode="none", detach=True,
                              labels={"io.balena.supervised": "true", "io.balena.app-id": "1"})
        client.close()
        cache.start(now=True)
        wait_for(lambda: cache.live, 10, "the stream")

        def same() -> bool:
            mine, theirs = cache.current(), engine.call(read_current)
            return [(c.id, c.state) for c in mine.containers] == [(c.id, c.state) for c in theirs.containers]

        assert same() and [c.state for c in cache.current().containers] == ["running"]
        daemon._halt()  # the engine goes away; its data stays
        wait_for(lambda: not cache.live, 10, "the stream ended")
        with pytest.raises(EngineUnavailable):  # what a direct read raises
            cache.current()
        daemon._try(None, 60)  # back on the same socket and data
        wait_for(lambda: cache.live and cache.fills == 2, 10, "the stream reopened")
        assert same() and [c.state for c in cache.current().containers] == ["exited"]
    finally:
        cache.close()
        engine.close()
        daemon.stop()


@pytest.fixture
def app_agent(start_agent: Callable[..., Any], docker_client: Any, busybox_image: str) -> Iterator[Any]:
    """An agent (its own process) running a two-service app."""
    cleanup(docker_client)
    agent = start_agent()
    body = target({1: service("main", 11, busybox_image), 2: service("side", 12, busybox_image)})
    assert post_target(agent, body).status_code == 200
    wait_for(converged(agent, 2, "c1"), 60)
    request(agent, "GET", "/v2/state/status")  # the cache is filled
    yield agent
    agent.stop()
    cleanup(docker_client)


def test_a_get_right_after_a_write_route_sees_the_write(app_agent: Any, docker_client: Any) -> None:
    def ids() -> dict[str, str]:
        return dict(request(app_agent, "GET", "/v2/containerId").json()["services"])

    before = ids()
    posted = request(app_agent, "POST", "/v2/applications/1/restart-service", json={"serviceName": "main"})
    assert posted.status_code == 200
    after = ids()  # at once: no wait for the event stream
    assert after["main"] != before["main"] and after["main"] == docker_client.containers.get("main_11_1").id
    assert request(app_agent, "POST", "/v2/applications/1/stop-service", json={"serviceName": "side"}).status_code == 200
    body = request(app_agent, "GET", "/v2/state/status").json()
    assert {c["serviceName"]: c["status"] for c in body["containers"]}["side"] == "exited"
    assert request(app_agent, "POST", "/v1/restart", json={"appId": 1}).status_code == 200
    again = ids()
    assert again == {n: docker_client.containers.get(f"{n}_{i}_1").id for n, i in (("main", 11), ("side", 12))}
    assert again["main"] != after["main"]
