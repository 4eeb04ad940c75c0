"""gosd (sb-im/gosd v2.2.0) API in process (gosd-platform.md A.2-A.4): gorilla/mux and miniflux.

Every response is checked against spec/gosd.yaml by Agent.request.
"""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from tests.api.gosd_support import Gosd, GosdAgents, gosd_agents_fixture, gosd_fixture  # noqa: F401 (fixtures)
from tests.api.support import Agent, Agents, header_items

STEM = "gosd"
# Go's time.Now().String(): "2006-01-02 15:04:05.999999999 -0700 MST m=+0.000000001"
GO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d{0,8}[1-9])? ([+-]\d{4}) ([A-Za-z0-9+-]+) "
                     r"m=\+(\d+\.\d{9})$")
OK_BODY = re.compile(rb'^\{"ok":"([^"]+)"\}$')
MINIFLUX = {
    "x-xss-protection": "1; mode=block",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'; img-src *; media-src *; frame-src *",
}
SUBROUTER_CORS = {"access-control-allow-origin": "*", "access-control-expose-headers": "*"}
PREFLIGHT = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "Authorization,Content-Type",
    "access-control-allow-methods": "PUT,POST,PATCH,DELETE",
}


def go_time_of(response: httpx.Response) -> re.Match[str]:
    """The parsed time string of a /gosd/api/v2/ok answer."""
    body = OK_BODY.match(response.content)
    assert body, response.content
    stamp = GO_TIME.match(body.group(1).decode())
    assert stamp, body.group(1)
    return stamp


def assert_empty(response: httpx.Response, status: int) -> None:
    """An answer with no body and no content type."""
    assert (response.status_code, response.content) == (status, b"")
    assert "content-type" not in response.headers


def test_ok_body_is_go_time_now_string(api: Agent) -> None:
    response = api.request(STEM, "GET", "/gosd/api/v2/ok")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    stamp = go_time_of(response)
    local = datetime.strptime(f"{stamp.group(1)} {stamp.group(3)}", "%Y-%m-%d %H:%M:%S %z")
    assert abs((datetime.now().astimezone() - local).total_seconds()) < 60
    assert stamp.group(3) == datetime.now().astimezone().strftime("%z")


def test_ok_headers(api: Agent) -> None:
    response = api.request(STEM, "GET", "/gosd/api/v2/ok")
    headers = dict(header_items(response))
    for name, value in {**MINIFLUX, **SUBROUTER_CORS}.items():
        assert headers[name] == value, name


def test_ok_monotonic_reading_grows(api: Agent) -> None:
    first = float(go_time_of(api.request(STEM, "GET", "/gosd/api/v2/ok")).group(5))
    second = float(go_time_of(api.request(STEM, "GET", "/gosd/api/v2/ok")).group(5))
    assert second >= first


def test_ok_needs_no_token_and_ignores_a_bad_one(api: Agent) -> None:
    response = api.request(STEM, "GET", "/gosd/api/v2/ok", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 200
    go_time_of(response)


@pytest.mark.parametrize("path", ["/gosd/nope", "/gosd/api/v2/ok/", "/gosd/api/v2/OK", "/gosd/api/v2/plans",
                                  "/gosd/api/v1/nodes", "/gosd/api/v2/ok%0A"])
def test_unknown_path_is_the_empty_405_never_401(api: Agent, path: str) -> None:
    """gosd's catch-all `router.Methods(OPTIONS)` route makes every other unmatched request a
    method mismatch for gorilla/mux: 405, empty (never its 404 page)."""
    response = api.request(STEM, "GET", path)
    assert_empty(response, 405)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("path", "location"), [("/gosd//api/v2/ok", "/gosd/api/v2/ok"),
                                                ("/gosd/api/v2//ok?x=1", "/gosd/api/v2/ok?x=1"),
                                                ("/gosd/api//v2/ok/", "/gosd/api/v2/ok/")])
