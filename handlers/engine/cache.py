"""The engine's current state kept in memory, true to the Docker event stream.

Filled from the engine once, then kept true by `docker events` read on a client of its own in a
daemon thread: container events mark that container dirty (re-inspected on the next read; created
or destroyed ones make the ids listed again), network and volume events list those again, image
events forget the image inspects. The stream is opened before the fill, so nothing is missed.

Reads answer from memory only while the stream is live and no agent write is under way (`busy`);
otherwise they go to the engine exactly as a direct read does (same errors). The agent's own
writes call invalidate() when they finish, so the next read sees them. A broken stream (the engine
stopped or restarted) drops everything; the thread reconnects and fills again.

Every fetch records the version it started from and stores what it read only when no event or
invalidation came in the meantime: a read racing an event never keeps a stale entry.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from handlers.engine.apps import SUPERVISED
from handlers.engine.compose import SUPERVISOR_NETWORK
from handlers.engine.current import Container, Current, assemble, container_from, read_current

log = logging.getLogger("polyvisor.cache")

RETRY = 1.0  # the longest wait before the stream is opened again
# container events that change nothing an inspect shows (exec_* prefixes are checked apart)
QUIET = frozenset({"attach", "detach", "resize", "top", "export", "copy", "archive-path",
                   "extract-to-dir", "commit", "save"})
LISTED = frozenset({"create", "destroy"})  # container events that change the id list
TYPES = ["container", "network", "volume", "image"]


def listing(client: Any) -> list[str]:
    """Ids of the supervised containers in the direct read's order: engine list order, io.resin first."""
    ids: dict[str, None] = {}
    for key in SUPERVISED:
        for item in client.api.containers(all=True, filters={"label": key}):
            ids.setdefault(item["Id"])
    return list(ids)


def inspect_or_none(client: Any, container_id: str) -> dict[str, Any] | None:
    """`docker inspect`, None when the container is gone (as inspect_supervised skips it)."""
    try:
        return dict(client.api.inspect_container(container_id))
    except Exception as err:
        if getattr(getattr(err, "response", None), "status_code", None) == 404:
            return None
        raise


class _State:
    """What the cache holds; None for a part not read yet."""

    def __init__(self) -> None:
        self.ids: list[str] | None = None
        self.attrs: dict[str, dict[str, Any] | None] = {}  # clean inspects (None: gone)
        self.containers: dict[str, Container | None] = {}
        self.networks: dict[str, list[dict[str, Any]]] | None = None  # by label, "" for the supervisor's
        self.volumes: dict[str, list[dict[str, Any]]] | None = None
        self.images: dict[str, dict[str, Any] | None] = {}

    def copy(self) -> _State:
        """A copy to change: readers keep the state they were given whole (copy on write)."""
        new = _State()
        new.ids, new.attrs, new.containers = self.ids, dict(self.attrs), self.containers
        new.networks, new.volumes, new.images = self.networks, self.volumes, self.images
        return new


