"""One snapshot file and its validated snapshot.json (tag 138's hassio/snapshots/snapshot.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Snapshot:
    """One snapshot file and its validated snapshot.json."""

    path: Path
    data: dict[str, Any]

    @property
    def slug(self) -> str:
        return str(self.data["slug"])

    @property
    def type(self) -> str:
        return str(self.data["type"])

    @property
    def protected(self) -> bool:
        return self.data.get("protected") is not None

    @property
    def addons(self) -> list[dict[str, Any]]:
        return list(self.data["addons"])

    @property
    def addon_list(self) -> list[str]:
        return [addon["slug"] for addon in self.data["addons"]]

    @property
    def folders(self) -> list[str]:
        return list(self.data["folders"])

    @property
    def homeassistant(self) -> dict[str, Any]:
        return dict(self.data["homeassistant"])

    @property
    def size(self) -> float:
        """The file's size in MB, two decimals (0 when gone)."""
        try:
            return round(self.path.stat().st_size / 1048576, 2)
        except OSError:
            return 0
