"""gosd's Lua helper library and sandbox (handlers/gosd/luavm.py, lualib.py), run by the worker
over an in-memory store and a transport that answers in the same process (gosd_fakes)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gosd_fakes import FakeStore, Transport

from handlers.gosd.luavalues import go_json, parse_duration
from handlers.gosd.nodes import Nodes
from handlers.gosd.rpc import Rpc
from handlers.gosd.runner import Runner


@pytest.fixture
def gosd() -> Iterator[Runner]:
    store = FakeStore()
    transport = Transport(lambda node, request: {"result": {"method": request["method"], "node": node,
                                                            "params": request.get("params")}})
    rpc = Rpc(transport, base=0.05, limit=0.3)
    transport.rpc = rpc
    nodes = Nodes()
    nodes.set("nodes/7/status", '{"status":{"link_id":8}}')
    runner = Runner(store, nodes, rpc, base_url="http://localhost/gosd", timeout=5, grace=0.3)
    yield runner
    runner.close()


def run(runner: Runner, script: str, node_id: int = 7, files: dict[str, str] | None = None,
        extra: dict[str, str] | None = None, answer: Callable[[Any], None] | None = None) -> Any:
    """Run `script` as a plan's lua file; the job afterwards (answer(plan) runs while it waits)."""
    store = runner.store
    blob = store.create_blob("plan.lua", script.encode())
    plan = store.create_plan(1, {"name": "p", "node_id": node_id, "files": {"lua": str(blob), **(files or {})},
                                 "extra": extra})
    job = store.create_job(plan.id, {}, {"k": "v"})
    runner.submit(plan, job)
    if answer is not None:
        answer(plan)
    assert runner.wait_idle(10)
    return store.job(plan.id, job.job_id)


def log_of(runner: Runner, job: Any) -> str:
    return runner.store.blob(int(job.files["luavm"])).content.decode()


def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met")


def test_go_durations() -> None:
    assert parse_duration("1ms") == pytest.approx(0.001)
    assert parse_duration("1.5h") == 5400
    assert parse_duration("2h45m0.5s") == pytest.approx(9900.5)
    assert parse_duration("0") == 0 and parse_duration("-1s") == -1
    for bad in ("", "1", "abc", "1x", "."):
        with pytest.raises(ValueError, match=f'^time: invalid duration "{bad}"$'):
            parse_duration(bad)


def test_go_json_escapes_as_go_did() -> None:
    assert go_json({"a": "<b>&", "n": 1, "l": [1.5]}) == '{"a":"\\u003cb\\u003e\\u0026","n":1,"l":[1.5]}'