def test_unclean_paths_are_redirected(api: Agent, path: str, location: str) -> None:
    """mux cleans the path first: 301 to the clean one, query kept, empty body."""
    response = api.request(STEM, "GET", path)
    assert_empty(response, 301)
    assert response.headers["location"] == location


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_wrong_method_is_an_empty_405(api: Agent, method: str) -> None:
    response = api.request(STEM, method, "/gosd/api/v2/ok")
    assert_empty(response, 405)
    assert "access-control-allow-origin" not in response.headers
    assert "x-frame-options" not in response.headers


def test_options_of_the_token_route_is_its_own(api: Agent) -> None:
    """authHandler answers its preflight itself: two headers, no Allow-Methods."""
    response = api.request(STEM, "OPTIONS", "/gosd/oauth/token")
    assert_empty(response, 200)
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == "content-type,Authorization"
    assert "access-control-allow-methods" not in response.headers


@pytest.mark.parametrize("path", ["/gosd/api/v2/ok", "/gosd/nope"])
def test_options_is_the_preflight_answer(api: Agent, path: str) -> None:
    response = api.request(STEM, "OPTIONS", path)
    assert_empty(response, 200)
    headers = dict(header_items(response))
    for name, value in PREFLIGHT.items():
        assert headers[name] == value, name


def test_alone_gosd_answers_every_path(agents: Agents) -> None:
    gosd = agents.start("--dialects", "gosd")
    for path in ("/anything", "/v1/device", "/"):
        response = gosd.request(STEM, "OPTIONS", path)
        assert_empty(response, 200)
        assert response.headers["access-control-allow-methods"] == "PUT,POST,PATCH,DELETE"
        assert_empty(gosd.request(STEM, "GET", path), 405)


# -- the routes, on the real store (SQLite in the data folder) ----------------------------------

UNAUTHORIZED = {"error_message": "Access Unauthorized"}
NOT_FOUND = {"error_message": "Resource Not Found"}


def test_login_multipart_and_json(gosd: Gosd) -> None:
    response = gosd.call("POST", "/gosd/oauth/token", token="", files={
        "grant_type": (None, "password"), "username": (None, "ADMIN"), "password": (None, "secret123"),
        "client_id": (None, "x"), "client_secret": (None, "y")})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "created_at"]
    assert re.fullmatch("[0-9a-f]{64}", body["access_token"]) and body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-expose-headers" not in response.headers
    assert gosd.call("GET", "/gosd/api/v1/user/", token=body["access_token"]).status_code == 200


def test_login_file_parts_are_stored_as_blobs(gosd: Gosd) -> None:
    gosd.call("POST", "/gosd/oauth/token", token="", files={
        "username": (None, "admin"), "password": (None, "secret123"), "f": ("a.txt", b"hello")})
    assert gosd.call("GET", "/gosd/api/v2/blobs/1").content == b"hello"


@pytest.mark.parametrize(("kwargs", "status", "message"), [
    ({"content": b"{}"}, 500, "mime: no media type"),
    ({"json": {"username": "nobody", "password": "x"}}, 500, "Not user found"),
    ({"json": {"username": "admin", "password": "wrong"}}, 500,
     'store: invalid password for "admin" (crypto/bcrypt: hashedPassword is not the hash of the given password)'),
    ({"data": {"username": "admin"}}, 400,
     "Unable to decode plan modification JSON object: invalid character 'u' looking for beginning of value"),
    ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400,
     "Unable to decode plan modification JSON object: unexpected EOF"),
    ({"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 500,
     "multipart: NextPart: EOF"),
])
def test_login_errors(gosd: Gosd, kwargs: dict[str, object], status: int, message: str) -> None:
    response = gosd.call("POST", "/gosd/oauth/token", token="", **kwargs)  # type: ignore[arg-type]
    assert (response.status_code, response.json()) == (status, {"error_message": message})


def test_login_lock_after_five_failures(gosd: Gosd) -> None:
    for _ in range(6):
        gosd.call("POST", "/gosd/oauth/token", token="", json={"username": "admin", "password": "bad"})
    response = gosd.call("POST", "/gosd/oauth/token", token="", json={"username": "admin", "password": "secret123"})
    assert (response.status_code, response.json()) == (500, {"error_message": "user already locked"})


