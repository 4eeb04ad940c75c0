"""The socket files the agent listens on (`unix:/path`): checked before binding, removed at exit.

The socket is made by bind(2) with the process umask, as Go's net.Listen("unix") made the
resin helper's: 0777 &^ umask (srwxr-xr-x under the usual 022, so only its owner, root, may
connect). Go never removed an old socket file and failed to start over one; here an old socket
nobody answers on is removed, while anything else at the path is refused.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path


class SocketPathError(OSError):
    """The path cannot take our socket; the message says why."""


def prepare(path: Path) -> None:
    """Make `path` ready for bind: its folder must exist; a stale socket file is removed; a file,
    a folder or a socket another process answers on is refused (SocketPathError)."""
    if not path.parent.is_dir():
        raise SocketPathError(f"cannot listen on unix:{path}: the folder {path.parent} does not exist")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a symlink" if stat.S_ISLNK(mode) else "not a socket"
        raise SocketPathError(f"refusing to listen on unix:{path}: it exists and is {kind}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # left by a process that is gone
            return
        except OSError as err:
            raise SocketPathError(f"cannot check unix:{path}: {err}") from err
    raise SocketPathError(f"refusing to listen on unix:{path}: another process answers there")


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the socket at `path`, or None when there is none."""
    try:
        info = path.lstat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISSOCK(info.st_mode) else None


def remove(path: Path, made: tuple[int, int] | None) -> None:
    """Remove the socket file we made (`made` from identity() after binding), not a newer one."""
    if made is not None and identity(path) == made:
        os.unlink(path)
