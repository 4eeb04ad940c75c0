"""POST /supervisor/update in process: the input checks and the failure answers of tag 138
(hassio/api/supervisor.py: api_validate(SCHEMA_VERSION), APIError "Version X is already in use",
Supervisor.update's False -> message null). The update itself, and from source (no binary to
replace): tests/integration/test_hassio_update.py.
"""

from __future__ import annotations

import logging

import pytest

from handlers import VERSION
from tests.api.support import API_KEY, Agent

STEM = "hassio"
KEY = {"X-HASSIO-KEY": API_KEY}


def post(api: Agent, **kwargs: object) -> tuple[int, object]:
    response = api.request(STEM, "POST", "/supervisor/update", headers=KEY, **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.json()


@pytest.mark.parametrize("body, message", [
    ({"foo": 1}, "extra keys not allowed @ data['foo']. Got 1"),
    ({"version": "1", "channel": "dev"}, "extra keys not allowed @ data['channel']. Got 'dev'"),
    ([1], "expected a dictionary. Got [1]"),
])
def test_bad_body_is_voluptuous_message(api: Agent, body: object, message: str) -> None:
    assert post(api, json=body) == (400, {"result": "error", "message": message})


def test_broken_json(api: Agent) -> None:
    assert post(api, content=b"{version") == (400, {"result": "error", "message": "Invalid json"})


@pytest.mark.parametrize("version", [VERSION])
def test_running_version_is_already_in_use(api: Agent, version: str) -> None:
    assert post(api, json={"version": version}) == (
        400, {"result": "error", "message": f"Version {VERSION} is already in use"})


def test_no_release_url_is_a_failed_update(api: Agent, caplog: pytest.LogCaptureFixture) -> None:
    """138 without a version JSON: update(None) failed and api_process answered False as null."""
    caplog.set_level(logging.ERROR, "polyvisor.selfupdate")
    assert post(api) == (400, {"result": "error", "message": None})
    assert post(api, json={"version": 2}) == (400, {"result": "error", "message": None})  # Coerce(str)
    assert any("Update of polyvisor fails" in r.getMessage() for r in caplog.records)


def test_needs_a_token(api: Agent) -> None:
    response = api.request(STEM, "POST", "/supervisor/update", json={"version": "9.9.9"})
    assert (response.status_code, response.text) == (401, "401: Unauthorized")