def test_oauth_v2_tokens_are_refused_by_the_api(gosd: Gosd) -> None:
    query = "grant_type=password&username=admin&password=secret123&client_id=000000&client_secret=999999"
    response = gosd.call("GET", f"/gosd/api/v2/oauth/token?{query}", token="")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200 and "refresh_token" in body
    assert response.content.endswith(b"\n") and response.headers["cache-control"] == "no-store"
    refused = gosd.call("GET", "/gosd/api/v1/user/", token=body["access_token"])
    assert (refused.status_code, refused.json()) == (401, UNAUTHORIZED)
    wrong_client = gosd.call("POST", "/gosd/api/v2/oauth/token", token="",
                             data={"grant_type": "password", "username": "admin", "password": "secret123",
                                   "client_id": "1", "client_secret": "2"})
    assert (wrong_client.status_code, wrong_client.json()["error"]) == (401, "invalid_client")
    no_grant = gosd.call("POST", "/gosd/api/v2/oauth/token", token="")
    assert (no_grant.status_code, no_grant.json()["error"]) == (401, "unsupported_grant_type")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer  x", "Bearer nope", "Bearer a b"])
def test_bad_tokens_are_401(gosd: Gosd, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = gosd.agent.request(STEM, "GET", "/gosd/api/v1/user/", headers=headers)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Token"])
def test_the_scheme_word_is_not_checked(gosd: Gosd, scheme: str) -> None:
    response = gosd.agent.request(STEM, "GET", "/gosd/api/v1/user/", headers={"Authorization": f"{scheme} {gosd.token}"})
    assert response.status_code == 200


def test_expired_token_is_401(gosd_agents: GosdAgents) -> None:
    gosd = gosd_agents.start("--gosd-expire-token", "1")
    assert gosd.call("GET", "/gosd/api/v1/user/").status_code == 200
    store = gosd.services.gosd_store
    assert store is not None
    with store.database().transaction() as cur:  # the clock moves on: the token's time is up
        cur.execute("UPDATE tokens SET expires_at = 0")
    assert gosd.call("GET", "/gosd/api/v1/user/").status_code == 401


def test_user(gosd: Gosd) -> None:
    body = gosd.call("GET", "/gosd/api/v1/user/").json()
    assert body["username"] == "admin" and body["group"]["name"] == "admin"
    assert list(body)[:4] == ["id", "username", "language", "timezone"]
    assert "password" not in body


def test_noauth_is_user_1(gosd_agents: GosdAgents) -> None:
    gosd = gosd_agents.start("--gosd-noauth")
    assert gosd.call("GET", "/gosd/api/v1/user/", token="").json()["id"] == 1


def test_actions_group_file_shared_file_default_and_missing(gosd: Gosd) -> None:
    nodes = gosd.call("GET", "/gosd/api/v1/nodes/")
    assert nodes.status_code == 200 and nodes.headers["content-type"] == "application/json"
    assert {n["type_name"] for n in nodes.json()} == {"air", "depot"}
    assert "x-frame-options" not in nodes.headers
    folder = gosd.agent.data_dir / "gosd" / "data"
    (folder / "1").mkdir(parents=True)
    (folder / "nodes.json").write_text('[{"id": 7}]')
    assert gosd.call("GET", "/gosd/api/v1/nodes/").content == b'[{"id": 7}]'
    (folder / "1" / "nodes.json").write_text("[]")
    assert gosd.call("GET", "/gosd/api/v1/nodes/").content == b"[]"
    missing = gosd.call("GET", "/gosd/api/v1/points/")
    assert (missing.status_code, missing.json()) == (
        500, {"error_message": "open data/points.json: no such file or directory"})
    dots = gosd.call("GET", "/gosd/api/v1/%2E%2E%2E/")  # one segment: a name in the folder, never its parent
    assert dots.status_code == 500


def test_get_v1_blobs_is_the_open_action_route(gosd: Gosd) -> None:
    response = gosd.call("GET", "/gosd/api/v1/blobs/", token="")
    assert (response.status_code, response.json()) == (500, {"error_message": "open data/blobs.json: no such file or directory"})


def test_blobs_upload_download_replace_delete(gosd: Gosd) -> None:
    response = gosd.call("POST", "/gosd/api/v2/blobs/", files={"c1": ("a b.txt", b"one"), "c2": ("ü.txt", b"two"),
                                                            "text": (None, "ignored")})
    assert response.status_code == 200
    ids = response.json()
    assert set(ids) == {"c1", "c2"} and all(isinstance(v, str) for v in ids.values())
    download = gosd.call("GET", f"/gosd/api/v2/blobs/{ids['c1']}")
    assert download.content == b"one" and download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''a+b.txt"
    assert gosd.call("GET", f"/gosd/api/v1/blobs/{ids['c2']}", token="").headers["content-disposition"] == \
        "attachment; filename*=UTF-8''%C3%BC.txt"
    put = gosd.call("PUT", f"/gosd/api/v2/blobs/{ids['c1']}", files={"c": ("go.mod", b"module x")})
    assert put.json() == {"id": int(ids["c1"]), "filename": "go.mod"}
    patch = gosd.call("PATCH", f"/gosd/api/v1/blobs/{ids['c1']}", token="", files={"c": ("n.lua", b"x")})
    assert patch.json()["filename"] == "n.lua"
    assert gosd.call("GET", f"/gosd/api/v2/blobs/{ids['c1']}").content == b"x"
    deleted = gosd.call("DELETE", f"/gosd/api/v2/blobs/{ids['c1']}")
    assert deleted.content == ids["c1"].encode()
    assert gosd.call("GET", f"/gosd/api/v2/blobs/{ids['c1']}").status_code == 200  # nothing deleted


def test_blob_errors(gosd: Gosd) -> None:
    assert gosd.call("GET", "/gosd/api/v2/blobs/99").json() == NOT_FOUND
    assert gosd.call("PUT", "/gosd/api/v2/blobs/99", files={"c": ("a", b"b")}).status_code == 404
    no_file = gosd.call("PUT", "/gosd/api/v2/blobs/99", files={"c": (None, "b")})
    assert (no_file.status_code, no_file.json()) == (500, {"error_message": "not found content"})
    assert gosd.call("POST", "/gosd/api/v2/blobs/", content=b"x").json() == {"error_message": "mime: no media type"}
    assert gosd.call("POST", "/gosd/api/v2/blobs/", json={"a": 1}).json() == {}
    assert gosd.call("POST", "/gosd/api/v2/blobs/", token="", files={"c": ("a", b"b")}).status_code == 401
    # mux's {blobID:[0-9]+}: no route (the spec's templates cannot say so, hence the raw client)
    assert_empty(gosd.agent.client.get("/gosd/api/v2/blobs/abc", headers={"Authorization": f"Bearer {gosd.token}"}), 405)


def test_oversized_upload_is_refused(gosd_agents: GosdAgents) -> None:
    gosd = gosd_agents.start("--gosd-max-body", "1000")
    response = gosd.call("POST", "/gosd/api/v1/blobs/", token="", files={"c": ("big", b"x" * 2000)})
    assert (response.status_code, response.json()) == (500, {"error_message": "http: request body too large"})


PLAN = {"name": "233", "description": "test", "node_id": 1, "files": {"file": "30"},
        "extra": {"key2": "value2", "key1": "value1"}}


def test_plans_crud_json(gosd: Gosd) -> None:
    assert gosd.call("GET", "/gosd/api/v2/plans/").content == b"null"
    created = gosd.call("POST", "/gosd/api/v2/plans/", json=PLAN)
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], **PLAN}
    assert created.content.index(b'"key1"') < created.content.index(b'"key2"')  # a Go map: sorted keys
    bare = gosd.call("POST", "/gosd/api/v2/plans/", json={"name": "bare"}).json()
    assert (bare["files"], bare["extra"]) == (None, None)
    listed = gosd.call("GET", "/gosd/api/v2/plans/").json()
    assert [p["id"] for p in listed] == [body["id"], bare["id"]] and listed[1]["files"] == {}
    put = gosd.call("PUT", f"/gosd/api/v2/plans/{bare['id']}", json={"name": "new", "id": 99})
    assert put.json() == {"id": bare["id"], "name": "new", "description": "", "node_id": 0, "files": None, "extra": None}
    unknown = gosd.call("PUT", "/gosd/api/v2/plans/999", json={"name": "x"})
    assert (unknown.status_code, unknown.json()["id"]) == (200, 999)  # gosd echoed an unknown id
    deleted = gosd.call("DELETE", f"/gosd/api/v2/plans/{body['id']}")
    assert deleted.json()["name"] == "233"
    assert gosd.call("DELETE", f"/gosd/api/v2/plans/{body['id']}").json() == NOT_FOUND


