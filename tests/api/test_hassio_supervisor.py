"""/supervisor and /info of the hassio dialect in process (hassio.md §3.1, §3.9; tag 138's
hassio/api/supervisor.py and info.py). Every response is checked against spec/hassio.yaml.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import psutil
import pytest
from integration.addon_repos import AddonRepo, GitDaemon

from handlers import VERSION
from handlers.homeassistant.core import default_machine
from tests.api.hassio_support import (  # noqa: F401 (fixtures)
    JSON,
    Hassio,
    HassioAgents,
    VersionServer,
    hassio_agents_fixture,
    hassio_fixture,
    versions_fixture,
)
from tests.api.support import HOSTNAME

TZ_MESSAGE = ("Invalid time zone passed in. Valid options can be found here: "
              "http://en.wikipedia.org/wiki/List_of_tz_database_time_zones")
ARCH = {"x86_64": "amd64", "aarch64": "aarch64", "armv7l": "armhf", "i686": "i386"}.get(platform.machine())


def data(response: Any) -> Any:
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert body["result"] == "ok"
    return body["data"]


def message(response: Any) -> str | None:
    assert response.status_code == 400, response.content
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert list(body) == ["result", "message"] and body["result"] == "error"
    result: str | None = body["message"]
    return result


# ---- GET /supervisor/info, POST /supervisor/options ----

def test_info_defaults(hassio: Hassio) -> None:
    assert data(hassio.call("GET", "/supervisor/info")) == {
        "version": VERSION, "last_version": None, "channel": "stable", "arch": ARCH, "wait_boot": 5,
        "timezone": "UTC", "addons": [], "addons_repositories": ["https://github.com/hassio-addons/repository"]}


def test_options_are_stored_and_survive_a_restart(hassio_agents: HassioAgents, tmp_path: Path) -> None:
    first = hassio_agents.start()
    with GitDaemon(tmp_path / "repos") as daemon:  # repositories are cloned: only loopback ones here
        AddonRepo.create(daemon.base / "addons")
        AddonRepo.create(daemon.base / "more", branch="dev-1")
        repos = [daemon.url(daemon.base / "addons"), daemon.url(daemon.base / "more") + "#dev-1"]
        body = {"channel": "beta", "timezone": "Europe/Amsterdam", "wait_boot": "30", "addons_repositories": repos}
        response = first.call("POST", "/supervisor/options", json=body)
    assert response.content == b'{"result": "ok", "data": {}}'
    again = hassio_agents.start(data_dir=first.agent.data_dir)
    info = data(again.call("GET", "/supervisor/info"))
    # the default repository never loaded here (no network): 138 kept it, it only dropped loaded ones
    assert (info["channel"], info["timezone"], info["wait_boot"], info["addons_repositories"]) == (
        "beta", "Europe/Amsterdam", 30, ["https://github.com/hassio-addons/repository", *repos])
    assert data(again.call("GET", "/info"))["channel"] == "beta"


def test_options_change_only_what_is_given(hassio: Hassio) -> None:
    data(hassio.call("POST", "/supervisor/options", json={"wait_boot": 60}))
    data(hassio.call("POST", "/supervisor/options", json={}))
    data(hassio.call("POST", "/supervisor/options"))  # an empty body is {}
    info = data(hassio.call("GET", "/supervisor/info"))
    assert (info["wait_boot"], info["channel"], info["timezone"]) == (60, "stable", "UTC")


@pytest.mark.parametrize("zone", ["UTC", "utc", "Europe/Amsterdam", "europe/amsterdam", "America/Argentina/Buenos_Aires"])
def test_timezone_names_as_pytz_took_them(hassio: Hassio, zone: str) -> None:
    """pytz.timezone() matched without regard to case; validate_timezone kept the name as given."""
    data(hassio.call("POST", "/supervisor/options", json={"timezone": zone}))
    assert data(hassio.call("GET", "/supervisor/info"))["timezone"] == zone


@pytest.mark.parametrize("body, text", [
    ({"foo": 1}, "extra keys not allowed @ data['foo']. Got 1"),
    ({"startup_time": 600}, "extra keys not allowed @ data['startup_time']. Got 600"),
    ({"channel": "nightly"}, "value is not allowed for dictionary value @ data['channel']. Got 'nightly'"),
    ({"wait_boot": 0}, "value must be at least 1 for dictionary value @ data['wait_boot']. Got 0"),
    ({"wait_boot": 61}, "value must be at most 60 for dictionary value @ data['wait_boot']. Got 61"),
    ({"wait_boot": "soon"}, "expected int for dictionary value @ data['wait_boot']. Got 'soon'"),
    ({"timezone": "Mars/Olympus"}, f"{TZ_MESSAGE} for dictionary value @ data['timezone']. Got 'Mars/Olympus'"),
    ({"timezone": None}, f"{TZ_MESSAGE} for dictionary value @ data['timezone']. Got None"),
    ({"addons_repositories": ["foo"]}, "expected a URL @ data['addons_repositories'][0]. Got 'foo'"),
    ({"addons_repositories": ["#dev"]}, "No valid repository format! @ data['addons_repositories'][0]. Got '#dev'"),
    ({"addons_repositories": ["http://a/b", "http://a/b"]},
     ("contains duplicate items: ['http://a/b'] for dictionary value @ data['addons_repositories']. "
      "Got ['http://a/b', 'http://a/b']")),
    ({"addons_repositories": "http://a/b"},
     "expected a list for dictionary value @ data['addons_repositories']. Got 'http://a/b'"),
    ([1], "expected a dictionary. Got [1]"),
])
def test_options_validation_messages(hassio: Hassio, body: Any, text: str) -> None:
    assert message(hassio.call("POST", "/supervisor/options", json=body)) == text
    assert data(hassio.call("GET", "/supervisor/info"))["channel"] == "stable"  # nothing stored


def test_several_errors_are_sorted_and_joined_by_newlines(hassio: Hassio) -> None:
    body = {"wait_boot": 0, "foo": 1, "channel": "x", "timezone": "Nowhere"}
    assert message(hassio.call("POST", "/supervisor/options", json=body)) == "\n".join([
        f"{TZ_MESSAGE} for dictionary value @ data['timezone']. Got 'Nowhere'",
        "extra keys not allowed @ data['foo']. Got 1",
        "value is not allowed for dictionary value @ data['channel']. Got 'x'",
        "value must be at least 1 for dictionary value @ data['wait_boot']. Got 0",
    ])


@pytest.mark.parametrize("body", [b"{", b"channel=beta", b"\xff\xfe"])
def test_broken_json_is_invalid_json(hassio: Hassio, body: bytes) -> None:
    assert message(hassio.call("POST", "/supervisor/options", content=body)) == "Invalid json"


def test_a_body_of_client_max_size_is_aiohttps_413(hassio: Hassio) -> None:
    """request.read() stopped at client_max_size (1 MiB, checked with >=); nothing is stored."""
    for size in (1024 ** 2, 3 * 1024 ** 2):
        body = b'{"timezone": "' + b"x" * (size - 16) + b'"}'
        response = hassio.call("POST", "/supervisor/options", content=body)
        assert response.status_code == 413
        assert response.text.startswith("Maximum request body size 1048576 exceeded, actual body size ")
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert data(hassio.call("GET", "/supervisor/info"))["timezone"] == "UTC"
    assert message(hassio.call("POST", "/supervisor/options", content=b'{"timezone": "' + b"x" * 1000 + b'"}'))


def test_a_body_nested_past_the_recursion_limit_is_the_legacys_500(hassio: Hassio,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """json.loads raised RecursionError, which json_loads (JSONDecodeError only) let through."""
    response = hassio.call("POST", "/supervisor/options", content=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 500 and b"Server got itself in trouble" in response.content
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.mark.parametrize("body", [{"timezone": 5}, {"addons_repositories": [5]}])
def test_validators_that_crashed_the_legacy_are_its_500(hassio: Hassio, body: dict[str, Any],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """pytz.timezone(5) and re.match on an int raised past voluptuous: aiohttp's 500 page. An
    expected answer, so the log has a line about it and no traceback."""
    response = hassio.call("POST", "/supervisor/options", json=body)
    assert response.status_code == 500
    assert b"Server got itself in trouble" in response.content and b"Traceback" not in response.content
    assert [r for r in caplog.records if r.exc_info] == []
    assert any("is not a string" in r.getMessage() for r in caplog.records)


def test_home_assistant_cores_calls(hassio: Hassio) -> None:
    """Home Assistant 0.80's hassio handler: ping, then update_hass_timezone, with its token."""
    token = hassio.services.hassio_tokens.homeassistant_token()
    assert hassio.call("GET", "/supervisor/ping", token=token).content == b'{"result": "ok", "data": {}}'
    response = hassio.call("POST", "/supervisor/options", token=token, json={"timezone": "Europe/Berlin"})
    assert response.json() == {"result": "ok", "data": {}}
    assert data(hassio.call("GET", "/supervisor/info", token=token))["timezone"] == "Europe/Berlin"
    # without time_zone in configuration.yaml, core_config.get(CONF_TIME_ZONE) sent null: a 400 the
    # handler took as False (it accepts 200 and 400 answers)
    response = hassio.call("POST", "/supervisor/options", token=token, json={"timezone": None})
    assert response.status_code == 400 and response.json()["message"].startswith("Invalid time zone passed in.")
    assert data(hassio.call("GET", "/supervisor/info", token=token))["timezone"] == "Europe/Berlin"


