"""build/polyvisor.service under the rootfs's own systemd as PID 1 (systemd-nspawn --boot, root
read-only, tests/image/nspawn.py): `systemctl start` runs the preflight and the binary, READY=1
arrives, every dialect answers, `systemctl stop` ends it cleanly and systemd removes the unpack
folder; a TMPDIR the preflight rejects puts its one line in the journal. The start's time to the
first answer is printed (`-s`); scripts/bench-image takes the median of many.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from frozen.test_binary import free_port
from integration.engine_support import wait_for

from image.conftest import unavailable
from image.nspawn import Container

DROPINS = "/run/systemd/system/polyvisor.service.d"  # runtime drop-ins: the root stays read-only


@pytest.fixture(scope="module")
def container(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    if shutil.which("systemd-nspawn") is None:
        unavailable("systemd-nspawn is not installed (scripts/test installs systemd-container)")
    base = tmp_path_factory.mktemp("nspawn")
    (base / "data").mkdir(mode=0o700)
    booted = Container(rootfs, base / "console.log", binds=[(base / "data", "/var/lib/polyvisor")])
    try:
        booted.boot()
        yield booted
    finally:
        booted.halt()


def dropin(container: Container, name: str, text: str | None) -> None:
    """Write (or with None remove) a runtime drop-in of the unit, then daemon-reload."""
    path = f"{DROPINS}/{name}.conf"
    script = f"mkdir -p {DROPINS} && cat > {path}" if text is not None else f"rm -f {path}"
    assert container.run(["sh", "-c", script], stdin=text).returncode == 0
    assert container.run(["systemctl", "daemon-reload"]).returncode == 0


def show(container: Container, *properties: str) -> dict[str, str]:
    out = container.run(["systemctl", "show", "polyvisor", *[f"--property={p}" for p in properties]]).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def answers(port: int) -> bool:
    try:
        with httpx.Client(trust_env=False, timeout=1) as client:
            return client.get(f"http://127.0.0.1:{port}/ping").status_code == 200
    except httpx.HTTPError:
        return False


def test_systemctl_start_serves_and_stop_cleans_up(container: Container) -> None:
    port = free_port()
    dropin(container, "test", f"[Service]\nEnvironment=POLYVISOR_LISTEN=127.0.0.1:{port}\n")
    try:
        began = time.perf_counter()
        start = subprocess.Popen(container.command(["systemctl", "start", "polyvisor"]))
        wait_for(lambda: answers(port) or start.poll() not in (None, 0), 90, "the first /ping answer", step=0.005)
        first = time.perf_counter() - began
        assert start.wait(90) == 0, container.run(["journalctl", "-u", "polyvisor", "--no-pager"]).stdout
        print(f"\nsystemctl start -> first /ping answer {first * 1000:.0f} ms, -> READY=1 "
              f"{(time.perf_counter() - began) * 1000:.0f} ms (container booted in {container.boot_seconds:.1f} s)")
        assert show(container, "ActiveState", "SubState", "StatusText") == {
            "ActiveState": "active", "SubState": "running", "StatusText": "serving"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30) as client:
            assert client.get("/supervisor/ping").json() == {"result": "ok", "data": {}}
            assert client.get("/gosd/api/v2/ok").status_code == 200
            assert client.get("/platform/api/ping").text == "pong"
        unpacked = container.run(["ls", "-A", "/run/polyvisor"]).stdout.split()
        assert len(unpacked) == 1 and unpacked[0].startswith("_MEI"), unpacked

        assert container.run(["systemctl", "stop", "polyvisor"]).returncode == 0
        assert show(container, "ActiveState", "Result") == {"ActiveState": "inactive", "Result": "success"}
        assert container.run(["test", "-e", "/run/polyvisor"]).returncode == 1  # RuntimeDirectory= removed
        errors = container.run(["journalctl", "-u", "polyvisor", "-p", "err", "-q", "--no-pager"]).stdout
        assert errors == ""
    finally:
        container.run(["systemctl", "stop", "polyvisor"])
        dropin(container, "test", None)


def test_preflight_line_in_the_journal(container: Container) -> None:
    """A TMPDIR that cannot work: the start fails at ExecStartPre= with the preflight's one line."""
    dropin(container, "zz-bad-tmpdir", "[Service]\nEnvironment=TMPDIR=/var/tmp/polyvisor\n")
    cursor = container.run(["journalctl", "-n", "0", "--show-cursor", "-q"]).stdout.split("cursor: ")[-1].strip()
    try:
        assert container.run(["systemctl", "start", "polyvisor"]).returncode != 0
        expected = ("polyvisor: the one-file binary cannot unpack into TMPDIR=/var/tmp/polyvisor: "
                    "/var/tmp/polyvisor does not exist; set TMPDIR to")

        def journal() -> str:
            return container.run(["journalctl", "-u", "polyvisor", "-o", "cat", "--no-pager",
                                  f"--after-cursor={cursor}"]).stdout

        wait_for(lambda: "status=78/CONFIG" in journal(), 10, "the failed start in the journal")
        lines = journal().splitlines()
        assert [line for line in lines if line.startswith("polyvisor: ")] == [
            next(line for line in lines if line.startswith(expected))]
        assert not any("PYI" in line or "libz" in line for line in lines)  # the binary never ran
    finally:
        container.run(["systemctl", "stop", "polyvisor"])  # Restart=always would try again every 2 s
        container.run(["systemctl", "reset-failed", "polyvisor"])
        dropin(container, "zz-bad-tmpdir", None)
