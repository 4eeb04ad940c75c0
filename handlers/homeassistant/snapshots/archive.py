"""The snapshot file (hassio.md §4.2, §4.4): an uncompressed tar holding `./snapshot.json` and one
streamed tar.gz per folder and add-on (`./homeassistant.tar.gz`, `./addons_local.tar.gz`,
`./<addon slug>.tar.gz`), each encrypted in securetar's format when the snapshot has a password
(crypto.inner_tar).

Tag 138 wrote the inner archives into a temporary folder and then tarred that folder. Here they
are streamed straight into the outer tar (as securetar's create_inner_tar did), so a snapshot needs its
own size on disk once, not twice; snapshot.json comes last, once the add-ons' sizes are known
(readers look the member up by name). Both levels use the GNU tar format, Python 3.7's default,
as 138 wrote them.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Self

from handlers.homeassistant.snapshots.crypto import inner_tar
from handlers.homeassistant.snapshots.extract import extract
from handlers.homeassistant.snapshots.schema import member_name

SNAPSHOT_JSON = "./snapshot.json"
BUFSIZE = 64 * 1024  # tarfile's stream chunk: a multiple of 16, so only the last write is padded
# Reading an encrypted stream ("r|gz"), tarfile inflates a whole chunk at once and copies what it
# holds at every read: 10 KiB of a sparse file inflate to 10 MiB. Small chunks bound a restore's
# memory (200 MiB with a 10 MiB run of zeros: 53 MiB peak at 10 KiB, 34 MiB at 2 KiB, same time).
READ_BUFSIZE = 2 * 1024


class ArchiveError(Exception):
    """The snapshot file cannot be read: not a tar, truncated, no valid snapshot.json."""


class Writer:
    """A new snapshot file at `path`, written member by member."""

    def __init__(self, path: Path, key: bytes | None) -> None:
        self.path = path
        self.key = key
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> Self:
        self._tar = tarfile.open(name=str(self.path), mode="w:", dereference=False, bufsize=BUFSIZE)
        self._tar.format = tarfile.GNU_FORMAT
        root = tarfile.TarInfo(".")  # 138 tarred its temporary folder as "."
        root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
        self._tar.addfile(root)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tar is not None:
            self._tar.close()

    @contextmanager
    def inner(self, name: str) -> Iterator[tarfile.TarFile]:
        """A tar.gz member `./<name>.tar.gz` to add files to, streamed (encrypted with a key) into
        the outer file; its size is known when it closes."""
        member = member_name(name)
        with self._member(member) as fileobj, inner_tar(Path(member), "w", self.key, fileobj, BUFSIZE) as tar:
            tar.format = tarfile.GNU_FORMAT
            yield tar

    @contextmanager
    def _member(self, name: str) -> Iterator[IO[bytes]]:
        """A member of unknown size written in place: a header now, the data, then the header again
        with the size (securetar's create_inner_tar does the same, but drops the "./" of a name)."""
        tar: Any = self._tar  # TarFile.offset and .members, which typeshed leaves out
        assert tar is not None and tar.fileobj is not None
        fileobj: IO[bytes] = tar.fileobj
        info = tarfile.TarInfo(name)
        info.mode, info.mtime = 0o644, int(time.time())
        start = fileobj.tell()
        header = info.tobuf(tar.format, tar.encoding, tar.errors)
        fileobj.write(header)
        yield fileobj
        end = fileobj.tell()
        info.size = end - start - len(header)
        remainder = info.size % tarfile.BLOCKSIZE
        padding = tarfile.BLOCKSIZE - remainder if remainder else 0
        fileobj.write(tarfile.NUL * padding)
        fileobj.seek(start)
        rewritten = info.tobuf(tar.format, tar.encoding, tar.errors)
        if len(rewritten) != len(header):  # GNU headers of a name this short never grow
            raise tarfile.TarError(f"the header of {name} changed size")
        fileobj.write(rewritten)
        fileobj.seek(end + padding)
        tar.offset = end + padding
        tar.members.append(info)

    def last_size(self) -> int:
        """The bytes of the member written last."""
        tar: Any = self._tar
        return int(tar.members[-1].size)

    def add_folder(self, name: str, folder: Path) -> int:
        """The contents of `folder` as `./<name>.tar.gz` with arcname "." (138's folder archive);
        its size in bytes."""
        with self.inner(name) as tar:
            add_tree(tar, folder, ".")
        return self.last_size()

    def add_addon(self, slug: str, folder: Path) -> int:
        """An add-on's backup folder (addon.json, image.tar, apparmor.txt, data/) as
        `./<slug>.tar.gz`. A top-level `data` that is a symbolic link stands for the add-on's data
        folder and is archived as the folder it names (138 added the data folder as "data")."""
        with self.inner(slug) as tar:
            tar.addfile(tar.gettarinfo(str(folder), arcname="."))
            for entry in sorted(os.listdir(folder)):
                path = folder / entry
                if entry == "data":
                    add_tree(tar, path.resolve() if path.is_symlink() else path, "data")
                else:
                    add_tree(tar, path, f"./{entry}")
        return self.last_size()

    def add_json(self, data: dict[str, Any]) -> None:
        """./snapshot.json (json.dumps with 138's write_json_file defaults: indent 2)."""
        assert self._tar is not None
        body = json.dumps(data, indent=2).encode()
        info = tarfile.TarInfo(SNAPSHOT_JSON)
        info.size, info.mode, info.mtime = len(body), 0o644, int(time.time())
        self._tar.addfile(info, io.BytesIO(body))


def add_tree(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    """tar.add(path, arcname) recursively (links stored as links, sorted as tarfile sorts), skipping
    what vanishes between the listing and the read: a database journal must not fail a snapshot."""
    try:
        info = tar.gettarinfo(str(path), arcname=arcname)
        if info is None:  # a socket: tarfile has no type for it
            return
        if info.isreg():
            with open(path, "rb") as source:
                tar.addfile(info, source)
            return
        if info.isdir():
            tar.addfile(info)
            for entry in sorted(os.listdir(path)):
                add_tree(tar, path / entry, f"{arcname}/{entry}")
            return
    except FileNotFoundError:
        return
    tar.addfile(info)  # links, devices and FIFOs as entries (a restore refuses devices)


def read_json(path: Path) -> Any:
    """The parsed ./snapshot.json of the file at `path`; ArchiveError when it is not a complete
    snapshot (each member's data inside the file and the end-of-archive marker present: an upload
    cut anywhere is refused, where 138 took any tar whose snapshot.json it could read)."""
    try:
        size = path.stat().st_size
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
            end = tar.offset
            found = next((m for m in members if m.name == SNAPSHOT_JSON and m.isreg()), None)
            if found is None:
                raise ArchiveError("no ./snapshot.json")
            if any(m.offset_data + m.size > size for m in members if m.isreg()):
                raise ArchiveError("truncated: a member ends past the end of the file")
            assert tar.fileobj is not None
            tar.fileobj.seek(end)
            if tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
                raise ArchiveError("truncated: no end-of-archive marker")
            stream = tar.extractfile(found)
            assert stream is not None
            raw = stream.read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ArchiveError(f"cannot read {path.name}: {err}") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise ArchiveError(f"snapshot.json of {path.name}: {err}") from None


class Reader:
    """An existing snapshot file, its inner archives extracted on request."""

    def __init__(self, path: Path, key: bytes | None) -> None:
        self.path = path
        self.key = key
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}

    def __enter__(self) -> Self:
        self._tar = tarfile.open(self.path, "r:")
        self._members = {m.name: m for m in self._tar.getmembers() if m.isreg()}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tar is not None:
            self._tar.close()

    def has(self, name: str) -> bool:
        return member_name(name) in self._members

    def extract(self, name: str, folder: Path) -> None:
        """`./<name>.tar.gz` into `folder`, decrypted with the key, through extract.check."""
        assert self._tar is not None
        member = self._members[member_name(name)]
        stream: IO[bytes] | None = self._tar.extractfile(member)
        assert stream is not None
        with inner_tar(Path(member.name), "r", self.key, stream, READ_BUFSIZE) as tar:
            extract(tar, folder)
