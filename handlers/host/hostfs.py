"""The host's files, read and written under a configurable root (`/` in production)."""

from __future__ import annotations

import errno
import os
import shlex
import socket
import tempfile
from pathlib import Path

# libuv's wording, which node put in the supervisor's messages ("EEXIST: file already exists, open '...'")
UV_MESSAGES = {
    errno.EEXIST: "file already exists", errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted", errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device", errno.ENOTDIR: "not a directory",
    errno.EISDIR: "illegal operation on a directory",
}


def uv_error(err: OSError, syscall: str, path: Path | str) -> str:
    """An OSError as node printed it: `CODE: message, syscall 'path'`."""
    code = errno.errorcode.get(err.errno or 0, "EIO")
    message = UV_MESSAGES.get(err.errno or 0, (err.strerror or str(err)).lower())
    return f"{code}: {message}, {syscall} '{path}'"


class HostFS:
    """Resolves host paths such as /etc/os-release under the configured root."""

    def __init__(self, root: Path | str = "/") -> None:
        self.root = Path(root)
        # os-release, kept while its file's (inode, size, mtime) stay: polled routes read it on every request
        self._release: tuple[tuple[str, int, int, int], dict[str, str]] | None = None
        self._paths: list[tuple[str, str]] | None = None

    def path(self, host_path: str) -> Path:
        """The real path of a host path; `..` can never leave the root."""
        parts = [p for p in Path("/", host_path).parts[1:] if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"path escapes the root: {host_path}")
        return self.root.joinpath(*parts)

    def read_text(self, host_path: str, default: str | None = None) -> str | None:
        """The file's text, or default when it cannot be read."""
        try:
            return self.path(host_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return default

    def write_atomic(self, host_path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Write through a temporary file, fsync and rename: readers see old or new, never half."""
        target = self.path(host_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def hostname(self) -> str:
        """The host's name: /etc/hostname trimmed (the legacy's hostnameOnHost), else the kernel's."""
        return (self.read_text("/etc/hostname") or "").strip() or socket.gethostname()

    def _release_paths(self) -> list[tuple[str, str]]:
        """Where os-release may be, as (host path, real path), worked out once."""
        if self._paths is None:
            self._paths = [(name, str(self.path(name))) for name in ("/etc/os-release", "/usr/lib/os-release")]
        return self._paths

    def os_release(self) -> dict[str, str]:
        """/etc/os-release (falling back to /usr/lib/os-release) as a dict (a copy: callers may
        change it). Read again when the file's inode, size or mtime changed, else from memory."""
        stamp = None
        for name, path in self._release_paths():
            try:
                found = os.stat(path)
            except OSError:
                continue
            if found.st_size:
                stamp = (name, found.st_ino, found.st_size, found.st_mtime_ns)
                break
        cached = self._release
        if stamp is not None and cached is not None and cached[0] == stamp:
            return dict(cached[1])
        text = self.read_text("/etc/os-release") or self.read_text("/usr/lib/os-release") or ""
        values = parse_os_release(text)
        self._release = (stamp, values) if stamp is not None else None
        return dict(values)


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release's shell-style KEY=value lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = [raw.strip("\"'")]
        values[key.strip()] = " ".join(words)
    return values
