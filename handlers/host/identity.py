"""The device's identity and secrets: API key, uuid, name, all kept in the store."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path

from handlers.errors import NotFound, Unavailable
from handlers.store import Store, read_value

# Legacy clients match the key with \w+ (balena's `^ApiKey (\w+)$`), so keys are hex.
KEY_PATTERN = re.compile(r"^\w+$")


def new_key() -> str:
    """A fresh API key: 62 hex characters, as balena's generateUniqueKey made them."""
    return secrets.token_hex(31)


def keys_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a presented key with the real one."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def stored_key(data_dir: Path) -> str:
    """The API key an agent keeps in `data_dir`, read without changing anything (also while it
    runs); NotFound when there is none yet, Unavailable when the database cannot be read. The
    messages say what to do: they are for `polyvisor api-key`."""
    try:
        key = read_value(data_dir, "api_key")
    except FileNotFoundError:
        key = None
    except (OSError, sqlite3.Error) as err:  # most often: not the agent's user (the folder is 0700)
        raise Unavailable(f"cannot read the database in {data_dir}: {err} "
                          "(run this as the user the agent runs as)") from err
    if not key:
        raise NotFound(f"no API key in {data_dir} yet: start the agent once with this data folder "
                       "(--data-dir or POLYVISOR_DATA_DIR) and it makes one, or set your own with --api-key")
    return key


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Identity:
    """API key, device uuid and device name."""

    def __init__(self, store: Store, configured_key: str | None = None,
                 device_uuid: Callable[[], str | None] | None = None) -> None:
        self._store = store
        self._configured_key = configured_key
        # the uuid the device already has (balenaOS: config.json's `uuid`), kept on first start so
        # containers the legacy supervisor made keep their BALENA_DEVICE_UUID
        self._device_uuid = device_uuid
        self._key: str | None = None

    def load(self) -> None:
        """Create what is missing on first start; apply a newly configured key."""
        configured = self._configured_key
        if configured is not None and not KEY_PATTERN.match(configured):
            raise ValueError("the API key may hold only letters, digits and underscores")
        with self._store.transaction() as db:
            rows = dict(db.execute("SELECT key, value FROM config WHERE key IN "
                                   "('api_key','api_key_seed','uuid','device_name')").fetchall())
            updates: dict[str, str] = {}
            # A configured key wins once, when it is new; a key regenerated later through the
            # API then survives restarts with the same configuration.
            if configured is not None and rows.get("api_key_seed") != _digest(configured):
                updates.update(api_key=configured, api_key_seed=_digest(configured))
            elif "api_key" not in rows:
                updates["api_key"] = new_key()
            if "uuid" not in rows:
                existing = self._device_uuid() if self._device_uuid else None
                updates["uuid"] = existing if existing and KEY_PATTERN.match(existing) else uuidlib.uuid4().hex
            if "device_name" not in rows:
                # the supervisor's default until a target state names the device (balena-v2.md 1.13)
                updates["device_name"] = "local"
            for key, value in updates.items():
                db.execute("INSERT INTO config(key,value) VALUES(?,?) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))
        self._key = updates.get("api_key") or rows["api_key"]

    @property
    def api_key(self) -> str:
        """The current API key."""
        if self._key is None:
            self.load()
        assert self._key is not None
        return self._key

    def check_key(self, given: str | None) -> bool:
        """True when `given` is the current API key (constant time)."""
        return keys_equal(given, self.api_key)

    def regenerate_key(self) -> str:
        """Replace the API key; the old one stops working at once."""
        key = new_key()
        self._store.set(api_key=key)
        self._key = key
        return key

    @property
    def uuid(self) -> str:
        """The device uuid (32 hex characters)."""
        return self._store.get("uuid") or ""

    @property
    def name(self) -> str:
        """The device name."""
        return self._store.get("device_name") or ""

    def rename(self, name: str) -> None:
        """Change the device name."""
        self._store.set(device_name=name)
