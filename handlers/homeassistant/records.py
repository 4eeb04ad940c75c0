"""JSON documents kept as values of the store's config table, changed inside one transaction
(where tag 138 rewrote /data/discovery.json, services.json and auth.json)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from handlers.store import Store


def read(store: Store, key: str, empty: Any) -> Any:
    """The document under `key`, or `empty` when there is none."""
    raw = store.get(key)
    return json.loads(raw) if raw else empty


def load(db: sqlite3.Connection, key: str, empty: Any) -> Any:
    """The document under `key` inside an open transaction (Store.transaction)."""
    row = db.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
    return json.loads(row[0]) if row else empty


def save(db: sqlite3.Connection, key: str, document: Any) -> None:
    """Replace the document under `key` inside an open transaction; it lands with the COMMIT."""
    db.execute("INSERT INTO config(key, value) VALUES(?, ?) "
               "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, json.dumps(document)))
