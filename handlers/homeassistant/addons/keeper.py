"""The add-on store as the manager keeps it: made on first use, its folders read then, and the
configured repositories that are missing cloned in a thread (138 did both at the supervisor's
start, before its API answered; here at the first use, so an agent whose add-ons nobody uses never
runs git). Calls wait for that first clone up to INITIAL_WAIT seconds, then answer with what is
on disk while it goes on. One set_repositories at a time; a background load yields to a later
explicit one (a POST /supervisor/options meanwhile has the last word)."""

from __future__ import annotations

import functools
import logging
import threading
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("polyvisor.hassio.addons")

INITIAL_WAIT = 60.0  # seconds the first calls wait for the first clone of the repositories


def made_on_first_use(part: Any) -> bool:
    """A function standing in for a part that is made when first needed."""
    return isinstance(part, (types.FunctionType, functools.partial))


class StoreKeeper:
    """The AddonStore (or a function making it) and the supervisor's configured repositories."""

    def __init__(self, store: Any, configured: Callable[[], Iterable[str]] | None) -> None:
        self._store = store
        self._configured = configured
        self._guard = threading.Lock()
        self._repo_lock = threading.Lock()
        self._epoch = 0  # counts the set_repositories calls
        self._initial: threading.Thread | None = None
        self._initial_until = 0.0  # time.monotonic() until which calls wait for it

    def get(self) -> Any:
        """The store, made and loaded now if it was not; waits (bounded) for the first clone."""
        store = self._store
        if made_on_first_use(store):
            with self._guard:
                if made_on_first_use(self._store):
                    made = self._store()
                    self._first_load(made)
                    self._store = made
                store = self._store
        self._settle()
        return store

    def _first_load(self, store: Any) -> None:
        store.load()
        if self._configured is not None:
            self._initial = threading.Thread(target=self.load_repositories, args=(self._epoch,),
                                             name="hassio-addon-repositories", daemon=True)
            self._initial_until = time.monotonic() + INITIAL_WAIT
            self._initial.start()

    def _settle(self) -> None:
        initial = self._initial
        if initial is None or initial is threading.current_thread():
            return
        initial.join(max(0.0, self._initial_until - time.monotonic()))
        if not initial.is_alive():
            self._initial = None

    def load_repositories(self, epoch: int | None = None) -> None:
        """Clone the configured repositories that are missing; skipped when `epoch` is given and
        the repositories were set since."""
        if self._configured is None:
            return
        with self._repo_lock:
            if epoch is not None and epoch != self._epoch:
                return
            self._epoch += 1
            try:
                self.get().set_repositories(list(self._configured()))
            except Exception:  # a background job: logged, never raised into nothing
                log.exception("add-on repositories did not load")

    def set_repositories(self, urls: list[str]) -> Any:
        with self._repo_lock:
            self._epoch += 1
            return self.get().set_repositories(urls)
