"""The gosd store: users and their groups, tokens, blobs, plans and their jobs (gosd v2.2.0's
storage package, gosd-platform.md A.4-A.6), on SQLite in the data folder or on PostgreSQL.

Made cheaply (Services builds one in every agent); the database is opened, and its schema
brought up to date, on the first call. Values come back as the plain records of records.py
(re-exported here); their fields are gosd's JSON names.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from handlers.errors import InvalidInput
from handlers.gosd import db as backends
from handlers.gosd.records import (
    Blob,
    BlobNotFound,
    Group,
    Job,
    JobNotFound,
    Plan,
    PlanNotFound,
    Token,
    User,
    UserNotFound,
    dump,
    fits,
    job_record,
    plan_fields,
    plan_record,
    rfc3339,
    user_record,
)
from handlers.gosd.users import (
    Failures,
    UnknownUser,
    UserExists,
    UserLocked,
    WrongPassword,
    check_password,
    hash_password,
)

__all__ = ["Blob", "BlobNotFound", "GosdStore", "Group", "Job", "JobNotFound", "Plan", "PlanNotFound", "Token",
           "User", "UserNotFound", "rfc3339"]

DEFAULT_EXPIRE = 7200  # EXPIRE_TOKEN's default (v2.1+)


def _digest(token: str) -> str:
    """Tokens are kept as their SHA-256: a copy of the database hands out no live token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


USER_COLUMNS = ("u.id, u.username, u.language, u.timezone, u.last_login_at, u.extra, g.id, g.name, g.extra "
                "FROM users u LEFT JOIN groups g ON u.group_id = g.id")
JOB_COLUMNS = "id, log_id, plan_id, attachments, extra, create_at, update_at, outcome FROM plan_logs"
PLAN_COLUMNS = "id, name, description, node_id, attachments, extra FROM plans"


