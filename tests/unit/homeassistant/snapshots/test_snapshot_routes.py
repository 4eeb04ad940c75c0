"""The /snapshots routes in the hassio dialect's table, and who may call them (hassio.md §2.3)."""

from __future__ import annotations

import pytest

from compat.hassio.dialect import ROUTES
from compat.hassio.security import allowed
from handlers.homeassistant.tokens import AddonGrant, Caller

SNAPSHOT_ROUTES = {
    ("GET", "/snapshots"), ("POST", "/snapshots/reload"), ("POST", "/snapshots/new/full"),
    ("POST", "/snapshots/new/partial"), ("POST", "/snapshots/new/upload"), ("GET", "/snapshots/:snapshot/info"),
    ("POST", "/snapshots/:snapshot/remove"), ("POST", "/snapshots/:snapshot/restore/full"),
    ("POST", "/snapshots/:snapshot/restore/partial"), ("GET", "/snapshots/:snapshot/download"),
}


def test_every_route_of_138_is_served() -> None:
    assert {route for route in ROUTES.paths() if route[1].startswith("/snapshots")} == SNAPSHOT_ROUTES
    route, params, _ = ROUTES.match("POST", "/snapshots/new/full")
    assert route is not None and route.path == "/snapshots/new/full" and params == {}
    route, params, _ = ROUTES.match("POST", "/snapshots/abcd1234/restore/full")
    assert route is not None and params == {"snapshot": "abcd1234"}


@pytest.mark.parametrize(("role", "hassio_api", "expected"), [
    ("backup", True, True), ("manager", True, True), ("admin", True, True),
    ("default", True, False), ("homeassistant", True, False), ("backup", False, False),
])
def test_who_may_call_them(role: str, hassio_api: bool, expected: bool) -> None:
    caller = Caller("addon", AddonGrant("local_backup", "t" * 64, hassio_api=hassio_api, hassio_role=role))
    for path in ("/snapshots", "/snapshots/new/full", "/snapshots/abcd1234/download"):
        assert allowed(caller, path) is expected
    assert allowed(Caller("addon", AddonGrant("x", "t", hassio_api=True, hassio_role="backup")), "/supervisor/info") is False
