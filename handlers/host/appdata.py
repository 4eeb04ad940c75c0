"""The per-application data folders of the resin era (<data path>/<appId>, the apps' /data).

The resin Go helper's purge (gosuper/gosuper/api.go PurgeHandler, 2016) deleted one of them
and made it again, empty; the node supervisor had stopped the app first.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from handlers.errors import InvalidInput, NotFound, PolyvisorError
from handlers.host.hostfs import HostFS

UINT_MAX = 2**64 - 1  # strconv.ParseUint(id, 10, 0) on a 64-bit build


class DataFolderError(PolyvisorError):
    """A file-system call on a data folder failed: `<op> <path>: <reason>`."""

    def __init__(self, op: str, path: Path, err: OSError) -> None:
        reason = err.strerror or str(err)
        super().__init__(f"{op} {path}: {reason[:1].lower()}{reason[1:]}")


def valid_app_id(app_id: str) -> bool:
    """An unsigned decimal integer: ASCII digits only, at most 2^64-1 (no sign, no spaces; more
    than 20 digits is out of range before int() is asked, which refuses 4300)."""
    return app_id.isascii() and app_id.isdigit() and len(app_id) <= 20 and int(app_id) <= UINT_MAX


class AppData:
    """The data folders under --root (default /resin-data, the legacy RESIN_DATA_PATH)."""

    def __init__(self, hostfs: HostFS, data_path: str = "/resin-data") -> None:
        self.root = hostfs.path(data_path)

    def folder(self, app_id: str) -> Path:
        """The app's folder; InvalidInput unless the id is an unsigned decimal integer."""
        if not valid_app_id(app_id):
            raise InvalidInput(f"Invalid applicationId '{app_id}'")
        return self.root / app_id

    def purge(self, app_id: str) -> None:
        """Delete the app's folder with everything in it (dotfiles, lock files) and make it again.

        NotFound when it does not exist (a symlink to nothing counts as absent). A symlink is
        removed itself, never what it points to, as Go's os.RemoveAll did; shutil.rmtree does not
        follow symlinks inside the folder either, so nothing outside the data root is touched.
        """
        path = self.folder(app_id)
        try:
            os.stat(path)
        except FileNotFoundError as err:
            raise NotFound(f"Invalid applicationId '{app_id}': Directory does not exist") from err
        except OSError as err:
            raise DataFolderError("stat", path, err) from err
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:  # a symlink (to a folder anywhere) or a plain file: only the entry goes
                path.unlink()
        except OSError as err:
            raise DataFolderError("remove", Path(err.filename or path), err) from err
        try:
            path.mkdir(0o755)
        except OSError as err:
            raise DataFolderError("mkdir", path, err) from err
