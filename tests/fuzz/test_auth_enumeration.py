"""Auth enumeration from the specs: every operation of every dialect, called with every kind of bad
credential (tests/fuzz/credentials.py), answers the dialect's one refusal for that kind of
credential, byte for byte the same on every route (per refusal the spec names with
`x-token-refusal`: the platform's gin-jwt routes answer in gin-jwt's own words), unless the spec marks the operation open
(`security: []`). A route added without declaring itself open is held to the refusal, so an
unguarded new route fails here. Where the dialect has roles (the platform's OS accounts against
its admin), an OS account's token is refused (403) on the routes the spec says are admin only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fuzz.conftest import Dialects
from fuzz.credentials import Sent, variants
from tests.openapi import METHODS, SPEC_DIR, check_response, load_spec

STEMS = tuple(sorted(p.stem for p in SPEC_DIR.glob("*.yaml")))
FILLER = "999999999"  # every path parameter: no app, process, interface, LED or unit has it
# Operations that answer with a stream once authorised (the lesser role's token is valid).
STREAMS = {("GET", "/platform/api/events"), ("GET", "/platform/api/term/ws"), ("GET", "/v2/local/logs")}


def served_operations(stem: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path template, operation) the session agent serves (the v10 balena profile)."""
    for path, item in load_spec(stem)["paths"].items():
        for method, operation in item.items():
            if method in METHODS and "v10" in operation.get("x-profiles", ["v10"]):
                yield method.upper(), path, operation


def is_open(operation: dict[str, Any]) -> bool:
    """The spec says the operation needs no credentials."""
    return operation.get("security") in ([], [{}])


def client(dialects: Dialects, stem: str, sent: Sent) -> httpx.Client:
    """A client on the dialect carrying the given credentials (headers, query, cookies)."""
    headers, query, cookies = sent
    return httpx.Client(base_url=dialects.base_url(stem), headers=headers, params=query, cookies=cookies,
                        timeout=30)


def call(session: httpx.Client, stem: str, method: str, template: str) -> httpx.Response:
    """One request with FILLER in every path parameter and no body."""
    path = "/".join(FILLER if part.startswith("{") else part for part in template.split("/"))
    response = session.request(method, path)
    session.cookies.clear()  # what a refusal sets must not count as a credential next time
    check_response(stem, response, method=method, path=path)
    return response


@pytest.fixture(scope="module")
def bad_credentials(dialects: Dialects) -> dict[str, Sent]:
    """Every variant, the forged JWTs made against the session agent's certificate and key."""
    return variants(dialects.certificate, dialects.agent.data_dir)


@pytest.mark.parametrize("stem", STEMS)
def test_every_route_refuses_every_bad_credential(dialects: Dialects, bad_credentials: dict[str, Sent],
                                                  stem: str, record_property: Any) -> None:
    calls = 0
    for kind, sent in bad_credentials.items():
        refusals: dict[str, tuple[Any, ...]] = {}
        with client(dialects, stem, sent) as session:
            for method, template, operation in served_operations(stem):
                response = call(session, stem, method, template)
                calls += 1
                if is_open(operation):
                    continue
                answer = (response.status_code, response.headers.get("content-type"), response.content)
                assert response.status_code in (401, 403), f"{kind}: {method} {template} answered {answer}"
                refusal = refusals.setdefault(str(operation.get("x-token-refusal")), answer)
                assert answer == refusal, f"{kind}: {method} {template} answered {answer}, other routes {refusal}"
    record_property(f"auth_{stem}_calls", calls)
    print(f"auth enumeration {stem}: {calls} calls ({len(bad_credentials)} credential variants)")
    assert dialects.ping()


def admin_only(operation: dict[str, Any]) -> bool:
    """The spec's summary says the operation needs an admin."""
    return "admin" in str(operation.get("summary", "")).lower() and "/auth/" not in str(operation.get("operationId"))


def test_an_os_account_is_refused_on_admin_routes(dialects: Dialects) -> None:
    session = client(dialects, "platform", ({"Authorization": f"Bearer {dialects.user_token}"}, {}, {}))
    refused = allowed = 0
    for method, template, operation in served_operations("platform"):
        if is_open(operation) or (method, template) in STREAMS or template.startswith("/auth/"):
            continue
        response = call(session, "platform", method, template)
        if admin_only(operation):
            assert response.status_code == 403, (method, template, response.content)
            refused += 1
        else:
            assert response.status_code not in (401, 403), (method, template, response.content)
            allowed += 1
    session.close()
    assert refused >= 3 and allowed >= 30, (refused, allowed)
    assert dialects.ping()
