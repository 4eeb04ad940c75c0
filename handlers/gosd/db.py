"""The gosd store's two database backends behind one small interface: SQLite in the data folder
(the default) and PostgreSQL when the database URL names one (`postgres://` or `postgresql://`).

Both run the same versioned schema: gosd v1's tables (users, groups, plans, plan_logs, blobs) with
its hstore columns as JSON text, and the job outcome column gosd lacked. Statements are written
once with `?` placeholders; the PostgreSQL backend turns them into psycopg's `%s`. psycopg is
imported only when a PostgreSQL URL is opened.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from handlers.errors import InvalidInput, StorageUnavailable

# Each entry moves the schema one version up; never edit a released entry, append a new one.
# {id} is the backend's auto-increment primary key, {bytes} its byte-string type.
MIGRATIONS: tuple[str, ...] = (
    # 1: gosd's schema_version_1.sql, hstore -> JSON text, timestamps as RFC 3339 text;
    # plan_logs gets the outcome of the run (gosd kept none) and a global id as its key
    """
    CREATE TABLE groups (id {id}, name TEXT, extra TEXT);
    CREATE TABLE users (id {id}, username TEXT NOT NULL UNIQUE, password TEXT,
                        language TEXT DEFAULT 'en_US', timezone TEXT DEFAULT 'UTC',
                        last_login_at TEXT, group_id INTEGER NOT NULL, extra TEXT);
    CREATE TABLE plans (id {id}, name TEXT NOT NULL, description TEXT, node_id BIGINT NOT NULL,
                        group_id BIGINT NOT NULL, attachments TEXT, extra TEXT,
                        create_at TEXT, update_at TEXT);
    CREATE TABLE plan_logs (id {id}, log_id BIGINT NOT NULL, plan_id BIGINT NOT NULL,
                            attachments TEXT, extra TEXT, outcome TEXT,
                            create_at TEXT, update_at TEXT, UNIQUE (plan_id, log_id));
    CREATE TABLE blobs (id {id}, filename TEXT, content {bytes}, checksum TEXT,
                        create_at TEXT, update_at TEXT);
    CREATE TABLE tokens (digest TEXT PRIMARY KEY, user_id BIGINT NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
    CREATE INDEX tokens_expiry ON tokens (expires_at);
    """,
)
VERSION_TABLE = "polyvisor_gosd_schema"
DB_NAME = "gosd.db"


class Cursor(Protocol):
    """What a transaction hands its block: one statement at a time."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (empty for statements without any)."""
        ...


class Database(Protocol):
    """A backend: transactions, and closing."""

    kind: str

    def transaction(self, lock: Sequence[int] = (), write: bool = True) -> contextlib.AbstractContextManager[Cursor]:
        """One transaction, serialised with others holding any of `lock` (ints); `write=False` for
        reads only (SQLite then lets writers of other processes go on)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def migrate(db: Database) -> int:
    """Bring the schema up to date (one transaction, one migrating process at a time); its version."""
    types = {"sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "bytes": "BLOB"},
             "postgres": {"id": "BIGSERIAL PRIMARY KEY", "bytes": "BYTEA"}}[db.kind]
    with db.transaction(lock=(0,)) as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
        rows = cur.execute(f"SELECT version FROM {VERSION_TABLE}")
        version = int(rows[0][0]) if rows else 0
        if not rows:
            cur.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (0)")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.format(**types).split(";")):
                cur.execute(statement)
            cur.execute(f"UPDATE {VERSION_TABLE} SET version=?", (number,))
        return len(MIGRATIONS)


def connect(url: str | None, data_dir: Path) -> Database:
    """The backend a database URL names: none or sqlite:///path -> SQLite, postgres(ql):// -> PostgreSQL."""
    if url and url.startswith(("postgres://", "postgresql://")):
        return Postgres(url)
    if url and url.startswith("sqlite://"):
        return Sqlite(Path(url[len("sqlite://"):]))
    if url:
        raise ValueError(f"unsupported gosd database URL {redact_url(url)!r}: use postgres://... or sqlite:///path")
    return Sqlite(Path(data_dir) / DB_NAME)


def _open_sqlite(path: Path) -> sqlite3.Connection:
    """The SQLite connection, or StorageUnavailable when the folder or file cannot be used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except (OSError, sqlite3.Error) as err:
        raise StorageUnavailable(f"cannot open the gosd database {path}: {err}") from err
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)  # password hashes and tokens' digests live here
    return conn


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    return f"{scheme}://{creds.partition(':')[0]}:***@{host}"


class _SqliteCursor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()


class Sqlite:
    """One SQLite file in WAL mode with FULL syncs (committed writes survive kill -9 and power cuts)."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = _open_sqlite(path)

    @contextmanager
    def transaction(self, lock: Sequence[int] = (), write: bool = True) -> Iterator[Cursor]:
        """BEGIN IMMEDIATE for writes: one writer at a time across threads and processes, so `lock`
        is implied; a plain (deferred) BEGIN for reads, which WAL serves beside a writer."""
        with self._lock:
            if self._conn is None:
                raise StorageUnavailable("the gosd database is closed")
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as err:
                raise StorageUnavailable(f"the gosd database is busy: {err}") from err
            try:
                yield _SqliteCursor(conn)
                conn.execute("COMMIT")
            except UnicodeEncodeError as err:  # a lone surrogate (no UTF-8 for it)
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise InvalidInput(f"text the database cannot hold: {err.reason}") from err
            except sqlite3.OperationalError as err:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise StorageUnavailable(f"the gosd database cannot take the write: {err}") from err
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class _PgCursor:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(sql.replace("?", "%s"), tuple(params))
        if self._cur.description is None:
            return []
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in self._cur.fetchall()]


class Postgres:
    """One psycopg 3 connection shared by threads under a lock, made again when it breaks."""

    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connect()

    def _connect(self) -> Any:
        import psycopg  # only sites with a PostgreSQL database load it

        try:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as err:
            raise StorageUnavailable(f"cannot connect to {redact_url(self.url)}: {err}") from err
        return self._conn

    @contextmanager
    def transaction(self, lock: Sequence[int] = (), write: bool = True) -> Iterator[Cursor]:
        """One transaction (`write` changes nothing here); `lock` keys take transaction-scoped advisory locks (other agents sharing
        the database wait for them too)."""
        import psycopg

        with self._lock:
            conn = self._conn if self._conn is not None and not self._conn.broken else self._connect()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for key in lock:
                        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x905D, key % 2**31))
                    yield _PgCursor(cur)
            except psycopg.OperationalError as err:
                raise StorageUnavailable(f"the gosd database does not answer: {err}") from err
            except (psycopg.DataError, UnicodeEncodeError) as err:  # NUL in text, a lone surrogate, a huge id
                raise InvalidInput(f"a value the database cannot hold: {err}") from err
            except psycopg.errors.DuplicateTable as err:
                raise StorageUnavailable(f"the gosd database holds other tables of these names: {err}") from err

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
