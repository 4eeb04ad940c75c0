"""Router.match compares plain paths as text and compiles a route's regex only when a path could
match it: the answers must be the regex's own, for every route of every dialect."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import compat
from compat.base import Route, Router


def routers() -> list[Router]:
    found: dict[int, Router] = {}
    for info in pkgutil.walk_packages(compat.__path__, "compat."):
        module = importlib.import_module(info.name)
        found.update({id(value): value for value in vars(module).values() if isinstance(value, Router)})
    return list(found.values())


def samples(route: Route) -> list[str]:
    path = route.path
    filled = re.sub(r":(\w+)", "123", path)
    variants = [path, filled, filled.upper(), filled.lower(), filled + "/", filled[:-1], filled + "x",
                "/" + filled, filled.replace("1", "١"), filled.replace("s", "ſ"), filled.replace("k", "\u212a"),
                filled.replace("i", "İ"), filled + "\n", re.sub(r":(\w+)", "a/b", path), re.sub(r":(\w+)", "", path)]
    return variants


ROUTERS = routers()
PATHS = sorted({p for router in ROUTERS for route in router.items for p in samples(route)})


def test_every_router_was_found() -> None:
    assert len(ROUTERS) > 10 and sum(len(r.items) for r in ROUTERS) > 150


@pytest.mark.parametrize("index", range(len(ROUTERS)))
def test_params_are_the_regex_answers(index: int) -> None:
    for route in ROUTERS[index].items:
        regex = re.compile(route.regex, route.flags)
        for path in PATHS:
            found = regex.match(path)
            assert route.params(path) == (found.groupdict() if found else None), (route.path, path)


def test_a_plain_path_compiles_nothing() -> None:
    router = Router(case_insensitive=True)
    router.add("GET", "/v1/device/:id")(None)
    router.add("GET", "/ping")(None)
    route, params, allowed = router.match("GET", "/PING")
    assert route is router.items[1] and params == {} and allowed == []
    assert all("pattern" not in vars(r) for r in router.items)  # no regex compiled
    assert router.match("GET", "/v1/device/7")[1] == {"id": "7"}
    assert "pattern" in vars(router.items[0])