def test_json_follows_gopher_json(gosd: Runner) -> None:
    job = run(gosd, r"""
function main(plan)
  print(json.encode({}), json.encode({1, 2, "x"}), json.encode({b = 1, a = {true, false}}), json.encode(2.5))
  print(json.encode({1, nil, 3}))
  print(json.encode({1, a = 2}))
  local t = {} t.t = t
  print(json.encode(t))
  print(json.encode(print))
  local v = json.decode('{"a":[1,null,"s"],"b":null,"c":{"d":1.5}}')
  print(v.a[1], v.a[3], v.b, v.c.d)
  print(json.decode("{bad"))
  print(require("json") == json)
end""")
    assert job.outcome["status"] == "succeeded", job.outcome
    assert log_of(gosd, job).splitlines()[:8] == [
        '[]\t[1,2,"x"]\t{"a":[true,false],"b":1}\t2.5',
        "nil\tcannot encode sparse array",
        "nil\tcannot encode mixed or invalid key types",
        "nil\tcannot encode recursively nested tables to JSON",
        "nil\tcannot encode function to JSON",
        "1\ts\tnil\t1.5",
        "nil\tExpecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "true"]


def test_the_log_library_and_geo_as_gosd_shipped_them(gosd: Runner) -> None:
    job = run(gosd, r"""
function main(plan)
  local log = NewLog()
  log:Println("a")
  log:Println(1, "b", nil, "c")
  local custom = NewLog(function(line, n) return "#" .. n .. " " .. line end, function(w, i) return i .. "=" .. w end)
  custom:Println("x", "y")
  print(log:GetContent() .. custom:GetContent())
  print(math.floor(Geo:Distance(114.2247765, 22.6857991, 114.22475167, 22.68580217)))
  print(GetDistance(118.7476783, 31.9414349, 118.7476783, 31.9414349))
end""")
    assert log_of(gosd, job).splitlines()[:5] == ["1: a\t", "2: 1\tb\t", "#1 1=x\t2=y\t", "", "2"]
    assert log_of(gosd, job).splitlines()[5] == "0"


def test_the_sandbox_keeps_the_host_out(gosd: Runner) -> None:
    job = run(gosd, r"""
function main(plan)
  print(io, os.execute, os.getenv, os.remove, package, dofile, loadfile, string.dump, python, debug.sethook)
  print(type(os.time()), type(os.date("%Y")), type(debug.traceback))
  print(pcall(require, "os"))
  print(loadstring("\27Lua binary"))
  print(loadstring("return 1 + 1")())
  print(load(function() return nil end))
  print(pcall(function() return SD.Sleep.__globals__ end))
  print(pcall(function() return json.encode.__self__ end))
end""")
    assert job.outcome["status"] == "succeeded", job.outcome
    lines = log_of(gosd, job).splitlines()
    assert lines[0] == "\t".join(["nil"] * 10)
    assert lines[1] == "number\tstring\tfunction"
    assert lines[2].startswith("false\t") and "module 'os' not found" in lines[2]
    assert lines[3] == "nil\tbinary chunks are not loaded"
    assert lines[4] == "2"
    assert lines[5].startswith("function")
    assert lines[6].startswith("false\t") and lines[7].startswith("false\t")


@pytest.mark.parametrize("loop", [
    "while true do end",
    "while true do pcall(function() while true do end end) end",
    "coroutine.wrap(function() while true do end end)()",
    "local co = coroutine.create(function() while true do end end) coroutine.resume(co) while true do end",
])
def test_a_runaway_script_is_stopped_by_the_time_limit(gosd: Runner, loop: str) -> None:
    gosd.timeout = 0.3
    started = time.monotonic()
    job = run(gosd, f"function main(plan) {loop} end")
    assert time.monotonic() - started < 3
    assert job.outcome["status"] == "timeout"
    assert job.outcome["error"] == "the job ran longer than 0.3 s"


def test_a_script_that_eats_memory_fails(gosd: Runner) -> None:
    gosd.max_memory = 8 << 20
    job = run(gosd, 'function main(plan) local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end end')
    assert (job.outcome["status"], job.outcome["error"]) == ("failed", "not enough memory")


def test_syntax_errors_and_a_missing_main_fail(gosd: Runner) -> None:
    job = run(gosd, "function main(")
    assert job.outcome["status"] == "failed" and job.outcome["error"].startswith("plan.lua:1:")
    job = run(gosd, "x = 1")
    assert job.outcome["error"] == "lib_main.lua:12: attempt to call global 'main' (a nil value)"


def test_plan_and_job_files_and_extra_as_the_legacy_test_scripts_use_them(gosd: Runner) -> None:
    # gosd's luavm/lua/test_extra.lua and test_files.lua, in short
    job = run(gosd, r"""
function main(plan)
  local extra = plan:GetExtra()
  extra["xxx"] = "aa"
  plan:SetExtra(extra)
  local job_extra = plan:GetJobExtra()
  job_extra["ttt"] = "xxx"
  plan:SetJobExtra(job_extra)
  xpcall(function() print(plan:GetFileContent("test_files")) end,
         function() plan:SetFileContent("test_files", "test.txt", "233") end)
  local filename, content = plan:GetFileContent("test_files")
  if content == "233" then plan:SetFileContent("test_files", "test2.txt", "456") end
  print(plan:GetFileContent("test_files"))
  plan:SetJobFileContent("test_files", "job.txt", "789")
  print(plan:GetJobFileContent("test_files"))
  print(plan:FileUrl("map"), plan:JobFileUrl("photos"), plan:LogFileUrl("photos"))
  print(json.encode(plan:GetAttach().job.extra))
end""", extra={"a": "b"})
    assert job.outcome["status"] == "succeeded", job.outcome
    plan = gosd.store.plan(job.plan_id)
    assert plan.extra == {"a": "b", "xxx": "aa"}
    assert job.extra == {"k": "v", "ttt": "xxx"}
    blob = gosd.store.blob(int(plan.files["test_files"]))
    assert (blob.filename, blob.content) == ("test2.txt", b"456")
    lines = log_of(gosd, job).splitlines()
    assert lines[0] == "test2.txt\t456" and lines[1] == "job.txt\t789"
    map_url, photos, again = lines[2].split("\t")
    assert map_url == f"http://localhost/gosd/api/v1/blobs/{plan.files['map']}"
    assert photos == again == f"http://localhost/gosd/api/v1/blobs/{job.files['photos']}"
    assert gosd.store.blob(int(plan.files["map"])).filename == "filename"
    assert lines[3] == '{"k":"v","ttt":"xxx"}'


def test_dialogs_operator_input_and_notifications(gosd: Runner) -> None:
    # gosd's test_dialog.lua and test_notice.lua, in short
    def operator(plan: Any) -> None:
        until(lambda: gosd.nodes.get(f"plans/{plan.id}/dialog") not in (None, "{}"))
        gosd.nodes.set(f"plans/{plan.id}/term", "confirm")

    job = run(gosd, r"""
function main(plan)
  plan:Puts("checking")
  plan:ToggleDialog({name = "Checker ~", level = "success", extra = "dropped",
    items = {{name = "nn", message = 'mm', level = 'info'}, {name = "n2"}},
    buttons = {{name = "Cancel", message = 'cancel', level = 'primary'}, {name = "Confirm", message = 'confirm'}}})
  local msg = plan:Gets()
  print(msg)
  print(plan:Notification(233, "1"))
end""", answer=operator)
    assert job.outcome["status"] == "succeeded", job.outcome
    assert log_of(gosd, job).splitlines()[:2] == ["confirm", "nil"]
    plan_id = job.plan_id
    assert gosd.nodes.get(f"plans/{plan_id}/dialog") == "{}"  # cleaned when the job ended, as gosd
    assert gosd.nodes.get(f"plans/{plan_id}/term") == "confirm"
    note = json.loads(gosd.nodes.get(f"plans/{plan_id}/notification") or "")
    assert note["level"] == 1 and note["msg"] == "233" and abs(note["time"] - time.time()) < 60


def test_node_calls_their_errors_and_node_state(gosd: Runner) -> None:
    gosd.nodes.set("nodes/7/msg/battery", '{"remain":88}')
    job = run(gosd, r"""
function main(plan)
  local drone = NewNode(plan.nodeID)
  print(json.encode(drone:SyncCall("hello", {1, 2})))
  local wait = drone:AsyncCall("later")
  print(json.encode(wait()))
  print(drone:GetID(), drone:GetMsg("battery").remain)
  print(pcall(drone.GetNetwork, drone))
  print(SD:RpcRecv("unknown"))
  print(SD:RpcSend("7", '{"jsonrpc":"2.0","result":1,"id":1}'))
  print(SD:GenRpcID())
end""")
    assert job.outcome["status"] == "succeeded", job.outcome
    lines = log_of(gosd, job).splitlines()
    assert lines[0].startswith("7\tSEND -->\t{") and '"method":"hello"' in lines[0]
    assert '{"method":"hello","node":"7","params":[1,2]}' in lines
    assert "8\t88" in lines
    assert "false\tredigo: nil returned" in lines
    assert "\tNot pending" in lines and "\tInvalid RPC object" in lines
    assert lines[-2].startswith("gosd.0-") and len(lines[-2].split("-")[1]) == 13


def test_the_default_script_asks_to_configure_a_flow(gosd: Runner) -> None:
    store = gosd.store
    plan = store.create_plan(1, {"name": "no flow", "node_id": 7})
    job = store.create_job(plan.id, {}, {})
    gosd.submit(plan, job)
    dialog = until(lambda: gosd.nodes.get(f"plans/{plan.id}/dialog") not in (None, "{}")
                   and gosd.nodes.get(f"plans/{plan.id}/dialog"))
    assert dialog == ('{"name":"错误","message":"请联系管理员在后端指定默认流程，或者上传自定义流程","level":"error",'
                      '"buttons":[{"name":"返回","message":"no","level":"primary"}]}')
    gosd.nodes.set(f"plans/{plan.id}/term", "ok")
    assert gosd.wait_idle(5)
    done = store.job(plan.id, job.job_id)
    assert done.outcome["status"] == "succeeded"
    saved = store.blob(int(done.files["luavm"]))
    assert saved.filename == "luavm.txt"
    text = saved.content.decode()
    assert text.startswith("1: \t") and "=== START Lua ===" in text and "Depot Id:\t8" in text
    assert "=== END Lua END ===" in text


def test_lua_file_is_the_script_of_plans_without_one(gosd: Runner, tmp_path: Any) -> None:
    script = tmp_path / "flow.lua"
    script.write_text('function main(plan) print("from LUA_FILE", plan.nodeID) end')
    gosd.lua_file = str(script)
    plan = gosd.store.create_plan(1, {"name": "p", "node_id": 9})
    job = gosd.store.create_job(plan.id, {}, {})
    gosd.submit(plan, job)
    assert gosd.wait_idle(5)
    assert log_of(gosd, gosd.store.job(plan.id, job.job_id)).startswith("from LUA_FILE\t9\n")


def test_a_missing_lua_blob_fails_the_job(gosd: Runner) -> None:
    plan = gosd.store.create_plan(1, {"name": "p", "node_id": 9, "files": {"lua": "999"}})
    job = gosd.store.create_job(plan.id, {}, {})
    gosd.submit(plan, job)
    assert gosd.wait_idle(5)
    outcome = gosd.store.job(plan.id, job.job_id).outcome
    assert (outcome["status"], outcome["error"]) == ("failed", "Unable to fetch this blob from the database")


def test_the_kept_log_is_bounded(gosd: Runner) -> None:
    job = run(gosd, 'function main(plan) for i = 1, 200000 do print(string.rep("x", 99)) end end')
    lines = log_of(gosd, job).splitlines()
    kept = (1 << 20) // 100  # 99 characters and a newline each
    assert len(lines) == kept + 2 and lines[-2] == f"... {200000 - kept} more lines not kept"
