"""The aarch64 build (`scripts/build --arch aarch64`) run under qemu-user in an arm64 Debian 12 rootfs.

scripts/test starts that build in the background before pytest (minutes under emulation), logging to
POLYVISOR_AARCH64_BUILD_LOG (its exit code lands in <log>.rc) and building POLYVISOR_AARCH64_BINARY. This module waits for it (up to
POLYVISOR_AARCH64_BUILD_TIMEOUT seconds), fails with the log's tail when the build failed, and then
runs dist/polyvisor-aarch64 chrooted in the build's own rootfs (scripts/rootfs's cached tarball): the
kernel hands it to qemu-aarch64 through binfmt_misc. Without that variable the binary in dist/ is
tested, or the module is skipped when there is none. Skipped with the reason where this machine
cannot run aarch64 programs (no binfmt_misc entry) or cannot chroot (not root).
Every process here is started by this module and stopped by PID; the rootfs's /proc, /dev and /tmp
are mounted in the agent's own mount namespace and go with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from integration.components import remove_tree, run_agent, tail

from frozen.test_binary import free_port

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("POLYVISOR_AARCH64_BINARY", REPO / "dist" / "polyvisor-aarch64"))
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
BUILD_LOG = os.environ.get("POLYVISOR_AARCH64_BUILD_LOG")
BUILD_TIMEOUT = float(os.environ.get("POLYVISOR_AARCH64_BUILD_TIMEOUT", "3600"))
API_KEY = "testkey_0123456789"
# In the rootfs: PATH and TMPDIR of its own, no engine and no bus (nothing listens there).
ENVIRON = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "TMPDIR=/tmp", "LANG=C.UTF-8",
           "DOCKER_HOST=unix:///run/no-engine/docker.sock",
           "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/no-bus/system_bus_socket"]


def binfmt_problem() -> str | None:
    """Why this machine cannot run an aarch64 executable through qemu, or None when it can."""
    if not BINFMT.exists() and shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True, check=False)
    try:
        if BINFMT.read_text().splitlines()[0] == "enabled":
            return None
    except OSError:
        pass
    return (f"binfmt_misc has no enabled qemu-aarch64 entry ({BINFMT}): this machine cannot run aarch64 "
            "programs (install qemu-user-static and binfmt-support where binfmt_misc can be registered)")


def wait_for_build() -> None:
    """Wait for scripts/test's background build; pytest.fail with its log's tail when it failed."""
    assert BUILD_LOG
    log, exit_file = Path(BUILD_LOG), Path(f"{BUILD_LOG}.rc")
    deadline = time.monotonic() + BUILD_TIMEOUT
    while not exit_file.exists() or not exit_file.read_text().strip():
        if time.monotonic() > deadline:
            pytest.fail(f"scripts/build --arch aarch64 still running after {BUILD_TIMEOUT:.0f} s:\n{tail(log)}")
        time.sleep(1)
    code = exit_file.read_text().strip()
    if code != "0":
        pytest.fail(f"scripts/build --arch aarch64 failed (exit {code}), the end of {log}:\n{tail(log)}")


@pytest.fixture(scope="module")
def binary() -> Path:
    """dist/polyvisor-aarch64 once it is built."""
    problem = binfmt_problem()
    if problem:
        pytest.skip(problem)
    if os.geteuid() != 0:
        pytest.skip("running the aarch64 binary in its rootfs needs root (chroot)")
    if BUILD_LOG:
        wait_for_build()
    elif not BINARY.is_file():
        pytest.skip(f"{BINARY} is not built: run scripts/build --arch aarch64 (scripts/test does, in the background)")
    assert BINARY.read_bytes()[18:20] == b"\xb7\x00", f"{BINARY} is not an aarch64 executable"  # ELF e_machine
    return BINARY


@pytest.fixture(scope="module")
def rootfs(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The build's arm64 rootfs (a cache hit of scripts/rootfs) with the binary in /usr/local/bin."""
    packages = re.search(r"^ROOTFS_PACKAGES=(\S+)$", (REPO / "scripts/build-arch").read_text(), re.MULTILINE)
    assert packages, "scripts/build-arch names no ROOTFS_PACKAGES"
    root = tmp_path_factory.mktemp("aarch64") / "rootfs"
    made = subprocess.run([REPO / "scripts/rootfs", "--arch", "arm64", "--variant", "minbase", "--include",
                           packages[1], root], capture_output=True, text=True, check=False, timeout=1800)
    assert made.returncode == 0, made.stderr[-3000:]
    shutil.copy(binary, root / "usr/local/bin/polyvisor")
    yield root
    remove_tree(root)


