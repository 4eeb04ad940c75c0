"""hassio /homeassistant and the Home Assistant proxy on the private engine (hassio.md §2.4, §3.2).

The stand-in Home Assistant is an image made here with `docker import` of the busybox root file
system: busybox httpd on 127.0.0.1:<free port> answers /api/ (cgi-bin/index.cgi, busybox's
directory hook) and /api/echo.sh (a CGI script through httpd.conf's `*.sh:/bin/sh`, echoing what it
got); `python3` is a shell script standing in for check_config. Tag 0.81.0 crashes at start (the
update that must roll back). The container runs with network_mode host as tag 138 ran it: on the
tests' dockerd (--bridge none) that is this machine's network namespace, so the stand-in listens on
loopback only, on a port nobody else uses. It runs unprivileged (--hassio-data ...,privileged=false):
this machine cannot start privileged containers.

The websocket relay talks to a small asyncio server in the test process (wsproto) standing in for
Home Assistant's /api/websocket and /auth/token: busybox has no WebSocket server.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from handlers.homeassistant.tokens import stored_token
from integration.components import busybox_rootfs
from integration.engine_support import wait_for

REPOSITORY = "homeassistant/pvtest-homeassistant"  # the default image of --device-type pvtest
GOOD, BAD = "0.80.0", "0.81.0"
ADDON_TOKEN = "c" * 64
PASSWORD = "legacy-api-password"

START = """#!/bin/sh
echo "stand-in Home Assistant $(cat /version) starting"
echo "a line on stderr" >&2
env > /config/environment
[ "$(cat /version)" = "0.81.0" ] && { echo "broken release" >&2; exit 1; }
exec httpd -f -p "127.0.0.1:$(cat /config/port)" -h /www -c /etc/httpd.conf
"""
INDEX = """#!/bin/sh
printf 'Content-Type: application/json\\r\\n\\r\\n{"message": "API running."}'
"""
ECHO = """body=$(cat)
printf 'Status: 201 Created\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s|%s|%s|%s|%s' \\
  "$REQUEST_METHOD" "$REQUEST_URI" "$HTTP_X_HA_ACCESS" "$CONTENT_TYPE" "$body"