def test_plans_multipart(gosd: Gosd) -> None:
    created = gosd.call("POST", "/gosd/api/v2/plans/", files={
        "name": (None, "p"), "node_id": (None, "3"), "color": (None, "red"), "lua": ("main.lua", b"print(1)")})
    body = created.json()
    assert (body["name"], body["node_id"], body["extra"]) == ("p", 3, {"color": "red"})
    assert gosd.call("GET", f"/gosd/api/v2/blobs/{body['files']['lua']}").content == b"print(1)"
    put = gosd.call("PUT", f"/gosd/api/v2/plans/{body['id']}", files={"name": (None, "q")})
    assert put.json() == {"id": body["id"], "name": "q", "description": "", "node_id": 0, "files": {}, "extra": {}}
    missing = gosd.call("PUT", "/gosd/api/v2/plans/999", files={"name": (None, "q")})
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)  # gosd dropped the connection


@pytest.mark.parametrize(("body", "message"), [
    (b"", "EOF"), (b"[]", "json: cannot unmarshal array into Go value of type model.Plan"),
    (b'{"node_id": "1"}', "json: cannot unmarshal string into Go struct field Plan.node_id of type int64"),
    (b'{"files": {"a": 1}}', "json: cannot unmarshal number into Go struct field Plan.files of type string"),
])
def test_plan_bad_json_is_400(gosd: Gosd, body: bytes, message: str) -> None:
    response = gosd.call("POST", "/gosd/api/v2/plans/", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error_message": f"Unable to decode plan modification JSON object: {message}"})


def test_plan_without_content_type_is_500(gosd: Gosd) -> None:
    response = gosd.call("POST", "/gosd/api/v2/plans/", content=b"{}")
    assert (response.status_code, response.json()) == (500, {"error_message": "mime: no media type"})


def test_jobs_list_is_201_and_null_when_empty(gosd: Gosd) -> None:
    plan = gosd.call("POST", "/gosd/api/v2/plans/", json=PLAN).json()
    for path in ("/gosd/api/v2/plans/{}/jobs/", "/gosd/api/v1/plans/{}/plan_logs/", "/gosd/api/v1/plans/{}/logs/"):
        response = gosd.call("GET", path.format(plan["id"]))
        assert (response.status_code, response.content) == (201, b"null")


def test_large_json_is_compressed_when_asked(gosd: Gosd) -> None:
    for index in range(20):
        gosd.call("POST", "/gosd/api/v2/plans/", json={**PLAN, "name": f"plan {index}"})
    for encoding in ("gzip", "deflate"):
        response = gosd.call("GET", "/gosd/api/v2/plans/", headers={"Accept-Encoding": encoding})
        assert response.headers["content-encoding"] == encoding and len(response.json()) == 20
    plain = gosd.call("GET", "/gosd/api/v2/plans/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_another_users_plans_are_not_listed_but_not_guarded(gosd: Gosd) -> None:
    """GET plans filters by the caller's group; PUT, DELETE and jobs check no owner (as gosd)."""
    mine = gosd.call("POST", "/gosd/api/v2/plans/", json=PLAN).json()
    store = gosd.services.gosd_store
    assert store is not None
    store.add_user("other", "secret456")
    other = gosd.login("other", "secret456")
    assert gosd.call("GET", "/gosd/api/v2/plans/", token=other).content == b"null"
    assert gosd.call("DELETE", f"/gosd/api/v2/plans/{mine['id']}", token=other).status_code == 200


def test_blob_bytes_and_file_names_as_go_read_them(gosd: Gosd) -> None:
    content = bytes(range(256))
    ids = gosd.call("POST", "/gosd/api/v1/blobs/", token="", files={"b": ("dir/sub/raw.bin", content)}).json()
    response = gosd.agent.client.get(f"/gosd/api/v1/blobs/{ids['b']}")  # binary: not a spec string
    assert response.content == content
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''raw.bin"  # filepath.Base


# -- jobs on the real runner (no broker: scripts that call no node) -----------------------------

def wait_for_outcome(gosd: Gosd, plan_id: int, job_id: int) -> dict[str, object]:
    """The job's outcome once the runner recorded it (polled, at most 20 s)."""
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        jobs = gosd.call("GET", f"/gosd/api/v2/plans/{plan_id}/jobs/").json() or []
        found = next((j["outcome"] for j in jobs if j["job_id"] == job_id and j["outcome"]), None)
        if found:
            return dict(found)
        time.sleep(0.05)
    raise AssertionError("no outcome")


def test_a_job_runs_its_plans_lua_and_records_the_outcome(gosd: Gosd) -> None:
    script = b'function main(plan) plan:SetJobFileContent("out", "out.txt", "hi " .. plan.nodeID) end'
    plan = gosd.call("POST", "/gosd/api/v2/plans/", files={"name": (None, "p"), "node_id": (None, "7"),
                                                          "lua": ("a.lua", script)}).json()
    job = gosd.call("POST", f"/gosd/api/v2/plans/{plan['id']}/jobs/").json()
    assert (job["job_id"], job["outcome"]) == (1, None)
    outcome = wait_for_outcome(gosd, plan["id"], 1)
    assert (outcome["status"], outcome["error"]) == ("succeeded", None)
    files = gosd.call("GET", f"/gosd/api/v2/plans/{plan['id']}/jobs/").json()[0]["files"]
    assert gosd.call("GET", f"/gosd/api/v2/blobs/{files['out']}").content == b"hi 7"
    assert gosd.call("GET", f"/gosd/api/v2/plans/{plan['id']}/running").json() == {}


def test_a_failing_script_is_a_failed_outcome_and_cancel_when_idle_is_empty(gosd: Gosd) -> None:
    plan = gosd.call("POST", "/gosd/api/v2/plans/", files={"lua": ("a.lua", b'function main() error("boom") end')}).json()
    gosd.call("POST", f"/gosd/api/v1/plans/{plan['id']}/logs/")
    outcome = wait_for_outcome(gosd, plan["id"], 1)
    assert outcome["status"] == "failed" and "boom" in str(outcome["error"])
    for method, path in (("POST", "jobs/1/cancel"), ("POST", "jobs/cancel"), ("DELETE", "running"),
                         ("DELETE", "jobs/running")):
        response = gosd.call(method, f"/gosd/api/v2/plans/{plan['id']}/{path}")
        assert (response.status_code, response.content) == (200, b"[]")


def test_mqtt_state_without_a_broker(gosd: Gosd) -> None:
    missing = gosd.call("GET", "/gosd/api/v2/mqtt/nodes")
    assert (missing.status_code, missing.json()) == (500, {"error_message": "redigo: nil returned"})
    assert gosd.call("POST", "/gosd/api/v2/mqtt/nodes", content=b'{"x":1}').status_code == 500
    assert gosd.call("POST", "/gosd/api/v2/mqtt/nodes", content=b'{"x":2}').content == b'{"x":1}'
    assert gosd.call("GET", "/gosd/api/v2/mqtt/nodes").content == b'{"x":2}'


def test_rfc_2231_file_names(gosd: Gosd) -> None:
    body = (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\n"
            b"x\r\n--b--\r\n")
    ids = gosd.call("POST", "/gosd/api/v2/blobs/", content=body,
                    headers={"Content-Type": "multipart/form-data; boundary=b"}).json()
    download = gosd.call("GET", f"/gosd/api/v2/blobs/{ids['f']}")
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''%C3%A9t%C3%A9.txt"