# ---- POST /supervisor/reload: the version JSON from a real HTTP server ----

def document(channel: str = "stable", supervisor: Any = "0.2.0") -> dict[str, Any]:
    # the version JSON names Home Assistant per machine (138 read homeassistant[sys_machine])
    machines = ("default", "qemux86-64", "qemux86", "qemuarm-64", "qemuarm")
    return {"channel": channel, "supervisor": supervisor, "homeassistant": dict.fromkeys(machines, "0.80.3"),
            "hassos": {"ova": "1.11"}, "hassos-cli": "7"}


def test_reload_fetches_the_channels_version(hassio_agents: HassioAgents, versions: VersionServer) -> None:
    versions.serve("/stable.json", document())
    versions.serve("/beta.json", document("beta", "0.3.0b1"))
    agent = hassio_agents.start("--hassio-version-url", versions.url)
    assert data(agent.call("POST", "/supervisor/reload")) == {}
    assert versions.requests == ["/stable.json"]
    assert data(agent.call("GET", "/supervisor/info"))["last_version"] == "0.2.0"
    assert data(agent.call("GET", "/homeassistant/info"))["last_version"] == "0.80.3"  # the channel's newest
    # AsyncThrottle(60 s): a second reload at once fetches nothing
    data(agent.call("POST", "/supervisor/options", json={"channel": "beta"}))
    assert data(agent.call("POST", "/supervisor/reload")) == {}
    assert versions.requests == ["/stable.json"]
    # a restarted agent (same store) fetches the beta channel; versions are Coerce(str)
    versions.serve("/beta.json", document("beta", 139))
    again = hassio_agents.start("--hassio-version-url", versions.url, data_dir=agent.agent.data_dir)
    assert data(again.call("GET", "/supervisor/info"))["last_version"] == "0.2.0"
    data(again.call("POST", "/supervisor/reload"))
    assert versions.requests == ["/stable.json", "/beta.json"]
    assert data(again.call("GET", "/supervisor/info"))["last_version"] == "139"