class StateCache:
    """Supervised containers, app networks and volumes and image inspects, from memory when live."""

    def __init__(self, engine: Any, busy: Callable[[], bool] = lambda: False,
                 image_inspect: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self.engine = engine
        self.busy = busy
        self.image_inspect = image_inspect
        self._state = _State()
        self._version = 0
        self._live = False
        self._lock = threading.Lock()  # the state and the version
        self._fetching = threading.Lock()  # one fetch at a time: concurrent readers then find it clean
        self._closing = threading.Event()
        self._starting = threading.Lock()  # start, close and the thread's birth
        self._armed = False
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self.fills = 0  # streams opened (tests and the bench read it)

    # ---- life ----

    def start(self, now: bool = False) -> None:
        """Allow following the engine: the stream is opened (and the cache filled, in a daemon
        thread that reconnects until close()) at the first read, or `now`. Until a read needs it,
        an agent that nobody asks about its apps loads no docker SDK and holds no connection."""
        with self._starting:
            self._armed = True
            self._closing.clear()
        if now:
            self._follow_engine()

    def _follow_engine(self) -> None:
        with self._starting:
            if self._thread is not None or not self._armed:
                return
            self._thread = threading.Thread(target=self._run, name="engine-events", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop following the engine; reads go direct from now on."""
        with self._starting:
            self._armed = False
            self._closing.set()
            thread, self._thread = self._thread, None
        self.break_stream()
        if thread is not None:
            thread.join(5)

    def break_stream(self) -> None:
        """Close the event stream (as an engine going away does); the thread opens it again."""
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # already closed or broken: the same outcome
                stream.close()

    @property
    def live(self) -> bool:
        """True while the stream is up: reads may answer from memory."""
        return self._live

    def invalidate(self) -> None:
        """Forget everything (an agent write finished): the next read fills again."""
        with self._lock:
            self._version += 1
            self._state = _State()

    # ---- reads ----

    def current(self) -> Current:
        """The same Current as read_current gives, from memory when live."""
        if not self._usable():
            return self.engine.call(read_current)  # type: ignore[no-any-return]
        state = self._fresh()
        networks = state.networks or {}
        volumes = state.volumes or {}
        found = [state.containers[i] for i in state.ids or [] if state.containers.get(i) is not None]
        return assemble([c for c in found if c is not None], [networks.get(k, []) for k in SUPERVISED],
                        [volumes.get(k, []) for k in SUPERVISED], networks.get("", []))

    def supervised(self) -> list[dict[str, Any]]:
        """inspect_supervised's answer (every supervised container's inspect, engine order)."""
        if not self._usable():
            from handlers.engine.apps import inspect_supervised

            return self.engine.call(inspect_supervised)  # type: ignore[no-any-return]
        state = self._fresh()
        return [a for a in (state.attrs.get(i) for i in state.ids or []) if a is not None]

    def image(self, name: str) -> dict[str, Any] | None:
        """Images.inspect(name) (None when absent), remembered until an image event."""
        inspect = self.image_inspect
        if inspect is None:
            raise RuntimeError("no image inspect given")
        if not self._usable():
            return inspect(name)
        with self._lock:
            if name in self._state.images:
                return self._state.images[name]
            version = self._version
        found = inspect(name)
        with self._lock:
            if version == self._version:
                self._state.images[name] = found
        return found

    def _usable(self) -> bool:
        if self._thread is None and self._armed:
            self._follow_engine()  # the first read: this one goes direct, the next ones need not
        return self._live and not self.busy()

    def _fresh(self) -> _State:
        """The state with nothing dirty: what is missing is read from the engine first."""
        state = self._state
        if _complete(state):
            return state
        with self._fetching:
            with self._lock:
                state, version = self._state, self._version
                if _complete(state):
                    return state
                ids, attrs = state.ids, dict(state.attrs)
                networks, volumes = state.networks, state.volumes
            fetched = self.engine.call(lambda c: _fetch(c, ids, attrs, networks, volumes))
            ids, attrs, networks, volumes = fetched
            read = _State()
            read.ids, read.attrs, read.networks, read.volumes = ids, attrs, networks, volumes
            read.containers = {i: state.containers[i] if i in state.containers and state.attrs.get(i) is a
                               else (container_from(a) if a is not None else None) for i, a in attrs.items()}
            with self._lock:
                if version == self._version:
                    read.images = self._state.images
                    self._state = read
            return read

    # ---- the stream ----

    def _run(self) -> None:
        wait = 0.05
        while not self._closing.is_set():
            try:
                client = self.engine.connect(timeout=None)
            except Exception as err:  # noqa: BLE001 - no engine yet: try again
                log.debug("engine events: cannot connect: %s", err)
                self._closing.wait(wait)
                wait = min(RETRY, wait * 2)
                continue
            try:
                # `since` a second back: dockerd answers before it subscribes, so replay that gap
                self._stream = client.api.events(since=int(time.time()) - 1, filters={"type": TYPES},
                                                 decode=True)
                if self._closing.is_set():  # close() came while subscribing: it saw no stream
                    self.break_stream()
                    client.close()
                    return
            except Exception as err:  # noqa: BLE001
                log.debug("engine events: cannot subscribe: %s", err)
                client.close()
                self._closing.wait(wait)
                wait = min(RETRY, wait * 2)
                continue
            wait = 0.05
            self.fills += 1
            self._follow(client)

    def _follow(self, client: Any) -> None:
        self.invalidate()
        with self._lock:
            self._live = True
        try:
            try:
                self._fresh()  # the fill: the first request finds it ready
            except Exception as err:  # noqa: BLE001 - reads fill it on demand instead
                log.debug("engine state not filled: %s", err)
            for event in self._stream:
                self.event(event)
        except Exception as err:  # noqa: BLE001 - a broken stream: drop everything, reconnect
            log.debug("engine events stream broke: %s", err)
        finally:
            with self._lock:
                self._live = False
            self.invalidate()
            self._stream = None
            with contextlib.suppress(Exception):
                client.close()
        if not self._closing.is_set():
            log.info("engine events stream ended: reads go to the engine until it is back")

    def event(self, event: dict[str, Any]) -> None:
        """Apply one decoded engine event to the cache."""
        kind = event.get("Type")
        action = str(event.get("Action") or event.get("status") or "")
        actor = event.get("Actor") or {}
        target = str(actor.get("ID") or event.get("id") or "")
        if kind == "container" and (action.startswith("exec_") or action in QUIET):
            return
        if kind not in TYPES:
            return
        with self._lock:
            self._version += 1
            state = self._state = self._state.copy()
            if kind == "container":
                if action in LISTED:
                    state.ids = None
                state.attrs.pop(target, None)
            elif kind == "network":
                state.networks = None
                container = (actor.get("Attributes") or {}).get("container")
                if container:
                    state.attrs.pop(container, None)
            elif kind == "volume":
                state.volumes = None
            else:
                state.images = {}


def _complete(state: _State) -> bool:
    return (state.ids is not None and state.networks is not None and state.volumes is not None
            and all(i in state.attrs for i in state.ids))


def _fetch(client: Any, ids: list[str] | None, attrs: dict[str, dict[str, Any] | None],
           networks: dict[str, list[dict[str, Any]]] | None,
           volumes: dict[str, list[dict[str, Any]]] | None) -> tuple[Any, ...]:
    """What is missing from the engine (runs inside Engine.call): ids, dirty inspects, lists."""
    ids = listing(client) if ids is None else ids
    attrs = {i: attrs[i] if i in attrs else inspect_or_none(client, i) for i in ids}
    if networks is None:
        networks = {key: list(client.api.networks(filters={"label": key})) for key in SUPERVISED}
        networks[""] = list(client.api.networks(names=[SUPERVISOR_NETWORK]))
    if volumes is None:
        volumes = {key: list(client.api.volumes(filters={"label": key}).get("Volumes") or [])
                   for key in SUPERVISED}
    return ids, attrs, networks, volumes
