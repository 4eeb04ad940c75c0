"""The gosd store on a real PostgreSQL (Debian's server on a private unix socket, no TCP): the
same cases as on SQLite (tests/gosd_store_cases.py), plus what only PostgreSQL has."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from gosd_store_cases import *  # the shared cases, collected here

from handlers.errors import StorageUnavailable
from handlers.gosd import db as backends
from handlers.gosd.store import GosdStore
from integration.components import PostgreSQL


@pytest.fixture(scope="module")
def postgresql() -> Iterator[PostgreSQL]:
    server = PostgreSQL()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_store(postgresql: PostgreSQL, tmp_path: Path) -> Iterator[Callable[..., GosdStore]]:
    """New stores on this test's own database."""
    url = postgresql.create_database()
    made: list[GosdStore] = []

    def make(**kwargs: int) -> GosdStore:
        made.append(GosdStore.open(url, tmp_path, **kwargs))
        return made[-1]

    yield make
    for store in made:
        store.close()


def test_the_schema_is_migrated_once_by_concurrent_agents(postgresql: PostgreSQL, tmp_path: Path) -> None:
    url = postgresql.create_database()
    with ThreadPoolExecutor(4) as pool:
        stores = [done.result(60) for done in [pool.submit(GosdStore.open, url, tmp_path) for _ in range(4)]]
    with stores[0].database().transaction() as cur:
        assert cur.execute(f"SELECT version FROM {backends.VERSION_TABLE}") == [(len(backends.MIGRATIONS),)]
    for store in stores:
        store.close()


def test_a_store_reconnects_after_the_server_ends_its_session(make_store: Callable[..., GosdStore],
                                                              postgresql: PostgreSQL) -> None:
    store = make_store()
    store.add_user("alice", "secret1")
    with psycopg.connect(postgresql.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname LIKE 'gosd_%%'")
    with pytest.raises(StorageUnavailable):
        store.users()  # the broken session answers once with the domain's error, not psycopg's
    assert [u.username for u in store.users()] == ["alice"]  # then a new session


def test_an_unreachable_server_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match=r"postgres:\*\*\*@"):
        GosdStore.open("postgresql://postgres:secret@/gosd?host=/nonexistent", tmp_path)


def test_a_database_with_gosds_own_tables_is_refused_with_a_message(postgresql: PostgreSQL, tmp_path: Path) -> None:
    url = postgresql.create_database()
    with psycopg.connect(url, autocommit=True) as conn:  # what `gosd database migrate` left (hstore aside)
        conn.execute("CREATE TABLE users (id serial primary key, username text)")
    with pytest.raises(StorageUnavailable, match="other tables of these names"):
        GosdStore.open(url, tmp_path)


def test_the_command_line_on_postgresql_through_database_url(postgresql: PostgreSQL, tmp_path: Path) -> None:
    url = postgresql.create_database()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("POLYVISOR_GOSD_DATABASE_URL", None)

    def gosd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "app.py", "--data-dir", str(tmp_path), "gosd", *args], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=60, check=False)

    assert gosd("users", "add", "Alice", "secret1").stdout.endswith("1   alice     en_US     UTC  \n")
    assert gosd("users", "ls").returncode == 0
    assert not (tmp_path / "gosd.db").exists()  # the data folder's SQLite was not used
    store = GosdStore.open(url, tmp_path)
    assert store.login("alice", "secret1").group.name == "Alice"
    store.close()
