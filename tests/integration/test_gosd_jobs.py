"""gosd jobs on a real mosquitto: the worker (handlers.gosd.runner) runs Lua scripts that call
simulated nodes over MQTT v5, ask the operator through `plans/<id>/term`, save job files; cancel,
RPC time-out, the time limit and script errors end up as the job's recorded outcome.
The store is the real one on SQLite; re-send and time-out limits are short.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from integration.components import Mosquitto, wait_until
from integration.mqtt_nodes import Node

USERS = {"gosd": "s3cret", "operator": "op-pass"}


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(USERS)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture(scope="module")
def gosd(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """store, nodes, rpc and runner wired as Services does, on the test broker (as user gosd)."""
    from handlers.gosd.nodes import Nodes
    from handlers.gosd.rpc import Rpc
    from handlers.gosd.runner import Runner
    from handlers.gosd.store import GosdStore

    store = GosdStore(None, tmp_path_factory.mktemp("gosd"))
    nodes = Nodes(broker.url("gosd"), client_id=f"gosd-test-{uuid.uuid4().hex[:6]}")
    assert nodes.mqtt is not None
    rpc = Rpc(nodes.mqtt.publish, base=0.2, limit=1.5)
    nodes.listeners.append(rpc.received)
    runner = Runner(store, nodes, rpc, base_url="http://127.0.0.1:9/gosd", timeout=20, grace=1.0)
    nodes.start()
    wait_until(nodes.mqtt.connected.is_set, 10, "gosd's MQTT connection")
    yield runner
    runner.close()
    store.close()


class Operator:
    """The web UI's side: watches plans/# on the broker, answers through plans/<id>/term."""

    def __init__(self, broker: Mosquitto) -> None:
        import paho.mqtt.client as paho

        self.seen: dict[str, list[str]] = {}
        self.retained: dict[str, bool] = {}
        subscribed = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"operator-{uuid.uuid4().hex[:6]}",
                             protocol=paho.MQTTv5)
        client.username_pw_set("operator", USERS["operator"])
        client.on_connect = lambda c, *a: c.subscribe("plans/#", qos=1)
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        self.client = client
        assert subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.seen.setdefault(message.topic, []).append(message.payload.decode())

    def last(self, topic: str) -> str | None:
        values = self.seen.get(topic)
        return values[-1] if values else None

    def answer(self, plan_id: int, text: str) -> None:
        self.client.publish(f"plans/{plan_id}/term", text, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def operator(broker: Mosquitto) -> Iterator[Operator]:
    watcher = Operator(broker)
    yield watcher
    watcher.stop()


@pytest.fixture
def node(broker: Mosquitto) -> Iterator[Any]:
    """make(node_id, methods=..., silent=False) -> a started simulated node."""
    made: list[Node] = []

    def make(node_id: str, **kwargs: Any) -> Node:
        made.append(Node(broker.url("gosd"), node_id, **kwargs).start())
        return made[-1]

    yield make
    for each in made:
        each.stop()


def plan_with(runner: Any, script: str, node_id: int, **fields: Any) -> Any:
    """A plan whose `lua` file is `script`."""
    store = runner.store
    blob = store.create_blob("plan.lua", script.encode())
    return store.create_plan(1, {"name": "test", "description": "", "node_id": node_id,
                                 "files": {"lua": str(blob)}, "extra": fields.get("extra", {"mission": "m1"})})


def run_job(runner: Any, plan: Any, wait: float = 20.0) -> Any:
    """Create and submit a job; wait for its outcome; the stored job."""
    job = runner.store.create_job(plan.id, {}, {"speed": "5"})
    runner.submit(plan, job)
    wait_until(lambda: runner.store.job(plan.id, job.job_id).outcome is not None, wait, "the job's outcome")
    return runner.store.job(plan.id, job.job_id)


FLOW = """
function main(plan)
  local drone = NewNode(plan.nodeID)
  print("status", json.encode(drone:GetStatus()))
  local depot = NewNode(drone:GetID())
  local battery = drone:SyncCall("battery", {"percent"})
  plan:ToggleDialog({name = "Take off?", message = "battery " .. battery.percent .. "%",
                     buttons = {{name = "No", message = "no"}, {name = "Yes", message = "yes", level = "danger"}}})
  local answer = plan:Gets()
  plan:CleanDialog()
  if answer ~= "yes" then
    error("operator said " .. answer)
  end
  local done = drone:SyncCall("takeoff", {altitude = 30})
  plan:Notification("took off", 3)
  local extra = plan:GetJobExtra()
  extra.answer = answer
  plan:SetJobExtra(extra)
  plan:SetJobFileContent("report", "report.txt", "depot " .. depot.id .. ": " .. json.encode(done))
  print("url", plan:JobFileUrl("report"))
end
"""


def test_a_script_calls_a_node_asks_the_operator_and_saves_a_job_file(gosd: Any, node: Any,
                                                                       operator: Operator) -> None:
    drone = node("41", methods={"battery": lambda params: {"percent": 87},
                                "takeoff": lambda params: {"altitude": params["altitude"], "ok": True}})
    wait_until(lambda: gosd.nodes.status("41") is not None, 10, "the node's status")
    plan = plan_with(gosd, FLOW, 41)
    job = gosd.store.create_job(plan.id, {}, {"speed": "5"})
    gosd.submit(plan, job)

    dialog = f"plans/{plan.id}/dialog"
    wait_until(lambda: "Take off?" in (operator.last(dialog) or ""), 10, "the dialog on MQTT")
    assert json.loads(operator.last(dialog) or "") == {
        "name": "Take off?", "message": "battery 87%",
        "buttons": [{"name": "No", "message": "no"}, {"name": "Yes", "message": "yes", "level": "danger"}]}
    running = gosd.running(plan.id)
    assert running["id"] == job.id and running["plan_id"] == plan.id and running["outcome"] is None
    assert running["job"]["job_id"] == job.id  # gosd's task carried the row id
    assert json.loads(gosd.nodes.get(f"plans/{plan.id}/running"))["id"] == job.id

    operator.answer(plan.id, "yes")
    wait_until(lambda: gosd.store.job(plan.id, job.job_id).outcome is not None, 10, "the outcome")
    done = gosd.store.job(plan.id, job.job_id)
    assert done.outcome["status"] == "succeeded" and done.outcome["error"] is None
    assert datetime.fromisoformat(done.outcome["started_at"]) <= datetime.fromisoformat(done.outcome["finished_at"])
    assert done.extra == {"speed": "5", "answer": "yes"}
    report = gosd.store.blob(int(done.files["report"]))
    assert (report.filename, report.content) == ("report.txt", b'depot 1: {"altitude":30,"ok":true}')
    log = gosd.store.blob(int(done.files["luavm"])).content.decode()
    assert "SEND -->" in log and "RECV -->" in log and "url\thttp://127.0.0.1:9/gosd/api/v1/blobs/" in log
    assert log.endswith("=== succeeded ===\n")
    assert [r["method"] for r in drone.requests] == ["battery", "takeoff"]
    assert drone.requests[1]["params"] == {"altitude": 30} and drone.requests[0]["id"].startswith("gosd.0-")

    assert gosd.running(plan.id) == {}
    wait_until(lambda: operator.last(f"plans/{plan.id}/running") == "{}", 10, "running {} on MQTT")
    assert operator.last(dialog) == "{}"
    assert json.loads(operator.last(f"plans/{plan.id}/notification") or "")["msg"] == "took off"


def test_a_job_cancelled_while_it_waits_on_a_node_ends_with_be_killed(gosd: Any, node: Any) -> None:
    quiet = node("42", silent=True)
    plan = plan_with(gosd, 'function main(plan) NewNode(plan.nodeID):SyncCall("land") end', 42)
    job = gosd.store.create_job(plan.id, {}, {})
    gosd.submit(plan, job)
    wait_until(lambda: quiet.requests, 10, "the request at the node")
    gosd.cancel(plan.id)
    wait_until(lambda: gosd.store.job(plan.id, job.job_id).outcome is not None, 10, "the outcome")
    outcome = gosd.store.job(plan.id, job.job_id).outcome
    assert (outcome["status"], outcome["error"]) == ("cancelled", "Be killed")
    assert gosd.rpc.pending() == 0  # nothing is re-sent for a cancelled job


def test_a_node_that_never_answers_times_out_with_gosds_error(gosd: Any, node: Any) -> None:
    quiet = node("43", silent=True)
    done = run_job(gosd, plan_with(gosd, 'function main(plan) NewNode(plan.nodeID):SyncCall("ping") end', 43))
    assert done.outcome["status"] == "failed"
    assert json.loads(done.outcome["error"]) == {"code": 1, "message": "timeout"}
    sent = [r for r in quiet.requests if r["method"] == "ping"]
    assert len(sent) >= 3 and len({r["id"] for r in sent}) == 1  # sent, then re-sent at 0.2, 0.4, 0.8 s


def test_a_script_that_loops_for_ever_is_stopped_by_the_time_limit_and_the_next_job_runs(gosd: Any) -> None:
    gosd.timeout = 1.0
    try:
        looping = plan_with(gosd, "function main() while true do pcall(function() while true do end end) end end", 1)
        first = gosd.store.create_job(looping.id, {}, {})
        gosd.submit(looping, first)
        after = plan_with(gosd, 'function main(plan) print("next") end', 1)
        done = run_job(gosd, after)
    finally:
        gosd.timeout = 20
    stopped = gosd.store.job(looping.id, first.job_id).outcome
    assert stopped["status"] == "timeout" and "1 s" in stopped["error"]
    assert done.outcome["status"] == "succeeded"


def test_a_script_error_is_recorded_as_the_outcome(gosd: Any) -> None:
    done = run_job(gosd, plan_with(gosd, 'function main(plan)\n  error("no GPS fix")\nend', 1))
    assert done.outcome == {"status": "failed", "error": "plan.lua:2: no GPS fix",
                            "started_at": done.outcome["started_at"], "finished_at": done.outcome["finished_at"]}
    log = gosd.store.blob(int(done.files["luavm"])).content.decode()
    assert log == "=== failed: plan.lua:2: no GPS fix ===\n"


def test_node_state_comes_from_the_broker(gosd: Any, node: Any) -> None:
    drone = node("44")
    drone.publish("msg/battery", {"remain": 76})
    wait_until(lambda: gosd.nodes.message("44", "battery") is not None, 10, "the node's message")
    done = run_job(gosd, plan_with(gosd, """
function main(plan)
  local drone = NewNode(plan.nodeID)
  local battery = drone:GetMsg("battery")
  local network = drone:GetNetwork()
  local ok, err = pcall(drone.GetMsg, drone, "weather")
  plan:SetExtra({remain = tostring(battery.remain), delay = tostring(network.delay), missing = err})
end""", 44))
    assert done.outcome["status"] == "succeeded"
    assert gosd.store.plan(done.plan_id).extra == {"remain": "76", "delay": "12", "missing": "redigo: nil returned"}


def test_a_wrong_broker_password_is_refused_and_rpc_calls_time_out(broker: Mosquitto, tmp_path: Path) -> None:
    from handlers.gosd.nodes import Nodes

    nodes = Nodes(f"mqtt://gosd:wrong@127.0.0.1:{broker.port}", client_id=f"gosd-bad-{uuid.uuid4().hex[:6]}")
    nodes.start()
    try:
        assert nodes.mqtt is not None and not nodes.mqtt.connected.wait(1.0)
    finally:
        nodes.close()


def test_the_client_reconnects_after_the_broker_restarts(tmp_path: Path) -> None:
    from handlers.gosd.nodes import Nodes
    from handlers.gosd.rpc import Rpc

    own = Mosquitto()
    own.start()
    nodes = Nodes(own.url(), client_id=f"gosd-restart-{uuid.uuid4().hex[:6]}")
    assert nodes.mqtt is not None
    rpc = Rpc(nodes.mqtt.publish, base=0.2, limit=10)
    nodes.listeners.append(rpc.received)
    drone = Node(own.url(), "51", methods={"ping": lambda params: "pong"})
    try:
        nodes.start()
        wait_until(nodes.mqtt.connected.is_set, 10, "gosd's MQTT connection")
        own.restart()
        wait_until(lambda: not nodes.mqtt.connected.is_set(), 5, "the lost connection")  # type: ignore[union-attr]
        wait_until(nodes.mqtt.connected.is_set, 15, "gosd's new connection")
        drone.start()  # its status reaches us through the subscription made anew
        wait_until(lambda: nodes.status("51") is not None, 10, "the node's status")
        pending = rpc.send("51", '{"jsonrpc":"2.0","method":"ping","id":"after-restart"}')
        got, answer = pending.reply.take(10)
        assert got and json.loads(str(answer))["result"] == "pong"
    finally:
        drone.stop()
        rpc.close()
        nodes.close()
        own.stop()
