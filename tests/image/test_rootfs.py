"""dist/polyvisor in a real minimal Debian 12 rootfs (tests/image/conftest.py), run as a device
runs it but without systemd: the root read-only, /run and /tmp tmpfs, the data folder the one
writable place, the tests' dockerd socket bound in (tests/image/sandbox.py). test_systemd.py starts
it with systemd as PID 1 of the same rootfs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from frozen.test_binary import HEALTH, free_port
from integration.components import NO_ADDONS_CORE, OFFLINE_GIT
from integration.engine_support import cleanup, converged, post_target, service, supervised, target, wait_for

from image.conftest import PREFLIGHT, UNIT, unavailable
from image.sandbox import Sandbox, command_pid, inside, stop

API_KEY = "testkey_0123456789"
EX_CONFIG = 78  # the preflight's exit status
WRAPPER = [  # what ExecStartPre= + ExecStart= do, as one start script of another init system would
    "/bin/sh", "-c", f'{PREFLIGHT} /usr/bin/polyvisor && exec /usr/bin/polyvisor "$@"', "polyvisor"]


def sandbox(rootfs: Path, scratch: Path, **options: Any) -> Sandbox:
    """The rootfs as a read-only root; TMPDIR=/run/polyvisor (made) unless options say otherwise."""
    options.setdefault("env", {"TMPDIR": "/run/polyvisor"})
    return Sandbox(rootfs, scratch, **options)


@dataclass
class Device:
    """The binary running in the read-only rootfs, every HTTP dialect on 127.0.0.1:port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    box: Sandbox
    key: str = API_KEY

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", trust_env=False, timeout=timeout)

    @property
    def pid(self) -> int:
        """The bootloader's host PID (the wrapper sh exec'd it): the unit's main PID."""
        pid = command_pid(self.process)
        assert pid is not None, self.log.read_text()[-3000:]
        return pid


@pytest.fixture(scope="module")
def device(rootfs: Path, docker_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    """The agent as the unit starts it (preflight, then the binary), the engine's socket bound in."""
    if not docker_host.startswith("unix://"):
        unavailable(f"the engine's socket is bound into the rootfs: {docker_host} is not a unix socket")
    base = tmp_path_factory.mktemp("device")
    (base / "data").mkdir(mode=0o700)
    port = free_port()
    env = {"TMPDIR": "/run/polyvisor", "POLYVISOR_DATA_DIR": "/var/lib/polyvisor",
           "DOCKER_HOST": "unix:///run/docker.sock", "GOSUPER_SOCKET": "/run/resin/gosuper.sock",
           **OFFLINE_GIT, **NO_ADDONS_CORE}
    box = sandbox(rootfs, base / "scratch", env=env, mkdirs=("/run/polyvisor", "/run/resin"),
                  binds=[(base / "data", "/var/lib/polyvisor"),
                         (Path(docker_host.removeprefix("unix://")), "/run/docker.sock")])
    log = base / "agent.log"
    with open(log, "ab") as out:
        proc = box.popen([*WRAPPER, "--listen", f"127.0.0.1:{port}", "--api-key", API_KEY], stdout=out,
                         stderr=subprocess.STDOUT)
    running = Device(proc, port, log, box)
    try:
        wait_for(lambda: answers(running) or proc.poll() is not None, 60, "the agent's /ping")
        assert proc.poll() is None, f"the agent exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        yield running
    finally:
        stop(proc)


def answers(device: Device) -> bool:
    try:
        with device.client(timeout=2) as client:
            return client.get("/ping").status_code == 200
    except httpx.HTTPError:
        return False


def test_rootfs_has_no_python(rootfs: Path) -> None:
    assert sorted(p.name for p in (rootfs / "usr/bin").glob("python*")) == []
    assert not list((rootfs / "usr/lib").glob("libpython*"))
    assert (rootfs / "etc/debian_version").read_text().startswith("12.")


def test_unit_is_accepted_by_systemd_analyze(rootfs: Path, tmp_path: Path) -> None:
    """The rootfs's own systemd checks the unit there: its directives, and ExecStartPre=/ExecStart=
    present and executable at their paths. A warning counts as a failure."""
    checked = sandbox(rootfs, tmp_path).run(["systemd-analyze", "verify", UNIT])
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_version(rootfs: Path, tmp_path: Path) -> None:
    from handlers import VERSION

    box = sandbox(rootfs, tmp_path)
    out = box.run(["/usr/bin/polyvisor", "--version"])
    assert (out.returncode, out.stdout, out.stderr) == (0, f"polyvisor {VERSION}\n", "")
    assert box.left_in_tmpdir() == []


@pytest.mark.parametrize(("path", "key", "status", "body", "content_type"), HEALTH,
                         ids=[f"{h[0]}-{h[2]}" for h in HEALTH])
def test_health_route(device: Device, path: str, key: str | None, status: int, body: str,
                      content_type: str) -> None:
    from handlers import VERSION

    with device.client() as client:
        response = client.get(path, headers={"Authorization": f"Bearer {key}"} if key else {})
    assert (response.status_code, response.headers["content-type"]) == (status, content_type)
    assert response.content == body.replace("{version}", VERSION).encode()


def test_gosd_ok(device: Device) -> None:
    with device.client() as client:
        response = client.get("/gosd/api/v2/ok")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert response.json()["ok"]


def test_gosuper_ping_on_its_socket(device: Device) -> None:
    socket_path = inside(device.pid, "/run/resin/gosuper.sock")  # the socket in the device's /run
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://localhost",
                      timeout=30) as client:
        response = client.get("/ping")
    assert (response.status_code, response.content) == (200, b"OK\n")