class GosdStore:
    """gosd's storage on one database; thread-safe; opened on first use."""

    def __init__(self, url: str | None, data_dir: Path, expire_token: int = DEFAULT_EXPIRE,
                 failures: Failures | None = None) -> None:
        self.url = url or None
        self.data_dir = Path(data_dir)
        self.expire_token = int(expire_token)
        self.failures = failures or Failures()
        self._db: backends.Database | None = None
        self._opening = threading.Lock()

    @classmethod
    def open(cls, url: str | None, data_dir: Path, expire_token: int = DEFAULT_EXPIRE) -> GosdStore:
        """A store with its database opened and migrated now (errors surface here)."""
        store = cls(url, data_dir, expire_token)
        store.database()
        return store

    def database(self) -> backends.Database:
        """The open backend, connecting and migrating on the first call."""
        if self._db is None:
            with self._opening:
                if self._db is None:
                    db = backends.connect(self.url, self.data_dir)
                    try:
                        backends.migrate(db)
                    except BaseException:
                        db.close()
                        raise
                    self._db = db
        return self._db

    @property
    def kind(self) -> str:
        """"sqlite" or "postgres"."""
        return "postgres" if self.url and self.url.startswith("postgres") else "sqlite"

    def close(self) -> None:
        """Close the connection; the next call opens it again."""
        with self._opening:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement in its own transaction (a read-only one for a SELECT)."""
        with self.database().transaction(write=not sql.startswith("SELECT")) as cur:
            return cur.execute(sql, params)

    # users -------------------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> User:
        """`gosd users add`: a group of the same name and the user in it (UserExists if taken)."""
        name = username.lower()
        if not name or not password:
            raise InvalidInput("username and password are mandatory")
        hashed = hash_password(password)  # outside the transaction: bcrypt takes its time
        with self.database().transaction() as cur:
            if cur.execute("SELECT id FROM users WHERE username=?", (name,)):
                raise UserExists(f"User {name!r} already exists")
            group_id = cur.execute("INSERT INTO groups (name, extra) VALUES (?, ?) RETURNING id",
                                   (username, "{}"))[0][0]
            cur.execute("INSERT INTO users (username, password, language, timezone, group_id, extra) "
                        "VALUES (?, ?, 'en_US', 'UTC', ?, '{}')", (name, hashed, group_id))
        found = self.find_user(name)
        assert found is not None
        return found

    def users(self) -> list[User]:
        """Every user, by username (storage.Users)."""
        return [user_record(row) for row in self._rows(f"SELECT {USER_COLUMNS} ORDER BY u.username ASC")]

    def find_user(self, username: str) -> User | None:
        """The user of that name (compared lower-cased), or None."""
        rows = self._rows(f"SELECT {USER_COLUMNS} WHERE u.username=?", (username.lower(),))
        return user_record(rows[0]) if rows else None

    def user(self, user_id: int) -> User | None:
        """The user of that id, or None (`--gosd-noauth` acts as user 1)."""
        if not fits(user_id):
            return None
        rows = self._rows(f"SELECT {USER_COLUMNS} WHERE u.id=?", (int(user_id),))
        return user_record(rows[0]) if rows else None

    def update_user(self, username: str, password: str | None = None, new_username: str | None = None,
                    language: str | None = None, timezone: str | None = None) -> User:
        """Change what is given (`gosd users update`); UserNotFound, or UserExists for a taken new name."""
        hashed = hash_password(password) if password else None
        name = username.lower()
        with self.database().transaction() as cur:
            rows = cur.execute("SELECT id FROM users WHERE username=?", (name,))
            if not rows:
                raise UserNotFound(f"no user {name!r}")
            user_id = rows[0][0]
            if new_username and cur.execute("SELECT id FROM users WHERE username=? AND id<>?",
                                            (new_username.lower(), user_id)):
                raise UserExists(f"User {new_username.lower()!r} already exists")
            for column, value in (("password", hashed), ("username", new_username and new_username.lower()),
                                  ("language", language), ("timezone", timezone)):
                if value:
                    cur.execute(f"UPDATE users SET {column}=? WHERE id=?", (value, user_id))
        found = self.user(user_id)
        assert found is not None
        return found

    def login(self, username: str, password: str) -> User:
        """The user these credentials name, or gosd's LoginError: UnknownUser, UserLocked (checked
        before the password, as gosd did), WrongPassword (counted towards the lock)."""
        user = self.find_user(username)
        if user is None:
            raise UnknownUser()
        if self.failures.locked(user.id):
            raise UserLocked()
        rows = self._rows("SELECT password FROM users WHERE id=?", (user.id,))
        try:
            check_password(username.lower(), password, rows[0][0] if rows else None)
        except WrongPassword:
            self.failures.record(user.id)
            raise
        return user

    # tokens ------------------------------------------------------------------------------

    def issue_token(self, user: User) -> Token:
        """A new bearer token for the user, valid for expire_token seconds; expired ones are purged."""
        token = secrets.token_hex(32)
        now = time.time()
        with self.database().transaction() as cur:
            cur.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
            cur.execute("INSERT INTO tokens (digest, user_id, expires_at) VALUES (?, ?, ?)",
                        (_digest(token), user.id, now + self.expire_token))
        return Token(token, "bearer", self.expire_token, int(now))

    def user_for_token(self, token: str) -> User | None:
        """The user a live token was issued to; None for unknown or expired tokens."""
        if not token:
            return None
        rows = self._rows(f"SELECT {USER_COLUMNS} JOIN tokens t ON t.user_id = u.id "
                          "WHERE t.digest=? AND t.expires_at > ?", (_digest(token), time.time()))
        return user_record(rows[0]) if rows else None

    # blobs -------------------------------------------------------------------------------

    def create_blob(self, filename: str, content: bytes) -> int:
        """Store a blob (sha1 checksum, as gosd); its new id."""
        now = rfc3339()
        rows = self._rows("INSERT INTO blobs (filename, content, checksum, create_at, update_at) "
                          "VALUES (?, ?, ?, ?, ?) RETURNING id",
                          (filename, bytes(content), hashlib.sha1(content).hexdigest(), now, now))
        return int(rows[0][0])

    def blob(self, blob_id: int) -> Blob:
        """The blob of that id; BlobNotFound."""
        rows = self._rows("SELECT id, filename, content, checksum FROM blobs WHERE id=?",
                          (int(blob_id),)) if fits(blob_id) else []
        if not rows:
            raise BlobNotFound(f"no blob {blob_id}")
        row = rows[0]
        return Blob(int(row[0]), row[1] or "", bytes(row[2] or b""), row[3] or "")

    def replace_blob(self, blob_id: int, filename: str, content: bytes) -> Blob:
        """Replace name, content and checksum in one statement; BlobNotFound."""
        if not fits(blob_id):
            raise BlobNotFound(f"no blob {blob_id}")
        checksum = hashlib.sha1(content).hexdigest()
        rows = self._rows("UPDATE blobs SET filename=?, content=?, checksum=?, update_at=? WHERE id=? RETURNING id",
                          (filename, bytes(content), checksum, rfc3339(), int(blob_id)))
        if not rows:
            raise BlobNotFound(f"no blob {blob_id}")
        return Blob(int(blob_id), filename, bytes(content), checksum)

    # plans -------------------------------------------------------------------------------

    def plans(self, group_id: int) -> list[Plan]:
        """The group's plans by id."""
        if not fits(group_id):
            return []
        return [plan_record(row) for row in self._rows(f"SELECT {PLAN_COLUMNS} WHERE group_id=? ORDER BY id ASC",
                                                 (int(group_id),))]

    def create_plan(self, group_id: int, fields: Mapping[str, Any]) -> Plan:
        """A new plan from name, description, node_id, files, extra; the answer echoes `fields`
        (files/extra None when absent, as gosd's JSON path), the row keeps {} for them."""
        plan = plan_fields(0, fields)
        now = rfc3339()
        rows = self._rows("INSERT INTO plans (name, description, node_id, group_id, attachments, extra, "
                          "create_at, update_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                          (plan.name, plan.description, plan.node_id, int(group_id), dump(plan.files),
                           dump(plan.extra), now, now))
        return Plan(int(rows[0][0]), plan.name, plan.description, plan.node_id, plan.files, plan.extra)

    def plan(self, plan_id: int) -> Plan | None:
        """The plan of that id (any group), or None."""
        if not fits(plan_id):
            return None
        rows = self._rows(f"SELECT {PLAN_COLUMNS} WHERE id=?", (int(plan_id),))
        return plan_record(rows[0]) if rows else None

    def update_plan(self, plan_id: int, fields: Mapping[str, Any]) -> Plan:
        """Replace name, description, node_id, files and extra wholesale; the answer echoes `fields`
        with the id (gosd's PUT echoed even for an unknown id, changing nothing: call plan() first
        to answer 404 instead)."""
        plan = plan_fields(int(plan_id), fields)
        if not fits(plan_id):
            return plan
        self._rows("UPDATE plans SET name=?, description=?, node_id=?, attachments=?, extra=?, update_at=? "
                   "WHERE id=?", (plan.name, plan.description, plan.node_id, dump(plan.files),
                                  dump(plan.extra), rfc3339(), plan.id))
        return plan

    def delete_plan(self, plan_id: int) -> Plan | None:
        """Delete the plan and answer it as it was; None when there was none. Its jobs and blobs stay (as gosd)."""
        if not fits(plan_id):
            return None
        with self.database().transaction() as cur:
            rows = cur.execute(f"SELECT {PLAN_COLUMNS} WHERE id=?", (int(plan_id),))
            if not rows:
                return None
            cur.execute("DELETE FROM plans WHERE id=?", (int(plan_id),))
        return plan_record(rows[0])

    # jobs (gosd's plan_logs) -------------------------------------------------------------

    def create_job(self, plan_id: int, files: Mapping[str, Any] | None = None,
                   extra: Mapping[str, Any] | None = None) -> Job:
        """A new job of the plan: job_id is the plan's largest plus one, from 1; PlanNotFound."""
        if not fits(plan_id):
            raise PlanNotFound(f"no plan {plan_id}")
        now = rfc3339()
        with self.database().transaction(lock=(int(plan_id),)) as cur:
            if not cur.execute("SELECT id FROM plans WHERE id=?", (int(plan_id),)):
                raise PlanNotFound(f"no plan {plan_id}")
            rows = cur.execute(
                "INSERT INTO plan_logs (log_id, plan_id, attachments, extra, create_at, update_at) "
                "VALUES ((SELECT COALESCE(MAX(log_id), 0) + 1 FROM plan_logs WHERE plan_id=?), ?, ?, ?, ?, ?) "
                f"RETURNING {JOB_COLUMNS.removesuffix(' FROM plan_logs')}",
                (int(plan_id), int(plan_id), dump(files), dump(extra), now, now))
        return job_record(rows[0])

    def jobs(self, plan_id: int) -> list[Job]:
        """The plan's jobs by job_id."""
        if not fits(plan_id):
            return []
        return [job_record(row) for row in self._rows(f"SELECT {JOB_COLUMNS} WHERE plan_id=? ORDER BY log_id ASC",
                                                (int(plan_id),))]

    def job(self, plan_id: int, job_id: int) -> Job | None:
        """One job of the plan, or None."""
        if not fits(plan_id, job_id):
            return None
        rows = self._rows(f"SELECT {JOB_COLUMNS} WHERE plan_id=? AND log_id=?", (int(plan_id), int(job_id)))
        return job_record(rows[0]) if rows else None

    def update_job(self, plan_id: int, job_id: int, files: Mapping[str, Any] | None = None,
                   extra: Mapping[str, Any] | None = None) -> Job:
        """Replace the job's files and/or extra (None keeps one as it is); JobNotFound."""
        if not fits(plan_id, job_id):
            raise JobNotFound(f"no job {job_id} in plan {plan_id}")
        sets, params = ["update_at=?"], [rfc3339()]
        for column, value in (("attachments", files), ("extra", extra)):
            if value is not None:
                sets.append(f"{column}=?")
                params.append(dump(value))
        rows = self._rows(f"UPDATE plan_logs SET {', '.join(sets)} WHERE plan_id=? AND log_id=? "
                          f"RETURNING {JOB_COLUMNS.removesuffix(' FROM plan_logs')}",
                          (*params, int(plan_id), int(job_id)))
        if not rows:
            raise JobNotFound(f"no job {job_id} in plan {plan_id}")
        return job_record(rows[0])

    def set_outcome(self, plan_id: int, job_id: int, outcome: Mapping[str, Any]) -> None:
        """Record how the job's run ended (beyond gosd, which kept nothing); JobNotFound."""
        if not fits(plan_id, job_id):
            raise JobNotFound(f"no job {job_id} in plan {plan_id}")
        rows = self._rows("UPDATE plan_logs SET outcome=?, update_at=? WHERE plan_id=? AND log_id=? RETURNING id",
                          (json.dumps(dict(outcome), ensure_ascii=False), rfc3339(), int(plan_id), int(job_id)))
        if not rows:
            raise JobNotFound(f"no job {job_id} in plan {plan_id}")

