"""Persistence and restarts: kill -9 in the middle of an apply, the engine restarted under the agent,
and the target URL source (file:// and http:// with ETag)."""

from __future__ import annotations

import http.server
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from integration.components import Dockerd
from integration.engine_support import (
    converged,
    managed,
    post_target,
    publish,
    request,
    service,
    supervised,
    target,
    wait_for,
)
from integration.registry import Registry, registry  # noqa: F401 - the fixture


def report(line: str) -> None:
    """A kill -9 recovery measurement (seen with pytest -s)."""
    print(f"\n[recovery] {line}")


def ten(image: str, release: int = 1, marker: str = "a") -> dict[str, Any]:
    services = {i: service(f"s{i}", 100 + i, image, environment={"M": marker},
                           depends_on=[f"s{i - 1}"] if i in (5, 10) else [],
                           volumes=[f"v{i % 3}:/data"]) for i in range(1, 11)}
    return target(services, release=release, commit=f"c{release}{marker}",
                  volumes={f"v{n}": {} for n in range(3)}, networks={"extra": {}})


def check_clean(client: Any, count: int, release: int) -> None:
    """One container per service, all running, named for the release; no stray networks or volumes."""
    containers = supervised(client)
    names = sorted(c.name for c in containers)
    assert names == sorted(f"s{i}_{100 + i}_{release}" for i in range(1, count + 1)), names
    assert all(c.status == "running" for c in containers)
    networks = sorted(n.name for n in client.networks.list(filters={"label": "io.balena.supervised"}))
    assert networks == ["1_default", "1_extra"]
    volumes = sorted(v.name for v in client.volumes.list(filters={"label": "io.balena.supervised"}))
    assert volumes == ["1_v0", "1_v1", "1_v2"]


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7, 1.2])
def test_kill_9_during_install_then_converge(start_agent: Callable[..., Any], clean_engine: Any,
                                            busybox_image: str, delay: float) -> None:
    agent = start_agent()
    assert post_target(agent, ten(busybox_image)).status_code == 200
    time.sleep(delay)
    at_kill = len(supervised(clean_engine))
    agent.kill()
    started = time.monotonic()
    again = start_agent()
    wait_for(converged(again, 10, "c1a"), 120, "converged after kill -9")
    took = time.monotonic() - started
    check_clean(clean_engine, 10, 1)
    report(f"install, kill -9 after {delay:.2f} s ({at_kill} containers made): converged "
                   f"{took:.2f} s after restart, 10 containers, no duplicates, no stray networks")
    again.stop()


@pytest.mark.parametrize("delay", [0.2, 0.8])
def test_kill_9_during_update_then_converge(start_agent: Callable[..., Any], clean_engine: Any,
                                           busybox_image: str, delay: float) -> None:
    agent = start_agent()
    post_target(agent, ten(busybox_image))
    wait_for(converged(agent, 10, "c1a"), 120)
    post_target(agent, ten(busybox_image, release=2, marker="b"))
    time.sleep(delay)
    agent.kill()
    started = time.monotonic()
    again = start_agent()
    wait_for(converged(again, 10, "c2b"), 120, "update converged after kill -9")
    took = time.monotonic() - started
    check_clean(clean_engine, 10, 2)
    assert all("M=b" in c.attrs["Config"]["Env"] for c in supervised(clean_engine))
    report(f"update of 10, kill -9 after {delay:.2f} s: converged {took:.2f} s after restart, clean")
    again.stop()


def test_kill_9_during_pull(start_agent: Callable[..., Any], clean_engine: Any, registry: Registry,  # noqa: F811
                            tmp_path: Path) -> None:
    image = registry.push(clean_engine, "pv/kill", "v1", "kill", padding=64 * 1024 * 1024)
    source = tmp_path / "target.json"  # managed: local mode never pulls
    publish(source, managed({1: service("k", 7, image)}, "c1"))
    args = ["--target-url", source.as_uri()]
    agent = start_agent(args=args)
    wait_for(lambda: any(i["status"] == "Downloading"
                         for i in request(agent, "GET", "/v2/state/status").json()["images"]), 60, "download started",
             step=0.02)
    agent.kill()
    started = time.monotonic()
    again = start_agent(args=args)
    wait_for(converged(again, 1, "c1"), 120, "pulled after kill -9")
    report(f"kill -9 during a 64 MB pull: pulled and running {time.monotonic() - started:.2f} s after restart")
    assert [c.name for c in supervised(clean_engine)] == ["k_7_1"]
    again.stop()


def test_engine_restarted_under_the_agent(start_agent: Callable[..., Any], busybox_image: str) -> None:
    daemon = Dockerd(Path(tempfile.mkdtemp(prefix="pv-dockerd-")))
    daemon.start()
    try:
        import docker

        from integration.components import import_busybox

        client = docker.DockerClient(base_url=daemon.host)
        import_busybox(client, busybox_image)
        agent = start_agent(docker_host=daemon.host)
        body = target({1: service("a", 1, busybox_image), 2: service("b", 2, busybox_image)},
                      config={"SUPERVISOR_POLL_INTERVAL": "2000"})
        post_target(agent, body)
        wait_for(converged(agent, 2, "c1"), 60)
        daemon._halt()  # the engine goes away; its data stays
        assert request(agent, "GET", "/v2/state/status").status_code == 503
        daemon._try(None, 60)  # and comes back on the same socket and data
        wait_for(converged(agent, 2, "c1"), 60, "running again after the engine restart")
        client = docker.DockerClient(base_url=daemon.host)
        client.containers.get("b_2_1").remove(force=True)  # behind the agent's back
        wait_for(converged(agent, 2, "c1"), 30, "recreated by the periodic check")
        agent.stop()
    finally:
        daemon.stop()


