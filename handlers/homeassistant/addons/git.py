"""An add-on repository's git working copy, through the git binary, as tag 138's
hassio/addons/git.py drove it with GitPython:

    clone   git clone --recursive --depth 1 [--branch B] --shallow-submodules URL PATH   (URL#B)
    pull    git fetch --update-shallow --depth 1 origin; git reset --hard origin/<branch>;
            git clean -xdf

A clone goes to a temporary sibling folder that is renamed into place when complete, so a failed
or interrupted clone leaves no half-made repository behind. git never prompts (no terminal, no
askpass), runs under a timeout with its children in a group of their own, and a failure is a
GitError whose text names the command; git's own message goes to the log, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from handlers.errors import PolyvisorError
from handlers.redact import MASK, redact_url

log = logging.getLogger("polyvisor.hassio.addons")

RE_REPOSITORY = re.compile(r"^(?P<url>[^#]+)(?:#(?P<branch>[\w\-]+))?$")
CLONE_TIMEOUT = 600.0  # seconds; a big repository over a slow link
PULL_TIMEOUT = 300.0
LOCAL_TIMEOUT = 60.0  # commands that touch only the working copy
STDERR_LIMIT = 4000  # characters of git's message kept in the log
RE_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")


class GitError(PolyvisorError):
    """A git command failed, timed out or could not run (git's message is in the log)."""


def split_url(repository: str) -> tuple[str, str | None]:
    """`url#branch` -> (url, branch or None); ValueError when it is not that form."""
    found = RE_REPOSITORY.match(repository)
    if not found:
        raise ValueError(f"not a repository URL: {repository!r}")
    return found.group("url"), found.group("branch")


def _environment() -> dict[str, str]:
    """The agent's environment, with every way git could wait for a person closed."""
    environ = dict(os.environ)
    environ.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", SSH_ASKPASS="true", LC_ALL="C")
    environ.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return environ


def userinfo(url: str) -> str | None:
    """The `user[:password]` part of a URL, None when it has none."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    return netloc.rpartition("@")[0] or None


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    """git's message without credentials: any URL's userinfo and the given strings masked."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return RE_URL_USERINFO.sub(rf"\1{MASK}@", text)


def run_git(args: list[str], cwd: Path | None = None, timeout: float = LOCAL_TIMEOUT,
            secrets: tuple[str, ...] = ()) -> str:
    """`git <args>`; its stdout. GitError when it fails, times out or git is missing; git's
    message is logged with `secrets` (and any URL's userinfo) masked."""
    command = ["git", *args]
    shown = " ".join(args[:1])
    try:
        proc = subprocess.Popen(command, cwd=cwd, env=_environment(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as err:
        log.error("git %s cannot run: %s", shown, err)
        raise GitError(f"git {shown} cannot run: {err}") from None
    try:
        out, err_out = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        log.error("git %s did not finish within %.0f s", shown, timeout)
        raise GitError(f"git {shown} timed out") from None
    if proc.returncode != 0:
        message = _masked(err_out.decode(errors="replace").strip(), secrets)[-STDERR_LIMIT:]
        log.error("git %s failed (exit %s): %s", shown, proc.returncode, message)
        raise GitError(f"git {shown} failed (exit {proc.returncode})")
    return out.decode(errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the git we started and the helpers it started (remote-https, ssh), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def remove_tree(path: Path) -> None:
    """Remove a folder, logging what cannot be removed (138's _remove)."""
    if not path.is_dir() or path.is_symlink():
        if path.is_symlink():
            path.unlink()
        return

    def failed(_function: object, name: str, _error: object) -> None:
        log.warning("Can't remove %s", name)

    shutil.rmtree(path, onerror=failed)


class GitRepository:
    """One working copy at `path` of the repository `url` (`url#branch` names a branch)."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = Path(path)
        self.source = url
        self.url, self.branch = split_url(url)
        secret = userinfo(self.url)
        self._secrets = (secret,) if secret else ()
        self.lock = threading.Lock()

    def exists(self) -> bool:
        """A git working copy is at path (138's load: git.Repo(path) succeeds)."""
        if not (self.path / ".git").exists():
            return False
        try:
            top = run_git(["rev-parse", "--show-toplevel"], cwd=self.path).strip()
        except GitError:
            return False
        return Path(top).resolve() == self.path.resolve()

    def clone(self) -> None:
        """Clone into path (replacing what is there) through a temporary sibling folder; GitError."""
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.clone-{uuid.uuid4().hex[:8]}")
            args = ["clone", "--recursive", "--depth", "1"]
            if self.branch:
                args += ["--branch", self.branch]
            args += ["--shallow-submodules", "--", self.url, str(temporary)]
            log.info("Clone add-on %s repository", redact_url(self.url))
            try:
                run_git(args, timeout=CLONE_TIMEOUT, secrets=self._secrets)
                if self.path.exists() or self.path.is_symlink():
                    remove_tree(self.path)
                os.rename(temporary, self.path)
            except OSError as err:
                log.error("Can't clone %s repository: %s", redact_url(self.url), err)
                raise GitError(f"cannot put the clone in place: {err}") from None
            finally:
                remove_tree(temporary)

    def pull(self) -> bool:
        """Fetch the branch's newest commit and move the working copy onto it, dropping local
        changes and untracked files; False when another pull of it runs (138 skipped it). GitError."""
        if not self.lock.acquire(blocking=False):
            log.warning("It is already a task in progress")
            return False
        try:
            log.info("Update add-on %s repository", redact_url(self.url))
            branch = run_git(["rev-parse", "--abbrev-ref", "HEAD"], cwd=self.path).strip()
            run_git(["fetch", "--update-shallow", "--depth", "1", "origin"], cwd=self.path,
                    timeout=PULL_TIMEOUT, secrets=self._secrets)
            run_git(["reset", "--hard", f"origin/{branch}"], cwd=self.path)
            run_git(["clean", "-xdf"], cwd=self.path)
            return True
        finally:
            self.lock.release()

    def head(self) -> str:
        """The commit checked out (GitError when there is none)."""
        return run_git(["rev-parse", "HEAD"], cwd=self.path).strip()

    def remove(self) -> None:
        """Remove the working copy."""
        with self.lock:
            log.info("Remove add-on repository %s", redact_url(self.url))
            remove_tree(self.path)
