"""Faults: kill -9 at random points of applies, POLYVISOR_FUZZ_KILLS times (scripts/fuzz --kills N),
on one data folder and a dockerd of this module's own (the session's fuzzed agent shares the other
one). Afterwards the agent converges on the last target, with one container per service (no
duplicates), and the database passes `PRAGMA integrity_check`. The fixed-delay cases, the pull and
the engine restarted under the agent are tests/integration/test_engine_restarts.py's. The D-Bus
daemon is restarted under a running agent too: its routes answer errors, then work again."""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import API_KEY, BUSYBOX_IMAGE, REPO, TESTS, free_port, make_host_root
from integration.components import Agent, Dockerd, import_busybox, run_agent
from integration.engine_support import (
    cleanup,
    converged,
    integrity,
    post_target,
    service,
    supervised,
    target,
    wait_for,
)
from integration.sysbus import SystemBus

from fuzz.conftest import ADMIN_PASSWORD, FACTORY_PASSWORD, KILLS, platform_token
from tests.openapi import check_response

SERVICES = 4


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[str, Any]]:
    """(DOCKER_HOST, docker client) of a private dockerd with the busybox image."""
    import docker

    daemon = Dockerd(Path(tempfile.mkdtemp(prefix="pv-faults-dockerd-")))
    daemon.start()
    client = docker.DockerClient(base_url=daemon.host, timeout=60)
    try:
        import_busybox(client, BUSYBOX_IMAGE)
        yield daemon.host, client
    finally:
        cleanup(client)
        client.close()
        daemon.stop()


def app(release: int) -> dict[str, Any]:
    """A target of SERVICES services whose environment names the release (each release recreates all)."""
    services = {i: service(f"s{i}", 100 + i, BUSYBOX_IMAGE, environment={"R": str(release)},
                           depends_on=[f"s{i - 1}"] if i > 1 else []) for i in range(1, SERVICES + 1)}
    return target(services, release=release, commit=f"c{release}", volumes={"data": {}})


def test_kill_9_at_random_points_of_applies(engine: tuple[str, Any], _system_bus_session: str,
                                            tmp_path: Path, record_property: Any) -> None:
    host, client = engine
    root = make_host_root(tmp_path / "root")
    data = tmp_path / "data"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)

    def start(number: int) -> Agent:
        return run_agent(log=tmp_path / f"agent-{number}.log", command=[sys.executable, str(REPO / "app.py")],
                         api_key=API_KEY, data_dir=data, root=root, listen=f"127.0.0.1:{free_port()}",
                         docker_host=host, dbus_address=_system_bus_session)

    release = 1
    for kill in range(KILLS):
        agent = start(kill)
        release += 1
        assert post_target(agent, app(release)).status_code == 200
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere in removing, creating or starting
        agent.kill()
        assert integrity(data) == "ok", f"after kill {kill + 1} (seed {seed})"
    agent = start(KILLS)
    try:
        started = time.monotonic()
        wait_for(converged(agent, SERVICES, f"c{release}"), 180, f"converged after {KILLS} kill -9 (seed {seed})")
        took = time.monotonic() - started
        names = sorted(c.name for c in supervised(client))
        assert names == sorted(f"s{i}_{100 + i}_{release}" for i in range(1, SERVICES + 1)), (seed, names)
        assert all(c.status == "running" for c in supervised(client))
        assert all(f"R={release}" in c.attrs["Config"]["Env"] for c in supervised(client))
    finally:
        agent.stop()
    assert integrity(data) == "ok"
    for log in tmp_path.glob("agent-*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log
    record_property("kills", KILLS)
    print(f"\n[faults] {KILLS} kill -9 during applies (seed {seed}): converged {took:.1f} s after the last restart")


def start_bus(folder: Path, socket: Path) -> SystemBus:
    """A private system bus on `socket` with the logind, systemd and hostnamed test services."""
    bus = SystemBus(folder, socket)
    bus.start()
    bus.add_mock("logind")
    bus.add_mock(str(TESTS / "dbus_templates" / "systemd_units.py"))
    bus.add_mock(str(TESTS / "dbus_templates" / "hostnamed.py"))
    bus.wait_for_mocks()
    return bus


def test_dbus_daemon_restarted_under_the_agent(docker_host: str, tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="pv-faults-dbus-"))
    socket = folder / "system_bus_socket"
    buses = [start_bus(folder, socket)]
    agent = run_agent(log=tmp_path / "agent.log", command=[sys.executable, str(REPO / "app.py")], api_key=API_KEY,
                      data_dir=tmp_path / "data", root=make_host_root(tmp_path / "root"),
                      listen=f"127.0.0.1:{free_port()}", docker_host=docker_host, dbus_address=f"unix:path={socket}")
    try:
        first = platform_token(agent.url, "admin", FACTORY_PASSWORD, 2)
        with httpx.Client(base_url=agent.url, timeout=30) as client:
            changed = client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                                 json={"old": FACTORY_PASSWORD, "new": ADMIN_PASSWORD})
            assert changed.status_code == 200, changed.content
            admin = {"Authorization": f"Bearer {platform_token(agent.url, 'admin', ADMIN_PASSWORD, 2)}"}

            def units() -> httpx.Response:
                response = client.get("/platform/api/service/list", headers=admin)
                check_response("platform", response)
                return response

            assert units().status_code == 200
            buses[-1].stop(remove=False)
            down = units()
            assert down.status_code != 200, down.content  # the platform's own error answer, declared
            assert agent.ping()
            buses.append(start_bus(folder, socket))
            wait_for(lambda: units().status_code == 200, 30, "systemd answers again after the bus restart")
    finally:
        agent.stop()
        for bus in buses:
            bus.stop(remove=False)
        shutil.rmtree(folder, ignore_errors=True)
    assert "Traceback" not in agent.log.read_text(errors="replace")