class TargetServer(http.server.ThreadingHTTPServer):
    """Serves one target document with an ETag; counts 200s and 304s."""

    body = b"{}"
    served = 0
    not_modified = 0
    delay = 0.0  # seconds each answer is held back (a hung target endpoint)


class Handler(http.server.BaseHTTPRequestHandler):
    server: TargetServer

    def do_GET(self) -> None:
        time.sleep(self.server.delay)
        tag = f'"{hash(self.server.body)}"'
        if self.headers.get("If-None-Match") == tag:
            self.server.not_modified += 1
            self.send_response(304)
            self.end_headers()
            return
        self.server.served += 1
        self.send_response(200)
        self.send_header("ETag", tag)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_target_from_http_url_with_etag(start_agent: Callable[..., Any], clean_engine: Any,
                                        busybox_image: str) -> None:
    server = TargetServer(("127.0.0.1", 0), Handler)
    server.body = json.dumps(managed({1: service("m", 1, busybox_image)}, "u1")).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/target"
        agent = start_agent(args=["--target-url", url])
        wait_for(converged(agent, 1, "u1"), 60)
        wait_for(lambda: server.not_modified >= 1, 10, "a conditional poll answered 304")
        assert request(agent, "GET", "/v2/version", headers={"Authorization": ""}).status_code == 401
        server.body = json.dumps(managed({1: service("m", 1, busybox_image, environment={"X": "2"})}, "u2")).encode()
        update = request(agent, "POST", "/v1/update")
        assert update.status_code == 204
        wait_for(converged(agent, 1, "u2"), 30)
        assert "X=2" in supervised(clean_engine)[0].attrs["Config"]["Env"]
        agent.stop()
    finally:
        server.shutdown()


def test_target_from_file_url(start_agent: Callable[..., Any], clean_engine: Any, busybox_image: str,
                              tmp_path: Path) -> None:
    baked = tmp_path / "baked-target.json"
    baked.write_text(json.dumps(managed({1: service("f", 1, busybox_image)}, "f1")))
    agent = start_agent(args=["--target-url", baked.as_uri()])
    wait_for(converged(agent, 1, "f1"), 60)
    baked.write_text(json.dumps(managed({1: service("f", 1, busybox_image), 2: service("g", 2, busybox_image)},
                                        "f2")))
    wait_for(converged(agent, 2, "f2"), 30, "file change picked up")
    agent.stop()


def healthy(agent: Any) -> int:
    """GET /v1/healthy without a key: its status code."""
    return int(request(agent, "GET", "/v1/healthy", headers={"Authorization": ""}).status_code)


def test_healthy_follows_the_legacy_target_fetch_rule(start_agent: Callable[..., Any], clean_engine: Any,
                                                      busybox_image: str) -> None:
    """api-binder.ts: unhealthy once no fetch attempt has ended for two poll intervals (1 s here)."""
    server = TargetServer(("127.0.0.1", 0), Handler)
    server.body = json.dumps(managed({1: service("h", 1, busybox_image)}, "h1")).encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        agent = start_agent(args=["--target-url", f"http://127.0.0.1:{server.server_address[1]}/target"])
        wait_for(converged(agent, 1, "h1"), 60)
        assert healthy(agent) == 200
        server.delay = 8.0  # the next poll hangs
        wait_for(lambda: healthy(agent) == 500, 15, "unhealthy while the fetch hangs")
        server.delay = 0.0
        wait_for(lambda: healthy(agent) == 200, 20, "healthy again once a fetch ends")
        agent.stop()
    finally:
        server.shutdown()


def test_healthy_follows_the_legacy_apply_cycle_rule(start_agent: Callable[..., Any], clean_engine: Any,
                                                     busybox_image: str, tmp_path: Path) -> None:
    """device-state.coffee: unhealthy while one apply cycle (pulls not counted) runs longer than two
    poll intervals; here a hand-over that waits for its handover-complete file."""
    labels = {"io.balena.update.strategy": "hand-over", "io.balena.update.handover-timeout": "60000"}
    baked = tmp_path / "target.json"
    baked.write_text(json.dumps(managed({1: service("o", 1, busybox_image, labels=labels)}, "o1")))
    agent = start_agent(args=["--target-url", baked.as_uri()])
    wait_for(converged(agent, 1, "o1"), 60)
    assert healthy(agent) == 200
    baked.write_text(json.dumps(managed({1: service("o", 1, busybox_image, labels=labels,
                                                    environment={"X": "2"})}, "o2")))
    wait_for(lambda: len(supervised(clean_engine)) == 2, 30, "the new container next to the old one")
    wait_for(lambda: healthy(agent) == 500, 15, "unhealthy once the cycle outlasts two poll intervals")
    (agent.root / "tmp/balena-supervisor/services/1/o/handover-complete").touch()
    wait_for(converged(agent, 1, "o2"), 30, "hand-over complete")
    assert healthy(agent) == 200
    agent.stop()
