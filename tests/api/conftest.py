"""Fixtures of the API tests: in-process agents under TestClient, no engine, no bus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.api.support import Agent, Agents


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    """agents.start(*flags, variant=...) -> Agent; every agent is stopped after the test."""
    with ExitStack() as stack:
        yield Agents(tmp_path, stack)


@pytest.fixture
def api(agents: Agents) -> Agent:
    """An agent serving all four dialects on one port, key testkey_0123456789, prod image."""
    return agents.start()
