"""A full data folder (a 2 MB tmpfs, filled up): writes are answered with the legacy's error
(the spec's declared failure, never a traceback), nothing is half-written (the old key still
works, the database passes integrity_check), and once space is back the same writes succeed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, REPO, free_port, make_host_root
from integration.components import run_agent
from integration.engine_support import integrity

from tests.openapi import check_response


@pytest.fixture
def small_data_dir(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs for the agent's data folder (root only), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "data"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system up to the last byte; the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass
    return filler


def test_full_data_folder_answers_the_legacy_error(small_data_dir: Path, tmp_path: Path, docker_host: str,
                                                   _system_bus_session: str) -> None:
    root = make_host_root(tmp_path / "root")
    agent = run_agent(log=tmp_path / "agent.log", command=[sys.executable, str(REPO / "app.py")], api_key=API_KEY,
                      data_dir=small_data_dir, root=root, listen=f"127.0.0.1:{free_port()}",
                      docker_host=docker_host, dbus_address=_system_bus_session, args=["--log-level", "info"])
    key = {"Authorization": f"Bearer {API_KEY}"}
    try:
        filler = fill(small_data_dir)
        with httpx.Client(base_url=agent.url, timeout=30) as client:
            for _ in range(3):
                response = client.post("/v1/regenerate-api-key", headers=key)
                check_response("balena_v1", response)
                assert response.status_code == 503, response.content  # the route's catch: res.status(503)
                # nothing half-written: the old key still opens the API
                device = client.get("/v1/device", headers=key)
                check_response("balena_v1", device)
                assert device.status_code == 200, device.content
            assert client.get("/ping", headers=key).status_code == 200
            filler.unlink()
            response = client.post("/v1/regenerate-api-key", headers=key)
            check_response("balena_v1", response)
            assert response.status_code == 200, response.content
            assert client.get("/ping", headers={"Authorization": f"Bearer {response.text}"}).status_code == 200
    finally:
        agent.stop()
    assert integrity(small_data_dir) == "ok"
    log = (tmp_path / "agent.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