def test_the_version_url_is_logged_without_its_credentials(hassio_agents: HassioAgents, versions: VersionServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The log is readable through GET /supervisor/logs: a token in the URL is masked."""
    caplog.set_level(logging.INFO)
    versions.serve("/stable.json?token=s3cret", document())
    agent = hassio_agents.start("--hassio-version-url", versions.url + "?token=s3cret")
    data(agent.call("POST", "/supervisor/reload"))
    assert data(agent.call("GET", "/supervisor/info"))["last_version"] == "0.2.0"
    assert "Fetch update data from http://127.0.0.1:" in caplog.text and "token=***" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("status, body", [
    (200, json.dumps(document("beta")).encode()),  # another channel's document
    (200, json.dumps({"channel": "stable"}).encode()),  # no supervisor key
    (200, json.dumps({**document(), "homeassistant": {"raspberrypi3": "0.80.3"}}).encode()),  # no default
    (200, b"<html>not json</html>"),
    (200, b""),
    (404, b"not here"),
    (500, json.dumps(document("beta")).encode()),
])
def test_expected_fetch_failures_are_swallowed(hassio_agents: HassioAgents, versions: VersionServer,
                                               status: int, body: bytes) -> None:
    """Updater.reload suppressed HassioUpdaterError: the reload is ok, nothing changes."""
    versions.serve("/stable.json", body, status)
    agent = hassio_agents.start("--hassio-version-url", versions.url)
    assert data(agent.call("POST", "/supervisor/reload")) == {}
    assert versions.requests == ["/stable.json"]
    assert data(agent.call("GET", "/supervisor/info"))["last_version"] is None


def test_a_404_page_with_a_good_document_is_used(hassio_agents: HassioAgents, versions: VersionServer) -> None:
    """aiohttp's get did not raise on the status: the body was parsed whatever it was."""
    versions.serve("/stable.json", document(), 404)
    agent = hassio_agents.start("--hassio-version-url", versions.url)
    data(agent.call("POST", "/supervisor/reload"))
    assert data(agent.call("GET", "/supervisor/info"))["last_version"] == "0.2.0"


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"channel": "stable", "supervisor": "1", "homeassistant": "0.80"}',
                                  b"\xff\xfe{}"])