def test_target_state_applied_on_the_engine(device: Device, docker_client: Any, busybox_image: str) -> None:
    """balena local mode: one service from the tests' busybox image runs, then an empty target removes it."""
    cleanup(docker_client)  # the engine is the session's: nothing of another test's app in the way
    try:
        one = target({1: service("main", 5, busybox_image, network_mode="none")}, commit="rootfs1")
        assert post_target(device, one).status_code == 200
        wait_for(converged(device, 1, "rootfs1"), 60, "the target applied")
        [container] = supervised(docker_client)
        assert (container.name, container.status) == ("main_5_1", "running")
        assert container.labels["io.balena.app-id"] == "1"
        assert container.attrs["HostConfig"]["NetworkMode"] == "none"

        assert post_target(device, target({}, commit="rootfs2")).status_code == 200
        wait_for(lambda: not supervised(docker_client), 60, "the service removed")
    finally:
        cleanup(docker_client)


def test_root_is_read_only_and_unpacked_into_tmpdir(device: Device) -> None:
    assert not os.access(inside(device.pid, "/usr/bin"), os.W_OK)
    mounts = Path(f"/proc/{device.pid}/mountinfo").read_text().splitlines()  # paths as it sees them
    root = [line.split() for line in mounts if line.split()[4] == "/"]
    assert root and "ro" in root[-1][5].split(","), mounts
    unpacked = [p.name for p in inside(device.pid, "/run/polyvisor").iterdir()]
    assert len(unpacked) == 1 and unpacked[0].startswith("_MEI"), unpacked


def test_sigterm_stops_cleanly_leaving_nothing(device: Device) -> None:
    """Last of the device's tests: SIGTERM to the main PID, exit 0, the unpack folder gone."""
    code = stop(device.process)
    log = device.log.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert device.box.left_in_tmpdir() == []
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


BOOTLOADER_NO_FOLDER = "Could not create temporary directory!"
BOOTLOADER_NOEXEC = "libz.so.1: failed to map segment from shared object"
BOOTLOADER_NO_SPACE = "No space left on device"  # and it leaves its half-unpacked folder behind

# (id, sandbox options, TMPDIR or None, what the bootloader alone prints, what the preflight's line says)
FAILURES = [
    ("tmp-read-only", {"tmp": False, "mkdirs": ()}, None, BOOTLOADER_NO_FOLDER,
     ["TMPDIR (unset, so /tmp)", "no folder can be made in /tmp (Read-only file system)"]),
    ("tmpdir-missing", {"tmp": False, "mkdirs": ()}, "/run/polyvisor", BOOTLOADER_NO_FOLDER,
     ["TMPDIR=/run/polyvisor", "/run/polyvisor does not exist; "]),
    ("noexec-tmpfs", {"run_fs": "noexec"}, "/run/polyvisor", BOOTLOADER_NOEXEC,
     ["TMPDIR=/run/polyvisor", "/run/polyvisor does not allow running programs (mounted noexec)"]),
    ("tmpfs-too-small", {"run_size": "8m"}, "/run/polyvisor", BOOTLOADER_NO_SPACE,
     ["TMPDIR=/run/polyvisor", "/run/polyvisor has ", " KiB free, the binary needs up to "]),
    ("no-run", {"run_fs": "absent", "tmp": False, "mkdirs": ()}, "/run/polyvisor", BOOTLOADER_NO_FOLDER,
     ["TMPDIR=/run/polyvisor", "/run does not exist in this root file system (mount a tmpfs on it)"]),
]


@pytest.mark.parametrize(("options", "tmpdir", "bootloader", "says"), [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_start_up_failure_gets_one_clear_line(rootfs: Path, tmp_path: Path, options: dict[str, Any],
                                              tmpdir: str | None, bootloader: str, says: list[str]) -> None:
    env = {"TMPDIR": tmpdir} if tmpdir else {}
    box = sandbox(rootfs, tmp_path, env=env, **options)
    alone = box.run(["/usr/bin/polyvisor", "--version"])
    assert alone.returncode != 0 and bootloader in alone.stderr, alone  # what the issue saw
    wrapped = box.run([*WRAPPER, "--version"])
    assert (wrapped.returncode, wrapped.stdout) == (EX_CONFIG, ""), wrapped
    [line] = wrapped.stderr.splitlines()
    assert line.startswith("polyvisor: the one-file binary cannot unpack into ")
    assert all(part in line for part in says), line
    assert "RuntimeDirectory=polyvisor and TMPDIR=/run/polyvisor" in line and "--onedir" in line


def test_preflight_passes_silently(rootfs: Path, tmp_path: Path) -> None:
    box = sandbox(rootfs, tmp_path)
    checked = box.run([PREFLIGHT, "/usr/bin/polyvisor"])
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    assert box.left_in_tmpdir() == []  # its probe folder is removed


def test_preflight_skips_the_onedir_build(rootfs: Path, tmp_path: Path) -> None:
    """A binary beside _internal/ (PyInstaller's onedir layout) unpacks nothing: a noexec TMPDIR is fine."""
    box = sandbox(rootfs, tmp_path, run_fs="noexec", mkdirs=("/run/polyvisor", "/run/onedir/_internal"))
    checked = box.run([PREFLIGHT, "/run/onedir/polyvisor"])
    assert (checked.returncode, checked.stderr) == (0, "")
