"""The self-update's parts without a server or a bus: the unit from /proc/self/cgroup, the
manifest's entries, and the start-time clean-up of files in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.host.bus import Bus
from handlers.host.release import ReleaseError, latest, release
from handlers.host.selfupdate import SelfUpdate, own_unit

SHA = "ab" * 32


@pytest.mark.parametrize("cgroup, unit", [
    ("0::/system.slice/polyvisor.service\n", "polyvisor.service"),
    ("12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/balena-agent.service\n0::/\n",
     "balena-agent.service"),
    ("0::/system.slice/polyvisor.service/payload\n", "polyvisor.service"),  # a delegated sub-cgroup
    ("0::/user.slice/user-0.slice/session-3.scope\n", None),
    ("0::/docker/0123abcd\n", None),
    ("", None),
])
def test_own_unit(cgroup: str, unit: str | None) -> None:
    assert own_unit(cgroup) == unit


def manifest(item: object) -> dict[str, object]:
    return {"latest": "0.2.0", "versions": {"0.2.0": {"amd64": item}}}


def test_release_resolves_a_relative_url() -> None:
    found = release(manifest({"url": "bin/p", "sha256": SHA.upper(), "size": 10}),
                    "http://h/r/manifest.json", "0.2.0", "amd64")
    assert (found.url, found.sha256, found.size) == ("http://h/r/bin/p", SHA, 10)


@pytest.mark.parametrize("item", [
    {"url": "p", "sha256": "12", "size": 10},  # not a SHA-256
    {"url": "p", "sha256": SHA, "size": 0},
    {"url": "p", "sha256": SHA, "size": True},
    {"url": "p", "sha256": SHA, "size": 2 * 1024 ** 3},
    {"url": "file:///etc/shadow", "sha256": SHA, "size": 10},  # http(s) only
    {"sha256": SHA, "size": 10},
    "p",
])
def test_release_refuses_malformed_entries(item: object) -> None:
    with pytest.raises(ReleaseError):
        release(manifest(item), "http://h/manifest.json", "0.2.0", "amd64")


def test_release_of_an_unlisted_version_or_arch() -> None:
    good = manifest({"url": "p", "sha256": SHA, "size": 1})
    for version, arch in (("0.3.0", "amd64"), ("0.2.0", "aarch64")):
        with pytest.raises(ReleaseError, match="lists no"):
            release(good, "http://h/manifest.json", version, arch)


@pytest.mark.parametrize("value, expected", [("0.2.0", "0.2.0"), (3, "3"), ("", None), (None, None), ([1], None)])
def test_latest(value: object, expected: str | None) -> None:
    assert latest({"latest": value, "versions": {}}) == expected


def test_start_removes_what_an_update_killed_before_its_state_file_left(tmp_path: Path) -> None:
    binary = tmp_path / "bin/polyvisor"
    binary.parent.mkdir()
    binary.write_bytes(b"old")
    for name in ("polyvisor.new", "polyvisor.previous.new"):
        (binary.parent / name).write_bytes(b"partial")
    (tmp_path / "data/selfupdate").mkdir(parents=True)
    (tmp_path / "data/selfupdate/0.2.0.download").write_bytes(b"partial")
    SelfUpdate(tmp_path / "data", Bus("unix:path=/nonexistent"), None, "0.1.0", binary=binary).started()
    assert [p.name for p in binary.parent.iterdir()] == ["polyvisor"] and binary.read_bytes() == b"old"
    assert list((tmp_path / "data").iterdir()) == []


def test_unreadable_state_is_removed(tmp_path: Path) -> None:
    (tmp_path / "selfupdate.json").write_text('{"version": 1')  # damaged: our writes are atomic, disks are not
    update = SelfUpdate(tmp_path, Bus("unix:path=/nonexistent"), None, "0.1.0", binary=tmp_path / "p")
    assert update.read_state() is None and not (tmp_path / "selfupdate.json").exists()
    assert update.guard(poll=0.01) == 0
