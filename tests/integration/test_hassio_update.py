"""POST /supervisor/update on real parts: a release server on 127.0.0.1 (http.server), real files,
the private bus's systemd mock (StartTransientUnit, RestartUnit), and the agent and its
`update-guard` command run as processes for the start-time check and the rollback.

The "binaries" are small shell scripts (a good one padded to a few MiB so the download takes
measurable time, a corrupt one whose bytes are not the listed SHA-256, one that exits at start);
the agent under test is in process with its SelfUpdate pointed at a script standing in for
/usr/bin/polyvisor (from source there is no binary to replace).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import app
from handlers import VERSION
from handlers.host.release import machine_arch
from handlers.host.selfupdate import SelfUpdate
from integration.engine_support import wait_for
from tests.api.support import API_KEY, Agent
from tests.integration.sysbus import MOCK_IFACE, MockCalls, bus_call

STEM = "hassio"
KEY = {"X-HASSIO-KEY": API_KEY}
UNIT = "polyvisor.service"
SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
REPO = Path(__file__).resolve().parents[2]
FROZEN = REPO / os.environ.get("POLYVISOR_BINARY", "dist/polyvisor")  # as tests/frozen finds it
OLD = b"#!/bin/sh\necho polyvisor old\n"
GOOD = b"#!/bin/sh\necho polyvisor 0.2.0\nexit 0\n#" + b"x" * (24 * 1024 ** 2)  # 24 MiB: a real binary's order
BROKEN = b"#!/bin/sh\necho 'polyvisor 0.4.0: cannot start' >&2\nexit 1\n"
ERROR_NULL = b'{"result": "error", "message": null}'


class Releases(BaseHTTPRequestHandler):
    """Serves server.files (path -> bytes); paths in server.cut get half the body, then a close."""

    def do_GET(self) -> None:  # http.server's name
        body = self.server.files.get(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.path in self.server.cut  # type: ignore[attr-defined]
        self.wfile.write(body[: len(body) // 2] if cut else body)
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


def entry(path: str, listed: bytes, served: bytes | None = None) -> tuple[dict[str, Any], bytes]:
    """A manifest entry listing `listed`'s checksum and size, and the bytes actually served."""
    return ({machine_arch(): {"url": path, "sha256": hashlib.sha256(listed).hexdigest(), "size": len(listed)}},
            listed if served is None else served)


@pytest.fixture
def release_server() -> Iterator[ThreadingHTTPServer]:
    """The release server: manifest.json listing 0.2.0 (good, the latest), 0.3.0 (corrupt),
    0.3.1 (cut midway) and 0.4.0 (exits at start)."""
    versions, files = {}, {}
    for version, path, listed, served in [("0.2.0", "/bin/good", GOOD, None),
                                          ("0.3.0", "/bin/corrupt", GOOD, GOOD[:-1] + b"y"),
                                          ("0.3.1", "/bin/cut", GOOD, None),
                                          ("0.4.0", "/bin/broken", BROKEN, None)]:
        versions[version], files[path] = entry(path.lstrip("/"), listed, served)
    files["/manifest.json"] = json.dumps({"latest": "0.2.0", "versions": versions}).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Releases)
    server.files, server.cut = files, {"/bin/cut"}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/manifest.json"


@pytest.fixture
def install(tmp_path: Path) -> Path:
    """/usr/bin/polyvisor in miniature: the running version's binary."""
    binary = tmp_path / "usr/bin/polyvisor"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(OLD)
    binary.chmod(0o755)
    return binary


@pytest.fixture
def updater(make_settings: Callable[..., Any], release_server: ThreadingHTTPServer, install: Path,
            system_bus: str) -> Iterator[tuple[Agent, SelfUpdate]]:
    """The hassio API in process, its SelfUpdate on the script binary and polyvisor.service."""
    bus_call(system_bus, *SYSTEMD, MOCK_IFACE, "AddUnit", "ssss", (UNIT, "polyvisor", "active", "enabled"))
    settings = make_settings(dialects="hassio", release_url=url_of(release_server))
    services = app.build_services(settings)
    services.selfupdate = SelfUpdate(settings.data_dir, services.bus, settings.release_url, VERSION,
                                     binary=install, unit=UNIT, health_timeout=2.0)
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(app.create_app(settings, services)))
        yield Agent(client, settings.root, settings.data_dir), services.selfupdate


