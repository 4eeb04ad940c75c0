"""One job's Lua 5.1 state (lupa) and the Go functions gosd bound into it as `SD` (luavm/*.go):
sleep, dialogs, operator input through `plans/<id>/term`, notifications, the plan's and job's
files/extra, blobs, node state and JSON-RPC calls. Every wait goes through the job's Control,
so cancel ends it with "Be killed"; an instruction-count hook stops a script that runs past its
time (or keeps running after a cancel), even one that never waits.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from handlers.errors import NotFound
from handlers.gosd import lualib
from handlers.gosd.luavalues import (
    as_bytes,
    dialog_document,
    go_json,
    parse_duration,
    string_map,
    text,
    to_python,
)
from handlers.gosd.nodes import NIL, Nodes
from handlers.gosd.rpc import KILLED_RESPONSE, Pending, Rpc, id_key
from handlers.gosd.waits import KILLED, Control, Halted, Killed, Mailbox

log = logging.getLogger(__name__)

HOOK_EVERY = 10_000  # Lua instructions between two checks of the job's time and cancel state
MAX_MEMORY = 256 << 20  # bytes one job's Lua state may hold
MAX_LOG = 1 << 20  # characters of printed lines kept for the job's `luavm` file


class ScriptError(Exception):
    """The script failed: its Lua error message (a table error as JSON)."""


class LuaJob:
    """One run of a script: its Lua state, its task document, its waits."""

    def __init__(self, task: dict[str, Any], plan_id: int, job_id: int, store: Any, nodes: Nodes, rpc: Rpc,
                 control: Control, base_url: str, on_task: Callable[[dict[str, Any]], None],
                 max_memory: int = MAX_MEMORY) -> None:
        self.task = task
        self.plan_id = plan_id
        self.job_id = job_id  # the per-plan number (the store's key)
        self.store = store
        self.nodes = nodes
        self.rpc = rpc
        self.control = control
        self.base_url = base_url
        self.on_task = on_task
        self.max_memory = max_memory
        self.lines: list[str] = []  # what the script printed, up to MAX_LOG characters
        self.log_size = 0
        self.dropped = 0  # lines printed past MAX_LOG
        self.pending: dict[str, Pending] = {}  # sent, answer not taken yet (kill() reads it from another thread)
        self._pending_lock = threading.Lock()
        self.lua: Any = None
        self.lua_type: Callable[[Any], str | None] = lambda value: None  # lupa's, once loaded

    # the host functions (what SD's methods call); errors come back as gosd's (nil, message)

    def alive(self) -> bool:
        """False once the job must stop (the hook then raises)."""
        try:
            self.control.check()
        except Halted:
            return False
        return True

    def halted(self) -> str:
        """The message of the error the hook raises."""
        return f"job stopped: {self.control.reason}"

    def print_line(self, line: Any) -> None:
        """print(): one line of the job's log."""
        line = text(line)
        if self.log_size + len(line) > MAX_LOG:
            self.dropped += 1
        else:
            self.lines.append(line)
            self.log_size += len(line) + 1
        log.debug("plan %s job %s: %s", self.plan_id, self.job_id, line)

    def json_encode(self, value: Any = None) -> str | tuple[None, str]:
        """json.encode (gopher-json): the text, or nil and the error."""
        try:
            return go_json(to_python(value, self.lua_type))
        except ValueError as err:
            return None, str(err)

    def json_decode(self, source: Any = None) -> Any:
        """json.decode: the value, or nil and the error."""
        try:
            return self._to_lua(json.loads(source if isinstance(source, bytes) else text(source)))
        except ValueError as err:
            return None, str(err)

    def sleep(self, duration: Any) -> str | None:
        """SD:Sleep(Go duration): ended by cancel with "Be killed"."""
        try:
            seconds = parse_duration(text(duration))
        except ValueError as err:
            return str(err)
        try:
            self.control.sleep(seconds)
        except Killed:
            return KILLED
        return None

    def toggle_dialog(self, dialog: Any = None) -> str | None:
        """SD:ToggleDialog: plans/<id>/dialog."""
        try:
            document = dialog_document(to_python(dialog, self.lua_type) if dialog is not None else {})
        except ValueError as err:
            return str(err)
        self.nodes.set(f"plans/{self.plan_id}/dialog", go_json(document))
        return None

    def clean_dialog(self) -> str | None:
        """SD:CleanDialog: an empty dialog."""
        return self.toggle_dialog(None)

    def io_gets(self) -> tuple[str | None, str | None]:
        """SD:IOGets: wait for the next write of plans/<id>/term (the operator's answer)."""
        key, box = f"plans/{self.plan_id}/term", Mailbox()
        self.nodes.watch(key, box)
        try:
            _, value = self.control.wait(box)
        except Killed:
            return "", KILLED
        finally:
            self.nodes.unwatch(key, box)
        return text(value), None

    def io_puts(self, line: Any) -> str | None:
        """SD:IOPuts: write plans/<id>/term."""
        self.nodes.set(f"plans/{self.plan_id}/term", text(line))
        return None

    def notification(self, note: Any) -> str | None:
        """SD:Notification({time, level, msg}): plans/<id>/notification."""
        try:
            data = to_python(note, self.lua_type)
        except ValueError as err:
            return str(err)
        data = data if isinstance(data, dict) else {}
        level = data.get("level")
        document = {"time": int(data["time"]) if isinstance(data.get("time"), int | float) else 0,
                    "level": int(level) % 256 if isinstance(level, int | float) else 0,
                    "msg": text(data.get("msg"))}
        self.nodes.set(f"plans/{self.plan_id}/notification", go_json(document))
        return None

    def get_attach(self) -> tuple[str | None, str | None]:
        """SD:GetAttach: the task document with the plan's and the job's files/extra as stored now."""
        plan = self.store.plan(self.plan_id)
        if plan is None:
            return None, "Unable to fetch this plan from the database"
        job = self.store.job(self.plan_id, self.job_id)
        if job is None:
            return None, "Unable to fetch this job from the database"
        self.task.update(files=plan.files, extra=plan.extra)
        self.task["job"].update(files=job.files, extra=job.extra)
        return go_json(self.task), None

    def set_attach(self, raw: Any) -> str | None:
        """SD:SetAttach: the plan's and the job's files/extra from the task document given."""
        try:
            data = json.loads(text(raw))
        except ValueError:
            data = None  # gosd ignored a document it could not decode and stored what it had
        if isinstance(data, dict):
            self.task.update(files=string_map(data.get("files")), extra=string_map(data.get("extra")))
            job = data["job"] if isinstance(data.get("job"), dict) else {}
            self.task["job"].update(files=string_map(job.get("files")), extra=string_map(job.get("extra")))
        plan = self.store.plan(self.plan_id)
        if plan is None:
            return "Unable to fetch this plan from the database"
        self.store.update_plan(self.plan_id, {"name": plan.name, "description": plan.description,
                                              "node_id": plan.node_id, "files": self.task["files"],
                                              "extra": self.task["extra"]})
        self.store.update_job(self.plan_id, self.job_id, files=self.task["job"]["files"],
                              extra=self.task["job"]["extra"])
        self.on_task(self.task)
        return None

    def blob_reader(self, blob_id: Any = None) -> tuple[Any, Any]:
        """SD:BlobReader(id): filename, content (nil and the error when there is no such blob)."""
        try:
            blob = self.store.blob(int(blob_id))
        except (NotFound, TypeError, ValueError):
            return None, f"blob {text(blob_id) or 'nil'} not found"
        return blob.filename, blob.content

    def blob_update(self, blob_id: Any, filename: Any, content: Any) -> None:
        """SD:BlobUpdate(id, filename, content)."""
        try:
            self.store.replace_blob(int(blob_id), text(filename), as_bytes(content))
        except (NotFound, TypeError, ValueError):
            pass  # gosd ignored the error

    def blob_create(self, filename: Any, content: Any) -> int:
        """SD:BlobCreate(filename, content) -> the new blob's id."""
        return int(self.store.create_blob(text(filename), as_bytes(content)))

    def blob_url(self, blob_id: Any) -> str:
        """SD:BlobUrl(id): where a node downloads the blob (the v1 route needs no token)."""
        return f"{self.base_url.rstrip('/')}/api/v1/blobs/{text(blob_id)}"

    def gen_rpc_id(self) -> str:
        """SD:GenRpcID."""
        return self.rpc.new_id()

    def rpc_send(self, node_id: Any, raw: Any) -> tuple[str | None, str | None]:
        """SD:RpcSend(node, request) -> id (re-sent until answered or timed out)."""
        try:
            pending = self.rpc.send(text(node_id), text(raw))
        except ValueError as err:
            return "", str(err)
        key = id_key(pending.id)
        with self._pending_lock:
            self.pending[key] = pending
        return key, None

    def rpc_recv(self, rpc_id: Any) -> tuple[str | None, str | None]:
        """SD:RpcRecv(id): wait for the answer ("Be killed" on cancel, "Not pending" if unknown)."""
        with self._pending_lock:
            pending = self.pending.get(text(rpc_id))
        if pending is None:
            return "", "Not pending"
        try:
            _, answer = self.control.wait(pending.reply)
        except Killed:
            self.rpc.drop([pending], None)
            return "", KILLED
        except Halted:
            self.rpc.drop([pending], None)  # no more re-sends for a stopped job
            raise
        finally:
            with self._pending_lock:
                self.pending.pop(text(rpc_id), None)
        if answer == KILLED_RESPONSE.decode():
            return "", KILLED
        return text(answer), None

    def get_msg(self, node_id: Any, name: Any) -> tuple[str, str | None]:
        """SD:GetMsg(node, name): nodes/<id>/msg/<name>."""
        return _found(self.nodes.message(text(node_id), text(name)))

    def get_status(self, node_id: Any) -> tuple[str, str | None]:
        """SD:GetStatus(node)."""
        return _found(self.nodes.status(text(node_id)))

    def get_network(self, node_id: Any) -> tuple[str, str | None]:
        """SD:GetNetwork(node)."""
        return _found(self.nodes.network(text(node_id)))

    # the state and the run

    def kill(self) -> None:
        """Cancel: every pending wait and every sent request still unanswered gets "Be killed"."""
        self.control.cancel()
        with self._pending_lock:
            sent = list(self.pending.values())
        self.rpc.drop(sent)

    def close(self) -> None:
        """Forget the requests still tracked (the job is over)."""
        with self._pending_lock:
            sent, self.pending = list(self.pending.values()), {}
        self.rpc.drop(sent, None)

    def run(self, script: str | bytes, node_id: str) -> None:
        """Load the libraries and the script, call SD_main(node_id); ScriptError on failure,
        Halted when stopped."""
        from lupa import lua51

        def deny(obj: Any, name: Any, setting: bool) -> Any:
            raise AttributeError("no access to host objects")

        lua = lua51.LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False,
                               attribute_filter=deny, max_memory=self.max_memory)
        self.lua = lua
        self.lua_type = lua51.lua_type
        host = lua.table_from({
            "alive": self.alive, "halted": self.halted, "print": self.print_line,
            "json_encode": self.json_encode, "json_decode": self.json_decode,
            "Sleep": self.sleep, "ToggleDialog": self.toggle_dialog, "CleanDialog": self.clean_dialog,
            "IOGets": self.io_gets, "IOPuts": self.io_puts, "Notification": self.notification,
            "GetAttach": self.get_attach, "SetAttach": self.set_attach, "BlobReader": self.blob_reader,
            "BlobUpdate": self.blob_update, "BlobCreate": self.blob_create, "BlobUrl": self.blob_url,
            "GenRpcID": self.gen_rpc_id, "RpcSend": self.rpc_send, "RpcRecv": self.rpc_recv,
            "GetMsg": self.get_msg, "GetStatus": self.get_status, "GetNetwork": self.get_network,
        })
        debug = lua.globals().debug
        try:
            runner = lua.execute(lualib.PRELUDE, host, debug.sethook, debug.traceback, HOOK_EVERY)
            for name, source in lualib.LIBRARIES:
                self._load(source, name)()
            self._load(script, "plan")()
            main = lua.globals().SD_main
            if main is None:
                raise ScriptError("attempt to call a nil value (global 'SD_main')")
            runner(main, str(node_id))
        except Halted:
            raise
        except (lua51.LuaError, lua51.LuaMemoryError) as err:
            if self.control.reason is not None:
                raise Halted(self.control.reason) from None
            if isinstance(err, lua51.LuaMemoryError):
                raise ScriptError("not enough memory") from None
            # lupa appends a traceback of its own call into Lua: not the script's, left out
            raise ScriptError(str(err).split("\nstack traceback:", 1)[0] or "error") from None
        finally:
            self.lua = None

    def _load(self, source: str | bytes, name: str) -> Any:
        loaded = self.lua.globals().loadstring(source, f"@{name}.lua")
        if isinstance(loaded, tuple):  # nil and the syntax error
            raise ScriptError(text(loaded[1]))
        return loaded

    def _to_lua(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.lua.table_from({k: self._to_lua(v) for k, v in value.items() if v is not None})
        if isinstance(value, list):
            return self.lua.table_from([self._to_lua(v) for v in value])
        return value


def _found(value: str | None) -> tuple[str, str | None]:
    return (value, None) if value is not None else ("", NIL)
