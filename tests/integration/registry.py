"""A private Docker registry (Debian's docker-registry) on 127.0.0.1, and images pushed to it.

The test dockerd reaches it without TLS: dockerd treats 127.0.0.0/8 registries as insecure.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.components import busybox_rootfs, remove_tree, spawn, stop_process, wait_until

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """docker-registry serve <config>, stopped by PID."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = workdir / "registry.log"
        self.proc: Any = None

    def start(self) -> None:
        """Start and wait for /v2/ to answer."""
        if shutil.which("docker-registry") is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        config = self.dir / "config.yml"
        config.write_text(CONFIG.format(root=self.dir / "data", port=self.port))
        self.proc = spawn(["docker-registry", "serve", str(config)], self.log)
        wait_until(self.answers, 30, "docker-registry", self.proc, self.log)

    def answers(self) -> bool:
        """True when GET /v2/ answers."""
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (by PID) and remove its folder."""
        if self.proc is not None:
            stop_process(self.proc, 5)
            self.proc = None
        remove_tree(self.dir)

    def push(self, client: Any, repository: str, tag: str, marker: str, padding: int = 0) -> str:
        """Make an image (busybox + ENV MARKER=<marker> [+ a file of `padding` bytes]) and push it.

        Returns the full reference; the local copy is removed so a pull is really needed.
        """
        name = f"{self.address}/{repository}"
        rootfs = busybox_rootfs()
        if padding:
            rootfs = _with_padding(rootfs, padding)
        client.api.import_image_from_data(rootfs, repository=name, tag=tag,
                                          changes=["ENV PATH=/bin", f"ENV MARKER={marker}", 'CMD ["sh"]'])
        for event in client.api.push(name, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise RuntimeError(event["error"])
        client.api.remove_image(f"{name}:{tag}")
        return f"{name}:{tag}"


def _with_padding(rootfs: bytes, size: int) -> bytes:
    """The tar plus /padding.bin of `size` random bytes (a layer big enough to see progress)."""
    import io
    import os
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(rootfs)) as source, tarfile.open(fileobj=out, mode="w") as tar:
        for member in source.getmembers():
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("padding.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return out.getvalue()


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A registry on 127.0.0.1:<free port> for the whole session."""
    found = Registry(Path(tempfile.mkdtemp(prefix="pv-registry-")))
    try:
        found.start()
        yield found
    finally:
        found.stop()
