"""GPIO pins through the sysfs interface (/sys/class/gpio/gpioN, under --root).

Pin index :id is the position in the exported lines sorted by number. dir 0 = output,
1 = input; level 0 = low, 1 = high. (The character-device backend, libgpiod, is not here yet.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from handlers.errors import InvalidId, InvalidInput, NotSupported, PolyvisorError
from handlers.host.hostfs import HostFS

OUTPUT, INPUT = 0, 1


class Gpio:
    """The /platform/api/perif/gpio routes."""

    def __init__(self, hostfs: HostFS) -> None:
        self._fs = hostfs

    def _pins(self) -> list[Path]:
        base = self._fs.path("/sys/class/gpio")
        if not base.is_dir():
            return []
        pins = [p for p in base.iterdir() if re.fullmatch(r"gpio\d+", p.name) and (p / "value").exists()]
        return sorted(pins, key=lambda p: int(p.name[4:]))

    def _pin(self, index: int) -> Path:
        pins = self._pins()
        if not pins:
            raise NotSupported("no GPIO")
        if not 0 <= index < len(pins):
            raise InvalidId("invalid parameter")
        return pins[index]

    def count(self) -> int:
        """How many pins there are."""
        return len(self._pins())

    @staticmethod
    def _read(pin: Path, name: str) -> str:
        try:
            return (pin / name).read_text().strip()
        except OSError as err:
            raise PolyvisorError(f"{pin.name}/{name}: {err.strerror}") from err

    def _state(self, index: int, pin: Path) -> dict[str, Any]:
        direction = INPUT if self._read(pin, "direction") == "in" else OUTPUT
        return {"pin": index, "dir": direction, "level": 1 if self._read(pin, "value") not in ("0", "") else 0}

    def all(self) -> list[dict[str, Any]]:
        """Every pin: pin, dir, level."""
        pins = self._pins()
        if not pins:
            raise NotSupported("no GPIO")
        return [self._state(i, p) for i, p in enumerate(pins)]

    def get(self, index: int) -> dict[str, Any]:
        """One pin."""
        return self._state(index, self._pin(index))

    def set_dir(self, index: int, direction: int) -> None:
        """0 output, 1 input."""
        pin = self._pin(index)
        if direction not in (OUTPUT, INPUT):
            raise InvalidInput(f"invalid direction {direction}: 0 output, 1 input")
        self._write(pin, "direction", "in" if direction == INPUT else "out")

    def set_level(self, index: int, level: int) -> None:
        """0 low, 1 high; InvalidInput on an input pin."""
        pin = self._pin(index)
        if level not in (0, 1):
            raise InvalidInput(f"invalid level {level}: 0 low, 1 high")
        if self._read(pin, "direction") == "in":
            raise InvalidInput(f"GPIO pin {index} is an input: its level cannot be set")
        self._write(pin, "value", str(level))

    @staticmethod
    def _write(pin: Path, name: str, value: str) -> None:
        try:
            (pin / name).write_text(value)
        except OSError as err:
            raise PolyvisorError(f"{pin.name}/{name}: {err.strerror}") from err