"""
CHECK = """#!/bin/sh
echo "Testing configuration at /config ($*)"
if [ -e /config/broken ]; then printf '\\033[31mFailed config\\033[0m\\n  General Errors:\\n    bad\\n'; exit 1; fi
echo "config ok"
"""


def stand_in_tar(version: str) -> bytes:
    """busybox plus the stand-in's files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs())) as base, tarfile.open(fileobj=buf, mode="w") as tar:
        for member in base.getmembers():
            tar.addfile(member, base.extractfile(member) if member.isfile() else None)
        for name in ("www", "www/api", "www/cgi-bin"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, text in (("start.sh", START), ("www/cgi-bin/index.cgi", INDEX), ("www/api/echo.sh", ECHO),
                           ("bin/python3", CHECK), ("etc/httpd.conf", "*.sh:/bin/sh\n"),
                           ("version", version)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def import_stand_in(docker_client: Any, fresh: bool = True) -> None:
    """Tags GOOD and BAD of REPOSITORY on the private engine; fresh: no `latest` (nothing installed). An
    update removes the repository's other images once the new one runs, as 138's cleanup did, so
    each test imports what is missing."""
    import docker.errors

    if fresh:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"{REPOSITORY}:latest")
    for version in (GOOD, BAD):
        try:
            docker_client.images.get(f"{REPOSITORY}:{version}")
        except docker.errors.ImageNotFound:
            docker_client.api.import_image_from_data(
                stand_in_tar(version), repository=REPOSITORY, tag=version,
                changes=["ENV PATH=/bin", f"LABEL io.hass.version={version}", "LABEL io.hass.machine=pvtest",
                         'CMD ["sh", "/start.sh"]'])


@pytest.fixture(scope="module")
def stand_in(docker_client: Any) -> Iterator[str]:
    """The stand-in's images, removed after the module."""
    yield REPOSITORY
    remove_container(docker_client)
    for image in docker_client.images.list(name=REPOSITORY):
        docker_client.images.remove(image.id, force=True)


def remove_container(docker_client: Any) -> None:
    import docker.errors

    try:
        docker_client.containers.get("homeassistant").remove(force=True)
    except docker.errors.NotFound:
        pass


def store_grant(data_dir: Path) -> None:
    """An add-on allowed Home Assistant's API, as part 2 will record it when it starts one."""
    from handlers.homeassistant.tokens import AddonGrant, Tokens
    from handlers.store import Store

    store = Store(data_dir)
    store.open()
    try:
        Tokens(store, lambda: None, lambda key: False).save_grant(
            AddonGrant("core_ssh", ADDON_TOKEN, homeassistant_api=True))
    finally:
        store.close()


@pytest.fixture
def hassio(start_agent: Callable[..., Any], docker_client: Any, stand_in: str, tmp_path: Path) -> Iterator[Any]:
    """An agent serving hassio; the stand-in's port chosen and written to its /config."""
    remove_container(docker_client)
    import_stand_in(docker_client)
    data_dir, folder = tmp_path / "data", tmp_path / "hassio"
    (folder / "homeassistant").mkdir(parents=True)
    port = free_port()
    (folder / "homeassistant" / "port").write_text(str(port))
    store_grant(data_dir)
    args = ["--dialects=hassio", "--device-type=pvtest", f"--hassio-data={folder},privileged=false"]
    agent = start_agent(data_dir=data_dir, ready="/supervisor/ping", args=args)
    agent.ha_port, agent.folder = port, folder
    agent.again = lambda: start_agent(data_dir=data_dir, ready="/supervisor/ping", args=args)
    assert call(agent, "POST", "/homeassistant/options", {"port": port, "password": PASSWORD}) == (200, {})
    yield agent
    remove_container(docker_client)


def call(agent: Any, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    """A hassio request with the agent's key: (status, data or message)."""
    with agent.client(timeout=timeout) as client:
        response = client.request(method, path, headers={"X-HASSIO-KEY": agent.key},
                                  content=None if body is None else json.dumps(body))
    found = response.json()
    return response.status_code, found["data"] if found["result"] == "ok" else found["message"]


def installed(agent: Any) -> None:
    assert call(agent, "POST", "/homeassistant/update", {"version": GOOD}) == (200, {})


def test_start_stop_restart_logs_stats(hassio: Any, docker_client: Any) -> None:
    installed(hassio)
    info = call(hassio, "GET", "/homeassistant/info")[1]
    assert (info["version"], info["image"], info["machine"], info["port"]) == (GOOD, REPOSITORY, "pvtest", hassio.ha_port)
    began = time.monotonic()
    assert call(hassio, "POST", "/homeassistant/start") == (200, {})
    print(f"start answered after {time.monotonic() - began:.2f} s")
    container = docker_client.containers.get("homeassistant")
    host = container.attrs["HostConfig"]
    assert (host["NetworkMode"], host["Init"], host["Privileged"]) == ("host", True, False)
    assert sorted(host["Binds"]) == sorted([f"{hassio.folder}/homeassistant:/config:rw",
                                            f"{hassio.folder}/ssl:/ssl:ro", f"{hassio.folder}/share:/share:rw"])
    environment = (hassio.folder / "homeassistant" / "environment").read_text().splitlines()
    port = hassio.url.rsplit(":", 1)[1]
    assert f"HASSIO=127.0.0.1:{port}" in environment and "TZ=UTC" in environment
    hassio_token = next(line.split("=", 1)[1] for line in environment if line.startswith("HASSIO_TOKEN="))
    assert hassio_token == stored_token(hassio.data_dir)
    # the token Home Assistant got opens the API
    with hassio.client() as client:
        assert client.get("/supervisor/ping").status_code == 200
        assert client.get("/homeassistant/info", headers={"X-HASSIO-KEY": hassio_token}).status_code == 200

    with hassio.client() as client:
        logs = client.get("/homeassistant/logs", headers={"X-HASSIO-KEY": hassio.key})
    assert logs.headers["content-type"] == "application/octet-stream"
    assert b"stand-in Home Assistant 0.80.0 starting\n" in logs.content and b"a line on stderr\n" in logs.content

    status, stats = call(hassio, "GET", "/homeassistant/stats")
    assert status == 200 and set(stats) == {"cpu_percent", "memory_usage", "memory_limit", "network_rx",
                                            "network_tx", "blk_read", "blk_write"}
    assert stats["memory_usage"] > 0 and isinstance(stats["cpu_percent"], float)

    assert call(hassio, "POST", "/homeassistant/restart") == (200, {})
    assert docker_client.containers.get("homeassistant").id != container.id
    assert call(hassio, "POST", "/homeassistant/stop") == (200, {})
    assert call(hassio, "POST", "/homeassistant/stop") == (400, None)  # no container: 138's False
    assert call(hassio, "GET", "/homeassistant/stats") == (400, "No stats available")
    with hassio.client() as client:
        assert client.get("/homeassistant/logs", headers={"X-HASSIO-KEY": hassio.key}).content == b""


def test_update_rolls_back_when_the_new_version_does_not_come_up(hassio: Any, docker_client: Any) -> None:
    installed(hassio)
    assert call(hassio, "POST", "/homeassistant/start") == (200, {})
    before = docker_client.containers.get("homeassistant").id
    assert call(hassio, "POST", "/homeassistant/update", {"version": GOOD}) == (200, {})  # already there
    assert docker_client.containers.get("homeassistant").id == before
    with pytest.raises(Exception, match="No such image"):  # installing GOOD removed the other tags (138)
        docker_client.images.get(f"{REPOSITORY}:{BAD}")
    import_stand_in(docker_client, fresh=False)  # BAD "published"

    assert call(hassio, "POST", "/homeassistant/update", {"version": BAD}) == (200, {})  # 138: ok after a rollback
    assert call(hassio, "GET", "/homeassistant/info")[1]["version"] == GOOD
    container = docker_client.containers.get("homeassistant")
    assert container.status == "running" and container.image.labels["io.hass.version"] == GOOD
    assert b"broken release" not in container.logs()
    assert docker_client.images.get(f"{REPOSITORY}:latest").labels["io.hass.version"] == GOOD


def answers(port: int) -> bool:
    """The stand-in's API answers on loopback."""
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def running_container(docker_client: Any) -> Any:
    import docker.errors

    try:
        container = docker_client.containers.get("homeassistant")
    except docker.errors.NotFound:
        return None
    return container if container.status == "running" else None


def test_boot_start_and_the_container_watchdog(hassio: Any, docker_client: Any) -> None:
    installed(hassio)
    assert running_container(docker_client) is None
    hassio.stop()
    began = time.monotonic()
    agent = hassio.again()  # boot is set: the agent starts Home Assistant
    first = wait_for(lambda: running_container(docker_client), 30, "boot start")  # nobody else started it
    # a start waits for the boot start to finish (one lock, as 138's process_lock) and finds it running
    assert call(agent, "POST", "/homeassistant/start") == (200, {})
    assert answers(hassio.ha_port)
    print(f"booted after {time.monotonic() - began:.2f} s")
    first.kill()  # it dies after it came up (a failed start would stop the watchdog, as in 138): started again
    began = time.monotonic()
    second = wait_for(lambda: (c := running_container(docker_client)) and c.id != first.id and c, 40, "restart")
    print(f"restarted by the watchdog after {time.monotonic() - began:.2f} s")
    assert second.image.labels["io.hass.version"] == GOOD
    assert call(agent, "POST", "/homeassistant/stop") == (200, {})  # removed: nothing left to watch


def test_check_config(hassio: Any) -> None:
    installed(hassio)
    assert call(hassio, "POST", "/homeassistant/check") == (200, {})
    (hassio.folder / "homeassistant" / "broken").write_text("")
    assert call(hassio, "POST", "/homeassistant/check") == (
        400, ("Testing configuration at /config (-m homeassistant -c /config --script check_config)\n"
             "Failed config\n  General Errors:\n    bad\n"))


def test_proxy_to_home_assistant(hassio: Any) -> None:
    installed(hassio)
    assert call(hassio, "POST", "/homeassistant/start") == (200, {})
    with hassio.client() as client:
        root = client.get("/homeassistant/api/", headers={"Authorization": f"Bearer {ADDON_TOKEN}"})
        assert (root.status_code, root.json(), root.headers["content-type"]) == (
            200, {"message": "API running."}, "application/json")
        echo = client.post("/homeassistant/api/echo.sh", content=b'{"entity_id": "light.kitchen"}',
                           headers={"X-HA-Access": ADDON_TOKEN, "Content-Type": "application/json; charset=utf-8"})
        # Home Assistant's status and body come back; it saw the supervisor's password, not the add-on's token
        assert (echo.status_code, echo.headers["content-type"]) == (201, "text/plain")
        assert echo.text == f'POST|/api/echo.sh|{PASSWORD}|application/json|{{"entity_id": "light.kitchen"}}'
        assert client.get("/homeassistant/api/", headers={"X-HA-Access": "f" * 64}).status_code == 401
    assert call(hassio, "POST", "/homeassistant/stop") == (200, {})
    with hassio.client() as client:
        away = client.get("/homeassistant/api/", headers={"X-HA-Access": ADDON_TOKEN})
    assert (away.status_code, away.text) == (502, "502: Bad Gateway")


class HomeAssistantStandIn:
    """Home Assistant's /auth/token, /api/states, /api/stream and /api/websocket on 127.0.0.1, in a
    thread of the test process (busybox has no WebSocket server). Access tokens come from the
    refresh token; expire() makes the current one fail with 401, as an expired one would."""

    REFRESH = "refresh-" + "r" * 32

    def __init__(self) -> None:
        self.port = free_port()
        self.issued = 0
        self.valid: str | None = None
        self.seen: list[dict[str, Any]] = []  # websocket auth messages
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HomeAssistantStandIn:  # noqa: PYI034
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def expire(self) -> None:
        self.valid = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self.loop)  # connections still open: end them before the loop
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, server.wait_closed(), return_exceptions=True))
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ")[1]
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.decode().partition(":") for line in head.split(b"\r\n")[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if target == b"/auth/token":
                await self._token(writer, body)
            elif headers.get("upgrade", "").lower() == "websocket" and target == b"/api/websocket":
                await self.websocket(reader, writer, head)
            elif headers.get("authorization") != f"Bearer {self.valid}":
                writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            elif target == b"/api/states":
                data = json.dumps([{"entity_id": "sun.sun", "state": "above_horizon"}]).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                             + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            elif target == b"/api/stream":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                for number in range(3):
                    event = f"data: event {number}\n\n".encode()
                    writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, AssertionError):
            pass
        finally:
            writer.close()

    async def _token(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form != {"grant_type": "refresh_token", "refresh_token": self.REFRESH}:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        self.issued += 1
        self.valid = f"access-{self.issued}"
        data = json.dumps({"access_token": self.valid, "expires_in": 1800, "token_type": "Bearer"}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)

    async def websocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        """Home Assistant's side: auth_required, auth with the access token, then an echo."""
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

        ws = WSConnection(ConnectionType.SERVER)
        ws.receive_data(head)
        pending: list[Any] = list(ws.events())

        async def event() -> Any:
            while not pending:
                data = await reader.read(65536)
                ws.receive_data(data or None)
                pending.extend(ws.events())
                if not data and not pending:
                    raise ConnectionError
            return pending.pop(0)

        async def send_json(value: Any) -> None:
            writer.write(ws.send(TextMessage(json.dumps(value))))
            await writer.drain()

        assert isinstance(await event(), Request)
        writer.write(ws.send(AcceptConnection()))
        await send_json({"type": "auth_required", "ha_version": "0.80.0"})
        auth = json.loads((await event()).data)
        self.seen.append(auth)
        if auth.get("access_token") != self.valid:
            await send_json({"type": "auth_invalid", "message": "Invalid access token or password"})
            return
        await send_json({"type": "auth_ok", "ha_version": "0.80.0"})
        while True:
            message = await event()
            if isinstance(message, CloseConnection):
                writer.write(ws.send(message.response()))
                return
            await send_json({"echo": json.loads(message.data)})


@pytest.fixture
def home_assistant(hassio: Any) -> Iterator[HomeAssistantStandIn]:
    """The stand-in, and the agent's settings pointing at it with a refresh token."""
    with HomeAssistantStandIn() as stand_in:
        body = {"port": stand_in.port, "password": None, "refresh_token": HomeAssistantStandIn.REFRESH}
        assert call(hassio, "POST", "/homeassistant/options", body) == (200, {})
        yield stand_in


def test_proxy_authenticates_with_the_refresh_token(hassio: Any, home_assistant: HomeAssistantStandIn) -> None:
    with hassio.client() as client:
        states = client.get("/homeassistant/api/states", headers={"X-HA-Access": ADDON_TOKEN})
        assert (states.status_code, states.json()[0]["entity_id"]) == (200, "sun.sun")
        assert states.headers["content-type"] == "application/json"
        assert home_assistant.issued == 1
        home_assistant.expire()  # Home Assistant answers 401: the proxy gets a new token and retries once
        assert client.get("/homeassistant/api/states", headers={"X-HA-Access": ADDON_TOKEN}).status_code == 200
        assert home_assistant.issued == 2
        with client.stream("GET", "/homeassistant/api/stream", headers={"Authorization": f"Bearer {ADDON_TOKEN}"}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"] == "application/octet-stream"  # 138: the request's type
            assert b"".join(stream.iter_bytes()) == b"data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"


def agent_socket(hassio: Any, path: str) -> Any:
    """A WebSocket to the agent (the add-on's side), opened with wsproto."""
    from handlers.homeassistant.haapi import Target
    from handlers.homeassistant.wsclient import WebSocketClient

    port = int(hassio.url.rsplit(":", 1)[1])
    return WebSocketClient.connect(Target("127.0.0.1", port, False, None, None), path)


@pytest.mark.parametrize("path", ["/homeassistant/websocket", "/homeassistant/api/websocket"])
def test_websocket_relay(hassio: Any, home_assistant: HomeAssistantStandIn, path: str) -> None:
    async def session() -> list[Any]:
        socket = await agent_socket(hassio, path)
        try:
            found = [await socket.receive_json()]
            await socket.send_json({"type": "auth", "access_token": ADDON_TOKEN})
            found.append(await socket.receive_json())
            await socket.send_json({"id": 1, "type": "get_states"})
            found.append(await socket.receive_json())
            return found
        finally:
            await socket.close()

    version = call(hassio, "GET", "/homeassistant/info")[1]["version"]  # the installed image's, if any
    found = asyncio.run(asyncio.wait_for(session(), 30))
    assert found == [{"type": "auth_required", "ha_version": version}, {"type": "auth_ok", "ha_version": version},
                     {"echo": {"id": 1, "type": "get_states"}}]
    # the supervisor authenticated itself to Home Assistant with the refresh token's access token
    assert home_assistant.seen == [{"type": "auth", "access_token": "access-1"}]


def test_websocket_refuses_a_token_without_homeassistant_api(hassio: Any, home_assistant: HomeAssistantStandIn) -> None:
    async def session() -> Any:
        socket = await agent_socket(hassio, "/homeassistant/websocket")
        try:
            await socket.receive_json()
            await socket.send_json({"type": "auth", "api_password": hassio.key})
            answer = await socket.receive_json()
            with pytest.raises(ConnectionError):
                await socket.receive_str()
            return answer
        finally:
            await socket.close()

    assert asyncio.run(asyncio.wait_for(session(), 30)) == {"type": "auth_invalid", "message": "Invalid access"}
    assert home_assistant.seen == []
