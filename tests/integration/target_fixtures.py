"""Fixtures of the target poller's tests (a plugin: `pytest_plugins = ["integration.target_fixtures"]`):
a target server on 127.0.0.1, the agent's real store in a temporary folder, started pollers closed
after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.engine.target_source import TargetSource
from handlers.store import Store
from integration.target_server import Reconciler, Server, serve


@pytest.fixture
def server() -> Iterator[Server]:
    running = serve(Server())
    yield running
    running.shutdown()
    running.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "data")
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def poller() -> Iterator[Callable[..., TargetSource]]:
    """make(url, store, reconciler=None, **kwargs) -> a started TargetSource; all closed after."""
    started: list[TargetSource] = []

    def make(url: str, store: Store, reconciler: Reconciler | None = None, **kwargs: Any) -> TargetSource:
        source = TargetSource(url, reconciler or Reconciler(), store, timeout=5.0, **kwargs)
        source.start()
        started.append(source)
        return source

    yield make
    for source in started:
        source.close()
