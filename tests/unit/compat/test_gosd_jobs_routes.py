"""compat/gosd/jobs.py and mqtt.py over stand-ins for the runner and the node state (the
Runner and nodes contract of handlers/gosd/__init__.py), with the real store on SQLite: jobs
created (201, queued), the running document with our `outcome`, every cancel spelling, the
`/api/v2/mqtt/<key>` proxy. The real runner on mosquitto: tests/integration/test_gosd_http.py.
Every answer is checked against spec/gosd.yaml.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.gosd_support import Gosd, gosd_agents_fixture, gosd_fixture  # noqa: F401 (fixtures)
from tests.openapi import check_response

NOT_FOUND = {"error_message": "Resource Not Found"}


class StandInRunner:
    """Records submissions and cancels; `running` answers what the test sets."""

    def __init__(self) -> None:
        self.submitted: list[tuple[Any, Any]] = []
        self.cancelled: list[int] = []
        self.documents: dict[int, dict[str, Any]] = {}

    def submit(self, plan: Any, job: Any) -> None:
        self.submitted.append((plan, job))

    def running(self, plan_id: int) -> dict[str, Any]:
        return self.documents.get(plan_id, {})

    def cancel(self, plan_id: int) -> None:
        self.cancelled.append(plan_id)

    def close(self) -> None:
        """Services.close() stops the runner."""


class StandInNodes:
    """The key/value state as a dict."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> str | None:
        previous = self.values.get(key)
        self.values[key] = value
        return previous

    def start(self) -> None:
        """Services.open() connects the broker when gosd is served."""

    def close(self) -> None:
        """Services.close() ends the connection."""


@pytest.fixture(name="jobs")
def jobs_fixture(gosd: Gosd) -> tuple[Gosd, StandInRunner, StandInNodes]:
    runner, nodes = StandInRunner(), StandInNodes()
    gosd.services.gosd_runner = runner  # type: ignore[assignment]
    gosd.services.gosd_nodes = nodes  # type: ignore[assignment]
    return gosd, runner, nodes


def plan_of(gosd: Gosd) -> int:
    plan_id: int = gosd.call("POST", "/gosd/api/v2/plans/", json={"name": "p", "node_id": 1}).json()["id"]
    return plan_id


@pytest.mark.parametrize("path", ["/gosd/api/v2/plans/{}/jobs/", "/gosd/api/v2/plans/{}/running",
                                  "/gosd/api/v1/plans/{}/plan_logs/", "/gosd/api/v1/plans/{}/logs/"])
def test_post_job_is_201_and_queued(jobs: Any, path: str) -> None:
    gosd, runner, _ = jobs
    plan_id = plan_of(gosd)
    first = gosd.call("POST", path.format(plan_id))
    second = gosd.call("POST", path.format(plan_id), json={"ignored": True})
    assert (first.status_code, second.status_code) == (201, 201)
    body = first.json()
    assert list(body) == ["id", "job_id", "plan_id", "files", "extra", "created_at", "updated_at", "outcome"]
    assert (body["job_id"], second.json()["job_id"], body["plan_id"]) == (1, 2, plan_id)
    assert (body["files"], body["extra"], body["outcome"]) == ({}, {}, None)
    assert [job.job_id for _, job in runner.submitted] == [1, 2]
    assert runner.submitted[0][0].id == plan_id


def test_post_job_multipart_files_and_extra(jobs: Any) -> None:
    gosd, _runner, _ = jobs
    plan_id = plan_of(gosd)
    body = gosd.call("POST", f"/gosd/api/v2/plans/{plan_id}/jobs/",
                     files={"note": (None, "hi"), "map": ("map.kml", b"<kml/>")}).json()
    assert body["extra"] == {"note": "hi"}
    assert gosd.call("GET", f"/gosd/api/v2/blobs/{body['files']['map']}").content == b"<kml/>"
    listed = gosd.call("GET", f"/gosd/api/v2/plans/{plan_id}/jobs/")
    assert listed.status_code == 201
    assert [(j["job_id"], j["plan_id"], j["extra"]) for j in listed.json()] == [(1, 0, {"note": "hi"})]


def test_post_job_on_an_unknown_plan_is_404_and_stores_nothing(jobs: Any) -> None:
    gosd, runner, _ = jobs
    response = gosd.call("POST", "/gosd/api/v2/plans/77/jobs/", files={"f": ("a", b"b")})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert runner.submitted == []
    assert gosd.call("GET", "/gosd/api/v2/blobs/1").status_code == 404
    assert gosd.call("GET", "/gosd/api/v2/plans/77/jobs/").content == b"null"


