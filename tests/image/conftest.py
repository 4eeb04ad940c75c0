"""The image tests' rootfs: made once per session by scripts/rootfs (a Debian 12 minbase with
systemd and dbus, no Python; cached as a tarball under $POLYVISOR_CACHE/rootfs, which scripts/test
names), with the binary, build/polyvisor.service and build/polyvisor-preflight installed as the
README's "Installing on a device" says. Skipped without root, debootstrap or the binary; a failure
instead when POLYVISOR_REQUIRE_BINARY=1 (scripts/test sets it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.components import TIMINGS

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / os.environ.get("POLYVISOR_BINARY", "dist/polyvisor")  # the onefile build
# systemd: the unit is verified by, and started under, the rootfs's own systemd; dbus: what a
# systemd image has. Neither brings Python.
PACKAGES = "systemd,dbus"
PREFLIGHT = "/usr/libexec/polyvisor-preflight"
UNIT = "/etc/systemd/system/polyvisor.service"


def unavailable(reason: str) -> None:
    """Skip, or fail where the suite must run everything (POLYVISOR_REQUIRE_BINARY=1)."""
    if os.environ.get("POLYVISOR_REQUIRE_BINARY") == "1":
        pytest.fail(f"{reason} (POLYVISOR_REQUIRE_BINARY=1: scripts/test installs what this needs)")
    pytest.skip(reason)


def install(root: Path, path: str, source: Path, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chmod(target, mode)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The rootfs with the binary, the unit and the preflight installed; removed afterwards."""
    if (BINARY.parent / "_internal").is_dir():
        pytest.skip(f"tests/image tests the onefile build; POLYVISOR_BINARY={BINARY} is a onedir build")
    if not (BINARY.is_file() and os.access(BINARY, os.X_OK)):
        unavailable(f"{BINARY} is not built: run scripts/build first")
    if os.geteuid() != 0:
        unavailable("the rootfs tests need root (debootstrap, mounts, chroot)")
    for tool in ("debootstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (scripts/test installs debootstrap)")
    base = tmp_path_factory.mktemp("rootfs")
    root = base / "root"
    began = time.monotonic()
    made = subprocess.run([str(REPO / "scripts" / "rootfs"), "--include", PACKAGES, str(root)],
                          capture_output=True, text=True, timeout=1200, check=False)
    assert made.returncode == 0, f"scripts/rootfs failed:\n{made.stdout[-2000:]}\n{made.stderr[-3000:]}"
    TIMINGS["the Debian rootfs (scripts/rootfs)"] = f"{time.monotonic() - began:.1f} s"
    try:
        install(root, "/usr/bin/polyvisor", BINARY, 0o755)
        install(root, UNIT, REPO / "build/polyvisor.service", 0o644)
        install(root, PREFLIGHT, REPO / "build/polyvisor-preflight", 0o755)
        (root / "var/lib/polyvisor").mkdir(mode=0o700)  # the writable data partition's mount point
        yield root
    finally:
        shutil.rmtree(base)
