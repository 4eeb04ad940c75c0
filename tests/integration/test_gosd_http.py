"""The gosd API end to end on a real agent process, a real mosquitto and simulated nodes: log in,
a plan with a Lua blob, a job that calls a node and asks the operator (answered through
POST /gosd/api/v2/mqtt/plans/<id>/term), its running document, its outcome and files; a job
cancelled through the HTTP API while it waits on a node ends with "Be killed".
Every answer is checked against spec/gosd.yaml.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from integration.components import Mosquitto
from integration.mqtt_nodes import Node
from tests.conftest import REPO
from tests.integration.processes import wait_until
from tests.openapi import check_response

USERS = {"gosd": "s3cret"}
SCRIPT = """
function main(plan)
  local drone = NewNode(plan.nodeID)
  local battery = drone:SyncCall("battery", {"percent"})
  plan:ToggleDialog({name = "Go?", message = "battery " .. battery.percent .. "%"})
  local answer = plan:Gets()
  plan:CleanDialog()
  plan:SetJobFileContent("report", "report.txt", "answer " .. answer)
  if answer ~= "yes" then error("operator said " .. answer) end
  drone:SyncCall("land", {})
end
"""


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(USERS)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


class Api:
    """The agent's gosd API with one user's token."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.token = ""

    def call(self, method: str, path: str, check: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx.Client(base_url=self.agent.url, timeout=30) as client:
            response = client.request(method, path, headers=headers, **kwargs)
        check_response("gosd", response, method, check or path)
        return response

    def state(self, key: str) -> bytes | None:
        """GET /gosd/api/v2/mqtt/<key> (slashes in it: checked against the spec's one-segment template)."""
        response = self.call("GET", f"/gosd/api/v2/mqtt/{key}", check="/gosd/api/v2/mqtt/key")
        return response.content if response.status_code == 200 else None


@pytest.fixture
def api(start_agent: Callable[..., Any], broker: Mosquitto, tmp_path: Any) -> Api:
    data_dir = tmp_path / "data"
    subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(data_dir), "gosd", "users", "add",
                    "pilot", "secret123"], check=True, capture_output=True, timeout=60)
    agent = start_agent(args=["--dialects", "gosd", "--gosd-mqtt-url", broker.url("gosd")], data_dir=data_dir,
                        ready="/gosd/api/v2/ok", docker_host=None, dbus_address=None)
    gosd = Api(agent)
    login = gosd.call("POST", "/gosd/oauth/token", files={"grant_type": (None, "password"),
                                                          "username": (None, "pilot"), "password": (None, "secret123")})
    assert login.status_code == 200, login.content
    gosd.token = login.json()["access_token"]
    return gosd


@pytest.fixture
def node(broker: Mosquitto) -> Iterator[Callable[..., Node]]:
    made: list[Node] = []

    def make(node_id: str, **kwargs: Any) -> Node:
        made.append(Node(broker.url("gosd"), node_id, **kwargs).start())
        return made[-1]

    yield make
    for each in made:
        each.stop()


def plan_with_script(api: Api, node_id: int) -> int:
    created = api.call("POST", "/gosd/api/v2/plans/", files={
        "name": (None, "mission"), "node_id": (None, str(node_id)), "area": (None, "north"),
        "lua": ("flow.lua", SCRIPT.encode())})
    assert created.status_code == 201, created.content
    plan_id: int = created.json()["id"]
    return plan_id


def outcome_of(api: Api, plan_id: int, job_id: int) -> Any:
    jobs: list[dict[str, Any]] = api.call("GET", f"/gosd/api/v2/plans/{plan_id}/jobs/").json() or []
    return next((j["outcome"] for j in jobs if j["job_id"] == job_id), None)


def test_login_plan_job_operator_and_outcome(api: Api, node: Callable[..., Node]) -> None:
    drone = node("61", methods={"battery": lambda params: {"percent": 77}, "land": lambda params: True})
    plan_id = plan_with_script(api, 61)
    created = api.call("POST", f"/gosd/api/v2/plans/{plan_id}/jobs/", files={"speed": (None, "5")})
    assert created.status_code == 201
    job = created.json()
    assert (job["job_id"], job["extra"], job["outcome"]) == (1, {"speed": "5"}, None)

    wait_until(lambda: b"Go?" in (api.state(f"plans/{plan_id}/dialog") or b""), 20, "the dialog")
    running = api.call("GET", f"/gosd/api/v2/plans/{plan_id}/running").json()
    assert running["plan_id"] == plan_id and running["id"] == job["id"] and running["outcome"] is None
    assert list(running)[-1] == "outcome"

    answered = api.call("POST", f"/gosd/api/v2/mqtt/plans/{plan_id}/term", content=b"yes",
                        check="/gosd/api/v2/mqtt/key")
    assert answered.status_code in (200, 500)  # 500: the key had no value before (gosd's redigo nil)
    wait_until(lambda: outcome_of(api, plan_id, 1) is not None, 20, "the outcome")
    outcome = outcome_of(api, plan_id, 1)
    assert (outcome["status"], outcome["error"]) == ("succeeded", None)
    assert api.call("GET", f"/gosd/api/v2/plans/{plan_id}/running").json() == {}
    assert [r["method"] for r in drone.requests] == ["battery", "land"]

    done = api.call("GET", f"/gosd/api/v2/plans/{plan_id}/jobs/").json()[0]
    assert done["plan_id"] == 0 and done["extra"]["speed"] == "5"
    report = api.call("GET", f"/gosd/api/v1/blobs/{done['files']['report']}")
    assert report.content == b"answer yes"
    assert report.headers["content-disposition"] == "attachment; filename*=UTF-8''report.txt"
    assert b"=== succeeded ===" in api.call("GET", f"/gosd/api/v2/blobs/{done['files']['luavm']}").content


def test_cancel_through_the_api_while_the_job_waits_on_a_node(api: Api, node: Callable[..., Node]) -> None:
    quiet = node("62", silent=True)
    plan_id = plan_with_script(api, 62)
    api.call("POST", f"/gosd/api/v2/plans/{plan_id}/running")
    wait_until(lambda: quiet.requests, 20, "the request at the node")
    cancelled = api.call("POST", f"/gosd/api/v2/plans/{plan_id}/jobs/cancel")
    assert (cancelled.status_code, cancelled.content) == (200, b"[]")
    wait_until(lambda: outcome_of(api, plan_id, 1) is not None, 20, "the outcome")
    assert outcome_of(api, plan_id, 1)["status"] == "cancelled"
    assert outcome_of(api, plan_id, 1)["error"] == "Be killed"
    assert api.call("GET", f"/gosd/api/v2/plans/{plan_id}/running").json() == {}


def test_a_job_of_a_missing_plan_is_404(api: Api) -> None:
    response = api.call("POST", "/gosd/api/v2/plans/999/jobs/")
    assert (response.status_code, response.json()) == (404, {"error_message": "Resource Not Found"})
