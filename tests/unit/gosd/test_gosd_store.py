"""The gosd store on SQLite in a data folder (the shared cases, tests/gosd_store_cases.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gosd_store_cases import *  # the shared cases, collected here

from handlers.gosd.store import GosdStore


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., GosdStore]]:
    """New stores on this test's SQLite file (<data-dir>/gosd.db)."""
    made: list[GosdStore] = []

    def make(**kwargs: int) -> GosdStore:
        made.append(GosdStore.open(None, tmp_path, **kwargs))
        return made[-1]

    yield make
    for store in made:
        store.close()
