"""Screenshots of the console's X display (mss, when installed and an X server is reachable)."""

from __future__ import annotations

import os

from handlers.errors import InvalidInput, NotSupported


class Screens:
    """GET /platform/api/host/screenshot/:index: a PNG of one monitor."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)

    def capture(self, index: int) -> bytes:
        """PNG bytes of monitor `index` (0-based); NotSupported without a display server."""
        display = self._environ.get("DISPLAY")
        if not display:
            raise NotSupported("no display server is reachable")
        try:
            import mss  # optional: not part of the frozen agent
            import mss.tools
        except ImportError as err:
            raise NotSupported("screenshots need the mss package") from err
        try:
            with mss.mss(display=display) as grabber:
                monitors = grabber.monitors[1:]
                if not 0 <= index < len(monitors):
                    raise InvalidInput(f"display index {index} out of range (0..{len(monitors) - 1})")
                shot = grabber.grab(monitors[index])
                png = mss.tools.to_png(shot.rgb, shot.size)
                if png is None:
                    raise NotSupported("mss made no PNG")
                return bytes(png)
        except mss.exception.ScreenShotError as err:
            raise NotSupported(f"display server: {err}") from err
