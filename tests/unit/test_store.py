"""The SQLite store: schema migrations, transactions, identity persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from handlers.host.identity import Identity, keys_equal
from handlers.store import MIGRATIONS, Store, read_value


def open_store(path: Path) -> Store:
    store = Store(path)
    store.open()
    return store


def test_schema_is_migrated_to_latest_and_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.schema_version == len(MIGRATIONS)
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    store.close()
    # reopening does not run migrations again
    again = open_store(tmp_path)
    assert again.schema_version == len(MIGRATIONS)


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.set(a="1")
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db.execute("UPDATE config SET value='2' WHERE key='a'")
            db.execute("INSERT INTO config(key, value) VALUES('b', '3')")
            raise RuntimeError("boom")
    assert store.get("a") == "1"
    assert store.get("b") is None


def test_get_or_create_keeps_the_first_value(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.get_or_create("k", "first") == "first"
    assert store.get_or_create("k", "second") == "first"


def test_identity_generates_and_persists(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    identity = Identity(store)
    identity.load()
    key, uuid, name = identity.api_key, identity.uuid, identity.name
    assert len(key) == 62 and key.isalnum()
    assert len(uuid) == 32 and name == "local"
    store.close()
    store = open_store(tmp_path)
    again = Identity(store)
    again.load()
    assert (again.api_key, again.uuid, again.name) == (key, uuid, name)


def test_configured_key_wins_once_and_regenerated_key_survives(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    identity = Identity(store, "seeded_key")
    identity.load()
    assert identity.check_key("seeded_key")
    new = identity.regenerate_key()
    assert not identity.check_key("seeded_key") and identity.check_key(new)
    # a restart with the same configured key keeps the regenerated one
    restarted = Identity(store, "seeded_key")
    restarted.load()
    assert restarted.api_key == new
    # a different configured key is applied
    changed = Identity(store, "other_key")
    changed.load()
    assert changed.api_key == "other_key"


def test_configured_key_must_be_word_characters(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    with pytest.raises(ValueError):
        Identity(store, "bad key!").load()


def test_keys_equal_is_strict() -> None:
    assert keys_equal("abc", "abc")
    assert not keys_equal("abc", "abd")
    assert not keys_equal("", "")
    assert not keys_equal(None, "abc")
    assert not keys_equal("ab\udcff", "abc")


def test_uuid_is_taken_from_the_device_on_first_start(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    identity = Identity(store, device_uuid=lambda: "0123456789abcdef0123456789abcdef")
    identity.load()
    assert identity.uuid == "0123456789abcdef0123456789abcdef"
    later = Identity(store, device_uuid=lambda: "another")  # the stored uuid stays
    later.load()
    assert later.uuid == "0123456789abcdef0123456789abcdef"


def test_read_value_from_outside_changes_nothing(tmp_path: Path) -> None:
    """`polyvisor api-key`'s read: beside an open store (WAL), after it closed, or with no store."""
    with pytest.raises(FileNotFoundError):
        read_value(tmp_path / "none", "api_key")
    assert not (tmp_path / "none").exists()
    store = Store(tmp_path)
    store.open()
    store.set(api_key="k1")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "polyvisor.sqlite-wal" in files
    assert read_value(tmp_path, "api_key") == "k1"
    store.set(api_key="k2")  # in the WAL only, not yet checkpointed: still read
    assert read_value(tmp_path, "api_key") == "k2"
    store.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["polyvisor.sqlite"]
    assert (read_value(tmp_path, "api_key"), read_value(tmp_path, "nothing")) == ("k2", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # no -wal or -shm left behind
