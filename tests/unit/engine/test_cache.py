"""The engine state cache over a fake engine: list order, dirty entries, the event stream's life.

The real dockerd cases (answers byte-identical to direct reads, changes behind the agent's back,
the engine restarted) are in tests/integration/test_state_cache.py.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker.errors
import orjson
import pytest
import requests

from handlers.engine.apps import inspect_supervised
from handlers.engine.cache import StateCache
from handlers.engine.current import read_current
from handlers.errors import EngineUnavailable

RESIN, BALENA = "io.resin.supervised", "io.balena.supervised"


def attrs(cid: str, app_id: int, name: str, created: str, status: str = "running",
          label: str = BALENA) -> dict[str, Any]:
    prefix = label.split(".supervised")[0]
    return {"Id": cid, "Name": f"/{name}", "Image": "sha256:img", "Created": created,
            "State": {"Status": status, "Running": status == "running"},
            "Config": {"Image": "busybox", "Labels": {label: "1", f"{prefix}.app-id": str(app_id),
                                                      f"{prefix}.service-name": name.split("_")[0]}},
            "HostConfig": {"NetworkMode": "none"}, "NetworkSettings": {"Networks": {}}}


class Stream:
    """What client.api.events() returns: blocking iteration, close() from another thread."""

    def __init__(self, events: queue.Queue[dict[str, Any] | None]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (event := self.events.get()) is not None:
            yield event

    def close(self) -> None:
        self.events.put(None)


class Api:
    """The engine: containers by id (list order: newest first, as dockerd lists), networks, volumes."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.networks_: list[dict[str, Any]] = [{"Name": "1_default", "Labels": {BALENA: "true"}}]
        self.volumes_: list[dict[str, Any]] = [{"Name": "1_data", "Labels": {BALENA: "true"}}]
        self.calls: list[str] = []
        self.events_: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.down = False

    def add(self, item: dict[str, Any]) -> None:
        self.items = {item["Id"]: item, **self.items}

    def _call(self, what: str) -> None:
        if self.down:
            raise requests.exceptions.ConnectionError("engine down")
        self.calls.append(what)

    def containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, str]]:
        self._call("containers")
        return [{"Id": cid} for cid, a in self.items.items() if filters["label"] in a["Config"]["Labels"]]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self._call(f"inspect {cid}")
        if cid not in self.items:
            response = requests.Response()
            response.status_code = 404
            raise docker.errors.NotFound("No such container", response=response)
        return orjson.loads(orjson.dumps(self.items[cid]))  # a fresh copy, as over HTTP

    def networks(self, filters: dict[str, str] | None = None, names: list[str] | None = None) -> list[Any]:
        self._call("networks")
        if names:
            return []
        assert filters is not None
        return [n for n in self.networks_ if filters["label"] in n["Labels"]]

    def volumes(self, filters: dict[str, str]) -> dict[str, Any]:
        self._call("volumes")
        return {"Volumes": [v for v in self.volumes_ if filters["label"] in v["Labels"]]}

    def events(self, since: int, filters: dict[str, Any], decode: bool) -> Stream:
        if self.down:
            raise requests.exceptions.ConnectionError("engine down")
        self.events_ = queue.Queue()
        return Stream(self.events_)

    def send(self, kind: str, action: str, target: str, **attributes: str) -> None:
        self.events_.put({"Type": kind, "Action": action, "Actor": {"ID": target, "Attributes": attributes}})


class Client:
    def __init__(self, api: Api) -> None:
        self.api = api

    def close(self) -> None:
        pass


