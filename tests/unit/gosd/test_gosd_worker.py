"""gosd's worker parts without a broker: the wait/cancel switch, JSON-RPC ids, re-sends and
time-outs, the node state and its republishing, and the runner's order, cancel and outcomes
(in-memory store and transport from gosd_fakes)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from gosd_fakes import FakeStore, Transport

from handlers.gosd.nodes import Nodes
from handlers.gosd.rpc import KILLED_RESPONSE, Rpc, error_response
from handlers.gosd.runner import Runner
from handlers.gosd.waits import Control, Halted, Killed, Mailbox


def test_cancel_ends_the_pending_wait_with_be_killed_and_a_later_wait_goes_on() -> None:
    control = Control(grace=10)
    box = Mailbox()
    threading.Timer(0.05, control.cancel).start()
    with pytest.raises(Killed, match="^Be killed$"):
        control.wait(box)
    box.put("later")
    assert control.wait(box) == (True, "later")  # gosd made its context anew after a kill


def test_a_cancel_with_no_wait_pending_kills_the_next_wait() -> None:
    control = Control(grace=10)
    control.cancel()
    with pytest.raises(Killed):
        control.wait(Mailbox(), 1)
    assert control.wait(Mailbox(), 0.01) == (False, None)


def test_a_cancelled_job_still_running_after_the_grace_time_is_halted() -> None:
    control = Control(grace=0.05)
    control.cancel()
    time.sleep(0.06)
    with pytest.raises(Halted, match="cancelled"):
        control.check()
    with pytest.raises(Halted):
        control.wait(Mailbox(), 1)


def test_the_deadline_halts_a_wait() -> None:
    control = Control(timeout=0.05)
    started = time.monotonic()
    with pytest.raises(Halted, match="timeout"):
        control.wait(Mailbox())
    assert time.monotonic() - started < 1


def test_rpc_ids_and_gosds_error_answers() -> None:
    rpc = Rpc(lambda *a: None, now_ms=lambda: 1616212345678123)
    assert [rpc.new_id(), rpc.new_id()] == ["gosd.0-1616212345678-0", "gosd.0-1616212345678-1"]
    assert KILLED_RESPONSE == (b'{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error",'
                               b'"data":"Be killed"},"id":"user.killed"}')
    assert error_response("x", 1, "timeout") == (b'{"jsonrpc":"2.0","error":{"code":1,"message":"timeout",'
                                                 b'"data":null},"id":"x"}')


def test_rpc_resends_with_back_off_then_times_out() -> None:
    sent: list[float] = []
    rpc = Rpc(lambda topic, payload, qos: sent.append(time.monotonic()), base=0.1, limit=0.9)
    try:
        started = time.monotonic()
        pending = rpc.send("5", '{"jsonrpc":"2.0","id":"a","method":"m","params":null,"extra":1}')
        got, answer = pending.reply.take(3)
        assert got and json.loads(str(answer)) == {"jsonrpc": "2.0", "error": {"code": 1, "message": "timeout",
                                                                               "data": None}, "id": "a"}
        offsets = [round(t - started, 1) for t in sent]
        assert offsets == [0.0, 0.1, 0.2, 0.4, 0.8]  # the first send, then at base * 1, 2, 4, 8 (< limit)
        assert pending.payload == b'{"jsonrpc":"2.0","method":"m","id":"a"}'  # rewritten as jsonrpc-lite did
        assert rpc.pending() == 0
    finally:
        rpc.close()


def test_rpc_answers_by_id_and_ignores_the_rest() -> None:
    rpc = Rpc(lambda *a: None)
    try:
        by_name = rpc.send("5", '{"jsonrpc":"2.0","id":"a","method":"m"}')
        by_number = rpc.send("5", '{"jsonrpc":"2.0","id":7,"method":"m"}')
        for junk in (b"not json", b'{"jsonrpc":"2.0","id":"zzz","result":1}', b'{"jsonrpc":"2.0","id":"a"}',
                     b'{"jsonrpc":"2.0","id":"a","method":"m"}'):
            rpc.received("nodes/5/rpc/recv", junk)
        rpc.received("nodes/5/status", b'{"jsonrpc":"2.0","id":"a","result":1}')
        assert rpc.pending() == 2
        rpc.received("nodes/5/rpc/recv", b'{"jsonrpc":"2.0","id":"7","result":1}')  # "7" is not 7
        rpc.received("nodes/5/rpc/recv", b'{"jsonrpc":"2.0","id":7,"result":{"ok":true}}')
        rpc.received("nodes/5/rpc/recv", b'{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"no"}}')
        assert by_number.reply.take(0) == (True, '{"jsonrpc":"2.0","id":7,"result":{"ok":true}}')
        assert json.loads(str(by_name.reply.take(0)[1]))["error"]["message"] == "no"
        with pytest.raises(ValueError, match="Invalid RPC object"):
            rpc.send("5", '{"jsonrpc":"2.0","id":1,"result":1}')
        with pytest.raises(ValueError):
            rpc.send("5", "{")
        assert Rpc(None).publish is None
        with pytest.raises(ValueError, match="no MQTT broker"):
            Rpc(None).send("5", '{"jsonrpc":"2.0","id":1,"method":"m"}')
    finally:
        rpc.close()


class FakeMqtt:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, payload, qos, retain))


def test_node_state_and_gosds_republishing() -> None:
    nodes = Nodes()
    mqtt = FakeMqtt()
    nodes.mqtt = mqtt  # type: ignore[assignment]
    assert nodes.set("plans/1/term", "yes") is None
    assert nodes.set("plans/1/term", "no") == "yes"
    nodes.set("nodes/3/rpc/send", '{"jsonrpc":"2.0","method":"x"}')
    nodes.set("nodes/3/status", "{}")
    nodes.set("other", "1")
    assert mqtt.published == [("plans/1/term", b"yes", 1, True), ("plans/1/term", b"no", 1, True),
                              ("nodes/3/rpc/send", b'{"jsonrpc":"2.0","method":"x"}', 0, False)]
    box = Mailbox()
    nodes.watch("plans/1/term", box)
    nodes.received("plans/1/term", b"stale", retained=True)  # the broker's copy from before
    assert box.take(0) == (False, None) and nodes.get("plans/1/term") == "stale"
    nodes.received("plans/1/term", b"go")
    assert box.take(0) == (True, "go")
    nodes.unwatch("plans/1/term", box)
    heard: list[str] = []
    nodes.listeners.append(lambda topic, payload: heard.append(topic))
    nodes.received("nodes/3/msg/weather", b'{"wind":3}')
    assert nodes.message("3", "weather") == '{"wind":3}' and heard == ["nodes/3/msg/weather"]
    assert nodes.status("3") == "{}" and nodes.network("3") is None


def test_a_bad_mqtt_url_leaves_the_nodes_without_a_broker() -> None:
    assert Nodes("http://example.invalid").mqtt is None


@pytest.fixture
def runner() -> Iterator[Runner]:
    store = FakeStore()
    transport = Transport()
    rpc = Rpc(transport, base=0.05, limit=5)
    transport.rpc = rpc
    worker = Runner(store, Nodes(), rpc, timeout=5, grace=0.5)
    yield worker
    worker.close()


def submit(runner: Runner, script: str, node_id: int = 1) -> tuple[Any, Any]:
    blob = runner.store.create_blob("plan.lua", script.encode())
    plan = runner.store.create_plan(1, {"name": "p", "node_id": node_id, "files": {"lua": str(blob)}})
    job = runner.store.create_job(plan.id, {}, {})
    runner.submit(plan, job)
    return plan, job


def test_jobs_run_one_at_a_time_in_order(runner: Runner) -> None:
    jobs = [submit(runner, 'function main(plan) sleep("30ms") end') for _ in range(4)]
    assert runner.wait_idle(5)
    outcomes = [runner.store.job(plan.id, job.job_id).outcome for plan, job in jobs]
    assert all(o["status"] == "succeeded" for o in outcomes)
    for before, after in itertools.pairwise(outcomes):
        assert datetime.fromisoformat(before["finished_at"]) <= datetime.fromisoformat(after["started_at"])
    assert runner.finished == 4


def test_cancel_a_job_waiting_for_the_operator_and_the_queue_goes_on(runner: Runner) -> None:
    plan, job = submit(runner, "function main(plan) plan:Gets() end")
    other_plan, other = submit(runner, "function main(plan) end")
    deadline = time.monotonic() + 5
    while not runner.running(plan.id) and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.cancel(other_plan.id)  # not the running plan: nothing happens
    runner.cancel(plan.id)
    assert runner.wait_idle(5)
    assert runner.store.job(plan.id, job.job_id).outcome["error"] == "Be killed"
    assert runner.store.job(other_plan.id, other.job_id).outcome["status"] == "succeeded"
    runner.cancel(plan.id)  # idle: a no-op


def test_cancel_ends_a_sleep_and_a_script_ignoring_it_is_stopped_after_the_grace_time(runner: Runner) -> None:
    plan, job = submit(runner, 'function main(plan) pcall(sleep, "10s") while true do end end')
    deadline = time.monotonic() + 5
    while not runner.running(plan.id) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    started = time.monotonic()
    runner.cancel(plan.id)
    assert runner.wait_idle(5)
    assert 0.4 < time.monotonic() - started < 3
    outcome = runner.store.job(plan.id, job.job_id).outcome
    assert (outcome["status"], outcome["error"]) == ("cancelled", "Be killed")


def test_a_script_that_catches_the_kill_and_ends_is_cancelled_without_error(runner: Runner) -> None:
    plan, job = submit(runner, 'function main(plan) local ok, err = pcall(plan.Gets, plan) print(err) end')
    deadline = time.monotonic() + 5
    while not runner.running(plan.id) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    runner.cancel(plan.id)
    assert runner.wait_idle(5)
    done = runner.store.job(plan.id, job.job_id)
    assert done.outcome["status"] == "cancelled" and done.outcome["error"] is None
    assert runner.store.blob(int(done.files["luavm"])).content == b"Be killed\n=== cancelled ===\n"


def test_a_closed_runner_runs_again_after_the_services_open_again(runner: Runner) -> None:
    plan, job = submit(runner, "function main(plan) plan:Gets() end")
    deadline = time.monotonic() + 5
    while not runner.running(plan.id) and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.close()
    assert runner.store.job(plan.id, job.job_id).outcome["status"] == "cancelled"
    plan, job = submit(runner, "function main(plan) end")
    assert runner.wait_idle(5)
    assert runner.store.job(plan.id, job.job_id).outcome["status"] == "succeeded"


def test_a_job_stopped_while_it_waits_on_a_node_leaves_no_request_behind(runner: Runner) -> None:
    runner.timeout = 0.3
    plan, job = submit(runner, 'function main(plan) local a = NewNode(1):AsyncCall("x") NewNode(1):SyncCall("y") end')
    assert runner.wait_idle(5)
    assert runner.store.job(plan.id, job.job_id).outcome["status"] == "timeout"
    assert runner.rpc.pending() == 0


def test_mqtt_urls() -> None:
    from handlers.errors import InvalidInput
    from handlers.gosd.mqtt import parse_url

    assert parse_url("mqtt://admin:public@localhost:1883") == ("localhost", 1883, "admin", "public")
    assert parse_url("mqtt://127.0.0.1") == ("127.0.0.1", 1883, None, None)
    assert parse_url("tcp://u%40x:p%3Aw@h:9") == ("h", 9, "u@x", "p:w")
    for bad in ("http://h", "mqtt://", "localhost:1883"):
        with pytest.raises(InvalidInput):
            parse_url(bad)
