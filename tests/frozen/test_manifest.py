"""dist/manifest.json and dist/SHA256SUMS, as scripts/build writes them beside the binary
(scripts/manifest): the self-update's own code (handlers/host/release.py) reads the manifest from
dist/ served over HTTP on 127.0.0.1 and downloads the binary it lists, checksum and size checked;
sha256sum checks SHA256SUMS. Bad folders get one line each from scripts/manifest, and nothing written.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from frozen.manifests import own_entries
from frozen.test_binary import REPO, binary, version  # noqa: F401 (the fixtures)
from handlers.host.release import download, fetch_manifest, latest, machine_arch, release, sha256_of

MANIFEST = REPO / "scripts" / "manifest"
MACHINE = os.uname().machine  # a name scripts/manifest takes for this machine's ELF files


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dist(binary: Path) -> Path:  # noqa: F811
    """The folder scripts/build wrote the one-file binary, its manifest and SHA256SUMS in."""
    if binary.parent.name == "polyvisor-dir":
        pytest.skip("the manifest lists one-file binaries (dist/polyvisor), not the onedir build")
    return binary.parent


@pytest.fixture(scope="module")
def served(dist: Path) -> Iterator[str]:
    """dist/ over HTTP on 127.0.0.1: the manifest's URL, as --release-url would name it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(dist)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/manifest.json"
    server.shutdown()
    server.server_close()
    thread.join(5)


def run_manifest(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MANIFEST), str(folder)], capture_output=True, text=True, timeout=600,
                          check=False, cwd=REPO)


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


def test_the_self_update_reads_the_manifest_and_downloads_the_binary(
        dist: Path, binary: Path, version: str, served: str, tmp_path: Path) -> None:  # noqa: F811
    manifest = fetch_manifest(served)
    assert latest(manifest) == version  # what `dist/polyvisor --version` says
    item = release(manifest, served, version, machine_arch())
    assert item.url == served.replace("manifest.json", binary.name)
    assert (item.sha256, item.size) == (sha256_of(binary), binary.stat().st_size)
    download(item, tmp_path / "polyvisor")
    assert (tmp_path / "polyvisor").read_bytes() == binary.read_bytes()


def test_sha256sums_checks_with_sha256sum(dist: Path, binary: Path) -> None:  # noqa: F811
    line = own_entries(dist, binary.name)[1]
    checked = subprocess.run(["sha256sum", "--check", "--strict", "-"], cwd=dist, input=line + "\n",
                             capture_output=True, text=True, timeout=120, check=False)
    assert (checked.returncode, checked.stdout) == (0, f"{binary.name}: OK\n"), checked.stderr


def test_rewritten_from_the_files_present(dist: Path, binary: Path, tmp_path: Path) -> None:  # noqa: F811
    """Another folder with the same binary gets the same bytes; a second architecture's file name
    that holds this machine's binary is refused, and nothing is written."""
    link_or_copy(binary, tmp_path / "polyvisor")
    made = run_manifest(tmp_path)
    assert made.returncode == 0, made.stderr
    assert own_entries(tmp_path, binary.name) == own_entries(dist, binary.name)
    document = json.loads((tmp_path / "manifest.json").read_text())
    assert list(document["versions"][document["latest"]]) == [machine_arch()]

    other = tmp_path / "other"
    other.mkdir()
    wrong = "polyvisor-aarch64" if machine_arch() != "aarch64" else "polyvisor-amd64"
    link_or_copy(binary, other / wrong)
    refused = run_manifest(other)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert f"{other / wrong} is an {machine_arch()} binary, not" in refused.stderr
    assert sorted(p.name for p in other.iterdir()) == [wrong]


@pytest.mark.parametrize(("files", "said"), [
    ({}, "no polyvisor binary in"),
    ({"polyvisor": b"#!/bin/sh\necho polyvisor 0.1.0\n"}, "polyvisor is not an ELF executable"),
    ({"polyvisor": "true"}, "--version exited 0 and said"),  # coreutils' version text
    ({"polyvisor": "true", f"polyvisor-{MACHINE}": "true"}, "are both"),
])
def test_bad_folders_get_one_line(tmp_path: Path, files: dict[str, bytes | str], said: str) -> None:
    """A dist folder without binaries, with a script, with a program that is not the agent (a real
    ELF: coreutils' true) or with two binaries of one architecture: one line, nothing written."""
    for name, content in files.items():
        if content == "true":
            shutil.copy2(shutil.which("true") or "/bin/true", tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)  # type: ignore[arg-type]
            (tmp_path / name).chmod(0o755)
    refused = run_manifest(tmp_path)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("scripts/manifest: ") and said in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_usage_errors(tmp_path: Path) -> None:
    missing = run_manifest(tmp_path / "none")
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    extra = subprocess.run([str(MANIFEST), "a", "b"], capture_output=True, text=True, timeout=60, check=False)
    assert extra.returncode == 2 and "usage: scripts/manifest [DIR]" in extra.stderr
