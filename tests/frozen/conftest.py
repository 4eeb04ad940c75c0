"""Order of the frozen tests: the aarch64 smoke test runs last of the whole suite.

It waits for the aarch64 build that scripts/test starts beside pytest (minutes under qemu-user);
run last, that build overlaps with every other test instead of holding them up.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move tests/frozen/test_aarch64.py's tests to the end (a stable sort keeps the rest in order)."""
    items.sort(key=lambda item: item.path.name == "test_aarch64.py")
