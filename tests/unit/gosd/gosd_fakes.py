"""Fakes for the gosd worker's unit tests: an in-memory store with the contract's API
(handlers/gosd/__init__.py) and a transport that hands each published request to a node
simulator in the same process, answering through Rpc.received as the broker would."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from handlers.errors import NotFound


@dataclass
class Plan:
    id: int
    name: str
    description: str
    node_id: int
    files: dict[str, str] | None
    extra: dict[str, str] | None


@dataclass
class Job:
    id: int
    job_id: int
    plan_id: int
    files: dict[str, str] | None
    extra: dict[str, str] | None
    created_at: str = "2026-01-01T00:00:00.000000+00:00"
    updated_at: str = "2026-01-01T00:00:00.000000+00:00"
    outcome: dict[str, Any] | None = None


@dataclass
class Blob:
    id: int
    filename: str
    content: bytes
    checksum: str


@dataclass
class FakeStore:
    """plans, jobs, blobs and outcomes in dicts."""

    plans_by_id: dict[int, Plan] = field(default_factory=dict)
    jobs_by_key: dict[tuple[int, int], Job] = field(default_factory=dict)
    blobs: dict[int, Blob] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_plan(self, group_id: int, fields: dict[str, Any]) -> Plan:
        plan = Plan(next(self.ids), fields.get("name", ""), fields.get("description", ""),
                    int(fields.get("node_id", 0)), fields.get("files"), fields.get("extra"))
        self.plans_by_id[plan.id] = plan
        return plan

    def plan(self, plan_id: int) -> Plan | None:
        return self.plans_by_id.get(int(plan_id))

    def update_plan(self, plan_id: int, fields: dict[str, Any]) -> Plan:
        plan = replace(self.plans_by_id[plan_id], **fields)
        self.plans_by_id[plan_id] = plan
        return plan

    def create_job(self, plan_id: int, files: dict[str, str] | None = None,
                   extra: dict[str, str] | None = None) -> Job:
        with self.lock:
            number = 1 + max([k[1] for k in self.jobs_by_key if k[0] == plan_id], default=0)
            job = Job(next(self.ids), number, plan_id, files if files is not None else {},
                      extra if extra is not None else {})
            self.jobs_by_key[(plan_id, number)] = job
        return job

    def job(self, plan_id: int, job_id: int) -> Job | None:
        return self.jobs_by_key.get((int(plan_id), int(job_id)))

    def update_job(self, plan_id: int, job_id: int, files: dict[str, str] | None = None,
                   extra: dict[str, str] | None = None) -> Job:
        job = self.jobs_by_key[(plan_id, job_id)]
        if files is not None:
            job.files = files
        if extra is not None:
            job.extra = extra
        return job

    def set_outcome(self, plan_id: int, job_id: int, outcome: dict[str, Any]) -> None:
        self.jobs_by_key[(plan_id, job_id)].outcome = outcome

    def create_blob(self, filename: str, content: bytes) -> int:
        blob_id = next(self.ids)
        self.blobs[blob_id] = Blob(blob_id, filename, content, hashlib.sha1(content).hexdigest())
        return blob_id

    def blob(self, blob_id: int) -> Blob:
        if blob_id not in self.blobs:
            raise NotFound(f"blob {blob_id}")
        return self.blobs[blob_id]

    def replace_blob(self, blob_id: int, filename: str, content: bytes) -> Blob:
        self.blob(blob_id)
        self.blobs[blob_id] = Blob(blob_id, filename, content, hashlib.sha1(content).hexdigest())
        return self.blobs[blob_id]


class Transport:
    """publish() for Rpc: records each message; requests go to `answer(node, request)`, whose
    return value (a result, or None for no answer) comes back on nodes/<id>/rpc/recv."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any], int]] = []
        self.answer = answer
        self.rpc: Any = None

    def __call__(self, topic: str, payload: bytes, qos: int) -> None:
        request = json.loads(payload)
        self.sent.append((topic, request, qos))
        node = topic.split("/")[1]
        if self.answer is None:
            return
        result = self.answer(node, request)
        if result is not None:
            reply = {"jsonrpc": "2.0", "id": request["id"], **result}
            threading.Thread(target=self.rpc.received,
                             args=(f"nodes/{node}/rpc/recv", json.dumps(reply).encode())).start()
