"""compat/hassio/security.py against hassio.md §2.2-2.3 (tag 138's hassio/api/security.py): the
blacklist, the open paths, what every add-on may call and each role's paths, not cumulative."""

from __future__ import annotations

import pytest

from compat.hassio import security
from handlers.homeassistant.tokens import AddonGrant, Caller

# role -> (paths it may call, paths it may not); bypass paths are listed separately
ROLES: dict[str, tuple[list[str], list[str]]] = {
    "default": (
        ["/supervisor/info", "/host/info", "/homeassistant/info", "/hassos/info", "/hardware/info", "/addons"],
        ["/addons/core_ssh/info", "/snapshots/abcd1234/info", "/supervisor/options", "/supervisor/logs",
         "/homeassistant/restart", "/addons/", "/supervisor/info/x", "/x/y/info", "/snapshots"],
    ),
    "homeassistant": (
        ["/homeassistant/info", "/homeassistant/restart", "/homeassistant/api/states", "/homeassistant/x/y"],
        ["/homeassistant", "/homeassistant/", "/supervisor/info", "/host/info", "/addons", "/snapshots"],
    ),
    "backup": (
        ["/snapshots", "/snapshots/new/full", "/snapshots/abcd1234/info", "/snapshots/abcd1234/restore/full"],
        ["/supervisor/info", "/addons", "/homeassistant/info", "/host/info"],
    ),
    "manager": (
        ["/homeassistant/restart", "/host/reboot", "/host/services/x.service/stop", "/hardware/info",
         "/hassos/update", "/supervisor/options", "/supervisor/info", "/addons", "/addons/core_ssh/info",
         "/addons/core_ssh/start", "/snapshots", "/snapshots/x/restore/full"],
        # (?!security) is a prefix check: /addons/<x>/securityx is refused too
        ["/addons/core_ssh/security", "/addons/core_ssh/securityx", "/addons/self/security", "/addons/core_ssh", "/addons/", "/homeassistant",
         "/host", "/supervisor", "/app/index.html", "/panel", "/x"],
    ),
    "admin": (
        ["/addons/core_ssh/security", "/addons/self/security", "/addons/self/update", "/supervisor/update",
         "/app/index.html", "/anything/at/all"],
        [],
    ),
}
BYPASS = ["/addons/self/info", "/addons/self/logs", "/addons/self/restart", "/addons/self/options",
          "/addons/self/stdin", "/info", "/services", "/services/mqtt", "/discovery", "/discovery/0123abcd", "/auth"]
NOT_BYPASS = ["/addons/self/security", "/addons/self/update", "/addons/self/updates", "/addons/self", "/addons/self/info/x",
              "/info/x", "/auth/x", "/addons/other/info", "/supervisor/ping/x"]


def addon(role: str, hassio_api: bool = True) -> Caller:
    return Caller("addon", AddonGrant("test", "t" * 64, hassio_api=hassio_api, hassio_role=role))


@pytest.mark.parametrize("role", list(ROLES))
def test_role_paths(role: str) -> None:
    allowed, denied = ROLES[role]
    caller = addon(role)
    assert [p for p in allowed if not security.allowed(caller, p)] == []
    assert [p for p in denied if security.allowed(caller, p)] == []


def test_roles_are_not_cumulative() -> None:
    """A role's paths are its own: homeassistant may not read /supervisor/info, backup not /addons."""
    assert not security.allowed(addon("homeassistant"), "/supervisor/info")
    assert security.allowed(addon("default"), "/supervisor/info")
    assert not security.allowed(addon("backup"), "/addons")
    assert not security.allowed(addon("default"), "/snapshots")


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("hassio_api", [True, False])
def test_bypass_paths_for_every_addon(role: str, hassio_api: bool) -> None:
    caller = addon(role, hassio_api)
    assert [p for p in BYPASS if not security.allowed(caller, p)] == []


@pytest.mark.parametrize("path", NOT_BYPASS)
def test_not_bypass_paths_need_a_role(path: str) -> None:
    assert not security.ADDONS_API_BYPASS.match(path)
    assert not security.allowed(addon("admin", hassio_api=False), path)


def test_without_hassio_api_a_role_gives_nothing() -> None:
    assert not security.allowed(addon("admin", hassio_api=False), "/supervisor/info")
    assert not security.allowed(addon("default", hassio_api=False), "/supervisor/info")


def test_an_unknown_role_gives_nothing_but_the_bypass() -> None:
    caller = addon("superuser")
    assert not security.allowed(caller, "/supervisor/info")
    assert security.allowed(caller, "/info")


@pytest.mark.parametrize("kind", ["homeassistant", "host", "operator"])
def test_full_access_callers(kind: str) -> None:
    caller = Caller(kind)
    assert caller.full_access
    for path in ["/addons/self/security", "/addons/x/security", "/supervisor/update", "/anything"]:
        assert security.allowed(caller, path)


@pytest.mark.parametrize("path, blacklisted", [
    ("/homeassistant/api/hassio/x", True), ("/homeassistant/api/hassio/", True),
    ("/homeassistant/api/hassio", False), ("/homeassistant/api/states", False), ("/x/homeassistant/api/hassio/y", False),
])
def test_blacklist(path: str, blacklisted: bool) -> None:
    assert bool(security.BLACKLIST.match(path)) is blacklisted


@pytest.mark.parametrize("path, open_", [
    ("/supervisor/ping", True), ("/homeassistant/api/states", True), ("/homeassistant/api/", True),
    ("/homeassistant/websocket", True), ("/supervisor/ping/", False), ("/supervisor/info", False),
    ("/homeassistant/websocket/x", False), ("/homeassistant/api", False),
])
def test_open_paths(path: str, open_: bool) -> None:
    assert bool(security.NO_SECURITY_CHECK.match(path)) is open_
