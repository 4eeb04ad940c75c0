"""LEDs of /sys/class/leds (under --root), ordered by name: on = brightness > 0."""

from __future__ import annotations

from pathlib import Path

from handlers.errors import InvalidId, NotSupported, PolyvisorError
from handlers.host.hostfs import HostFS


class Leds:
    """GET /platform/api/perif/led, GET and PUT /platform/api/perif/led/:id."""

    def __init__(self, hostfs: HostFS) -> None:
        self._fs = hostfs

    def _leds(self) -> list[Path]:
        base = self._fs.path("/sys/class/leds")
        leds = sorted(p for p in base.iterdir() if (p / "brightness").exists()) if base.is_dir() else []
        if not leds:
            raise NotSupported("no LED")
        return leds

    def _led(self, index: int) -> Path:
        leds = self._leds()
        if not 0 <= index < len(leds):
            raise InvalidId(f"invalid LED index {index}: 0 to {len(leds) - 1}")
        return leds[index]

    @staticmethod
    def _state(led: Path) -> bool:
        try:
            return int(led.joinpath("brightness").read_text().strip() or 0) > 0
        except (OSError, ValueError) as err:
            raise PolyvisorError(f"LED {led.name}: {err}") from err

    def states(self) -> list[bool]:
        """Every LED: true = logical high."""
        return [self._state(led) for led in self._leds()]

    def state(self, index: int) -> bool:
        """One LED."""
        return self._state(self._led(index))

    def set(self, index: int, on: bool) -> None:
        """On writes max_brightness, off writes 0."""
        led = self._led(index)
        try:
            top = led.joinpath("max_brightness").read_text().strip() or "1"
        except OSError:
            top = "1"
        try:
            led.joinpath("brightness").write_text(f"{top if on else 0}\n")
        except OSError as err:
            raise PolyvisorError(f"LED {led.name}: {err.strerror}") from err