def calls(dbus_calls: MockCalls, method: str) -> list[tuple[Any, ...]]:
    return [args for name, args in dbus_calls("systemd") if name == method]


def write_pending(data_dir: Path, install: Path, staged: Path, timeout: float) -> None:
    """The state file of an update to 0.2.0 (GOOD) as _update writes it before the swap."""
    state = {"version": "0.2.0", "from": VERSION, "binary": str(install), "staged": str(staged),
             "previous": f"{install}.previous", "sha256": hashlib.sha256(GOOD).hexdigest(), "unit": UNIT,
             "timeout": timeout}
    (data_dir / "selfupdate.json").write_text(json.dumps(state))


def leftovers(binary: Path, data_dir: Path) -> list[str]:
    """Files an update could leave: next to the binary, the state file, the download folder."""
    found = sorted(p.name for p in binary.parent.iterdir() if p.name != binary.name)
    found += [p.name for p in (data_dir / "selfupdate.json", data_dir / "selfupdate") if p.exists()]
    return found


def test_update_swaps_keeps_previous_and_restarts_the_unit(
        updater: tuple[Agent, SelfUpdate], install: Path, dbus_calls: MockCalls,
        start_agent: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    api, selfupdate = updater
    caplog.set_level(logging.INFO, "polyvisor.selfupdate")
    called = time.monotonic()
    response = api.request(STEM, "POST", "/supervisor/update", headers=KEY, json={})  # default: latest
    answered = time.monotonic() - called
    assert (response.status_code, response.json()) == (200, {"result": "ok", "data": {}})
    assert install.read_bytes() == GOOD and install.stat().st_mode & 0o777 == 0o755
    assert Path(f"{install}.previous").read_bytes() == OLD
    state = json.loads((api.data_dir / "selfupdate.json").read_text())
    assert (state["version"], state["from"], state["unit"]) == ("0.2.0", VERSION, UNIT)
    (guard,) = calls(dbus_calls, "StartTransientUnit")
    exec_start = dict(guard[2])["ExecStart"][1]
    assert exec_start[0][0] == f"{install}.previous" and exec_start[0][1][-1] == "update-guard"
    assert wait_for(lambda: calls(dbus_calls, "RestartUnit")) == [(UNIT, "replace")]
    restarted = time.monotonic() - called
    assert 1.0 <= restarted < answered + 5  # answered first, the restart 1 s later (hassio's call_later(1))
    speed = next(r.getMessage() for r in caplog.records if "MB/s" in r.getMessage())
    print(f"\nupdate: answered {answered:.2f} s, RestartUnit {restarted:.2f} s after the call; {speed}")
    assert selfupdate.update("0.2.0") is False  # the restart is pending: no second swap

    # systemd starts the new binary: once it serves it finds its checksum on disk and confirms
    agent = start_agent()
    wait_for(lambda: not (api.data_dir / "selfupdate.json").exists())
    assert "update to polyvisor 0.2.0 confirmed" in agent.log.read_text()
    assert install.read_bytes() == GOOD and Path(f"{install}.previous").read_bytes() == OLD


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1"], ids=["checksum-mismatch", "download-cut"])
def test_failed_download_leaves_the_running_version(
        updater: tuple[Agent, SelfUpdate], install: Path, dbus_calls: MockCalls, version: str,
        caplog: pytest.LogCaptureFixture) -> None:
    api, _ = updater
    response = api.request(STEM, "POST", "/supervisor/update", headers=KEY, json={"version": version})
    assert (response.status_code, response.content) == (400, ERROR_NULL)
    assert install.read_bytes() == OLD
    assert leftovers(install, api.data_dir) == []
    assert not calls(dbus_calls, "StartTransientUnit") and not calls(dbus_calls, "RestartUnit")
    reason = "is not the manifest's" if version == "0.3.0" else "download cut at"
    assert any(reason in r.getMessage() for r in caplog.records)


def test_binary_that_exits_at_start_is_rolled_back_by_the_guard(
        updater: tuple[Agent, SelfUpdate], install: Path, dbus_calls: MockCalls, system_bus: str,
        tmp_path: Path) -> None:
    api, _ = updater
    response = api.request(STEM, "POST", "/supervisor/update", headers=KEY, json={"version": "0.4.0"})
    assert response.status_code == 200 and install.read_bytes() == BROKEN
    wait_for(lambda: calls(dbus_calls, "RestartUnit"))
    assert subprocess.run([str(install)], check=False, capture_output=True).returncode == 1  # what systemd would see
    ((_, _, properties, _),) = calls(dbus_calls, "StartTransientUnit")
    ((_, argv, _),) = dict(properties)["ExecStart"][1]
    dbus_calls.clear("systemd")
    # the guard's command line as the transient unit runs it, with `python app.py` for the
    # previous binary (a script here, not an agent)
    assert argv[1:] == ["--data-dir", str(api.data_dir), "--dbus-address", system_bus, "update-guard"]
    state = json.loads((api.data_dir / "selfupdate.json").read_text())
    log = tmp_path / "guard.log"
    begun = time.monotonic()
    with open(log, "wb") as out:
        done = subprocess.run([sys.executable, str(REPO / "app.py"), *argv[1:]],
                              check=False, stdout=out, stderr=subprocess.STDOUT, timeout=60, cwd=tmp_path)
    waited = time.monotonic() - begun
    assert done.returncode == 0, log.read_text()
    assert waited >= state["timeout"]  # it gave the new binary its time
    print(f"\nguard: rolled back and restarted {waited - state['timeout']:.2f} s after its {state['timeout']} s"
          f" timeout (process {waited:.2f} s)")
    assert install.read_bytes() == OLD  # the previous binary is back under the binary's name
    assert leftovers(install, api.data_dir) == []
    assert calls(dbus_calls, "RestartUnit") == [(UNIT, "replace")]
    assert "did not come up within" in log.read_text()


def test_guard_exits_once_the_new_version_confirms(updater: tuple[Agent, SelfUpdate], install: Path,
                                                  dbus_calls: MockCalls) -> None:
    api, selfupdate = updater
    assert api.request(STEM, "POST", "/supervisor/update", headers=KEY, json={"version": "0.2.0"}).status_code == 200
    wait_for(lambda: calls(dbus_calls, "RestartUnit"))
    dbus_calls.clear("systemd")
    selfupdate.started()  # the new binary serving
    assert selfupdate.guard(poll=0.05) == 0
    assert install.read_bytes() == GOOD and not calls(dbus_calls, "RestartUnit")


def frozen_with_selfupdate() -> bool:
    """dist/polyvisor exists and is built from a tree that has the self-update (its --help lists
    update-guard): an older build does not confirm, and the guard would rightly roll it back."""
    if not FROZEN.exists():
        return False
    shown = subprocess.run([str(FROZEN), "--help"], check=False, capture_output=True, timeout=60)
    return b"update-guard" in b"".join(shown.stdout.split())  # argparse may wrap it as "update-\n guard"


@pytest.mark.skipif(not frozen_with_selfupdate(), reason="no dist/polyvisor with the self-update (scripts/build)")
def test_frozen_binary_as_the_release_confirms_itself(
        updater: tuple[Agent, SelfUpdate], install: Path, release_server: ThreadingHTTPServer,
        start_agent: Callable[..., Any]) -> None:
    """The built binary as the release: downloaded, swapped in, then started as systemd would
    start it, it confirms the update once it serves."""
    api, _ = updater
    body = FROZEN.read_bytes()
    manifest = json.loads(release_server.files["/manifest.json"])  # type: ignore[attr-defined]
    manifest["versions"]["9.0.0"], release_server.files["/bin/frozen"] = entry(  # type: ignore[attr-defined]
        "bin/frozen", body)
    release_server.files["/manifest.json"] = json.dumps(manifest).encode()  # type: ignore[attr-defined]
    response = api.request(STEM, "POST", "/supervisor/update", headers=KEY, json={"version": "9.0.0"})
    assert response.status_code == 200 and install.read_bytes() == body
    agent = start_agent(command=[str(install)])
    wait_for(lambda: not (api.data_dir / "selfupdate.json").exists(), timeout=60)
    assert "update to polyvisor 9.0.0 confirmed" in agent.log.read_text()


def test_start_cleans_up_an_update_killed_before_the_swap(
        start_agent: Callable[..., Any], install: Path, tmp_path: Path) -> None:
    """kill -9 after the state file and the staged copy were written, before the rename: the
    binary on disk is the old one, so the next start forgets the update and its files."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    staged = Path(f"{install}.new")
    staged.write_bytes(GOOD)
    (data_dir / "selfupdate").mkdir()
    (data_dir / "selfupdate" / "0.2.0.download").write_bytes(GOOD[:1000])
    write_pending(data_dir, install, staged, timeout=60)
    agent = start_agent(data_dir=data_dir)
    wait_for(lambda: not (data_dir / "selfupdate.json").exists())
    assert install.read_bytes() == OLD and leftovers(install, data_dir) == []
    assert "did not take" in agent.log.read_text()


def test_latest_is_the_running_version(make_settings: Callable[..., Any], release_server: ThreadingHTTPServer,
                                       tmp_path: Path) -> None:
    release_server.files["/manifest.json"] = json.dumps(  # type: ignore[attr-defined]
        {"latest": VERSION, "versions": {}}).encode()
    settings = make_settings(dialects="hassio", release_url=url_of(release_server), dbus_address=None)
    with TestClient(app.create_app(settings)) as client:
        api = Agent(client, settings.root, settings.data_dir)
        response = api.request(STEM, "POST", "/supervisor/update", headers=KEY)
        assert response.status_code == 400
        assert response.json() == {"result": "error", "message": f"Version {VERSION} is already in use"}
        # {"version": ""}: 138 ran `version or last_version`, found it installed and answered ok
        response = api.request(STEM, "POST", "/supervisor/update", headers=KEY, json={"version": ""})
        assert (response.status_code, response.json()) == (200, {"result": "ok", "data": {}})


def test_from_source_there_is_no_binary(make_settings: Callable[..., Any], release_server: ThreadingHTTPServer,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """python app.py: sys.executable is the interpreter; 138's failed update answer, the reason logged."""
    caplog.set_level(logging.ERROR, "polyvisor.selfupdate")
    settings = make_settings(dialects="hassio", release_url=url_of(release_server), dbus_address=None)
    with TestClient(app.create_app(settings)) as client:
        response = Agent(client, settings.root, settings.data_dir).request(
            STEM, "POST", "/supervisor/update", headers=KEY)
    assert (response.status_code, response.content) == (400, ERROR_NULL)
    assert any("running from source" in r.getMessage() for r in caplog.records)
    assert not (settings.data_dir / "selfupdate").exists()


def test_guard_after_an_update_killed_before_the_swap(install: Path, tmp_path: Path, system_bus: str,
                                                     dbus_calls: MockCalls) -> None:
    """The agent died (kill -9) between starting the guard and the rename: the binary is still the
    old one, so the guard only cleans up; nothing is restarted."""
    from handlers.host.bus import Bus

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    staged = Path(f"{install}.new")
    staged.write_bytes(GOOD)
    Path(f"{install}.previous").write_bytes(OLD)
    write_pending(data_dir, install, staged, timeout=0.2)
    assert SelfUpdate(data_dir, Bus(system_bus), None, VERSION, binary=install).guard(poll=0.02) == 0
    assert install.read_bytes() == OLD and leftovers(install, data_dir) == ["polyvisor.previous"]
    assert not calls(dbus_calls, "RestartUnit")
