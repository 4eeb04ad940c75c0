"""Home Assistant add-on repositories for the tests: real git repositories on disk, served by a
real `git daemon` on 127.0.0.1 or reached as file:// URLs, holding add-ons of both kinds.

    repo = AddonRepo.create(tmp_path / "repos" / "addons")      # git init, repository.json, commit
    repo.add_image_addon("echo", image=image_addon(docker_client, "pvtest/{arch}-addon-echo", "1.0"))
    repo.add_build_addon("builder", base=busybox_image)
    repo.commit("two add-ons")
    url = repo.file_url                                        # or daemon.url(repo)

    with GitDaemon(tmp_path / "repos") as daemon:              # or the `git_daemon` fixture
        store.set_repositories([daemon.url(repo)])

The add-ons' program (run.sh) prints /data/options.json and `started <version>`, echoes every
stdin line as `stdin: <line>`, then sleeps: logs, options and stdin can all be seen from outside.

- An image add-on's config.json names `image`; image_addon() makes that image with `docker
  import` of the busybox root file system, on the test engine or pushed to the tests' registry
  (tests/integration/registry.py) so that an install really pulls it.
- A local-build add-on has no `image`: its folder holds a Dockerfile FROM the busybox image given
  (build it with pull=False: the image exists only on the test engine) and build.json.

Everything runs git with fixed author names and dates off, under the tests' OFFLINE_GIT
environment (file:// and git:// only).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from integration.components import busybox_rootfs, spawn, stop_process

RUN_SH = """#!/bin/sh
cat /data/options.json 2>/dev/null
echo
echo "started ${ADDON_VERSION:-unknown}"
while read -r line; do echo "stdin: $line"; done
exec sleep 2147483647
"""
# The image add-on's image: busybox with run.sh as its command.
IMAGE_COMMAND = ["sh", "-c", RUN_SH.split("\n", 1)[1]]
GIT_ENV = {"GIT_AUTHOR_NAME": "polyvisor tests", "GIT_AUTHOR_EMAIL": "tests@polyvisor.invalid",
           "GIT_COMMITTER_NAME": "polyvisor tests", "GIT_COMMITTER_EMAIL": "tests@polyvisor.invalid"}


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git (test side); its stdout. CalledProcessError with git's message when it fails."""
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True,
                          text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, ["git", *args], proc.stdout, proc.stderr)
    return proc.stdout


def addon_config(slug: str, version: str = "1.0", **fields: Any) -> dict[str, Any]:
    """A minimal valid config.json (name, version, slug, description, startup, boot, options,
    schema) with `fields` over it; a field given as None is left out."""
    config: dict[str, Any] = {
        "name": f"Test {slug}", "version": version, "slug": slug, "description": f"The {slug} test add-on",
        "startup": "application", "boot": "manual", "arch": ["armhf", "aarch64", "amd64", "i386"],
        "options": {"message": "hello"}, "schema": {"message": "str", "count": "int(0,10)?"},
    }
    config.update(fields)
    return {k: v for k, v in config.items() if v is not None}


