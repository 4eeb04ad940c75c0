"""The supervisor's own settings (hassio/config.py and the updater's channel of tag 138): update
channel, time zone, Home Assistant's wait_boot and the custom add-on repositories, kept in the
agent's store as one JSON document with the defaults the 2018 supervisor started from.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from handlers.store import Store

SETTINGS_KEY = "hassio_supervisor_settings"
CHANNELS = ("stable", "beta", "dev")
# SCHEMA_HASSIO_CONFIG's defaults: the community repository is listed until the user drops it.
DEFAULT_REPOSITORIES = ("https://github.com/hassio-addons/repository",)


@dataclass(frozen=True)
class SupervisorSettings:
    """What POST /supervisor/options changes (channel lived in updater.json, the rest in config.json)."""

    channel: str = "stable"
    timezone: str = "UTC"
    wait_boot: int = 5
    addons_repositories: tuple[str, ...] = field(default=DEFAULT_REPOSITORIES)


class Settings:
    """The stored settings, and the time zone names they may take."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._zones: dict[str, str] | None = None

    def get(self) -> SupervisorSettings:
        """The stored settings, the defaults for what was never set."""
        raw = self._store.get(SETTINGS_KEY)
        if not raw:
            return SupervisorSettings()
        data: dict[str, Any] = json.loads(raw)
        known = {k: v for k, v in data.items() if k in SupervisorSettings.__dataclass_fields__}
        if "addons_repositories" in known:
            known["addons_repositories"] = tuple(known["addons_repositories"])
        return SupervisorSettings(**known)

    def update(self, **changes: Any) -> SupervisorSettings:
        """Store these changes (keys of SupervisorSettings) over the current settings."""
        with self._lock:
            if "addons_repositories" in changes:
                changes["addons_repositories"] = tuple(changes["addons_repositories"])
            new = replace(self.get(), **changes)
            self._store.set(**{SETTINGS_KEY: json.dumps(asdict(new))})
            return new

    def zone(self, name: str) -> str | None:
        """`name` as a time zone of the system's tz database, matched without regard to case as
        pytz.timezone() did ("utc", "europe/amsterdam" were accepted); None when unknown."""
        if self._zones is None:
            import zoneinfo  # on the first time zone checked

            self._zones = {z.lower(): z for z in zoneinfo.available_timezones()}
            self._zones.setdefault("utc", "UTC")  # pytz answered "UTC" without its database
        return self._zones.get(name.lower())