def in_rootfs(root: Path, *argv: str) -> list[str]:
    """argv run chrooted in root, in a mount namespace of its own (the PID stays the one we start)."""
    script = ('root=$1; shift; mount -t proc proc "$root/proc"; mount --rbind /dev "$root/dev"; '
              'mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"; exec chroot "$root" "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-ec", script, "in-rootfs",
            str(root), *ENVIRON, *argv]



def run(root: Path, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(in_rootfs(root, *argv), capture_output=True, text=True, check=False, timeout=300)


def test_version(rootfs: Path) -> None:
    from handlers import VERSION

    done = run(rootfs, ["/usr/local/bin/polyvisor", "--version"])
    assert (done.returncode, done.stdout.strip()) == (0, f"polyvisor {VERSION}"), done.stderr[-3000:]
    # emulated, not run natively by accident: the CPU the program itself sees
    assert run(rootfs, ["uname", "-m"]).stdout.strip() == "aarch64"


def test_ping_and_sigterm(rootfs: Path, tmp_path: Path) -> None:
    """Serves /ping on 127.0.0.1 and stops on SIGTERM, its unpack folder removed."""
    unpack = rootfs / "run/polyvisor"  # TMPDIR as the unit has it (RuntimeDirectory)
    unpack.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "agent.log"
    command = in_rootfs(rootfs, "TMPDIR=/run/polyvisor", "/usr/local/bin/polyvisor")
    port = free_port()
    agent = run_agent(log=log, command=command, api_key=API_KEY, data_dir=Path("/var/lib/polyvisor"),
                      root=Path("/"), listen=f"127.0.0.1:{port}", docker_host=None, dbus_address=None,
                      timeout=180)
    try:
        response = agent.get("/ping", key=None)
        assert (response.status_code, response.content) == (200, b"OK")
        assert agent.get("/v1/healthy", key=None).status_code == 200
    finally:
        code = agent.stop(grace=60)
    assert code == 0, tail(log)
    assert "Traceback" not in log.read_text(errors="replace")
    assert list(unpack.iterdir()) == [], "the unpack folder was left behind"
    assert list((rootfs / "var/lib/polyvisor").iterdir()), "nothing in its data folder (inside the rootfs)"


def build_error(argv: Sequence[str]) -> tuple[int, str]:
    """Exit code and stderr of a scripts/build that must stop before building anything."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60, cwd=REPO)
    assert done.stdout == ""
    return done.returncode, done.stderr


def test_architecture_it_cannot_make() -> None:
    code, said = build_error([str(REPO / "scripts/build"), "--arch", "mips"])
    assert code == 2
    assert said == ("scripts/build: cannot build for architecture 'mips': the ones it makes are "
                    "x86_64 (amd64) and aarch64 (arm64)\n")


def test_no_binfmt_entry() -> None:
    """Where binfmt_misc has no qemu-aarch64 entry (an empty one mounted over it, update-binfmts masked)."""
    if os.geteuid() != 0 or not shutil.which("qemu-aarch64-static"):
        pytest.skip("needs root (a mount namespace) and qemu-user-static")
    mask = 'u=$(command -v update-binfmts) && mount --bind /bin/false "$u"; '
    script = f"mount -t tmpfs none {BINFMT.parent}; {mask}exec scripts/build --arch aarch64"
    code, said = build_error(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script])
    assert (code, said.count("\n")) == (1, 1), said
    assert said.startswith("scripts/build: --arch aarch64 needs binfmt_misc to run aarch64 programs through qemu"), said
