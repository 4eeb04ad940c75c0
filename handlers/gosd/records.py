"""What the gosd store hands out: plain records named as gosd's JSON (model/*.go of v2.2.0), the
store's not-found errors, its time format, and the conversions between rows and records."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.errors import InvalidInput, NotFound


class BlobNotFound(NotFound):
    """No blob has that id."""


class PlanNotFound(NotFound):
    """No plan has that id."""


class JobNotFound(NotFound):
    """The plan has no job of that job_id."""


class UserNotFound(NotFound):
    """No user of that name or id."""


@dataclass(frozen=True)
class Group:
    """A user's group (model.Group): plans belong to groups."""

    id: int
    name: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    """A user (model.User without the password); last_login_at stays None, as gosd never set it."""

    id: int
    username: str
    language: str
    timezone: str
    last_login_at: str | None
    group: Group
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    """POST /gosd/oauth/token's answer (model.Token)."""

    access_token: str
    token_type: str
    expires_in: int
    created_at: int


@dataclass(frozen=True)
class Blob:
    """A stored file (model.Blob with its bytes and their sha1)."""

    id: int
    filename: str
    content: bytes
    checksum: str


@dataclass(frozen=True)
class Plan:
    """A plan (model.Plan); files/extra None only in the echo of a request that had none."""

    id: int
    name: str
    description: str
    node_id: int
    files: dict[str, Any] | None
    extra: dict[str, Any] | None


@dataclass(frozen=True)
class Job:
    """A job, gosd's plan_log (model.PlanLog: job_id is log_id), with the outcome of its run."""

    id: int
    job_id: int
    plan_id: int
    files: dict[str, Any]
    extra: dict[str, Any]
    created_at: str
    updated_at: str
    outcome: dict[str, Any] | None = None


def rfc3339(moment: datetime | None = None) -> str:
    """Go's time.RFC3339Nano (default: now, in the local zone; an aware time keeps its zone):
    fraction without trailing zeros, "Z" for UTC."""
    if moment is None or moment.tzinfo is None:
        moment = (moment or datetime.now()).astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    zone = moment.strftime("%z")
    return f"{text}{zone[:3]}:{zone[3:]}"


def dump(value: Mapping[str, Any] | None) -> str:
    """A files/extra map as the JSON text its column keeps (gosd's hstore; None -> {})."""
    return json.dumps(dict(value or {}), ensure_ascii=False, separators=(",", ":"))


def load(text: str | None) -> dict[str, Any]:
    """A files/extra column back as a map ({} for none)."""
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def fits(*ids: int) -> bool:
    """True when every id is a 64-bit integer: larger ones name nothing stored (and no database takes them)."""
    return all(-(2**63) <= int(n) < 2**63 for n in ids)


def user_record(row: tuple[Any, ...]) -> User:
    """A row of store.USER_COLUMNS as a User."""
    group = Group(int(row[6] or 0), row[7], load(row[8]))
    return User(int(row[0]), row[1], row[2] or "en_US", row[3] or "UTC", row[4], group, load(row[5]))


def plan_record(row: tuple[Any, ...]) -> Plan:
    """A row of store.PLAN_COLUMNS as a Plan."""
    return Plan(int(row[0]), row[1], row[2] or "", int(row[3]), load(row[4]), load(row[5]))


def job_record(row: tuple[Any, ...]) -> Job:
    """A row of store.JOB_COLUMNS as a Job."""
    outcome = json.loads(row[7]) if row[7] else None
    return Job(int(row[0]), int(row[1]), int(row[2]), load(row[3]), load(row[4]), row[5], row[6], outcome)


def plan_fields(plan_id: int, fields: Mapping[str, Any]) -> Plan:
    """A plan from a request's fields, as Go decoded them into model.Plan (absent -> zero value)."""
    files, extra = fields.get("files"), fields.get("extra")
    try:
        node_id = int(fields.get("node_id") or 0)
        if not fits(node_id):
            raise ValueError(node_id)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"node_id must be a number: {fields.get('node_id')!r}") from err
    return Plan(plan_id, str(fields.get("name") or ""), str(fields.get("description") or ""), node_id,
                dict(files) if files is not None else None, dict(extra) if extra is not None else None)
