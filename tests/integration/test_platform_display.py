"""Screenshots and display power against a real X server (Xvfb), when Xvfb and mss are installed."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from handlers.hardware.backlight import Backlight
from handlers.hardware.screens import Screens
from handlers.host.hostfs import HostFS
from tests.api.platform_support import Platform, start_platform
from tests.api.support import Agents

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    """In-process agents (as tests/api makes them), stopped after the test."""
    with ExitStack() as stack:
        yield Agents(tmp_path, stack)


@pytest.fixture
def display() -> Iterator[str]:
    """DISPLAY of a private Xvfb (320x200, no TCP), stopped by PID afterwards."""
    pytest.importorskip("mss")
    for number in range(150, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "320x200x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        yield f":{number}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_screenshot_is_a_png_of_the_display(display: str) -> None:
    png = Screens({"DISPLAY": display}).capture(0)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 320 and int.from_bytes(png[20:24], "big") == 200


def test_screenshot_routes(display: str, agents: Agents, tmp_path: Path) -> None:
    plat: Platform = start_platform(agents, tmp_path)
    plat.services.platform.screens = Screens({"DISPLAY": display})
    response = plat.get("/platform/api/host/screenshot/0")
    assert response.status_code == 200 and response.json()["mediaType"] == "image/png"
    assert base64.b64decode(response.json()["data"]).startswith(b"\x89PNG")
    # tests/openapi.py validates non-JSON bodies as UTF-8 text: a PNG is checked here by hand
    response = plat.agent.client.get("/platform/api/host/screenshot/0/file",
                                     headers={"Authorization": f"Bearer {plat.tokens['admin']}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png" and response.content.startswith(b"\x89PNG")
    response = plat.get("/platform/api/host/screenshot/3")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Host"]


def test_x_server_without_dpms_cannot_switch_the_display(display: str, tmp_path: Path) -> None:
    if shutil.which("xset") is None:
        pytest.skip("xset is not installed")
    backlight = Backlight(HostFS(tmp_path), {"DISPLAY": display, "PATH": os.environ.get("PATH", "")})
    from handlers.errors import NotSupported

    with pytest.raises(NotSupported):  # Xvfb has no DPMS extension: never claimed
        backlight.display_method()
