"""handlers/homeassistant/process.py: the agent's log ring and its cgroup memory limit."""

from __future__ import annotations

import logging
from pathlib import Path

import psutil
import pytest

from handlers.homeassistant.process import LogRing, OwnProcess


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("polyvisor.x", logging.INFO, __file__, 1, message, args, None)


def test_the_ring_keeps_the_last_lines_counting_each_line_of_a_record() -> None:
    ring = LogRing(lines=5)
    for number in range(4):
        ring.handle(record("line %d", number))
    ring.handle(record("first\nsecond"))
    ring.handle(record("last"))
    lines = ring.text().decode().splitlines()
    assert ring.text().endswith(b"\n") and len(lines) == 5
    assert lines[0].endswith(" INFO polyvisor.x: line 2") and lines[1].endswith(" INFO polyvisor.x: line 3")
    assert lines[2].endswith(" INFO polyvisor.x: first") and lines[3] == "second"  # as docker split them
    assert lines[4].endswith(" INFO polyvisor.x: last")


def test_an_empty_ring_is_empty() -> None:
    assert LogRing().text() == b""


def own_memory_cgroup(root: Path, limit: str) -> None:
    """Write `limit` where OwnProcess looks for this process's memory limit under `root`."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":
            target = root / "memory" / path.lstrip("/") / "memory.limit_in_bytes"
        elif controllers == "":
            target = root / path.lstrip("/") / "memory.max"
        else:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(limit + "\n")


@pytest.mark.parametrize("limit, expected", [
    ("1048576", 1048576), ("max", None), (str(2 ** 63 - 4096), None),
])
def test_memory_limit_from_the_cgroup(tmp_path: Path, limit: str, expected: int | None) -> None:
    own_memory_cgroup(tmp_path, limit)
    assert OwnProcess(tmp_path).memory_limit() == (expected or psutil.virtual_memory().total)


def test_memory_limit_without_cgroup_files_is_the_machines(tmp_path: Path) -> None:
    assert OwnProcess(tmp_path).memory_limit() == psutil.virtual_memory().total
