"""Update locks: the supervisor's file semantics on a real folder tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.engine.locks import Locks
from handlers.errors import UpdatesLocked
from handlers.host.hostfs import HostFS


@pytest.fixture
def locks(tmp_path: Path) -> Locks:
    return Locks(HostFS(tmp_path))


def service_dir(locks: Locks, app_id: int = 1, name: str = "main") -> Path:
    path = locks.service_dir(app_id, name)
    path.mkdir(parents=True)
    return path


def test_takes_and_releases_both_files(locks: Locks) -> None:
    folder = service_dir(locks)
    with locks.hold(1):
        assert (folder / "updates.lock").exists() and (folder / "resin-updates.lock").exists()
    assert list(folder.iterdir()) == []


def test_an_app_lock_refuses_with_node_message(locks: Locks, tmp_path: Path) -> None:
    folder = service_dir(locks)
    other = service_dir(locks, name="aaa")  # sorted first: taken, then released on failure
    (folder / "updates.lock").touch()
    with pytest.raises(UpdatesLocked) as info:
        with locks.hold(1):
            pytest.fail("must not run")
    # the path as the supervisor container saw it, the host's root at /mnt/root
    path = "/mnt/root/tmp/balena-supervisor/services/1/main/updates.lock"
    assert str(info.value) == f"Updates are locked: EEXIST: file already exists, open '{path}'"
    assert (folder / "updates.lock").exists()  # the app's own lock stays
    assert list(other.iterdir()) == []  # what we took is released


def test_resin_lock_file_counts_too(locks: Locks) -> None:
    (service_dir(locks) / "resin-updates.lock").touch()
    assert locks.is_locked(1)
    with pytest.raises(UpdatesLocked):
        with locks.hold(1):
            pass


def test_force_breaks_the_app_lock(locks: Locks) -> None:
    folder = service_dir(locks)
    (folder / "updates.lock").write_text("held")
    with locks.hold(1, force=True):
        assert (folder / "updates.lock").read_text() == ""
    assert not (folder / "updates.lock").exists()


def test_missing_folders_mean_no_lock(locks: Locks) -> None:
    with locks.hold([5, 6]):
        pass
    assert not locks.is_locked(5)


def test_service_names_cannot_leave_the_folder(locks: Locks) -> None:
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            locks.service_dir(1, bad)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    from handlers.store import Store

    store = Store(tmp_path / "data")
    store.open()
    locks = Locks(HostFS(tmp_path), store)
    folder = locks.service_dir(1, "main")
    folder.mkdir(parents=True)
    users = locks.service_dir(2, "main")
    users.mkdir(parents=True)
    (users / "updates.lock").touch()  # the app's own lock, taken before
    holding = locks.hold([1])
    holding.__enter__()  # the agent is killed -9 inside the block: no __exit__
    assert (folder / "updates.lock").exists()
    restarted = Locks(HostFS(tmp_path), store)
    restarted.release_stale()
    assert list(folder.iterdir()) == []
    assert (users / "updates.lock").exists()  # an application's lock is never removed
    with restarted.hold(1):
        pass


def test_a_stray_file_in_the_app_folder_counts_as_a_lock(locks: Locks, tmp_path: Path) -> None:
    """The legacy took every entry of the folder as a service: <file>/updates.lock is ENOTDIR."""
    service_dir(locks)
    (locks.app_dir(1) / "notes.txt").write_text("x")
    with pytest.raises(UpdatesLocked) as info:
        with locks.hold(1):
            pytest.fail("must not run")
    assert str(info.value) == ("Updates are locked: ENOTDIR: not a directory, open "
                               "'/mnt/root/tmp/balena-supervisor/services/1/notes.txt/updates.lock'")