def test_post_job_ignores_a_missing_content_type_but_not_a_bad_multipart(jobs: Any) -> None:
    gosd, _, _ = jobs
    plan_id = plan_of(gosd)
    assert gosd.call("POST", f"/gosd/api/v2/plans/{plan_id}/jobs/", content=b"x").status_code == 201
    bad = gosd.call("POST", f"/gosd/api/v2/plans/{plan_id}/jobs/", content=b"garbage",
                    headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert (bad.status_code, bad.json()) == (500, {"error_message": "multipart: NextPart: EOF"})


def test_running_document_and_outcome(jobs: Any) -> None:
    gosd, runner, _ = jobs
    plan_id = plan_of(gosd)
    assert gosd.call("GET", f"/gosd/api/v2/plans/{plan_id}/running").json() == {}
    job = gosd.call("POST", f"/gosd/api/v2/plans/{plan_id}/jobs/").json()
    runner.documents[plan_id] = {"id": job["id"], "plan_id": plan_id, "files": {}, "extra": {},
                                 "job": {"job_id": job["job_id"], "files": {}, "extra": {}}}
    body = gosd.call("GET", f"/gosd/api/v2/plans/{plan_id}/running").json()
    assert list(body)[-1] == "outcome" and body["outcome"] is None
    outcome = {"status": "failed", "error": "boom", "started_at": "2026-01-01T00:00:00Z",
               "finished_at": "2026-01-01T00:00:01Z"}
    gosd.services.gosd_store.set_outcome(plan_id, job["job_id"], outcome)
    assert gosd.call("GET", f"/gosd/api/v2/plans/{plan_id}/running").json()["outcome"] == outcome
    listed = gosd.call("GET", f"/gosd/api/v2/plans/{plan_id}/jobs/").json()
    assert listed[0]["outcome"] == outcome and list(listed[0])[-1] == "outcome"


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/gosd/api/v2/plans/{}/jobs/5/cancel"), ("POST", "/gosd/api/v2/plans/{}/jobs/cancel"),
    ("DELETE", "/gosd/api/v2/plans/{}/running"), ("DELETE", "/gosd/api/v2/plans/{}/jobs/running")])
def test_cancel_spellings(jobs: Any, method: str, path: str) -> None:
    gosd, runner, _ = jobs
    response = gosd.call(method, path.format(3))
    assert (response.status_code, response.content) == (200, b"[]")
    assert runner.cancelled == [3]


def test_job_routes_need_a_token(jobs: Any) -> None:
    gosd, runner, _ = jobs
    assert gosd.call("POST", "/gosd/api/v2/plans/1/jobs/cancel", token="").status_code == 401
    assert gosd.call("POST", "/gosd/api/v1/plans/1/logs/", token="").status_code == 401
    assert runner.cancelled == []


def test_mqtt_get_and_post(jobs: Any) -> None:
    gosd, _, nodes = jobs
    missing = gosd.call("GET", "/gosd/api/v2/mqtt/status")
    assert (missing.status_code, missing.json()) == (500, {"error_message": "redigo: nil returned"})
    first = gosd.call("POST", "/gosd/api/v2/mqtt/status", content=b'{"a":1}')
    assert first.status_code == 500 and nodes.values["status"] == '{"a":1}'  # set all the same
    again = gosd.call("POST", "/gosd/api/v2/mqtt/status", content=b'{"a":2}')
    assert (again.status_code, again.content) == (200, b'{"a":1}')
    got = gosd.call("GET", "/gosd/api/v2/mqtt/status")
    assert (got.content, got.headers["content-type"]) == (b'{"a":2}', "application/json")
    assert gosd.call("GET", "/gosd/api/v2/mqtt/status", token="").status_code == 401


def test_mqtt_keys_with_slashes_and_a_long_body(jobs: Any) -> None:
    gosd, _, nodes = jobs
    headers = {"Authorization": f"Bearer {gosd.token}"}
    response = gosd.agent.client.post("/gosd/api/v2/mqtt/plans/1/term",
                                      content=b"x" * 5000, headers=headers)
    check_response("gosd", response, "POST", "/gosd/api/v2/mqtt/key")  # the spec's template takes no slash
    assert nodes.values["plans/1/term"] == "x" * 4096  # one Read into 4096 bytes
    split = gosd.agent.client.get("/gosd/api/v2/mqtt/plans/1/term/mqtt/other", headers=headers)
    assert split.content == b"x" * 4096  # what follows the first /mqtt/, up to a second one


def test_mqtt_key_may_hold_any_character(jobs: Any) -> None:
    gosd, _, nodes = jobs
    nodes.values["a\nb"] = "1"
    assert gosd.call("GET", "/gosd/api/v2/mqtt/a%0Ab").content == b"1"  # mux's PathPrefix takes any path
