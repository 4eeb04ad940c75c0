"""Hardware monitor readings from /sys/class/hwmon and thermal zones (under --root)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from handlers.errors import NotSupported
from handlers.host.hostfs import HostFS

# hwmon attribute prefix -> (rest-server category, unit, divisor of the sysfs value)
KINDS: dict[str, tuple[str, str, float]] = {
    "temp": ("temperature", "Celsius", 1000.0),  # millidegree Celsius
    "in": ("voltage", "Volt", 1000.0),  # millivolt
    "curr": ("current", "A", 1000.0),  # milliampere
    "fan": ("fanspeed", "RPM", 1.0),
}
CATEGORIES = ("temperature", "voltage", "current", "fanspeed")
INPUT = re.compile(r"^(temp|in|curr|fan)(\d+)_input$")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


class Sensors:
    """GET /platform/api/hwmon and its per-kind routes."""

    def __init__(self, hostfs: HostFS) -> None:
        self._fs = hostfs

    def read(self) -> dict[str, list[dict[str, Any]]]:
        """Every reading, by category (categories without readings left out)."""
        found: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
        base = self._fs.path("/sys/class/hwmon")
        chips = sorted(base.iterdir(), key=lambda p: _natural(p.name)) if base.is_dir() else []
        for chip in chips:
            folders = [chip] + ([chip / "device"] if (chip / "device").is_dir() else [])
            chip_name = _read(chip / "name") or chip.name
            for folder in folders:
                try:
                    names = sorted(p.name for p in folder.iterdir())
                except OSError:
                    continue
                for name in sorted(names, key=_natural):
                    match = INPUT.match(name)
                    if not match:
                        continue
                    prefix, number = match.groups()
                    raw = _read(folder / name)
                    if raw is None or not re.fullmatch(r"-?\d+", raw):
                        continue
                    category, unit, divisor = KINDS[prefix]
                    label = _read(folder / f"{prefix}{number}_label") or f"{chip_name} {prefix}{number}"
                    found[category].append({"name": label, "value": round(int(raw) / divisor, 2),
                                            "unit": unit})
        if not found["temperature"]:
            found["temperature"] = self._thermal_zones()
        return {c: v for c, v in found.items() if v}

    def _thermal_zones(self) -> list[dict[str, Any]]:
        base = self._fs.path("/sys/class/thermal")
        zones = sorted((p for p in base.glob("thermal_zone*")), key=lambda p: _natural(p.name)) \
            if base.is_dir() else []
        readings = []
        for zone in zones:
            raw = _read(zone / "temp")
            if raw is None or not re.fullmatch(r"-?\d+", raw):
                continue
            readings.append({"name": _read(zone / "type") or zone.name, "value": round(int(raw) / 1000.0, 2),
                             "unit": "Celsius"})
        return readings

    def all(self) -> dict[str, list[dict[str, Any]]]:
        """All categories; NotSupported when the machine has no sensor at all."""
        found = self.read()
        if not found:
            raise NotSupported("no hardware monitor data")
        return found

    def kind(self, category: str) -> list[dict[str, Any]]:
        """One category; NotSupported when it has no reading."""
        found = self.read().get(category)
        if not found:
            raise NotSupported(f"no {category} data")
        return found


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
