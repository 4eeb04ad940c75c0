"""Extraction of a snapshot's inner archive that never writes outside its folder.

Every member passes `check` before tarfile writes it (tarfile's extraction-filter hook): absolute
names, `..` components, device and FIFO files, symbolic links whose target is absolute or resolves
outside the folder, hard links to an absolute name or to a file outside it, and names whose real
path (after the links already extracted) leaves the folder are refused, and the whole extraction
fails (tarfile.FilterError). Owners (numeric), modes and times are kept, unlike tarfile's "data"
filter: a snapshot restores add-on and Home Assistant files as they were. A link can resolve
outside only through a link extracted after it (tarfile's own filters share the gap), so every
link is checked again once all members are out.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Checker:
    """The filter for one extraction into `root` (a real path)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.links: list[tarfile.TarInfo] = []

    def __call__(self, member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        name = member.name
        if name.startswith("/") or os.path.isabs(name):
            raise tarfile.AbsolutePathError(member)
        if ".." in PurePosixPath(name).parts:
            raise tarfile.OutsideDestinationError(member, name)
        destination = os.path.realpath(os.path.join(self.root, name))
        if not _inside(destination, self.root):
            raise tarfile.OutsideDestinationError(member, destination)
        if member.ischr() or member.isblk() or member.isfifo() or not (
                member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise tarfile.SpecialFileError(member)
        if member.issym() or member.islnk():
            self._check_link(member)
            self.links.append(member)
        return member

    def _check_link(self, member: tarfile.TarInfo) -> None:
        if os.path.isabs(member.linkname):
            raise tarfile.AbsoluteLinkError(member)
        base = os.path.dirname(member.name) if member.issym() else ""  # hard links name from the root
        target = os.path.realpath(os.path.join(self.root, base, member.linkname))
        if not _inside(target, self.root):
            raise tarfile.LinkOutsideDestinationError(member, target)

    def recheck(self) -> None:
        """Every link again, now that all the links it may pass through exist."""
        for member in self.links:
            self._check_link(member)


def extract(tar: tarfile.TarFile, folder: Path) -> None:
    """All members of `tar` (opened for reading, stream or not) into `folder` (made if missing);
    tarfile.FilterError subclasses for a refused member, TarError/OSError for a broken archive."""
    folder.mkdir(parents=True, exist_ok=True)
    checker = _Checker(os.path.realpath(folder))
    tar.errorlevel = 1  # a failure to write is an error, not a debug message
    tar.extractall(checker.root, numeric_owner=True, filter=checker)
    checker.recheck()
