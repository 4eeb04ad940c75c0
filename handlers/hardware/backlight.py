"""Screen brightness and display power through /sys/class/backlight (bl_power), else X11 DPMS."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from handlers.errors import InvalidInput, NotSupported, PolyvisorError
from handlers.host.hostfs import HostFS

FB_BLANK_UNBLANK = 0
FB_BLANK_POWERDOWN = 4


class Backlight:
    """GET/PUT /platform/api/perif/brightness and GET/PUT /platform/api/control/display."""

    def __init__(self, hostfs: HostFS, environ: dict[str, str] | None = None) -> None:
        self._fs = hostfs
        self._environ = dict(os.environ if environ is None else environ)

    def _device(self) -> Path:
        base = self._fs.path("/sys/class/backlight")
        devices = sorted(p for p in base.iterdir() if (p / "max_brightness").exists()) if base.is_dir() else []
        if not devices:
            raise NotSupported("no backlight device")
        return devices[0]

    def brightness(self) -> dict[str, Any]:
        """{"min": 0, "max": max_brightness, "value": brightness}."""
        dev = self._device()
        try:
            return {"min": 0, "max": int((dev / "max_brightness").read_text()),
                    "value": int((dev / "brightness").read_text())}
        except (OSError, ValueError) as err:
            raise PolyvisorError(f"backlight {dev.name}: {err}") from err

    def set_brightness(self, value: int) -> None:
        """Write brightness; InvalidInput outside [0, max]."""
        dev = self._device()
        top = self.brightness()["max"]
        if not 0 <= value <= top:
            raise InvalidInput(f"brightness value {value} is out of range [0, {top}]")
        try:
            (dev / "brightness").write_text(f"{value}\n")
        except OSError as err:
            raise PolyvisorError(f"backlight {dev.name}: {err.strerror}") from err

    def display_method(self) -> str:
        """"backlight" (bl_power) or "dpms" (an X server with xset); NotSupported otherwise."""
        try:
            if (self._device() / "bl_power").exists():
                return "backlight"
        except NotSupported:
            pass
        if self._environ.get("DISPLAY") and shutil.which("xset") and "DPMS is" in self._xset("q"):
            return "dpms"  # the X server has the DPMS extension (Xvfb, for one, has not)
        raise NotSupported("the display cannot be switched on and off here")

    def _xset(self, *args: str) -> str:
        """xset's output (it exits 0 even when the server lacks what was asked: read the text)."""
        try:
            done = subprocess.run(["xset", *args], capture_output=True, text=True, env=self._environ,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise PolyvisorError(f"xset: {err}") from err
        return done.stdout + done.stderr

    def set_display(self, on: bool) -> None:
        """Switch the display on or off."""
        if self.display_method() == "backlight":
            path = self._device() / "bl_power"
            try:
                path.write_text(f"{FB_BLANK_UNBLANK if on else FB_BLANK_POWERDOWN}\n")
            except OSError as err:
                raise PolyvisorError(f"bl_power: {err.strerror}") from err
            return
        out = self._xset("dpms", "force", "on" if on else "off")
        if "does not have" in out or "unknown option" in out:
            raise PolyvisorError(f"xset: {out.strip().splitlines()[0]}")

    def display_state(self) -> bool | None:
        """True on, False off, None unknown (backlight only)."""
        try:
            text = (self._device() / "bl_power").read_text().strip()
        except (NotSupported, OSError):
            return None
        return text == str(FB_BLANK_UNBLANK)
