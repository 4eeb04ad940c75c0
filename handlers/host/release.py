"""The agent's release manifest and the download of one release binary, SHA-256 checked.

The manifest is a JSON document at the configured release URL (--release-url):

    {
      "latest": "0.2.0",
      "versions": {
        "0.2.0": {
          "amd64":   {"url": "polyvisor-0.2.0-amd64", "sha256": "<64 hex>", "size": 15123456},
          "aarch64": {"url": "https://cdn.example/polyvisor-0.2.0-aarch64", "sha256": "...", "size": ...}
        }
      }
    }

`latest` is what an update without a version installs. Architectures are named as Home
Assistant's supervisor named them (amd64, aarch64, armv7, armhf, i386; see ARCHES); `url` may be
relative to the manifest's own URL; `size` is the exact byte count (a longer or shorter body is
refused before the checksum is even looked at). The binary is the onefile build (dist/polyvisor).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

log = logging.getLogger("polyvisor.selfupdate")

# platform.machine() -> the architecture names the hassio supervisor used (hassio/arch.py)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64",
          "armv7l": "armv7", "armv6l": "armhf", "i386": "i386", "i686": "i386"}
MANIFEST_LIMIT = 1024 ** 2  # a manifest bigger than this is not one
BINARY_LIMIT = 1024 ** 3  # nor is a binary bigger than this
TIMEOUT = 30.0  # seconds without a byte before a download is given up
MANIFEST_TIMEOUT = 10.0  # hassio's updater fetched its version JSON with timeout=10
CHUNK = 256 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ReleaseError(Exception):
    """The manifest or a download is unusable; the message says why (for the log)."""


@dataclass(frozen=True)
class Release:
    """One binary of one version for one architecture, as the manifest lists it."""

    version: str
    url: str
    sha256: str
    size: int


def machine_arch() -> str:
    """This machine's architecture in the manifest's names."""
    machine = platform.machine().lower()
    return ARCHES.get(machine, machine)


def _get(url: str, timeout: float = TIMEOUT) -> Any:
    import urllib.request  # on the first update only

    request = urllib.request.Request(url, headers={"User-Agent": "polyvisor-selfupdate"})
    return urllib.request.urlopen(request, timeout=timeout)  # http(s) only: _check_scheme


def _check_scheme(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ReleaseError(f"not an http(s) URL: {url}")


def fetch_manifest(url: str) -> dict[str, Any]:
    """The manifest at `url`; ReleaseError when it cannot be had or is not one."""
    _check_scheme(url)
    try:
        with _get(url, MANIFEST_TIMEOUT) as response:
            body = response.read(MANIFEST_LIMIT + 1)
    except OSError as err:  # URLError, HTTPError, timeouts, refused connections
        raise ReleaseError(f"release manifest {url}: {err}") from err
    if len(body) > MANIFEST_LIMIT:
        raise ReleaseError(f"release manifest {url}: more than {MANIFEST_LIMIT} bytes")
    try:
        manifest = json.loads(body)
    except ValueError as err:
        raise ReleaseError(f"release manifest {url}: not JSON ({err})") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("versions"), dict):
        raise ReleaseError(f"release manifest {url}: no versions object")
    return manifest


def latest(manifest: dict[str, Any]) -> str | None:
    """The manifest's latest version, None when it names none."""
    value = manifest.get("latest")
    return str(value) if isinstance(value, (str, int, float)) and str(value) else None


def release(manifest: dict[str, Any], manifest_url: str, version: str, arch: str) -> Release:
    """The manifest's entry for `version` on `arch`; ReleaseError when absent or malformed."""
    entry = (manifest["versions"].get(version) or {})
    item = entry.get(arch) if isinstance(entry, dict) else None
    if not isinstance(item, dict):
        raise ReleaseError(f"release manifest lists no {arch} binary of version {version}")
    url, sha256, size = item.get("url"), str(item.get("sha256", "")).lower(), item.get("size")
    if not isinstance(url, str) or not SHA256.match(sha256) or not isinstance(size, int) \
            or isinstance(size, bool) or not 0 < size <= BINARY_LIMIT:
        raise ReleaseError(f"release manifest entry {version}/{arch} needs url, sha256 (hex) and "
                           f"size (1..{BINARY_LIMIT})")
    full = urljoin(manifest_url, url)
    _check_scheme(full)
    return Release(version, full, sha256, size)


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(item: Release, target: Path) -> float:
    """Write the release binary to `target` (made anew, fsynced), logging progress every tenth;
    the bytes per second. ReleaseError (target removed) on a cut, a size or a checksum mismatch."""
    digest = hashlib.sha256()
    got = 0
    started = time.monotonic()
    next_report = item.size // 10
    log.info("downloading %s (%d bytes) to %s", item.url, item.size, target)
    try:
        with _get(item.url) as response, open(target, "wb") as file:
            while chunk := response.read(CHUNK):
                got += len(chunk)
                if got > item.size:
                    raise ReleaseError(f"{item.url}: more than the {item.size} bytes the manifest lists")
                digest.update(chunk)
                file.write(chunk)
                if got >= next_report and got < item.size:
                    log.info("download %d%% (%d of %d bytes)", got * 100 // item.size, got, item.size)
                    next_report += max(item.size // 10, 1)
            file.flush()
            os.fsync(file.fileno())
        if got != item.size:
            raise ReleaseError(f"{item.url}: download cut at {got} of {item.size} bytes")
        if digest.hexdigest() != item.sha256:
            raise ReleaseError(f"{item.url}: SHA-256 {digest.hexdigest()} is not the manifest's {item.sha256}")
    except ReleaseError:
        target.unlink(missing_ok=True)
        raise
    except (OSError, ValueError, http.client.HTTPException) as err:  # refused, reset, IncompleteRead
        target.unlink(missing_ok=True)
        raise ReleaseError(f"{item.url}: download failed after {got} bytes: {err!r}") from err
    seconds = max(time.monotonic() - started, 1e-6)
    log.info("downloaded %s: %d bytes in %.2f s (%.1f MB/s), SHA-256 as listed", item.url, got,
             seconds, got / seconds / 1e6)
    return got / seconds
