"""The installed add-ons, as tag 138's addons.json kept them: per full slug a `user` entry (what
the user set: version, options, uuid, access_token, boot, auto_update, network, audio_output,
audio_input, protected) and a `system` entry (the config.json taken at install or update, with
its `location` and `repository`).

Both live in the agent's store as one JSON value, so every change lands whole or not at all and
survives kill -9. Every write goes through 138's schemas first (defaults filled: a new uuid,
options {}, auto_update false, protected true); an entry they refuse is vol.Invalid and nothing
is stored.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from handlers.homeassistant.addons.config import SCHEMA_ADDON_SYSTEM, SCHEMA_ADDON_USER
from handlers.store import Store

STORE_KEY = "hassio_addons"
# Setting one of these to None removes it from the user entry (138's setters); options None is {}.
REMOVABLE = ("boot", "network", "audio_output", "audio_input", "access_token")


class Installed:
    """addons.json's `user` and `system` entries in the agent's store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()

    def _read(self) -> dict[str, dict[str, Any]]:
        raw = self._store.get(STORE_KEY)
        data: dict[str, Any] = json.loads(raw) if raw else {}
        return {"user": dict(data.get("user") or {}), "system": dict(data.get("system") or {})}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        self._store.set(**{STORE_KEY: json.dumps(data)})

    def slugs(self) -> list[str]:
        """The installed add-ons' full slugs, sorted."""
        return sorted(self._read()["system"])

    def is_installed(self, slug: str) -> bool:
        return slug in self._read()["system"]

    def user(self, slug: str) -> dict[str, Any] | None:
        """The add-on's user entry (a copy), None when it is not installed."""
        entry = self._read()["user"].get(slug)
        return copy.deepcopy(entry) if entry is not None else None

    def system(self, slug: str) -> dict[str, Any] | None:
        """The config.json the add-on was installed or updated with (a copy), None when not installed."""
        entry = self._read()["system"].get(slug)
        return copy.deepcopy(entry) if entry is not None else None

    def entries(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Everything: {"user": {slug: entry}, "system": {slug: entry}} (a copy)."""
        return self._read()

    def install(self, slug: str, config: dict[str, Any]) -> dict[str, Any]:
        """Mark installed at config's version: system = config (with location and repository),
        user = {version, options: {}} and 138's defaults; the new user entry."""
        system = SCHEMA_ADDON_SYSTEM(copy.deepcopy(config))
        user = SCHEMA_ADDON_USER({"version": system["version"], "options": {}})
        with self._lock:
            data = self._read()
            data["system"][slug] = system
            data["user"][slug] = user
            self._write(data)
        return copy.deepcopy(user)

    def update(self, slug: str, config: dict[str, Any]) -> None:
        """The add-on now at config's version: system = config, user's version set; KeyError when
        not installed."""
        system = SCHEMA_ADDON_SYSTEM(copy.deepcopy(config))
        with self._lock:
            data = self._read()
            user = dict(data["user"][slug])
            user["version"] = system["version"]
            data["user"][slug] = SCHEMA_ADDON_USER(user)
            data["system"][slug] = system
            self._write(data)

    def uninstall(self, slug: str) -> None:
        """Forget the add-on's entries (nothing when it was not installed)."""
        with self._lock:
            data = self._read()
            if slug not in data["user"] and slug not in data["system"]:
                return
            data["user"].pop(slug, None)
            data["system"].pop(slug, None)
            self._write(data)

    def set_user(self, slug: str, **changes: Any) -> dict[str, Any]:
        """Change user settings (options, boot, auto_update, network, audio_output, audio_input,
        protected, access_token, version); None removes one, as 138's setters did. The new entry;
        KeyError when not installed, vol.Invalid (nothing stored) when the result is not 138's form."""
        with self._lock:
            data = self._read()
            user = copy.deepcopy(data["user"][slug])
            for key, value in changes.items():
                if key == "options":
                    user["options"] = copy.deepcopy(value) if value is not None else {}
                elif value is None and key in REMOVABLE:
                    user.pop(key, None)
                else:
                    user[key] = copy.deepcopy(value)
            data["user"][slug] = SCHEMA_ADDON_USER(user)
            self._write(data)
            return copy.deepcopy(data["user"][slug])

    def restore(self, slug: str, user: dict[str, Any], system: dict[str, Any]) -> None:
        """Both entries as a snapshot holds them (138's _restore_data); vol.Invalid when they are
        not 138's form, and then nothing is stored."""
        checked_user = SCHEMA_ADDON_USER(copy.deepcopy(user))
        checked_system = SCHEMA_ADDON_SYSTEM(copy.deepcopy(system))
        with self._lock:
            data = self._read()
            data["user"][slug] = checked_user
            data["system"][slug] = checked_system
            self._write(data)
