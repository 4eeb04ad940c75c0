"""gosd's job worker (luavm/worker.go): one thread runs the jobs strictly in order, each job's Lua
script in a fresh Lua state; the `running` document while it runs, `{}` after; cooperative
cancel; the outcome recorded in the store (beyond gosd, which kept none):

    {"status": "succeeded" | "failed" | "cancelled" | "timeout", "error": <text or null>,
     "started_at": <RFC 3339>, "finished_at": <RFC 3339>}

The script: the plan's `lua` blob, else the LUA_FILE, else the shipped default (lualib.DEFAULT).
What the script printed is kept as the job's file `luavm` (luavm.txt) unless it saved one itself.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.errors import NotFound
from handlers.gosd import lualib
from handlers.gosd.luavalues import go_json
from handlers.gosd.luavm import MAX_MEMORY, LuaJob, ScriptError
from handlers.gosd.nodes import Nodes
from handlers.gosd.rpc import Rpc
from handlers.gosd.store import rfc3339
from handlers.gosd.waits import KILLED, Control, Halted

log = logging.getLogger(__name__)


@dataclass
class _Current:
    plan_id: int
    job: LuaJob


class Runner:
    """The one worker; submit() queues, running()/cancel() look at the job running now."""

    def __init__(self, store: Any, nodes: Nodes, rpc: Rpc, lua_file: str | None = None,
                 base_url: str = "http://localhost/gosd", timeout: float | None = None,
                 grace: float = 5.0) -> None:
        self.store = store
        self.nodes = nodes
        self.rpc = rpc
        self.lua_file = lua_file
        self.base_url = base_url
        self.timeout = timeout
        self.grace = grace  # seconds a cancelled script may go on before it is stopped
        self.max_memory = MAX_MEMORY  # bytes one job's Lua state may hold
        self._queue: deque[tuple[Any, Any]] = deque()
        self._changed = threading.Condition()
        self._current: _Current | None = None
        self._busy = False  # a job is taken off the queue and not finished yet
        self._thread: threading.Thread | None = None
        self._closed = False
        self.finished = 0  # jobs run since start

    def submit(self, plan: Any, job: Any) -> None:
        """Queue a job of a plan (gosd's channel held 1024; ours has no bound)."""
        with self._changed:
            if self._closed:
                raise RuntimeError("the gosd worker is closed")
            self._queue.append((plan, job))
            if self._thread is None:
                self.nodes.start()
                self._thread = threading.Thread(target=self._work, name="gosd-worker", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def running(self, plan_id: int) -> dict[str, Any]:
        """The running document of the plan's job running now, {} when none runs; our `outcome`
        (null while it runs) last, since `job.job_id` there is gosd's row id, not the plan's number."""
        with self._changed:
            current = self._current
            if current is None or current.plan_id != int(plan_id):
                return {}
            return {**copy.deepcopy(current.job.task), "outcome": None}

    def cancel(self, plan_id: int) -> None:
        """Cancel the plan's running job (gosd's Kill); queued jobs stay queued; no-op when idle."""
        with self._changed:
            current = self._current
        if current is not None and current.plan_id == int(plan_id):
            log.warning("gosd: cancelling the job of plan %s", plan_id)
            current.job.kill()

    def idle(self) -> bool:
        """True when no job runs or waits."""
        with self._changed:
            return not self._busy and not self._queue

    def wait_idle(self, timeout: float) -> bool:
        """Wait until idle (tests, the benchmark)."""
        end = time.monotonic() + timeout
        with self._changed:
            while self._busy or self._queue:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Stop the worker: the running job is halted, queued ones are dropped; the next submit
        starts it again."""
        with self._changed:
            self._closed = True
            self._queue.clear()
            current = self._current
            self._changed.notify_all()
        if current is not None:
            current.job.control.halt("cancelled")
        if self._thread is not None:
            self._thread.join(10)
        self.rpc.close()
        self.nodes.close()
        with self._changed:  # a Services opened again starts anew with its next job
            self._closed, self._thread = False, None

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                plan, job = self._queue.popleft()
                self._busy = True
            try:
                self._run(plan, job)
            except Exception:  # a store failure must not end the worker
                log.exception("gosd: job %s of plan %s", getattr(job, "job_id", "?"), getattr(plan, "id", "?"))
            with self._changed:
                self._current = None
                self._busy = False
                self.finished += 1
                self._changed.notify_all()

    def _run(self, plan: Any, job: Any) -> None:
        started = rfc3339()
        # gosd's task document; job_id there is the job's row id, as gosd's NewTask(log.ID, ...) had it
        task = {"id": job.id, "plan_id": plan.id, "files": plan.files, "extra": plan.extra,
                "job": {"job_id": job.id, "files": job.files, "extra": job.extra}}
        control = Control(self.timeout, self.grace)
        lua_job = LuaJob(task, plan.id, job.job_id, self.store, self.nodes, self.rpc, control, self.base_url,
                         self._publish_running(plan.id), self.max_memory)
        with self._changed:
            self._current = _Current(int(plan.id), lua_job)
        self.nodes.set(f"plans/{plan.id}/running", go_json(task))
        status, error = "succeeded", None
        try:
            lua_job.run(self._script(plan), str(plan.node_id))
            status = "cancelled" if control.cancelled else "succeeded"
        except Halted as halted:
            status = str(halted) if str(halted) in ("timeout", "cancelled") else "cancelled"
            error = KILLED if status == "cancelled" else f"the job ran longer than {self.timeout:g} s"
        except ScriptError as err:
            status, error = ("cancelled" if control.cancelled else "failed"), str(err)
        except Exception as err:
            log.exception("gosd: job %s of plan %s", job.job_id, plan.id)
            status, error = "failed", str(err) or type(err).__name__
        finally:
            lua_job.close()
            lua_job.clean_dialog()  # gosd cleaned the dialog whatever the end
            self.nodes.set(f"plans/{plan.id}/running", "{}")
        log.info("gosd: job %s of plan %s %s%s", job.job_id, plan.id, status, f": {error}" if error else "")
        lines = lua_job.lines + ([f"... {lua_job.dropped} more lines not kept"] if lua_job.dropped else [])
        self._save_log(plan.id, job.job_id, lines, status, error)
        self.store.set_outcome(plan.id, job.job_id, {"status": status, "error": error, "started_at": started,
                                                    "finished_at": rfc3339()})

    def _publish_running(self, plan_id: int) -> Any:
        def publish(task: dict[str, Any]) -> None:
            self.nodes.set(f"plans/{plan_id}/running", go_json(task))
        return publish

    def _script(self, plan: Any) -> str | bytes:
        """The plan's `lua` blob, else LUA_FILE, else the default; ScriptError if the blob is gone."""
        blob_id = (plan.files or {}).get("lua")
        if blob_id:
            try:
                return bytes(self.store.blob(int(blob_id)).content)
            except (NotFound, ValueError):
                raise ScriptError("Unable to fetch this blob from the database") from None
        if self.lua_file:
            try:
                return Path(self.lua_file).read_bytes()
            except OSError as err:  # gosd went on with its default, so do we
                log.warning("gosd: LUA_FILE %s: %s", self.lua_file, err.strerror)
        return lualib.DEFAULT

    def _save_log(self, plan_id: int, job_id: int, lines: list[str], status: str, error: str | None) -> None:
        job = self.store.job(plan_id, job_id)
        if job is None or "luavm" in (job.files or {}):
            return
        text = "".join(f"{line}\n" for line in lines) + f"=== {status}{': ' + error if error else ''} ===\n"
        blob_id = self.store.create_blob("luavm.txt", text.encode("utf-8", "replace"))
        self.store.update_job(plan_id, job_id, files={**(job.files or {}), "luavm": str(blob_id)},
                              extra=job.extra)
