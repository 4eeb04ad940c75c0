"""Add-on logins checked by Home Assistant (tag 138's hassio/auth.py): the supervisor forwards
{username, password, addon} to Home Assistant's api/hassio_auth; while Home Assistant's API is
down it answers from a cache of the logins Home Assistant accepted before.

Deliberate deviation: 138 cached 19 rounds of unsalted sha256 (/data/auth.json); this cache
(in the agent's store) keeps a salted scrypt hash per user, keyed by the user name's sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import Any

from handlers.errors import PolyvisorError
from handlers.homeassistant import records as documents
from handlers.homeassistant.coreapi import CoreAPI, CoreUnavailable
from handlers.store import Store

log = logging.getLogger("polyvisor.hassio.auth")

CACHE_KEY = "hassio_auth_cache"
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # 16 MiB, ~50 ms: one per login at most


class AuthError(PolyvisorError):
    """138's AuthError: no password, or Home Assistant did not answer the login."""


class Auth:
    """Logins for add-ons with auth_api, checked by Home Assistant."""

    def __init__(self, store: Store, core: CoreAPI) -> None:
        self._store = store
        self._core = core

    def check_login(self, addon: str, username: Any, password: Any) -> bool:
        """True when Home Assistant (or, while it is down, the cache) accepts the login. Both are
        forwarded as the add-on sent them (any JSON value); the cache hashes their text."""
        if password is None:
            log.error("None as password is not supported!")
            raise AuthError("no password")
        log.info("Auth request from %s for %s", addon, username)
        if not self._core.api_running():
            log.info("Home Assistant not running, check cache")
            return self._cached(username, password)
        try:
            status = self._core.request("POST", "api/hassio_auth",
                                        {"username": username, "password": password, "addon": addon})
        except CoreUnavailable as err:
            log.error("Can't request auth on Home Assistant: %s", err)
            raise AuthError("Home Assistant did not answer") from err
        if status == 200:
            log.info("Success login from %s", username)
            self._remember(username, password)
            return True
        log.warning("Wrong login from %s", username)
        self._forget(username, password)
        return False

    def _cached(self, username: Any, password: Any) -> bool:
        entry = documents.read(self._store, CACHE_KEY, {}).get(_user_key(username))
        hit = entry is not None and _matches(entry, password)
        if hit:
            log.info("Cache hit for %s", username)
        else:
            log.warning("No cache hit for %s", username)
        return hit

    def _remember(self, username: Any, password: Any) -> None:
        key = _user_key(username)
        entry = documents.read(self._store, CACHE_KEY, {}).get(key)
        if entry is not None and _matches(entry, password):
            return
        salt = os.urandom(16)
        fresh = {"salt": salt.hex(), "hash": _hash(password, salt).hex()}
        with self._store.transaction() as db:
            cache = documents.load(db, CACHE_KEY, {})
            cache[key] = fresh
            documents.save(db, CACHE_KEY, cache)

    def _forget(self, username: Any, password: Any) -> None:
        """138's _dismatch_cache: a password Home Assistant refuses now leaves the cache."""
        key = _user_key(username)
        entry = documents.read(self._store, CACHE_KEY, {}).get(key)
        if entry is None or not _matches(entry, password):
            return
        with self._store.transaction() as db:
            cache = documents.load(db, CACHE_KEY, {})
            cache.pop(key, None)
            documents.save(db, CACHE_KEY, cache)


def _user_key(username: Any) -> str:
    """The cache's key for a user (138 hashed f"{username}": JSON null and "None" alike)."""
    return hashlib.sha256(f"{username}".encode("utf-8", "surrogatepass")).hexdigest()


def _hash(password: Any, salt: bytes) -> bytes:
    return hashlib.scrypt(f"{password}".encode("utf-8", "surrogatepass"), salt=salt, **SCRYPT)


def _matches(entry: dict[str, str], password: Any) -> bool:
    try:
        salt, expected = bytes.fromhex(entry["salt"]), bytes.fromhex(entry["hash"])
    except (KeyError, ValueError, TypeError):
        return False
    return hmac.compare_digest(_hash(password, salt), expected)
