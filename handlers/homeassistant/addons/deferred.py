"""`Addons` made on first use: the Services field `hassio_addons` of an agent whose add-ons nobody
uses never loads the manager, the store, git or the schemas (the agent's idle memory stays as it
was before add-ons). Attribute access makes the manager; boot() first asks the store whether any
add-on is installed at all, and close() leaves an unmade manager unmade.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.homeassistant.addons.manager import Addons

# installed.py's STORE_KEY, read here without loading that module (tests check they agree)
INSTALLED_KEY = "hassio_addons"


class DeferredAddons:
    """Stands in for an Addons until the first call that needs one."""

    def __init__(self, make: Callable[[], Addons], stored: Callable[[str], str | None]) -> None:
        self._make = make
        self._stored = stored  # the agent's store's get(key)
        self._made: Addons | None = None
        self._lock = threading.Lock()

    def get(self) -> Addons:
        """The manager, made now if it was not."""
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.get(), name)

    def boot(self, stage: str) -> None:
        """Addons.boot, once an add-on is installed (nothing installed: nothing to load)."""
        if self._made is None and not self._stored(INSTALLED_KEY):
            return
        self.get().boot(stage)

    def close(self) -> None:
        if self._made is not None:
            self._made.close()
