"""The agent's SQLite database: versioned schema, transactional writes, safe under kill -9."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from handlers.errors import StorageUnavailable

# Each entry moves the schema one version up; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: key/value settings (api key, uuid, device name, flags changed through the API)
    """
    CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: the state engine: target apps per source, target device config, managed images
    """
    CREATE TABLE app (app_id INTEGER NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL,
                      commit_ TEXT, release_id INTEGER, services TEXT NOT NULL,
                      networks TEXT NOT NULL, volumes TEXT NOT NULL, PRIMARY KEY (app_id, source));
    CREATE TABLE device_config (id INTEGER PRIMARY KEY CHECK (id = 1), target_values TEXT NOT NULL);
    CREATE TABLE image (name TEXT NOT NULL, app_id INTEGER NOT NULL, service_id INTEGER NOT NULL,
                        service_name TEXT NOT NULL, image_id INTEGER NOT NULL, release_id INTEGER,
                        docker_image_id TEXT, PRIMARY KEY (image_id, name));
    """,
)

DB_NAME = "polyvisor.sqlite"


def read_value(data_dir: Path, key: str) -> str | None:
    """One config value read from outside the agent, changing nothing on disk.

    FileNotFoundError when the folder holds no database. While an agent has the database open
    its -wal file exists and a read-only connection shares it; when none has, the database is
    checkpointed and is read as immutable, so that no -wal or -shm file is made (a read-only
    connection would leave both behind).
    """
    path = Path(data_dir) / DB_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    while True:
        wal = Path(f"{path}-wal").exists()
        mode = "mode=ro" if wal else "immutable=1"
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            if wal or not Path(f"{path}-wal").exists():
                raise
            continue  # an agent opened it while we read it as immutable: read it alongside the agent
        finally:
            conn.close()
        if wal or not Path(f"{path}-wal").exists():
            return None if row is None else str(row[0])


def _rollback(db: sqlite3.Connection) -> None:
    """ROLLBACK, which fails harmlessly when SQLite already rolled the transaction back."""
    with contextlib.suppress(sqlite3.Error):
        db.execute("ROLLBACK")


class Store:
    """One SQLite file in the data folder, in WAL mode, shared by threads under a lock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create the folder and database if needed and bring the schema up to date."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        # WAL keeps readers off writers; FULL syncs each commit so a power cut loses nothing committed.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._conn = conn
        self._migrate()
        os.chmod(self.path, 0o600)

    def close(self) -> None:
        """Close the connection (WAL is checkpointed by SQLite)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def schema_version(self) -> int:
        """The schema version the database is at."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one IMMEDIATE transaction: all of it lands, or none of it."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except sqlite3.OperationalError as err:
                # SQLITE_FULL or an I/O error (a full disk) may leave the transaction open: roll it
                # back so no half of it lands with a later commit
                _rollback(db)
                raise StorageUnavailable(f"the data folder cannot take the write: {err}") from err
            except BaseException:
                _rollback(db)
                raise

    def ping(self) -> bool:
        """True when the database answers a query."""
        with self._lock:
            return self._db.execute("SELECT 1").fetchone() == (1,)

    def get(self, key: str, default: str | None = None) -> str | None:
        """One config value, or default."""
        with self._lock:
            row = self._db.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set(self, **values: str) -> None:
        """Write several config values in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO config(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                list(values.items()),
            )

    def get_or_create(self, key: str, make: str) -> str:
        """The stored value of key, storing `make` first when there is none."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            db.execute("INSERT INTO config(key, value) VALUES(?, ?)", (key, make))
            return make