class Engine:
    """handlers.docker.Engine's surface the cache uses."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def call(self, action: Callable[[Any], Any]) -> Any:
        try:
            return action(Client(self.api))
        except requests.exceptions.ConnectionError as err:
            raise EngineUnavailable(str(err)) from err

    def connect(self, timeout: float | None) -> Client:
        if self.api.down:
            raise requests.exceptions.ConnectionError("engine down")
        return Client(self.api)


def wait(check: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


@pytest.fixture
def api() -> Api:
    found = Api()
    found.add(attrs("a", 1, "one_1_1", "2020-01-01T00:00:02.000Z"))
    found.add(attrs("r", 1, "old_3_1", "2020-01-01T00:00:01.000Z", label=RESIN))
    found.add(attrs("b", 1, "two_2_1", "2020-01-01T00:00:02.000Z", status="exited"))
    return found


@pytest.fixture
def cache(api: Api) -> Iterator[StateCache]:
    made = StateCache(Engine(api))
    made.start(now=True)
    wait(lambda: made.live and made.fills == 1)
    yield made
    made.close()


def direct(api: Api) -> tuple[bytes, bytes]:
    current = read_current(Client(api))
    return (orjson.dumps([(c.id, c.name, c.state) for c in current.containers]
                         + [list(k) for k in current.networks] + [list(k) for k in current.volumes]),
            orjson.dumps(inspect_supervised(Client(api))))


def cached(cache: StateCache) -> tuple[bytes, bytes]:
    current = cache.current()
    return (orjson.dumps([(c.id, c.name, c.state) for c in current.containers]
                         + [list(k) for k in current.networks] + [list(k) for k in current.volumes]),
            orjson.dumps(cache.supervised()))


def test_same_order_as_direct_reads_and_no_engine_call_once_filled(api: Api, cache: StateCache) -> None:
    assert cached(cache) == direct(api)
    # io.resin first, then the engine's list order; Current sorted by creation, stably
    assert [a["Id"] for a in cache.supervised()] == ["r", "b", "a"]
    assert [c.id for c in cache.current().containers] == ["r", "b", "a"]
    api.calls.clear()
    cached(cache)
    assert api.calls == []


def test_a_container_event_reinspects_only_that_container(api: Api, cache: StateCache) -> None:
    cached(cache)
    api.calls.clear()
    api.items["b"]["State"] = {"Status": "running", "Running": True}
    api.send("container", "start", "b")
    wait(lambda: [c.state for c in cache.current().containers if c.id == "b"] == ["running"])
    assert api.calls == ["inspect b"]
    assert cached(cache) == direct(api)


def test_exec_and_attach_events_change_nothing(api: Api, cache: StateCache) -> None:
    cached(cache)
    api.calls.clear()
    for action in ("exec_create: sh", "exec_start: sh", "exec_die", "attach", "resize", "top"):
        api.send("container", action, "a")
    api.send("volume", "mount", "1_data")  # a marker: the events before it were handled
    wait(lambda: (cached(cache), "volumes" in api.calls)[1])
    assert not [c for c in api.calls if c.startswith("inspect")]


def test_create_and_destroy_list_the_ids_again(api: Api, cache: StateCache) -> None:
    cached(cache)
    api.calls.clear()
    api.add(attrs("c", 2, "new_4_1", "2020-01-01T00:00:03.000Z"))
    api.send("container", "create", "c")
    wait(lambda: [a["Id"] for a in cache.supervised()] == ["r", "c", "b", "a"])
    assert sorted(api.calls) == ["containers", "containers", "inspect c"]
    del api.items["a"]
    api.send("container", "destroy", "a")
    wait(lambda: [a["Id"] for a in cache.supervised()] == ["r", "c", "b"])
    assert cached(cache) == direct(api)


def test_network_and_volume_events_list_them_again(api: Api, cache: StateCache) -> None:
    cached(cache)
    api.networks_.append({"Name": "1_backend", "Labels": {BALENA: "true"}})
    api.send("network", "connect", "n1", container="a")
    wait(lambda: (1, "backend") in cache.current().networks)
    assert "inspect a" in api.calls  # the container named by connect is inspected again
    api.volumes_.append({"Name": "1_more", "Labels": {BALENA: "true"}})
    api.send("volume", "create", "1_more")
    wait(lambda: (1, "more") in cache.current().volumes)
    assert cached(cache) == direct(api)


def test_image_events_forget_image_inspects(api: Api) -> None:
    found: dict[str, dict[str, Any] | None] = {"x": {"Id": "sha256:x"}}
    asked: list[str] = []

    def inspect(name: str) -> dict[str, Any] | None:
        asked.append(name)
        return found.get(name)

    cache = StateCache(Engine(api), image_inspect=inspect)
    cache.start(now=True)
    try:
        wait(lambda: cache.live)
        assert (cache.image("x"), cache.image("x"), cache.image("y")) == ({"Id": "sha256:x"}, {"Id": "sha256:x"}, None)
        assert asked == ["x", "y"]
        found.pop("x")
        api.send("image", "delete", "sha256:x")
        wait(lambda: cache.image("x") is None)
    finally:
        cache.close()


def test_busy_and_invalidated_reads_go_to_the_engine(api: Api) -> None:
    busy = threading.Event()
    cache = StateCache(Engine(api), busy=busy.is_set)
    cache.start(now=True)
    try:
        wait(lambda: cache.live)
        cached(cache)
        busy.set()
        api.calls.clear()
        api.items["a"]["State"] = {"Status": "exited", "Running": False}  # an agent write: no event yet
        assert cached(cache) == direct(api) and "inspect a" in api.calls
        busy.clear()
        cache.invalidate()  # the write's end
        assert [c.state for c in cache.current().containers if c.id == "a"] == ["exited"]
    finally:
        cache.close()


def test_a_read_racing_an_event_keeps_nothing_stale(api: Api, cache: StateCache) -> None:
    """A fetch that began before an event stores nothing: the next read asks the engine again."""
    cached(cache)
    real = api.inspect_container
    api.send("container", "die", "a")
    wait(lambda: "a" not in cache._state.attrs)

    def slow(cid: str) -> dict[str, Any]:
        found = real(cid)
        api.items["a"]["State"] = {"Status": "exited", "Running": False}
        cache.event({"Type": "container", "Action": "die", "Actor": {"ID": "a"}})  # arrives meanwhile
        return found

    api.inspect_container = slow  # type: ignore[method-assign]
    assert [c.state for c in cache.current().containers if c.id == "a"] == ["running"]
    api.inspect_container = real  # type: ignore[method-assign]
    assert [c.state for c in cache.current().containers if c.id == "a"] == ["exited"]


def test_a_broken_stream_drops_the_cache_and_reads_go_direct_until_back(api: Api, cache: StateCache) -> None:
    cached(cache)
    api.down = True
    cache.break_stream()
    wait(lambda: not cache.live)
    with pytest.raises(EngineUnavailable):  # the direct read's error
        cache.current()
    api.down = False
    api.items["a"]["State"] = {"Status": "exited", "Running": False}  # changed while the stream was down
    wait(lambda: cache.live and cache.fills == 2, timeout=3)
    assert cached(cache) == direct(api)


def test_the_stream_opens_at_the_first_read_not_at_start(api: Api) -> None:
    """An agent nobody asks about its apps loads no docker SDK and holds no engine connection."""
    engine = Engine(api)
    connects: list[float | None] = []
    real = engine.connect

    def counted(timeout: float | None) -> Client:
        connects.append(timeout)
        return real(timeout)

    engine.connect = counted  # type: ignore[method-assign]
    cache = StateCache(engine)
    cache.start()
    try:
        assert cache._thread is None and connects == [] and not cache.live  # no thread, no connection
        assert cached(cache) == direct(api)  # the first read: direct, and it opens the stream
        wait(lambda: cache.live)
        assert connects == [None]  # its own client, no read timeout
    finally:
        cache.close()
    assert not cache.live
