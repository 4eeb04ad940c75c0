"""Fuzzing from the specs: schemathesis generates requests for every operation of every document in
spec/ (valid and invalid data), sends them to the session's agent with the dialect's credentials,
and every answer must be one the document declares (status, content type, body schema, headers:
tests/openapi.py's checker). The agent must be up, its log without a traceback, at the end
(tests/fuzz/conftest.py). The budget per operation is POLYVISOR_FUZZ_EXAMPLES (scripts/fuzz)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from fuzz.conftest import EXAMPLES, Dialects
from tests.openapi import SPEC_DIR, check_response

STEMS = tuple(sorted(p.stem for p in SPEC_DIR.glob("*.yaml")))

# Operations not fuzzed against the shared agent, and why. Everything else, reboot, shutdown,
# purge and service control included, runs for real against the private dockerd and the
# D-Bus test services (dbusmock logind/systemd/hostnamed).
EXCLUDED = {
    ("balena_v1", "POST", "/v1/regenerate-api-key"):
        "replaces the key every later request of the session uses (tests/api/test_balena_v1.py covers it)",
    ("platform", "DELETE", "/platform/api/processes/{pid}"):
        "SIGKILLs a real host process by the fuzzed PID (no PID namespace for the agent here)",
    ("platform", "PUT", "/platform/api/networking/ipv4config/{ifIndex}"):
        "changes the host's addresses over netlink (tests/integration/test_platform_network.py, in a netns)",
    ("platform", "DELETE", "/platform/api/networking/ipv4config/{ifIndex}"):
        "removes the host's addresses over netlink (tests/integration/test_platform_network.py, in a netns)",
    ("platform", "POST", "/platform/api/networking/interfaces/route"):
        "changes the host's routes over netlink (tests/integration/test_platform_network.py, in a netns)",
    ("platform", "DELETE", "/auth/user/admin/password"):
        "resets the admin password to the factory one, which locks /platform/api for the rest of the session",
    ("platform", "POST", "/auth/logout"):
        "revokes the token it is sent with, the session's admin token (tests/api/test_platform_access.py)",
    ("balena_v2", "GET", "/v2/local/logs"): "streams until the client leaves (tests/integration/test_local_mode.py)",
    ("platform", "GET", "/platform/api/events"): "an SSE stream (tests/integration/test_platform_sse.py)",
    ("platform", "GET", "/platform/api/term/ws"): "a WebSocket terminal (tests/api/test_platform_terminal.py)",
    ("platform", "POST", "/edgehub/api/connection"):
        "connects to the fuzzed mqttHost / dccsUrl, off loopback (tests/integration/test_edgehub_cloud.py)",
}
LEGACY_PROFILE = "the balena legacy profile's route: the session agent runs the v10 profile"
# The credentials each dialect reads: what schemathesis generates for them is replaced by valid ones.
CREDENTIAL_QUERY = {"apikey", "token"}
CREDENTIAL_HEADERS = {"authorization", "x-hassio-key"}
COUNTS: Counter[str] = Counter()
REFUSED_WITH_401 = {"balena_v1", "balena_v2", "platform"}


def operations() -> Iterator[Any]:
    """(stem, schemathesis operation) for every operation of every spec, with pytest ids."""
    for stem in STEMS:
        schema = schemathesis.openapi.from_path(SPEC_DIR / f"{stem}.yaml")
        for result in schema.get_all_operations():
            operation = result.ok()
            key = (stem, operation.method.upper(), operation.path)
            marks = []
            if key in EXCLUDED:
                marks.append(pytest.mark.skip(reason=EXCLUDED[key]))
            elif "legacy" in (operation.definition.raw.get("x-profiles") or ["legacy"]) and \
                    "v10" not in (operation.definition.raw.get("x-profiles") or ["v10"]):
                marks.append(pytest.mark.skip(reason=LEGACY_PROFILE))
            yield pytest.param(stem, operation, marks=marks, id=f"{stem}:{key[1]} {key[2]}")


def strategy(operation: Any) -> Any:
    """Valid and invalid requests for the operation (negative mode only where it can be made)."""
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    try:
        return st.one_of(positive, operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # noqa: BLE001  (schemathesis cannot negate an operation without parameters)
        return positive


def send(dialects: Dialects, stem: str, case: Any, session: requests.Session) -> httpx.Response:
    """The case with the dialect's own credentials in place of generated ones."""
    for name in [n for n in (case.query or {}) if n in CREDENTIAL_QUERY]:
        del case.query[name]
    for name in [n for n in (case.headers or {}) if n.lower() in CREDENTIAL_HEADERS]:
        del case.headers[name]
    if case.cookies:
        case.cookies.pop("jwt", None)
    got = case.call(base_url=dialects.base_url(stem), session=session,
                    headers=dialects.credentials(stem), timeout=30, allow_redirects=False)
    # as httpx (tests/openapi.py's checker reads httpx's case-insensitive headers); requests has
    # already decoded a gzip or deflate body, so its Content-Encoding and length no longer apply
    headers = [(name, value) for name, values in got.headers.items() for value in values
               if name.lower() not in ("content-encoding", "content-length")]
    request = httpx.Request(case.method, got.request.url)
    return httpx.Response(got.status_code, headers=headers, content=got.content, request=request)


@pytest.mark.parametrize(("stem", "operation"), operations())
def test_every_answer_is_declared(dialects: Dialects, stem: str, operation: Any) -> None:
    session = requests.Session()
    protected = stem in REFUSED_WITH_401 and operation.definition.raw.get("security") != []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=strategy(operation))
    def fuzz(case: Any) -> None:
        response = send(dialects, stem, case, session)
        COUNTS[stem] += 1
        # valid credentials: a refusal would hide every later check behind a declared 401
        assert response.status_code != 401 or not protected, response.content[:200]
        assert response.status_code != 500 or b"Traceback" not in response.content
        check_response(stem, response, method=case.method, path=response.request.url.raw_path.decode().split("?")[0])

    try:
        fuzz()
    finally:
        session.close()
    assert dialects.ping(), f"the agent stopped answering after fuzzing {operation.method} {operation.path}"


def test_fuzz_counts_reported(dialects: Dialects, record_property: Any) -> None:
    """Runs last in this module: the requests sent per dialect (the issue's closing note wants them)."""
    for stem, count in sorted(COUNTS.items()):
        record_property(f"fuzzed_{stem}", count)
        print(f"fuzzed {stem}: {count} requests")
    assert dialects.ping()