def test_unexpected_documents_fail_the_reload(hassio_agents: HassioAgents, versions: VersionServer,
                                              body: bytes) -> None:
    versions.serve("/stable.json", body)
    agent = hassio_agents.start("--hassio-version-url", versions.url)
    assert message(agent.call("POST", "/supervisor/reload")) == "Some reload task fails!"


def test_reload_without_a_url_or_a_server_is_ok(hassio_agents: HassioAgents, versions: VersionServer) -> None:
    assert data(hassio_agents.start().call("POST", "/supervisor/reload")) == {}
    versions.server.shutdown()
    versions.server.server_close()
    down = hassio_agents.start("--hassio-version-url", versions.url)
    assert data(down.call("POST", "/supervisor/reload")) == {}
    assert data(down.call("GET", "/supervisor/info"))["last_version"] is None


# ---- GET /supervisor/logs, GET /supervisor/stats ----

def test_logs_are_the_agents_last_100_lines(hassio: Hassio) -> None:
    ring = hassio.services.hassio_supervisor.logs
    root = logging.getLogger()
    root.addHandler(ring)  # as app.main does
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        for number in range(150):
            logging.getLogger("polyvisor.test").info("line %d", number)
        hassio.call("POST", "/supervisor/reload")  # logs the missing URL
    finally:
        root.removeHandler(ring)
        root.setLevel(old_level)
    response = hassio.call("GET", "/supervisor/logs")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/octet-stream")
    lines = response.content.decode().splitlines()
    assert len(lines) == 100 and response.content.endswith(b"\n")
    numbers = [int(line.rsplit(" ", 1)[1]) for line in lines if " INFO polyvisor.test: line " in line]
    assert numbers == list(range(150 - len(numbers), 150)) and len(numbers) >= 95  # the oldest dropped
    # the route's own warning is there (the test client's request line may follow it)
    assert any("WARNING polyvisor.hassio.updater: no version URL configured" in line for line in lines[-3:])


def test_logs_before_any_line_are_empty(hassio: Hassio) -> None:
    response = hassio.call("GET", "/supervisor/logs")
    assert (response.status_code, response.content) == (200, b"")


def test_stats_are_the_agent_process(hassio: Hassio) -> None:
    stats = data(hassio.call("GET", "/supervisor/stats"))
    rss = psutil.Process().memory_info().rss  # the in-process agent is this process
    assert abs(stats["memory_usage"] - rss) < rss / 4
    assert stats["memory_usage"] < stats["memory_limit"] <= psutil.virtual_memory().total
    assert isinstance(stats["cpu_percent"], float) and stats["cpu_percent"] >= 0
    io = psutil.Process().io_counters()
    assert stats["blk_read"] <= io.read_bytes and stats["blk_write"] <= io.write_bytes
    again = data(hassio.call("GET", "/supervisor/stats"))
    assert again["network_rx"] >= stats["network_rx"] and again["blk_write"] >= stats["blk_write"]


def test_no_stats_available(hassio: Hassio, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: Any) -> Any:
        raise psutil.AccessDenied(1)

    monkeypatch.setattr(psutil.Process, "memory_info", denied)
    assert message(hassio.call("GET", "/supervisor/stats")) == "No stats available"


# ---- GET /info ----

def test_info_summary(hassio: Hassio) -> None:
    """No Home Assistant image and not HassOS: their versions are null; the machine is the one
    Home Assistant's image is chosen for (io.hass.machine, from the device type)."""
    assert data(hassio.call("GET", "/info")) == {
        "supervisor": VERSION, "homeassistant": None, "hassos": None, "hostname": HOSTNAME,
        "machine": default_machine(None), "arch": ARCH, "channel": "stable"}


def test_info_hostname_is_null_when_empty(hassio: Hassio) -> None:
    (hassio.agent.root / "etc/hostname").write_text("\n")
    assert data(hassio.call("GET", "/info"))["hostname"] is None


def test_every_addon_may_read_info(hassio: Hassio) -> None:
    token = hassio.addon("plain", hassio_api=False)
    assert data(hassio.call("GET", "/info", token=token))["supervisor"] == VERSION
    assert hassio.call("GET", "/supervisor/info", token=token).status_code == 403
