"""The apply loop (balena-v2.md 3.1): infer steps, run them, repeat until the engine is the target.

One thread owns the loop. trigger() wakes it (new target, /v1/update, API actions); it also
looks again every poll interval, so a container removed or an engine restarted behind its back
is put right. Steps of one iteration run concurrently on a small pool; lock-taking steps of an
app run inside that app's update lock. An iteration is followed at once by the next (which reads
what it did) unless it only waited, repeated the last one or an API action waits for the loop
(pacing.py). Each iteration reads the engine once: one inspect per container, one image list for
every service's image. Errors back off min(2^n x 500 ms, poll interval).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from handlers.docker import Engine
from handlers.engine.compose import SUPERVISOR_NETWORK, DeviceInfo, image_name, named_volumes, strategy
from handlers.engine.compose_compare import discarded, prepared
from handlers.engine.current import Current, read_current
from handlers.engine.device import UpdateFlags
from handlers.engine.executor import Executor
from handlers.engine.images import Images, backoff
from handlers.engine.local_mode import LocalModeSwitch
from handlers.engine.locks import Locks
from handlers.engine.pacing import Pacing, pretty_delay
from handlers.engine.recreate_guard import RecreateGuard
from handlers.engine.steps import LOCKED, Facts, Step, Wanted, WantedApp, infer
from handlers.engine.target import Target, config_value
from handlers.engine.target_store import Targets
from handlers.errors import EngineUnavailable, UpdatesLocked
from handlers.store import Store

log = logging.getLogger("polyvisor.reconciler")

WORKERS = 16       # steps of one iteration running at once (creates and starts of independent services)


class Reconciler:
    """Makes the engine run the stored target; the single writer of supervised docker objects."""

    def __init__(self, engine: Engine, store: Store, targets: Targets, images: Images, locks: Locks,
                 logs: Any, device_info: Callable[[], DeviceInfo], flags: UpdateFlags,
                 managed: bool, stopped: set[tuple[int, str]] | None = None) -> None:
        self.engine = engine
        self.store = store
        self.targets = targets
        self.images = images
        self.locks = locks
        self.logs = logs
        self.device_info = device_info
        self.flags = flags
        self.managed = managed
        # volatile `running` overrides: (appId, serviceName) stopped through the API (shared with v1 actions)
        self.stopped: set[tuple[int, str]] = stopped if stopped is not None else set()
        self.started: set[str] = set()
        self.status: dict[str, str] = {}       # container id -> Stopping/Starting/... while a step runs
        self.installing: dict[tuple[int, int], str] = {}  # (appId, imageId) -> status before a container exists
        self.applying = False
        self.writers = 0  # API actions and step runs under way (the state cache answers direct meanwhile)
        self.changed: Callable[[], None] = lambda: None  # called when a write to the engine finishes
        self.failures = 0
        self.guard = RecreateGuard()
        self._dropped: tuple[Any, frozenset[str]] = (None, frozenset())  # (client, what its engine discards)
        # the legacy healthcheck's clocks (device-state.coffee healthcheck, application-manager fetch)
        self.apply_started = time.monotonic()
        self.fetches = 0
        self.fetch_seconds = 0.0
        self._wake = threading.Event()
        self._force = False
        self._delay_until = 0.0
        self._iteration = threading.RLock()
        self._count = threading.Lock()
        self._waiters = 0  # API actions waiting for the loop to pause
        self._waiters_lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.executor = Executor(self)
        self.local_switch = LocalModeSwitch(engine, store)

    # ---- configuration read from the stored target ----

    def device_config(self) -> dict[str, str]:
        """The stored target device config."""
        return self.targets.device_config()

    def local_mode(self) -> bool:
        """Unmanaged devices are always in local mode; managed ones when the config says so."""
        return not self.managed or bool(config_value(self.device_config(), "SUPERVISOR_LOCAL_MODE"))

    def poll_seconds(self) -> float:
        """SUPERVISOR_POLL_INTERVAL in seconds (at least 1)."""
        return max(1.0, config_value(self.device_config(), "SUPERVISOR_POLL_INTERVAL") / 1000)

    def lock_override(self) -> bool:
        """SUPERVISOR_OVERRIDE_LOCK."""
        return bool(config_value(self.device_config(), "SUPERVISOR_OVERRIDE_LOCK"))

    def source(self) -> str:
        """Which stored target is applied: the local one in local mode, else the URL's."""
        return Targets.LOCAL if self.local_mode() else "url"

    # ---- control ----

    def start(self) -> None:
        """Start the loop thread; the stored target is applied at once (the legacy `initial` apply)."""
        if self._thread is not None:
            return
        self.release_stale_locks()
        if self.managed and not self.local_mode():
            self._switch_local_mode(False)  # left local mode while stopped, or died in the middle
        self._closing.clear()
        # the initial apply is under way from here (triggerApplyTarget set applyInProgress at
        # once): the status says `applying` until the loop has compared the engine with the target
        self.applying = True
        self.apply_started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="step")
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self._thread.start()
        self.trigger()

    def close(self) -> None:
        """Stop the loop (a running step finishes first) and the pool."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def trigger(self, force: bool = False, from_api: bool = True) -> None:
        """Apply now (an API trigger cancels a pending back-off delay)."""
        self._force = self._force or force
        if from_api:
            self._delay_until = 0.0
        self._wake.set()

    def set_target(self, target: Target, source: str, force: bool = False) -> None:
        """Store a validated target (one transaction), drop volatile overrides, apply it. On a managed
        device a change of SUPERVISOR_LOCAL_MODE enters or leaves local mode first."""
        with self.paused():
            was_local = self.local_mode()
            self.targets.save(target, source)
            self.stopped.clear()
            self.failures = 0
            if self.managed and self.local_mode() != was_local:
                self._switch_local_mode(self.local_mode())
        self.trigger(force)

    def _switch_local_mode(self, local: bool) -> None:
        """local-mode.ts handleLocalModeStateChange; a failure is logged, never fatal."""
        try:
            with self.writing():
                self._switch(local)
        except Exception as err:  # noqa: BLE001 - the engine may be down; the apply goes on
            log.error("problems managing engine state on local mode switch (local mode: %s): %s", local, err)

    def _switch(self, local: bool) -> None:
        if local:
            self.local_switch.enter()
        else:
            self.local_switch.leave(lambda: self.targets.drop(Targets.LOCAL))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the loop between iterations (API actions run here). The loop, which otherwise goes
        from one iteration to the next at once, pauses while someone waits here."""
        with self._waiters_lock:
            self._waiters += 1
        try:
            self._iteration.acquire()
        finally:
            with self._waiters_lock:
                self._waiters -= 1
        try:
            with self.writing():
                yield
        finally:
            self._iteration.release()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Mark a write to the engine under way; `changed` is called when it ends."""
        with self._count:
            self.writers += 1
        try:
            yield
        finally:
            with self._count:
                self.writers -= 1
            self.changed()

    def busy(self) -> bool:
        """An apply or an API action is under way: reads of the engine must not come from memory."""
        return self.applying or self.writers > 0

    @contextmanager
    def fetching(self) -> Iterator[None]:
        """Count an image pull and its time: pulls are what may make an apply cycle long."""
        started = time.monotonic()
        self.fetches += 1
        try:
            yield
        finally:
            self.fetches -= 1
            self.fetch_seconds += time.monotonic() - started

    def apply_healthy(self) -> bool:
        """The legacy rule: an unmanaged device, no apply under way, a pull under way, or the
        current apply cycle (minus its pulls) younger than two poll intervals."""
        cycle = time.monotonic() - self.apply_started - self.fetch_seconds
        return not self.managed or not self.applying or self.fetches > 0 or cycle < 2 * self.poll_seconds()

    # ---- the loop ----

    def _loop(self) -> None:
        while not self._closing.is_set():
            wait = self.poll_seconds() if not self.applying else max(0.0, self._delay_until - time.monotonic())
            self._wake.wait(wait)
            self._wake.clear()
            if self._closing.is_set():
                return
            if time.monotonic() < self._delay_until:
                continue
            self.applying = True
            self.apply_started = time.monotonic()
            force, self._force = self._force, False
            try:
                self._apply(force)
            except Exception as err:  # noqa: BLE001 - the loop outlives any failure, retried with back-off
                self._failed(err)
                continue
            self.applying = False
            self.failures = 0

    def _apply(self, force: bool) -> None:
        pacing = Pacing()
        while not self._closing.is_set():
            with self._iteration:
                steps = self.next_steps()
                if not steps:
                    self.flags.pending = self.flags.downloaded = self.flags.failed = False
                    self.fetch_seconds = 0.0
                    return
                self.flags.pending = True
                self.flags.downloaded = not any(s.action == "fetch" or (s.action == "noop" and s.target is not None
                                                and s.target.image_docker_id is None) for s in steps)
                self.run_steps(steps, force or self.lock_override())
            pause = pacing.after(steps, self._waiters > 0)
            if self._wake.wait(pause):
                self._wake.clear()
                force = force or self._force
                self._force = False

    def _failed(self, err: Exception) -> None:
        self.failures += 1
        self.flags.failed = True
        delay = backoff(self.failures, self.poll_seconds())
        self._delay_until = time.monotonic() + delay
        if isinstance(err, UpdatesLocked):
            self.logs.system(f"Updates are locked, retrying in {pretty_delay(delay)}...")
        elif isinstance(err, EngineUnavailable):
            log.warning("engine unavailable, retrying in %s: %s", pretty_delay(delay), err)
        else:
            # the engine's own refusal (an API error with its message) is an answer, not a bug: one line
            answered = isinstance(err, RuntimeError) or hasattr(err, "explanation")
            log.warning("apply failed (%s), retrying in %s", err, pretty_delay(delay), exc_info=not answered)
        self._wake.set()  # come back to the loop, which waits out the delay

    # ---- one iteration ----

    def read_current(self) -> Current:
        """The engine's current state."""
        return self.engine.call(read_current)

    def engine_drops(self) -> frozenset[str]:
        """The limits the connected engine discards for want of kernel support (asked once per
        connection: a restarted engine may run on another kernel)."""
        client = self.engine.client()
        if self._dropped[0] is not client:
            self._dropped = (client, discarded(self.engine.call(lambda c: c.info())))
        return self._dropped[1]

    def wanted(self, apps: dict[int, Any] | None = None,
               image: Callable[[str], dict[str, Any] | None] | None = None) -> dict[int, WantedApp]:
        """The stored target (or `apps`) prepared for comparison with the engine (`image`: the
        iteration's Images.lookup)."""
        device = self.device_info()
        apps = self.targets.apps(self.source()) if apps is None else apps
        image = image or self.images.lookup(self.images.listed())
        images: dict[str, dict[str, Any] | None] = {}
        found: dict[int, WantedApp] = {}
        for app in apps.values():
            networks = dict(app.networks)
            networks.setdefault("default", {})
            volumes = dict(app.volumes)
            services = []
            for service in app.services:
                name = image_name(service["image"])
                if name not in images:
                    images[name] = image(name)
                inspected = images[name]
                image_id = str(inspected["Id"]) if inspected else None
                config, extra, form = prepared(service, app.name, device, inspected, self.engine_drops())
                for volume in named_volumes(service):
                    volumes.setdefault(volume, {})
                running = bool(service.get("running", True)) and \
                    (app.app_id, service["serviceName"]) not in self.stopped
                services.append(Wanted(app.app_id, app.name, service, config, form, name, image_id, extra,
                                       strategy(service), running, SUPERVISOR_NETWORK in extra))
            found[app.app_id] = WantedApp(app.app_id, app.name, app.commit, services, networks, volumes)
        return found

    def facts(self, listed: list[dict[str, Any]] | None = None) -> Facts:
        """Volatile knowledge the inference uses; the engine's images (`listed`: the iteration's
        image list) are surveyed for housekeeping only on a managed device outside local mode with
        no download running (as legacy)."""
        facts = Facts(downloading=set(self.images.downloading),
                      waiting_retry={n for n in self.images.failed() if self.images.waiting(n)},
                      started=set(self.started),
                      stopping={cid for cid, s in self.status.items() if s == "Stopping"},
                      current_commit=self.store.get("current_commit"), local_mode=self.local_mode(),
                      guard=self.guard)
        if not facts.local_mode and not facts.downloading:
            facts.housekeeping = True
            facts.available, facts.dangling = self.images.survey(listed)
        return facts

    def next_steps(self) -> list[Step]:
        """The steps of the next iteration; none until a target was ever set (a new agent on a device
        keeps what runs there, to adopt it, instead of applying an empty target)."""
        if self.store.get("target_state_set") != "true":
            return []
        current = self.read_current()
        listed = self.images.listed()  # one image list for the target's images and the housekeeping
        return infer(current, self.wanted(image=self.images.lookup(listed)), self.facts(listed))

    def run_steps(self, steps: list[Step], force: bool) -> None:
        """Run the steps concurrently; lock-taking ones inside their app's update lock."""
        with self.writing():
            self._run_steps(steps, force)

    def _run_steps(self, steps: list[Step], force: bool) -> None:
        pool = self._pool or ThreadPoolExecutor(max_workers=WORKERS)
        by_app: dict[int, list[Step]] = {}
        free: list[Step] = []
        for step in steps:
            if step.action == "noop":
                continue
            (by_app.setdefault(step.app_id, []) if step.action in LOCKED else free).append(step)
        futures = [pool.submit(self.executor.run, s) for s in free]
        for app_id, locked in by_app.items():
            futures.append(pool.submit(self._locked, app_id, locked, force, pool))
        errors = [f.exception() for f in futures]
        if pool is not self._pool:
            pool.shutdown()
        for err in errors:
            if err is not None:
                raise err

    def update_lock(self, app_id: int, force: bool) -> Any:
        """The app's update lock (journaled by Locks, so a kill -9 leaves no stale files)."""
        return self.locks.hold(app_id, force)

    def release_stale_locks(self) -> None:
        """Remove the lock files a previous run of the agent held when it died."""
        self.locks.release_stale()

    def _locked(self, app_id: int, steps: list[Step], force: bool, pool: ThreadPoolExecutor) -> None:
        with self.update_lock(app_id, force):
            inner = ThreadPoolExecutor(max_workers=max(1, min(len(steps), WORKERS)))
            try:
                errors = [f.exception() for f in [inner.submit(self.executor.run, s) for s in steps]]
            finally:
                inner.shutdown()
        for err in errors:
            if err is not None:
                raise err

    def apply_now(self, force: bool = False, timeout: float = 120.0) -> None:
        """Run the loop's work in the caller's thread until converged (tests, CLI); errors raise."""
        end = time.monotonic() + timeout
        pacing = Pacing()
        while time.monotonic() < end:
            with self._iteration:
                steps = self.next_steps()
                if not steps:
                    return
                self.run_steps(steps, force or self.lock_override())
            pause = pacing.after(steps, self._waiters > 0)
            time.sleep(pause)
        raise TimeoutError("target not reached")

