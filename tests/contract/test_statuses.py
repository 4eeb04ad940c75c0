"""Every status a served route can answer is declared for it in its dialect's spec.

What a route can answer is read from the code, not from the spec: the statuses of its error
table (entries made with compat.base.answers), and what the dialect answers around every route
(balena: the key check, the body parsers, the 503 for errors no entry takes; platform: the token
check, the admin and default-password rules, the 422 for unexpected failures). Statuses a route
answers itself (a 400 `Missing app id`) and the platform's shared table (InvalidId 400,
NotSupported 404, which only some handlers raise) are checked by the API tests, which validate
every response against the spec.
"""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest

from compat.balena.common import PROFILES
from compat.base import Route
from compat.platform.dialect import GUARDED
from tests.openapi import load_spec, route_modules

BODY_ERRORS = {400, 413, 415}  # body-parser: bad JSON or form, too large, charset or encoding
# Routes whose handler calls nothing that can fail (a constant, a lookup in memory, or every
# failure caught): the dialect's fallback for an unexpected error never answers them.
INFALLIBLE = {
    ("GET", "/ping"), ("GET", "/v1/healthy"), ("GET", "/v1/tty/:token"), ("GET", "/v2/version"),
    ("GET", "/v2/local/logs"), ("GET", "/auth/version"),
    *(("GET", f"{prefix}/{name}") for prefix in ("/auth", "/platform/api", "/api", "/edgehub/api")
      for name in ("ping", "agentinfo")), ("GET", "/api/irtm/ping"),
}


def table_statuses(route: Route) -> set[int]:
    """The statuses of the route's error table; every entry must say which it answers."""
    found = set()
    for cls, answer in route.options.get("errors", {}).items():
        status = getattr(answer, "status", None)
        assert isinstance(status, int), f"{route.method} {route.path}: the {cls.__name__} entry has no status"
        found.add(status)
    return found


def balena_statuses(route: Route) -> set[int]:
    """What compat.balena.dialect.BalenaApp answers around the route."""
    statuses = table_statuses(route)
    opened = route.options.get("open", False)
    if not opened or (isinstance(opened, str) and not all(getattr(p, opened) for p in PROFILES.values())):
        statuses.add(401)
    early = route.options.get("early", False)
    if early is not True:  # the body is parsed (in every era, or in the eras not listed)
        statuses |= BODY_ERRORS
    if Exception not in route.options.get("errors", {}) and (route.method, route.path) not in INFALLIBLE:
        statuses.add(503)  # an error no entry takes: its message, 503
    return statuses


def platform_statuses(route: Route) -> set[int]:
    """What compat.platform.dialect.PlatformApp answers around the route."""
    statuses = table_statuses(route)
    if (route.method, route.path) not in INFALLIBLE:
        statuses.add(422)  # a failure nobody expected: 422 "internal error"
    if route.options.get("auth", True):
        statuses.add(401)
        if route.options.get("admin") or (route.path.startswith(GUARDED) and not route.options.get("pre_change")):
            statuses.add(403)
    return statuses


CASES = [("balena_v1", balena_statuses), ("balena_v2", balena_statuses), ("platform", platform_statuses)]


def routes_of(stem: str) -> list[tuple[str, Route, Any]]:
    table = import_module(route_modules()[stem]).ROUTES
    return [(stem, r, how) for s, how in CASES if s == stem for r in table.items if r.method != "WS"]


@pytest.mark.parametrize(("stem", "route", "statuses"), [case for stem, _ in CASES for case in routes_of(stem)],
                         ids=lambda value: f"{value.method} {value.path}" if isinstance(value, Route) else None)
def test_every_status_a_route_can_answer_is_declared(stem: str, route: Route, statuses: Any) -> None:
    spec = load_spec(stem)
    template = re.sub(r":(\w+)", r"{\1}", route.path)
    declared = {int(s) for s in spec["paths"][template][route.method.lower()]["responses"] if s.isdigit()}
    missing = statuses(route) - declared
    assert not missing, f"spec/{stem}.yaml: {route.method} {template} does not declare {sorted(missing)}"