def write_addon(folder: Path, config: dict[str, Any], files: dict[str, str | bytes] | None = None) -> Path:
    """An add-on folder: config.json plus `files` (name -> text or bytes); the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def dockerfile(base: str) -> str:
    """A local-build add-on's Dockerfile: FROM `base` (the busybox image), run.sh as its command,
    the version from the BUILD_VERSION build argument the supervisor passes."""
    return (f"ARG BUILD_FROM\nFROM {base}\nARG BUILD_VERSION\nENV ADDON_VERSION=$BUILD_VERSION\n"
            'COPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n')


def image_addon(client: Any, repository: str, version: str, arch: str = "amd64", registry: Any = None) -> str:
    """Make `repository` ({arch} filled in) :version: busybox (docker import) running run.sh, ENV
    ADDON_VERSION=<version>. Returns the name config.json's `image` should hold.

    With `registry` (tests/integration/registry.py's Registry) the image is pushed there as
    <registry address>/<repository> and the local copy removed, so an install really pulls it;
    without, it exists only on the test engine."""
    if registry is not None:
        repository = f"{registry.address}/{repository}"
    name = repository.replace("{arch}", arch)
    client.api.import_image_from_data(
        busybox_rootfs(), repository=name, tag=version,
        changes=["ENV PATH=/bin", f"ENV ADDON_VERSION={version}", f"CMD {json.dumps(IMAGE_COMMAND)}"])
    if registry is not None:
        for event in client.api.push(name, tag=version, stream=True, decode=True):
            if "error" in event:
                raise RuntimeError(event["error"])
        client.api.remove_image(f"{name}:{version}")
    return repository


@dataclass
class AddonRepo:
    """A git repository (with a work tree) of add-ons."""

    path: Path

    @classmethod
    def create(cls, path: Path, name: str | None = "Test add-ons", branch: str = "master") -> AddonRepo:
        """git init (default branch `branch`), repository.json {name, url, maintainer} unless
        name is None, first commit."""
        path.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "-b", branch, str(path))
        repo = cls(path)
        if name is not None:
            repo.write("repository.json", json.dumps({"name": name, "url": "https://example.invalid/addons",
                                                      "maintainer": "polyvisor tests"}))
        else:
            repo.write("README.md", "no repository.json here\n")
        repo.commit("initial")
        return repo

    @property
    def file_url(self) -> str:
        """file:///... of this repository (append #branch for a branch)."""
        return self.path.resolve().as_uri()

    def write(self, name: str, content: str | bytes) -> Path:
        """A file in the work tree (not committed yet)."""
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def add_addon(self, slug: str, config: dict[str, Any], files: dict[str, str | bytes] | None = None,
                  folder: str | None = None) -> Path:
        """An add-on folder (default: the slug) with config.json and files; not committed yet."""
        return write_addon(self.path / (folder or slug), config, files)

    def add_image_addon(self, slug: str, image: str, version: str = "1.0", **fields: Any) -> Path:
        """An add-on whose config.json names `image` (e.g. from image_addon())."""
        return self.add_addon(slug, addon_config(slug, version, image=image, **fields))

    def add_build_addon(self, slug: str, base: str, version: str = "1.0", **fields: Any) -> Path:
        """A local-build add-on: Dockerfile FROM `base`, run.sh, build.json; no `image`."""
        build = {"squash": False, "args": {"POLYVISOR_TEST": "1"}}
        files: dict[str, str | bytes] = {"Dockerfile": dockerfile(base), "run.sh": RUN_SH,
                                         "build.json": json.dumps(build)}
        return self.add_addon(slug, addon_config(slug, version, **fields), files)

    def commit(self, message: str = "change") -> str:
        """Commit everything in the work tree; the new commit's id."""
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.path)
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return git("rev-parse", ref, cwd=self.path).strip()

    def branch(self, name: str) -> None:
        """Create branch `name` at the current commit and check it out (later commits go there)."""
        git("checkout", "-q", "-b", name, cwd=self.path)

    def checkout(self, name: str) -> None:
        git("checkout", "-q", name, cwd=self.path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GitDaemon:
    """`git daemon` on 127.0.0.1 serving every repository under `base` (--export-all
    --base-path), stopped by PID; url(repo) is git://127.0.0.1:<port>/<path under base>."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        argv = ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={self.port}", "--export-all",
                f"--base-path={self.base}", "--informative-errors", str(self.base)]
        self.proc = spawn(argv, self.base.parent / f"git-daemon-{self.port}.log")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"git daemon exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("git daemon did not listen within 20 s")

    def url(self, repo: AddonRepo | Path) -> str:
        """git:// URL of a repository under base."""
        path = repo.path if isinstance(repo, AddonRepo) else repo
        return f"git://127.0.0.1:{self.port}/{path.resolve().relative_to(self.base).as_posix()}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=5)
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@pytest.fixture(scope="module")
def git_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDaemon]:
    """A git daemon for the module's repositories: make them with AddonRepo.create(git_daemon.base / NAME)."""
    with GitDaemon(tmp_path_factory.mktemp("git-repos")) as daemon:
        yield daemon
